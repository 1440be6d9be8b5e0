//! What ends a listing that would never end: the checks one [`super::dir::DirListing`] makes
//! of the pages a server sends.
//!
//! A server (or a proxy) that always answers "truncated" used to make `ls` loop forever,
//! growing the listing's memory as it went. A listing now fails with EIO, logged once by the
//! reader that needed the page, when:
//! 1. A continuation token comes back a second time: the server is going round a cycle.
//! 2. A page goes back: its keys sort before the last key fed. S3 lists in key order, and
//!    the listing's lookups rely on it (see [`super::dir`], subtlety 2); a server that sends
//!    its first page again under new tokens is caught by this on its second page. A key
//!    equal to the last one fed (a common prefix repeated across a page boundary, which some
//!    servers send) is skipped instead.
//! 3. The listing holds more entries than the whole listing cache may
//!    (`--max-cached-entries`): it could not stay cached anyway, and one listing must not
//!    outgrow the bound all of them share.
//! 4. It has taken more pages than that many entries need. S3 fills its pages (1,000 entries)
//!    except in rare stretches (past many delete markers), so a hundredth of the entry
//!    bound, plus 100 pages of any size, is generous for a real server and ends a server
//!    that sends empty truncated pages under new tokens after a bounded number of requests
//!    (10,100 at the default bound).
//!
//! A listing that failed so stays failed: every later read of it answers the same error at
//! once, without a request, until the cache replaces it after the metadata TTL.

use std::collections::HashSet;

use crate::s3::StoreError;

/// How far one listing may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListBound {
    pub max_entries: usize,
    pub max_pages: u64,
}

impl ListBound {
    /// The bound for a listing cache of `max_entries` entries (subtleties 3 and 4).
    pub fn for_entries(max_entries: usize) -> Self {
        ListBound {
            max_entries,
            max_pages: 100 + max_entries as u64 / 100,
        }
    }
}

/// The tokens one listing has seen, and its failure once it failed.
#[derive(Debug, Default)]
pub struct ListGuard {
    tokens: HashSet<String>,
    broken: Option<StoreError>,
}

impl ListGuard {
    /// Whether another page may be asked for, after `pages` pages and `entries` entries.
    pub fn before_fetch(
        &mut self,
        bound: &ListBound,
        pages: u64,
        entries: usize,
    ) -> Result<(), StoreError> {
        if let Some(err) = &self.broken {
            return Err(err.clone());
        }
        if entries > bound.max_entries {
            return Err(self.fail(format!(
                "the listing passed {} entries, more than --max-cached-entries allows",
                bound.max_entries
            )));
        }
        if pages >= bound.max_pages {
            return Err(self.fail(format!(
                "the listing took {pages} pages for {entries} entries and still goes on"
            )));
        }
        Ok(())
    }

    /// Records the continuation token of a page just received (subtlety 1).
    pub fn check_token(&mut self, token: Option<&str>) -> Result<(), StoreError> {
        match token {
            Some(t) if !self.tokens.insert(t.to_owned()) => Err(self.fail(format!(
                "the continuation token {:?} came back a second time",
                t.escape_debug().to_string()
            ))),
            _ => Ok(()),
        }
    }

    /// Ends the listing with the error of a page that went back (subtlety 2).
    pub fn went_back(&mut self, key: &str, last: &str) -> StoreError {
        self.fail(format!(
            "the key {:?} came after {:?}: the listing went back",
            key.escape_debug().to_string(),
            last.escape_debug().to_string()
        ))
    }

    fn fail(&mut self, detail: String) -> StoreError {
        let err = StoreError::BadAnswer {
            detail: format!("{detail}; it would never end"),
            transient: false,
        };
        self.broken = Some(err.clone());
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_seen_twice_fails_the_listing_for_good() {
        let mut guard = ListGuard::default();
        let bound = ListBound::for_entries(1000);
        assert!(guard.check_token(Some("a")).is_ok());
        assert!(guard.check_token(Some("b")).is_ok());
        assert!(guard.check_token(None).is_ok());
        assert!(guard.check_token(Some("a")).is_err());
        assert!(guard.before_fetch(&bound, 2, 10).is_err(), "stays failed");
    }

    #[test]
    fn pages_and_entries_past_the_bound_end_the_listing() {
        let bound = ListBound::for_entries(1000);
        assert_eq!(bound.max_pages, 110);
        assert!(ListGuard::default().before_fetch(&bound, 109, 1000).is_ok());
        assert!(ListGuard::default().before_fetch(&bound, 110, 0).is_err());
        assert!(ListGuard::default().before_fetch(&bound, 1, 1001).is_err());
        assert_eq!(ListBound::for_entries(1_000_000).max_pages, 10_100);
    }
}
