//! `cognito-s3fs status`: what each running mount of this user says about itself.
//!
//! Every daemon listens on a unix socket of its own, `$XDG_RUNTIME_DIR/cognito-s3fs/PID.sock`
//! (for root without that variable, `/run/cognito-s3fs/`), in a directory created `0700`
//! and required to be the user's own; the socket itself is `0600`. A connection from any
//! other uid than the daemon's (or root) is closed unanswered, checked with the kernel's
//! `SO_PEERCRED`, so the permission bits are not the only guard. The daemon answers each
//! connection with one JSON document and closes it: there is no request to parse.
//!
//! What it answers comes from the daemon's own state (the credential provider, the
//! counters), never from guesses: no secret is in it, only when things expire.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::auth::backoff::Standing;
use crate::auth::provider::{humantime_utc, SessionView};

/// Builds the answer at the moment a client asks.
pub type Report = Arc<dyn Fn() -> Value + Send + Sync>;

/// What a mount is, fixed at start.
#[derive(Clone, Debug)]
pub struct MountInfo {
    pub mountpoint: PathBuf,
    pub started: SystemTime,
    /// `(username, user pool id, identity id)` for a Cognito sign-in.
    pub cognito: Option<(String, String, String)>,
}

/// The directory the sockets live in, when there is one.
pub fn socket_dir() -> Option<PathBuf> {
    crate::paths::xdg_dir("XDG_RUNTIME_DIR", None).or_else(|| {
        // SAFETY: geteuid cannot fail.
        (unsafe { libc::geteuid() } == 0).then(|| PathBuf::from("/run/cognito-s3fs"))
    })
}

/// The sockets' directory: the user's own (see [`crate::paths::owned_dir`]), and closed to
/// others even if it was made otherwise.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    crate::paths::owned_dir(dir)?;
    if std::fs::metadata(dir)?.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The daemon's socket; removed when dropped.
#[derive(Debug)]
pub struct StatusSocket {
    path: PathBuf,
}

