//! The commands: `login` and `mount`, from parsed arguments to a running mount.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use fuser::SessionACL;
use tokio::sync::Notify;

use crate::auth::identity::{IdentityChoice, IdentityFlow};
use crate::auth::provider::expiry_text;
use crate::auth::secret::{
    prompt_new_password, prompt_secret, read_secret_file, read_secret_stdin, secret_from_bytes,
    SecretInputError,
};
use crate::auth::signin::{AuthFlow, FirstFactor, MfaType, SignInSettings};
use crate::auth::transport::check_cognito_endpoints;
use crate::auth::{
    sign_in, CognitoClient, CognitoConfig, CognitoCredentialsProvider, Secret, SignedIn,
};
use crate::cli::{
    AuthFlowArg, CognitoArgs, EndpointArgs, FirstFactorArg, IdentityFlowArg, LoginArgs, MfaTypeArg,
    MountArgs,
};
use crate::daemon::{daemonize, Ready};
use crate::fs::ahead::AheadConfig;
use crate::fs::{Fs, FsConfig, ReadConfig};
use crate::fuse::{FuseAdapter, KernelPages, Presentation};
use crate::harden::EnvPassword;
use crate::s3::retry::{CredentialsInvalidator, RetryPolicy, RetryingStore};
use crate::s3::sdk::SdkStore;
use crate::stats::Stats;

pub use crate::harden::PASSWORD_ENV;

/// A failure with the one line the user sees.
type Fallible<T> = Result<T, String>;

/// Everything needed to log in through Cognito.
struct Login {
    config: CognitoConfig,
    sign_in: SignInSettings,
    password: Secret,
    new_password: Option<Secret>,
}

/// Reads the Cognito options; `None` when none of them is given.
fn cognito_login(args: &CognitoArgs, env_password: EnvPassword) -> Fallible<Option<Login>> {
    let fields = [
        ("--user-pool-id", &args.user_pool_id),
        ("--client-id", &args.client_id),
        ("--identity-pool-id", &args.identity_pool_id),
        ("--username", &args.username),
    ];
    let missing: Vec<&str> = fields
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if missing.len() == fields.len() {
        return Ok(None);
    }
    if !missing.is_empty() {
        return Err(format!(
            "to log in through Cognito, also give {}",
            missing.join(", ")
        ));
    }
    let user_pool_id = args.user_pool_id.clone().unwrap_or_default();
    let username = args.username.clone().unwrap_or_default();
    let region = cognito_region(args.region.as_deref(), &user_pool_id)?;
    let client_secret = args
        .client_secret_file
        .as_deref()
        .map(|p| read_secret_file("client secret", p))
        .transpose()
        .map_err(|e| e.to_string())?;
    let new_password = args
        .new_password_file
        .as_deref()
        .map(|p| read_secret_file("new password", p))
        .transpose()
        .map_err(|e| e.to_string())?;
    let sign_in = sign_in_settings(args)?;
    let password = match sign_in.first_factor {
        Some(_) if !password_given(args, &env_password) => Secret::new(String::new()),
        _ => read_password(args, &username, env_password).map_err(|e| e.to_string())?,
    };
    Ok(Some(Login {
        config: CognitoConfig {
            region,
            user_pool_id,
            client_id: args.client_id.clone().unwrap_or_default(),
            client_secret,
            identity_pool_id: args.identity_pool_id.clone().unwrap_or_default(),
            username,
            identity: identity_choice(args)?,
        },
        sign_in,
        password,
        new_password,
    }))
}

/// `--identity-flow`, `--role-arn`, `--session-duration`.
fn identity_choice(args: &CognitoArgs) -> Fallible<IdentityChoice> {
    let flow = match args.identity_flow {
        IdentityFlowArg::Enhanced => IdentityFlow::Enhanced,
        IdentityFlowArg::Basic => IdentityFlow::Basic,
    };
    IdentityChoice::new(flow, args.role_arn.clone(), args.session_duration)
}

