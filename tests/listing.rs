//! The listing request budget, counted at the server: S3 goes through the emulator's
//! counting proxy (AWS_ENDPOINT_URL_S3) while Cognito talks to moto directly, so the proxy
//! sees exactly the S3 requests the mount sends.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use common::{Emulator, Mounted};

/// Runs `program args` and returns its standard output; it must succeed.
fn run(program: &str, args: &[&Path]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The proxy's counts since the last reset, then a reset.
fn take_counts(emu: &Emulator) -> Value {
    let counts = emu.proxy_counts();
    emu.reset_proxy_counts();
    counts
}

#[test]
fn ls_l_and_find_cost_list_pages_only() {
    let emu = Emulator::start_with(&["--extra", "listing"]);
    assert_eq!(emu.state["extra"]["listing"]["big"], 3000);
    let stats = emu.dir.path().join("stats");
    let mut cmd = emu.command("mount", "alice");
    cmd.env("AWS_ENDPOINT_URL_S3", emu.get("proxy_endpoint"))
        .args(emu.auth_args("alice"));
    let stats_arg = stats.to_str().unwrap();
    let mnt = Mounted::start_with(&mut cmd, &["--bucket", "gamma", "--stats-file", stats_arg])
        .unwrap_or_else(|o| panic!("{o:?}"));
    let big = mnt.path.join("gamma/big");
    let tree = mnt.path.join("gamma/tree");
    emu.reset_proxy_counts();

    // Typed straight away: one LIST per missing component (gamma is given by --bucket).
    assert!(std::fs::metadata(&big).unwrap().is_dir());
    assert_eq!(take_counts(&emu), json!({"S3.ListObjectsV2": 1}));

    let listing = run("ls", &[Path::new("-l"), &big]);
    assert_eq!(listing.lines().filter(|l| l.starts_with('-')).count(), 3000);
    assert_eq!(
        take_counts(&emu),
        json!({"S3.ListObjectsV2": 3}),
        "3 pages of 1,000, no HEAD, no GET"
    );
    run("ls", &[Path::new("-l"), &big]);
    assert_eq!(take_counts(&emu), json!({}), "inside the TTL: nothing");

    assert!(std::fs::metadata(&tree).unwrap().is_dir());
    take_counts(&emu);
    let found = run("find", &[&tree]);
    assert_eq!(found.lines().count(), 1 + 50 + 50 * 3);
    assert_eq!(
        take_counts(&emu),
        json!({"S3.ListObjectsV2": 51}),
        "tree itself and its 50 prefixes, one page each"
    );
    run("du", &[Path::new("-s"), &tree]);
    assert_eq!(take_counts(&emu), json!({}), "du after find: all cached");

    let cat = run("cat", &[&big.join("obj-0042")]);
    assert_eq!(cat, "big/obj-0042");
    assert_eq!(
        take_counts(&emu),
        json!({"S3.GetObject": 1}),
        "cat: GETs only"
    );

    assert!(mnt.unmount_and_wait(), "daemon still running");
    let line = std::fs::read_to_string(&stats).unwrap();
    assert!(
        line.contains(" get=1 ") && line.contains("list=56 "),
        "{line}"
    );
    assert!(
        line.contains("cache_hits=") && line.contains("cache_misses="),
        "{line}"
    );
}

#[test]
fn a_prefix_mount_lists_nothing_outside_its_prefix() {
    let emu = Emulator::start_with(&["--extra", "listing"]);
    let mut cmd = emu.command("mount", "alice");
    cmd.env("AWS_ENDPOINT_URL_S3", emu.get("proxy_endpoint"))
        .args(emu.auth_args("alice"))
        .arg("s3://gamma/tree/");
    emu.reset_proxy_counts();
    let mnt = Mounted::start_with(&mut cmd, &[]).unwrap_or_else(|o| panic!("{o:?}"));

    let top = std::fs::read_dir(&mnt.path).unwrap().count();
    assert_eq!(top, 50, "p00 .. p49 at the root");
    let found = run("find", &[&mnt.path]);
    assert_eq!(found.lines().count(), 1 + 50 + 50 * 3);
    let cat = run("cat", &[&mnt.path.join("p07/f1")]);
    assert_eq!(cat, "tree/p07/f1");
    assert!(
        std::fs::metadata(mnt.path.join("big")).is_err(),
        "big/ is beside tree/, outside the mount"
    );

    let lists = emu.proxy_lists();
    let counts = take_counts(&emu);
    assert_eq!(counts.get("S3.ListBuckets"), None, "{counts}");
    assert!(lists.len() >= 51, "{lists:?}");
    let outside: Vec<&String> = lists
        .iter()
        .filter(|l| !l.starts_with("gamma/tree/"))
        .collect();
    assert!(outside.is_empty(), "LISTs outside the prefix: {outside:?}");
    assert!(mnt.unmount_and_wait(), "daemon still running");
}

/// The names in `dir`, read with getdents64 into a buffer of `buf` bytes: the kernel asks the
/// daemon for at most that much per readdirplus request, so a small one makes it decline
/// entries the daemon offered.
fn names_with_buffer(dir: &Path, buf: usize) -> usize {
    use std::os::fd::AsRawFd;
    let dir = std::fs::File::open(dir).unwrap();
    let mut space = vec![0u8; buf];
    let mut names = 0;
    loop {
        // SAFETY: getdents64 writes at most `buf` bytes into `space`, which holds that many.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                space.as_mut_ptr(),
                space.len(),
            )
        };
        assert!(n >= 0, "getdents64: {}", std::io::Error::last_os_error());
        if n == 0 {
            return names;
        }
        // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
        let mut at = 0;
        while at < n as usize {
            let reclen = u16::from_ne_bytes([space[at + 16], space[at + 17]]) as usize;
            let name = &space[at + 19..at + reclen];
            if !name.starts_with(b".\0") && !name.starts_with(b"..\0") {
                names += 1;
            }
            at += reclen;
        }
    }
}

/// Each entry the kernel takes from a readdirplus reply holds a reference to its inode,
/// and when the kernel drops its dentries it forgets every one: the daemon's inode table
/// must come back down to what is still in use. Read with a 4 KiB buffer, every reply of
/// 128 entries has more than the kernel has room for; an entry counted although the
/// kernel declined it (as before December) stayed in the table for good.
#[test]
fn the_inodes_a_listing_made_go_when_the_kernel_forgets_them() {
    let emu = Emulator::start_with(&["--extra", "listing"]);
    let stats = emu.dir.path().join("stats");
    let stats_arg = stats.to_str().unwrap();
    let mnt = Mounted::start(
        &emu,
        "alice",
        &["--bucket", "gamma", "--stats-file", stats_arg],
    )
    .unwrap_or_else(|o| panic!("{o:?}"));
    let big = mnt.path.join("gamma/big");

    assert_eq!(names_with_buffer(&big, 4096), 3000);
    let nodes = common::stats_field(&common::stats_now(&mnt, &stats), "nodes");
    assert!(
        nodes > 3000,
        "the root, gamma, big and its 3,000 files: {nodes}"
    );

    std::fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    let mut left = nodes;
    let forgotten = common::wait_until(Duration::from_secs(20), || {
        left = common::stats_field(&common::stats_now(&mnt, &stats), "nodes");
        left <= 3
    });
    assert!(
        forgotten,
        "{left} nodes still held after the kernel dropped its dentries"
    );
    assert!(mnt.unmount_and_wait(), "daemon still running");
}