impl Drop for StatusSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds this process's socket in `dir` and answers every connection with `report()`
/// until the runtime ends. Must be called inside a tokio runtime.
pub fn serve(dir: &Path, report: Report) -> std::io::Result<StatusSocket> {
    private_dir(dir)?;
    let path = dir.join(format!("{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tokio::spawn(answer_all(listener, report));
    Ok(StatusSocket { path })
}

async fn answer_all(listener: tokio::net::UnixListener, report: Report) {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let allowed = stream
            .peer_cred()
            .is_ok_and(|cred| cred.uid() == me || cred.uid() == 0);
        if !allowed {
            tracing::warn!("status socket: refused a connection from another user");
            continue;
        }
        let body = report().to_string();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut stream = stream;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// The answer: the mount, the sign-in, the counters.
pub fn report_json(info: &MountInfo, session: Option<&SessionView>, counters: &str) -> Value {
    let epoch = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let cognito = info.cognito.as_ref().map(|(user, pool, identity)| {
        let mut v = json!({"username": user, "user_pool_id": pool, "identity_id": identity});
        if let Some(s) = session {
            v["credentials_expire"] = json!(epoch(s.credentials_expire));
            v["id_token_expires"] = json!(s.id_token_expires.map(epoch));
            v["refresh_token"] = json!(s.refresh_token_held);
            v["credential_fetches"] = json!(s.fetches);
            v["standing"] = standing_json(&s.standing);
        }
        v
    });
    json!({
        "pid": std::process::id(),
        "mountpoint": info.mountpoint.to_string_lossy(),
        "started": epoch(info.started),
        "cognito": cognito,
        "counters": counters,
    })
}

fn standing_json(standing: &Standing) -> Value {
    match standing {
        Standing::Healthy => json!({"state": "healthy"}),
        Standing::Retrying { failures, last, .. } => {
            json!({"state": "retrying", "failures": failures, "last_error": last})
        }
        Standing::Refused { reason } => json!({"state": "refused", "reason": reason}),
    }
}

/// The answer as people read it.
pub fn render(v: &Value, now: SystemTime) -> String {
    let at = |secs: &Value| -> String {
        let Some(secs) = secs.as_u64() else {
            return "unknown (being refreshed)".into();
        };
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        match t.duration_since(now) {
            Ok(left) => format!("{} (in {})", humantime_utc(t), short(left)),
            Err(e) => format!("{} ({} ago)", humantime_utc(t), short(e.duration())),
        }
    };
    let mut out = format!(
        "{} (pid {})\n  mounted since {}\n",
        v["mountpoint"].as_str().unwrap_or("?"),
        v["pid"],
        at(&v["started"])
    );
    match &v["cognito"] {
        Value::Null => out.push_str("  credentials: the AWS SDK's standard chain\n"),
        c => {
            out.push_str(&format!(
                "  signed in as {} (user pool {}, identity {})\n",
                c["username"].as_str().unwrap_or("?"),
                c["user_pool_id"].as_str().unwrap_or("?"),
                c["identity_id"].as_str().unwrap_or("?")
            ));
            out.push_str(&format!(
                "  AWS credentials expire {}\n",
                at(&c["credentials_expire"])
            ));
            out.push_str(&format!(
                "  IdToken expires {}\n",
                at(&c["id_token_expires"])
            ));
            out.push_str(&format!("  {}\n", refresh_line(&c["refresh_token"])));
            out.push_str(&format!("  Cognito: {}\n", standing_line(&c["standing"])));
        }
    }
    out.push_str(&format!(
        "  counters: {}\n",
        v["counters"].as_str().unwrap_or("")
    ));
    out
}

fn refresh_line(held: &Value) -> String {
    match held.as_bool() {
        Some(true) => "refresh token: held; it expires when the app client's refresh token \
                       validity says (30 days unless an administrator changed it), counted \
                       from the last password sign-in"
            .into(),
        Some(false) => {
            "refresh token: none; the daemon signs in with the password when needed".into()
        }
        None => "refresh token: unknown (being refreshed)".into(),
    }
}

fn standing_line(standing: &Value) -> String {
    match standing["state"].as_str() {
        Some("healthy") => "healthy".into(),
        Some("retrying") => format!(
            "retrying after {} failed attempts (last: {})",
            standing["failures"],
            standing["last_error"].as_str().unwrap_or("?")
        ),
        Some("refused") => format!(
            "refused the login, no more attempts: {}; unmount and mount again",
            standing["reason"].as_str().unwrap_or("?")
        ),
        _ => "unknown".into(),
    }
}

fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h {}m", s / 3600, s / 60 % 60),
        _ => format!("{}d", s / 86_400),
    }
}

/// Asks every socket in `dir`; a socket nobody answers on (a daemon that was killed) is
/// removed. Sorted by mountpoint.
pub fn query_all(dir: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<Value> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .filter_map(|p| match ask(&p) {
            Ok(v) => Some(v),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                let _ = std::fs::remove_file(&p);
                None
            }
            Err(_) => None,
        })
        .collect();
    found.sort_by(|a, b| a["mountpoint"].as_str().cmp(&b["mountpoint"].as_str()));
    found
}