fn sign_in_settings(args: &CognitoArgs) -> Fallible<SignInSettings> {
    let flow = match args.auth_flow {
        AuthFlowArg::Auto => AuthFlow::Auto,
        AuthFlowArg::Srp => AuthFlow::Srp,
        AuthFlowArg::UserAuth => AuthFlow::UserAuth,
        AuthFlowArg::Password => AuthFlow::Password,
    };
    if args.first_factor.is_some() && matches!(flow, AuthFlow::Srp | AuthFlow::Password) {
        return Err("--first-factor needs --auth-flow user-auth (or auto)".into());
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

/// Whether a password source other than the prompt is given.
fn password_given(args: &CognitoArgs, env_password: &EnvPassword) -> bool {
    args.password_file.is_some() || args.password_stdin || env_password.0.is_some()
}

/// `--region`, else AWS_REGION / AWS_DEFAULT_REGION, else the prefix of the user pool id.
fn cognito_region(flag: Option<&str>, user_pool_id: &str) -> Fallible<String> {
    let from_env = || {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    };
    let from_pool = || {
        user_pool_id
            .split_once('_')
            .map(|(r, _)| r.to_owned())
            .filter(|r| !r.is_empty())
    };
    flag.map(str::to_owned)
        .or_else(from_env)
        .or_else(from_pool)
        .ok_or_else(|| "no region: give --region or set AWS_REGION".to_owned())
}

/// The password from, in order: --password-file, --password-stdin, the environment (taken
/// out of it at start, see [`crate::harden`]), a prompt.
fn read_password(
    args: &CognitoArgs,
    username: &str,
    env_password: EnvPassword,
) -> Result<Secret, SecretInputError> {
    if let Some(path) = &args.password_file {
        return read_secret_file("password", path);
    }
    if args.password_stdin {
        return read_secret_stdin("password");
    }
    if let Some(bytes) = env_password.0 {
        return secret_from_bytes(PASSWORD_ENV, bytes);
    }
    prompt_secret("password", &format!("Password for {username}: "))
}

/// The S3 endpoint in effect, if any: the flag, else the SDK's variables.
fn s3_endpoint(endpoint: &EndpointArgs) -> Option<String> {
    endpoint.endpoint_url.clone().or_else(|| {
        ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    })
}

/// Path-style addressing is needed when the endpoint is an IP address or localhost:
/// `bucket.127.0.0.1` does not resolve.
fn wants_path_style(endpoint: &EndpointArgs) -> bool {
    endpoint.force_path_style
        || s3_endpoint(endpoint).is_some_and(|url| {
            let host = url
                .split("://")
                .nth(1)
                .unwrap_or(&url)
                .split(['/', ':'])
                .next()
                .unwrap_or("");
            host == "localhost"
                || host.parse::<std::net::Ipv4Addr>().is_ok()
                || url.contains("://[")
        })
}

async fn sdk_config(region: Option<&str>, endpoint: &EndpointArgs, anonymous: bool) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(crate::s3::https::client());
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_owned()));
    }
    if let Some(url) = &endpoint.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if anonymous {
        // The Cognito calls are unsigned: never consult the default credentials chain.
        loader = loader.no_credentials();
    }
    loader = loader.timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(30))
            .build(),
    );
    loader.load().await
}

fn new_password_source(
    given: Option<Secret>,
) -> impl FnMut() -> Result<Secret, SecretInputError> + Send {
    let mut given = given;
    move || match given.take() {
        Some(p) => Ok(p),
        None => prompt_new_password(),
    }
}

/// Runs the Cognito chain once on a runtime that is gone when this returns.
fn sign_in_once(login: &mut Login, endpoint: &EndpointArgs) -> Fallible<SignedIn> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let password = login.password.clone();
    let mut source = new_password_source(login.new_password.take());
    let config = login.config.clone();
    let settings = login.sign_in.clone();
    let result = rt.block_on(async {
        let sdk = sdk_config(Some(&config.region), endpoint, true).await;
        check_cognito_endpoints(&sdk)?;
        let client = CognitoClient::new(config, &sdk).with_sign_in(settings);
        let signed_in = sign_in(&client, password, Some(&mut source)).await;
        Ok::<_, String>((signed_in, client.flow_used()))
    });
    drop(rt);
    let (signed_in, flow) = result?;
    // The daemon's re-logins use the flow that worked.
    if let Some(flow) = flow {
        login.sign_in.flow = flow;
    }
    signed_in.map_err(|e| e.to_string())
}

