//! Recycled buffers for large bodies.
//!
//! A part of a sequential read is megabytes, and a fresh buffer of that size costs a page
//! fault and a zeroed page for every 4 KiB the body is copied into: measured on a 1 GiB read,
//! about a third of the daemon's CPU time. Once the block cache is full, every fetch comes
//! with an eviction; handing the evicted part's buffer to the next fetch skips all of that.
//!
//! A buffer comes back when the last `Bytes` pointing into it is dropped. The pool keeps at
//! most `max_bytes` of idle buffers (counted in the daemon's memory reserve) and frees the
//! rest.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

/// Buffers smaller than this come from the allocator as usual (and from its heap, see
/// [`crate::start::session::return_freed_memory_promptly`]).
pub const POOLED_FROM: usize = 1 << 20;

#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    max_bytes: usize,
}

impl BufferPool {
    pub fn new(max_bytes: usize) -> Arc<Self> {
        Arc::new(BufferPool {
            free: Mutex::new(Vec::new()),
            max_bytes,
        })
    }

    /// An empty buffer with room for `len` bytes, recycled when one of about that size is
    /// idle.
    pub fn take(&self, len: usize) -> Vec<u8> {
        if len < POOLED_FROM {
            return Vec::with_capacity(len);
        }
        let mut free = self.free.lock();
        if let Some(i) = free
            .iter()
            .position(|b| b.capacity() >= len && b.capacity() <= 2 * len)
        {
            let mut buf = free.swap_remove(i);
            buf.clear();
            return buf;
        }
        drop(free);
        let buf = Vec::with_capacity(len);
        advise_huge_pages(&buf);
        buf
    }

    /// `buf` as `Bytes` that give the buffer back to the pool when the last of them goes.
    pub fn freeze(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        if buf.capacity() < POOLED_FROM {
            return Bytes::from(buf);
        }
        Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }

    /// Keeps `buf` for the next fetch, dropping the oldest idle buffers when that passes the
    /// bound: the sizes being fetched now are the ones to keep (a sequential read's small
    /// first parts would otherwise fill the pool for good, and every full-size part after
    /// them would come fresh).
    fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() > self.max_bytes {
            return;
        }
        let mut free = self.free.lock();
        let mut idle: usize = free.iter().map(Vec::capacity).sum::<usize>() + buf.capacity();
        free.push(buf);
        while idle > self.max_bytes {
            idle -= free.remove(0).capacity();
        }
    }

    /// Bytes held idle now.
    pub fn idle_bytes(&self) -> usize {
        self.free.lock().iter().map(Vec::capacity).sum()
    }
}

/// Asks the kernel to back the 2 MiB-aligned middle of `buf`'s (untouched) allocation with
/// huge pages: a part is then filled with one page fault per 2 MiB instead of 512, and the
/// FUSE reply that copies out of it pins fewer pages.
fn advise_huge_pages(buf: &Vec<u8>) {
    const HUGE: usize = 2 << 20;
    let start = buf.as_ptr() as usize;
    let end = start + buf.capacity();
    let (from, to) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
    if to > from {
        // SAFETY: the range lies inside `buf`'s own allocation, and MADV_HUGEPAGE changes no
        // contents, only how the pages are backed.
        unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) };
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VmFlags line of /proc/self/smaps for the mapping that holds `addr`.
    fn vm_flags_at(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            if let Some((from, to)) = range.split_once('-') {
                if let (Ok(from), Ok(to)) = (
                    usize::from_str_radix(from, 16),
                    usize::from_str_radix(to, 16),
                ) {
                    inside = (from..to).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return flags.trim().to_owned();
                }
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    #[test]
    fn a_large_fresh_buffer_asks_for_huge_pages_and_a_small_one_does_not() {
        let pool = BufferPool::new(0);
        let big = pool.take(8 << 20);
        let middle = (big.as_ptr() as usize + (4 << 20)) / 4096 * 4096;
        let flags = vm_flags_at(middle);
        assert!(flags.split(' ').any(|f| f == "hg"), "flags: {flags}");
        let small = pool.take(64 << 10);
        let flags = vm_flags_at(small.as_ptr() as usize);
        assert!(!flags.split(' ').any(|f| f == "hg"), "flags: {flags}");
    }

    #[test]
    fn a_dropped_part_is_handed_to_the_next_fetch_and_the_pool_stays_bounded() {
        let pool = BufferPool::new(4 << 20);
        let mut buf = pool.take(2 << 20);
        buf.extend_from_slice(&vec![7u8; 2 << 20]);
        let address = buf.as_ptr();
        let bytes = pool.freeze(buf);
        let slice = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(pool.idle_bytes(), 0, "a slice still points into it");
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert_eq!(pool.idle_bytes(), 2 << 20);
        let again = pool.take(2 << 20);
        assert_eq!(again.as_ptr(), address, "the same buffer, recycled");
        assert!(again.is_empty());
        let big: Vec<_> = (0..3).map(|_| pool.freeze(vec![0u8; 2 << 20])).collect();
        drop(big);
        assert_eq!(pool.idle_bytes(), 4 << 20, "no more than the bound is kept");
        drop(pool.freeze(vec![0u8; 4 << 20]));
        assert_eq!(pool.idle_bytes(), 4 << 20);
        let _taken = pool.take(4 << 20);
        assert_eq!(
            pool.idle_bytes(),
            0,
            "the newest size pushed out the older, smaller buffers, and is recycled"
        );
        assert_eq!(
            pool.take(4096).capacity(),
            4096,
            "small buffers are not pooled"
        );
    }
}
