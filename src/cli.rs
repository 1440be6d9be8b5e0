//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Log in through Amazon Cognito and mount Amazon S3 read-only.
///
/// Every bucket appears as a directory, every object as a file. Reads become ranged GetObject
/// calls, and the temporary AWS credentials from the identity pool are refreshed in the
/// background for as long as the mount lives.
#[derive(Debug, Parser)]
#[command(name = "cognito-s3fs", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and mount S3 read-only at MOUNTPOINT.
    Mount(Box<MountArgs>),
    /// Run the login chain once and print the identity id and when the credentials expire.
    Login(Box<LoginArgs>),
}

/// Where Cognito is and who logs in.
///
/// Give all four of --user-pool-id, --client-id, --identity-pool-id and --username to log in
/// through Cognito. With none of them, `mount` takes credentials from the AWS SDK's standard
/// chain (environment, profile, SSO, instance role) instead.
#[derive(Debug, Args, Clone)]
pub struct CognitoArgs {
    /// AWS region of the user pool and identity pool [default: AWS_REGION, else the region
    /// prefix of the user pool id].
    #[arg(long, value_name = "R", help_heading = "Cognito")]
    pub region: Option<String>,

    /// User pool id, e.g. us-east-1_AbCdEf123.
    #[arg(long, value_name = "P", help_heading = "Cognito")]
    pub user_pool_id: Option<String>,

    /// App client id of the user pool.
    #[arg(long, value_name = "C", help_heading = "Cognito")]
    pub client_id: Option<String>,

    /// Identity pool id, e.g. us-east-1:1234abcd-....
    #[arg(long, value_name = "I", help_heading = "Cognito")]
    pub identity_pool_id: Option<String>,

    /// User name to log in as.
    #[arg(long, value_name = "U", help_heading = "Cognito")]
    pub username: Option<String>,

    /// Read the password from this file (first line; must not be readable by others).
    /// Without it or --password-stdin: COGNITO_S3FS_PASSWORD, else a prompt on the terminal.
    #[arg(
        long,
        value_name = "F",
        conflicts_with = "password_stdin",
        help_heading = "Cognito"
    )]
    pub password_file: Option<PathBuf>,

    /// Read the password from the first line of standard input.
    #[arg(long, help_heading = "Cognito")]
    pub password_stdin: bool,

    /// Read the app client's secret from this file, for app clients that have one
    /// (SECRET_HASH is then sent with every call).
    #[arg(long, value_name = "F", help_heading = "Cognito")]
    pub client_secret_file: Option<PathBuf>,

    /// How to sign in. `auto` uses USER_SRP_AUTH (the password never leaves the machine),
    /// then USER_AUTH, then USER_PASSWORD_AUTH, moving on only when Cognito answers that a
    /// flow is not enabled for the app client (one info line each).
    #[arg(
        long,
        value_enum,
        value_name = "FLOW",
        default_value = "auto",
        help_heading = "Cognito"
    )]
    pub auth_flow: AuthFlowArg,

    /// Get MFA codes (SOFTWARE_TOKEN_MFA, SMS_MFA, EMAIL_OTP, and SMS_OTP) from this
    /// command, run with `sh -c`: the first line it prints is the code (e.g. `oathtool
    /// --totp -b SEED`, a password manager). Without it, the code is asked for on the
    /// terminal; with neither, the login fails at once. The daemon's re-logins use it too.
    /// A user who must set up MFA first (MFA_SETUP) enrols an authenticator app on the
    /// terminal: a QR code is shown, and the app's code is asked for.
    #[arg(long, value_name = "CMD", help_heading = "Cognito")]
    pub mfa_code_command: Option<String>,

    /// Sign in with a one-time code sent by email or SMS instead of a password (USER_AUTH,
    /// for passwordless users; no password is asked for). The code is read like an MFA
    /// code: from --mfa-code-command, else the terminal.
    #[arg(long, value_enum, value_name = "OTP", help_heading = "Cognito")]
    pub first_factor: Option<FirstFactorArg>,

    /// Which MFA factor to use when the user has several and Cognito asks (SELECT_MFA_TYPE).
    /// Without it, the choice is asked on the terminal.
    #[arg(long, value_enum, value_name = "TYPE", help_heading = "Cognito")]
    pub mfa_type: Option<MfaTypeArg>,

    /// Answer a NEW_PASSWORD_REQUIRED challenge (first login with a temporary password) with
    /// the password in this file. Without it, the new password is asked for on the terminal.
    #[arg(long, value_name = "F", help_heading = "Cognito")]
    pub new_password_file: Option<PathBuf>,

    /// The IAM role to get credentials for, when the identity pool chooses roles from the
    /// token and the user's groups give several (the IdToken's `cognito:roles`); sent as
    /// CustomRoleArn. A role the token does not list fails with the roles it does list.
    /// Required with `--identity-flow basic`.
    #[arg(long, value_name = "ARN", help_heading = "Identity pool")]
    pub role_arn: Option<String>,

    /// How the identity pool hands out credentials. `enhanced`: GetCredentialsForIdentity.
    /// `basic` (the classic flow, if the pool allows it): GetOpenIdToken, then STS
    /// AssumeRoleWithWebIdentity with --role-arn. Both are refreshed before they expire.
    #[arg(
        long,
        value_enum,
        value_name = "FLOW",
        default_value = "enhanced",
        help_heading = "Identity pool"
    )]
    pub identity_flow: IdentityFlowArg,

    /// How long the basic flow's credentials last (DurationSeconds): 900 to 43200 seconds,
    /// or with a unit: 15m, 1h, 12h [default: STS's, one hour]. The role's maximum session
    /// duration must allow it.
    #[arg(long, value_name = "D", value_parser = parse_session_duration, help_heading = "Identity pool")]
    pub session_duration: Option<Duration>,
}