/// `cognito-s3fs login`.
pub fn login_command(args: LoginArgs, env_password: EnvPassword) -> ExitCode {
    crate::logging::init_stderr(args.debug);
    let result = cognito_login(&args.cognito, env_password).and_then(|login| {
        let mut login = login
            .ok_or("login needs --user-pool-id, --client-id, --identity-pool-id and --username")?;
        let signed_in = sign_in_once(&mut login, &args.endpoint)?;
        println!("identity id: {}", signed_in.identity_id);
        println!(
            "credentials expire: {}",
            expiry_text(signed_in.credentials.expiry())
        );
        Ok(())
    });
    finish(result)
}

fn finish(result: Fallible<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cognito-s3fs: {message}");
            ExitCode::FAILURE
        }
    }
}

/// File data comes in parts of megabytes. Without this, glibc raises its mmap threshold
/// after the first such part is freed, later parts come from the heap, and memory freed by
/// eviction stays resident: the process would outgrow `--max-memory` while the cache
/// itself stays under it.
fn return_freed_memory_promptly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Memory the daemon keeps for itself out of `--max-memory`: buffers, tasks, the runtime.
const MEMORY_RESERVE: u64 = 64 << 20;

/// The memory bound leaves room for at least two parts of file data.
fn check_read_sizes(args: &MountArgs) -> Fallible<()> {
    let least = MEMORY_RESERVE + 2 * args.part_size;
    if args.max_memory < least {
        return Err(format!(
            "--max-memory must be at least {} MiB: a reserve of {} MiB plus two parts of --part-size",
            least >> 20,
            MEMORY_RESERVE >> 20
        ));
    }
    Ok(())
}

fn check_mountpoint(path: &Path) -> Fallible<PathBuf> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("mountpoint {}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Err(format!("mountpoint {} is not a directory", path.display()));
    }
    if is_mounted(path) {
        return Err(format!(
            "{} is already a mountpoint; unmount it first (fusermount3 -u {})",
            path.display(),
            path.display()
        ));
    }
    path.canonicalize()
        .map_err(|e| format!("mountpoint {}: {e}", path.display()))
}

/// Whether something is mounted at `path` (per /proc/self/mountinfo).
fn is_mounted(path: &Path) -> bool {
    let Ok(canon) = path.canonicalize() else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy().replace(' ', "\\040");
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| m == want)
}

/// `cognito-s3fs mount`.
pub fn mount_command(args: MountArgs, env_password: EnvPassword) -> ExitCode {
    return_freed_memory_promptly();
    let prepared = check_read_sizes(&args)
        .and_then(|()| check_mountpoint(&args.mountpoint))
        .and_then(|mountpoint| {
            let mut login = cognito_login(&args.cognito, env_password)?;
            let signed_in = match login.as_mut() {
                Some(l) => Some(sign_in_once(l, &args.endpoint)?),
                None => None,
            };
            Ok((mountpoint, login, signed_in))
        });
    let (mountpoint, login, signed_in) = match prepared {
        Ok(p) => p,
        Err(message) => return finish(Err(message)),
    };
    if let Err(message) = init_mount_logging(&args) {
        return finish(Err(message));
    }
    let mut ready = if args.foreground {
        Ready::foreground()
    } else {
        match daemonize() {
            Ok(ready) => ready,
            Err(e) => return finish(Err(format!("cannot start the daemon: {e}"))),
        }
    };
    let cognito = login.map(|l| (l.config, l.sign_in)).zip(signed_in);
    match serve(&args, &mountpoint, cognito, &mut ready) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ready.failure(&message);
            finish(Err(message))
        }
    }
}

fn init_mount_logging(args: &MountArgs) -> Fallible<()> {
    match (&args.log_file, args.foreground) {
        (None, true) => {
            crate::logging::init_stderr(args.debug);
            Ok(())
        }
        (path, _) => {
            let path = path
                .clone()
                .or_else(crate::logging::default_log_file)
                .ok_or(
                    "no place for the log file: set HOME or XDG_STATE_HOME, or give --log-file",
                )?;
            crate::logging::init_file(&path, args.debug)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))
        }
    }
}

