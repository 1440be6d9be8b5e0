//! Secrets: passwords, tokens and client secrets.
//!
//! A [`Secret`] is wiped from memory when dropped and prints as `[redacted]` in `Debug` and
//! `Display`, so a secret can be held in any struct without a stray `{:?}` leaking it. The
//! only way to see the value is [`Secret::expose`], which makes every use easy to audit.

use std::fmt;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use zeroize::Zeroizing;

/// A secret string, zeroed on drop, redacted when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret's value. Every caller is a place the secret leaves this type.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretInputError {
    #[error("cannot read {what} from {path}: {source}")]
    File {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{what} file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen {
        what: &'static str,
        path: String,
        mode: u32,
    },
    #[error("{what} file {path} is a symbolic link; give the file itself")]
    Symlink { what: &'static str, path: String },
    #[error("{what} file {path} is not a regular file")]
    NotRegular { what: &'static str, path: String },
    #[error("{what} file {path} belongs to uid {owner}, not to you or root")]
    WrongOwner {
        what: &'static str,
        path: String,
        owner: u32,
    },
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is not valid UTF-8")]
    NotUtf8 { what: &'static str },
    #[error("the first line of the {what} is longer than {MAX_SECRET_LEN} bytes")]
    TooLong { what: &'static str },
    #[error("cannot read {what} from standard input: {source}")]
    Stdin {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot prompt for {what}: no terminal ({source}); use --password-file, --password-stdin or COGNITO_S3FS_PASSWORD")]
    NoTerminal {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("the two new passwords differ")]
    Mismatch,
}

/// The longest first line a secret file or standard input may give.
pub const MAX_SECRET_LEN: usize = 4096;

/// Strips one trailing newline (`\n` or `\r\n`), should a prompt return one.
fn strip_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

fn non_empty(what: &'static str, s: String) -> Result<Secret, SecretInputError> {
    let secret = Secret::new(s);
    if secret.is_empty() {
        return Err(SecretInputError::Empty { what });
    }
    Ok(secret)
}

/// A secret from raw bytes, moved (not copied) into the [`Secret`]; the bytes are wiped
/// whatever the outcome.
pub fn secret_from_bytes(
    what: &'static str,
    mut bytes: Zeroizing<Vec<u8>>,
) -> Result<Secret, SecretInputError> {
    if std::str::from_utf8(&bytes).is_err() {
        return Err(SecretInputError::NotUtf8 { what });
    }
    let owned = std::mem::take(&mut *bytes);
    match String::from_utf8(owned) {
        Ok(text) => non_empty(what, text),
        // Checked above; the bytes are wiped on this path too.
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(SecretInputError::NotUtf8 { what })
        }
    }
}

/// Why a first line could not be read.
enum LineError {
    Io(std::io::Error),
    TooLong,
}

/// Reads up to the first newline, one byte per `read`, so that nothing past the line is
/// consumed and no buffer outside the returned one ever holds the secret. The newline (and a
/// `\r` before it) is not returned.
fn read_first_line(source: &mut impl Read) -> Result<Zeroizing<Vec<u8>>, LineError> {
    // Allocated once at full size: a growing Vec would leave copies in the memory it frees.
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_SECRET_LEN));
    let mut byte = Zeroizing::new([0u8; 1]);
    loop {
        match source.read(&mut byte[..]) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if line.len() == MAX_SECRET_LEN => return Err(LineError::TooLong),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LineError::Io(e)),
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// Reads a secret from the first line of a file that only its owner may read.
///
/// The file is opened once, without following a symbolic link (and without blocking on a
/// FIFO), and the checks are made on the open file (`fstat`), so the file that is checked is
/// the file that is read: a regular file, owned by the caller or root, with no group or
/// other permission bits.
pub fn read_secret_file(what: &'static str, path: &Path) -> Result<Secret, SecretInputError> {
    let shown = path.display().to_string();
    let file_err = |source: std::io::Error| match source.raw_os_error() {
        Some(libc::ELOOP) => SecretInputError::Symlink {
            what,
            path: shown.clone(),
        },
        _ => SecretInputError::File {
            what,
            path: shown.clone(),
            source,
        },
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(file_err)?;
    check_private(what, &shown, &file.metadata().map_err(file_err)?)?;
    let line = read_first_line(&mut file).map_err(|e| match e {
        LineError::Io(source) => file_err(source),
        LineError::TooLong => SecretInputError::TooLong { what },
    })?;
    secret_from_bytes(what, line)
}

/// A regular file, owned by the caller or root, with no group or other bits.
fn check_private(
    what: &'static str,
    shown: &str,
    meta: &std::fs::Metadata,
) -> Result<(), SecretInputError> {
    if !meta.is_file() {
        return Err(SecretInputError::NotRegular {
            what,
            path: shown.to_owned(),
        });
    }
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(SecretInputError::WrongOwner {
            what,
            path: shown.to_owned(),
            owner: meta.uid(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretInputError::TooOpen {
            what,
            path: shown.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Reads a secret as the first line of standard input, straight from the descriptor:
/// Rust's `stdin()` buffer would keep the bytes for the life of the process.
pub fn read_secret_stdin(what: &'static str) -> Result<Secret, SecretInputError> {
    let stdin_err = |source| SecretInputError::Stdin { what, source };
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(stdin_err)?;
    let line = read_first_line(&mut std::fs::File::from(fd)).map_err(|e| match e {
        LineError::Io(source) => stdin_err(source),
        LineError::TooLong => SecretInputError::TooLong { what },
    })?;
    secret_from_bytes(what, line)
}

/// Prompts on the terminal without echo.
pub fn prompt_secret(what: &'static str, prompt: &str) -> Result<Secret, SecretInputError> {
    let text = rpassword::prompt_password(prompt)
        .map_err(|source| SecretInputError::NoTerminal { what, source })?;
    non_empty(what, strip_newline(text))
}

/// Prompts twice for a new password and checks both agree.
pub fn prompt_new_password() -> Result<Secret, SecretInputError> {
    let what = "new password";
    let first = prompt_secret(what, "Cognito requires a new password. New password: ")?;
    let second = prompt_secret(what, "Repeat new password: ")?;
    if first != second {
        return Err(SecretInputError::Mismatch);
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn private_file(dir: &Path, text: &str) -> std::path::PathBuf {
        let path = dir.join("pw");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secret_file_must_be_private_and_loses_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = private_file(dir.path(), "pa ss\n");
        assert_eq!(
            read_secret_file("password", &path).unwrap().expose(),
            "pa ss"
        );
        for mode in [0o644, 0o640, 0o604, 0o610] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = read_secret_file("password", &path).unwrap_err();
            assert!(err.to_string().contains("chmod 600"), "{mode:o}: {err}");
        }
    }

    #[test]
    fn only_the_first_line_of_a_secret_file_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = private_file(dir.path(), "first\r\nsecond line\n");
        assert_eq!(
            read_secret_file("password", &path).unwrap().expose(),
            "first"
        );
        let path = private_file(dir.path(), "no newline at all");
        assert_eq!(
            read_secret_file("password", &path).unwrap().expose(),
            "no newline at all"
        );
    }

    #[test]
    fn a_symlink_to_a_private_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = private_file(dir.path(), "secret\n");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = read_secret_file("password", &link).unwrap_err();
        assert!(matches!(err, SecretInputError::Symlink { .. }), "{err}");
    }

    #[test]
    fn a_directory_is_refused_as_not_regular() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = read_secret_file("password", &sub).unwrap_err();
        assert!(matches!(err, SecretInputError::NotRegular { .. }), "{err}");
    }

    /// The tests run as root (they mount through FUSE), so a file of uid 65534 belongs to
    /// someone else.
    #[test]
    fn a_file_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = private_file(dir.path(), "secret\n");
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let err = read_secret_file("password", &path).unwrap_err();
        assert!(
            matches!(err, SecretInputError::WrongOwner { owner: 65534, .. }),
            "{err}"
        );
    }

    #[test]
    fn empty_or_overlong_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = private_file(dir.path(), "\n");
        assert!(matches!(
            read_secret_file("password", &path),
            Err(SecretInputError::Empty { .. })
        ));
        let path = private_file(dir.path(), &"x".repeat(MAX_SECRET_LEN + 1));
        assert!(matches!(
            read_secret_file("password", &path),
            Err(SecretInputError::TooLong { .. })
        ));
    }

    #[test]
    fn the_first_line_is_read_without_consuming_the_rest() {
        let (mut reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
        writer.write_all(b"pw-line\nthe rest").unwrap();
        drop(writer);
        let line = read_first_line(&mut reader).ok().unwrap();
        assert_eq!(&line[..], b"pw-line");
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "the rest");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused() {
        let err = secret_from_bytes("password", Zeroizing::new(vec![b'p', 0xff])).unwrap_err();
        assert!(matches!(err, SecretInputError::NotUtf8 { .. }), "{err}");
        let ok = secret_from_bytes("password", Zeroizing::new(b"pw\n".to_vec())).unwrap();
        assert_eq!(
            ok.expose(),
            "pw\n",
            "an environment value is taken as it is"
        );
    }
}
