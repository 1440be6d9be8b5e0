//! The listing request budget, counted at the server: S3 goes through the emulator's
//! counting proxy (AWS_ENDPOINT_URL_S3) while Cognito talks to moto directly, so the proxy
//! sees exactly the S3 requests the mount sends.

mod common;

use std::path::Path;
use std::process::Command;

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
