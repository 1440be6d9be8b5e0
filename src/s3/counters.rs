//! Request counters: how many requests of each kind a store has sent, and how many bytes it
//! has read. Tests assert request budgets with them; the daemon reports them at unmount.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The request kinds the filesystem sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    ListBuckets,
    List,
    Get,
    /// `HeadObject`: only `--xattrs` sends it, for `user.s3.content_type`.
    Head,
}

/// Lock-free counters, one per [`Op`], plus bytes read by GETs.
#[derive(Debug, Default)]
pub struct Counters {
    list_buckets: AtomicU64,
    list: AtomicU64,
    get: AtomicU64,
    get_bytes: AtomicU64,
    head: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub list_buckets: u64,
    pub list: u64,
    pub get: u64,
    pub get_bytes: u64,
    /// Not in the snapshot's line: the stats line adds it at its end (keys are only added
    /// at the end).
    pub head: u64,
}

impl Counters {
    pub fn record(&self, op: Op) {
        self.slot(op).fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_bytes(&self, n: u64) {
        self.get_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self, op: Op) -> u64 {
        self.slot(op).load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            list_buckets: self.get(Op::ListBuckets),
            list: self.get(Op::List),
            get: self.get(Op::Get),
            get_bytes: self.get_bytes.load(Ordering::Relaxed),
            head: self.get(Op::Head),
        }
    }

    fn slot(&self, op: Op) -> &AtomicU64 {
        match op {
            Op::ListBuckets => &self.list_buckets,
            Op::List => &self.list,
            Op::Get => &self.get,
            Op::Head => &self.head,
        }
    }
}

impl fmt::Display for Snapshot {
    /// One line a script can parse: `key=value` pairs separated by spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "list_buckets={} list={} get={} get_bytes={}",
            self.list_buckets, self.list, self.get, self.get_bytes
        )
    }
}
