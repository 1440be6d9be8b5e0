//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use serde::{Deserialize, Serialize};

use crate::settings::values::{
    parse_mode, parse_parallel, parse_seconds, parse_session_duration, parse_size,
    parse_size_or_zero, parse_small_files_ahead, parse_ttl, serde_as,
};

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
    #[command(override_usage = "cognito-s3fs mount [OPTIONS] [SOURCE] <MOUNTPOINT>")]
    Mount(Box<MountArgs>),
    /// Run the login chain once and print the identity id and when the credentials expire.
    Login(Box<LoginArgs>),
    /// Named profiles of the config file: options a mount starts from.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Show this user's running mounts: who is signed in, when the credentials and tokens
    /// expire, and the counters (asked of each daemon over its socket in $XDG_RUNTIME_DIR).
    Status(StatusArgs),
    /// Print the completion script for a shell, e.g.
    /// `cognito-s3fs completions bash > /etc/bash_completion.d/cognito-s3fs`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (cognito-s3fs.1, cognito-s3fs-mount.1, ...) into a directory,
    /// e.g. /usr/local/share/man/man1.
    Manual {
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
    },
}

/// `cognito-s3fs status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only the mount at this directory.
    pub mountpoint: Option<PathBuf>,
    /// Print each mount's answer as one line of JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cognito-s3fs profile ...`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Write a profile NAME to the config file from the mount options given (never a
    /// password: name a --password-file instead).
    Add(Box<ProfileAddArgs>),
    /// List the profiles of the config file.
    List {
        #[command(flatten)]
        file: ConfigFileArgs,
    },
}

/// `cognito-s3fs profile add`.
#[derive(Debug, Args)]
pub struct ProfileAddArgs {
    /// The profile's name: letters, digits, `-` and `_`.
    pub name: String,

    /// What the profile mounts: s3://BUCKET/ or s3://BUCKET/PREFIX/ (see `mount --help`).
    #[arg(long, value_name = "URL", help_heading = "Profile")]
    pub source: Option<String>,

    #[command(flatten)]
    pub file: ConfigFileArgs,

    #[command(flatten)]
    pub options: MountOptions,
}

/// Where the profiles are.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigFileArgs {
    /// The config file that holds the profiles [default:
    /// $XDG_CONFIG_HOME/cognito-s3fs/config.toml, else ~/.config/cognito-s3fs/config.toml].
    #[arg(long, value_name = "F", help_heading = "Profile")]
    pub config: Option<PathBuf>,
}

/// Which profile a command starts from.
#[derive(Debug, Args, Clone, Default)]
pub struct ProfileArgs {
    /// Start from this profile of the config file; options given here override its values.
    #[arg(
        long,
        value_name = "NAME",
        env = "COGNITO_S3FS_PROFILE",
        help_heading = "Profile"
    )]
    pub profile: Option<String>,

    #[command(flatten)]
    pub file: ConfigFileArgs,
}

