//! The inode table: stable numbers for (parent, name) pairs.
//!
//! An inode is created the first time a name is seen (in a listing or a lookup) and keeps its
//! number for the life of the mount, so `find` and `tar` see consistent inode numbers. If a
//! name changes kind (a file becomes a directory), it gets a new number: the old one may still
//! be held by the kernel and must not silently change meaning.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::RwLock;

use super::names::{child_key, child_prefix, ValidName};

pub const ROOT_INO: u64 = 1;

/// What a file's metadata is, from the listing that last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    pub mtime: SystemTime,
    pub etag: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Root,
    /// A bucket (`prefix` empty) or a prefix ending in `/`.
    Dir {
        bucket: Arc<str>,
        prefix: String,
    },
    File {
        bucket: Arc<str>,
        key: String,
        meta: FileMeta,
    },
}

#[derive(Clone, Debug)]
pub struct Node {
    pub ino: u64,
    pub parent: u64,
    pub kind: Kind,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        !matches!(self.kind, Kind::File { .. })
    }
}

/// What a listing says a child is; the table works out bucket, key and prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildKind {
    Dir,
    File(FileMeta),
}

#[derive(Default)]
struct Table {
    nodes: HashMap<u64, Node>,
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
    pub fn new() -> Self {
        let mut table = Table {
            next: ROOT_INO + 1,
            ..Default::default()
        };
        table.nodes.insert(
            ROOT_INO,
            Node {
                ino: ROOT_INO,
                parent: ROOT_INO,
                kind: Kind::Root,
            },
        );
        Inodes {
            table: RwLock::new(table),
        }
    }

    pub fn get(&self, ino: u64) -> Option<Node> {
        self.table.read().nodes.get(&ino).cloned()
    }

    /// The node for `name` under `parent` as a listing describes it, created or updated.
    pub fn child(&self, parent: &Node, name: &ValidName, what: &ChildKind) -> Node {
        let kind = child_kind(parent, name, what);
        let mut table = self.table.write();
        let existing = table.children.get(&(parent.ino, name.clone())).copied();
        if let Some(ino) = existing {
            let node = table
                .nodes
                .get_mut(&ino)
                .expect("children index points at nodes");
            if node.is_dir() == matches!(what, ChildKind::Dir) {
                node.kind = kind;
                return node.clone();
            }
        }
        let ino = table.next;
        table.next += 1;
        let node = Node {
            ino,
            parent: parent.ino,
            kind,
        };
        table.nodes.insert(ino, node.clone());
        table.children.insert((parent.ino, name.clone()), ino);
        node
    }
}

fn child_kind(parent: &Node, name: &ValidName, what: &ChildKind) -> Kind {
    match (&parent.kind, what) {
        (Kind::Root, _) => Kind::Dir {
            bucket: Arc::from(name.as_str()),
            prefix: String::new(),
        },
        (Kind::Dir { bucket, prefix }, ChildKind::Dir) => Kind::Dir {
            bucket: bucket.clone(),
            prefix: child_prefix(prefix, name),
        },
        (Kind::Dir { bucket, prefix }, ChildKind::File(meta)) => Kind::File {
            bucket: bucket.clone(),
            key: child_key(prefix, name),
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
        }
    }

    #[test]
    fn numbers_are_stable_and_kind_changes_get_a_new_number() {
        let inodes = Inodes::new();
        let root = inodes.get(ROOT_INO).unwrap();
        let bucket = inodes.child(&root, &name("bk"), &ChildKind::Dir);
        let f1 = inodes.child(&bucket, &name("x"), &ChildKind::File(meta(1)));
        let f2 = inodes.child(&bucket, &name("x"), &ChildKind::File(meta(2)));
        assert_eq!(f1.ino, f2.ino);
        assert!(matches!(&f2.kind, Kind::File { key, meta, .. } if key == "x" && meta.size == 2));
        let d = inodes.child(&bucket, &name("x"), &ChildKind::Dir);
        assert_ne!(d.ino, f1.ino);
        assert!(matches!(&d.kind, Kind::Dir { prefix, .. } if prefix == "x/"));
    }
}
