//! End-to-end: the real binary logs in against moto and mounts through FUSE; ordinary tools
//! read through the kernel.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{is_mounted, sha256_hex, Emulator, Mounted, Rng};

/// What the mount should show for the seeded objects, by the rules of SEMANTICS.md.
struct Expected {
    /// "bucket/path" -> (size, sha256)
    files: BTreeMap<String, (u64, String)>,
    /// "bucket" or "bucket/path"
    dirs: BTreeSet<String>,
}

fn expected(emu: &Emulator) -> Expected {
    let mut files = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    for (bucket, key, size, sha) in emu.objects() {
        dirs.insert(bucket.clone());
        let marker = key.ends_with('/');
        let parts: Vec<&str> = key.trim_end_matches('/').split('/').collect();
        let bad = |c: &&str| c.is_empty() || *c == "." || *c == ".." || c.len() > 255;
        let usable = parts.iter().position(bad).unwrap_or(parts.len());
        // Every usable ancestor is a directory, and so is a marker itself.
        let dir_depth = if marker {
            usable
        } else {
            usable.min(parts.len() - 1)
        };
        for i in 1..=dir_depth {
            dirs.insert(format!("{bucket}/{}", parts[..i].join("/")));
        }
        if usable == parts.len() && !marker {
            files.insert(format!("{bucket}/{}", parts.join("/")), (size, sha));
        }
    }
    // A name that is both a file and a directory is the directory.
    files.retain(|path, _| !dirs.contains(path));
    Expected { files, dirs }
}

fn children(exp: &Expected, dir: &str) -> BTreeSet<String> {
    let prefix = format!("{dir}/");
    exp.files
        .keys()
        .chain(exp.dirs.iter())
        .filter_map(|p| p.strip_prefix(&prefix))
        .filter(|rest| !rest.contains('/'))
        .map(str::to_owned)
        .collect()
}