/// Where Cognito is and who logs in.
///
/// Give all four of --user-pool-id, --client-id, --identity-pool-id and --username to log in
/// through Cognito. With none of them, `mount` takes credentials from the AWS SDK's standard
/// chain (environment, profile, SSO, instance role) instead.
#[derive(Debug, Args, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CognitoArgs {
    /// AWS region of the user pool and identity pool [default: AWS_REGION, else the region
    /// prefix of the user pool id].
    #[arg(long, value_name = "R", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,

    /// User pool id, e.g. us-east-1_AbCdEf123.
    #[arg(long, value_name = "P", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool_id: Option<String>,

    /// App client id of the user pool.
    #[arg(long, value_name = "C", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,

    /// Identity pool id, e.g. us-east-1:1234abcd-....
    #[arg(long, value_name = "I", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_pool_id: Option<String>,

    /// User name to log in as.
    #[arg(long, value_name = "U", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,

    /// Read the password from this file (first line; must not be readable by others).
    /// Without it or --password-stdin: COGNITO_S3FS_PASSWORD, else a prompt on the terminal.
    #[arg(
        long,
        value_name = "F",
        conflicts_with = "password_stdin",
        help_heading = "Cognito"
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,

    /// Read the password from the first line of standard input.
    #[arg(long, help_heading = "Cognito")]
    #[serde(skip)]
    pub password_stdin: bool,

    /// Read the app client's secret from this file, for app clients that have one
    /// (SECRET_HASH is then sent with every call).
    #[arg(long, value_name = "F", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,

    /// How to sign in. `auto` uses USER_SRP_AUTH (the password never leaves the machine),
    /// then USER_AUTH, then USER_PASSWORD_AUTH, moving on only when Cognito answers that a
    /// flow is not enabled for the app client (one info line each).
    #[arg(long, value_enum, value_name = "FLOW", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_flow: Option<AuthFlowArg>,

    /// Get MFA codes (SOFTWARE_TOKEN_MFA, SMS_MFA, EMAIL_OTP, and SMS_OTP) from this
    /// command, run with `sh -c`: the first line it prints is the code (e.g. `oathtool
    /// --totp -b SEED`, a password manager). Without it, the code is asked for on the
    /// terminal; with neither, the login fails at once. The daemon's re-logins use it too.
    /// A user who must set up MFA first (MFA_SETUP) enrols an authenticator app on the
    /// terminal: a QR code is shown, and the app's code is asked for.
    #[arg(long, value_name = "CMD", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_code_command: Option<String>,

    /// Sign in with a one-time code sent by email or SMS instead of a password (USER_AUTH,
    /// for passwordless users; no password is asked for). The code is read like an MFA
    /// code: from --mfa-code-command, else the terminal.
    #[arg(long, value_enum, value_name = "OTP", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_factor: Option<FirstFactorArg>,

    /// Which MFA factor to use when the user has several and Cognito asks (SELECT_MFA_TYPE).
    /// Without it, the choice is asked on the terminal.
    #[arg(long, value_enum, value_name = "TYPE", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_type: Option<MfaTypeArg>,

    /// Answer a NEW_PASSWORD_REQUIRED challenge (first login with a temporary password) with
    /// the password in this file. Without it, the new password is asked for on the terminal.
    #[arg(long, value_name = "F", help_heading = "Cognito")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_password_file: Option<PathBuf>,

    /// The IAM role to get credentials for, when the identity pool chooses roles from the
    /// token and the user's groups give several (the IdToken's `cognito:roles`); sent as
    /// CustomRoleArn. A role the token does not list fails with the roles it does list.
    /// Required with `--identity-flow basic`.
    #[arg(long, value_name = "ARN", help_heading = "Identity pool")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,

    /// How the identity pool hands out credentials. `enhanced`: GetCredentialsForIdentity.
    /// `basic` (the classic flow, if the pool allows it): GetOpenIdToken, then STS
    /// AssumeRoleWithWebIdentity with --role-arn. Both are refreshed before they expire.
    #[arg(long, value_enum, value_name = "FLOW", help_heading = "Identity pool")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_flow: Option<IdentityFlowArg>,

    /// How long the basic flow's credentials last (DurationSeconds): 900 to 43200 seconds,
    /// or with a unit: 15m, 1h, 12h [default: STS's, one hour]. The role's maximum session
    /// duration must allow it.
    #[arg(long, value_name = "D", value_parser = parse_session_duration, help_heading = "Identity pool")]
    #[serde(
        default,
        with = "serde_as::session",
        skip_serializing_if = "Option::is_none"
    )]
    pub session_duration: Option<std::time::Duration>,
}

/// `--identity-flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityFlowArg {
    /// GetCredentialsForIdentity.
    Enhanced,
    /// GetOpenIdToken + STS AssumeRoleWithWebIdentity.
    Basic,
}

/// `--auth-flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirstFactorArg {
    /// EMAIL_OTP.
    EmailOtp,
    /// SMS_OTP.
    SmsOtp,
}

