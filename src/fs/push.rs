//! Handing fetched parts to the kernel's page cache, so the daemon need not hold them.
//!
//! A random read's block, fetched for a handle the kernel caches (not `O_DIRECT`), is copied
//! into the file's page cache with FUSE's store notification as soon as it arrives, and then
//! dropped from the [`DataCache`]. Later reads of those pages, by this handle or any other
//! open of the file, are answered by the kernel without asking the daemon, and the block
//! costs the daemon no memory once it has arrived.
//!
//! Subtleties:
//! 1. A store waits while the kernel has a read of one of its pages in flight, until that
//!    read is answered. Stores run on their own thread, never on the runtime or the FUSE
//!    loop, and nothing that answers a read waits for a store, so they cannot deadlock. A
//!    part waiting for its store stays in the cache, where reads find it and eviction may
//!    take it like any other finished part.
//! 2. A store must never land after the kernel dropped the file's pages for a newer version
//!    of the object: it runs under a read lock of the versions map and checks the ETag the
//!    file was last opened with; an open that finds a new ETag records it under the write
//!    lock before it answers (and the kernel then drops the pages). Either the store landed
//!    first and is dropped with the rest, or it sees the new ETag and is skipped. Objects
//!    without an ETag are never stored.
//! 3. Only whole pages are stored (the object's last page may be short): the kernel does not
//!    mark a partly written page up to date, and would read it again anyway.
//! 4. The bytes the read asked for go to the kernel with its reply, and are not stored a
//!    second time.
//! 5. A store comes after the first read of a handle, so after its open finished: an open
//!    without `FOPEN_KEEP_CACHE` drops the file's pages, and a store before it would be lost.
//!    (A concurrent open of the same file with a new ETag can still drop stores of others;
//!    that costs a GET again, never wrong bytes.)
//! 6. A store the kernel refuses (the inode was forgotten, the mount is going away) leaves
//!    the part in the cache, as if there were no page cache to give it to.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::data_cache::{DataCache, ObjectId, OnReady, Part};

/// The kernel's page cache, as far as pushing bytes into it goes.
pub trait PageSink: Send + Sync {
    /// Copies `data` into the page cache of inode `ino` at `offset`. May block while the
    /// kernel has a read of those pages in flight.
    fn store(&self, ino: u64, offset: u64, data: &[u8]) -> std::io::Result<()>;
}

/// The unit the kernel caches in. On systems with larger pages, stores of 4 KiB-aligned
/// ranges still land; only the pages they cover partly are read again.
const PAGE: u64 = 4096;

struct Shared {
    /// The ETag each file had when it was last opened.
    versions: tokio::sync::RwLock<HashMap<u64, Arc<str>>>,
    cache: Arc<DataCache>,
}

enum Work {
    Store(Job),
    /// Runs on the store thread in turn: tests wait for the stores before it, or hold the
    /// thread.
    #[cfg(test)]
    Call(Box<dyn FnOnce() + Send>),
}

struct Job {
    ino: u64,
    obj: Arc<ObjectId>,
    part: Arc<Part>,
    bytes: Bytes,
    /// What the read that fetched the part asked for.
    except: Range<u64>,
}

/// Stores parts into the page cache once a sink is attached; before that, and for tests
/// that attach none, it only keeps track of versions.
pub struct Pushes {
    shared: Arc<Shared>,
    queue: Mutex<Option<mpsc::Sender<Work>>>,
    /// Inodes the kernel forgot while the versions map was busy, removed at its next write.
    forgotten: Mutex<Vec<u64>>,
}

impl Pushes {
    pub fn new(cache: Arc<DataCache>) -> Self {
        Pushes {
            shared: Arc::new(Shared {
                versions: tokio::sync::RwLock::new(HashMap::new()),
                cache,
            }),
            queue: Mutex::new(None),
            forgotten: Mutex::new(Vec::new()),
        }
    }

    /// Starts storing into `sink`, on a thread of its own.
    pub fn start(&self, sink: Arc<dyn PageSink>) -> std::io::Result<()> {
        let (tx, rx) = mpsc::channel::<Work>();
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("cognito-s3fs-push".into())
            .spawn(move || {
                for work in rx {
                    match work {
                        Work::Store(job) => shared.push(sink.as_ref(), job),
                        #[cfg(test)]
                        Work::Call(f) => f(),
                    }
                }
            })?;
        *self.queue.lock() = Some(tx);
        Ok(())
    }

