//! What the user asked for, as one value: the command line over the profile over the AWS
//! variables over the defaults.
//!
//! Start-up is one straight line (see [`crate::start`]): these settings, then the clients,
//! then the filesystem, then the session. Everything a mount needs to know is decided here,
//! by pure functions ([`mount`], [`login`]) that read no file and no variable: the
//! environment comes in as an [`Environment`] captured once, so every rule of precedence
//! and every refusal is a unit test (`tests.rs`).
//!
//! Precedence, for every option: a flag given on the command line, else the profile's
//! value, else the environment's (only the region and the endpoint have one), else the
//! default of [`defaults`]. A switch (`--allow-other`, `--debug`, ...) is on when either the
//! flag or the profile turns it on.
//!
//! Nothing here holds a secret's value: passwords and client secrets are named by where they
//! come from ([`PasswordSource`], files), and read later, in [`crate::start::secrets`].

pub mod defaults;
mod layers;
pub mod profile;
pub mod source;
pub mod values;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::identity::{IdentityChoice, IdentityFlow};
use crate::auth::signin::{AuthFlow, FirstFactor, MfaType, SignInSettings};
use crate::auth::Secret;
use crate::cli::{
    AuthFlowArg, CognitoArgs, EndpointArgs, FirstFactorArg, IdentityFlowArg, MfaTypeArg,
    MountOptions, ReadingArgs,
};
use crate::fs::ahead::AheadConfig;
use crate::fs::{FsConfig, ReadConfig, Root};
use crate::fuse::Presentation;

/// A refusal of what was asked, with the one line the user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("to log in through Cognito, also give {}", .0.join(", "))]
    PartialCognito(Vec<&'static str>),
    #[error("login needs --user-pool-id, --client-id, --identity-pool-id and --username")]
    NoCognito,
    #[error("no region: give --region or set AWS_REGION")]
    NoRegion,
    #[error("--first-factor needs --auth-flow user-auth (or auto)")]
    FirstFactorNeedsUserAuth,
    #[error(
        "--max-memory must be at least {least_mib} MiB: a reserve of {reserve_mib} MiB plus two parts of --part-size"
    )]
    MemoryTooSmall { least_mib: u64, reserve_mib: u64 },
    #[error("no MOUNTPOINT: give the directory to mount {0} on after it")]
    NoMountpoint(String),
    #[error("SOURCE must be s3://BUCKET/ or s3://BUCKET/PREFIX/, not '{0}'")]
    NotS3Url(String),
    #[error("give what to mount either as s3://BUCKET/[PREFIX/] or with --bucket, not both")]
    SourceAndBuckets,
    #[error("--bucket {0}: an access point ARN cannot be a directory name; mount it as s3://{0}/")]
    BucketArn(String),
    /// `--role-arn`, `--identity-flow` and `--session-duration` do not fit together.
    #[error("{0}")]
    Identity(String),
}

/// The environment variables the settings read, captured once at start.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`: where the SDK sends S3 requests when
    /// no endpoint is given.
    pub s3_endpoint: Option<String>,
    /// Whether `COGNITO_S3FS_PASSWORD` was set (its value is in [`crate::harden`]'s hands).
    pub password_set: bool,
    /// The mounting user, the owner shown by default.
    pub uid: u32,
    pub gid: u32,
}

impl Environment {
    /// The process's environment now.
    pub fn of_process(password_set: bool) -> Self {
        Environment {
            region: first_var(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            s3_endpoint: first_var(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]),
            password_set,
            // SAFETY: getuid/getgid cannot fail.
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
        }
    }
}

fn first_var(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
}

/// Where the password comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    File(PathBuf),
    Stdin,
    /// `COGNITO_S3FS_PASSWORD`, taken out of the environment at start.
    Environment,
    /// Asked on the terminal.
    Prompt,
    /// None is needed: a one-time code signs in (`--first-factor`).
    NotNeeded,
}

/// Who logs in through Cognito, and how.
#[derive(Clone, Debug)]
pub struct CognitoSettings {
    pub region: String,
    pub user_pool_id: String,
    pub client_id: String,
    pub identity_pool_id: String,
    pub username: String,
    pub password: PasswordSource,
    pub client_secret_file: Option<PathBuf>,
    pub new_password_file: Option<PathBuf>,
    pub sign_in: SignInSettings,
    /// Which role, through which identity-pool flow.
    pub identity: IdentityChoice,
}

