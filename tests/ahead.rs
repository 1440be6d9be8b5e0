//! The small-file read-ahead through the kernel: `cat *` of a directory of small files gets
//! the right bytes, with one GET per file and nothing fetched that was not read.

mod common;

use std::process::Command;

use common::{Emulator, Mounted};

const FILES: usize = 40;
const SIZE: usize = 16 * 1024;

/// File `i`'s bytes: its two-digit number, over and over.
fn content(i: usize) -> Vec<u8> {
    format!("{i:02}").into_bytes().repeat(SIZE / 2)
}

/// Puts `FILES` small objects under `alpha/many/` straight into the emulator.
fn seed(emu: &Emulator) {
    emu.with_s3(&format!(
        "for i in range({FILES}):\n    \
         s3.put_object(Bucket='alpha', Key=f'many/f{{i:02d}}', Body=f'{{i:02d}}'.encode() * {})",
        SIZE / 2
    ));
}

#[test]
fn cat_of_many_small_files_costs_one_get_each_and_wastes_nothing() {
    let emu = Emulator::start();
    seed(&emu);
    let stats = emu.dir.path().join("stats");
    let mut cmd = emu.command("mount", "alice");
    cmd.env("AWS_ENDPOINT_URL_S3", emu.get("proxy_endpoint"))
        .args(emu.auth_args("alice"));
    let mnt = Mounted::start_with(&mut cmd, &["--stats-file", stats.to_str().unwrap()])
        .unwrap_or_else(|o| panic!("{o:?}"));
    emu.reset_proxy_counts();
    // The shell's glob lists the directory; in the C locale it sorts names by bytes, as S3
    // lists them, and cat opens them in that order.
    let out = Command::new("sh")
        .args(["-c", "cat many/*"])
        .current_dir(mnt.path.join("alpha"))
        .env("LC_ALL", "C")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let want: Vec<u8> = (0..FILES).flat_map(content).collect();
    assert!(out.stdout == want, "cat's output differs from the objects");
    assert_eq!(
        emu.proxy_count("S3.GetObject"),
        FILES as u64,
        "one GET per file: {}",
        emu.proxy_counts()
    );
    assert!(mnt.unmount_and_wait(), "daemon still running");
    let line = std::fs::read_to_string(&stats).unwrap();
    let field = |name: &str| common::stats_field(&line, name);
    assert_eq!(
        field("ahead_files"),
        FILES as u64 - 2,
        "all but the first two were fetched ahead: {line}"
    );
    assert_eq!(field("ahead_wasted_bytes"), 0, "{line}");
}