fn names_in(path: &Path) -> BTreeSet<String> {
    std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn mounted_tree_matches_the_seed() {
    let emu = Emulator::start();
    let mnt = Mounted::start(&emu, "alice", &[]).unwrap_or_else(|o| panic!("{o:?}"));
    let exp = expected(&emu);

    assert_eq!(
        names_in(&mnt.path),
        BTreeSet::from(["alpha".into(), "beta".into()])
    );
    for dir in &exp.dirs {
        let on_disk = names_in(&mnt.path.join(dir));
        assert_eq!(on_disk, children(&exp, dir), "listing of {dir}");
        let ls = Command::new("ls")
            .arg("-la")
            .arg(mnt.path.join(dir))
            .output()
            .unwrap();
        assert!(ls.status.success(), "ls -la {dir}: {ls:?}");
        let text = String::from_utf8(ls.stdout).unwrap();
        for name in children(&exp, dir) {
            assert!(text.contains(&name), "ls -la {dir} lacks {name}:\n{text}");
        }
    }
    // The seed's special cases are really there.
    for path in [
        "alpha/empty.bin",
        "alpha/with space/name with spaces.txt",
        "alpha/unicode/héllo-wörld-日本.txt",
        "alpha/marker/inside.txt",
        "alpha/clash/child.txt",
    ] {
        assert!(exp.files.contains_key(path), "{path}");
    }
    assert!(exp.dirs.contains("alpha/emptymarker") && exp.dirs.contains("alpha/clash"));
    assert!(
        children(&exp, "alpha/slashes").is_empty(),
        "the // key is hidden"
    );

    let paths: Vec<_> = exp.files.keys().map(|p| mnt.path.join(p)).collect();
    let out = Command::new("sha256sum").args(&paths).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for (line, (path, (_, sha))) in text.lines().zip(&exp.files) {
        assert!(line.starts_with(sha.as_str()), "sha256 of {path}: {line}");
    }
    assert_eq!(text.lines().count(), exp.files.len());
    for (path, (size, _)) in &exp.files {
        let meta = std::fs::metadata(mnt.path.join(path)).unwrap();
        assert_eq!(meta.len(), *size, "size of {path}");
    }
}

#[test]
fn a_16_mib_object_reads_right_with_dd_and_at_random_offsets() {
    let emu = Emulator::start();
    let mnt = Mounted::start(&emu, "alice", &[]).unwrap_or_else(|o| panic!("{o:?}"));
    let (_, (size, sha)) = expected(&emu)
        .files
        .into_iter()
        .find(|(p, _)| p == "alpha/big/sixteen.bin")
        .unwrap();
    assert_eq!(size, 16 * 1024 * 1024);
    let path = mnt.path.join("alpha/big/sixteen.bin");
    let dd = Command::new("dd")
        .arg(format!("if={}", path.display()))
        .args(["bs=1M", "status=none"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(dd.status.success());
    assert_eq!(dd.stdout.len() as u64, size);
    assert_eq!(sha256_hex(&dd.stdout), sha);

    let file = std::fs::File::open(&path).unwrap();
    let mut rng = Rng(0x5eed);
    for _ in 0..200 {
        let offset = rng.next() % size;
        let len = 1 + (rng.next() % (300 * 1024)) as usize;
        let mut buf = vec![0u8; len];
        let n = file.read_at(&mut buf, offset).unwrap();
        let end = (offset as usize + len).min(size as usize);
        assert_eq!(n, end - offset as usize);
        assert_eq!(
            &buf[..n],
            &dd.stdout[offset as usize..end],
            "read {offset}+{len}"
        );
    }
}

/// A random read's block goes on to the kernel's page cache (FUSE's store notification):
/// the kernel accepts it, a neighbouring read gets the right bytes from it without a GET,
/// and the daemon holds none of it afterwards.
#[test]
fn a_random_reads_block_lands_in_the_page_cache() {
    let emu = Emulator::start();
    let stats = emu.dir.path().join("stats");
    let mount = || {
        let mut cmd = emu.command("mount", "alice");
        cmd.env("AWS_ENDPOINT_URL_S3", emu.get("proxy_endpoint"))
            .args(emu.auth_args("alice"));
        Mounted::start_with(&mut cmd, &["--stats-file", stats.to_str().unwrap()])
            .unwrap_or_else(|o| panic!("{o:?}"))
    };
    let mnt = mount();
    let path = mnt.path.join("alpha/big/sixteen.bin");
    let whole = std::fs::read(&path).unwrap();
    // A second mount: the first one's page cache holds the whole file now.
    assert!(mnt.unmount_and_wait(), "daemon still running");
    let mnt = mount();
    let path = mnt.path.join("alpha/big/sixteen.bin");
    let file = std::fs::File::open(&path).unwrap();
    // Far enough apart that none looks like a short forward seek of a sequential reader.
    let offsets = [12u64 << 20, 1 << 20, 10 << 20];
    let check = |offset: u64| {
        let mut buf = vec![0u8; 4096];
        assert_eq!(file.read_at(&mut buf, offset).unwrap(), 4096);
        assert_eq!(&buf[..], &whole[offset as usize..offset as usize + 4096]);
    };
    for offset in offsets {
        check(offset);
    }
    emu.reset_proxy_counts();
    for offset in offsets {
        // The same 64 KiB block, past the 4 KiB the first read asked for.
        check(offset + 32 * 1024);
    }
    assert_eq!(
        emu.proxy_counts(),
        serde_json::json!({}),
        "neighbours come from the page cache"
    );
    drop(file);
    assert!(mnt.unmount_and_wait(), "daemon still running");
    let line = std::fs::read_to_string(&stats).unwrap();
    let field = |name: &str| common::stats_field(&line, name);
    assert_eq!(
        field("page_cache_stored_bytes"),
        3 * (64 - 4) * 1024,
        "{line}"
    );
    assert_eq!(field("page_cache_stores_failed"), 0, "{line}");
    assert_eq!(
        field("data_bytes"),
        0,
        "the daemon holds none of it: {line}"
    );
}

/// An object overwritten in S3, through the kernel: a new open shows the new bytes, a handle
/// still open on the old version goes on reading the old bytes the kernel cached for it
/// (the new version is a new inode, with a page cache of its own) and gets ESTALE for what
/// S3 no longer has.
#[test]
fn a_changed_object_reopened_shows_new_bytes_and_old_handles_get_estale() {
    let emu = Emulator::start();
    let size = 4usize << 20;
    let put = |byte: u8| {
        emu.with_s3(&format!(
            "s3.put_object(Bucket='alpha', Key='changing.bin', Body=bytes([{byte}]) * {size})"
        ))
    };
    put(b'a');
    let mut cmd = emu.command("mount", "alice");
    cmd.args(emu.auth_args("alice"));
    let mnt =
        Mounted::start_with(&mut cmd, &["--metadata-ttl", "0"]).unwrap_or_else(|o| panic!("{o:?}"));
    let path = mnt.path.join("alpha/changing.bin");
    let old = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 4096];
    assert_eq!(old.read_at(&mut buf, 0).unwrap(), 4096);
    assert!(buf.iter().all(|&b| b == b'a'));

    put(b'b');
    let new = std::fs::File::open(&path).unwrap();
    assert_eq!(new.read_at(&mut buf, 0).unwrap(), 4096);
    assert!(
        buf.iter().all(|&b| b == b'b'),
        "the new open shows the new version, not the old pages"
    );
    assert_eq!(old.read_at(&mut buf, 0).unwrap(), 4096);
    assert!(
        buf.iter().all(|&b| b == b'a'),
        "the old handle still reads the old version's pages"
    );
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        old.metadata().unwrap().ino(),
        new.metadata().unwrap().ino(),
        "a new version is a new inode"
    );
    // Far from what either handle read: neither the kernel's read-ahead nor the page cache
    // has it, so the old handle's read reaches the daemon.
    let err = old.read_at(&mut buf, 3 << 20).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ESTALE), "{err}");
    assert_eq!(new.read_at(&mut buf, 3 << 20).unwrap(), 4096);
    assert!(buf.iter().all(|&b| b == b'b'));
    drop((old, new));
    assert!(mnt.unmount_and_wait(), "daemon still running");
}

