//! Log set-up. Logs go to standard error in the foreground and to a file as a daemon.
//!
//! No secret is ever passed to a log macro (they live in [`crate::auth::Secret`], which
//! prints as `[redacted]`), and the AWS SDK crates stay at `warn` even with `--debug`, since
//! their debug output includes raw requests.

use std::path::{Path, PathBuf};

use tracing_subscriber::EnvFilter;

/// The default log file of a daemon: `$XDG_STATE_HOME/cognito-s3fs/cognito-s3fs.log`.
pub fn default_log_file() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("cognito-s3fs").join("cognito-s3fs.log")
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

/// Logs to standard error.
pub fn init_stderr(debug: bool) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(debug))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Logs to `path`, appending; creates its directory.
pub fn init_file(path: &Path, debug: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(debug))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}
