//! How many bytes a cached directory entry costs, measured with a counting allocator.
//!
//! A directory of 100,000 objects is listed through the filesystem (as `ls` would, in
//! readdir batches), then every entry is taken as a kernel reference (as readdirplus does).
//! The live heap growth divided by the entries is the figure; the test prints it and keeps
//! it under a few hundred bytes. Its own binary, so no other test allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cognito_s3fs::fs::dir::{DirListing, HiddenLog};
use cognito_s3fs::fs::list_guard::ListBound;
use cognito_s3fs::fs::{Fs, FsConfig, Root, ROOT};
use cognito_s3fs::s3::memory::MemoryStore;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ENTRIES: usize = 100_000;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[test]
fn a_cached_entry_costs_a_few_hundred_bytes_at_most() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = MemoryStore::new();
        for i in 0..ENTRIES {
            store.put("bk", &format!("data/2024/part-{i:06}.parquet"), "");
        }
        let config = FsConfig {
            root: Root::Buckets(vec!["bk".into()]),
            ..FsConfig::with_ttl(Duration::from_secs(600))
        };
        let store = Arc::new(store);
        let bound = ListBound::for_entries(config.max_cached_entries);
        let before = live();
        let listing = DirListing::new("bk".into(), "data/2024/", bound);
        listing
            .fill_to(store.as_ref(), &HiddenLog::default(), usize::MAX - 1)
            .await
            .unwrap();
        let alone = (live() - before) / ENTRIES as isize;
        assert_eq!(listing.len(), ENTRIES);
        drop(listing);
        println!("bytes per cached entry: listing alone {alone}");
        assert!(alone < 200, "{alone} bytes per listing entry");
        let fs = Fs::new(store, config);
        let bk = fs.lookup(ROOT, "bk".as_ref()).await.unwrap().ino;
        let data = fs.lookup(bk, "data".as_ref()).await.unwrap().ino;
        let dir = fs.lookup(data, "2024".as_ref()).await.unwrap().ino;

        let before = live();
        let fh = fs.opendir(dir).await.unwrap();
        let mut offset = 0;
        let mut inos = Vec::with_capacity(ENTRIES);
        loop {
            let batch = fs.readdir(fh, offset, 128).await.unwrap();
            let Some(last) = batch.last() else { break };
            offset = last.next_offset;
            // What the adapter does with a readdirplus batch the kernel took whole.
            for e in batch.iter().skip_while(|e| e.name.starts_with('.')) {
                fs.took(e);
                inos.push(e.attr.ino);
            }
        }
        fs.releasedir(fh);
        let inos_bytes = (inos.capacity() * 8) as isize;
        let held = live() - before - inos_bytes;
        assert_eq!(inos.len(), ENTRIES);
        let per_entry = held / ENTRIES as isize;
        println!("bytes per cached entry: listing + inode with kernel references {per_entry}");
        assert!(per_entry < 450, "{per_entry} bytes per entry");

        for ino in &inos {
            fs.forget(*ino, 1);
        }
        println!("inodes after forget: {}", fs.inode_count());
        assert_eq!(fs.inode_count(), 4, "root, bk, data, 2024");
    });
}
