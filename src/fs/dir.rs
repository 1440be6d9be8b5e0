//! Directory listings that fill page by page, so a directory of 100,000 objects streams.
//!
//! A [`DirListing`] is one listing of one directory at one point in time. It starts empty and
//! grows one ListObjectsV2 page at a time, only when a reader needs an entry it does not have
//! yet: `ls` of a huge prefix prints its first entries after the first page, and `ls | head`
//! costs one page.
//!
//! Subtleties:
//! 1. Page fetches are single-flight per listing: concurrent readers of one directory wait
//!    for one request, never send two for the same page.
//! 2. Entries are kept in S3's order of their sort key: the name for a file, the name plus
//!    `/` for a directory. That order is what makes [`DirListing::decide`] exact on a partial
//!    listing, and what lets the entries be binary-searched without a second index.
//! 3. A name that is both an object and a prefix is the directory (see [`super::names`]).
//!    The object `x` sorts before `x/` with names such as `x-1` or `x.txt` in between, maybe
//!    pages apart; so a file is held back (`pending`) until the listing has passed `x/`, and
//!    dropped if `x/` shows up. Nothing is ever shown that later has to be taken back.
//! 4. S3 returns a page's objects and common prefixes as two lists; they are merged by key
//!    before they are fed, so the high-water mark only moves forward.
//! 5. A hidden key is logged once per mount, not on every listing, and never fails the listing.
//! 6. A listing of a single name (`list_prefix` = directory prefix + name) is the same
//!    machine: one LIST answers an uncached lookup, with a follow-up page only when more than
//!    a page of names sort between `name` and `name/`.
//! 7. Everything held back behind a file (subtlety 3) is kept by sort key, so finding the
//!    file a prefix clashes with, or a name a lookup asks about, takes a look-up, not a scan:
//!    a file `x` followed by 50,000 prefixes `x-1/`, `x-2/` ... holds all of them back, and a
//!    scan per prefix made that listing quadratic.
//! 8. A listing that would never end (a token seen twice, a page that goes back, more pages
//!    or entries than the bound) fails with EIO; see [`super::list_guard`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::inode::{ChildKind, FileMeta};
use super::list_guard::{ListBound, ListGuard};
use super::names::{object_child, prefix_child, Child, ValidName};
use crate::s3::{ListPage, ObjectInfo, ObjectStore, StoreError};

/// One child of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: ValidName,
    pub kind: ChildKind,
}

impl Entry {
    fn is_dir(&self) -> bool {
        matches!(self.kind, ChildKind::Dir)
    }
}

/// Orders an entry's S3 sort key (`name`, plus `/` for a directory) against `target`.
fn cmp_sort_key(name: &str, is_dir: bool, target: &str) -> Ordering {
    let slash = is_dir.then_some(b'/');
    name.bytes().chain(slash).cmp(target.bytes())
}

/// What a (possibly partial) listing can say about one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Found(ChildKind),
    Absent,
    /// The listing has not reached the name yet.
    Unknown,
}

#[derive(Default)]
struct State {
    /// Released entries, in sort-key order.
    entries: Vec<Entry>,
    /// Entries waiting behind a file that might still turn out to be a directory, by sort
    /// key (subtleties 3 and 7).
    pending: BTreeMap<Box<str>, Entry>,
    /// The last sort key fed, relative to the directory prefix.
    high_water: Option<Box<str>>,
    token: Option<String>,
    /// Pages fed so far: tells a waiting fetcher that another one got the page first.
    pages: u64,
    complete: bool,
    guard: ListGuard,
}

/// One listing of one directory, filled page by page.
pub struct DirListing {
    bucket: Arc<str>,
    /// The directory's prefix: keys are mapped to names relative to it.
    prefix: Box<str>,
    /// What is sent as ListObjectsV2's prefix: the directory, or one name in it.
    list_prefix: Box<str>,
    bound: ListBound,
    pub started: Instant,
    state: RwLock<State>,
    fetch: tokio::sync::Mutex<()>,
    /// Whether the cache accounts for this listing's entries.
    pub(super) cached: AtomicBool,
    len: AtomicUsize,
    /// How many entries the cache has been told about (see [`DirListing::take_growth`]).
    accounted: AtomicUsize,
}

