//! The inode table: stable numbers for (parent, name) pairs, counted the way the kernel counts.
//!
//! Subtleties:
//! 1. An inode is created the first time a name is seen (in a listing or a lookup) and keeps
//!    its number for as long as the kernel holds it, so `find` and `tar` see consistent inode
//!    numbers. The kernel acquires one reference per successful lookup and per readdirplus
//!    entry ([`Inodes::remember`]) and gives them back with `forget`; at zero the node is
//!    reclaimed, so the table holds what the kernel's dentry cache holds, not every name ever
//!    listed.
//! 2. If a name changes kind (a file becomes a directory), or a file's ETag changes (the
//!    object was overwritten), it gets a new number: the old one may still be held by the
//!    kernel, by open files among others, and must not silently change meaning. The kernel
//!    keeps one page cache per inode, so the old version's pages and the new one's never mix.
//! 3. Each node remembers when S3 last vouched for it (`seen`), so a lookup or an open inside
//!    the metadata TTL costs no request, and one after it refreshes the node first.
//! 4. Strings are boxed (`Box<str>`, `Arc<str>`) rather than `String`s and the ETag is shared
//!    with the listing that produced it: a cached entry costs a few hundred bytes at most.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use parking_lot::RwLock;

use super::names::{child_key, child_prefix, ValidName};

pub const ROOT_INO: u64 = 1;

/// What a file's metadata is, from the listing that last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    pub mtime: SystemTime,
    /// Shared between the listing and the inode that came from it.
    pub etag: Option<Arc<str>>,
    /// As the listing says (`user.s3.storage_class`).
    pub storage_class: Option<Arc<str>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Root,
    /// A bucket (`prefix` empty) or a prefix ending in `/`.
    Dir {
        bucket: Arc<str>,
        prefix: Box<str>,
    },
    File {
        bucket: Arc<str>,
        key: Box<str>,
        meta: FileMeta,
    },
}

#[derive(Clone, Debug)]
pub struct Node {
    pub ino: u64,
    pub parent: u64,
    pub kind: Kind,
    /// When a listing or a lookup last confirmed this node.
    pub seen: Instant,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        !matches!(self.kind, Kind::File { .. })
    }

    /// The node's own name in its parent (empty for the root).
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::Root => "",
            Kind::Dir { bucket, prefix } if prefix.is_empty() => bucket,
            Kind::Dir { prefix, .. } => last_component(prefix.trim_end_matches('/')),
            Kind::File { key, .. } => last_component(key),
        }
    }
}

fn last_component(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether `new` may keep the number of `old`, of the same kind: not a file whose ETag
/// changed (subtlety 2). Without an ETag on either side there is no telling.
fn same_version(old: &Kind, new: &Kind) -> bool {
    match (old, new) {
        (Kind::File { meta: a, .. }, Kind::File { meta: b, .. }) => {
            a.etag.is_none() || b.etag.is_none() || a.etag == b.etag
        }
        _ => true,
    }
}

/// What a listing says a child is; the table works out bucket, key and prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildKind {
    Dir,
    File(FileMeta),
}

struct Slot {
    node: Node,
    /// References the kernel holds (lookups and readdirplus entries not yet forgotten).
    lookups: u64,
}

#[derive(Default)]
struct Table {
    nodes: HashMap<u64, Slot>,
    children: HashMap<(u64, ValidName), u64>,
    next: u64,
}

/// Thread-safe inode table.
pub struct Inodes {
    table: RwLock<Table>,
}

impl Default for Inodes {
    fn default() -> Self {
        Self::new()
    }
}

impl Inodes {
    /// A table whose root lists the buckets.
    pub fn new() -> Self {
        Self::with_root(Kind::Root)
    }