/// Where AWS requests go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Every AWS request goes here (`--endpoint-url`); without it, the SDK's own variables.
    pub url: Option<String>,
    /// Buckets addressed as `host/bucket`, not `bucket.host`.
    pub path_style: bool,
}

/// How the mount meets the kernel.
#[derive(Clone, Copy, Debug)]
pub struct KernelSettings {
    /// The read-ahead to set, in KiB; `None` leaves the kernel's.
    pub readahead_kib: Option<u32>,
    /// Hand fetched data to the kernel's page cache as it arrives.
    pub page_cache_push: bool,
    pub allow_other: bool,
    pub look: Presentation,
}

/// How the daemon runs.
#[derive(Clone, Debug, Default)]
pub struct ProcessSettings {
    pub foreground: bool,
    pub debug: bool,
    pub log_file: Option<PathBuf>,
    pub stats_file: Option<PathBuf>,
}

/// Everything `mount` needs, decided.
#[derive(Clone, Debug)]
pub struct MountSettings {
    pub mountpoint: PathBuf,
    /// `None`: credentials from the SDK's standard chain.
    pub cognito: Option<CognitoSettings>,
    /// The region of the S3 client: Cognito's, else the one given, else the SDK's own.
    pub region: Option<String>,
    pub endpoints: Endpoints,
    pub fs: FsConfig,
    pub request_timeout: Duration,
    pub kernel: KernelSettings,
    pub process: ProcessSettings,
}

/// Everything `login` needs, decided.
#[derive(Clone, Debug)]
pub struct LoginSettings {
    pub cognito: CognitoSettings,
    pub endpoints: Endpoints,
}

/// The command line's and the profile's options, each with what it says to mount.
#[derive(Clone, Copy, Debug)]
pub struct Layer<'a> {
    pub source: Option<&'a str>,
    pub options: &'a MountOptions,
}

impl<'a> Layer<'a> {
    /// Options that say nothing of what to mount.
    pub fn of(options: &'a MountOptions) -> Self {
        Layer {
            source: None,
            options,
        }
    }
}

/// The settings of `mount`: `flags` over `profile` over `env` over the defaults.
pub fn mount(
    mountpoint: PathBuf,
    flags: Layer,
    profile: Layer,
    env: &Environment,
) -> Result<MountSettings, SettingsError> {
    if let Some(url) = mountpoint.to_str().filter(|m| m.starts_with("s3://")) {
        return Err(SettingsError::NoMountpoint(url.to_owned()));
    }
    let root = source::root_of(flags.source, &flags.options.filesystem.buckets)?
        .or(source::root_of(
            profile.source,
            &profile.options.filesystem.buckets,
        )?)
        .unwrap_or_default();
    let o = flags.options.clone().over(profile.options.clone());
    let cognito = cognito(&o.cognito, env)?;
    let fs = FsConfig {
        root,
        ..filesystem(&o)?
    };
    let region = cognito
        .as_ref()
        .map(|c| c.region.clone())
        .or(o.cognito.region.clone());
    Ok(MountSettings {
        mountpoint,
        cognito,
        region,
        endpoints: endpoints(&o.endpoint, env),
        fs,
        request_timeout: o
            .filesystem
            .request_timeout
            .unwrap_or(defaults::REQUEST_TIMEOUT),
        kernel: kernel(&o, env),
        process: ProcessSettings {
            foreground: o.process.foreground,
            debug: o.process.debug,
            log_file: o.process.log_file,
            stats_file: o.process.stats_file,
        },
    })
}

/// The settings of `login`: Cognito is required.
pub fn login(
    cognito_flags: &CognitoArgs,
    endpoint_flags: &EndpointArgs,
    profile: &MountOptions,
    env: &Environment,
) -> Result<LoginSettings, SettingsError> {
    let given = cognito_flags.clone().over(profile.cognito.clone());
    let endpoint = endpoint_flags.clone().over(profile.endpoint.clone());
    Ok(LoginSettings {
        cognito: cognito(&given, env)?.ok_or(SettingsError::NoCognito)?,
        endpoints: endpoints(&endpoint, env),
    })
}

