//! Secrets: passwords, tokens and client secrets.
//!
//! A [`Secret`] is wiped from memory when dropped and prints as `[redacted]` in `Debug` and
//! `Display`, so a secret can be held in any struct without a stray `{:?}` leaking it. The
//! only way to see the value is [`Secret::expose`], which makes every use easy to audit.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
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
    #[error("{what} is empty")]
    Empty { what: &'static str },
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

/// Strips one trailing newline (`\n` or `\r\n`), the way `echo pw > file` writes it.
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
    let secret = Secret::new(strip_newline(s));
    if secret.is_empty() {
        return Err(SecretInputError::Empty { what });
    }
    Ok(secret)
}

/// Reads a secret from a file that only its owner may read.
pub fn read_secret_file(what: &'static str, path: &Path) -> Result<Secret, SecretInputError> {
    let shown = path.display().to_string();
    let file_err = |source| SecretInputError::File {
        what,
        path: shown.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(file_err)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 && meta.is_file() {
        return Err(SecretInputError::TooOpen {
            what,
            path: shown,
            mode,
        });
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(file_err)?;
    non_empty(what, text)
}

/// Reads a secret as the first line of standard input.
pub fn read_secret_stdin(what: &'static str) -> Result<Secret, SecretInputError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|source| SecretInputError::Stdin { what, source })?;
    non_empty(what, line)
}

/// Prompts on the terminal without echo.
pub fn prompt_secret(what: &'static str, prompt: &str) -> Result<Secret, SecretInputError> {
    let text = rpassword::prompt_password(prompt)
        .map_err(|source| SecretInputError::NoTerminal { what, source })?;
    non_empty(what, text)
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

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secret_file_must_be_private_and_loses_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "pa ss\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret_file("password", &path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_secret_file("password", &path).unwrap().expose(),
            "pa ss"
        );
    }

    #[test]
    fn empty_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            read_secret_file("password", &path),
            Err(SecretInputError::Empty { .. })
        ));
    }
}