    /// A table whose root is `kind`: the bucket list, or a bucket or prefix mounted as the
    /// root.
    pub fn with_root(kind: Kind) -> Self {
        let mut table = Table {
            next: ROOT_INO + 1,
            ..Default::default()
        };
        let root = Node {
            ino: ROOT_INO,
            parent: ROOT_INO,
            kind,
            seen: Instant::now(),
        };
        // The root is never forgotten: one reference that no `forget` gives back.
        table.nodes.insert(
            ROOT_INO,
            Slot {
                node: root,
                lookups: 1,
            },
        );
        Inodes {
            table: RwLock::new(table),
        }
    }

    pub fn get(&self, ino: u64) -> Option<Node> {
        self.table.read().nodes.get(&ino).map(|s| s.node.clone())
    }

    /// The node already known for `name` under `parent`, if any.
    pub fn find(&self, parent: u64, name: &ValidName) -> Option<Node> {
        let table = self.table.read();
        let ino = table.children.get(&(parent, name.clone()))?;
        table.nodes.get(ino).map(|s| s.node.clone())
    }

    /// The node for `name` under `parent` as a listing seen at `seen` describes it, created or
    /// updated.
    pub fn child(&self, parent: &Node, name: &ValidName, what: &ChildKind, seen: Instant) -> Node {
        let kind = child_kind(parent, name, what);
        let mut table = self.table.write();
        let key = (parent.ino, name.clone());
        if let Some(&ino) = table.children.get(&key) {
            let slot = table
                .nodes
                .get_mut(&ino)
                .expect("children index points at nodes");
            if slot.node.is_dir() == matches!(what, ChildKind::Dir)
                && same_version(&slot.node.kind, &kind)
            {
                slot.node.kind = kind;
                slot.node.seen = slot.node.seen.max(seen);
                return slot.node.clone();
            }
        }
        let ino = table.next;
        table.next += 1;
        let node = Node {
            ino,
            parent: parent.ino,
            kind,
            seen,
        };
        let slot = Slot {
            node: node.clone(),
            lookups: 0,
        };
        table.nodes.insert(ino, slot);
        table.children.insert(key, ino);
        node
    }

    /// The kernel took one more reference to `node` (a lookup or a readdirplus entry). A node
    /// reclaimed meanwhile (offered in another readdirplus reply that the kernel declined,
    /// see [`Inodes::reclaim_unheld`]) is put back, so the number the kernel got stays valid.
    pub fn hold(&self, node: &Node) {
        let mut table = self.table.write();
        if let Some(slot) = table.nodes.get_mut(&node.ino) {
            slot.lookups += 1;
            return;
        }
        let slot = Slot {
            node: node.clone(),
            lookups: 1,
        };
        table.nodes.insert(node.ino, slot);
        if let Ok(name) = ValidName::parse(node.name()) {
            table
                .children
                .entry((node.parent, name))
                .or_insert(node.ino);
        }
    }

    /// Reclaims `ino` if the kernel holds no reference to it: a node made for a directory
    /// entry that the kernel's reply buffer had no room for.
    pub fn reclaim_unheld(&self, ino: u64) {
        let held = self.table.read().nodes.get(&ino).map(|s| s.lookups);
        if held == Some(0) {
            self.forget(ino, 0);
        }
    }

    /// The kernel gave back `n` references; at zero the node is reclaimed and returned.
    pub fn forget(&self, ino: u64, n: u64) -> Option<Node> {
        let mut table = self.table.write();
        let slot = table.nodes.get_mut(&ino)?;
        slot.lookups = slot.lookups.saturating_sub(n);
        if slot.lookups > 0 || ino == ROOT_INO {
            return None;
        }
        let node = table.nodes.remove(&ino).expect("just found").node;
        if let Ok(name) = ValidName::parse(node.name()) {
            let key = (node.parent, name);
            if table.children.get(&key) == Some(&ino) {
                table.children.remove(&key);
            }
        }
        Some(node)
    }

