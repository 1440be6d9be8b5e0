//! The one place where S3 keys become file names.
//!
//! A directory is a bucket plus a prefix ending in `/` (or the empty prefix). Listing it with
//! delimiter `/` yields objects (`prefix + rest`, where `rest` has no `/`) and common prefixes
//! (`prefix + rest + "/"`). Each becomes a child named `rest`, if `rest` is a usable file name.
//!
//! Semantics decisions (see SEMANTICS.md for examples):
//! - `rest` must be a valid name: not empty, not `.` or `..`, no NUL byte, at most 255
//!   bytes. Anything else is hidden, never an error for the whole listing.
//! - An object whose `rest` is empty is the directory's own marker (`a/b/` listed inside
//!   `a/b/`): it is not a child.
//! - A key ending in `/` shows up as a common prefix of its parent, so a marker is a
//!   directory even when nothing lies under it.
//! - A name that is both an object and a prefix is the directory; the object is hidden.
//! - Keys with an empty component (`a//b`) give an empty name at that level, so they are
//!   hidden: there is no path that could name them without ambiguity.

use std::fmt;

use crate::s3::ObjectInfo;

/// The longest file name Linux accepts.
pub const NAME_MAX: usize = 255;

/// A string that is a valid file name: non-empty, not `.` or `..`, no `/` or NUL, at most
/// [`NAME_MAX`] bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidName(Box<str>);

/// Why a key component is not a valid name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRejection {
    Empty,
    Dot,
    DotDot,
    Nul,
    Slash,
    TooLong,
}

impl fmt::Display for NameRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameRejection::Empty => "empty path component (a '//' in the key)",
            NameRejection::Dot => "component is '.'",
            NameRejection::DotDot => "component is '..'",
            NameRejection::Nul => "component contains a NUL byte",
            NameRejection::Slash => "component contains '/'",
            NameRejection::TooLong => "component is longer than 255 bytes",
        })
    }
}