/// `--identity-flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IdentityFlowArg {
    /// GetCredentialsForIdentity.
    Enhanced,
    /// GetOpenIdToken + STS AssumeRoleWithWebIdentity.
    Basic,
}

/// `--auth-flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthFlowArg {
    /// USER_SRP_AUTH, else USER_AUTH, else USER_PASSWORD_AUTH, as the app client allows.
    Auto,
    /// USER_SRP_AUTH only.
    Srp,
    /// USER_AUTH (choice-based sign-in): PASSWORD_SRP, else PASSWORD, or --first-factor.
    UserAuth,
    /// USER_PASSWORD_AUTH only.
    Password,
}

/// `--first-factor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FirstFactorArg {
    /// EMAIL_OTP.
    EmailOtp,
    /// SMS_OTP.
    SmsOtp,
}

/// `--mfa-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MfaTypeArg {
    /// An authenticator app (SOFTWARE_TOKEN_MFA).
    Totp,
    /// A code sent by SMS (SMS_MFA).
    Sms,
    /// A code sent by email (EMAIL_OTP).
    Email,
}

/// Where S3 (and Cognito) answer.
#[derive(Debug, Args, Clone)]
pub struct EndpointArgs {
    /// Send every AWS request to this endpoint (an S3-compatible server, or a local
    /// emulator) [default: the SDK's AWS_ENDPOINT_URL and per-service variables such as
    /// AWS_ENDPOINT_URL_S3].
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub endpoint_url: Option<String>,

    /// Address buckets as https://host/bucket instead of https://bucket.host. Turned on by
    /// itself when the endpoint is an IP address or localhost.
    #[arg(long, help_heading = "Endpoints")]
    pub force_path_style: bool,
}

#[derive(Debug, Args)]
pub struct MountArgs {
    /// Directory to mount on.
    pub mountpoint: PathBuf,

    #[command(flatten)]
    pub cognito: CognitoArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Show only this bucket at the root (repeat for more). Also the way to mount when
    /// ListBuckets is not allowed.
    #[arg(long = "bucket", value_name = "B", help_heading = "Filesystem")]
    pub buckets: Vec<String>,

