//! Shared harness of the integration tests: a moto emulator (with its counting proxy) per
//! test, real mounts of the real binary, and waits that block on events, not on timers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_cognito-s3fs");

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One moto server plus recording proxy, seeded with the test data.
pub struct Emulator {
    child: Child,
    pub state: Value,
    pub dir: tempfile::TempDir,
}

impl Emulator {
    pub fn start() -> Emulator {
        Self::start_with(&[])
    }

    /// Starts with extra arguments for moto_env.py, such as `--extra listing`.
    pub fn start_with(extra: &[&str]) -> Emulator {
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("state.json");
        let python = repo_root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/setup.sh",
            python.display()
        );
        let stderr = std::fs::File::create(dir.path().join("moto.log")).unwrap();
        let mut child = Command::new(python)
            .arg(repo_root().join("tests/support/moto_env.py"))
            .arg("--state-file")
            .arg(&state_path)
            .args(extra)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if !line.starts_with("ready") {
            let log = std::fs::read_to_string(dir.path().join("moto.log")).unwrap_or_default();
            panic!("the emulator did not start: {line}\n{log}");
        }
        let state = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
        Emulator { child, state, dir }
    }

    pub fn get(&self, field: &str) -> String {
        self.state[field].as_str().unwrap().to_owned()
    }

    pub fn password(&self, user: &str) -> String {
        let u = &self.state["users"][user];
        u["password"]
            .as_str()
            .or(u["temporary_password"].as_str())
            .unwrap()
            .to_owned()
    }

    /// Requests the proxy has forwarded, by operation name.
    pub fn proxy_counts(&self) -> Value {
        let body = http(&self.get("proxy_endpoint"), "GET", "/__proxy/counts");
        serde_json::from_str(&body).unwrap()
    }

    /// Every ListObjectsV2 the proxy has forwarded since the last reset, as "bucket/prefix".
    pub fn proxy_lists(&self) -> Vec<String> {
        let body = http(&self.get("proxy_endpoint"), "GET", "/__proxy/lists");
        serde_json::from_str(&body).unwrap()
    }

    /// Zeroes the proxy's counts.
    pub fn reset_proxy_counts(&self) {
        http(&self.get("proxy_endpoint"), "POST", "/__proxy/reset");
    }

    /// Sign-in calls through the proxy by kind: `InitiateAuth/USER_SRP_AUTH`,
    /// `InitiateAuth/REFRESH_TOKEN_AUTH`, `RespondToAuthChallenge/PASSWORD_VERIFIER`, ...
    pub fn proxy_flows(&self) -> Value {
        let body = http(&self.get("proxy_endpoint"), "GET", "/__proxy/flows");
        serde_json::from_str(&body).unwrap()
    }

    /// Runs `code` with `s3`, a boto3 client straight to the emulator (not through the
    /// proxy), for tests that change objects behind the mount's back.
    pub fn with_s3(&self, code: &str) {
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', region_name='{}', \
             aws_access_key_id='test', aws_secret_access_key='test')\n{code}",
            self.get("endpoint"),
            self.get("region")
        );
        let out = Command::new(repo_root().join(".venv/bin/python"))
            .args(["-c", &script])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    pub fn proxy_count(&self, op: &str) -> u64 {
        self.proxy_counts()[op].as_u64().unwrap_or(0)
    }

    /// The seeded objects as (bucket, key, size, sha256).
    pub fn objects(&self) -> Vec<(String, String, u64, String)> {
        self.state["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["bucket"].as_str().unwrap().to_owned(),
                    o["key"].as_str().unwrap().to_owned(),
                    o["size"].as_u64().unwrap(),
                    o["sha256"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The auth arguments for `user`, without any endpoint.
    pub fn auth_args(&self, user: &str) -> Vec<String> {
        vec![
            "--region".into(),
            self.get("region"),
            "--user-pool-id".into(),
            self.get("user_pool_id"),
            "--client-id".into(),
            self.get("client_id"),
            "--identity-pool-id".into(),
            self.get("identity_pool_id"),
            "--username".into(),
            user.into(),
        ]
    }

    /// A command for the binary with a clean AWS environment pointing at this emulator.
    pub fn command(&self, sub: &str, user: &str) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg(sub)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", self.get("endpoint"))
            .env("AWS_REGION", self.get("region"))
            .env("XDG_STATE_HOME", self.dir.path())
            .env("COGNITO_S3FS_PASSWORD", self.password(user))
            .stdin(Stdio::null());
        cmd
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.0 request to a loopback endpoint; returns the body.
pub fn http(endpoint: &str, method: &str, path: &str) -> String {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// Whether `path` is a mountpoint now.
pub fn is_mounted(path: &Path) -> bool {
    let want = path.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m == want)
}

/// Pids of processes whose command line mentions `needle`.
pub fn pids_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Blocks until process `pid` (not necessarily our child) exits, or `timeout` passes.
/// Returns whether it exited.
pub fn wait_exit(pid: i32, timeout: Duration) -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return true; // already gone
    }
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the descriptor is closed right after.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
    unsafe { libc::close(fd) };
    n == 1
}

/// A mount of the real binary, unmounted (and its daemon waited for) on drop.
pub struct Mounted {
    pub path: PathBuf,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mounted {
    /// Mounts as a daemon for `user`; returns the failed command's output if it fails.
    pub fn start(emu: &Emulator, user: &str, extra: &[&str]) -> Result<Mounted, Output> {
        let mut cmd = emu.command("mount", user);
        Self::start_with(cmd.args(emu.auth_args(user)), extra)
    }

    pub fn start_with(cmd: &mut Command, extra: &[&str]) -> Result<Mounted, Output> {
        let mnt = Mounted::prepare();
        let out = cmd
            .arg(&mnt.path)
            .arg("--log-file")
            .arg(&mnt.log)
            .arg("--debug")
            .args(extra)
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(out);
        }
        assert!(is_mounted(&mnt.path), "exit 0 must mean mounted");
        Ok(mnt)
    }

    /// An empty mountpoint whose guard cleans up whatever gets mounted there.
    pub fn prepare() -> Mounted {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        Mounted {
            path,
            log: dir.path().join("daemon.log"),
            _dir: dir,
        }
    }

    pub fn daemon_pid(&self) -> i32 {
        let pids: Vec<i32> = pids_mentioning(&self.path.to_string_lossy())
            .into_iter()
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|exe| exe.ends_with("cognito-s3fs"))
            })
            .collect();
        assert_eq!(pids.len(), 1, "one daemon per mount: {pids:?}");
        pids[0]
    }

    /// `fusermount3 -u`, then waits up to 10 s for the daemon to exit; whether it did.
    pub fn unmount_and_wait(&self) -> bool {
        let pid = self.daemon_pid();
        let unmounted = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.path)
            .status()
            .unwrap()
            .success();
        unmounted && wait_exit(pid, Duration::from_secs(10))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of the daemon log ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        let pids = pids_mentioning(&self.path.to_string_lossy());
        if is_mounted(&self.path) {
            let _ = Command::new("fusermount3")
                .arg("-u")
                .arg(&self.path)
                .status();
            if is_mounted(&self.path) {
                let _ = Command::new("fusermount3")
                    .arg("-uz")
                    .arg(&self.path)
                    .status();
            }
        }
        for pid in pids {
            if !wait_exit(pid, Duration::from_secs(10)) {
                // SAFETY: killing a daemon this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small deterministic PRNG (xorshift) for reproducible random offsets.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Sends a JSON body to the proxy's control API.
pub fn http_json(endpoint: &str, method: &str, path: &str, body: &str) -> String {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"),
        "{resp}"
    );
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

impl Emulator {
    /// Adds a fault to the proxy (see tests/support/moto_env.py for the fields).
    pub fn inject(&self, spec: &str) {
        http_json(&self.get("proxy_endpoint"), "POST", "/__proxy/faults", spec);
    }

    pub fn clear_faults(&self) {
        http_json(&self.get("proxy_endpoint"), "DELETE", "/__proxy/faults", "");
    }

    /// Every token and key the proxy has seen in Cognito answers.
    pub fn seen_secrets(&self) -> Vec<String> {
        let body = http(&self.get("proxy_endpoint"), "GET", "/__proxy/secrets");
        serde_json::from_str(&body).unwrap()
    }
}

/// Waits until `cond` holds, checking every 100 ms, for at most `limit`. Returns whether it
/// held. For conditions that have no event to block on (a line appearing in a log file).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The README's "Daily use" profile, word for word, with the emulator's ids and a password
/// file of the test's own put in for the example ones.
pub fn readme_profile(emu: &Emulator, password_file: &Path) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("```toml\n# ~/.config/cognito-s3fs/config.toml\n")
        .expect("README has the Daily use profile");
    let block = &readme[start + "```toml\n".len()..];
    let mut profile = block[..block.find("```").unwrap()].to_owned();
    let swaps = [
        ("\"eu-west-1_AbCdEf123\"", emu.get("user_pool_id")),
        ("\"1example23456789\"", emu.get("client_id")),
        (
            "\"eu-west-1:0f2a4b1c-1111-2222-3333-444455556666\"",
            emu.get("identity_pool_id"),
        ),
        ("\"eu-west-1\"", emu.get("region")),
        (
            "\"/home/alice/.config/cognito-s3fs/alice.password\"",
            password_file.to_str().unwrap().to_owned(),
        ),
    ];
    for (example, real) in swaps {
        assert!(profile.contains(example), "README profile lost {example}");
        profile = profile.replace(example, &format!("{real:?}"));
    }
    profile
}

/// The README's profile, with the emulator's ids and a private password file of alice's,
/// written to `config.toml` in the emulator's directory.
pub fn readme_config(emu: &Emulator) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let password_file = emu.dir.path().join("alice.password");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&password_file)
        .and_then(|mut f| f.write_all(emu.password("alice").as_bytes()))
        .unwrap();
    let config = emu.dir.path().join("config.toml");
    std::fs::write(&config, readme_profile(emu, &password_file)).unwrap();
    config
}

/// Sends `signal` to `pid`, a daemon the test started; it must still be there.
pub fn kill(pid: i32, signal: i32) {
    // SAFETY: signalling a daemon this test started.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "process {pid} is gone"
    );
}

/// The stats line of `mnt`, mounted with `--stats-file stats`, as it is now: asked for with
/// SIGUSR1, read once the daemon has written the file again.
pub fn stats_now(mnt: &Mounted, stats: &Path) -> String {
    let _ = std::fs::remove_file(stats);
    kill(mnt.daemon_pid(), libc::SIGUSR1);
    assert!(
        wait_until(Duration::from_secs(10), || stats.exists()),
        "no stats after SIGUSR1"
    );
    std::fs::read_to_string(stats).unwrap()
}

/// The value of `name` in a stats line (`key=value ...`).
pub fn stats_field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .parse()
        .unwrap()
}