/// The Cognito login, or `None` when none of its four ids is given.
fn cognito(
    args: &CognitoArgs,
    env: &Environment,
) -> Result<Option<CognitoSettings>, SettingsError> {
    let fields = [
        ("--user-pool-id", &args.user_pool_id),
        ("--client-id", &args.client_id),
        ("--identity-pool-id", &args.identity_pool_id),
        ("--username", &args.username),
    ];
    let missing: Vec<&'static str> = fields
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if missing.len() == fields.len() {
        return Ok(None);
    }
    if !missing.is_empty() {
        return Err(SettingsError::PartialCognito(missing));
    }
    let user_pool_id = args.user_pool_id.clone().unwrap_or_default();
    let sign_in = sign_in(args)?;
    Ok(Some(CognitoSettings {
        region: region(args.region.as_deref(), env, &user_pool_id)?,
        password: password_source(args, env, sign_in.first_factor.is_some()),
        user_pool_id,
        client_id: args.client_id.clone().unwrap_or_default(),
        identity_pool_id: args.identity_pool_id.clone().unwrap_or_default(),
        username: args.username.clone().unwrap_or_default(),
        client_secret_file: args.client_secret_file.clone(),
        new_password_file: args.new_password_file.clone(),
        sign_in,
        identity: identity(args)?,
    }))
}

/// `--identity-flow`, `--role-arn`, `--session-duration`.
fn identity(args: &CognitoArgs) -> Result<IdentityChoice, SettingsError> {
    let flow = match args.identity_flow.unwrap_or(IdentityFlowArg::Enhanced) {
        IdentityFlowArg::Enhanced => IdentityFlow::Enhanced,
        IdentityFlowArg::Basic => IdentityFlow::Basic,
    };
    IdentityChoice::new(flow, args.role_arn.clone(), args.session_duration)
        .map_err(SettingsError::Identity)
}

fn sign_in(args: &CognitoArgs) -> Result<SignInSettings, SettingsError> {
    let flow = match args.auth_flow.unwrap_or(AuthFlowArg::Auto) {
        AuthFlowArg::Auto => AuthFlow::Auto,
        AuthFlowArg::Srp => AuthFlow::Srp,
        AuthFlowArg::UserAuth => AuthFlow::UserAuth,
        AuthFlowArg::Password => AuthFlow::Password,
    };
    if args.first_factor.is_some() && matches!(flow, AuthFlow::Srp | AuthFlow::Password) {
        return Err(SettingsError::FirstFactorNeedsUserAuth);
    }
    Ok(SignInSettings {
        flow,
        mfa_code_command: args.mfa_code_command.clone().map(Secret::new),
        mfa_type: args.mfa_type.map(|t| match t {
            MfaTypeArg::Totp => MfaType::Totp,
            MfaTypeArg::Sms => MfaType::Sms,
            MfaTypeArg::Email => MfaType::Email,
        }),
        first_factor: args.first_factor.map(|f| match f {
            FirstFactorArg::EmailOtp => FirstFactor::EmailOtp,
            FirstFactorArg::SmsOtp => FirstFactor::SmsOtp,
        }),
    })
}

/// The region given, else AWS_REGION / AWS_DEFAULT_REGION, else the prefix of the user pool
/// id (`us-east-1_AbC` is in us-east-1).
fn region(
    given: Option<&str>,
    env: &Environment,
    user_pool_id: &str,
) -> Result<String, SettingsError> {
    let from_pool = || {
        user_pool_id
            .split_once('_')
            .map(|(r, _)| r.to_owned())
            .filter(|r| !r.is_empty())
    };
    given
        .map(str::to_owned)
        .or_else(|| env.region.clone())
        .or_else(from_pool)
        .ok_or(SettingsError::NoRegion)
}

