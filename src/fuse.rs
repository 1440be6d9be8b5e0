//! The thin adapter between the kernel and [`crate::fs::Fs`].
//!
//! Each kernel request is handed to a task on the tokio runtime, which calls the filesystem
//! and sends the reply, so a slow GET or LIST never holds up the FUSE loop or unrelated
//! requests. Nothing here decides semantics: it converts arguments and results, and answers
//! EROFS to every call that would change something.
//!
//! Subtleties:
//! 1. READDIRPLUS is always on (FUSE_DO_READDIRPLUS, not the AUTO variant): listing entries
//!    carry their attributes, so `ls -l`, `find` and `du` need no lookup and no getattr, and
//!    the kernel caches entries and attributes for the metadata TTL. Each entry the kernel
//!    receives is one reference it will `forget`, so the adapter counts it.
//! 2. A name found missing is answered as a negative entry (inode 0) valid for the negative
//!    TTL, so the kernel itself remembers it; an error reply would not be cached.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use tokio::runtime::Handle;

use crate::fs::{Attr, Fs, FsError};

/// The kernel's page cache of this mount, for [`crate::fs::push`]: FUSE's store
/// notification.
pub struct KernelPages(pub fuser::Notifier);

impl crate::fs::push::PageSink for KernelPages {
    fn store(&self, ino: u64, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.store(INodeNo(ino), offset, data)
    }

    fn invalidate(&self, ino: u64) -> std::io::Result<()> {
        self.0.inval_inode(INodeNo(ino), 0, 0)
    }
}

/// Ownership and permission bits shown for every file and directory.
#[derive(Clone, Copy, Debug)]
pub struct Presentation {
    pub uid: u32,
    pub gid: u32,
    pub file_mode: u16,
    pub dir_mode: u16,
    /// `--xattrs`: answer `getxattr`/`listxattr` with the `user.s3.*` attributes.
    pub xattrs: bool,
}

/// The `fuser::Filesystem` implementation.
pub struct FuseAdapter {
    fs: Arc<Fs>,
    rt: Handle,
    look: Presentation,
    /// Kernel read-ahead to set once INIT is done: the mountpoint and KiB.
    read_ahead: Option<(std::path::PathBuf, u32)>,
    read_ahead_set: std::sync::Once,
}

impl FuseAdapter {
    pub fn new(fs: Arc<Fs>, rt: Handle, look: Presentation) -> Self {
        FuseAdapter {
            fs,
            rt,
            look,
            read_ahead: None,
            read_ahead_set: std::sync::Once::new(),
        }
    }

    /// Raise the kernel's read-ahead for the mount at `mountpoint` to `kib`.
    pub fn with_read_ahead(mut self, mountpoint: &std::path::Path, kib: u32) -> Self {
        self.read_ahead = Some((mountpoint.to_owned(), kib));
        self
    }

    fn ttl(&self) -> Duration {
        self.fs.metadata_ttl()
    }
}

/// How many entries one readdir call asks the filesystem for; the kernel's buffer (a page)
/// holds fewer, and the rest is asked for again at the next offset.
const READDIR_BATCH: usize = 128;

fn errno(err: &FsError) -> Errno {
    Errno::from_i32(err.errno())
}

/// The xattr reply protocol: a size of 0 asks how long the value is; a buffer too small
/// for it is ERANGE.
fn reply_xattr(reply: ReplyXattr, size: u32, value: &[u8]) {
    match size {
        0 => reply.size(value.len() as u32),
        n if (n as usize) < value.len() => reply.error(Errno::ERANGE),
        _ => reply.data(value),
    }
}

/// The kernel's view of an [`Attr`].
pub fn file_attr(attr: &Attr, look: &Presentation) -> FileAttr {
    let (kind, perm, nlink) = if attr.is_dir {
        (FileType::Directory, look.dir_mode, 2)
    } else {
        (FileType::RegularFile, look.file_mode, 1)
    };
    FileAttr {
        ino: INodeNo(attr.ino),
        size: attr.size,
        blocks: attr.size.div_ceil(512),
        atime: attr.mtime,
        mtime: attr.mtime,
        ctime: attr.mtime,
        crtime: attr.mtime,
        kind,
        perm,
        nlink,
        uid: look.uid,
        gid: look.gid,
        rdev: 0,
        blksize: 1024 * 1024,
        flags: 0,
    }
}