fn ask(path: &Path) -> std::io::Result<Value> {
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    serde_json::from_str(&body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// `cognito-s3fs status [MOUNTPOINT] [--json]`.
pub fn status_command(mountpoint: Option<&Path>, as_json: bool) -> ExitCode {
    let Some(dir) = socket_dir() else {
        eprintln!("cognito-s3fs: XDG_RUNTIME_DIR is not set, so no mount can be asked");
        return ExitCode::FAILURE;
    };
    let wanted = mountpoint.map(|m| std::fs::canonicalize(m).unwrap_or_else(|_| m.to_owned()));
    let mounts: Vec<Value> = query_all(&dir)
        .into_iter()
        .filter(|v| {
            wanted
                .as_ref()
                .is_none_or(|w| v["mountpoint"].as_str() == Some(&*w.to_string_lossy()))
        })
        .collect();
    if mounts.is_empty() {
        match &wanted {
            Some(w) => eprintln!("cognito-s3fs: no mount of yours at {}", w.display()),
            None => eprintln!("cognito-s3fs: no mounts of yours are running"),
        }
        return ExitCode::FAILURE;
    }
    let now = SystemTime::now();
    for v in &mounts {
        match as_json {
            true => println!("{v}"),
            false => print!("{}", render(v, now)),
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> MountInfo {
        MountInfo {
            mountpoint: "/mnt/data".into(),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            cognito: Some(("alice".into(), "us-east-1_P".into(), "us-east-1:id".into())),
        }
    }

    fn view(standing: Standing) -> SessionView {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_003_600);
        SessionView {
            credentials_expire: t,
            id_token_expires: Some(t),
            refresh_token_held: Some(true),
            standing,
            fetches: 3,
        }
    }

    #[test]
    fn the_report_says_who_is_signed_in_and_when_things_expire() {
        let v = report_json(&info(), Some(&view(Standing::Healthy)), "get=1");
        assert_eq!(v["cognito"]["username"], "alice");
        assert_eq!(v["cognito"]["credentials_expire"], 1_800_003_600u64);
        assert_eq!(v["cognito"]["standing"]["state"], "healthy");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_600);
        let text = render(&v, now);
        assert!(text.starts_with("/mnt/data (pid "), "{text}");
        assert!(
            text.contains("signed in as alice (user pool us-east-1_P"),
            "{text}"
        );
        assert!(
            text.contains("AWS credentials expire 2027-01-15T09:00:00Z (in 50m)"),
            "{text}"
        );
        assert!(
            text.contains("mounted since 2027-01-15T08:00:00Z (10m ago)"),
            "{text}"
        );
        assert!(text.contains("refresh token: held"), "{text}");
        assert!(text.contains("Cognito: healthy"), "{text}");
        assert!(text.contains("counters: get=1"), "{text}");
    }

    #[test]
    fn a_refused_session_and_a_refresh_in_progress_read_plainly() {
        let mut busy = view(Standing::Refused {
            reason: "User is disabled.".into(),
        });
        busy.id_token_expires = None;
        busy.refresh_token_held = None;
        let v = report_json(&info(), Some(&busy), "");
        let text = render(&v, SystemTime::UNIX_EPOCH);
        assert!(text.contains("Cognito: refused the login"), "{text}");
        assert!(text.contains("User is disabled."), "{text}");
        assert!(
            text.contains("IdToken expires unknown (being refreshed)"),
            "{text}"
        );
        let plain = MountInfo {
            cognito: None,
            ..info()
        };
        let text = render(&report_json(&plain, None, ""), SystemTime::UNIX_EPOCH);
        assert!(text.contains("the AWS SDK's standard chain"), "{text}");
    }

    #[tokio::test]
    async fn the_socket_is_private_answers_its_owner_and_is_gone_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let sockets = dir.path().join("run/cognito-s3fs");
        let report: Report = Arc::new(|| json!({"mountpoint": "/m", "pid": 1}));
        let socket = serve(&sockets, report).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&sockets), 0o700);
        assert_eq!(mode(&socket.path), 0o600);
        let found = tokio::task::spawn_blocking({
            let sockets = sockets.clone();
            move || query_all(&sockets)
        })
        .await
        .unwrap();
        assert_eq!(found, vec![json!({"mountpoint": "/m", "pid": 1})]);
        let path = socket.path.clone();
        drop(socket);
        assert!(!path.exists());
    }

    #[test]
    fn a_socket_left_by_a_killed_daemon_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("4242.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        assert!(query_all(dir.path()).is_empty());
        assert!(!stale.exists());
    }
}