    /// How long directory listings and attributes are trusted before S3 is asked again, in
    /// seconds, or `indefinite`. The kernel caches entries and attributes for as long. An
    /// object changed in S3 shows its new size and content to readers who open it after that.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_ttl, help_heading = "Filesystem")]
    pub metadata_ttl: Duration,

    /// How long one S3 request may take, retries included, before the read or listing
    /// fails with EIO.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds, help_heading = "Filesystem")]
    pub request_timeout: Duration,

    /// How long a name found missing is trusted to stay missing, in seconds, or `indefinite`.
    /// Short, so that a file created in S3 shows up soon.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_ttl, help_heading = "Filesystem")]
    pub negative_ttl: Duration,

    /// The most directory entries kept in the listing cache, over all directories; the
    /// least recently used listings are dropped past it (a cached entry takes about 150
    /// bytes).
    #[arg(
        long,
        value_name = "N",
        default_value = "1000000",
        help_heading = "Filesystem"
    )]
    pub max_cached_entries: usize,

    /// The memory the daemon stays under (sizes take K, M or G). File data, fetched and in
    /// flight, gets all of it but a reserve of 64 MiB for the daemon itself; past that the
    /// least recently used data is dropped, and when all of it is still arriving, reads wait.
    /// The listing cache is bounded on its own by --max-cached-entries.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size, help_heading = "Reading")]
    pub max_memory: u64,

    /// The kernel's read-ahead for this mount (set when running as root; 0 keeps the
    /// kernel's 128 KiB). Larger read-ahead means fewer, larger read requests.
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_size_or_zero, help_heading = "Reading")]
    pub kernel_readahead: u64,

    /// Keep the rest of a random read's block in the daemon's own cache (within
    /// --max-memory) instead of handing it to the kernel's page cache as it arrives.
    #[arg(long, help_heading = "Reading")]
    pub no_page_cache_push: bool,

    /// The largest single GET of a sequential reader.
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = parse_size, help_heading = "Reading")]
    pub part_size: u64,

    /// How many parts a sequential reader fetches at once, ahead of where it reads. Several
    /// sequential readers share that many, each keeping at least two.
    #[arg(long, value_name = "N", default_value = "6", value_parser = clap::value_parser!(u64).range(1..=64), help_heading = "Reading")]
    pub read_parallel: u64,

    /// What a random read fetches beyond the bytes it asks for.
    #[arg(long, value_name = "SIZE", default_value = "64K", value_parser = parse_size_or_zero, help_heading = "Reading")]
    pub random_readahead: u64,

    /// Objects smaller than this are fetched whole at their first read.
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_size_or_zero, help_heading = "Reading")]
    pub whole_object_below: u64,

    /// How many small files (below --whole-object-below) a process opening the files of a
    /// directory in listing order (`cat *`, `tar`) gets fetched ahead, at most; the depth
    /// grows while the guess is right and stops when it is wrong. 0 turns it off.
    #[arg(long, value_name = "N", default_value = "32", value_parser = clap::value_parser!(u64).range(0..=256), help_heading = "Reading")]
    pub small_files_ahead: u64,

    /// Let users other than the one who mounted see the files: every local user can then
    /// read every object unless --file-mode/--dir-mode narrow it (needs user_allow_other in
    /// /etc/fuse.conf when not root). Without it the kernel refuses every other user.
    #[arg(long, help_heading = "Filesystem")]
    pub allow_other: bool,

    /// Owner shown for every file [default: the mounting user].
    #[arg(long, value_name = "N", help_heading = "Filesystem")]
    pub uid: Option<u32>,

    /// Group shown for every file [default: the mounting user's group].
    #[arg(long, value_name = "N", help_heading = "Filesystem")]
    pub gid: Option<u32>,

    /// Permission bits of files, in octal.
    #[arg(long, value_name = "M", default_value = "0444", value_parser = parse_mode, help_heading = "Filesystem")]
    pub file_mode: u16,

    /// Permission bits of directories, in octal.
    #[arg(long, value_name = "M", default_value = "0555", value_parser = parse_mode, help_heading = "Filesystem")]
    pub dir_mode: u16,

    /// Show what S3 knows of each file as extended attributes (`getfattr -d FILE`):
    /// user.s3.etag, .size, .last_modified and .storage_class from the listing, and
    /// user.s3.content_type, which costs one HEAD the first time it is read. Off by
    /// default, so that `ls -l` asks nothing per file.
    #[arg(long, help_heading = "Filesystem")]
    pub xattrs: bool,

    /// Stay attached to the terminal and log to standard error instead of running as a
    /// daemon.
    #[arg(long, short = 'f', help_heading = "Process")]
    pub foreground: bool,

    /// Log at debug level (never secrets).
    #[arg(long, help_heading = "Process")]
    pub debug: bool,

    /// Append the log to this file, mode 0600, in a directory of yours (created 0700; not a
    /// symbolic link) [default: standard error with --foreground, else
    /// $XDG_STATE_HOME/cognito-s3fs/cognito-s3fs.log]. SIGHUP reopens it.
    #[arg(long, value_name = "F", help_heading = "Process")]
    pub log_file: Option<PathBuf>,

    /// Write the request and cache counters to this file on SIGUSR1 and at unmount: one line
    /// of space-separated key=value pairs, replaced whole each time.
    #[arg(long, value_name = "F", help_heading = "Process")]
    pub stats_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub cognito: CognitoArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Log at debug level to standard error (never secrets).
    #[arg(long)]
    pub debug: bool,
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    if s.eq_ignore_ascii_case("indefinite") {
        // About a century: "forever" for a mount, and still valid for the kernel's TTLs.
        return Ok(Duration::from_secs(100 * 365 * 24 * 3600));
    }
    s.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("'{s}' is neither a number of seconds nor 'indefinite'"))
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is not a positive number of seconds"))
}

