//! What the kernel's page cache holds of each file version: the one owner of that fact.
//!
//! Four parts of the read path act on it. An open decides whether the kernel may keep the
//! pages it has (`FOPEN_KEEP_CACHE`); the block cache drops parts the kernel holds and
//! leaves them out of prefetch; the page-cache stores ([`super::push`]) must never add pages
//! of an old version; the small-file read-ahead ([`super::ahead`]) passes over files the
//! kernel may hold. Each of them used to keep its own piece of the fact (the ETag per inode
//! with the stores, the stretches per object with the block cache, the stretches per handle
//! with the reader), and the pieces had to agree. Here each asks and gets one answer.
//!
//! Subtleties:
//! 1. The kernel's pages of an inode are of the ETag it was last opened with ([`Pages`]).
//!    A new ETag gets a new inode (the inode table's subtlety 2), so one inode meets two
//!    versions only when one of them came without an ETag; the guards below keep even that
//!    case right. Each inode has a version slot under a lock of its own: a store holds it
//!    shared and checks the ETag ([`KernelCopy::holding`]); an open that finds a new ETag
//!    holds it exclusively, records the ETag and has the kernel drop the file's pages before
//!    it answers ([`KernelCopy::opened`]). Either the store landed first and is dropped with
//!    the rest, or it sees the new ETag and is skipped. An open running beside it that finds
//!    the new ETag already recorded may keep the pages, as they are gone. Stores of one file
//!    wait only for opens of that file.
//! 2. Reads must not wait on the slot (a read may be what an invalidation waits for), so
//!    the ETag is kept a second time, set before the old pages are dropped, behind a lock
//!    nothing holds for long: [`KernelCopy::pages`] never waits.
//! 3. Per handle ([`HandleCopy`]): the stretches its replies gave the kernel, merged; given
//!    up past `MAX_DELIVERED` (a random reader), which keeps everything at close. An
//!    `O_DIRECT` handle gives the kernel nothing to keep.
//! 4. Per object version with open readers: the stretches the block cache dropped because
//!    the kernel holds them, so prefetch leaves them alone (another reader's window reaching
//!    into them would fetch what the kernel holds). Forgotten with the last reader, or when
//!    there are more than `MAX_HANDED`. While any of the readers is `O_DIRECT`, the kernel
//!    does not hold the bytes for every reader, and nothing is dropped on its account.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use parking_lot::Mutex;

use super::object::ObjectId;
use super::stretches;

/// At most this many separate stretches are tracked per open handle (subtlety 3).
const MAX_DELIVERED: usize = 16;

/// At most this many handed-over stretches are remembered per object (subtlety 4).
const MAX_HANDED: usize = 64;

/// Which version the kernel's pages of a file are of, as a handle pinned to one ETag sees
/// it (subtlety 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pages {
    /// Not opened since the kernel last forgot the inode: nothing is known.
    Unknown,
    /// Of this version: the file was last opened with this ETag.
    This,
    /// Of another version: the file was opened with another ETag since, and a handle of
    /// this one must not add its pages.
    Another,
}

/// The version slot of one inode (subtleties 1 and 2).
#[derive(Default)]
struct Version {
    /// The ETag the file was last opened with: stores hold it shared, an open that changes
    /// it holds it exclusively until the kernel dropped the old pages.
    opened: tokio::sync::RwLock<Option<Arc<str>>>,
    /// The same ETag, set before the old pages are dropped, for reads, which must not wait.
    latest: Mutex<Option<Arc<str>>>,
}

/// What the kernel holds of one object version while it has open readers (subtlety 4).
#[derive(Default)]
struct ObjectCopy {
    readers: usize,
    /// `O_DIRECT` readers among them.
    direct: usize,
    /// Stretches the kernel holds that the block cache dropped, merged and in order.
    handed: Vec<Range<u64>>,
}

/// What the kernel's page cache holds, for one filesystem.
#[derive(Default)]
pub struct KernelCopy {
    /// The inodes opened since the kernel last forgot them.
    versions: Mutex<HashMap<u64, Arc<Version>>>,
    /// The object versions with open readers.
    objects: Mutex<HashMap<Arc<ObjectId>, ObjectCopy>>,
}

impl KernelCopy {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn version(&self, ino: u64) -> Option<Arc<Version>> {
        self.versions.lock().get(&ino).cloned()
    }