#[test]
fn every_change_is_refused_with_erofs() {
    let emu = Emulator::start();
    let mnt = Mounted::start(&emu, "alice", &[]).unwrap_or_else(|o| panic!("{o:?}"));
    let file = mnt.path.join("alpha/hello.txt");
    let dir = mnt.path.join("alpha");
    let erofs = |r: std::io::Result<()>, what: &str| {
        let err = r.expect_err(what);
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{what}: {err}");
    };
    use std::os::unix::fs::PermissionsExt;
    erofs(
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .map(drop),
        "write",
    );
    erofs(
        std::fs::File::create(dir.join("new.txt")).map(drop),
        "create",
    );
    erofs(std::fs::create_dir(dir.join("newdir")), "mkdir");
    erofs(std::fs::remove_file(&file), "unlink");
    erofs(std::fs::remove_dir(dir.join("nested")), "rmdir");
    erofs(std::fs::rename(&file, dir.join("moved.txt")), "rename");
    erofs(
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_len(0)),
        "truncate",
    );
    erofs(
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o777)),
        "chmod",
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"hello, world\n");
}

fn assert_refused(out: &std::process::Output, mountpoint_hint: &str, expect: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(expect), "{err}");
    assert!(
        common::pids_mentioning(mountpoint_hint).is_empty(),
        "no process left"
    );
}

#[test]
fn wrong_password_and_unknown_user_fail_fast_and_mount_nothing() {
    let emu = Emulator::start();
    for (user, password, expect) in [
        (
            "alice",
            "not-the-password",
            "Incorrect username or password",
        ),
        ("mallory", "whatever-1", "does not exist"),
    ] {
        let guard = Mounted::prepare();
        let mnt = guard.path.clone();
        let started = Instant::now();
        let out = emu
            .command("mount", "alice")
            .env("COGNITO_S3FS_PASSWORD", password)
            .args(emu.auth_args(user))
            .arg(&mnt)
            .output()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_refused(&out, &mnt.to_string_lossy(), expect);
        assert!(!is_mounted(&mnt));
    }
}