/// The reply to a lookup of a missing name: a negative entry the kernel caches.
fn negative_entry(look: &Presentation) -> FileAttr {
    let attr = Attr {
        ino: 0,
        is_dir: false,
        size: 0,
        mtime: SystemTime::UNIX_EPOCH,
    };
    file_attr(&attr, look)
}

impl Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(missing) = config.add_capabilities(InitFlags::FUSE_DO_READDIRPLUS) {
            tracing::warn!(
                ?missing,
                "the kernel does not offer readdirplus; ls -l will cost lookups"
            );
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let fs = self.fs.clone();
        let (look, ttl) = (self.look, self.ttl());
        let name = name.to_owned();
        self.rt.spawn(async move {
            match fs.lookup(parent.0, &name).await {
                Ok(attr) => reply.entry(&ttl, &file_attr(&attr, &look), Generation(0)),
                Err(FsError::NotFound) => {
                    reply.entry(&fs.negative_ttl(), &negative_entry(&look), Generation(0))
                }
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    // `batch_forget`'s default calls this for each node (fuser does not export its type).
    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let fs = self.fs.clone();
        let (look, ttl) = (self.look, self.ttl());
        self.rt.spawn(async move {
            match fs.getattr(ino.0).await {
                Ok(attr) => reply.attr(&ttl, &file_attr(&attr, &look)),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            return reply.error(Errno::EROFS);
        }
        // Any request after INIT means the kernel applied the INIT reply, which would have
        // clamped an earlier setting; reads only come after an open.
        if let Some((mountpoint, kib)) = &self.read_ahead {
            self.read_ahead_set
                .call_once(|| crate::kernel::set_read_ahead(mountpoint, *kib));
        }
        let fs = self.fs.clone();
        let kernel_caches = flags.0 & libc::O_DIRECT == 0;
        let pid = req.pid();
        self.rt.spawn(async move {
            match fs.open_for(ino.0, kernel_caches, Some(pid)).await {
                Ok((fh, keep_cache)) => {
                    let flags = if keep_cache {
                        FopenFlags::FOPEN_KEEP_CACHE
                    } else {
                        FopenFlags::empty()
                    };
                    reply.opened(FileHandle(fh), flags)
                }
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let fs = self.fs.clone();
        self.rt.spawn(async move {
            match fs.read(fh.0, offset, size).await {
                Ok(data) => reply.data(&data),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    // Nothing is ever written, so a close has nothing to flush. ENOSYS tells the kernel so
    // once, and it stops sending FLUSH: every close() is one round trip cheaper.
    fn flush(&self, _: &Request, _: INodeNo, _: FileHandle, _: LockOwner, reply: ReplyEmpty) {
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.fs.release(fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let fs = self.fs.clone();
        self.rt.spawn(async move {
            match fs.opendir(ino.0).await {
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let fs = self.fs.clone();
        self.rt.spawn(async move {
            let entries = match fs.readdir(fh.0, offset, READDIR_BATCH).await {
                Ok(e) => e,
                Err(e) => return reply.error(errno(&e)),
            };
            for e in &entries {
                let kind = if e.attr.is_dir {
                    FileType::Directory
                } else {
                    FileType::RegularFile
                };
                if reply.add(INodeNo(e.attr.ino), e.next_offset, kind, &e.name) {
                    break;
                }
            }
            reply.ok();
            // Plain readdir takes no reference on any entry; only readdirplus and lookup do.
            entries.iter().for_each(|e| fs.declined(e));
        });
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let fs = self.fs.clone();
        let (look, ttl) = (self.look, self.ttl());
        self.rt.spawn(async move {
            let entries = match fs.readdir(fh.0, offset, READDIR_BATCH).await {
                Ok(e) => e,
                Err(e) => return reply.error(errno(&e)),
            };
            let mut offered = entries.iter();
            for e in offered.by_ref() {
                let attr = file_attr(&e.attr, &look);
                let ino = INodeNo(e.attr.ino);
                if reply.add(ino, e.next_offset, &e.name, &ttl, &attr, Generation(0)) {
                    fs.declined(e);
                    break;
                }
                // The kernel links every entry it took but `.` and `..`: one reference each.
                fs.took(e);
            }
            offered.for_each(|e| fs.declined(e));
            reply.ok();
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.releasedir(fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // S3 has no capacity to report: a large, full filesystem with no free inodes is
        // what read-only network filesystems conventionally answer, and `df` reads sanely.
        let blocks = 1u64 << 40;
        reply.statfs(blocks, 0, 0, 1 << 20, 0, 4096, 255, 4096);
    }

    // Semantics decision: without --xattrs there are no extended attributes. ENOSYS makes
    // the kernel answer EOPNOTSUPP itself from then on, so `ls -l` (which asks for ACLs of
    // every entry) costs no round trip per file. With it, see `crate::fs::xattr`.
    fn getxattr(&self, _: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        if !self.look.xattrs {
            return reply.error(Errno::ENOSYS);
        }
        let fs = self.fs.clone();
        let name = name.to_owned();
        self.rt.spawn(async move {
            match fs.xattr(ino.0, &name).await {
                Ok(value) => reply_xattr(reply, size, &value),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    // Semantics decision: no ioctl is supported. The kernel forwards terminal ioctls
    // (`TCGETS`, which Python's `open()` sends on every file to ask "is this a tty?"), and
    // ENOTTY is the ordinary answer for a file that is not one. fuser's default would log a
    // warning for each, three lines per file a Python program opens.
    #[allow(clippy::too_many_arguments)]
    fn ioctl(
        &self,
        _: &Request,
        _: INodeNo,
        _: FileHandle,
        _: fuser::IoctlFlags,
        _: u32,
        _: &[u8],
        _: u32,
        reply: ReplyIoctl,
    ) {
        reply.error(Errno::ENOTTY);
    }

    fn listxattr(&self, _: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        if !self.look.xattrs {
            return reply.error(Errno::ENOSYS);
        }
        match self.fs.xattr_names(ino.0) {
            Ok(names) => {
                let list: Vec<u8> = names.iter().flat_map(|n| n.bytes().chain([0])).collect();
                reply_xattr(reply, size, &list)
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    // Everything below would change something: a read-only filesystem answers EROFS.

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(&self, _: &Request, _: INodeNo, _: &OsStr, _: u32, _: u32, _: u32, r: ReplyEntry) {
        r.error(Errno::EROFS);
    }

    fn mkdir(&self, _: &Request, _: INodeNo, _: &OsStr, _: u32, _: u32, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _: &Request, _: INodeNo, _: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _: &Request, _: INodeNo, _: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(&self, _: &Request, _: INodeNo, _: &OsStr, _: &Path, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _: &Request,
        _: INodeNo,
        _: &OsStr,
        _: INodeNo,
        _: &OsStr,
        _: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(&self, _: &Request, _: INodeNo, _: INodeNo, _: &OsStr, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _: &Request,
        _: INodeNo,
        _: FileHandle,
        _: u64,
        _: &[u8],
        _: WriteFlags,
        _: OpenFlags,
        _: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _: &Request,
        _: INodeNo,
        _: &OsStr,
        _: u32,
        _: u32,
        _: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(
        &self,
        _: &Request,
        _: INodeNo,
        _: &OsStr,
        _: &[u8],
        _: i32,
        _: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _: &Request, _: INodeNo, _: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn fallocate(
        &self,
        _: &Request,
        _: INodeNo,
        _: FileHandle,
        _: u64,
        _: u64,
        _: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }
}
