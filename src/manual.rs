//! Shell completions and the man page, generated from the command line's own definitions
//! (so they never disagree with `--help`).
//!
//! ```sh
//! cognito-s3fs completions bash > /etc/bash_completion.d/cognito-s3fs
//! cognito-s3fs manual --out-dir /usr/local/share/man/man1   # cognito-s3fs.1, cognito-s3fs-mount.1, ...
//! ```

use std::io::Write;
use std::path::Path;

use clap_complete::Shell;

use crate::cli::command;

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    let mut cmd = command();
    clap_complete::generate(shell, &mut cmd, "cognito-s3fs", out);
}

/// Writes `cognito-s3fs.1` and one page per subcommand (`cognito-s3fs-mount.1`, ...) into
/// `dir`; returns the files written.
pub fn man_pages(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let cmd = command();
    let mut written = Vec::new();
    let mut write = |name: String, page: clap::Command| -> std::io::Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(page).title(name).render(&mut buf)?;
        std::fs::write(&path, buf)?;
        written.push(path);
        Ok(())
    };
    write("cognito-s3fs".into(), cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("cognito-s3fs-{}", sub.get_name());
        write(name, sub.clone())?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_completions_name_the_subcommands_and_their_options() {
        let mut out = Vec::new();
        completions(Shell::Bash, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("complete -F _cognito__s3fs"),
            "{}",
            &text[..200]
        );
        for word in [
            "mount",
            "login",
            "--user-pool-id",
            "--auth-flow",
            "--role-arn",
        ] {
            assert!(text.contains(word), "{word}");
        }
    }

    #[test]
    fn a_man_page_is_written_for_the_command_and_each_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let pages = man_pages(dir.path()).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"cognito-s3fs.1".to_owned()), "{names:?}");
        assert!(
            names.contains(&"cognito-s3fs-mount.1".to_owned()),
            "{names:?}"
        );
        let mount = std::fs::read_to_string(dir.path().join("cognito-s3fs-mount.1")).unwrap();
        assert!(
            mount.starts_with(".ie") || mount.contains(".TH"),
            "{}",
            &mount[..100]
        );
        assert!(mount.contains("user\\-pool\\-id"), "options are listed");
        assert!(mount.contains("default: 512M"), "with their defaults");
    }
}
