//! The filesystem: inodes, directories and reads over an [`ObjectStore`], as plain async Rust.
//!
//! The FUSE adapter ([`crate::fuse`]) only converts kernel calls to these methods and their
//! results to replies; everything here can be tested against the in-memory store without a
//! mount. Errors are returned typed ([`FsError`]) and logged once here, with context.
//!
//! The request budget this module keeps (asserted in `tests.rs`):
//! - listing a directory costs its ListObjectsV2 pages, and sizes, times and ETags come from
//!   them: `ls -l`, `stat` of every entry, `find` and `du` cost no HEAD and no GET;
//! - a lookup in a directory whose listing is cached costs nothing; an uncached one costs one
//!   LIST for that one name ([`dir::DirListing::for_name`]), remembered for the metadata TTL,
//!   and a name found missing is remembered for the negative TTL;
//! - opening and reading a listed file costs GETs only; a process opening the files of a
//!   listed directory in order gets the next small ones fetched ahead ([`ahead`]), one GET
//!   each, and one opening them in any other order gets nothing extra.

pub mod ahead;
pub mod cache;
pub mod data_cache;
pub mod dir;
pub mod error;
mod fetch;
pub mod inode;
pub mod kernel_copy;
pub mod list_guard;
mod memory_budget;
pub mod names;
pub mod object;
pub mod part;
mod part_index;
pub mod push;
mod quiet;
pub mod read;
mod stream;
mod stretches;
pub mod xattr;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod ahead_tests;

#[cfg(test)]
mod budget_tests;

#[cfg(test)]
mod listing_tests;

#[cfg(test)]
mod model_tests;

#[cfg(test)]
mod read_tests;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;

use ahead::{AheadConfig, AheadStats, SmallFiles};
use cache::{CacheStats, DirCache, NegativeCache};
use data_cache::DataCache;
use dir::{Decision, DirListing, HiddenLog};
pub use error::FsError;
use inode::{Inodes, Kind, Node, ROOT_INO};
use kernel_copy::KernelCopy;
use list_guard::ListBound;
use names::ValidName;
use object::ObjectId;
use push::{PageSink, Pushes};
use quiet::Quiet;
pub use read::ReadConfig;
use read::{OpenFile, ReadPath};
pub use stream::DirEntry;
use stream::DirStream;

use crate::s3::{ObjectStore, StoreError};

/// Settings of the filesystem core.
#[derive(Clone, Debug)]
pub struct FsConfig {
    /// What the mount's root shows.
    pub root: Root,
    /// How long a directory listing or a looked-up entry is trusted.
    pub metadata_ttl: Duration,
    /// How long a name found missing is trusted to stay missing.
    pub negative_ttl: Duration,
    /// The most directory entries all cached listings may hold together.
    pub max_cached_entries: usize,
    /// How reads become GETs.
    pub read: ReadConfig,
    /// The most bytes of object data held in memory, fetched or in flight.
    pub max_cache_memory: u64,
    /// How far small files are fetched ahead of a process opening them in order.
    pub ahead: AheadConfig,
}

impl Default for FsConfig {
    /// What a mount gets with no option given (see [`crate::settings::defaults`]).
    fn default() -> Self {
        use crate::settings::defaults as d;
        FsConfig {
            root: Root::AllBuckets,
            metadata_ttl: d::METADATA_TTL,
            negative_ttl: d::NEGATIVE_TTL,
            max_cached_entries: d::MAX_CACHED_ENTRIES,
            read: ReadConfig::default(),
            max_cache_memory: d::cache_memory(d::MAX_MEMORY),
            ahead: AheadConfig::default(),
        }
    }
}

impl FsConfig {
    /// The defaults, with the given metadata TTL.
    pub fn with_ttl(metadata_ttl: Duration) -> Self {
        FsConfig {
            metadata_ttl,
            ..FsConfig::default()
        }
    }
}

/// What the mount's root is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Root {
    /// Every bucket ListBuckets answers, one directory each.
    #[default]
    AllBuckets,
    /// Exactly these buckets, one directory each (ListBuckets is never called).
    Buckets(Vec<String>),
    /// One bucket (`prefix` empty) or one prefix of it (ending in `/`), as the root itself.
    /// Semantics decision: every request of such a mount is inside the prefix; no name
    /// outside it can be reached, not even through `..` (the root is its own parent).
    Prefix { bucket: String, prefix: String },
}