#[test]
fn a_temporary_password_is_replaced_from_a_file() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let newpw = dir.path().join("newpw");
    std::fs::write(&newpw, "Brand-New-Pass-7\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&newpw, std::fs::Permissions::from_mode(0o600)).unwrap();

    let without = emu
        .command("login", "newbie")
        .args(emu.auth_args("newbie"))
        .output()
        .unwrap();
    assert_refused(&without, "newbie-no-such", "--new-password-file");

    let newpw_arg = newpw.to_str().unwrap();
    let mnt = Mounted::start(&emu, "newbie", &["--new-password-file", newpw_arg])
        .unwrap_or_else(|o| panic!("{o:?}"));
    assert_eq!(
        std::fs::read(mnt.path.join("alpha/hello.txt")).unwrap(),
        b"hello, world\n"
    );
    // The new password is now the password.
    let login = emu
        .command("login", "newbie")
        .env("COGNITO_S3FS_PASSWORD", "Brand-New-Pass-7")
        .args(emu.auth_args("newbie"))
        .output()
        .unwrap();
    assert!(login.status.success(), "{login:?}");
}

#[test]
fn a_temporary_password_is_replaced_on_a_terminal() {
    let emu = Emulator::start();
    let guard = Mounted::prepare();
    let (mnt, log) = (guard.path.clone(), guard.log.clone());
    let mut cmd = emu.command("mount", "newbie2");
    cmd.env_remove("COGNITO_S3FS_PASSWORD");
    let mut argv: Vec<String> = vec![common::BIN.into(), "mount".into()];
    argv.extend(emu.auth_args("newbie2"));
    argv.extend([
        mnt.to_string_lossy().into(),
        "--log-file".into(),
        log.to_string_lossy().into(),
    ]);
    // A real pseudo-terminal: the driver waits for each prompt before it answers.
    let python = common::repo_root().join(".venv/bin/python");
    let out = Command::new(python)
        .arg(common::repo_root().join("tests/support/pty_drive.py"))
        .args([
            "--expect",
            "Password for newbie2:",
            "--send",
            &emu.password("newbie2"),
        ])
        .args(["--expect", "New password:", "--send", "Typed-New-Pass-8"])
        .args([
            "--expect",
            "Repeat new password:",
            "--send",
            "Typed-New-Pass-8",
        ])
        .arg("--")
        .args(&argv)
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("COGNITO_S3FS_PASSWORD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(
        !transcript.contains("Typed-New-Pass-8"),
        "no echo: {transcript}"
    );
    assert!(is_mounted(&mnt));
    assert_eq!(
        std::fs::read(mnt.join("alpha/hello.txt")).unwrap(),
        b"hello, world\n"
    );
    assert!(guard.unmount_and_wait(), "daemon still running");
}

#[test]
fn sigterm_unmounts_and_exits_zero() {
    let emu = Emulator::start();
    let guard = Mounted::prepare();
    let mnt = guard.path.clone();
    let mut child = emu
        .command("mount", "alice")
        .args(emu.auth_args("alice"))
        .arg(&mnt)
        .arg("--foreground")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        use std::io::BufRead;
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "exited before mounting"
        );
        if line.contains("mounted") {
            break;
        }
    }
    assert!(is_mounted(&mnt));
    assert_eq!(
        std::fs::read(mnt.join("beta/data/readme.md"))
            .unwrap()
            .len(),
        40
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!is_mounted(&mnt));
}

#[test]
fn fusermount_u_ends_the_daemon() {
    let emu = Emulator::start();
    let mnt = Mounted::start(&emu, "alice", &[]).unwrap_or_else(|o| panic!("{o:?}"));
    assert!(mnt.unmount_and_wait(), "daemon still running");
    assert!(!is_mounted(&mnt.path));
    assert!(mnt.log_text().contains("unmounted"));
}

