//! Every default of a mount, defined once.
//!
//! The command line's `--help`, the settings function, the filesystem core's own defaults
//! ([`crate::fs::FsConfig::default`], [`crate::fs::ReadConfig::default`]) and the tests all
//! read them from here. Before December they lived in six places that disagreed (the
//! filesystem's cache got 512 MiB where the command line gave it 448).

use std::time::Duration;

/// `--metadata-ttl`: how long listings and attributes are trusted.
pub const METADATA_TTL: Duration = Duration::from_secs(60);
/// `--negative-ttl`: how long a missing name is trusted to stay missing.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// `--request-timeout`: one S3 request, retries included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `--max-cached-entries`: directory entries over all cached listings.
pub const MAX_CACHED_ENTRIES: usize = 1_000_000;
/// `--max-memory`: the memory the daemon stays under.
pub const MAX_MEMORY: u64 = 512 << 20;
/// What the daemon keeps for itself out of `--max-memory`: buffers, tasks, the runtime.
/// File data gets the rest.
pub const MEMORY_RESERVE: u64 = 64 << 20;
/// `--kernel-readahead`.
pub const KERNEL_READAHEAD: u64 = 1 << 20;
/// The kernel's own read-ahead, in effect when `--kernel-readahead 0` leaves it alone.
pub const KERNEL_OWN_READAHEAD: u64 = 128 << 10;
/// `--part-size`: the largest single GET of a sequential reader.
pub const PART_SIZE: u64 = 4 << 20;
/// `--read-parallel`: parts a sequential reader fetches at once.
pub const READ_PARALLEL: u64 = 12;
/// The first fetch of a read at the start of a file (not an option; at most a part).
pub const FIRST_WINDOW: u64 = 256 << 10;
/// `--random-readahead`.
pub const RANDOM_READAHEAD: u64 = 64 << 10;
/// `--whole-object-below`.
pub const WHOLE_OBJECT_BELOW: u64 = 1 << 20;
/// `--small-files-ahead`: small files fetched ahead of a process opening them in order.
pub const SMALL_FILES_AHEAD: u64 = 32;
/// `--identity-flow`.
pub const IDENTITY_FLOW: &str = "enhanced";
/// `--file-mode`.
pub const FILE_MODE: u16 = 0o444;
/// `--dir-mode`.
pub const DIR_MODE: u16 = 0o555;

/// The file data cache a `--max-memory` of `max_memory` leaves: all but the reserve.
pub const fn cache_memory(max_memory: u64) -> u64 {
    max_memory.saturating_sub(MEMORY_RESERVE)
}

/// The defaults as `--help` shows them, by argument id.
pub fn shown() -> Vec<(&'static str, String)> {
    use super::values::{show_mode, show_seconds, show_size};
    vec![
        ("auth_flow", "auto".into()),
        ("metadata_ttl", show_seconds(METADATA_TTL)),
        ("negative_ttl", show_seconds(NEGATIVE_TTL)),
        ("request_timeout", show_seconds(REQUEST_TIMEOUT)),
        ("max_cached_entries", MAX_CACHED_ENTRIES.to_string()),
        ("max_memory", show_size(MAX_MEMORY)),
        ("kernel_readahead", show_size(KERNEL_READAHEAD)),
        ("part_size", show_size(PART_SIZE)),
        ("read_parallel", READ_PARALLEL.to_string()),
        ("random_readahead", show_size(RANDOM_READAHEAD)),
        ("whole_object_below", show_size(WHOLE_OBJECT_BELOW)),
        ("small_files_ahead", SMALL_FILES_AHEAD.to_string()),
        ("identity_flow", IDENTITY_FLOW.into()),
        ("file_mode", show_mode(FILE_MODE)),
        ("dir_mode", show_mode(DIR_MODE)),
    ]
}
