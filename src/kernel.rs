//! Settings of the kernel's side of the mount that the FUSE protocol cannot carry.
//!
//! The kernel offers a FUSE filesystem at most 128 KiB of read-ahead when it mounts it, and
//! the daemon may only lower that in its INIT reply. Raising it goes through the mount's
//! backing device in sysfs, which only root may write, and only once INIT is done (the INIT
//! reply would clamp it back). With 1 MiB, sequential readers send a quarter to an eighth of
//! the requests, each as large as the kernel allows.

use std::path::Path;

/// The `major:minor` device of the mount at `mountpoint`, from `/proc/self/mountinfo`.
pub fn mount_device(mountinfo: &str, mountpoint: &Path) -> Option<String> {
    let wanted = mountpoint.to_str()?;
    mountinfo.lines().rev().find_map(|line| {
        let mut fields = line.split(' ');
        let device = fields.nth(2)?;
        let point = fields.nth(1)?;
        (unescape(point) == wanted).then(|| device.to_string())
    })
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Sets the kernel's read-ahead for the mount at `mountpoint`; logs and goes on when it
/// cannot (not root, no sysfs).
pub fn set_read_ahead(mountpoint: &Path, kib: u32) {
    let result = std::fs::read_to_string("/proc/self/mountinfo").and_then(|info| {
        let device = mount_device(&info, mountpoint).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "mount not in mountinfo")
        })?;
        std::fs::write(
            format!("/sys/class/bdi/{device}/read_ahead_kb"),
            kib.to_string(),
        )
    });
    match result {
        Ok(()) => tracing::debug!(kib, "kernel read-ahead set"),
        Err(error) => {
            tracing::debug!(%error, "kernel read-ahead left at its default (needs root)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_device_of_a_mountpoint_even_with_spaces() {
        let info = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
97 30 0:45 / /tmp/my\\040mount rw,nosuid,nodev - fuse.cognito-s3fs cognito-s3fs ro
98 30 0:46 / /tmp/other rw - fuse.x x ro";
        assert_eq!(
            mount_device(info, Path::new("/tmp/my mount")).as_deref(),
            Some("0:45")
        );
        assert_eq!(mount_device(info, Path::new("/tmp/none")), None);
    }
}