    /// How many nodes the table holds (the root included).
    pub fn len(&self) -> usize {
        self.table.read().nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

fn child_kind(parent: &Node, name: &ValidName, what: &ChildKind) -> Kind {
    match (&parent.kind, what) {
        (Kind::Root, _) => Kind::Dir {
            bucket: Arc::from(name.as_str()),
            prefix: "".into(),
        },
        (Kind::Dir { bucket, prefix }, ChildKind::Dir) => Kind::Dir {
            bucket: bucket.clone(),
            prefix: child_prefix(prefix, name).into(),
        },
        (Kind::Dir { bucket, prefix }, ChildKind::File(meta)) => Kind::File {
            bucket: bucket.clone(),
            key: child_key(prefix, name).into(),
            meta: meta.clone(),
        },
        (Kind::File { .. }, _) => unreachable!("files have no children"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> ValidName {
        ValidName::parse(s).unwrap()
    }

    fn meta(size: u64) -> FileMeta {
        FileMeta {
            size,
            mtime: SystemTime::UNIX_EPOCH,
            etag: None,
            storage_class: None,
        }
    }

    #[test]
    fn numbers_are_stable_and_kind_changes_get_a_new_number() {
        let inodes = Inodes::new();
        let now = Instant::now();
        let root = inodes.get(ROOT_INO).unwrap();
        let bucket = inodes.child(&root, &name("bk"), &ChildKind::Dir, now);
        let f1 = inodes.child(&bucket, &name("x"), &ChildKind::File(meta(1)), now);
        let f2 = inodes.child(&bucket, &name("x"), &ChildKind::File(meta(2)), now);
        assert_eq!(f1.ino, f2.ino);
        assert!(
            matches!(&f2.kind, Kind::File { key, meta, .. } if &**key == "x" && meta.size == 2)
        );
        let d = inodes.child(&bucket, &name("x"), &ChildKind::Dir, now);
        assert_ne!(d.ino, f1.ino);
        assert!(matches!(&d.kind, Kind::Dir { prefix, .. } if &**prefix == "x/"));
        assert_eq!(d.name(), "x");
        assert_eq!(bucket.name(), "bk");
    }

    #[test]
    fn forget_reclaims_at_zero_and_a_new_sighting_gets_a_new_number() {
        let inodes = Inodes::new();
        let now = Instant::now();
        let root = inodes.get(ROOT_INO).unwrap();
        let bucket = inodes.child(&root, &name("bk"), &ChildKind::Dir, now);
        let f = inodes.child(&bucket, &name("f"), &ChildKind::File(meta(1)), now);
        inodes.hold(&f);
        inodes.hold(&f);
        inodes.forget(f.ino, 1);
        assert!(inodes.get(f.ino).is_some(), "one reference left");
        inodes.forget(f.ino, 1);
        assert!(inodes.get(f.ino).is_none());
        assert!(inodes.find(bucket.ino, &name("f")).is_none());
        let again = inodes.child(&bucket, &name("f"), &ChildKind::File(meta(1)), now);
        assert_ne!(again.ino, f.ino, "numbers are never reused");
        inodes.forget(ROOT_INO, 100);
        assert!(inodes.get(ROOT_INO).is_some(), "the root stays");
    }

    #[test]
    fn a_node_reclaimed_unheld_comes_back_when_the_kernel_takes_it() {
        let inodes = Inodes::new();
        let now = Instant::now();
        let root = inodes.get(ROOT_INO).unwrap();
        let f = inodes.child(&root, &name("f"), &ChildKind::File(meta(1)), now);
        // Offered twice: one reply declines it, the other (or a lookup) takes it after.
        inodes.reclaim_unheld(f.ino);
        assert!(inodes.get(f.ino).is_none());
        inodes.hold(&f);
        assert_eq!(
            inodes.get(f.ino).unwrap().ino,
            f.ino,
            "the number the kernel has"
        );
        assert_eq!(inodes.find(ROOT_INO, &name("f")).unwrap().ino, f.ino);
        inodes.reclaim_unheld(f.ino);
        assert!(inodes.get(f.ino).is_some(), "held: not reclaimed");
    }
}
