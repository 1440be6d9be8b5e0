//! The daemon's counters in a form people and scripts can read.
//!
//! One line of space-separated `key=value` pairs, the request counters of the S3 client
//! followed by the cache counters of the filesystem:
//!
//! ```text
//! list_buckets=1 list=52 get=3 get_bytes=1048576 cache_hits=310 cache_misses=54 negative_hits=2 data_hits=40 data_fetches=3 data_bytes=1048576 data_evicted_bytes=0 prefetch_skipped=0 data_released_bytes=0
//! ```
//!
//! `cache_*` and `negative_hits` count metadata lookups; `data_*` count the block cache of
//! object bytes (`data_bytes` is what it holds now, fetched or in flight); `ahead_*` count
//! the small-file read-ahead (files and bytes fetched ahead, the bytes later opens used, and
//! the difference: wasted, or not opened yet); `nodes` is how many files and directories
//! the daemon holds an inode for now (the root included): the kernel keeps a reference to
//! each until it forgets it, so after `echo 2 > /proc/sys/vm/drop_caches` it falls back to
//! what is still open or in use.
//!
//! It is logged on SIGUSR1 and at unmount, and with `--stats-file F` written to F as well,
//! replaced whole (written to a temporary file beside it, then renamed) so a reader never
//! sees half a line. Keys are only ever added, at the end.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::Fs;
use crate::s3::Counters;

/// Where the counters come from and where they go.
pub struct Stats {
    requests: Arc<Counters>,
    fs: Arc<Fs>,
    file: Option<PathBuf>,
}

impl Stats {
    pub fn new(requests: Arc<Counters>, fs: Arc<Fs>, file: Option<PathBuf>) -> Self {
        Stats { requests, fs, file }
    }

    /// The current line.
    pub fn line(&self) -> String {
        let requests = self.requests.snapshot();
        format!(
            "{requests} {} {} {} head={} nodes={}",
            self.fs.cache_stats().line(),
            self.fs.data_cache().line(),
            self.fs.ahead_stats().line(),
            requests.head,
            self.fs.inode_count()
        )
    }

    /// Logs the line with `message`, and writes it to the stats file if there is one.
    pub fn report(&self, message: &str) {
        let line = self.line();
        tracing::info!(stats = %line, "{message}");
        if let Some(path) = &self.file {
            if let Err(err) = write_replacing(path, &line) {
                tracing::warn!(path = %path.display(), error = %err, "cannot write the stats file");
            }
        }
    }
}

/// Writes `line` to a new temporary file beside `path`, then renames it over `path`. The
/// temporary is created with `O_EXCL | O_NOFOLLOW`: a file or symbolic link already at its
/// name (planted by another user, or left by a crash) is never written through; the next
/// name is tried instead.
fn write_replacing(path: &Path, line: &str) -> std::io::Result<()> {
    let mut last = None;
    for attempt in 0..8 {
        let tmp = temp_name(path, attempt);
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        match created {
            Ok(mut file) => {
                let written = file
                    .write_all(format!("{line}\n").as_bytes())
                    .and_then(|()| std::fs::rename(&tmp, path));
                if written.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                return written;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

/// `PATH.tmp.PID`, then `PATH.tmp.PID.N`.
fn temp_name(path: &Path, attempt: u32) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    if attempt > 0 {
        tmp.push(format!(".{attempt}"));
    }
    PathBuf::from(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::Op;

    #[test]
    fn the_line_is_key_value_pairs_and_the_file_is_replaced() {
        let requests = Arc::new(Counters::default());
        let store = Arc::new(crate::s3::memory::MemoryStore::new());
        let fs = Arc::new(Fs::new(store, crate::fs::FsConfig::default()));
        requests.record(Op::List);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats");
        let stats = Stats::new(requests.clone(), fs, Some(path.clone()));
        stats.report("test");
        requests.record(Op::List);
        stats.report("test");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        let pairs: Vec<(&str, u64)> = text
            .split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k, v.parse().unwrap())
            })
            .collect();
        assert!(pairs.contains(&("list", 2)) && pairs.contains(&("cache_hits", 0)));
        assert!(pairs.iter().any(|(k, _)| *k == "cache_misses"));
        assert!(pairs.contains(&("data_bytes", 0)));
        assert!(pairs.contains(&("ahead_wasted_bytes", 0)));
        assert!(pairs.contains(&("head", 0)));
        assert_eq!(
            pairs.last(),
            Some(&("nodes", 1)),
            "the last key: the root alone"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn a_link_planted_at_the_temporary_name_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        std::os::unix::fs::symlink(&victim, temp_name(&path, 0)).unwrap();
        write_replacing(&path, "list=1").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "list=1\n");
        assert!(
            std::fs::symlink_metadata(temp_name(&path, 0))
                .unwrap()
                .file_type()
                .is_symlink(),
            "the planted link is left alone"
        );
    }
}