impl DirListing {
    /// A listing of the directory `prefix` in `bucket`, empty until read.
    pub fn new(bucket: Arc<str>, prefix: &str, bound: ListBound) -> Self {
        Self::with_list_prefix(bucket, prefix, prefix, bound)
    }

    /// A listing of the names in directory `prefix` that start with `name`: enough to decide
    /// `name` with one request.
    pub fn for_name(bucket: Arc<str>, prefix: &str, name: &ValidName, bound: ListBound) -> Self {
        Self::with_list_prefix(bucket, prefix, &format!("{prefix}{name}"), bound)
    }

    fn with_list_prefix(
        bucket: Arc<str>,
        prefix: &str,
        list_prefix: &str,
        bound: ListBound,
    ) -> Self {
        DirListing {
            bucket,
            prefix: prefix.into(),
            list_prefix: list_prefix.into(),
            bound,
            started: Instant::now(),
            state: RwLock::new(State::default()),
            fetch: tokio::sync::Mutex::new(()),
            cached: AtomicBool::new(false),
            len: AtomicUsize::new(0),
            accounted: AtomicUsize::new(0),
        }
    }

    /// A complete listing of the given directories (the root's buckets).
    pub fn complete_dirs(names: Vec<ValidName>) -> Self {
        let mut names = names;
        names.sort_by(|a, b| {
            a.as_str()
                .bytes()
                .chain([b'/'])
                .cmp(b.as_str().bytes().chain([b'/']))
        });
        names.dedup();
        let listing = Self::new(Arc::from(""), "", ListBound::for_entries(usize::MAX));
        {
            let mut state = listing.state.write();
            state.entries = names
                .into_iter()
                .map(|name| Entry {
                    name,
                    kind: ChildKind::Dir,
                })
                .collect();
            state.complete = true;
            listing
                .len
                .store(state.entries.len(), AtomicOrdering::Relaxed);
        }
        listing
    }

    /// Entries added since the last call, whoever fetched them (a reader or the read-ahead),
    /// for the cache's accounting.
    pub fn take_growth(&self) -> usize {
        let len = self.len();
        len.saturating_sub(self.accounted.swap(len, AtomicOrdering::Relaxed))
    }

    /// How many entries the cache counts for this listing.
    pub fn accounted(&self) -> usize {
        self.accounted.load(AtomicOrdering::Relaxed)
    }

    /// Whether a reader that got up to entry `upto` should have the next page fetched now,
    /// while it consumes what is there: the listing goes on and less than a page is left.
    pub fn wants_read_ahead(&self, upto: usize) -> bool {
        !self.is_complete() && upto + READ_AHEAD_MARGIN >= self.len()
    }

    /// Fetches the next page unless a fetch is under way or the listing is complete.
    pub async fn read_ahead(&self, store: &dyn ObjectStore, hidden: &HiddenLog) {
        if let Err(error) = self.fetch_next(store, hidden).await {
            // The reader that needs the page fetches it again and reports the error.
            tracing::debug!(%error, "listing read-ahead failed");
        }
    }