/// Builds the S3 client, the filesystem and the mount, then serves until unmounted.
fn serve(
    args: &MountArgs,
    mountpoint: &Path,
    cognito: Option<((CognitoConfig, SignInSettings), SignedIn)>,
    ready: &mut Ready,
) -> Fallible<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cognito-s3fs")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    crate::s3::https::load_roots_in_background();
    let stop = Arc::new(Notify::new());
    let region = cognito
        .as_ref()
        .map(|((c, _), _)| c.region.clone())
        .or_else(|| args.cognito.region.clone());
    let sdk = rt.block_on(sdk_config(
        region.as_deref(),
        &args.endpoint,
        cognito.is_some(),
    ));
    let mut s3 =
        aws_sdk_s3::config::Builder::from(&sdk).force_path_style(wants_path_style(&args.endpoint));
    let mut invalidator: Option<Arc<dyn CredentialsInvalidator>> = None;
    if let Some(((config, settings), signed_in)) = cognito {
        let identity = signed_in.identity_id.clone();
        let backend = Arc::new(CognitoClient::new(config, &sdk).with_sign_in(settings));
        let provider = CognitoCredentialsProvider::new(backend, signed_in);
        rt.spawn(provider.clone().run_refresher(stop.clone()));
        tracing::info!(identity_id = %identity, "logged in through Cognito");
        invalidator = Some(Arc::new(provider.clone()));
        s3 = s3
            .credentials_provider(provider)
            .identity_cache(aws_config::identity::IdentityCache::no_cache());
    }
    // Retries happen in RetryingStore, which has no retry quota to run dry under faults.
    s3 = s3
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .build(),
        );
    let sdk_store = SdkStore::new(aws_sdk_s3::Client::from_conf(s3.build()));
    let counters = sdk_store.counters();
    let mut store = RetryingStore::new(sdk_store, RetryPolicy::with_deadline(args.request_timeout));
    if let Some(credentials) = invalidator {
        store = store.with_invalidator(credentials);
    }
    let fs = Arc::new(Fs::new(
        Arc::new(store),
        FsConfig {
            buckets: (!args.buckets.is_empty()).then(|| args.buckets.clone()),
            metadata_ttl: args.metadata_ttl,
            negative_ttl: args.negative_ttl,
            max_cached_entries: args.max_cached_entries,
            read: ReadConfig {
                part_size: args.part_size,
                parallel: args.read_parallel,
                first_window: ReadConfig::default().first_window.min(args.part_size),
                random_readahead: args.random_readahead,
                whole_object_below: args.whole_object_below,
                // 0 leaves the kernel's own default, 128 KiB.
                late_reads: args.kernel_readahead.max(128 << 10),
            },
            max_cache_memory: args.max_memory - MEMORY_RESERVE,
            ahead: AheadConfig {
                max_files: args.small_files_ahead as usize,
                ..AheadConfig::default()
            },
        },
    ));
    let stats = Arc::new(Stats::new(
        counters,
        fs.cache_stats(),
        fs.data_cache(),
        fs.ahead_stats(),
        args.stats_file.clone(),
    ));
    let look = Presentation {
        // SAFETY: getuid/getgid cannot fail.
        uid: args.uid.unwrap_or_else(|| unsafe { libc::getuid() }),
        gid: args.gid.unwrap_or_else(|| unsafe { libc::getgid() }),
        file_mode: args.file_mode,
        dir_mode: args.dir_mode,
        xattrs: args.xattrs,
    };
    let mut adapter = FuseAdapter::new(fs.clone(), rt.handle().clone(), look);
    if args.kernel_readahead > 0 {
        let kib = (args.kernel_readahead >> 10).clamp(1, u32::MAX as u64) as u32;
        adapter = adapter.with_read_ahead(mountpoint, kib);
    }
    let crate::mount::FuseMount { device, watch } =
        crate::mount::mount(mountpoint, args.allow_other)
            .map_err(|e| format!("cannot mount on {}: {e}", mountpoint.display()))?;
    let session = fuser::Session::from_fd(adapter, device, session_acl(args), fuse_config())
        .map_err(|e| {
            format!(
                "cannot start the FUSE session on {}: {e}",
                mountpoint.display()
            )
        })?;
    warn_if_shared(args);
    if !args.no_page_cache_push {
        fs.attach_page_cache(Arc::new(KernelPages(session.notifier())))
            .map_err(|e| format!("cannot start the page cache thread: {e}"))?;
    }
    rt.spawn(on_signals(mountpoint.to_owned(), stats.clone()));
    tracing::info!(mountpoint = %mountpoint.display(), "mounted");
    ready.success();
    let result = session.run();
    stop.notify_waiters();
    stats.report("unmounted");
    drop(rt);
    // Only now: closing the socket lets fusermount3 go (it unmounts if anything is left).
    drop(watch);
    result.map_err(|e| format!("the FUSE session ended with an error: {e}"))
}

