//! Named profiles: options a mount starts from, kept in a TOML file.
//!
//! ```toml
//! [profiles.team]
//! source = "s3://team-data/reports/"
//! region = "eu-west-1"
//! user-pool-id = "eu-west-1_AbC"
//! ```
//!
//! The keys are the long flags of `mount` without their dashes, and take values written as
//! the flags take them (`metadata-ttl = 300`, `max-memory = "1G"`, `allow-other = true`).
//! Subtleties:
//! 1. A key the program does not know is an error naming the key, the profile and the
//!    file: a typo would otherwise be a setting silently not applied.
//! 2. A profile never holds a password. A `password` key is refused with a message saying
//!    what to write instead (a `password-file`, mode 0600); so is `password-stdin`, which
//!    means nothing in a file. A client secret or an MFA seed is named the same way, by
//!    `client-secret-file` and `mfa-code-command`.
//! 3. Paths are taken as written; write them absolute (a mount at boot runs from `/`).
//! 4. `profile add` appends a section to the file, so that comments and other profiles are
//!    kept as they are; the file is created mode 0600 in a directory created 0700.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::{
    CognitoArgs, ConfigFileArgs, EndpointArgs, FilesystemArgs, MountOptions, ProcessArgs,
    ProfileArgs, ReadingArgs,
};

/// One profile: every option of `mount`, in the file's form.
///
/// The groups are flattened here, one level: serde's `deny_unknown_fields` sees through one
/// level of `flatten`, not through two.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "kebab-case")]
struct Entry {
    /// `s3://BUCKET/[PREFIX/]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(flatten)]
    cognito: CognitoArgs,
    #[serde(flatten)]
    endpoint: EndpointArgs,
    #[serde(flatten)]
    filesystem: FilesystemArgs,
    #[serde(flatten)]
    reading: ReadingArgs,
    #[serde(flatten)]
    process: ProcessArgs,
}

/// One profile: every option of `mount`.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// What to mount, when the command line does not say.
    pub source: Option<String>,
    pub options: MountOptions,
}

impl From<Entry> for Profile {
    fn from(e: Entry) -> Self {
        Profile {
            source: e.source,
            options: MountOptions {
                cognito: e.cognito,
                endpoint: e.endpoint,
                filesystem: e.filesystem,
                reading: e.reading,
                process: e.process,
            },
        }
    }
}

impl From<&Profile> for Entry {
    fn from(p: &Profile) -> Self {
        let o = p.options.clone();
        Entry {
            source: p.source.clone(),
            cognito: o.cognito,
            endpoint: o.endpoint,
            filesystem: o.filesystem,
            reading: o.reading,
            process: o.process,
        }
    }
}

/// Why a profile could not be had, with the one line the user sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("no place for the config file: set XDG_CONFIG_HOME or HOME, or give --config")]
    NoConfigDir,
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "{}: profile {profile} holds a password; a profile never does: name a file that holds it with password-file = \"/path\" (mode 0600)",
        path.display()
    )]
    Password { path: PathBuf, profile: String },
    #[error("{}: no profile {name} (it has: {known})", path.display())]
    NoSuchProfile {
        path: PathBuf,
        name: String,
        known: String,
    },
    #[error("{}: profile {name} exists already; edit it there or choose another name", path.display())]
    Exists { path: PathBuf, name: String },
    #[error("'{0}' is not a profile name: use letters, digits, '-' and '_'")]
    BadName(String),
    #[error("cannot write {}: {reason}", path.display())]
    Unwritable { path: PathBuf, reason: String },
}

/// `$XDG_CONFIG_HOME/cognito-s3fs/config.toml`, else `~/.config/cognito-s3fs/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    crate::paths::xdg_dir("XDG_CONFIG_HOME", Some(".config")).map(|dir| dir.join("config.toml"))
}

/// The config file `--config` names, else the default one.
pub fn file_of(args: &ConfigFileArgs) -> Result<PathBuf, ProfileError> {
    args.config
        .clone()
        .or_else(default_path)
        .ok_or(ProfileError::NoConfigDir)
}

/// The profile `--profile` (or `COGNITO_S3FS_PROFILE`) names; none named, an empty one.
pub fn chosen(args: &ProfileArgs) -> Result<Profile, ProfileError> {
    let Some(name) = &args.profile else {
        return Ok(Profile::default());
    };
    let path = file_of(&args.file)?;
    let text = std::fs::read_to_string(&path).map_err(|e| ProfileError::Unreadable {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut profiles = parse(&path, &text)?;
    profiles
        .remove(name)
        .ok_or_else(|| ProfileError::NoSuchProfile {
            path,
            name: name.clone(),
            known: names_text(&profiles),
        })
}

fn names_text(profiles: &BTreeMap<String, Profile>) -> String {
    if profiles.is_empty() {
        return "no profiles".into();
    }
    profiles.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Every profile of the file's text. `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Profile>, ProfileError> {
    let invalid = |reason: String| ProfileError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let mut table: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    if let Some(key) = table.keys().find(|k| *k != "profiles") {
        return Err(invalid(format!(
            "unknown key `{key}` (profiles go in [profiles.NAME] tables)"
        )));
    }
    let Some(profiles) = table.remove("profiles") else {
        return Ok(BTreeMap::new());
    };
    let toml::Value::Table(profiles) = profiles else {
        return Err(invalid(
            "`profiles` must be a table of [profiles.NAME]".into(),
        ));
    };
    profiles
        .into_iter()
        .map(|(name, value)| Ok((name.clone(), one(path, &name, value)?)))
        .collect()
}

/// One profile's table, checked for a password first.
fn one(path: &Path, name: &str, value: toml::Value) -> Result<Profile, ProfileError> {
    if value.get("password").is_some() {
        return Err(ProfileError::Password {
            path: path.to_owned(),
            profile: name.to_owned(),
        });
    }
    value
        .try_into::<Entry>()
        .map(Profile::from)
        .map_err(|e| ProfileError::Invalid {
            path: path.to_owned(),
            reason: format!("profile {name}: {}", e.message()),
        })
}

/// The names of the file's profiles; no file, none.
pub fn list(path: &Path) -> Result<Vec<String>, ProfileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse(path, &text)?.into_keys().collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ProfileError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// The text `profile add` appends: a `[profiles.NAME]` table of the options given.
pub fn section(name: &str, profile: &Profile) -> Result<String, ProfileError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(ProfileError::BadName(name.to_owned()));
    }
    let body =
        toml::to_string(&Entry::from(profile)).map_err(|e| ProfileError::BadName(e.to_string()))?;
    Ok(format!("\n[profiles.{name}]\n{body}"))
}

/// Appends profile `name` to the file at `path`, creating it (0600, in a 0700 directory).
pub fn add(path: &Path, name: &str, profile: &Profile) -> Result<(), ProfileError> {
    if list(path)?.iter().any(|n| n == name) {
        return Err(ProfileError::Exists {
            path: path.to_owned(),
            name: name.to_owned(),
        });
    }
    let text = section(name, profile)?;
    let unwritable = |e: std::io::Error| ProfileError::Unwritable {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::paths::owned_dir(dir).map_err(unwritable)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(unwritable)
}

#[cfg(test)]
mod tests;
