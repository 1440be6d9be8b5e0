//! The mount-helper form of the command line, for `/etc/fstab` and `mount -t`.
//!
//! A line such as
//!
//! ```text
//! team  /mnt/data  fuse.cognito-s3fs  _netdev,ro,profile=team,allow_other  0 0
//! ```
//!
//! makes `mount(8)` run `mount.fuse3`, which runs `cognito-s3fs team /mnt/data -o OPTS`.
//! That form is translated here into the ordinary `mount` subcommand:
//! - the source is an `s3://bucket[/prefix/]` URL (passed on as the mount's source), or
//!   the name of a profile (`--profile NAME`), or `none`/`cognito-s3fs` for neither;
//! - each `-o` option `key=value` becomes `--key value`, and a bare `key` becomes
//!   `--key`, with `_` read as `-` (`allow_other` is `--allow-other`), for every option
//!   `mount --help` lists;
//! - the options that `mount(8)`, `mount.fuse3` and systemd add or read for themselves
//!   (`ro`, `rw`, `_netdev`, `nofail`, `noauto`, `x-systemd.*`, `nosuid`, `nodev`, ...) are
//!   ignored: the mount is read-only, without devices or set-uid files, whatever they say.
//!
//! Semantics decision: any other option is an error that names it, so a typo in fstab
//! fails at boot with a line in the journal instead of being silently dropped.

use std::ffi::OsString;

use crate::cli::command;

/// Options `mount(8)`, `mount.fuse3` or systemd pass or read themselves, which mean
/// nothing more to this read-only mount.
const IGNORED: &[&str] = &[
    "ro",
    "rw",
    "defaults",
    "auto",
    "noauto",
    "user",
    "nouser",
    "users",
    "owner",
    "group",
    "_netdev",
    "nofail",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "async",
    "sync",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "lazytime",
    "silent",
    "loud",
];

/// Whether `argv` is the mount-helper form: a first argument that is no subcommand nor an
/// option, then a mountpoint.
pub fn is_helper_form(argv: &[OsString]) -> bool {
    let Some(first) = argv.get(1).and_then(|a| a.to_str()) else {
        return false;
    };
    let known = command().get_subcommands().any(|s| s.get_name() == first) || first == "help";
    !known && !first.starts_with('-') && argv.len() >= 3
}

/// `PROGRAM SOURCE MOUNTPOINT [-o OPTS]...` as `PROGRAM mount ...`; the error names the
/// option that is not known.
pub fn translate(argv: &[OsString]) -> Result<Vec<OsString>, String> {
    let program = argv
        .first()
        .cloned()
        .unwrap_or_else(|| "cognito-s3fs".into());
    let source = text(&argv[1])?;
    let mountpoint = argv[2].clone();
    let mut out: Vec<OsString> = vec![program, "mount".into()];
    let mut options = Vec::new();
    let mut rest = argv[3..].iter();
    while let Some(arg) = rest.next() {
        match text(arg)? {
            "-o" => {
                let opts = rest.next().ok_or("-o needs a list of options")?;
                options.extend(text(opts)?.split(',').map(str::to_owned));
            }
            o if o.starts_with("-o") => options.extend(o[2..].split(',').map(str::to_owned)),
            // mount(8) passes these for its own sake: -n (no mtab), -s (sloppy), -v, -f.
            "-n" | "-s" | "-v" | "-f" => {}
            other => {
                return Err(format!(
                    "unexpected argument {other:?} in the mount-helper form"
                ))
            }
        }
    }
    let named = options
        .iter()
        .find_map(|o| o.strip_prefix("profile="))
        .map(str::to_owned);
    match (source, named.as_deref()) {
        (s, _) if s.starts_with("s3://") => out.push(s.into()),
        ("none" | "cognito-s3fs", _) => {}
        // Named twice, the same: the option gives it.
        (profile, Some(named)) if profile == named => {}
        (profile, Some(named)) => {
            return Err(format!(
                "the source {profile:?} names a profile and so does profile={named}; \
                 give one, or the same"
            ))
        }
        (profile, None) => out.extend(["--profile".into(), profile.into()]),
    }
    let cli = command();
    let mount = cli
        .find_subcommand("mount")
        .ok_or("the mount subcommand is missing")?;
    for option in options.iter().filter(|o| !o.is_empty()) {
        out.extend(flag_for(mount, option)?);
    }
    out.push(mountpoint);
    Ok(out)
}

