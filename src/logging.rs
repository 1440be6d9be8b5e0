//! Log set-up. Logs go to standard error in the foreground and to a file as a daemon.
//!
//! No secret is ever passed to a log macro (they live in [`crate::auth::Secret`], which
//! prints as `[redacted]`), and the AWS SDK crates stay at `warn` even with `--debug`, since
//! their debug output includes raw requests.
//!
//! The log file is the user's own (`0600` in a directory of theirs, created `0700`), never a
//! file or link someone else placed; SIGHUP reopens it at its path, for logrotate; and a
//! panic is written to it, since a daemon's standard error goes to `/dev/null`.
//!
//! Started by systemd, whose journal reads standard error (`JOURNAL_STREAM` names it), each
//! line starts with its syslog priority (`<3>` for an error, ...) and carries no timestamp,
//! so that `journalctl -p warning` filters by level and the journal's own time is the one
//! shown. SIGUSR2 turns the debug level on and back off at run time ([`toggle_debug`]).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The default log file of a daemon: `$XDG_STATE_HOME/cognito-s3fs/cognito-s3fs.log`, else
/// under `$HOME/.local/state`. `None` when neither is set: a shared directory such as `/tmp`
/// is no place for a file another user could create first.
pub fn default_log_file() -> Option<PathBuf> {
    crate::paths::xdg_dir("XDG_STATE_HOME", Some(".local/state"))
        .map(|dir| dir.join("cognito-s3fs.log"))
}

/// Targets whose TRACE output includes raw requests and responses (the password in an
/// InitiateAuth body, the session token in a GetCredentialsForIdentity answer). They are
/// capped at DEBUG whatever `COGNITO_S3FS_LOG` asks for.
const CAPPED_AT_DEBUG: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
    "aws_sdk_s3",
    "aws_sdk_cognitoidentity",
    "aws_sdk_cognitoidentityprovider",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

fn filter(debug: bool) -> EnvFilter {
    let ours = if debug { "debug" } else { "info" };
    let mut filter = EnvFilter::try_from_env("COGNITO_S3FS_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,cognito_s3fs={ours}")));
    // Caps only ever lower a level: they apply when something asks for TRACE.
    let wants_trace = filter.max_level_hint() == Some(tracing::level_filters::LevelFilter::TRACE);
    for target in CAPPED_AT_DEBUG.iter().filter(|_| wants_trace) {
        if let Ok(directive) = format!("{target}=debug").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Logs to standard error: in the journal's format when systemd's journal reads it.
pub fn init_stderr(debug: bool) {
    if stderr_is_journal() {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter(debug))
            .with_ansi(false)
            .event_format(JournalFormat(Format::default().without_time()))
            .with_writer(std::io::stderr)
            .with_filter_reloading();
        keep_reload_handle(builder.reload_handle(), debug);
        let _ = builder.try_init();
        return;
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(debug))
        .with_writer(std::io::stderr)
        .with_filter_reloading();
    keep_reload_handle(builder.reload_handle(), debug);
    let _ = builder.try_init();
}

/// Whether standard error is the stream systemd's journal reads (`JOURNAL_STREAM` is
/// `DEVICE:INODE` of it), as opposed to a terminal or a file the unit redirected to.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    journal_stream_is(&stream.to_string_lossy(), meta.dev(), meta.ino())
}

fn journal_stream_is(stream: &str, dev: u64, ino: u64) -> bool {
    stream.split_once(':').is_some_and(|(d, i)| {
        d.parse::<u64>().is_ok_and(|d| d == dev) && i.parse::<u64>().is_ok_and(|i| i == ino)
    })
}

/// The syslog priority the journal reads from a line's `<N>` prefix.
fn syslog_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// The usual line, after a `<N>` priority prefix.
struct JournalFormat<F>(F);

impl<S, N, F> FormatEvent<S, N> for JournalFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", syslog_priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// Sets the filter: `true` for the debug level, `false` for the one the daemon started with.
type SetDebug = Box<dyn Fn(bool) -> Result<(), String> + Send + Sync>;

/// The running log's filter switch, and whether debug is on now.
static DEBUG_SWITCH: OnceLock<(SetDebug, Mutex<bool>)> = OnceLock::new();

fn keep_reload_handle<S>(
    handle: tracing_subscriber::reload::Handle<EnvFilter, S>,
    started_with_debug: bool,
) where
    S: 'static,
    tracing_subscriber::reload::Handle<EnvFilter, S>: Send + Sync,
{
    let set: SetDebug = Box::new(move |debug| {
        let wanted = if debug {
            EnvFilter::new("warn,cognito_s3fs=debug")
        } else {
            filter(started_with_debug)
        };
        handle.reload(wanted).map_err(|e| e.to_string())
    });
    let _ = DEBUG_SWITCH.set((set, Mutex::new(started_with_debug)));
}

/// SIGUSR2: turns the debug level on, or back to the level the daemon started with.
/// Returns whether debug is now on; `None` when the log cannot be switched.
pub fn toggle_debug() -> Option<bool> {
    let (set, on) = DEBUG_SWITCH.get()?;
    let mut on = on.lock().unwrap_or_else(|p| p.into_inner());
    set(!*on).ok()?;
    *on = !*on;
    Some(*on)
}

