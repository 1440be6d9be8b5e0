//! Checks an answer to a ranged GET against what was asked, before a byte of its body is
//! used.
//!
//! A server, or a proxy in front of it, that ignores `Range` or `If-Match`, or answers for
//! another range, must give an error: never bytes that belong elsewhere in the file or to
//! another version of it.
//!
//! Subtleties:
//! 1. An answer with `Content-Range` (a 206) must say `bytes START-END/TOTAL` for exactly the
//!    range asked. END may fall short of it only where TOTAL says the object ends (S3 clamps
//!    a range past the end); callers never ask past the size they know, so the short body
//!    that follows is caught as a short body by the retry layer, not taken as the file's end.
//! 2. An answer without `Content-Range` is a 200: the whole object. It is data only for a
//!    range that starts at 0 and when the length says the object is no longer than asked.
//!    Without a length the body is read up to what was asked and one byte more is an error.
//! 3. When the answer names an ETag and the request was pinned to one, they must be the
//!    same: a server that ignores `If-Match` would otherwise hand over another version's
//!    bytes. Quotes and a weak `W/` marker are not part of the comparison: servers differ in
//!    how they quote, never in the tag itself.
//! 4. Another range is retried: a proxy or a connection that mixed answers up can get it
//!    right on a new attempt. The whole object for a part, or another version, is not: a
//!    server that ignores `Range` or `If-Match` does so every time, and each attempt would
//!    only cost a request.

use std::ops::Range;

use super::StoreError;

/// How many body bytes an answer to a GET of `asked` must have, or why it is no answer to
/// it. `content_range`, `etag` and `len` (`Content-Length`) are the answer's headers;
/// `pinned` is the ETag sent as `If-Match`.
pub fn check_range_answer(
    asked: &Range<u64>,
    content_range: Option<&str>,
    etag: Option<&str>,
    pinned: Option<&str>,
    len: Option<i64>,
) -> Result<u64, StoreError> {
    check_etag(etag, pinned)?;
    let served = match content_range {
        Some(header) => served_part(asked, header)?,
        None => served_whole(asked, len)?,
    };
    let want = served.end - served.start;
    match len {
        Some(len) if len != want as i64 => Err(mixed_up(format!(
            "Content-Range says {want} bytes, Content-Length {len}"
        ))),
        _ => Ok(want),
    }
}

fn check_etag(etag: Option<&str>, pinned: Option<&str>) -> Result<(), StoreError> {
    match (etag, pinned) {
        (Some(got), Some(want)) if bare(got) != bare(want) => Err(StoreError::BadAnswer {
            detail: format!("asked for version {want}, the server sent {got}: it ignored If-Match"),
            transient: false,
        }),
        _ => Ok(()),
    }
}

fn bare(etag: &str) -> &str {
    let etag = etag.trim();
    etag.strip_prefix("W/").unwrap_or(etag).trim_matches('"')
}

/// The range a 206 answer holds, if it is the one asked for (subtlety 1).
fn served_part(asked: &Range<u64>, header: &str) -> Result<Range<u64>, StoreError> {
    let wrong = || mixed_up(format!("asked for {asked:?}, the answer is {header:?}"));
    let (start, last, total) = parse_content_range(header).ok_or_else(wrong)?;
    let end = last + 1;
    let fits = total.is_none_or(|total| end <= total);
    let clamped = total.is_some_and(|total| end == total && total < asked.end);
    if start != asked.start || !fits || !(end == asked.end || clamped) {
        return Err(wrong());
    }
    Ok(start..end)
}

