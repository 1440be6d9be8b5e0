//! What the process does before it reads any secret.
//!
//! A core file is a copy of the process's memory, password and tokens included, written
//! where the crash happened and readable by whoever can read that directory; `ptrace` (a
//! debugger, `gcore`) by the same user gives the same copy while the process runs. So, before
//! the first secret is read, the process turns both off:
//! - `RLIMIT_CORE` 0: no core file, whatever `ulimit -c` the shell set;
//! - `PR_SET_DUMPABLE` 0: no core either through a `core_pattern` pipe (which ignores the
//!   limit), no `ptrace` attach by the same user, and `/proc/PID/{mem,environ,...}` owned by
//!   root. The flag survives `fork`, so the daemon has it too.
//!
//! The password variable is taken out of the environment here as well, whatever options are
//! given: even when the password comes from a file, a value left in the environment would
//! stay readable in `/proc/PID/environ` for the life of the daemon.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use zeroize::Zeroizing;

/// The environment variable that may hold the password, for automation.
pub const PASSWORD_ENV: &str = "COGNITO_S3FS_PASSWORD";

/// The bytes of `COGNITO_S3FS_PASSWORD` as they were at start, if it was set. Not checked
/// for UTF-8 yet: a value that is never used must be wiped all the same.
pub struct EnvPassword(pub Option<Zeroizing<Vec<u8>>>);

/// Turns off core dumps and same-user `ptrace`, then takes the password variable. Runs first
/// in `main`, while the process is single-threaded.
pub fn before_secrets() -> std::io::Result<EnvPassword> {
    forbid_core_dumps()?;
    Ok(EnvPassword(take_env(PASSWORD_ENV)))
}

/// `RLIMIT_CORE` 0 and `PR_SET_DUMPABLE` 0.
pub fn forbid_core_dumps() -> std::io::Result<()> {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prctl(PR_SET_DUMPABLE) takes integers; setrlimit reads the struct it is given.
    let failed = unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0
            || libc::setrlimit(libc::RLIMIT_CORE, &none) != 0
    };
    if failed {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the process may be dumped (`PR_GET_DUMPABLE`).
pub fn is_dumpable() -> bool {
    // SAFETY: PR_GET_DUMPABLE takes no pointer and returns the flag.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 }
}

/// The value of `name`, wiped from the environment block and removed. `var_os`, so that a
/// value that is not UTF-8 goes too.
pub fn take_env(name: &str) -> Option<Zeroizing<Vec<u8>>> {
    let value = std::env::var_os(name)?;
    let value = Zeroizing::new(value.into_vec());
    scrub_env_value(OsStr::new(name));
    // Removed, so no child process (fusermount3) inherits it.
    std::env::remove_var(name);
    Some(value)
}

/// Overwrites the value of `name` in place in the process's original environment block,
/// which `/proc/PID/environ` shows and which `remove_var` leaves untouched.
fn scrub_env_value(name: &OsStr) {
    let Ok(key) = CString::new(name.as_bytes()) else {
        return;
    };
    // SAFETY: getenv returns a pointer to the NUL-terminated value inside the environment
    // block, or null; the block is writable process memory, and no other thread runs yet.
    unsafe {
        let value = libc::getenv(key.as_ptr());
        if !value.is_null() {
            let len = libc::strlen(value);
            std::ptr::write_bytes(value, b'*', len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_dumps_are_off_after_forbid() {
        forbid_core_dumps().unwrap();
        assert!(!is_dumpable());
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit fills the struct it is given.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) }, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
    }
}
