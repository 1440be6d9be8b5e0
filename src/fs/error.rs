//! Filesystem errors and the one mapping from every error to an errno.

use crate::s3::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("read-only file system")]
    ReadOnly,
    #[error("unknown file handle")]
    BadHandle,
    /// No extended attribute of that name (or, for a directory, none at all).
    #[error("no such attribute")]
    NoAttribute,
    #[error("the object changed since this file was looked up or opened; reopen it to read the new version")]
    Superseded,
    #[error("{context}: {source}")]
    Store {
        context: String,
        #[source]
        source: StoreError,
    },
}

impl FsError {
    pub fn store(context: impl Into<String>, source: StoreError) -> Self {
        FsError::Store {
            context: context.into(),
            source,
        }
    }

    /// What went wrong, without the details (see [`super::quiet`]).
    pub fn kind(&self) -> &'static str {
        match self {
            FsError::NotFound => "not found",
            FsError::NotDir => "not a directory",
            FsError::IsDir => "is a directory",
            FsError::ReadOnly => "read-only",
            FsError::BadHandle => "bad handle",
            FsError::NoAttribute => "no attribute",
            FsError::Superseded => "superseded",
            FsError::Store { source, .. } => source.kind(),
        }
    }

    /// The errno the kernel gets. Every mapping lives in this one `match`.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound => libc::ENOENT,
            FsError::NotDir => libc::ENOTDIR,
            FsError::IsDir => libc::EISDIR,
            FsError::ReadOnly => libc::EROFS,
            FsError::BadHandle => libc::EBADF,
            FsError::NoAttribute => libc::ENODATA,
            FsError::Superseded => libc::ESTALE,
            FsError::Store { source, .. } => match source {
                StoreError::NoSuchKey | StoreError::NoSuchBucket => libc::ENOENT,
                StoreError::AccessDenied
                | StoreError::ExpiredToken
                | StoreError::NoCredentials(_)
                | StoreError::Archived => libc::EACCES,
                StoreError::PreconditionFailed => libc::ESTALE,
                StoreError::Throttled
                | StoreError::ShortBody { .. }
                | StoreError::Unavailable(_)
                | StoreError::BadAnswer { .. }
                | StoreError::Other(_) => libc::EIO,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_the_errno_users_expect() {
        let e = |s| FsError::store("t", s).errno();
        assert_eq!(e(StoreError::NoSuchKey), libc::ENOENT);
        assert_eq!(e(StoreError::AccessDenied), libc::EACCES);
        assert_eq!(e(StoreError::PreconditionFailed), libc::ESTALE);
        assert_eq!(e(StoreError::Throttled), libc::EIO);
        assert_eq!(
            e(StoreError::ShortBody {
                got: 1,
                expected: 2
            }),
            libc::EIO
        );
        for transient in [true, false] {
            let detail = "another range".into();
            assert_eq!(e(StoreError::BadAnswer { detail, transient }), libc::EIO);
        }
        assert_eq!(FsError::ReadOnly.errno(), libc::EROFS);
    }
}