/// The range a 200 answer holds, if it is data for `asked` (subtlety 2).
fn served_whole(asked: &Range<u64>, len: Option<i64>) -> Result<Range<u64>, StoreError> {
    let whole = |len: String| StoreError::BadAnswer {
        detail: format!(
            "asked for {asked:?}, the server sent the whole object ({len} bytes): it ignored Range"
        ),
        transient: false,
    };
    match len {
        _ if asked.start != 0 => Err(whole(len.map_or("?".into(), |l| l.to_string()))),
        Some(len) if len < 0 => Err(mixed_up(format!("Content-Length {len}"))),
        Some(len) if len as u64 > asked.end => Err(whole(len.to_string())),
        Some(len) => Ok(0..len as u64),
        None => Ok(asked.clone()),
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`) as its numbers.
fn parse_content_range(header: &str) -> Option<(u64, u64, Option<u64>)> {
    let (range, total) = header.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (start, last) = range.split_once('-')?;
    let number = |s: &str| match s.bytes().all(|b| b.is_ascii_digit()) {
        true => s.parse::<u64>().ok(),
        false => None,
    };
    let (start, last) = (number(start)?, number(last)?);
    let total = match total {
        "*" => None,
        t => Some(number(t)?),
    };
    (start <= last).then_some((start, last, total))
}

fn mixed_up(detail: String) -> StoreError {
    StoreError::BadAnswer {
        detail,
        transient: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: &str = "\"abc\"";

    fn check(asked: Range<u64>, range: Option<&str>, len: Option<i64>) -> Result<u64, StoreError> {
        check_range_answer(&asked, range, Some(TAG), Some(TAG), len)
    }

    fn transient(result: Result<u64, StoreError>) -> bool {
        match result {
            Err(StoreError::BadAnswer { transient, .. }) => transient,
            other => panic!("not a bad answer: {other:?}"),
        }
    }

    #[test]
    fn a_206_for_exactly_the_range_asked_is_data() {
        assert_eq!(
            check(10..20, Some("bytes 10-19/100"), Some(10)).unwrap(),
            10
        );
        assert_eq!(check(10..20, Some("bytes 10-19/*"), None).unwrap(), 10);
        assert_eq!(
            check(0..100, Some("bytes 0-99/100"), Some(100)).unwrap(),
            100
        );
    }

    #[test]
    fn a_206_for_another_range_is_retried_never_data() {
        for header in [
            "bytes 0-9/100",    // another start
            "bytes 10-29/100",  // longer
            "bytes 10-18/100",  // shorter, though the object goes on
            "bytes 10-19/15",   // past the total it names
            "bytes 19-10/100",  // backwards
            "bytes 10-19",      // no total
            "items 10-19/100",  // another unit
            "bytes +10-19/100", // not plain digits
            "",
        ] {
            assert!(transient(check(10..20, Some(header), None)), "{header:?}");
        }
    }

    #[test]
    fn a_206_clamped_at_the_objects_end_is_data_of_that_length() {
        assert_eq!(
            check(90..120, Some("bytes 90-99/100"), Some(10)).unwrap(),
            10
        );
        assert!(transient(check(90..120, Some("bytes 90-99/200"), Some(10))));
    }

    #[test]
    fn a_length_other_than_the_content_range_says_is_retried() {
        assert!(transient(check(10..20, Some("bytes 10-19/100"), Some(11))));
    }

    #[test]
    fn a_200_is_data_only_for_a_range_from_0_the_object_fits_in() {
        assert_eq!(check(0..100, None, Some(100)).unwrap(), 100);
        assert_eq!(check(0..100, None, None).unwrap(), 100);
        assert_eq!(check(0..100, None, Some(40)).unwrap(), 40, "clamped");
        assert!(!transient(check(0..100, None, Some(1000))), "Range ignored");
        assert!(!transient(check(10..20, None, Some(20))), "a middle range");
        assert!(!transient(check(10..20, None, None)));
        assert!(transient(check(0..100, None, Some(-1))));
    }

    #[test]
    fn another_etag_than_the_pinned_one_is_never_data() {
        let other = check_range_answer(
            &(0..10),
            Some("bytes 0-9/10"),
            Some("\"x\""),
            Some(TAG),
            Some(10),
        );
        assert!(!transient(other));
        let same = ["abc", "W/\"abc\"", " \"abc\" "];
        for etag in same {
            let got =
                check_range_answer(&(0..10), Some("bytes 0-9/10"), Some(etag), Some(TAG), None);
            assert_eq!(got.unwrap(), 10, "{etag:?}");
        }
        let unpinned = check_range_answer(&(0..10), None, Some("\"x\""), None, Some(10));
        assert_eq!(unpinned.unwrap(), 10);
        let untagged = check_range_answer(&(0..10), None, None, Some(TAG), Some(10));
        assert_eq!(untagged.unwrap(), 10);
    }
}
