//! Start-up as one straight line: what the user asked for -> [`crate::settings`] -> the
//! clients ([`clients`], after [`secrets`] are read and the login has run) -> the
//! filesystem ([`filesystem`]) -> the session ([`session`], with [`signals`]).
//!
//! Each step is a function of what the step before it produced; nothing walks back up. The
//! login runs before the daemon forks, so that a wrong password is told on the terminal and
//! the fork happens single-threaded (see [`crate::daemon`]).

pub mod clients;
pub mod filesystem;
pub mod mountpoint;
mod profiles;
pub mod secrets;
pub mod session;
pub mod signals;

use std::process::ExitCode;
use std::sync::Arc;

use crate::auth::provider::expiry_text;
use crate::cli::{LoginArgs, MountArgs};
use crate::daemon::{daemonize, Ready};
use crate::harden::EnvPassword;
use crate::notify::Notifier;
use crate::settings::profile;
use crate::settings::{self, Environment, Layer, MountSettings, ProcessSettings};

pub use profiles::profile_command;

/// `cognito-s3fs login`.
pub fn login_command(args: LoginArgs, env_password: EnvPassword) -> ExitCode {
    crate::logging::init_stderr(args.debug);
    let env = Environment::of_process(env_password.0.is_some());
    let result = profile::chosen(&args.profile)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            settings::login(&args.cognito, &args.endpoint, &p.options, &env)
                .map_err(|e| e.to_string())
        })
        .and_then(|s| {
            let mut login = secrets::read(s.cognito, env_password)?;
            let signed_in = clients::sign_in_once(&mut login, &s.endpoints)?;
            println!("identity id: {}", signed_in.identity_id);
            println!(
                "credentials expire: {}",
                expiry_text(signed_in.credentials.expiry())
            );
            Ok(())
        });
    finish(result)
}

/// `cognito-s3fs mount`: the profile, then the settings, then the mount.
pub fn mount_command(args: MountArgs, env_password: EnvPassword) -> ExitCode {
    session::return_freed_memory_promptly();
    // Read (and removed from the environment) while the process has one thread.
    let systemd = match Notifier::from_env() {
        Ok(n) => n.map(Arc::new),
        Err(e) => return finish(Err(format!("NOTIFY_SOCKET is set but unusable: {e}"))),
    };
    let env = Environment::of_process(env_password.0.is_some());
    let (source, mountpoint) = args.source_and_mountpoint();
    let settings = profile::chosen(&args.profile)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let flags = Layer {
                source: source.as_deref(),
                options: &args.options,
            };
            let profile = Layer {
                source: p.source.as_deref(),
                options: &p.options,
            };
            settings::mount(mountpoint, flags, profile, &env).map_err(|e| e.to_string())
        });
    match settings {
        Ok(settings) => mount_with(&settings, env_password, systemd),
        Err(message) => finish(Err(message)),
    }
}

/// Checks the mountpoint, signs in, daemonizes, and serves until unmounted. Started by
/// systemd (`Type=notify`), it does not fork: systemd watches the process it started, and
/// hears `READY=1` once the mount answers.
fn mount_with(
    settings: &MountSettings,
    env_password: EnvPassword,
    systemd: Option<Arc<Notifier>>,
) -> ExitCode {
    let prepared = mountpoint::check(&settings.mountpoint).and_then(|mountpoint| {
        let cognito = match settings.cognito.clone() {
            Some(c) => {
                let mut login = secrets::read(c, env_password)?;
                let signed_in = clients::sign_in_once(&mut login, &settings.endpoints)?;
                Some((login, signed_in))
            }
            None => None,
        };
        Ok((mountpoint, cognito))
    });
    let (mountpoint, cognito) = match prepared {
        Ok(p) => p,
        Err(message) => return finish(Err(message)),
    };
    let attached = settings.process.foreground || systemd.is_some();
    if let Err(message) = init_logging(&settings.process, attached) {
        return finish(Err(message));
    }
    let mut ready = if attached {
        Ready::foreground()
    } else {
        match daemonize() {
            Ok(ready) => ready,
            Err(e) => return finish(Err(format!("cannot start the daemon: {e}"))),
        }
    };
    match session::serve(settings, &mountpoint, cognito, &mut ready, systemd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ready.failure(&message);
            finish(Err(message))
        }
    }
}

/// Standard error when attached (a terminal, or systemd's journal) and no log file is
/// given; else the log file.
fn init_logging(process: &ProcessSettings, attached: bool) -> Result<(), String> {
    match (&process.log_file, attached) {
        (None, true) => {
            crate::logging::init_stderr(process.debug);
            Ok(())
        }
        (path, _) => {
            let path = path
                .clone()
                .or_else(crate::logging::default_log_file)
                .ok_or(
                    "no place for the log file: set HOME or XDG_STATE_HOME, or give --log-file",
                )?;
            crate::logging::init_file(&path, process.debug)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))
        }
    }
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cognito-s3fs: {message}");
            ExitCode::FAILURE
        }
    }
}
