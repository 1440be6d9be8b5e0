//! systemd's readiness protocol (`sd_notify`), for units of `Type=notify`.
//!
//! When systemd starts the daemon with `NOTIFY_SOCKET` set, it waits for `READY=1` before
//! it counts the unit as started (and before units ordered after it, such as the services
//! that read the mount, start), and reads `STOPPING=1` as the start of a clean stop. The
//! protocol is one datagram per message on a unix socket named by the variable: a path, or
//! an abstract name written with a leading `@`. The daemon does not fork when the variable
//! is set: systemd watches the process it started.
//!
//! Written here rather than taken from a crate: it is twenty lines of `std`.

use std::ffi::OsString;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};

/// The variable systemd sets for `Type=notify` units.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Where readiness is reported, when systemd asked for it.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    to: SocketAddr,
    /// `STOPPING=1` is sent once, by whichever comes first: the stop signal or the end of
    /// the session (an unmount from outside).
    stopping_sent: AtomicBool,
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET`, if it is set; the variable is removed from the
    /// environment, so that no child process reports for this one.
    pub fn from_env() -> std::io::Result<Option<Notifier>> {
        let Some(name) = std::env::var_os(NOTIFY_SOCKET).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        std::env::remove_var(NOTIFY_SOCKET);
        Notifier::to(name).map(Some)
    }

    /// A notifier for the socket `name` (a path, or `@abstract`).
    pub fn to(name: OsString) -> std::io::Result<Notifier> {
        let bytes = name.as_encoded_bytes();
        let to = match bytes.strip_prefix(b"@") {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name)?,
            None => SocketAddr::from_pathname(std::path::Path::new(&name))?,
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            to,
            stopping_sent: AtomicBool::new(false),
        })
    }

    /// `READY=1`: the mount answers.
    pub fn ready(&self, status: &str) -> std::io::Result<()> {
        self.send(&format!(
            "READY=1\nMAINPID={}\nSTATUS={status}\n",
            std::process::id()
        ))
    }

    /// `STOPPING=1`: the daemon is unmounting. Only the first call sends it.
    pub fn stopping(&self) -> std::io::Result<()> {
        if self.stopping_sent.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        self.send("STOPPING=1\nSTATUS=unmounting\n")
    }

    fn send(&self, message: &str) -> std::io::Result<()> {
        self.socket
            .send_to_addr(message.as_bytes(), &self.to)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn ready_and_stopping_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::to(path.into_os_string()).unwrap();
        notifier.ready("mounted on /mnt").unwrap();
        let ready = received(&systemd);
        assert!(ready.starts_with("READY=1\n"), "{ready}");
        assert!(
            ready.contains(&format!("MAINPID={}\n", std::process::id())),
            "{ready}"
        );
        assert!(ready.contains("STATUS=mounted on /mnt\n"), "{ready}");
        notifier.stopping().unwrap();
        assert!(received(&systemd).starts_with("STOPPING=1\n"));
        notifier.stopping().unwrap();
        systemd.set_nonblocking(true).unwrap();
        assert!(
            systemd.recv(&mut [0u8; 64]).is_err(),
            "STOPPING=1 is sent once"
        );
    }

    #[test]
    fn an_abstract_socket_is_named_with_a_leading_at() {
        let name = format!("cognito-s3fs-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let systemd = UnixDatagram::bind_addr(&addr).unwrap();
        let notifier = Notifier::to(format!("@{name}").into()).unwrap();
        notifier.ready("up").unwrap();
        assert!(received(&systemd).starts_with("READY=1\n"));
    }

    #[test]
    fn a_socket_nobody_listens_on_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let notifier = Notifier::to(dir.path().join("gone").into_os_string()).unwrap();
        assert!(notifier.ready("up").is_err());
    }
}
