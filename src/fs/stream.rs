//! Directory streams: `opendir`, `readdir` and `readdirplus` over a [`DirListing`].
//!
//! Subtleties:
//! 1. The readdir offset is the index into the stream: 0 is `.`, 1 is `..`, and `2 + i` is
//!    entry `i` of the listing. The listing only grows at its end, so an offset stays valid
//!    for the life of the handle, and the kernel can resume anywhere.
//! 2. A stream holds the listing it was opened on. When the listing expires, new streams get
//!    a new one; open streams keep a consistent view.
//! 3. `opendir` fetches the first page, so an error (access denied, no such bucket) is the
//!    answer to `opendir`, where tools report it; later pages are fetched as they are read.
//! 4. Every entry returned carries full attributes, from the listing: readdirplus answers
//!    `ls -l` without a single lookup. The adapter counts each entry the kernel's buffer
//!    took as a kernel reference ([`super::Fs::took`]) and gives back the node of each entry
//!    it had no room for ([`super::Fs::declined`]): otherwise every batch would leave nodes
//!    in the table that the kernel never heard of, and so never forgets.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::dir::DirListing;
use super::inode::Node;
use super::{describe, Attr, Fs, FsError};

/// One entry of a directory stream.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: String,
    pub attr: Attr,
    /// The offset of the entry after this one.
    pub next_offset: u64,
    /// The node made for it; none for `.` and `..`, which the kernel does not count.
    node: Option<Node>,
}

impl DirEntry {
    pub(super) fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }
}

/// An open directory.
pub struct DirStream {
    dir: Node,
    listing: Arc<DirListing>,
}

impl Fs {
    /// Opens a directory stream and fetches its first page.
    pub async fn opendir(&self, ino: u64) -> Result<u64, FsError> {
        let dir = self.node(ino)?;
        let listing = self.listing_of(&dir).await?;
        self.fill(&dir, &listing, 0).await?;
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.dir_handles
            .lock()
            .insert(fh, Arc::new(DirStream { dir, listing }));
        Ok(fh)
    }

    async fn fill(&self, dir: &Node, listing: &DirListing, index: usize) -> Result<(), FsError> {
        let filled = listing
            .fill_to(self.store.as_ref(), &self.hidden, index)
            .await
            .map_err(|e| self.failed(format!("listing {}", describe(dir)), e));
        self.dirs.grew(listing, listing.take_growth());
        filled
    }

    /// Fetches the next page of a big directory while the kernel consumes this one, so
    /// `ls` of 100,000 entries waits for one LIST at a time at most, not one LIST plus the
    /// time to hand 1,000 entries to the kernel.
    fn read_ahead(&self, listing: &Arc<DirListing>, upto: usize) {
        if !listing.wants_read_ahead(upto) {
            return;
        }
        let (listing, store, hidden) = (listing.clone(), self.store.clone(), self.hidden.clone());
        tokio::spawn(async move { listing.read_ahead(store.as_ref(), &hidden).await });
    }

    /// Up to `max` entries of stream `fh` from `offset`, fetching pages as needed. An empty
    /// answer is the end of the stream.
    pub async fn readdir(
        &self,
        fh: u64,
        offset: u64,
        max: usize,
    ) -> Result<Vec<DirEntry>, FsError> {
        let stream = self
            .dir_handles
            .lock()
            .get(&fh)
            .cloned()
            .ok_or(FsError::BadHandle)?;
        let mut out = Vec::new();
        if offset < 2 {
            out.extend(self.dots(&stream.dir).into_iter().skip(offset as usize));
        }
        let from = offset.saturating_sub(2) as usize;
        self.fill(&stream.dir, &stream.listing, from).await?;
        self.read_ahead(&stream.listing, from + max);
        let seen = stream.listing.started;
        for (i, entry) in stream.listing.slice(from, max).into_iter().enumerate() {
            let node = self
                .inodes
                .child(&stream.dir, &entry.name, &entry.kind, seen);
            out.push(DirEntry {
                name: entry.name.as_str().to_owned(),
                attr: self.attr_of(&node),
                next_offset: (from + i + 3) as u64,
                node: Some(node),
            });
        }
        Ok(out)
    }

    /// `.` and `..` of a directory.
    fn dots(&self, dir: &Node) -> [DirEntry; 2] {
        let parent = self.node(dir.parent).unwrap_or_else(|_| dir.clone());
        [
            DirEntry {
                name: ".".into(),
                attr: self.attr_of(dir),
                next_offset: 1,
                node: None,
            },
            DirEntry {
                name: "..".into(),
                attr: self.attr_of(&parent),
                next_offset: 2,
                node: None,
            },
        ]
    }

    pub fn releasedir(&self, fh: u64) {
        self.dir_handles.lock().remove(&fh);
    }
}