/// How many names found missing are remembered.
const NEGATIVE_CAPACITY: usize = 10_000;

/// What `getattr` and `lookup` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub is_dir: bool,
    pub size: u64,
    pub mtime: SystemTime,
}

/// The filesystem core.
pub struct Fs {
    store: Arc<dyn ObjectStore>,
    config: FsConfig,
    inodes: Inodes,
    dirs: DirCache,
    /// How far one listing may go before it is taken for one that never ends.
    list_bound: ListBound,
    negative: NegativeCache,
    stats: Arc<CacheStats>,
    hidden: Arc<HiddenLog>,
    root_fetch: tokio::sync::Mutex<()>,
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    data: Arc<DataCache>,
    /// Fetches the next small files for a process opening a directory's files in order.
    ahead: Arc<SmallFiles>,
    /// `config.read`, fitted to the block cache once.
    read_config: ReadConfig,
    /// Hands fetched parts to the kernel's page cache.
    pushes: Pushes,
    /// What the kernel's page cache holds: the ETag each file had when it was last opened,
    /// to keep that cache across opens, and what the block cache let go to it.
    kernel: Arc<KernelCopy>,
    dir_handles: Mutex<HashMap<u64, Arc<DirStream>>>,
    next_handle: AtomicU64,
    mount_time: SystemTime,
    /// Thin the log of failures that repeat (an outage fails every request alike): one for
    /// listings and lookups, one for reads, so that one kind does not hide the other.
    quiet_requests: Quiet,
    quiet_reads: Quiet,
    /// `user.s3.content_type` answers, per object version (`--xattrs`).
    content_types: xattr::ContentTypes,
}

impl Fs {
    pub fn new(store: Arc<dyn ObjectStore>, config: FsConfig) -> Self {
        let kernel = KernelCopy::new();
        let data = DataCache::new(config.max_cache_memory, kernel.clone());
        Fs {
            store,
            dirs: DirCache::new(config.max_cached_entries),
            list_bound: ListBound::for_entries(config.max_cached_entries),
            pushes: Pushes::new(data.clone(), kernel.clone()),
            kernel,
            ahead: SmallFiles::new(
                config.ahead,
                config.read.whole_object_below,
                config.max_cache_memory,
            ),
            data,
            read_config: config.read.within(config.max_cache_memory),
            inodes: Inodes::with_root(root_kind(&config.root)),
            config,
            negative: NegativeCache::new(NEGATIVE_CAPACITY),
            stats: Arc::default(),
            hidden: Arc::default(),
            root_fetch: tokio::sync::Mutex::new(()),
            files: Mutex::new(HashMap::new()),
            dir_handles: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            mount_time: SystemTime::now(),
            quiet_requests: Quiet::default(),
            quiet_reads: Quiet::default(),
            content_types: xattr::ContentTypes::default(),
        }
    }

