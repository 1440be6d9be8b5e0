//! What to mount: `s3://BUCKET/`, `s3://BUCKET/PREFIX/`, or the buckets of `--bucket`.
//!
//! Subtleties:
//! 1. A prefix is a directory: `s3://b/logs` mounts `logs/`, as `s3://b/logs/` does. A
//!    key `logs` itself (an object, not a directory) is outside the mount.
//! 2. An access point or Object Lambda access point ARN goes where the bucket goes
//!    (`s3://arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME/PREFIX/`); it is passed to the SDK
//!    unchanged, and the SDK sends the requests to the access point. The ARN holds a `/`,
//!    so the bucket part ends after the access point's name.
//! 3. An ARN cannot be shown as a directory at the root (a name cannot hold `/`), so
//!    `--bucket ARN` is refused with the form that works.

use super::SettingsError;
use crate::fs::Root;

/// The root of the mount one layer (the command line, or a profile) asks for: its source,
/// else its buckets, else `None`.
pub fn root_of(source: Option<&str>, buckets: &[String]) -> Result<Option<Root>, SettingsError> {
    if let Some(b) = buckets.iter().find(|b| b.contains('/')) {
        return Err(SettingsError::BucketArn(b.clone()));
    }
    match (source, buckets.is_empty()) {
        (Some(_), false) => Err(SettingsError::SourceAndBuckets),
        (Some(url), true) => parse(url).map(Some),
        (None, false) => Ok(Some(Root::Buckets(buckets.to_vec()))),
        (None, true) => Ok(None),
    }
}

/// `s3://BUCKET[/PREFIX]`.
pub fn parse(url: &str) -> Result<Root, SettingsError> {
    let not_url = || SettingsError::NotS3Url(url.to_owned());
    let rest = url.strip_prefix("s3://").ok_or_else(not_url)?;
    let (bucket, prefix) = split_bucket(rest);
    if bucket.is_empty() {
        return Err(not_url());
    }
    let prefix = match prefix.trim_start_matches('/') {
        "" => String::new(),
        p if p.ends_with('/') => p.to_owned(),
        p => format!("{p}/"),
    };
    Ok(Root::Prefix {
        bucket: bucket.to_owned(),
        prefix,
    })
}

/// The bucket (or ARN) and what follows it.
fn split_bucket(rest: &str) -> (&str, &str) {
    let end = if rest.starts_with("arn:") {
        arn_end(rest)
    } else {
        rest.find('/').unwrap_or(rest.len())
    };
    rest.split_at(end)
}

/// Where an access point ARN ends: after the name that follows `accesspoint/` (or `:`).
fn arn_end(rest: &str) -> usize {
    let Some(at) = rest.find("accesspoint") else {
        return rest.find('/').unwrap_or(rest.len());
    };
    let name = at + "accesspoint".len() + 1;
    if name >= rest.len() {
        return rest.len();
    }
    rest[name..].find('/').map_or(rest.len(), |i| name + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(bucket: &str, prefix: &str) -> Root {
        Root::Prefix {
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn urls_name_a_bucket_or_a_prefix_of_it() {
        assert_eq!(parse("s3://data"), Ok(prefix("data", "")));
        assert_eq!(parse("s3://data/"), Ok(prefix("data", "")));
        assert_eq!(
            parse("s3://data/logs/2024/"),
            Ok(prefix("data", "logs/2024/"))
        );
        assert_eq!(
            parse("s3://data/logs"),
            Ok(prefix("data", "logs/")),
            "a directory"
        );
    }

    #[test]
    fn access_point_arns_pass_through_unchanged() {
        let ap = "arn:aws:s3:us-east-1:123456789012:accesspoint/my-ap";
        assert_eq!(parse(&format!("s3://{ap}")), Ok(prefix(ap, "")));
        assert_eq!(
            parse(&format!("s3://{ap}/reports/")),
            Ok(prefix(ap, "reports/"))
        );
        let lambda = "arn:aws:s3-object-lambda:eu-west-1:123456789012:accesspoint/redact";
        assert_eq!(
            parse(&format!("s3://{lambda}/x/")),
            Ok(prefix(lambda, "x/"))
        );
        let colon = "arn:aws:s3:us-east-1:123456789012:accesspoint:my-ap";
        assert_eq!(parse(&format!("s3://{colon}/")), Ok(prefix(colon, "")));
    }

    #[test]
    fn refusals_say_what_works() {
        let said = |r: Result<Option<Root>, SettingsError>| r.unwrap_err().to_string();
        assert_eq!(
            said(root_of(Some("/srv/data"), &[])),
            "SOURCE must be s3://BUCKET/ or s3://BUCKET/PREFIX/, not '/srv/data'"
        );
        assert_eq!(
            said(root_of(Some("s3:///x"), &[])),
            "SOURCE must be s3://BUCKET/ or s3://BUCKET/PREFIX/, not 's3:///x'"
        );
        assert_eq!(
            said(root_of(Some("s3://a/"), &["b".into()])),
            "give what to mount either as s3://BUCKET/[PREFIX/] or with --bucket, not both"
        );
        let ap = "arn:aws:s3:us-east-1:1:accesspoint/ap";
        assert_eq!(
            said(root_of(None, &[ap.into()])),
            format!("--bucket {ap}: an access point ARN cannot be a directory name; mount it as s3://{ap}/")
        );
        assert_eq!(root_of(None, &[]), Ok(None));
    }
}
