use std::process::ExitCode;

use cognito_s3fs::cli::Command;
use cognito_s3fs::start::{login_command, mount_command, profile_command};

fn main() -> ExitCode {
    // First of all, before any secret is read: no core dumps, and the password variable out
    // of the environment whatever the options (see cognito_s3fs::harden).
    let env_password = match cognito_s3fs::harden::before_secrets() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cognito-s3fs: cannot turn off core dumps: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cognito_s3fs::cli::parse().command {
        Command::Mount(args) => mount_command(*args, env_password),
        Command::Login(args) => login_command(*args, env_password),
        Command::Profile(command) => profile_command(command),
        Command::Status(args) => {
            cognito_s3fs::status::status_command(args.mountpoint.as_deref(), args.json)
        }
        Command::Completions { shell } => {
            cognito_s3fs::manual::completions(shell, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Manual { out_dir } => match cognito_s3fs::manual::man_pages(&out_dir) {
            Ok(pages) => {
                pages.iter().for_each(|p| println!("{}", p.display()));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "cognito-s3fs: cannot write the man pages into {}: {e}",
                    out_dir.display()
                );
                ExitCode::FAILURE
            }
        },
    }
}
