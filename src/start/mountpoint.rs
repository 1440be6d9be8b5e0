//! The mountpoint checks made before signing in: a directory, not already mounted.

use std::path::{Path, PathBuf};

/// The canonical path of `path`, if it can be mounted on.
pub fn check(path: &Path) -> Result<PathBuf, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("mountpoint {}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Err(format!("mountpoint {} is not a directory", path.display()));
    }
    if is_mounted(path) {
        return Err(format!(
            "{} is already a mountpoint; unmount it first (fusermount3 -u {})",
            path.display(),
            path.display()
        ));
    }
    path.canonicalize()
        .map_err(|e| format!("mountpoint {}: {e}", path.display()))
}

/// Whether something is mounted at `path` (per /proc/self/mountinfo).
fn is_mounted(path: &Path) -> bool {
    let Ok(canon) = path.canonicalize() else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy().replace(' ', "\\040");
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m == want)
}
