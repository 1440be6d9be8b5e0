//! What another local user, a core file or a logrotate can get at: the real binary against
//! moto, mounted through FUSE, with other users played by uid 65534 (`setpriv`).

mod common;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{is_mounted, kill, wait_exit, wait_until, Emulator, Mounted, BIN};

/// Runs `args` as uid/gid 65534 with no supplementary groups.
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(args)
        .output()
        .unwrap()
}

fn private_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The soft and hard "Max core file size" of process `pid`.
fn core_limit(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap()
        .to_owned();
    let fields: Vec<&str> = line["Max core file size".len()..]
        .split_whitespace()
        .collect();
    (fields[0].to_owned(), fields[1].to_owned())
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn the_daemon_has_no_core_limit_and_no_password_in_its_environment() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let pw = private_file(dir.path(), "pw", &format!("{}\n", emu.password("alice")));
    // Given together with --password-file, and not UTF-8: it must go all the same.
    let marker = OsString::from_vec(b"env-marker-\xff-7391".to_vec());
    let mut cmd = emu.command("mount", "alice");
    cmd.env("COGNITO_S3FS_PASSWORD", &marker)
        .args(emu.auth_args("alice"))
        .arg("--password-file")
        .arg(&pw);
    let mnt = Mounted::start_with(&mut cmd, &[]).unwrap_or_else(|o| panic!("{o:?}"));
    let pid = mnt.daemon_pid();
    assert_eq!(core_limit(pid as u32), ("0".into(), "0".into()));
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        !environ.windows(10).any(|w| w == b"env-marker"),
        "the password variable is still in the daemon's environment"
    );
    assert_eq!(
        std::fs::read(mnt.path.join("alpha/hello.txt")).unwrap(),
        b"hello, world\n"
    );
}

/// `/proc/PID` belongs to the process's user unless the process is not dumpable, when it
/// belongs to root. So a process run as uid 65534 shows the flag; it blocks on standard input
/// before it has read the password, which is where the flag must already be off.
#[test]
fn the_process_is_not_dumpable_before_it_reads_the_password() {
    let emu = Emulator::start();
    let (reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            BIN,
        ])
        .arg("login")
        .args(emu.auth_args("alice"))
        .arg("--password-stdin")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", emu.get("endpoint"))
        .stdin(Stdio::from(OwnedFd::from(reader)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // setpriv execs the binary in the same process; wait until it is ours and has set up.
    let ours = wait_until(Duration::from_secs(10), || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("cognito-s3fs"))
            && core_limit(pid).0 == "0"
    });
    assert!(ours, "the binary did not start or kept its core limit");
    let owner = std::fs::metadata(format!("/proc/{pid}/status"))
        .unwrap()
        .uid();
    assert_eq!(
        owner, 0,
        "/proc/{pid} belongs to uid {owner}: still dumpable"
    );
    writer.write_all(b"not-the-password\n").unwrap();
    drop(writer);
    let status = child.wait().unwrap();
    assert!(!status.success(), "a wrong password cannot log in");
}

#[test]
fn password_stdin_reads_the_first_line_and_leaves_the_rest_unread() {
    let emu = Emulator::start();
    let (reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
    writer
        .write_all(format!("{}\nthe rest of the input", emu.password("alice")).as_bytes())
        .unwrap();
    writer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut ours = reader.try_clone().unwrap();
    let out = emu
        .command("login", "alice")
        .env_remove("COGNITO_S3FS_PASSWORD")
        .args(emu.auth_args("alice"))
        .arg("--password-stdin")
        .stdin(Stdio::from(OwnedFd::from(reader)))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut rest = String::new();
    ours.read_to_string(&mut rest).unwrap();
    assert_eq!(
        rest, "the rest of the input",
        "stdin was read past the line"
    );
}

#[test]
fn the_default_log_is_private_and_never_falls_back_to_tmp() {
    let emu = Emulator::start();
    let state = emu.dir.path().join("fresh-state");
    let guard = Mounted::prepare();
    let out = emu
        .command("mount", "alice")
        .env("XDG_STATE_HOME", &state)
        .args(emu.auth_args("alice"))
        .arg(&guard.path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("cognito-s3fs")), 0o700);
    let log = state.join("cognito-s3fs/cognito-s3fs.log");
    assert_eq!(mode(&log), 0o600);
    assert!(std::fs::read_to_string(&log).unwrap().contains("mounted"));
    assert!(guard.unmount_and_wait(), "daemon still running");

    let homeless = Mounted::prepare();
    let out = emu
        .command("mount", "alice")
        .env_remove("XDG_STATE_HOME")
        .env_remove("HOME")
        .args(emu.auth_args("alice"))
        .arg(&homeless.path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("set HOME or XDG_STATE_HOME"), "{err}");
    assert!(!is_mounted(&homeless.path));
}

#[test]
fn a_log_file_that_is_a_symlink_is_refused() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "").unwrap();
    let guard = Mounted::prepare();
    std::os::unix::fs::symlink(&victim, &guard.log).unwrap();
    let out = emu
        .command("mount", "alice")
        .args(emu.auth_args("alice"))
        .arg(&guard.path)
        .arg("--log-file")
        .arg(&guard.log)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"");
    assert!(!is_mounted(&guard.path));
}

/// The mount's super options in /proc/self/mountinfo.
fn super_options(mountpoint: &Path) -> String {
    let want = mountpoint.to_string_lossy().replace(' ', "\\040");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(want.as_str()))
        .unwrap()
        .to_owned();
    line.rsplit(' ').next().unwrap().to_owned()
}