/// A byte count such as `4096`, `64K`, `8M` or `1G` (powers of 1024).
fn parse_size_or_zero(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("'{s}' is not a size such as 4096, 64K, 8M or 1G")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("'{s}' is not a size such as 4096, 64K, 8M or 1G"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    match parse_size_or_zero(s)? {
        0 => Err(format!("'{s}' must be more than zero")),
        n => Ok(n),
    }
}

fn parse_mode(s: &str) -> Result<u16, String> {
    u16::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("'{s}' is not an octal mode such as 0444"))
}

/// A duration in seconds, or with a unit `s`, `m` or `h` (`900`, `15m`, `12h`).
fn parse_session_duration(text: &str) -> Result<Duration, String> {
    let (digits, unit) = match text
        .trim()
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
    {
        Some((at, _)) => text.trim().split_at(at),
        None => (text.trim(), "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?}: use seconds, or a number with s, m or h")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?}: use seconds, or a number with s, m or h"))?;
    Ok(Duration::from_secs(n.saturating_mul(scale)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn session_durations_take_seconds_or_a_unit() {
        let secs = |n| Ok(Duration::from_secs(n));
        assert_eq!(parse_session_duration("900"), secs(900));
        assert_eq!(parse_session_duration("15m"), secs(900));
        assert_eq!(parse_session_duration("12h"), secs(43_200));
        assert_eq!(parse_session_duration("90s"), secs(90));
        for bad in ["", "1d", "h", "1.5h", "-1"] {
            assert!(parse_session_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn modes_and_ttls_parse() {
        assert_eq!(parse_mode("0444"), Ok(0o444));
        assert_eq!(parse_mode("755"), Ok(0o755));
        assert!(parse_mode("999").is_err());
        assert_eq!(parse_ttl("5"), Ok(Duration::from_secs(5)));
        assert!(parse_ttl("indefinite").unwrap() > Duration::from_secs(1 << 30));
        assert!(parse_ttl("soon").is_err());
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert_eq!(parse_size_or_zero("0"), Ok(0));
        assert!(parse_size("8X").is_err());
        assert!(parse_size("M").is_err());
    }
}
