//! Profiles, through the real binary: `profile add` writes what `mount --profile` reads,
//! flags override it, and a profile that holds a password is refused before anything runs.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::{Emulator, Mounted, BIN};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn profile(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("profile")
        .args(args)
        .arg("--config")
        .arg(config)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

#[test]
fn a_profile_written_by_profile_add_mounts_and_flags_override_it() {
    let emu = Emulator::start();
    let config = emu.dir.path().join("config/config.toml");
    let auth = emu.auth_args("alice");
    let mut add: Vec<&str> = vec!["add", "team"];
    add.extend(auth.iter().map(String::as_str));
    add.extend(["--bucket", "beta", "--metadata-ttl", "indefinite"]);
    let out = profile(&config, &add);
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("[profiles.team]") && written.contains("bucket = [\"beta\"]"));
    assert!(
        !written.contains(&emu.password("alice")),
        "never the password"
    );

    let out = profile(&config, &["list"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "team\n");

    let config_arg = config.to_str().unwrap();
    let mut cmd = emu.command("mount", "alice");
    let mnt = Mounted::start_with(&mut cmd, &["--profile", "team", "--config", config_arg])
        .unwrap_or_else(|o| panic!("{}", text(&o)));
    assert_eq!(names(&mnt.path), BTreeSet::from(["beta".to_owned()]));
    let readme = std::fs::read_to_string(mnt.path.join("beta/data/readme.md")).unwrap();
    assert!(readme.starts_with("# beta"));
    assert!(mnt.unmount_and_wait());

    // COGNITO_S3FS_PROFILE picks it too, and a flag beats the profile's value.
    let mut cmd = emu.command("mount", "alice");
    cmd.env("COGNITO_S3FS_PROFILE", "team");
    let mnt = Mounted::start_with(&mut cmd, &["--config", config_arg, "--bucket", "alpha"])
        .unwrap_or_else(|o| panic!("{}", text(&o)));
    assert_eq!(names(&mnt.path), BTreeSet::from(["alpha".to_owned()]));
    assert!(mnt.unmount_and_wait());
}

#[test]
fn a_profile_that_holds_a_password_or_a_typo_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let mnt = Mounted::prepare();
    let mount = |name: &str| {
        Command::new(BIN)
            .args(["mount", "--profile", name, "--config"])
            .arg(&config)
            .arg(&mnt.path)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("COGNITO_S3FS_PASSWORD")
            .output()
            .unwrap()
    };
    std::fs::write(
        &config,
        "[profiles.leaky]\nusername = \"alice\"\npassword = \"hunter2\"\n",
    )
    .unwrap();
    let out = mount("leaky");
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains(&format!(
            "{}: profile leaky holds a password",
            config.display()
        )),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");

    std::fs::write(&config, "[profiles.typo]\nmetdata-ttl = 5\n").unwrap();
    let out = mount("typo");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("profile typo: unknown field `metdata-ttl`"),
        "{}",
        text(&out)
    );
    assert!(!common::is_mounted(&mnt.path));
}

#[test]
fn the_readme_profile_mounts_its_prefix() {
    let emu = Emulator::start();
    let config = common::readme_config(&emu);
    let mut cmd = emu.command("mount", "alice");
    cmd.env_remove("COGNITO_S3FS_PASSWORD");
    let config_arg = config.to_str().unwrap();
    let mnt = Mounted::start_with(&mut cmd, &["--profile", "team", "--config", config_arg])
        .unwrap_or_else(|o| panic!("{}", text(&o)));
    assert_eq!(
        names(&mnt.path),
        BTreeSet::from(["numbers.csv".to_owned(), "readme.md".to_owned()]),
        "s3://beta/data/ at the root"
    );
    let readme = std::fs::read_to_string(mnt.path.join("readme.md")).unwrap();
    assert!(readme.starts_with("# beta"));
    assert!(mnt.unmount_and_wait());
}
