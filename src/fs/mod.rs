//! The filesystem: inodes, directories and reads over an [`ObjectStore`], as plain async Rust.
//!
//! The FUSE adapter ([`crate::fuse`]) only converts kernel calls to these methods and their
//! results to replies; everything here can be tested against the in-memory store without a
//! mount. Errors are returned typed ([`FsError`]) and logged once here, with context.

pub mod dir;
pub mod error;
pub mod inode;
pub mod names;
pub mod read;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;

use dir::{list_dir, root_listing, DirCache, HiddenLog, Listing};
pub use error::FsError;
use inode::{ChildKind, Inodes, Kind, Node, ROOT_INO};
use names::ValidName;
use read::OpenFile;

use crate::s3::ObjectStore;

/// Settings of the filesystem core.
#[derive(Clone, Debug)]
pub struct FsConfig {
    /// Show exactly these buckets at the root instead of calling ListBuckets.
    pub buckets: Option<Vec<String>>,
    /// How long a directory listing is trusted.
    pub metadata_ttl: Duration,
}

/// What `getattr` and `lookup` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub is_dir: bool,
    pub size: u64,
    pub mtime: SystemTime,
}

/// One entry of a directory stream.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub ino: u64,
    pub is_dir: bool,
    pub name: String,
}

/// The filesystem core.
pub struct Fs {
    store: Arc<dyn ObjectStore>,
    config: FsConfig,
    inodes: Inodes,
    dirs: DirCache,
    hidden: HiddenLog,
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    dir_handles: Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>,
    next_handle: AtomicU64,
    mount_time: SystemTime,
}

impl Fs {
    pub fn new(store: Arc<dyn ObjectStore>, config: FsConfig) -> Self {
        Fs {
            store,
            config,
            inodes: Inodes::new(),
            dirs: DirCache::default(),
            hidden: HiddenLog::default(),
            files: Mutex::new(HashMap::new()),
            dir_handles: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            mount_time: SystemTime::now(),
        }
    }

    pub fn metadata_ttl(&self) -> Duration {
        self.config.metadata_ttl
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

    /// The listing of a directory node, cached for the metadata TTL.
    async fn listing(&self, dir: &Node) -> Result<Arc<Listing>, FsError> {
        let ttl = self.config.metadata_ttl;
        let result = match &dir.kind {
            Kind::Root => {
                self.dirs
                    .get_or_fetch(dir.ino, ttl, || async {
                        let buckets = match &self.config.buckets {
                            Some(b) => b.clone(),
                            None => self.store.list_buckets().await?,
                        };
                        Ok(root_listing(&buckets, &self.hidden))
                    })
                    .await
            }
            Kind::Dir { bucket, prefix } => {
                self.dirs
                    .get_or_fetch(dir.ino, ttl, || {
                        list_dir(self.store.as_ref(), bucket, prefix, &self.hidden)
                    })
                    .await
            }
            Kind::File { .. } => return Err(FsError::NotDir),
        };
        result.map_err(|e| {
            let err = FsError::store(format!("listing {}", describe(dir)), e);
            tracing::warn!(error = %err, "listing failed");
            err
        })
    }

    pub async fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let dir = self.node(parent)?;
        let Some(name) = name.to_str().and_then(|n| ValidName::parse(n).ok()) else {
            return Err(FsError::NotFound);
        };
        let listing = self.listing(&dir).await?;
        let what = listing.entries.get(&name).ok_or(FsError::NotFound)?;
        let node = self.inodes.child(&dir, &name, what);
        Ok(self.attr_of(&node))
    }

    pub fn getattr(&self, ino: u64) -> Result<Attr, FsError> {
        Ok(self.attr_of(&self.node(ino)?))
    }

    /// Opens a directory stream: a snapshot of its listing, so `readdir` offsets stay valid.
    pub async fn opendir(&self, ino: u64) -> Result<u64, FsError> {
        let dir = self.node(ino)?;
        let listing = self.listing(&dir).await?;
        let mut entries = Vec::with_capacity(listing.entries.len() + 2);
        entries.push(DirEntry {
            ino,
            is_dir: true,
            name: ".".into(),
        });
        entries.push(DirEntry {
            ino: dir.parent,
            is_dir: true,
            name: "..".into(),
        });
        for (name, what) in &listing.entries {
            let node = self.inodes.child(&dir, name, what);
            entries.push(DirEntry {
                ino: node.ino,
                is_dir: matches!(what, ChildKind::Dir),
                name: name.as_str().to_owned(),
            });
        }
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.dir_handles.lock().insert(fh, Arc::new(entries));
        Ok(fh)
    }

    /// The entries of an open directory stream (`.` and `..` first).
    pub fn dir_entries(&self, fh: u64) -> Result<Arc<Vec<DirEntry>>, FsError> {
        self.dir_handles
            .lock()
            .get(&fh)
            .cloned()
            .ok_or(FsError::BadHandle)
    }

    pub fn releasedir(&self, fh: u64) {
        self.dir_handles.lock().remove(&fh);
    }

    /// Opens a file, pinning it to the size and ETag its inode has now.
    pub fn open(&self, ino: u64) -> Result<u64, FsError> {
        let node = self.node(ino)?;
        let Kind::File { bucket, key, meta } = node.kind else {
            return Err(FsError::IsDir);
        };
        let file = OpenFile::new(bucket, key, meta.size, meta.etag);
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.files.lock().insert(fh, Arc::new(file));
        Ok(fh)
    }

    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes, FsError> {
        let file = self
            .files
            .lock()
            .get(&fh)
            .cloned()
            .ok_or(FsError::BadHandle)?;
        file.read(self.store.as_ref(), offset, size)
            .await
            .inspect_err(|err| match err.errno() {
                libc::ESTALE => tracing::warn!(error = %err, "object changed while open; reopen the file to read the new version"),
                _ => tracing::warn!(error = %err, "read failed"),
            })
    }

    pub fn release(&self, fh: u64) {
        self.files.lock().remove(&fh);
    }
}

/// `s3://bucket/prefix` for log lines.
fn describe(node: &Node) -> String {
    match &node.kind {
        Kind::Root => "the bucket list".into(),
        Kind::Dir { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        Kind::File { bucket, key, .. } => format!("s3://{bucket}/{key}"),
    }
}

/// The inode number of the root directory.
pub const ROOT: u64 = ROOT_INO;