    /// The extended attribute names of `ino` (none for a directory).
    pub fn xattr_names(&self, ino: u64) -> Result<Vec<&'static str>, FsError> {
        match self.node(ino)?.kind {
            Kind::File { meta, .. } => Ok(xattr::names(&meta)),
            _ => Ok(Vec::new()),
        }
    }

    /// The value of extended attribute `name` of `ino`: from the listing, or for the
    /// content type one HEAD per object version.
    pub async fn xattr(&self, ino: u64, name: &OsStr) -> Result<Vec<u8>, FsError> {
        let Kind::File { bucket, key, meta } = self.node(ino)?.kind else {
            return Err(FsError::NoAttribute);
        };
        let name = name.to_str().ok_or(FsError::NoAttribute)?;
        if let Some(value) = xattr::from_listing(&meta, name) {
            return value.map(String::into_bytes);
        }
        if name != xattr::CONTENT_TYPE {
            return Err(FsError::NoAttribute);
        }
        let content_type = self
            .content_types
            .of(&*self.store, &bucket, &key, meta.etag.as_ref())
            .await
            .map_err(|e| self.failed(format!("HeadObject s3://{bucket}/{key}"), e))?;
        Ok(content_type.as_bytes().to_vec())
    }

    pub fn metadata_ttl(&self) -> Duration {
        self.config.metadata_ttl
    }

    pub fn negative_ttl(&self) -> Duration {
        self.config.negative_ttl
    }

    /// Cache hit counters, for the stats line.
    pub fn cache_stats(&self) -> Arc<CacheStats> {
        self.stats.clone()
    }

    /// Counters of the small-file read-ahead, for the stats line.
    pub fn ahead_stats(&self) -> Arc<AheadStats> {
        self.ahead.stats()
    }

    /// How many inodes the table holds (the root included).
    pub fn inode_count(&self) -> usize {
        self.inodes.len()
    }

    fn node(&self, ino: u64) -> Result<Node, FsError> {
        self.inodes.get(ino).ok_or(FsError::NotFound)
    }

    fn attr_of(&self, node: &Node) -> Attr {
        match &node.kind {
            Kind::File { meta, .. } => Attr {
                ino: node.ino,
                is_dir: false,
                size: meta.size,
                mtime: meta.mtime,
            },
            _ => Attr {
                ino: node.ino,
                is_dir: true,
                size: 0,
                mtime: self.mount_time,
            },
        }
    }

    fn failed(&self, context: String, source: StoreError) -> FsError {
        let err = FsError::store(context, source);
        if let Some(similar) = self.quiet_requests.admit(err.kind(), Instant::now()) {
            tracing::warn!(error = %err, similar_failures_not_logged = similar, "request failed");
        }
        err
    }

    /// Looks `name` up in `parent`; on success the kernel holds one more reference.
    pub async fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let dir = self.node(parent)?;
        let Some(name) = name.to_str().and_then(|n| ValidName::parse(n).ok()) else {
            return Err(FsError::NotFound);
        };
        let node = self.resolve(&dir, &name).await?.ok_or(FsError::NotFound)?;
        self.inodes.hold(&node);
        Ok(self.attr_of(&node))
    }

    /// The child `name` of `dir`: from the cached listing, the node's own freshness, the
    /// negative cache, or else one LIST for that one name.
    async fn resolve(&self, dir: &Node, name: &ValidName) -> Result<Option<Node>, FsError> {
        let ttl = self.config.metadata_ttl;
        if let Some(listing) = self.dirs.fresh(dir.ino, ttl) {
            match listing.decide(name) {
                Decision::Found(kind) => {
                    self.stats.hit();
                    return Ok(Some(self.inodes.child(dir, name, &kind, listing.started)));
                }
                Decision::Absent => {
                    self.stats.hit();
                    return Ok(None);
                }
                Decision::Unknown => {}
            }
        }
        if let Some(node) = self.inodes.find(dir.ino, name) {
            if node.seen.elapsed() < ttl {
                self.stats.hit();
                return Ok(Some(node));
            }
        }
        if self
            .negative
            .contains(dir.ino, name, self.config.negative_ttl)
        {
            self.stats.negative_hit();
            return Ok(None);
        }
        self.stats.miss();
        self.fetch_one(dir, name).await
    }

    /// Asks S3 about one name: one LIST (or the bucket list, at the root).
    async fn fetch_one(&self, dir: &Node, name: &ValidName) -> Result<Option<Node>, FsError> {
        let started = Instant::now();
        let decision = match &dir.kind {
            Kind::Root => self.root_listing().await?.decide(name),
            Kind::Dir { bucket, prefix } => {
                DirListing::for_name(bucket.clone(), prefix, name, self.list_bound)
                    .fill_for(self.store.as_ref(), &self.hidden, name)
                    .await
                    .map_err(|e| {
                        self.failed(format!("looking up s3://{bucket}/{prefix}{name}"), e)
                    })?
            }
            Kind::File { .. } => return Err(FsError::NotDir),
        };
        match decision {
            Decision::Found(kind) => {
                self.negative.remove(dir.ino, name);
                Ok(Some(self.inodes.child(dir, name, &kind, started)))
            }
            Decision::Absent | Decision::Unknown => {
                self.negative.insert(dir.ino, name);
                Ok(None)
            }
        }
    }

    /// The root's listing: the configured buckets, or ListBuckets, cached for the TTL.
    async fn root_listing(&self) -> Result<Arc<DirListing>, FsError> {
        let ttl = self.config.metadata_ttl;
        let _single_flight = self.root_fetch.lock().await;
        if let Some(listing) = self.dirs.fresh(ROOT_INO, ttl) {
            return Ok(listing);
        }
        let buckets = match &self.config.root {
            Root::Buckets(b) => b.clone(),
            Root::AllBuckets | Root::Prefix { .. } => self
                .store
                .list_buckets()
                .await
                .map_err(|e| self.failed("listing the buckets".into(), e))?,
        };
        let names = buckets
            .iter()
            .filter_map(|b| {
                ValidName::parse(b)
                    .map_err(|why| self.hidden.note(b, "", why))
                    .ok()
            })
            .collect();
        let (listing, _) = self
            .dirs
            .fresh_or_insert(ROOT_INO, ttl, || DirListing::complete_dirs(names));
        Ok(listing)
    }

    /// The listing a new directory stream reads: the cached one if fresh, else a new one.
    async fn listing_of(&self, dir: &Node) -> Result<Arc<DirListing>, FsError> {
        match &dir.kind {
            Kind::Root => self.root_listing().await,
            Kind::Dir { bucket, prefix } => {
                let ttl = self.config.metadata_ttl;
                let (listing, hit) = self.dirs.fresh_or_insert(dir.ino, ttl, || {
                    DirListing::new(bucket.clone(), prefix, self.list_bound)
                });
                if hit {
                    self.stats.hit();
                } else {
                    self.stats.miss();
                }
                Ok(listing)
            }
            Kind::File { .. } => Err(FsError::NotDir),
        }
    }

    /// The attributes of `ino`; a file older than the metadata TTL is asked about again. A
    /// file whose object has a new version under a new number keeps the attributes of the
    /// version it is, for the handles still open on it.
    pub async fn getattr(&self, ino: u64) -> Result<Attr, FsError> {
        match self.fresh_node(ino).await {
            Ok(node) => Ok(self.attr_of(&node)),
            Err(FsError::Superseded) => Ok(self.attr_of(&self.node(ino)?)),
            Err(e) => Err(e),
        }
    }

    /// The node, confirmed by S3 within the metadata TTL if it is a file.
    async fn fresh_node(&self, ino: u64) -> Result<Node, FsError> {
        let node = self.node(ino)?;
        if node.is_dir() || node.seen.elapsed() < self.config.metadata_ttl {
            return Ok(node);
        }
        let (Ok(parent), Ok(name)) = (self.node(node.parent), ValidName::parse(node.name())) else {
            return Ok(node);
        };
        match self.resolve(&parent, &name).await? {
            Some(fresh) if fresh.ino == node.ino => Ok(fresh),
            // A new version, under a new number (inode subtlety 2). ESTALE on open has the
            // kernel look the name up again and open that.
            Some(fresh) if !fresh.is_dir() && !node.is_dir() => Err(FsError::Superseded),
            _ => Err(FsError::NotFound),
        }
    }

    /// The kernel took a reference through a readdirplus entry.
    pub fn took(&self, entry: &DirEntry) {
        if let Some(node) = entry.node() {
            self.inodes.hold(node);
        }
    }

    /// The kernel took no reference through `entry`: a plain readdir entry, or one the
    /// readdirplus buffer had no room for. The node made for it goes unless the kernel holds
    /// it already (a later listing or lookup makes it again).
    pub fn declined(&self, entry: &DirEntry) {
        if let Some(node) = entry.node() {
            self.inodes.reclaim_unheld(node.ino);
        }
    }

    /// The kernel gave back `n` references to `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        if let Some(node) = self.inodes.forget(ino, n) {
            self.kernel.forgot(ino);
            if node.is_dir() {
                self.dirs.remove(ino);
            }
        }
    }

    /// Opens a file, pinning it to the size and ETag S3 showed within the metadata TTL.
    /// Also says whether the kernel may keep the pages it cached of this file: yes when the
    /// file was last opened with the same ETag, so it holds the same bytes.
    pub async fn open(&self, ino: u64) -> Result<(u64, bool), FsError> {
        self.open_with(ino, true).await
    }

    /// [`Fs::open`], saying whether the kernel's page cache keeps what is read through this
    /// handle: false for `O_DIRECT`.
    pub async fn open_with(&self, ino: u64, kernel_caches: bool) -> Result<(u64, bool), FsError> {
        self.open_for(ino, kernel_caches, None).await
    }

    /// [`Fs::open_with`] by process `pid` (the kernel's), whose opens in listing order get
    /// the next small files fetched ahead ([`ahead`]).
    pub async fn open_for(
        &self,
        ino: u64,
        kernel_caches: bool,
        pid: Option<u32>,
    ) -> Result<(u64, bool), FsError> {
        let node = self.fresh_node(ino).await?;
        let Kind::File { bucket, key, meta } = &node.kind else {
            return Err(FsError::IsDir);
        };
        let keep_cache = self.pushes.opened(ino, meta.etag.as_ref()).await;
        let obj = ObjectId::new(bucket.clone(), (**key).into(), meta.size, meta.etag.clone());
        self.ahead.claimed(&obj);
        let file = OpenFile::new(
            ino,
            self.data.reader(obj, !kernel_caches),
            self.read_config,
            kernel_caches,
        );
        file.opened(&self.data, &self.store).await;
        // 0 is the kernel itself, not a process.
        if let Some(pid) = pid.filter(|&p| p != 0) {
            self.fetch_ahead_of(pid, &node).await;
        }
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.files.lock().insert(fh, Arc::new(file));
        Ok((fh, keep_cache))
    }

    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes, FsError> {
        let file = self
            .files
            .lock()
            .get(&fh)
            .cloned()
            .ok_or(FsError::BadHandle)?;
        let path = ReadPath {
            cache: &self.data,
            store: &self.store,
            pushes: &self.pushes,
            kernel: &self.kernel,
        };
        file.read(&path, offset, size)
            .await
            .inspect_err(|err| {
                let Some(similar) = self.quiet_reads.admit(err.kind(), Instant::now()) else {
                    return;
                };
                match err.errno() {
                    libc::ESTALE => tracing::warn!(error = %err, similar_failures_not_logged = similar, "object changed while open; reopen the file to read the new version"),
                    _ => tracing::warn!(error = %err, similar_failures_not_logged = similar, "read failed"),
                }
            })
    }

    /// From now on, fetched parts go on to the kernel's page cache through `sink`
    /// (see [`push`]).
    pub fn attach_page_cache(&self, sink: Arc<dyn PageSink>) -> std::io::Result<()> {
        self.pushes.start(sink)
    }

    #[cfg(test)]
    pub fn pushes(&self) -> &Pushes {
        &self.pushes
    }

    #[cfg(test)]
    pub fn kernel_copy(&self) -> &KernelCopy {
        &self.kernel
    }

    /// The shared cache of object bytes.
    pub fn data_cache(&self) -> Arc<DataCache> {
        self.data.clone()
    }

    pub fn release(&self, fh: u64) {
        if let Some(file) = self.files.lock().remove(&fh) {
            file.closed(&self.data);
        }
    }
}

/// `s3://bucket/prefix` for log lines.
/// The root node's kind: the bucket list, or the bucket or prefix mounted.
fn root_kind(root: &Root) -> Kind {
    match root {
        Root::AllBuckets | Root::Buckets(_) => Kind::Root,
        Root::Prefix { bucket, prefix } => Kind::Dir {
            bucket: bucket.as_str().into(),
            prefix: prefix.as_str().into(),
        },
    }
}

fn describe(node: &Node) -> String {
    match &node.kind {
        Kind::Root => "the bucket list".into(),
        Kind::Dir { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        Kind::File { bucket, key, .. } => format!("s3://{bucket}/{key}"),
    }
}

/// The inode number of the root directory.
pub const ROOT: u64 = ROOT_INO;
