//! Daily use through the real binary: the README's fstab line through `mount -T`, the
//! example unit's command under systemd's notify protocol, `status` over the daemon's
//! socket, SIGUSR2, and the bash completions.

mod common;

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{is_mounted, repo_root, wait_until, Emulator, Mounted, BIN};

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The README's fstab line, word for word.
fn readme_fstab_line() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let at = readme
        .find("# /etc/fstab\n")
        .expect("README has the fstab line");
    let rest = &readme[at + "# /etc/fstab\n".len()..];
    rest.lines().next().unwrap().to_owned()
}

#[test]
fn the_readme_fstab_line_mounts_through_mount_t() {
    let emu = Emulator::start();
    let config = common::readme_config(&emu);
    let mnt = Mounted::prepare();
    let line = readme_fstab_line()
        .replace("/etc/cognito-s3fs/config.toml", config.to_str().unwrap())
        .replace("/mnt/team", mnt.path.to_str().unwrap());
    assert!(line.contains("fuse.cognito-s3fs") && line.contains("profile=team"));
    let fstab = emu.dir.path().join("fstab");
    std::fs::write(&fstab, format!("{line}\n")).unwrap();
    // mount(8) runs helpers with no PATH, so `sh` finds `cognito-s3fs` only in its default
    // directories: in a mount namespace of this test's own, /usr/local/sbin holds it.
    let bin_dir = emu.dir.path().join("sbin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("cognito-s3fs")).unwrap();
    let m = mnt.path.display();
    let script = format!(
        "set -e; mount --make-rprivate /; mount --bind {} /usr/local/sbin; \
         trap 'fusermount3 -u {m} 2>/dev/null || true' EXIT; \
         mount -T {} {m}; ls {m}; head -c 6 {m}/readme.md; echo; \
         fusermount3 -u {m}; trap - EXIT; echo unmounted",
        bin_dir.display(),
        fstab.display()
    );
    let mut unshare = Command::new("unshare");
    let out = with_env_of(&emu, &mut unshare)
        .env_remove("COGNITO_S3FS_PASSWORD")
        .args(["--mount", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["numbers.csv", "readme.md", "# beta", "unmounted"],
        "the profile's s3://beta/data/ at the root, read through the kernel: {out:?}"
    );
}

/// `cmd` with the environment the harness gives the binary (the emulator's endpoint and
/// region, no AWS keys, no metadata probe), as `mount` and systemd pass theirs on.
fn with_env_of<'a>(emu: &Emulator, cmd: &'a mut Command) -> &'a mut Command {
    for (k, v) in emu.command("mount", "alice").get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

/// The example unit's ExecStart, with this test's binary, config and mountpoint.
fn unit_exec_start(config: &Path, mountpoint: &Path) -> Vec<String> {
    let unit = std::fs::read_to_string(repo_root().join("contrib/cognito-s3fs-team.service"))
        .expect("contrib has the example unit");
    assert!(unit.contains("\nType=notify\n"), "{unit}");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    exec.replace("/usr/bin/cognito-s3fs", BIN)
        .replace("/etc/cognito-s3fs/config.toml", config.to_str().unwrap())
        .replace("/mnt/team", mountpoint.to_str().unwrap())
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn received(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = socket.recv(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_example_unit_tells_systemd_ready_once_mounted_and_stopping_on_the_way_down() {
    let emu = Emulator::start();
    let config = common::readme_config(&emu);
    let mnt = Mounted::prepare();
    let notify_path = emu.dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&notify_path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let argv = unit_exec_start(&config, &mnt.path);
    let mut unit = Command::new(&argv[0]);
    let mut daemon = with_env_of(&emu, &mut unit)
        .env_remove("COGNITO_S3FS_PASSWORD")
        .env("NOTIFY_SOCKET", &notify_path)
        .env("XDG_RUNTIME_DIR", emu.dir.path().join("run"))
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let ready = received(&systemd);
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    assert!(
        ready.contains(&format!("MAINPID={}\n", daemon.id())),
        "no fork: the process systemd started serves: {ready}"
    );
    assert!(
        is_mounted(&mnt.path),
        "READY=1 comes once the mount answers"
    );
    assert_eq!(names(&mnt.path), ["numbers.csv", "readme.md"]);

    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let stopping = received(&systemd);
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!is_mounted(&mnt.path));
    let mut log = String::new();
    daemon
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("mounted"), "logs to standard error: {log}");
}

#[test]
fn status_reports_who_is_signed_in_and_when_things_expire() {
    let emu = Emulator::start();
    let runtime = emu.dir.path().join("run");
    let mut cmd = emu.command("mount", "alice");
    cmd.env("XDG_RUNTIME_DIR", &runtime)
        .args(emu.auth_args("alice"));
    let mnt = Mounted::start_with(&mut cmd, &[]).unwrap_or_else(|o| panic!("{o:?}"));
    let status = |args: &[&str]| {
        Command::new(BIN)
            .arg("status")
            .args(args)
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .unwrap()
    };
    let out = status(&[]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let canonical = std::fs::canonicalize(&mnt.path).unwrap();
    assert!(text.contains(&canonical.display().to_string()), "{text}");
    assert!(text.contains("signed in as alice"), "{text}");
    assert!(text.contains("AWS credentials expire"), "{text}");
    assert!(text.contains("Cognito: healthy"), "{text}");
    assert!(text.contains("counters: list_buckets="), "{text}");
    for secret in emu.seen_secrets() {
        assert!(!text.contains(&secret), "status shows no secret");
    }

    let out = status(&["--json", canonical.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cognito"]["username"], "alice");
    assert_eq!(v["pid"].as_i64(), Some(mnt.daemon_pid() as i64));

    let elsewhere = status(&["/nonexistent"]);
    assert!(!elsewhere.status.success());
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("no mount of yours at"));

    // The socket is private to its user.
    let sockets = runtime.join("cognito-s3fs");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sockets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert!(mnt.unmount_and_wait());
    assert_eq!(
        std::fs::read_dir(&sockets).unwrap().count(),
        0,
        "the socket goes with the daemon"
    );
}

#[test]
fn sigusr2_turns_the_debug_log_on_and_off() {
    let emu = Emulator::start();
    let mnt = Mounted::prepare();
    let log = emu.dir.path().join("daemon.log");
    let out = emu
        .command("mount", "alice")
        .args(emu.auth_args("alice"))
        .arg(&mnt.path)
        .arg("--log-file")
        .arg(&log)
        .env("COGNITO_S3FS_LOG", "warn,cognito_s3fs=info")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let pid = mnt.daemon_pid();
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!read().contains(" DEBUG "), "starts at info: {}", read());
    // SAFETY: signalling the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGUSR2) };
    assert!(wait_until(Duration::from_secs(10), || read()
        .contains("SIGUSR2: debug log on")));
    names(&mnt.path);
    std::fs::read(mnt.path.join("alpha/hello.txt")).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || read().contains(" DEBUG ")),
        "{}",
        read()
    );
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGUSR2) };
    assert!(wait_until(Duration::from_secs(10), || read()
        .contains("SIGUSR2: debug log off")));
    assert!(mnt.unmount_and_wait());
}

#[test]
fn bash_completions_load_and_complete_the_subcommands() {
    let script = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cognito-s3fs.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; source {}; complete -p cognito-s3fs; \
             COMP_WORDS=(cognito-s3fs mo); COMP_CWORD=1; COMP_LINE='cognito-s3fs mo'; \
             COMP_POINT=${{#COMP_LINE}}; _cognito__s3fs cognito-s3fs mo cognito-s3fs; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-F _cognito__s3fs cognito-s3fs"), "{text}");
    assert!(text.lines().any(|l| l == "mount"), "{text}");
}
