//! The profile file: what it accepts, what it refuses and in which words, and `profile add`
//! writing what it reads back.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::cli::AuthFlowArg;

fn file() -> &'static Path {
    Path::new("/home/u/.config/cognito-s3fs/config.toml")
}

fn refusal(text: &str) -> String {
    parse(file(), text).unwrap_err().to_string()
}

#[test]
fn every_kind_of_value_is_read_as_the_flag_reads_it() {
    let text = r#"
        [profiles.team]
        region = "eu-west-1"
        username = "alice"
        password-file = "/home/u/.config/cognito-s3fs/alice.password"
        auth-flow = "user-auth"
        bucket = ["a", "b"]
        metadata-ttl = 300
        negative-ttl = "indefinite"
        max-memory = "1G"
        kernel-readahead = 0
        file-mode = "0440"
        allow-other = true
    "#;
    let p = parse(file(), text).unwrap().remove("team").unwrap().options;
    assert_eq!(p.cognito.region.as_deref(), Some("eu-west-1"));
    assert_eq!(p.cognito.auth_flow, Some(AuthFlowArg::UserAuth));
    assert_eq!(p.filesystem.buckets, ["a", "b"]);
    assert_eq!(p.filesystem.metadata_ttl, Some(Duration::from_secs(300)));
    assert_eq!(
        p.filesystem.negative_ttl,
        Some(crate::settings::values::INDEFINITE)
    );
    assert_eq!(p.reading.max_memory, Some(1 << 30));
    assert_eq!(p.reading.kernel_readahead, Some(0));
    assert_eq!(p.filesystem.file_mode, Some(0o440));
    assert!(p.filesystem.allow_other && !p.process.debug);
}

#[test]
fn an_unknown_key_is_named_with_its_profile_and_file() {
    assert_eq!(
        refusal("[profiles.team]\nmetdata-ttl = 5\n"),
        "/home/u/.config/cognito-s3fs/config.toml: profile team: unknown field `metdata-ttl`"
    );
    assert_eq!(
        refusal("region = \"x\"\n"),
        "/home/u/.config/cognito-s3fs/config.toml: unknown key `region` (profiles go in [profiles.NAME] tables)"
    );
    assert_eq!(
        refusal("profiles = 3\n"),
        "/home/u/.config/cognito-s3fs/config.toml: `profiles` must be a table of [profiles.NAME]"
    );
}

#[test]
fn a_password_is_refused_with_what_to_write_instead() {
    assert_eq!(
        refusal("[profiles.team]\npassword = \"hunter2\"\n"),
        "/home/u/.config/cognito-s3fs/config.toml: profile team holds a password; a profile \
         never does: name a file that holds it with password-file = \"/path\" (mode 0600)"
    );
    assert!(
        refusal("[profiles.team]\npassword-stdin = true\n")
            .contains("unknown field `password-stdin`"),
        "standard input means nothing in a file"
    );
}

#[test]
fn a_bad_value_says_what_the_flag_would_say() {
    assert_eq!(
        refusal("[profiles.t]\nmax-memory = \"lots\"\n"),
        "/home/u/.config/cognito-s3fs/config.toml: profile t: 'lots' is not a size such as 4096, 64K, 8M or 1G"
    );
    assert!(
        refusal("[profiles.t]\nread-parallel = 0\n").contains("'0' is not a number from 1 to 64")
    );
    assert!(refusal("[profiles.t]\nauth-flow = \"magic\"\n").contains("unknown variant `magic`"));
    assert!(
        refusal("[profiles.t\n").contains("config.toml: "),
        "TOML syntax"
    );
}

#[test]
fn what_profile_add_writes_reads_back_the_same() {
    let mut o = MountOptions::default();
    o.cognito.user_pool_id = Some("us-east-1_Pool".into());
    o.cognito.mfa_code_command = Some("pass otp team".into());
    o.filesystem.buckets = vec!["data".into()];
    o.filesystem.metadata_ttl = Some(crate::settings::values::INDEFINITE);
    o.filesystem.dir_mode = Some(0o550);
    o.reading.part_size = Some(16 << 20);
    o.reading.random_readahead = Some(1000);
    o.process.foreground = true;
    let source = Some("s3://data/reports/".to_owned());
    let text = section(
        "team-2",
        &Profile {
            source: source.clone(),
            options: o,
        },
    )
    .unwrap();
    assert!(text.starts_with("\n[profiles.team-2]\n"), "{text}");
    assert!(
        text.contains("part-size = \"16M\"") && text.contains("dir-mode = \"0550\""),
        "{text}"
    );
    assert!(
        !text.contains("allow-other"),
        "switches left off are not written: {text}"
    );
    let back = parse(file(), &text)
        .unwrap()
        .remove("team-2")
        .unwrap()
        .options;
    assert_eq!(back.cognito.user_pool_id.as_deref(), Some("us-east-1_Pool"));
    assert_eq!(
        back.cognito.mfa_code_command.as_deref(),
        Some("pass otp team")
    );
    assert_eq!(back.filesystem.buckets, ["data"]);
    assert_eq!(
        back.filesystem.metadata_ttl,
        Some(crate::settings::values::INDEFINITE)
    );
    assert_eq!(back.filesystem.dir_mode, Some(0o550));
    assert_eq!(back.reading.part_size, Some(16 << 20));
    assert_eq!(back.reading.random_readahead, Some(1000));
    assert!(back.process.foreground);
    assert_eq!(
        section("a b", &Profile::default()).unwrap_err().to_string(),
        "'a b' is not a profile name: use letters, digits, '-' and '_'"
    );
}

#[test]
fn add_creates_a_private_file_keeps_what_is_there_and_refuses_a_second_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/config.toml");
    let mut o = MountOptions::default();
    o.cognito.username = Some("alice".into());
    add(
        &path,
        "one",
        &Profile {
            source: None,
            options: o.clone(),
        },
    )
    .unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    std::fs::write(
        &path,
        format!("# kept\n{}", std::fs::read_to_string(&path).unwrap()),
    )
    .unwrap();
    add(
        &path,
        "two",
        &Profile {
            source: None,
            options: o.clone(),
        },
    )
    .unwrap();
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("# kept\n"));
    assert_eq!(list(&path).unwrap(), ["one", "two"]);
    assert_eq!(
        add(
            &path,
            "one",
            &Profile {
                source: None,
                options: o
            }
        )
        .unwrap_err()
        .to_string(),
        format!(
            "{}: profile one exists already; edit it there or choose another name",
            path.display()
        )
    );
    let args = |name: &str| ProfileArgs {
        profile: Some(name.into()),
        file: ConfigFileArgs {
            config: Some(path.clone()),
        },
    };
    assert_eq!(
        chosen(&args("two"))
            .unwrap()
            .options
            .cognito
            .username
            .as_deref(),
        Some("alice")
    );
    assert_eq!(
        chosen(&args("three")).unwrap_err().to_string(),
        format!("{}: no profile three (it has: one, two)", path.display())
    );
    assert!(
        list(&dir.path().join("none.toml")).unwrap().is_empty(),
        "no file, no profiles"
    );
    let missing = ProfileArgs {
        profile: Some("x".into()),
        file: ConfigFileArgs {
            config: Some(dir.path().join("none.toml")),
        },
    };
    assert!(chosen(&missing)
        .unwrap_err()
        .to_string()
        .starts_with("cannot read "));
    assert!(chosen(&ProfileArgs::default())
        .unwrap()
        .options
        .cognito
        .username
        .is_none());
}