    /// Which version the kernel's pages of `ino` are of, for a handle pinned to `etag`.
    /// Never waits (subtlety 2).
    pub fn pages(&self, ino: u64, etag: Option<&Arc<str>>) -> Pages {
        match self.version(ino) {
            None => Pages::Unknown,
            Some(v) if v.latest.lock().as_ref() == etag => Pages::This,
            Some(_) => Pages::Another,
        }
    }

    /// Records that `ino` is opened with `etag` (subtlety 1). True when that is the ETag it
    /// was opened with before, so the kernel may keep the pages it has. When the ETag
    /// changed from another one, `drop_pages` runs with the slot held exclusively, and has
    /// the kernel drop the old pages before this returns.
    pub async fn opened<F>(
        &self,
        ino: u64,
        etag: Option<&Arc<str>>,
        drop_pages: impl FnOnce() -> F,
    ) -> bool
    where
        F: Future<Output = ()>,
    {
        let version = self.versions.lock().entry(ino).or_default().clone();
        let same = |opened: &Option<Arc<str>>| etag.is_some() && opened.as_ref() == etag;
        if same(&*version.opened.read().await) {
            return true;
        }
        let mut opened = version.opened.write().await;
        if same(&opened) {
            // An open beside this one recorded it, and the old pages are gone.
            return true;
        }
        let previous = std::mem::replace(&mut *opened, etag.cloned());
        *version.latest.lock() = etag.cloned();
        if previous.is_some() {
            drop_pages().await;
        }
        false
    }

    /// Runs `store` while the kernel's pages of `ino` are of `etag`, keeping them so until
    /// it returns (subtlety 1); `None`, without running it, when they are not. Blocks on
    /// the slot: for the store thread, never the runtime.
    pub fn holding<R>(&self, ino: u64, etag: &Arc<str>, store: impl FnOnce() -> R) -> Option<R> {
        let version = self.version(ino)?;
        let opened = version.opened.blocking_read();
        (opened.as_ref() == Some(etag)).then(store)
    }

    /// The kernel forgot `ino`, and its pages with it. Never waits: it runs on the FUSE
    /// loop, which a store in progress may be waiting on.
    pub fn forgot(&self, ino: u64) {
        self.versions.lock().remove(&ino);
    }

    /// A reader of `obj` opened; `direct` for an `O_DIRECT` one.
    pub fn reader_opened(&self, obj: &Arc<ObjectId>, direct: bool) {
        let mut objects = self.objects.lock();
        let copy = objects.entry(obj.clone()).or_default();
        copy.readers += 1;
        copy.direct += usize::from(direct);
    }

    /// A reader of `obj` closed. True when it was the last: what the kernel was known to
    /// hold of `obj` is forgotten.
    pub fn reader_closed(&self, obj: &Arc<ObjectId>, direct: bool) -> bool {
        let mut objects = self.objects.lock();
        let Some(copy) = objects.get_mut(obj) else {
            return false;
        };
        copy.readers -= 1;
        copy.direct -= usize::from(direct);
        let last = copy.readers == 0;
        if last {
            objects.remove(obj);
        }
        last
    }

    /// Whether what the kernel gets of `obj` is in its page cache for every open reader:
    /// false while one of them is `O_DIRECT` (subtlety 4).
    pub fn caches_for_all(&self, obj: &ObjectId) -> bool {
        self.objects.lock().get(obj).is_none_or(|c| c.direct == 0)
    }

    /// The kernel holds `range` of `obj`, and the block cache let it go. Remembered while
    /// `obj` has open readers.
    pub fn handed(&self, obj: &ObjectId, range: Range<u64>) {
        let mut objects = self.objects.lock();
        let Some(copy) = objects.get_mut(obj) else {
            return;
        };
        stretches::merge(&mut copy.handed, range);
        if copy.handed.len() > MAX_HANDED {
            copy.handed.clear();
        }
    }

    /// The pieces of `gap` of `obj` the kernel is not known to hold, in order.
    pub fn not_held(&self, obj: &ObjectId, gap: Range<u64>) -> Vec<Range<u64>> {
        let objects = self.objects.lock();
        let handed = objects.get(obj).map_or(&[][..], |c| &c.handed[..]);
        stretches::outside(gap, handed)
    }
}

/// What the kernel holds from one open handle's replies (subtlety 3).
pub struct HandleCopy {
    /// Whether the kernel's page cache keeps what this handle reads (not `O_DIRECT`).
    kernel_caches: bool,
    /// The stretches replied so far, merged and in order; `None` once there are too many to
    /// keep track of.
    delivered: Mutex<Option<Vec<Range<u64>>>>,
}