/// `--mfa-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MfaTypeArg {
    /// An authenticator app (SOFTWARE_TOKEN_MFA).
    Totp,
    /// A code sent by SMS (SMS_MFA).
    Sms,
    /// A code sent by email (EMAIL_OTP).
    Email,
}

/// Where S3 (and Cognito) answer.
#[derive(Debug, Args, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EndpointArgs {
    /// Send every AWS request to this endpoint (an S3-compatible server, or a local
    /// emulator) [default: the SDK's AWS_ENDPOINT_URL and per-service variables such as
    /// AWS_ENDPOINT_URL_S3].
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,

    /// Address buckets as https://host/bucket instead of https://bucket.host. Turned on by
    /// itself when the endpoint is an IP address or localhost.
    #[arg(long, help_heading = "Endpoints")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub force_path_style: bool,
}

#[derive(Debug, Args)]
pub struct MountArgs {
    /// What to mount: s3://BUCKET/ (that bucket is the root) or s3://BUCKET/PREFIX/ (that
    /// prefix is the root, and no request leaves it). An access point or Object Lambda
    /// access point ARN can stand for BUCKET (s3://arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME/);
    /// it is passed to the SDK unchanged, which sends the requests to the access point.
    /// Without SOURCE (the only argument is then MOUNTPOINT), every bucket, or those of
    /// --bucket, is a directory of the root.
    #[arg(value_name = "SOURCE")]
    pub first: PathBuf,

    /// Directory to mount on.
    #[arg(value_name = "MOUNTPOINT")]
    pub second: Option<PathBuf>,

    #[command(flatten)]
    pub profile: ProfileArgs,

    #[command(flatten)]
    pub options: MountOptions,
}

impl MountArgs {
    /// SOURCE, if given, and MOUNTPOINT.
    pub fn source_and_mountpoint(&self) -> (Option<String>, PathBuf) {
        match &self.second {
            Some(mountpoint) => (
                Some(self.first.to_string_lossy().into_owned()),
                mountpoint.clone(),
            ),
            None => (None, self.first.clone()),
        }
    }
}

/// Every option of `mount`, each one a layer of the settings (see [`crate::settings`]): a
/// value left out here is taken from the profile, the environment or the default.
#[derive(Debug, Args, Clone, Default)]
pub struct MountOptions {
    #[command(flatten)]
    pub cognito: CognitoArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    #[command(flatten)]
    pub filesystem: FilesystemArgs,

    #[command(flatten)]
    pub reading: ReadingArgs,

    #[command(flatten)]
    pub process: ProcessArgs,
}

