//! The mount itself, made through `fusermount3` by this crate rather than by fuser, so that
//! the kernel is told `allow_other` only when `--allow-other` asks for it.
//!
//! Why not fuser's own mount:
//! 1. `auto_unmount` (fusermount3 stays behind and unmounts when the daemon dies, even by
//!    SIGKILL, so no dead mount is left) is offered by fuser only with `SessionACL::All` or
//!    `RootAndOwner`, and both make the kernel mount `allow_other`, with the uid filter in
//!    the daemon.
//! 2. The kernel answers cached attributes, cached entries and page-cache reads without
//!    asking the daemon. With `allow_other` set, every local user could `stat` and read
//!    whatever the owner had looked at, whatever the daemon's filter says.
//! 3. fusermount3 itself takes `auto_unmount` without `allow_other` (tried with 3.14, the
//!    version here, as root; its option parser checks only `allow_other` against
//!    `user_allow_other`, for ordinary users too). Without `allow_other` the kernel's own
//!    check refuses every uid but the mounting one.
//!
//! So this module runs `fusermount3 -o OPTIONS,auto_unmount -- MOUNTPOINT` the way libfuse
//! does: fusermount3 opens `/dev/fuse`, mounts, and passes the descriptor back over a socket
//! named in `_FUSE_COMMFD`; fuser's `Session::from_fd` then serves it. fusermount3 keeps
//! running until that socket closes, which happens when the daemon ends, however it ends.

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// The environment variable through which fusermount3 learns its socket.
const COMMFD_ENV: &str = "_FUSE_COMMFD";

/// A mounted FUSE connection, and the fusermount3 that unmounts it when this process ends.
pub struct FuseMount {
    /// The `/dev/fuse` descriptor, for `fuser::Session::from_fd`.
    pub device: OwnedFd,
    pub watch: MountWatch,
}

/// Held for the life of the daemon: the closing of its socket is fusermount3's signal to
/// unmount.
pub struct MountWatch {
    _socket: UnixStream,
    _fusermount: Child,
}

/// The mount options: read-only, no devices or setuid, the kernel checking permission bits.
fn options(allow_other: bool) -> String {
    let mut options = vec![
        "ro",
        "nodev",
        "nosuid",
        "noatime",
        "default_permissions",
        "fsname=cognito-s3fs",
        "subtype=cognito-s3fs",
        "auto_unmount",
    ];
    if allow_other {
        options.push("allow_other");
    }
    options.join(",")
}

/// Mounts on `mountpoint`; the error is fusermount3's own message.
pub fn mount(mountpoint: &Path, allow_other: bool) -> Result<FuseMount, String> {
    let (ours, theirs) =
        UnixStream::pair().map_err(|e| format!("cannot create a socket pair: {e}"))?;
    let their_fd = theirs.as_raw_fd();
    let mut command = Command::new("fusermount3");
    command
        .arg("-o")
        .arg(options(allow_other))
        .arg("--")
        .arg(mountpoint)
        .env(COMMFD_ENV, their_fd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: the closure only calls fcntl, which is async-signal-safe, on a descriptor that
    // stays open in the parent until spawn returns.
    unsafe {
        command.pre_exec(move || keep_open_across_exec(their_fd));
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run fusermount3: {e}"))?;
    drop(theirs);
    match receive_fd(&ours) {
        Some(device) => Ok(FuseMount {
            device,
            watch: MountWatch {
                _socket: ours,
                _fusermount: child,
            },
        }),
        None => Err(fusermount_failure(&mut child)),
    }
}

/// Clears `FD_CLOEXEC`, so that fusermount3 inherits the socket.
fn keep_open_across_exec(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: F_SETFD on a descriptor this process owns; no memory is involved.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The descriptor fusermount3 sends once it has mounted; `None` if it exits without one.
fn receive_fd(socket: &UnixStream) -> Option<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    let fds = msg.cmsgs().ok()?.find_map(|c| match c {
        ControlMessageOwned::ScmRights(fds) => Some(fds),
        _ => None,
    })?;
    let mut owned = fds.into_iter().map(|fd| {
        // SAFETY: SCM_RIGHTS installed these descriptors in this process; nothing else owns
        // them.
        unsafe { OwnedFd::from_raw_fd(fd) }
    });
    let device = owned.next();
    // Any extra descriptor is closed as `owned` drops.
    device
}

fn fusermount_failure(child: &mut Child) -> String {
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
    let message = stderr.trim();
    if message.is_empty() {
        format!("fusermount3 failed ({status})")
    } else {
        message.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_other_reaches_the_kernel_only_when_asked() {
        assert!(!options(false).contains("allow_other"));
        assert!(options(false).contains("auto_unmount"));
        assert!(options(true).split(',').any(|o| o == "allow_other"));
    }
}