impl HandleCopy {
    /// `kernel_caches`: false for an `O_DIRECT` handle.
    pub fn new(kernel_caches: bool) -> Self {
        HandleCopy {
            kernel_caches,
            delivered: Mutex::new(Some(Vec::new())),
        }
    }

    pub fn kernel_caches(&self) -> bool {
        self.kernel_caches
    }

    /// `range` went to the kernel with a reply.
    pub fn replied(&self, range: Range<u64>) {
        let mut delivered = self.delivered.lock();
        let Some(list) = delivered.as_mut() else {
            return;
        };
        stretches::merge(list, range);
        if list.len() > MAX_DELIVERED {
            *delivered = None;
        }
    }

    /// What the kernel got from this handle and keeps, reaching into `range`: cut at its
    /// end but not at its start, so that a part begun before `range` counts as read only if
    /// it was read from its start. None for `O_DIRECT`, or when that is not tracked.
    pub fn within(&self, range: &Range<u64>) -> Vec<Range<u64>> {
        if !self.kernel_caches {
            return Vec::new();
        }
        self.delivered
            .lock()
            .iter()
            .flatten()
            .filter(|d| d.end > range.start)
            .map(|d| d.start..d.end.min(range.end))
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// The handle closed: everything the kernel got from it and keeps, tracked no longer.
    pub fn closed(&self) -> Vec<Range<u64>> {
        if !self.kernel_caches {
            return Vec::new();
        }
        self.delivered.lock().take().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_stretches_merge_in_any_order_and_too_many_are_given_up() {
        let h = HandleCopy::new(true);
        for r in [(10, 20), (30, 40), (20, 30), (0, 5), (5, 10), (50, 60)] {
            h.replied(r.0..r.1);
        }
        assert_eq!(*h.delivered.lock(), Some(vec![0..40, 50..60]));
        h.replied(35..55);
        assert_eq!(*h.delivered.lock(), Some(vec![Range { start: 0, end: 60 }]));
        for i in 0..MAX_DELIVERED as u64 {
            h.replied(100 + 10 * i..105 + 10 * i);
        }
        assert_eq!(*h.delivered.lock(), None, "a random reader is not tracked");
        assert_eq!(h.closed(), Vec::<Range<u64>>::new());
    }

    #[test]
    fn an_o_direct_handle_gives_the_kernel_nothing_to_keep() {
        let h = HandleCopy::new(false);
        h.replied(0..10);
        assert_eq!(h.within(&(0..10)), Vec::<Range<u64>>::new());
        assert_eq!(h.closed(), Vec::<Range<u64>>::new());
    }

    #[test]
    fn pages_are_of_the_etag_last_opened_until_the_kernel_forgets() {
        let k = KernelCopy::new();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        assert_eq!(k.pages(7, Some(&a)), Pages::Unknown);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let dropped = std::cell::Cell::new(0);
        let open = |etag: &Arc<str>| {
            rt.block_on(k.opened(7, Some(etag), || async { dropped.set(dropped.get() + 1) }))
        };
        assert!(!open(&a), "a first open keeps nothing");
        assert!(open(&a), "the same ETag keeps the pages");
        assert_eq!(k.pages(7, Some(&a)), Pages::This);
        assert!(!open(&b));
        assert_eq!(
            dropped.get(),
            1,
            "the old version's pages were dropped once"
        );
        assert_eq!(k.pages(7, Some(&a)), Pages::Another);
        assert_eq!(k.holding(7, &a, || ()), None, "no store of the old version");
        assert_eq!(k.holding(7, &b, || 1), Some(1));
        k.forgot(7);
        assert_eq!(k.pages(7, Some(&b)), Pages::Unknown);
    }

    #[test]
    fn what_was_handed_is_known_while_the_object_has_readers() {
        let k = KernelCopy::new();
        let obj = Arc::new(ObjectId::new("b".into(), "k".into(), 100, Some("e".into())));
        k.handed(&obj, 0..10);
        assert_eq!(
            k.not_held(&obj, 0..20),
            vec![0..20],
            "no reader, nothing kept"
        );
        k.reader_opened(&obj, false);
        k.reader_opened(&obj, true);
        assert!(!k.caches_for_all(&obj));
        k.handed(&obj, 0..10);
        assert_eq!(k.not_held(&obj, 0..20), vec![10..20]);
        assert!(!k.reader_closed(&obj, true));
        assert!(k.caches_for_all(&obj));
        assert!(k.reader_closed(&obj, false), "the last reader");
        assert_eq!(k.not_held(&obj, 0..20), vec![0..20]);
    }
}
