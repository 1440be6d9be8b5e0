//! The signals a mounted daemon answers: SIGTERM and SIGINT unmount, SIGHUP reopens the log
//! file, SIGUSR1 reports the counters, SIGUSR2 turns the debug log on and off.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::notify::Notifier;
use crate::stats::Stats;

/// The signals a mounted daemon answers, as one stream.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sig {
    Stop,
    Hup,
    Usr1,
    Usr2,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }

    /// The next signal; SIGHUP counts as a stop when the log is not a file (the terminal
    /// it went to is gone).
    async fn next(&mut self) -> Sig {
        let sig = tokio::select! {
            _ = self.term.recv() => Sig::Stop,
            _ = self.int.recv() => Sig::Stop,
            _ = self.hup.recv() => Sig::Hup,
            _ = self.usr1.recv() => Sig::Usr1,
            _ = self.usr2.recv() => Sig::Usr2,
        };
        match sig {
            Sig::Hup => match crate::logging::reopen() {
                None => Sig::Stop,
                Some(Ok(())) => {
                    tracing::info!("SIGHUP: reopened the log file");
                    Sig::Hup
                }
                Some(Err(e)) => {
                    // Still written to the old file, which stays open.
                    tracing::error!(error = %e, "SIGHUP: cannot reopen the log file");
                    Sig::Hup
                }
            },
            Sig::Usr2 => {
                match crate::logging::toggle_debug() {
                    Some(true) => {
                        tracing::info!("SIGUSR2: debug log on (SIGUSR2 again turns it off)")
                    }
                    Some(false) => tracing::info!("SIGUSR2: debug log off"),
                    None => tracing::warn!("SIGUSR2: the log level cannot be changed"),
                }
                Sig::Usr2
            }
            other => other,
        }
    }
}

/// SIGTERM and SIGINT unmount (telling systemd `STOPPING=1` first, when it started the
/// daemon); SIGHUP reopens the log file (for logrotate); SIGUSR1 reports the counters (log
/// and --stats-file); SIGUSR2 toggles the debug log.
///
/// A busy mount (a file still open in it) is not detached at once, as it was until
/// December: its users would lose the mount from under them. The plain unmount is retried
/// each second until the last file closes, and a second SIGTERM or SIGINT in the meantime
/// detaches it lazily and ends the daemon at once (open files then fail with ENOTCONN, and
/// the mount disappears when they are closed).
pub async fn on_signals(mountpoint: PathBuf, stats: Arc<Stats>, systemd: Option<Arc<Notifier>>) {
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return;
        }
    };
    loop {
        match signals.next().await {
            Sig::Stop => break,
            Sig::Hup | Sig::Usr2 => {}
            Sig::Usr1 => stats.report("request counters"),
        }
    }
    tracing::info!("signal received: unmounting");
    if let Some(systemd) = &systemd {
        let _ = systemd.stopping();
    }
    if unmount(&mountpoint, "-u") {
        return;
    }
    tracing::warn!(
        "the mount is busy: waiting for its open files to close \
         (SIGTERM again detaches it at once and ends the daemon)"
    );
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = retry.tick() => if unmount(&mountpoint, "-u") { return },
            sig = signals.next() => match sig {
                Sig::Stop => force_exit(&mountpoint, &stats),
                Sig::Hup | Sig::Usr2 => {}
                Sig::Usr1 => stats.report("request counters"),
            },
        }
    }
}

/// Runs `fusermount3 FLAGS MOUNTPOINT`; whether it succeeded. Through fusermount3, not
/// through the session: with auto_unmount, closing the session's socket only unmounts a
/// *dead* filesystem, and this one is still serving.
fn unmount(mountpoint: &Path, flags: &str) -> bool {
    std::process::Command::new("fusermount3")
        .arg(flags)
        .arg(mountpoint)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The second stop signal: detach the busy mount lazily and end the process now.
fn force_exit(mountpoint: &Path, stats: &Stats) -> ! {
    tracing::warn!("second signal: detaching the busy mount lazily and exiting");
    if !unmount(mountpoint, "-uz") {
        tracing::error!(
            "lazy unmount failed; run: fusermount3 -uz {}",
            mountpoint.display()
        );
    }
    stats.report("unmounted (forced)");
    std::process::exit(0)
}
