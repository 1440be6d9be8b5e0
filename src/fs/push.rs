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
//!    of the object: it runs only while the kernel's pages are of the store's version, as
//!    the kernel's copy ([`KernelCopy::holding`]) keeps them, and an open that finds a new
//!    ETag has the kernel drop the file's pages (an inode invalidation) through
//!    [`Pushes::opened`] before it answers. Objects without an ETag are never stored.
//! 3. Only whole pages are stored (the object's last page may be short): the kernel does not
//!    mark a partly written page up to date, and would read it again anyway.
//! 4. The bytes the read asked for go to the kernel with its reply, and are not stored a
//!    second time.
//! 5. A store comes after the first read of a handle, so after its open finished: an open
//!    without `FOPEN_KEEP_CACHE` drops the file's pages, and a store before it would be lost.
//!    (A concurrent open of the same file with a new ETag can still drop stores of others;
//!    that costs a GET again, never wrong bytes.)
//! 6. A store the kernel refuses (the mount is going away) leaves the part in the cache, as
//!    if there were no page cache to give it to. A store to an inode the kernel forgot is
//!    taken as done (fuser reports it so): the part is dropped and costs a GET if read again.
//! 7. Handles still open on the old ETag must not add old pages after the invalidation:
//!    their reads ask the kernel's copy without waiting ([`KernelCopy::pages`]), and fail
//!    with `ESTALE` once the pages are of another version. A read that passed the check
//!    before the change holds its pages locked in the kernel, so the invalidation waits for
//!    its reply and drops it.
//! 8. The queue to the store thread is bounded; when it is full a part is not stored and
//!    stays in the cache, within its bound, rather than waiting outside it.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::Mutex;

use super::data_cache::{DataCache, OnReady};
use super::kernel_copy::KernelCopy;
use super::object::ObjectId;
use super::part::Part;

/// The kernel's page cache, as far as pushing bytes into it goes.
pub trait PageSink: Send + Sync {
    /// Copies `data` into the page cache of inode `ino` at `offset`. May block while the
    /// kernel has a read of those pages in flight.
    fn store(&self, ino: u64, offset: u64, data: &[u8]) -> std::io::Result<()>;

    /// Drops every cached page of inode `ino`. May block like [`PageSink::store`].
    fn invalidate(&self, ino: u64) -> std::io::Result<()>;
}

/// The unit the kernel caches in. On systems with larger pages, stores of 4 KiB-aligned
/// ranges still land; only the pages they cover partly are read again.
const PAGE: u64 = 4096;

/// Stores waiting for the store thread at most; beyond it, parts stay in the cache.
const QUEUE: usize = 256;

/// What the store thread works with.
struct Shared {
    kernel: Arc<KernelCopy>,
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
/// that attach none, it stores nothing.
pub struct Pushes {
    shared: Arc<Shared>,
    queue: Mutex<Option<mpsc::SyncSender<Work>>>,
    sink: OnceLock<Arc<dyn PageSink>>,
}

impl Pushes {
    pub fn new(cache: Arc<DataCache>, kernel: Arc<KernelCopy>) -> Self {
        Pushes {
            shared: Arc::new(Shared { kernel, cache }),
            queue: Mutex::new(None),
            sink: OnceLock::new(),
        }
    }

    /// Starts storing into `sink`, on a thread of its own.
    pub fn start(&self, sink: Arc<dyn PageSink>) -> std::io::Result<()> {
        let (tx, rx) = mpsc::sync_channel::<Work>(QUEUE);
        let shared = self.shared.clone();
        let stores_to = sink.clone();
        std::thread::Builder::new()
            .name("cognito-s3fs-push".into())
            .spawn(move || {
                for work in rx {
                    match work {
                        Work::Store(job) => shared.push(stores_to.as_ref(), job),
                        #[cfg(test)]
                        Work::Call(f) => f(),
                    }
                }
            })?;
        let _ = self.sink.set(sink);
        *self.queue.lock() = Some(tx);
        Ok(())
    }

    /// Records that `ino` is opened with `etag` (subtlety 2). True when that is the ETag it
    /// was opened with before, so the kernel may keep the pages it has. When the ETag
    /// changed, the kernel has dropped the old pages by the time this returns.
    pub async fn opened(&self, ino: u64, etag: Option<&Arc<str>>) -> bool {
        let drop_pages = || async move {
            let Some(sink) = self.sink.get().cloned() else {
                return;
            };
            let dropped = tokio::task::spawn_blocking(move || sink.invalidate(ino)).await;
            if let Ok(Err(e)) = dropped {
                // The kernel still drops them as this open answers without keeping them.
                tracing::debug!(error = %e, ino, "the kernel refused to drop a changed file's pages");
            }
        };
        self.shared.kernel.opened(ino, etag, drop_pages).await
    }

    /// What to do with parts fetched for a read of `ino` that asked for `except`: store
    /// them, without it. `None` when no sink is attached.
    pub fn target(&self, ino: u64, except: Range<u64>) -> Option<OnReady> {
        let tx = self.queue.lock().clone()?;
        let cache = self.shared.cache.clone();
        Some(Arc::new(
            move |obj: &Arc<ObjectId>, part: &Arc<Part>, bytes: &Bytes| {
                let job = Job {
                    ino,
                    obj: obj.clone(),
                    part: part.clone(),
                    bytes: bytes.clone(),
                    except: except.clone(),
                };
                // A full queue: the part stays (subtlety 8). A closed one: the filesystem
                // is going away, and the part just stays too.
                if let Err(mpsc::TrySendError::Full(_)) = tx.try_send(Work::Store(job)) {
                    cache.stats.store_skipped.fetch_add(1, Ordering::Relaxed);
                }
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
        let stored = self
            .kernel
            .holding(job.ino, etag, || self.store_pages(sink, &job));
        match stored {
            None => {
                stats.store_skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(Err(e)) => {
                stats.store_failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, ino = job.ino, "the kernel refused a page cache store; the part stays in memory");
                return;
            }
            Some(Ok(())) => {}
        }
        drop(job.bytes);
        self.cache.handed_over(&job.obj, &job.part);
    }

    /// Copies the whole pages of `job`'s part, but for what its read asked, into the
    /// kernel's page cache, stopping at the first the kernel refuses.
    fn store_pages(&self, sink: &dyn PageSink, job: &Job) -> std::io::Result<()> {
        let start = job.part.start;
        let except = std::slice::from_ref(&job.except);
        for range in whole_pages(start..job.part.end(), except, job.obj.size) {
            let bytes = &job.bytes[(range.start - start) as usize..(range.end - start) as usize];
            sink.store(job.ino, range.start, bytes)?;
            self.cache
                .stats
                .stored_bytes
                .fetch_add(range.end - range.start, Ordering::Relaxed);
        }
        Ok(())
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