fn fuse_config() -> fuser::Config {
    let mut config = fuser::Config::default();
    config.n_threads = Some(2);
    config
}

/// The daemon's own uid filter matches what the kernel was told (see [`crate::mount`]): the
/// kernel already refuses other uids unless `--allow-other`.
fn session_acl(args: &MountArgs) -> SessionACL {
    if args.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    }
}

/// With `--allow-other`, says who can read what.
fn warn_if_shared(args: &MountArgs) {
    if !args.allow_other {
        return;
    }
    if args.file_mode & 0o004 != 0 || args.dir_mode & 0o001 != 0 {
        tracing::warn!(
            file_mode = format!("{:04o}", args.file_mode),
            dir_mode = format!("{:04o}", args.dir_mode),
            "--allow-other: every local user can read every object of this mount; \
             narrow --file-mode/--dir-mode (e.g. 0440/0550 with --gid) to limit it"
        );
    } else {
        tracing::info!(
            file_mode = format!("{:04o}", args.file_mode),
            dir_mode = format!("{:04o}", args.dir_mode),
            "--allow-other: other users get what --file-mode/--dir-mode grant them"
        );
    }
}

/// The signals a mounted daemon answers, as one stream.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sig {
    Stop,
    Hup,
    Usr1,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }

    /// The next signal; SIGHUP counts as a stop when the log is not a file (the terminal
    /// it went to is gone).
    async fn next(&mut self) -> Sig {
        let sig = tokio::select! {
            _ = self.term.recv() => Sig::Stop,
            _ = self.int.recv() => Sig::Stop,
            _ = self.hup.recv() => Sig::Hup,
            _ = self.usr1.recv() => Sig::Usr1,
        };
        match sig {
            Sig::Hup => match crate::logging::reopen() {
                None => Sig::Stop,
                Some(Ok(())) => {
                    tracing::info!("SIGHUP: reopened the log file");
                    Sig::Hup
                }
                Some(Err(e)) => {
                    // Still written to the old file, which stays open.
                    tracing::error!(error = %e, "SIGHUP: cannot reopen the log file");
                    Sig::Hup
                }
            },
            other => other,
        }
    }
}

/// SIGTERM and SIGINT unmount; SIGHUP reopens the log file (for logrotate); SIGUSR1 reports
/// the counters (log and --stats-file).
///
/// A busy mount (a file still open in it) is not detached at once, as it was until
/// December: its users would lose the mount from under them. The plain unmount is retried
/// each second until the last file closes, and a second SIGTERM or SIGINT in the meantime
/// detaches it lazily and ends the daemon at once (open files then fail with ENOTCONN, and
/// the mount disappears when they are closed).
async fn on_signals(mountpoint: PathBuf, stats: Arc<Stats>) {
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return;
        }
    };
    loop {
        match signals.next().await {
            Sig::Stop => break,
            Sig::Hup => {}
            Sig::Usr1 => stats.report("request counters"),
        }
    }
    tracing::info!("signal received: unmounting");
    if unmount(&mountpoint, "-u") {
        return;
    }
    tracing::warn!(
        "the mount is busy: waiting for its open files to close \
         (SIGTERM again detaches it at once and ends the daemon)"
    );
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = retry.tick() => if unmount(&mountpoint, "-u") { return },
            sig = signals.next() => match sig {
                Sig::Stop => force_exit(&mountpoint, &stats),
                Sig::Hup => {}
                Sig::Usr1 => stats.report("request counters"),
            },
        }
    }
}

/// Runs `fusermount3 FLAGS MOUNTPOINT`; whether it succeeded. Through fusermount3, not
/// through the session: with auto_unmount, closing the session's socket only unmounts a
/// *dead* filesystem, and this one is still serving.
fn unmount(mountpoint: &Path, flags: &str) -> bool {
    std::process::Command::new("fusermount3")
        .arg(flags)
        .arg(mountpoint)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The second stop signal: detach the busy mount lazily and end the process now.
fn force_exit(mountpoint: &Path, stats: &Stats) -> ! {
    tracing::warn!("second signal: detaching the busy mount lazily and exiting");
    if !unmount(mountpoint, "-uz") {
        tracing::error!(
            "lazy unmount failed; run: fusermount3 -uz {}",
            mountpoint.display()
        );
    }
    stats.report("unmounted (forced)");
    std::process::exit(0)
}