fn text(arg: &OsString) -> Result<&str, String> {
    arg.to_str()
        .ok_or_else(|| format!("{arg:?} is not valid UTF-8"))
}

/// The `mount` flag(s) for one `-o` option; nothing for an option that is ignored.
fn flag_for(mount: &clap::Command, option: &str) -> Result<Vec<OsString>, String> {
    let (key, value) = match option.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (option, None),
    };
    if IGNORED.contains(&key) || key.starts_with("x-") || key.starts_with("comment=") {
        return Ok(Vec::new());
    }
    let long = key.replace('_', "-");
    let arg = mount
        .get_arguments()
        .find(|a| a.get_long() == Some(long.as_str()))
        .ok_or_else(|| {
            format!("unknown mount option {key:?} in -o (see cognito-s3fs mount --help)")
        })?;
    let takes_value = arg.get_action().takes_values();
    match (takes_value, value) {
        (true, Some(v)) => Ok(vec![format!("--{long}").into(), v.into()]),
        (false, None) => Ok(vec![format!("--{long}").into()]),
        (true, None) => Err(format!("mount option {key:?} needs a value: {key}=...")),
        (false, Some(_)) => Err(format!("mount option {key:?} takes no value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn the_helper_form_is_told_from_subcommands() {
        assert!(is_helper_form(&argv(&["c", "team", "/mnt", "-o", "ro"])));
        assert!(is_helper_form(&argv(&["c", "s3://b/", "/mnt"])));
        assert!(!is_helper_form(&argv(&["c", "mount", "/mnt"])));
        assert!(!is_helper_form(&argv(&["c", "login", "--username", "x"])));
        assert!(!is_helper_form(&argv(&["c", "--help"])));
        assert!(!is_helper_form(&argv(&["c", "help", "mount"])));
        assert!(!is_helper_form(&argv(&["c", "team"])));
    }

    #[test]
    fn an_fstab_line_becomes_a_mount_command() {
        let out = translate(&argv(&[
            "cognito-s3fs",
            "team",
            "/mnt/data",
            "-o",
            "rw,_netdev,ro,allow_other,x-systemd.automount,nosuid,nodev,metadata_ttl=30",
        ]))
        .unwrap();
        assert_eq!(
            strings(out),
            [
                "cognito-s3fs",
                "mount",
                "--profile",
                "team",
                "--allow-other",
                "--metadata-ttl",
                "30",
                "/mnt/data"
            ]
        );
    }

    #[test]
    fn an_s3_url_source_and_mount_8_flags_pass_through() {
        let out = translate(&argv(&[
            "c",
            "s3://bucket/prefix/",
            "/mnt",
            "-n",
            "-o",
            "ro",
            "-obucket=x",
        ]))
        .unwrap();
        assert_eq!(
            strings(out),
            ["c", "mount", "s3://bucket/prefix/", "--bucket", "x", "/mnt"]
        );
        let out = translate(&argv(&["c", "none", "/mnt"])).unwrap();
        assert_eq!(strings(out), ["c", "mount", "/mnt"]);
        let out = translate(&argv(&["c", "team", "/mnt", "-o", "profile=team"])).unwrap();
        assert_eq!(strings(out), ["c", "mount", "--profile", "team", "/mnt"]);
        let err = translate(&argv(&["c", "team", "/mnt", "-o", "profile=other"])).unwrap_err();
        assert!(err.contains("give one, or the same"), "{err}");
    }

    #[test]
    fn unknown_or_malformed_options_are_errors_that_name_them() {
        let err = translate(&argv(&["c", "team", "/mnt", "-o", "ro,allow_othr"])).unwrap_err();
        assert!(err.contains("unknown mount option \"allow_othr\""), "{err}");
        let err = translate(&argv(&["c", "team", "/mnt", "-o", "metadata_ttl"])).unwrap_err();
        assert!(err.contains("needs a value"), "{err}");
        let err = translate(&argv(&["c", "team", "/mnt", "-o", "allow_other=1"])).unwrap_err();
        assert!(err.contains("takes no value"), "{err}");
        let err = translate(&argv(&["c", "team", "/mnt", "-o"])).unwrap_err();
        assert!(err.contains("-o needs"), "{err}");
        let err = translate(&argv(&["c", "team", "/mnt", "--what"])).unwrap_err();
        assert!(err.contains("unexpected argument"), "{err}");
    }
}
