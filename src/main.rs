use std::process::ExitCode;

use clap::Parser;
use cognito_s3fs::cli::{Cli, Command};
use cognito_s3fs::run::{login_command, mount_command};

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Mount(args) => mount_command(*args),
        Command::Login(args) => login_command(*args),
    }
}