/// The daemon's log file, which SIGHUP reopens at the same path (after logrotate moved it).
pub struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl LogFile {
    fn open(path: &Path) -> std::io::Result<LogFile> {
        Ok(LogFile {
            path: path.to_owned(),
            file: Mutex::new(open_private_log(path)?),
        })
    }

    /// Opens the path anew and writes there from now on.
    fn reopen(&self) -> std::io::Result<()> {
        let fresh = open_private_log(&self.path)?;
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}

impl Write for &LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log file in use, if the log goes to a file.
static LOG_FILE: OnceLock<Arc<LogFile>> = OnceLock::new();

/// Creates the log's directory `0700` if it is missing and requires it to be the user's own;
/// opens the file without following a symbolic link, `0600`, and requires a regular file of
/// the user's. Another local user can then neither read the log nor plant a file or link
/// for the daemon to write into.
fn open_private_log(path: &Path) -> std::io::Result<File> {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    crate::paths::owned_dir(dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refused("it is a symbolic link".to_owned()),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != me {
        return Err(refused(format!(
            "it is not a regular file of yours (uid {})",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

fn refused(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, why)
}

/// Logs to `path`, appending, and sends panics there too (a daemon's standard error is
/// `/dev/null`).
pub fn init_file(path: &Path, debug: bool) -> std::io::Result<()> {
    let log = Arc::new(LogFile::open(path)?);
    let _ = LOG_FILE.set(log.clone());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(debug))
        .with_ansi(false)
        .with_writer(log)
        .with_filter_reloading();
    keep_reload_handle(builder.reload_handle(), debug);
    let _ = builder.try_init();
    install_panic_hook();
    Ok(())
}

/// Reopens the log file at its path (for logrotate). `None` when the log is not a file.
pub fn reopen() -> Option<std::io::Result<()>> {
    LOG_FILE.get().map(|log| log.reopen())
}

/// Writes every panic to the log, then hands it to the default hook (standard error).
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        let thread = std::thread::current();
        tracing::error!(
            thread = thread.name().unwrap_or("unnamed"),
            "panic: {info}\n{backtrace}"
        );
        default(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_directory_is_0700_and_the_file_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/deeper/daemon.log");
        let file = open_private_log(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("new")), 0o700);
        assert_eq!(mode(&dir.path().join("new/deeper")), 0o700);
        assert_eq!(file.metadata().unwrap().mode() & 0o777, 0o600);
        // An existing file that is too open is narrowed.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_private_log(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_symlinked_log_file_or_a_foreign_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("daemon.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_private_log(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        // The tests run as root; uid 65534 is someone else.
        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
        let err = open_private_log(&foreign.join("daemon.log")).unwrap_err();
        assert!(err.to_string().contains("belongs to uid 65534"), "{err}");
        assert!(!foreign.join("daemon.log").exists());
    }

    #[test]
    fn a_panic_is_written_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let log = Arc::new(LogFile::open(&path).unwrap());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(log)
            .finish();
        install_panic_hook();
        tracing::subscriber::with_default(subscriber, || {
            let result = std::panic::catch_unwind(|| panic!("marker-4711"));
            assert!(result.is_err());
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("ERROR") && text.contains("panic: "), "{text}");
        assert!(
            text.contains("marker-4711") && text.contains("logging.rs"),
            "{text}"
        );
    }

    #[test]
    fn journal_lines_start_with_their_syslog_priority_and_carry_no_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let log = Arc::new(LogFile::open(&path).unwrap());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(Level::DEBUG)
            .event_format(JournalFormat(Format::default().without_time()))
            .with_writer(log)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!("e-line");
            tracing::warn!("w-line");
            tracing::info!(n = 3, "i-line");
            tracing::debug!("d-line");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        for (line, want) in lines.iter().zip(["<3>", "<4>", "<6>", "<7>"]) {
            assert!(line.starts_with(want), "{line}");
        }
        assert!(lines[2].ends_with("i-line n=3"), "{text}");
        assert!(!text.contains("Z "), "no timestamp: {text}");
    }

    #[test]
    fn the_journal_is_recognised_by_the_device_and_inode_of_standard_error() {
        assert!(journal_stream_is("8:12345", 8, 12345));
        assert!(!journal_stream_is("8:12345", 8, 12346));
        assert!(!journal_stream_is("9:12345", 8, 12345));
        assert!(!journal_stream_is("garbage", 8, 12345));
        assert!(!journal_stream_is("", 0, 0));
    }

    #[test]
    fn reopen_writes_to_a_new_file_at_the_same_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let log = LogFile::open(&path).unwrap();
        (&log).write_all(b"before\n").unwrap();
        let moved = dir.path().join("daemon.log.1");
        std::fs::rename(&path, &moved).unwrap();
        log.reopen().unwrap();
        (&log).write_all(b"after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), "before\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
    }
}
