//! Running as a daemon: the parent exits only when the mount is ready (0) or has failed
//! (non-zero, with the error on standard error).
//!
//! The fork happens while the process is single-threaded: the login runs on a runtime that
//! is dropped (and its threads joined) before [`daemonize`] is called, and the child builds
//! its own runtime afterwards.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// The child's end of the readiness pipe.
pub struct Ready {
    pipe: Option<File>,
}

impl Ready {
    /// No daemon: reports go nowhere.
    pub fn foreground() -> Self {
        Ready { pipe: None }
    }

    /// Tells the waiting parent the mount is ready; it exits 0.
    pub fn success(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(b"\0");
        }
    }

    /// Tells the waiting parent what failed; it prints it and exits 1.
    pub fn failure(&mut self, message: &str) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(message.as_bytes());
        }
    }
}

/// Forks. Returns in the child only; the parent waits for the child's report and exits.
pub fn daemonize() -> std::io::Result<Ready> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe(2) to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created by pipe2 and are owned by nothing else.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the process is single-threaded here (see the module documentation).
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            drop(read_end);
            detach()?;
            Ok(Ready {
                pipe: Some(File::from(write_end)),
            })
        }
        _ => {
            drop(write_end);
            wait_for_child(File::from(read_end))
        }
    }
}

fn wait_for_child(mut pipe: File) -> ! {
    let mut report = Vec::new();
    let _ = pipe.read_to_end(&mut report);
    match report.as_slice() {
        [0] => std::process::exit(0),
        [] => {
            eprintln!(
                "cognito-s3fs: the daemon exited before the mount was ready (see its log file)"
            );
            std::process::exit(1)
        }
        text => {
            eprintln!("cognito-s3fs: {}", String::from_utf8_lossy(text));
            std::process::exit(1)
        }
    }
}

/// New session, no controlling terminal, standard streams on /dev/null.
fn detach() -> std::io::Result<()> {
    // SAFETY: plain syscalls on the current process.
    unsafe {
        if libc::setsid() < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    use std::os::fd::AsRawFd;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors of this process.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