/// In order: a password file, standard input, the environment, the terminal. A one-time
/// first factor needs no password unless one is given.
fn password_source(args: &CognitoArgs, env: &Environment, one_time_code: bool) -> PasswordSource {
    match (&args.password_file, args.password_stdin, env.password_set) {
        (Some(path), _, _) => PasswordSource::File(path.clone()),
        (None, true, _) => PasswordSource::Stdin,
        (None, false, true) => PasswordSource::Environment,
        (None, false, false) if one_time_code => PasswordSource::NotNeeded,
        (None, false, false) => PasswordSource::Prompt,
    }
}

/// The endpoint given, and path-style addressing when asked for or when the S3 endpoint in
/// effect (given, else the SDK's variables) is an IP address or localhost:
/// `bucket.127.0.0.1` does not resolve.
fn endpoints(args: &EndpointArgs, env: &Environment) -> Endpoints {
    let s3 = args.endpoint_url.as_ref().or(env.s3_endpoint.as_ref());
    Endpoints {
        url: args.endpoint_url.clone(),
        path_style: args.force_path_style || s3.is_some_and(|url| is_local_host(url)),
    }
}

fn is_local_host(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    host == "localhost" || host.parse::<std::net::Ipv4Addr>().is_ok() || url.contains("://[")
}

/// The filesystem core's configuration.
fn filesystem(o: &MountOptions) -> Result<FsConfig, SettingsError> {
    let f = &o.filesystem;
    let max_memory = o.reading.max_memory.unwrap_or(defaults::MAX_MEMORY);
    let read = read_config(&o.reading);
    check_memory(max_memory, read.part_size)?;
    Ok(FsConfig {
        root: Root::default(),
        metadata_ttl: f.metadata_ttl.unwrap_or(defaults::METADATA_TTL),
        negative_ttl: f.negative_ttl.unwrap_or(defaults::NEGATIVE_TTL),
        max_cached_entries: f.max_cached_entries.unwrap_or(defaults::MAX_CACHED_ENTRIES),
        read,
        max_cache_memory: defaults::cache_memory(max_memory),
        ahead: AheadConfig {
            max_files: o
                .reading
                .small_files_ahead
                .unwrap_or(defaults::SMALL_FILES_AHEAD) as usize,
            ..AheadConfig::default()
        },
    })
}

fn read_config(r: &ReadingArgs) -> ReadConfig {
    let part_size = r.part_size.unwrap_or(defaults::PART_SIZE);
    let kernel_readahead = r.kernel_readahead.unwrap_or(defaults::KERNEL_READAHEAD);
    ReadConfig {
        part_size,
        parallel: r.read_parallel.unwrap_or(defaults::READ_PARALLEL),
        first_window: defaults::FIRST_WINDOW.min(part_size),
        random_readahead: r.random_readahead.unwrap_or(defaults::RANDOM_READAHEAD),
        whole_object_below: r.whole_object_below.unwrap_or(defaults::WHOLE_OBJECT_BELOW),
        // 0 leaves the kernel's own read-ahead in effect.
        late_reads: kernel_readahead.max(defaults::KERNEL_OWN_READAHEAD),
    }
}

/// The memory bound leaves room for at least two parts of file data.
fn check_memory(max_memory: u64, part_size: u64) -> Result<(), SettingsError> {
    let least = defaults::MEMORY_RESERVE + 2 * part_size;
    if max_memory < least {
        return Err(SettingsError::MemoryTooSmall {
            least_mib: least >> 20,
            reserve_mib: defaults::MEMORY_RESERVE >> 20,
        });
    }
    Ok(())
}

fn kernel(o: &MountOptions, env: &Environment) -> KernelSettings {
    let f = &o.filesystem;
    let readahead = o
        .reading
        .kernel_readahead
        .unwrap_or(defaults::KERNEL_READAHEAD);
    KernelSettings {
        readahead_kib: (readahead > 0).then(|| (readahead >> 10).clamp(1, u32::MAX as u64) as u32),
        page_cache_push: !o.reading.no_page_cache_push,
        allow_other: f.allow_other,
        look: Presentation {
            uid: f.uid.unwrap_or(env.uid),
            gid: f.gid.unwrap_or(env.gid),
            file_mode: f.file_mode.unwrap_or(defaults::FILE_MODE),
            dir_mode: f.dir_mode.unwrap_or(defaults::DIR_MODE),
            xattrs: f.xattrs,
        },
    }
}