    /// How many entries are released so far.
    pub fn len(&self) -> usize {
        self.len.load(AtomicOrdering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_complete(&self) -> bool {
        self.state.read().complete
    }

    /// Up to `max` entries from index `from`, as far as they are fetched.
    pub fn slice(&self, from: usize, max: usize) -> Vec<Entry> {
        let state = self.state.read();
        let end = state.entries.len().min(from.saturating_add(max));
        state
            .entries
            .get(from..end)
            .map(<[Entry]>::to_vec)
            .unwrap_or_default()
    }

    /// The index of the file `name` among the entries released so far (the readdir order),
    /// if it is one of them.
    pub fn position_of_file(&self, name: &ValidName) -> Option<usize> {
        self.state
            .read()
            .entries
            .binary_search_by(|e| cmp_sort_key(e.name.as_str(), e.is_dir(), name.as_str()))
            .ok()
    }

    /// What the listing, as far as it is fetched, says about `name`.
    pub fn decide(&self, name: &ValidName) -> Decision {
        let state = self.state.read();
        if state.pending.contains_key(format!("{name}/").as_str()) {
            return Decision::Found(ChildKind::Dir);
        }
        if state.pending.contains_key(name.as_str()) {
            return Decision::Unknown;
        }
        for is_dir in [false, true] {
            let target: String = if is_dir {
                format!("{name}/")
            } else {
                name.as_str().to_owned()
            };
            let found = state
                .entries
                .binary_search_by(|e| cmp_sort_key(e.name.as_str(), e.is_dir(), &target));
            if let Ok(i) = found {
                return Decision::Found(state.entries[i].kind.clone());
            }
        }
        let passed = state
            .high_water
            .as_deref()
            .is_some_and(|hw| cmp_sort_key(name.as_str(), true, hw) != Ordering::Greater);
        if state.complete || passed {
            Decision::Absent
        } else {
            Decision::Unknown
        }
    }

    /// Fetches pages until entry `index` exists or the listing is complete.
    pub async fn fill_to(
        &self,
        store: &dyn ObjectStore,
        hidden: &HiddenLog,
        index: usize,
    ) -> Result<(), StoreError> {
        self.fill_while(store, hidden, |s| s.entries.len() <= index)
            .await
    }

    /// Fetches pages until `name` is decided.
    pub async fn fill_for(
        &self,
        store: &dyn ObjectStore,
        hidden: &HiddenLog,
        name: &ValidName,
    ) -> Result<Decision, StoreError> {
        loop {
            match self.decide(name) {
                Decision::Unknown => {}
                decided => return Ok(decided),
            }
            self.fetch_next(store, hidden).await?;
        }
    }

    async fn fill_while(
        &self,
        store: &dyn ObjectStore,
        hidden: &HiddenLog,
        wanting: impl Fn(&State) -> bool,
    ) -> Result<(), StoreError> {
        loop {
            {
                let state = self.state.read();
                if state.complete || !wanting(&state) {
                    return Ok(());
                }
            }
            self.fetch_next(store, hidden).await?;
        }
    }

    /// Fetches and feeds the next page, unless another caller just did.
    async fn fetch_next(
        &self,
        store: &dyn ObjectStore,
        hidden: &HiddenLog,
    ) -> Result<(), StoreError> {
        let pages_before = self.state.read().pages;
        let _single_flight = self.fetch.lock().await;
        let token = {
            let mut state = self.state.write();
            if state.complete || state.pages != pages_before {
                return Ok(()); // someone else fetched while we waited
            }
            let (pages, held) = (state.pages, state.entries.len() + state.pending.len());
            state.guard.before_fetch(&self.bound, pages, held)?;
            state.token.clone()
        };
        let page = store
            .list_page(&self.bucket, &self.list_prefix, token)
            .await?;
        let mut state = self.state.write();
        let fed = feed(&mut state, &self.bucket, &self.prefix, page, hidden);
        self.len.store(state.entries.len(), AtomicOrdering::Relaxed);
        fed
    }
}

/// One item of a page: an object or a common prefix, by its full key.
enum Item<'a> {
    Object(&'a ObjectInfo),
    Prefix(&'a str),
}

impl Item<'_> {
    fn key(&self) -> &str {
        match self {
            Item::Object(o) => &o.key,
            Item::Prefix(p) => p,
        }
    }
}

/// The page's objects and prefixes merged in key order.
fn merged(page: &ListPage) -> Vec<Item<'_>> {
    let mut items: Vec<Item<'_>> = page.objects.iter().map(Item::Object).collect();
    items.extend(page.prefixes.iter().map(|p| Item::Prefix(p)));
    items.sort_by(|a, b| a.key().cmp(b.key()));
    items
}

/// Feeds a page into the listing; an error when it shows the listing would never end
/// (subtlety 8), before anything of the page is fed.
fn feed(
    state: &mut State,
    bucket: &str,
    prefix: &str,
    page: ListPage,
    hidden: &HiddenLog,
) -> Result<(), StoreError> {
    state.guard.check_token(page.next_token.as_deref())?;
    for item in merged(&page) {
        let Some(rest) = item.key().strip_prefix(prefix) else {
            hidden.note(bucket, item.key(), "outside the directory listed");
            continue;
        };
        match state.high_water.as_deref().map(|hw| rest.cmp(hw)) {
            Some(Ordering::Less) => {
                let last = format!("{prefix}{}", state.high_water.as_deref().unwrap_or(""));
                return Err(state.guard.went_back(item.key(), &last));
            }
            Some(Ordering::Equal) => continue, // sent again across a page boundary
            _ => {}
        }
        feed_item(state, bucket, prefix, &item, hidden);
        state.high_water = Some(rest.into());
    }
    state.token = page.next_token;
    state.pages += 1;
    state.complete = state.token.is_none();
    release(state);
    Ok(())
}

fn feed_item(state: &mut State, bucket: &str, prefix: &str, item: &Item<'_>, hidden: &HiddenLog) {
    let child = match item {
        Item::Object(o) => object_child(prefix, o),
        Item::Prefix(p) => prefix_child(prefix, p),
    };
    match (child, item) {
        (Child::File(name), Item::Object(o)) => {
            let kind = ChildKind::File(meta_of(o));
            state
                .pending
                .insert(name.as_str().into(), Entry { name, kind });
        }
        (Child::Dir(name), _) => {
            // Semantics decision: a name that is a prefix too is the directory.
            if state.pending.remove(name.as_str()).is_some() {
                hidden.note_clash(bucket, &format!("{prefix}{name}"));
            }
            let key = format!("{name}/").into();
            let kind = ChildKind::Dir;
            state.pending.insert(key, Entry { name, kind });
        }
        (Child::Hidden(why), _) => hidden.note(bucket, item.key(), why),
        _ => {}
    }
}

/// Moves entries from `pending` to `entries` once nothing can change them any more.
fn release(state: &mut State) {
    while let Some((_, front)) = state.pending.first_key_value() {
        let settled = state.complete
            || front.is_dir()
            || state
                .high_water
                .as_deref()
                .is_some_and(|hw| cmp_sort_key(front.name.as_str(), true, hw) == Ordering::Less);
        if !settled {
            return;
        }
        let (_, entry) = state.pending.pop_first().expect("front exists");
        state.entries.push(entry);
    }
}

fn meta_of(o: &ObjectInfo) -> FileMeta {
    FileMeta {
        size: o.size,
        mtime: o.last_modified,
        etag: o.etag.as_deref().map(Arc::from),
        storage_class: o.storage_class.as_deref().map(super::xattr::storage_class),
    }
}

/// A reader this close to the end of what is fetched gets the next page fetched ahead.
const READ_AHEAD_MARGIN: usize = 1000;

/// Remembers which hidden keys were logged so each is logged once.
#[derive(Default)]
pub struct HiddenLog {
    seen: Mutex<HashSet<String>>,
}

/// How many distinct hidden keys are remembered; past that, they are no longer logged.
const HIDDEN_LOG_MAX: usize = 10_000;

impl HiddenLog {
    fn first_time(&self, bucket: &str, key: &str) -> bool {
        let mut seen = self.seen.lock();
        seen.len() < HIDDEN_LOG_MAX && seen.insert(format!("{bucket}/{key}"))
    }