impl ValidName {
    pub fn parse(component: &str) -> Result<ValidName, NameRejection> {
        match component {
            "" => Err(NameRejection::Empty),
            "." => Err(NameRejection::Dot),
            ".." => Err(NameRejection::DotDot),
            c if c.contains('\0') => Err(NameRejection::Nul),
            c if c.contains('/') => Err(NameRejection::Slash),
            c if c.len() > NAME_MAX => Err(NameRejection::TooLong),
            c => Ok(ValidName(c.into())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ValidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one listing entry of a directory is, as the filesystem sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Child {
    File(ValidName),
    Dir(ValidName),
    /// The directory's own marker object: not a child.
    SelfMarker,
    /// Not representable as a file name; the reason is logged once.
    Hidden(NameRejection),
}

/// Maps an object of the listing of `prefix` to a child.
pub fn object_child(prefix: &str, object: &ObjectInfo) -> Child {
    match object.key.strip_prefix(prefix) {
        Some("") => Child::SelfMarker,
        Some(rest) => match ValidName::parse(rest) {
            Ok(name) => Child::File(name),
            Err(why) => Child::Hidden(why),
        },
        None => Child::Hidden(NameRejection::Empty),
    }
}

/// Maps a common prefix of the listing of `prefix` to a child.
pub fn prefix_child(prefix: &str, common_prefix: &str) -> Child {
    let rest = common_prefix
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix('/'));
    match rest.map(ValidName::parse) {
        Some(Ok(name)) => Child::Dir(name),
        Some(Err(why)) => Child::Hidden(why),
        None => Child::Hidden(NameRejection::Empty),
    }
}

/// The prefix of a child directory.
pub fn child_prefix(prefix: &str, name: &ValidName) -> String {
    format!("{prefix}{}/", name.as_str())
}

/// The key of a child file.
pub fn child_key(prefix: &str, name: &ValidName) -> String {
    format!("{prefix}{}", name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size: 1,
            last_modified: std::time::SystemTime::UNIX_EPOCH,
            etag: None,
            storage_class: None,
        }
    }

    fn name(s: &str) -> ValidName {
        ValidName::parse(s).unwrap()
    }

    #[test]
    fn ordinary_keys_map_to_their_last_component() {
        assert_eq!(
            object_child("a/b/", &obj("a/b/c.txt")),
            Child::File(name("c.txt"))
        );
        assert_eq!(prefix_child("a/", "a/b/"), Child::Dir(name("b")));
        assert_eq!(
            object_child("", &obj("héllo 日本.txt")),
            Child::File(name("héllo 日本.txt"))
        );
    }

    #[test]
    fn a_marker_is_not_a_child_of_its_own_directory() {
        assert_eq!(object_child("a/b/", &obj("a/b/")), Child::SelfMarker);
    }

    #[test]
    fn unusable_components_are_hidden_with_a_reason() {
        assert_eq!(
            prefix_child("x/", "x//"),
            Child::Hidden(NameRejection::Empty)
        );
        assert_eq!(
            object_child("x/", &obj("x/.")),
            Child::Hidden(NameRejection::Dot)
        );
        assert_eq!(
            prefix_child("x/", "x/../"),
            Child::Hidden(NameRejection::DotDot)
        );
        assert_eq!(
            object_child("", &obj("a\0b")),
            Child::Hidden(NameRejection::Nul)
        );
        let long = "n".repeat(256);
        assert_eq!(
            object_child("", &obj(&long)),
            Child::Hidden(NameRejection::TooLong)
        );
        assert!(ValidName::parse(&"n".repeat(255)).is_ok());
    }

    #[test]
    fn child_paths_compose() {
        assert_eq!(child_prefix("a/", &name("b")), "a/b/");
        assert_eq!(child_key("", &name("f")), "f");
    }
}

/// The examples table of SEMANTICS.md, executed.
#[cfg(test)]
mod semantics_examples {
    use super::*;

    /// Unquotes a table cell: `"..."` with `\0` for NUL and `c{N}` for N copies of `c`.
    fn cell(text: &str) -> String {
        let inner = text
            .trim()
            .trim_matches('`')
            .trim_matches('"')
            .replace("\\0", "\0");
        match inner.split_once('{') {
            Some((c, rest)) if rest.ends_with('}') && c.chars().count() == 1 => {
                c.repeat(rest.trim_end_matches('}').parse().unwrap())
            }
            _ => inner,
        }
    }

    fn expected(text: &str) -> Child {
        let text = text.trim();
        if let Some(why) = text.strip_prefix("hidden: ") {
            return Child::Hidden(match why {
                "empty" => NameRejection::Empty,
                "." => NameRejection::Dot,
                ".." => NameRejection::DotDot,
                "NUL" => NameRejection::Nul,
                "too long" => NameRejection::TooLong,
                other => panic!("unknown reason {other}"),
            });
        }
        if text == "own marker" {
            return Child::SelfMarker;
        }
        let (kind, name) = text.split_once(' ').unwrap();
        let name = ValidName::parse(&cell(name)).unwrap();
        match kind {
            "file" => Child::File(name),
            "dir" => Child::Dir(name),
            other => panic!("unknown kind {other}"),
        }
    }

    #[test]
    fn semantics_examples() {
        let doc = include_str!("../../SEMANTICS.md");
        let rows = doc
            .split("## Examples")
            .nth(1)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("| `"));
        let mut checked = 0;
        for row in rows {
            let cols: Vec<&str> = row.trim_matches('|').split(" | ").collect();
            let prefix = cell(cols[0]);
            let (what, entry) = cols[1].trim().split_once(' ').unwrap();
            let entry = cell(entry);
            let got = match what {
                "object" => object_child(
                    &prefix,
                    &ObjectInfo {
                        key: entry.clone(),
                        size: 0,
                        last_modified: std::time::SystemTime::UNIX_EPOCH,
                        etag: None,
                        storage_class: None,
                    },
                ),
                "prefix" => prefix_child(&prefix, &entry),
                other => panic!("unknown entry kind {other}"),
            };
            assert_eq!(got, expected(cols[2]), "row: {row}");
            checked += 1;
        }
        assert!(checked >= 16, "only {checked} rows");
    }
}
