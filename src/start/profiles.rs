//! `cognito-s3fs profile add|list`.

use std::process::ExitCode;

use super::finish;
use crate::cli::{ProfileAddArgs, ProfileCommand};
use crate::settings::profile::{self, Profile};

pub fn profile_command(command: ProfileCommand) -> ExitCode {
    finish(match command {
        ProfileCommand::Add(args) => add(*args),
        ProfileCommand::List { file } => profile::file_of(&file)
            .and_then(|path| profile::list(&path))
            .map(|names| names.iter().for_each(|n| println!("{n}")))
            .map_err(|e| e.to_string()),
    })
}

fn add(args: ProfileAddArgs) -> Result<(), String> {
    if args.options.cognito.password_stdin {
        return Err(
            "a profile cannot read the password from standard input; give --password-file".into(),
        );
    }
    let path = profile::file_of(&args.file).map_err(|e| e.to_string())?;
    if let Some(source) = &args.source {
        crate::settings::source::parse(source).map_err(|e| e.to_string())?;
    }
    let profile = Profile {
        source: args.source,
        options: args.options,
    };
    profile::add(&path, &args.name, &profile).map_err(|e| e.to_string())?;
    println!("profile {} written to {}", args.name, path.display());
    Ok(())
}