    /// Records that `ino` is opened with `etag` (subtlety 2). True when that is the ETag it
    /// was opened with before, so the kernel may keep the pages it has.
    pub async fn opened(&self, ino: u64, etag: Option<&Arc<str>>) -> bool {
        {
            let versions = self.shared.versions.read().await;
            if etag.is_some() && versions.get(&ino) == etag {
                return true;
            }
        }
        let mut versions = self.shared.versions.write().await;
        for gone in self.forgotten.lock().drain(..) {
            versions.remove(&gone);
        }
        let previous = match etag {
            Some(etag) => versions.insert(ino, etag.clone()),
            None => versions.remove(&ino),
        };
        etag.is_some() && previous.as_ref() == etag
    }

    /// The kernel forgot `ino`, and its pages with it. Never waits: it runs on the FUSE
    /// loop, which a store in progress may be waiting on.
    pub fn forgot(&self, ino: u64) {
        match self.shared.versions.try_write() {
            Ok(mut versions) => {
                versions.remove(&ino);
            }
            Err(_) => self.forgotten.lock().push(ino),
        }
    }

    /// What to do with parts fetched for a read of `ino` that asked for `except`: store
    /// them, without it. `None` when no sink is attached.
    pub fn target(&self, ino: u64, except: Range<u64>) -> Option<OnReady> {
        let tx = self.queue.lock().clone()?;
        Some(Arc::new(
            move |obj: &Arc<ObjectId>, part: &Arc<Part>, bytes: &Bytes| {
                // A closed queue means the filesystem is going away: the part just stays.
                let _ = tx.send(Work::Store(Job {
                    ino,
                    obj: obj.clone(),
                    part: part.clone(),
                    bytes: bytes.clone(),
                    except: except.clone(),
                }));
            },
        ))
    }
}

#[cfg(test)]
impl Pushes {
    /// Runs `f` on the store thread once the stores queued before it are done.
    pub fn call(&self, f: impl FnOnce() + Send + 'static) {
        let queue = self.queue.lock().clone().expect("a sink is attached");
        queue.send(Work::Call(Box::new(f))).unwrap();
    }

    /// Waits until the stores queued so far are done.
    pub fn settled(&self) {
        let (tx, rx) = mpsc::channel();
        self.call(move || tx.send(()).unwrap());
        rx.recv().unwrap();
    }
}

impl Shared {
    fn push(&self, sink: &dyn PageSink, job: Job) {
        let Some(etag) = job.obj.etag.as_ref() else {
            return;
        };
        let stats = &self.cache.stats;
        {
            let versions = self.versions.blocking_read();
            if versions.get(&job.ino) != Some(etag) {
                stats.store_skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let start = job.part.start;
            let except = std::slice::from_ref(&job.except);
            for range in whole_pages(start..job.part.end(), except, job.obj.size) {
                let bytes =
                    &job.bytes[(range.start - start) as usize..(range.end - start) as usize];
                if let Err(e) = sink.store(job.ino, range.start, bytes) {
                    stats.store_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, ino = job.ino, "the kernel refused a page cache store; the part stays in memory");
                    return;
                }
                stats
                    .stored_bytes
                    .fetch_add(range.end - range.start, Ordering::Relaxed);
            }
        }
        drop(job.bytes);
        self.cache.handed_over(&job.obj, &job.part);
    }
}

/// The whole pages of `range` outside `except`, which is in order (subtleties 3 and 4).
fn whole_pages(range: Range<u64>, except: &[Range<u64>], size: u64) -> Vec<Range<u64>> {
    super::stretches::outside(range, except)
        .into_iter()
        .map(|r| {
            let start = r.start.next_multiple_of(PAGE);
            let end = if r.end == size {
                r.end
            } else {
                r.end / PAGE * PAGE
            };
            start..end
        })
        .filter(|r| r.start < r.end)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn only_whole_pages_outside_the_read_are_stored() {
        let size = 10 * PAGE + 100;
        assert_eq!(
            whole_pages(0..8 * PAGE, &[2 * PAGE..3 * PAGE, 5 * PAGE..6 * PAGE], size),
            vec![0..2 * PAGE, 3 * PAGE..5 * PAGE, 6 * PAGE..8 * PAGE]
        );
        assert_eq!(
            whole_pages(100..5 * PAGE - 1, &[], size),
            vec![PAGE..4 * PAGE],
            "partial pages at either end are left to the kernel"
        );
        assert_eq!(
            whole_pages(8 * PAGE..size, &[8 * PAGE..8 * PAGE + 10], size),
            vec![9 * PAGE..size],
            "the object's short last page is whole"
        );
        assert_eq!(
            whole_pages(0..PAGE, &[0..PAGE], size),
            Vec::<Range<u64>>::new()
        );
        assert_eq!(
            whole_pages(2 * PAGE..4 * PAGE, &[0..3 * PAGE], size),
            vec![3 * PAGE..4 * PAGE],
            "what was asked before the range counts only within it"
        );
    }
}