/// A mount whose parent directories another user may traverse, so that only the mount
/// itself can refuse them.
fn mount_reachable_by_others(emu: &Emulator, extra: &[&str]) -> Mounted {
    let mnt = Mounted::prepare();
    let parent = mnt.path.parent().unwrap();
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = emu.command("mount", "alice");
    cmd.args(emu.auth_args("alice"))
        .arg(&mnt.path)
        .arg("--log-file")
        .arg(&mnt.log)
        .args(extra);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    mnt
}

#[test]
fn without_allow_other_no_other_user_can_stat_or_read_even_what_the_kernel_cached() {
    let emu = Emulator::start();
    let mnt = mount_reachable_by_others(&emu, &[]);
    assert!(
        !super_options(&mnt.path).contains("allow_other"),
        "{}",
        super_options(&mnt.path)
    );
    let file = mnt.path.join("alpha/hello.txt");
    // The owner looks first: the kernel now holds the entries, attributes and pages.
    assert_eq!(std::fs::read(&file).unwrap(), b"hello, world\n");
    let file = file.to_str().unwrap();
    for args in [
        vec!["stat", mnt.path.to_str().unwrap()],
        vec!["stat", file],
        vec!["cat", file],
    ] {
        let out = as_nobody(&args);
        assert!(!out.status.success(), "{args:?} worked for uid 65534");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Permission denied"), "{args:?}: {err}");
    }
    assert!(!mnt.log_text().contains("--allow-other"));

    let shared = mount_reachable_by_others(&emu, &["--allow-other"]);
    assert!(super_options(&shared.path).contains("allow_other"));
    let out = as_nobody(&["cat", shared.path.join("alpha/hello.txt").to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"hello, world\n");
    assert!(
        shared
            .log_text()
            .contains("every local user can read every object"),
        "{}",
        shared.log_text()
    );
}

#[test]
fn cognito_over_plain_http_to_a_non_loopback_address_is_refused_before_any_call() {
    let emu = Emulator::start();
    let proxy = emu.get("proxy_endpoint");
    let port = proxy.rsplit(':').next().unwrap();
    // 0.0.0.0 reaches this machine, but it is not a loopback address.
    let out = emu
        .command("login", "alice")
        .args(emu.auth_args("alice"))
        .arg("--endpoint-url")
        .arg(format!("http://0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plain http"), "{err}");
    let counts = emu.proxy_counts();
    let cognito_calls: Vec<&String> = counts
        .as_object()
        .unwrap()
        .keys()
        .filter(|op| op.starts_with("AWSCognito"))
        .collect();
    assert!(cognito_calls.is_empty(), "sent anyway: {cognito_calls:?}");

    // The basic identity flow sends an OpenID token to STS: its endpoint is checked too.
    let out = emu
        .command("login", "alice")
        .args(emu.auth_args("alice"))
        .args(["--identity-flow", "basic"])
        .args(["--role-arn", "arn:aws:iam::123456789012:role/s3-read"])
        .env("AWS_ENDPOINT_URL", &proxy)
        .env("AWS_ENDPOINT_URL_STS", format!("http://0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain http") && err.contains("0.0.0.0"),
        "{err}"
    );
    assert_eq!(emu.proxy_flows().as_object().map(|m| m.len()), Some(0));

    // Through the proxy's loopback address the same login works.
    let out = emu
        .command("login", "alice")
        .args(emu.auth_args("alice"))
        .arg("--endpoint-url")
        .arg(&proxy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn sighup_reopens_the_log_file_and_the_daemon_stays_up() {
    let emu = Emulator::start();
    let mnt = Mounted::start(&emu, "alice", &[]).unwrap_or_else(|o| panic!("{o:?}"));
    let pid = mnt.daemon_pid();
    let rotated = mnt.log.with_extension("log.1");
    std::fs::rename(&mnt.log, &rotated).unwrap();
    kill(pid, libc::SIGHUP);
    let reopened = wait_until(Duration::from_secs(10), || {
        mnt.log_text().contains("reopened the log file")
    });
    assert!(reopened, "no new log file at {}", mnt.log.display());
    kill(pid, libc::SIGUSR1);
    assert!(wait_until(Duration::from_secs(10), || mnt
        .log_text()
        .contains("request counters")));
    assert!(alive(pid) && is_mounted(&mnt.path));
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.contains("mounted") && !old.contains("request counters"));
    assert_eq!(
        std::fs::read(mnt.path.join("alpha/hello.txt")).unwrap(),
        b"hello, world\n"
    );
}

#[test]
fn a_second_sigterm_detaches_a_busy_mount_and_exits() {
    let emu = Emulator::start();
    let mnt = Mounted::start(&emu, "alice", &[]).unwrap_or_else(|o| panic!("{o:?}"));
    let pid = mnt.daemon_pid();
    let open = std::fs::File::open(mnt.path.join("alpha/hello.txt")).unwrap();
    kill(pid, libc::SIGTERM);
    let waiting = wait_until(Duration::from_secs(10), || {
        mnt.log_text().contains("the mount is busy")
    });
    assert!(waiting, "{}", mnt.log_text());
    // Still mounted and serving the open file.
    assert!(alive(pid) && is_mounted(&mnt.path));
    let mut buf = [0u8; 5];
    assert_eq!(open.read_at(&mut buf, 0).unwrap(), 5);
    assert_eq!(&buf, b"hello");
    kill(pid, libc::SIGTERM);
    assert!(
        wait_exit(pid, Duration::from_secs(10)),
        "daemon still running"
    );
    assert!(!is_mounted(&mnt.path), "the mount was not detached");
    assert!(mnt.log_text().contains("detaching the busy mount lazily"));
    drop(open);
}