/// What the mount shows, and to whom.
#[derive(Debug, Args, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FilesystemArgs {
    /// Show only this bucket at the root (repeat for more). Also the way to mount when
    /// ListBuckets is not allowed.
    #[arg(long = "bucket", value_name = "B", help_heading = "Filesystem")]
    #[serde(rename = "bucket", default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<String>,

    /// How long directory listings and attributes are trusted before S3 is asked again, in
    /// seconds, or `indefinite`. The kernel caches entries and attributes for as long. An
    /// object changed in S3 shows its new size and content to readers who open it after that.
    #[arg(long, value_name = "SECONDS", value_parser = parse_ttl, help_heading = "Filesystem")]
    #[serde(
        default,
        with = "serde_as::ttl",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata_ttl: Option<Duration>,

    /// How long one S3 request may take, retries included, before the read or listing
    /// fails with EIO.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, help_heading = "Filesystem")]
    #[serde(
        default,
        with = "serde_as::seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_timeout: Option<Duration>,

    /// How long a name found missing is trusted to stay missing, in seconds, or `indefinite`.
    /// Short, so that a file created in S3 shows up soon.
    #[arg(long, value_name = "SECONDS", value_parser = parse_ttl, help_heading = "Filesystem")]
    #[serde(
        default,
        with = "serde_as::ttl",
        skip_serializing_if = "Option::is_none"
    )]
    pub negative_ttl: Option<Duration>,

    /// The most directory entries kept in the listing cache, over all directories; the
    /// least recently used listings are dropped past it (a cached entry takes about 150
    /// bytes).
    #[arg(long, value_name = "N", help_heading = "Filesystem")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cached_entries: Option<usize>,

    /// Let users other than the one who mounted see the files: every local user can then
    /// read every object unless --file-mode/--dir-mode narrow it (needs user_allow_other in
    /// /etc/fuse.conf when not root). Without it the kernel refuses every other user.
    #[arg(long, help_heading = "Filesystem")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_other: bool,

    /// Show what S3 knows of each file as extended attributes (`getfattr -d FILE`):
    /// user.s3.etag, .size, .last_modified and .storage_class from the listing, and
    /// user.s3.content_type, which costs one HEAD the first time it is read. Off by
    /// default, so that `ls -l` asks nothing per file.
    #[arg(long, help_heading = "Filesystem")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub xattrs: bool,

    /// Owner shown for every file [default: the mounting user].
    #[arg(long, value_name = "N", help_heading = "Filesystem")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,

    /// Group shown for every file [default: the mounting user's group].
    #[arg(long, value_name = "N", help_heading = "Filesystem")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,

    /// Permission bits of files, in octal.
    #[arg(long, value_name = "M", value_parser = parse_mode, help_heading = "Filesystem")]
    #[serde(
        default,
        with = "serde_as::mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_mode: Option<u16>,

    /// Permission bits of directories, in octal.
    #[arg(long, value_name = "M", value_parser = parse_mode, help_heading = "Filesystem")]
    #[serde(
        default,
        with = "serde_as::mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub dir_mode: Option<u16>,
}

/// How reads become GETs, and how much memory they may use.
#[derive(Debug, Args, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReadingArgs {
    /// The memory the daemon stays under (sizes take K, M or G). File data, fetched and in
    /// flight, gets all of it but a reserve of 64 MiB for the daemon itself; past that the
    /// least recently used data is dropped, and when all of it is still arriving, reads wait.
    /// The listing cache is bounded on its own by --max-cached-entries.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = "Reading")]
    #[serde(
        default,
        with = "serde_as::size",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_memory: Option<u64>,

    /// The kernel's read-ahead for this mount (set when running as root; 0 keeps the
    /// kernel's 128 KiB). Larger read-ahead means fewer, larger read requests.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_or_zero, help_heading = "Reading")]
    #[serde(
        default,
        with = "serde_as::size_or_zero",
        skip_serializing_if = "Option::is_none"
    )]
    pub kernel_readahead: Option<u64>,

    /// Keep the rest of a random read's block in the daemon's own cache (within
    /// --max-memory) instead of handing it to the kernel's page cache as it arrives.
    #[arg(long, help_heading = "Reading")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_page_cache_push: bool,

    /// The largest single GET of a sequential reader.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = "Reading")]
    #[serde(
        default,
        with = "serde_as::size",
        skip_serializing_if = "Option::is_none"
    )]
    pub part_size: Option<u64>,

    /// How many parts a sequential reader fetches at once, ahead of where it reads (1 to
    /// 64). Several sequential readers share that many, each keeping at least two.
    #[arg(long, value_name = "N", value_parser = parse_parallel, help_heading = "Reading")]
    #[serde(
        default,
        with = "serde_as::parallel",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_parallel: Option<u64>,

    /// What a random read fetches beyond the bytes it asks for.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_or_zero, help_heading = "Reading")]
    #[serde(
        default,
        with = "serde_as::size_or_zero",
        skip_serializing_if = "Option::is_none"
    )]
    pub random_readahead: Option<u64>,

    /// Objects smaller than this are fetched whole at their first read.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_or_zero, help_heading = "Reading")]
    #[serde(
        default,
        with = "serde_as::size_or_zero",
        skip_serializing_if = "Option::is_none"
    )]
    pub whole_object_below: Option<u64>,

    /// How many small files (below --whole-object-below) a process opening the files of a
    /// directory in listing order (`cat *`, `tar`) gets fetched ahead, at most (0 to 256);
    /// the depth grows while the guess is right and stops when it is wrong. 0 turns it off.
    #[arg(long, value_name = "N", value_parser = parse_small_files_ahead, help_heading = "Reading")]
    #[serde(
        default,
        with = "serde_as::small_files_ahead",
        skip_serializing_if = "Option::is_none"
    )]
    pub small_files_ahead: Option<u64>,
}

