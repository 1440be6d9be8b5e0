//! Where the daemon keeps its own files (log, config, status sockets), found the XDG way,
//! and the one rule for their directories: created `0700`, and refused when someone else
//! owns them, so another local user can neither read them nor plant files for us to use.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// `$VAR/cognito-s3fs`, else `$HOME/HOME_DIR/cognito-s3fs` when `home_dir` is given.
/// `None` when neither is set: a shared directory such as `/tmp` is no place for our files.
pub fn xdg_dir(var: &str, home_dir: Option<&str>) -> Option<PathBuf> {
    let nonempty = |v: std::ffi::OsString| (!v.is_empty()).then_some(v);
    let base = std::env::var_os(var)
        .and_then(nonempty)
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME").and_then(nonempty)?;
            Some(PathBuf::from(home).join(home_dir?))
        })?;
    Some(base.join("cognito-s3fs"))
}

/// Creates `dir` (and its parents) `0700` if missing, and requires it to be the user's own.
pub fn owned_dir(dir: &Path) -> std::io::Result<()> {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let owner = std::fs::metadata(dir)?.uid();
    if owner != me {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "its directory {} belongs to uid {owner}, not to you (uid {me})",
                dir.display()
            ),
        ));
    }
    Ok(())
}