#[test]
fn login_prints_the_identity_and_expiry_but_no_secret() {
    let emu = Emulator::start();
    let out = emu
        .command("login", "alice")
        .args(emu.auth_args("alice"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("identity id: us-east-1:"), "{text}");
    assert!(text.contains("credentials expire:"), "{text}");
    for secret in [emu.password("alice").as_str(), "ABCSECRETKEY", "ABC12345"] {
        assert!(!text.contains(secret));
    }
}

#[test]
fn refused_when_the_mountpoint_is_missing() {
    let emu = Emulator::start();
    let out = emu
        .command("mount", "alice")
        .args(emu.auth_args("alice"))
        .arg("/nonexistent/cognito-s3fs-mnt")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/cognito-s3fs-mnt"), "{err}");
}

#[test]
fn an_app_client_with_a_secret_logs_in_with_secret_hash() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, emu.get("client_secret")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut args = emu.auth_args("alice");
    let client = args.iter().position(|a| a == "--client-id").unwrap() + 1;
    args[client] = emu.get("secret_client_id");
    let out = emu
        .command("login", "alice")
        .args(&args)
        .arg("--client-secret-file")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&emu.get("client_secret")));

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = emu
        .command("login", "alice")
        .args(&args)
        .arg("--client-secret-file")
        .arg(&secret)
        .output()
        .unwrap();
    assert!(!open.status.success());
    assert!(String::from_utf8_lossy(&open.stderr).contains("chmod 600"));
}

#[test]
fn bucket_option_limits_the_root_and_df_answers() {
    let emu = Emulator::start();
    let mnt =
        Mounted::start(&emu, "alice", &["--bucket", "beta"]).unwrap_or_else(|o| panic!("{o:?}"));
    assert_eq!(names_in(&mnt.path), BTreeSet::from(["beta".to_string()]));
    let df = Command::new("df").arg(&mnt.path).output().unwrap();
    assert!(df.status.success(), "{df:?}");
    assert!(String::from_utf8_lossy(&df.stdout).contains("cognito-s3fs"));
}

/// Python's `open()` asks every file whether it is a terminal (the `TCGETS` ioctl). The
/// answer is ENOTTY, quietly: it used to cost a three-line warning per file opened.
#[test]
fn terminal_ioctls_are_answered_enotty_without_a_log_line() {
    let emu = Emulator::start();
    let mnt = Mounted::start(&emu, "alice", &[]).unwrap_or_else(|o| panic!("{o:?}"));
    let file = mnt.path.join("alpha/hello.txt");
    let script = "import os, sys, termios\n\
        for _ in range(5):\n    f = open(sys.argv[1], 'rb'); f.read(); print(f.isatty()); f.close()\n\
        fd = os.open(sys.argv[1], os.O_RDONLY)\n\
        try:\n    termios.tcgetattr(fd)\nexcept termios.error as e:\n    print('errno', e.args[0])\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("False").count(), 5, "{text}");
    assert!(text.contains(&format!("errno {}", libc::ENOTTY)), "{text}");
    assert!(
        !mnt.log_text().contains("ioctl"),
        "the log mentions ioctl:\n{}",
        mnt.log_text()
    );
}

#[test]
fn getfattr_shows_what_s3_knows_with_xattrs_and_nothing_without() {
    let emu = Emulator::start();
    let proxy = emu.get("proxy_endpoint");
    let args = ["--xattrs", "--endpoint-url", &proxy];
    let mnt = Mounted::start(&emu, "alice", &args).unwrap_or_else(|o| panic!("{o:?}"));
    let file = mnt.path.join("alpha/hello.txt");
    let out = Command::new("getfattr")
        .arg("-d")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "user.s3.size=\"13\"",
        "user.s3.storage_class=\"STANDARD\"",
        "user.s3.content_type=",
        "user.s3.last_modified=\"20",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let etag = text
        .lines()
        .find_map(|l| l.strip_prefix("user.s3.etag=\""))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        etag.trim_end_matches('"').len(),
        32,
        "an MD5 without quotes: {text}"
    );
    assert_eq!(
        emu.proxy_count("S3.HeadObject"),
        1,
        "one HEAD, for the content type, though getfattr asks each value twice"
    );
    drop(mnt);

    let plain = Mounted::start(&emu, "alice", &[]).unwrap_or_else(|o| panic!("{o:?}"));
    let out = Command::new("getfattr")
        .args(["-n", "user.s3.etag"])
        .arg(plain.path.join("alpha/hello.txt"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Operation not supported"), "{err}");
}
