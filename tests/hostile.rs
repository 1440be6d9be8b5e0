//! The mount against an S3 that misbehaves on purpose (`tests/support/hostile_s3.rs`): a
//! wrong Content-Range, a 200 with the whole object for a middle range, another ETag than
//! the pinned one, and listings that never end. Reads fail with EIO and never return a
//! wrong byte; `ls` fails with EIO and does not hang. Cognito still goes to the emulator.

mod common;

#[path = "support/hostile_s3.rs"]
mod hostile_s3;

use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{Emulator, Mounted};
use hostile_s3::{byte_at, HostileS3, SIZE};

/// The largest listing cache the test allows: its page bound is then 110 pages.
const MAX_ENTRIES: &str = "1000";

fn mount(emu: &Emulator, s3: &str) -> Mounted {
    let mut cmd = emu.command("mount", "alice");
    cmd.env("AWS_ENDPOINT_URL_S3", s3)
        .args(emu.auth_args("alice"));
    let extra = [
        "--bucket",
        "hb",
        "--request-timeout",
        "1",
        "--max-cached-entries",
        MAX_ENTRIES,
    ];
    Mounted::start_with(&mut cmd, &extra).unwrap_or_else(|o| panic!("{o:?}"))
}

/// Reads `len` bytes at `offset`: the bytes, or the errno.
fn read_at(path: &Path, offset: u64, len: usize) -> Result<Vec<u8>, i32> {
    let file = std::fs::File::open(path).map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let mut buf = vec![0u8; len];
    let n = file
        .read_at(&mut buf, offset)
        .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    buf.truncate(n);
    Ok(buf)
}

fn expected(offset: u64, len: usize) -> Vec<u8> {
    (offset..offset + len as u64).map(byte_at).collect()
}

/// What `ls` gets: the names it read before the first error, and that error's errno.
fn ls(dir: &Path) -> (Vec<String>, Option<i32>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return (Vec::new(), e.raw_os_error()),
    };
    let mut names = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => names.push(e.file_name().to_string_lossy().into_owned()),
            Err(e) => return (names, e.raw_os_error()),
        }
    }
    (names, None)
}

#[test]
fn a_hostile_server_gets_eio_never_wrong_bytes_nor_a_hang() {
    let emu = Emulator::start();
    let s3 = HostileS3::default();
    let mnt = mount(&emu, &s3.start());
    let hb = mnt.path.join("hb");
    let (names, err) = ls(&hb);
    assert_eq!(err, None);
    assert_eq!(names.len(), 7, "{names:?}");

    // Offsets at the start, in the middle (past the whole-object read of small files) and
    // at the end.
    let reads = [(0, 4096), (SIZE / 2 + 12345, 70_000), (SIZE - 1000, 1000)];
    for (offset, len) in reads {
        assert_eq!(
            read_at(&hb.join("good.bin"), offset, len),
            Ok(expected(offset, len)),
            "the server answers right when it means to"
        );
    }
    for key in ["wrong-range.bin", "ignores-range.bin", "other-etag.bin"] {
        for (offset, len) in reads {
            let got = read_at(&hb.join(key), offset, len);
            assert_eq!(got, Err(libc::EIO), "{key} at {offset}");
        }
    }
    // Another range can be a proxy's mistake and is retried, within the request timeout;
    // the whole object or another version would come again, and is not.
    let retried = s3.requests("wrong-range.bin");
    let (whole, other) = (
        s3.requests("ignores-range.bin"),
        s3.requests("other-etag.bin"),
    );
    assert!(retried > 3 && retried < 100, "{retried} GETs");
    assert!(
        whole < retried && other < retried,
        "{whole} and {other} GETs"
    );

    // Listings that never end: EIO after the first page of a cycle or a page that goes
    // back, and after the page bound for empty pages.
    for (dir, pages) in [
        ("same-token", 2..=2),
        ("new-tokens", 2..=2),
        ("empty-pages", 110..=110),
    ] {
        let (names, err) = ls(&hb.join(dir));
        assert_eq!(err, Some(libc::EIO), "{dir}: {names:?}");
        assert!(names.len() <= 1, "{dir}: {names:?}");
        let asked = s3.requests(&format!("{dir}/"));
        assert!(pages.contains(&asked), "{dir}: {asked} pages");
        let (again, _) = ls(&hb.join(dir));
        assert!(again.len() <= 1, "{dir} again: {again:?}");
        assert_eq!(
            s3.requests(&format!("{dir}/")),
            asked,
            "a failed listing asks no more"
        );
    }
    // Logged, but not once per failure: repeats of one kind are thinned (src/fs/quiet.rs).
    let log = mnt.log_text();
    let lines = |dir: &str| {
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains(&format!("s3://hb/{dir}/")))
            .count()
    };
    assert!(
        lines("same-token") >= 1,
        "the first failure is logged\n{log}"
    );
    let all: usize = ["same-token", "new-tokens", "empty-pages"]
        .iter()
        .map(|d| lines(d))
        .sum();
    assert!(
        (1..=6).contains(&all),
        "{all} lines for six failed listings\n{log}"
    );
    assert!(mnt.unmount_and_wait(), "the daemon did not exit");
}