    pub fn note(&self, bucket: &str, key: &str, why: impl std::fmt::Display) {
        if self.first_time(bucket, key) {
            tracing::warn!(bucket, key = %key.escape_debug(), reason = %why, "hiding a key that cannot be a file name");
        }
    }

    fn note_clash(&self, bucket: &str, key: &str) {
        if self.first_time(bucket, key) {
            tracing::warn!(bucket, key = %key.escape_debug(), "hiding an object whose name is also a directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::memory::MemoryStore;
    use crate::s3::Op;

    fn name(s: &str) -> ValidName {
        ValidName::parse(s).unwrap()
    }

    fn bound() -> ListBound {
        ListBound::for_entries(1_000_000)
    }

    async fn all(listing: &DirListing, store: &MemoryStore) -> Vec<(String, bool)> {
        listing
            .fill_to(store, &HiddenLog::default(), usize::MAX - 1)
            .await
            .unwrap();
        listing
            .slice(0, usize::MAX)
            .into_iter()
            .map(|e| (e.name.as_str().to_owned(), e.is_dir()))
            .collect()
    }

    #[tokio::test]
    async fn a_clash_across_pages_shows_only_the_directory() {
        let store = MemoryStore::with_page_size(1);
        for key in ["x", "x-1", "x.txt", "x/in", "y"] {
            store.put("bk", key, "z");
        }
        let listing = DirListing::new("bk".into(), "", bound());
        let hidden = HiddenLog::default();
        listing.fill_to(&store, &hidden, 0).await.unwrap();
        // `x` (page 1) held back `x-1` and `x.txt` until `x/` (page 4) settled it.
        assert_eq!(store.counters.get(Op::List), 4);
        assert_eq!(listing.slice(0, 10)[0].name.as_str(), "x-1");
        let got = all(&listing, &store).await;
        let want = [("x-1", false), ("x.txt", false), ("x", true), ("y", false)];
        assert_eq!(got, want.map(|(n, d)| (n.to_owned(), d)));
        assert_eq!(listing.decide(&name("x")), Decision::Found(ChildKind::Dir));
        assert_eq!(listing.decide(&name("nope")), Decision::Absent);
    }

    #[tokio::test]
    async fn the_first_page_is_served_before_the_rest_is_fetched() {
        let store = MemoryStore::with_page_size(10);
        for i in 0..100 {
            store.put("bk", &format!("d/f{i:03}"), "z");
        }
        let listing = DirListing::new("bk".into(), "d/", bound());
        listing
            .fill_to(&store, &HiddenLog::default(), 0)
            .await
            .unwrap();
        assert_eq!(store.counters.get(Op::List), 1);
        assert!(listing.len() >= 9 && !listing.is_complete());
        assert_eq!(
            listing.decide(&name("f005")),
            Decision::Found(listing.slice(5, 1)[0].kind.clone())
        );
        assert_eq!(listing.decide(&name("f050")), Decision::Unknown);
        assert_eq!(
            listing.decide(&name("a")),
            Decision::Absent,
            "passed already"
        );
        assert_eq!(all(&listing, &store).await.len(), 100);
        assert_eq!(store.counters.get(Op::List), 10);
    }

    #[tokio::test]
    async fn one_request_decides_one_name() {
        let store = MemoryStore::new();
        for key in ["d/name", "d/name-2", "d/name.txt", "d/name/in", "d/other"] {
            store.put("bk", key, "z");
        }
        let hidden = HiddenLog::default();
        for (n, want) in [
            ("name", Decision::Found(ChildKind::Dir)),
            ("nam", Decision::Absent),
            (
                "other",
                Decision::Found(ChildKind::File(FileMeta {
                    size: 1,
                    mtime: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
                    etag: Some(format!("\"{:032x}\"", 4).into()),
                    storage_class: Some("STANDARD".into()),
                })),
            ),
        ] {
            let before = store.counters.get(Op::List);
            let one = DirListing::for_name("bk".into(), "d/", &name(n), bound());
            assert_eq!(
                one.fill_for(&store, &hidden, &name(n)).await.unwrap(),
                want,
                "{n}"
            );
            assert_eq!(store.counters.get(Op::List), before + 1, "{n}");
        }
    }
}