/// How the daemon runs and where it reports.
#[derive(Debug, Args, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProcessArgs {
    /// Stay attached to the terminal and log to standard error instead of running as a
    /// daemon.
    #[arg(long, short = 'f', help_heading = "Process")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub foreground: bool,

    /// Log at debug level (never secrets).
    #[arg(long, help_heading = "Process")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub debug: bool,

    /// Append the log to this file, mode 0600, in a directory of yours (created 0700; not a
    /// symbolic link) [default: standard error with --foreground, else
    /// $XDG_STATE_HOME/cognito-s3fs/cognito-s3fs.log]. SIGHUP reopens it.
    #[arg(long, value_name = "F", help_heading = "Process")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,

    /// Write the request and cache counters to this file on SIGUSR1 and at unmount: one line
    /// of space-separated key=value pairs, replaced whole each time.
    #[arg(long, value_name = "F", help_heading = "Process")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,

    #[command(flatten)]
    pub cognito: CognitoArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Log at debug level to standard error (never secrets).
    #[arg(long)]
    pub debug: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Builds the command line with every default shown in `--help`, from the one table of
/// them ([`crate::settings::defaults`]): the arguments themselves have no clap defaults, so
/// that a value not given can come from a profile.
pub mod table;

pub fn command() -> clap::Command {
    let shown = crate::settings::defaults::shown();
    let mut cmd = Cli::command();
    for sub in ["mount", "login"] {
        cmd = cmd.mut_subcommand(sub, |sub| {
            sub.mut_args(|a| match shown.iter().find(|(id, _)| a.get_id() == *id) {
                Some((_, value)) => with_default_shown(a, value),
                None => a,
            })
        });
    }
    cmd
}

fn with_default_shown(arg: clap::Arg, value: &str) -> clap::Arg {
    let suffix = format!(" [default: {value}]");
    let help = arg.get_help().map(|h| format!("{h}{suffix}"));
    let long = arg.get_long_help().map(|h| format!("{h}{suffix}"));
    let arg = match help {
        Some(h) => arg.help(h),
        None => arg,
    };
    match long {
        Some(h) => arg.long_help(h),
        None => arg,
    }
}

/// Parses the process's arguments (exits with clap's message on a usage error).
pub fn parse() -> Cli {
    parse_from(std::env::args_os().collect())
}

/// The command line `argv`, also in the mount-helper form that `mount(8)` uses for an fstab
/// line (`cognito-s3fs SOURCE MOUNTPOINT -o OPTS`, see [`crate::fstab`]).
pub fn parse_from(argv: Vec<std::ffi::OsString>) -> Cli {
    let argv = match crate::fstab::is_helper_form(&argv) {
        true => crate::fstab::translate(&argv).unwrap_or_else(|message| {
            eprintln!("cognito-s3fs: {message}");
            std::process::exit(2)
        }),
        false => argv,
    };
    let matches = command().get_matches_from(argv);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn help_shows_the_defaults_of_the_one_table() {
        let mut cmd = command();
        let help = cmd
            .find_subcommand_mut("mount")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains("[default: 512M]"), "{help}");
        assert!(help.contains("[default: 0444]"), "{help}");
        assert!(help.contains("[default: auto]"), "{help}");
    }
}
