//! The settings function: precedence (flag > profile > environment > default) and every
//! refusal, word for word.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::cli::{AuthFlowArg, FirstFactorArg, IdentityFlowArg, MountOptions};

fn env() -> Environment {
    Environment {
        uid: 1000,
        gid: 100,
        ..Environment::default()
    }
}

fn cognito_ids(o: &mut MountOptions) {
    let c = &mut o.cognito;
    c.user_pool_id = Some("eu-west-1_Pool".into());
    c.client_id = Some("client".into());
    c.identity_pool_id = Some("eu-west-1:ids".into());
    c.username = Some("alice".into());
}

fn mount_of(flags: &MountOptions, profile: &MountOptions, env: &Environment) -> MountSettings {
    mount(
        PathBuf::from("/mnt"),
        Layer::of(flags),
        Layer::of(profile),
        env,
    )
    .unwrap()
}

fn refusal(flags: &MountOptions) -> String {
    let none = MountOptions::default();
    mount(
        PathBuf::from("/mnt"),
        Layer::of(flags),
        Layer::of(&none),
        &env(),
    )
    .unwrap_err()
    .to_string()
}

fn root_of(flags: Layer, profile: Layer) -> Result<Root, String> {
    mount(PathBuf::from("/mnt"), flags, profile, &env())
        .map(|s| s.fs.root)
        .map_err(|e| e.to_string())
}

#[test]
fn what_to_mount_is_the_command_lines_else_the_profiles_else_every_bucket() {
    let none = MountOptions::default();
    let mut buckets = MountOptions::default();
    buckets.filesystem.buckets = vec!["b1".into()];
    let url = |source| Layer {
        source: Some(source),
        options: &none,
    };
    let prefix = |b: &str, p: &str| Root::Prefix {
        bucket: b.into(),
        prefix: p.into(),
    };
    assert_eq!(
        root_of(Layer::of(&none), Layer::of(&none)),
        Ok(Root::AllBuckets)
    );
    assert_eq!(
        root_of(Layer::of(&none), url("s3://p/x/")),
        Ok(prefix("p", "x/"))
    );
    assert_eq!(
        root_of(url("s3://f/"), url("s3://p/x/")),
        Ok(prefix("f", ""))
    );
    assert_eq!(
        root_of(url("s3://f/"), Layer::of(&buckets)),
        Ok(prefix("f", "")),
        "the command line's source over the profile's buckets"
    );
    assert_eq!(
        root_of(Layer::of(&buckets), url("s3://p/")),
        Ok(Root::Buckets(vec!["b1".into()]))
    );
    let both = Layer {
        source: Some("s3://f/"),
        options: &buckets,
    };
    assert_eq!(
        root_of(both, Layer::of(&none)),
        Err("give what to mount either as s3://BUCKET/[PREFIX/] or with --bucket, not both".into())
    );
}

#[test]
fn nothing_given_is_every_default_once() {
    let s = mount_of(&MountOptions::default(), &MountOptions::default(), &env());
    let fs = FsConfig::default();
    assert_eq!(s.fs.metadata_ttl, fs.metadata_ttl);
    assert_eq!(s.fs.negative_ttl, fs.negative_ttl);
    assert_eq!(s.fs.max_cached_entries, fs.max_cached_entries);
    assert_eq!(s.fs.read, fs.read, "the command line and the core agree");
    assert_eq!(s.fs.max_cache_memory, fs.max_cache_memory);
    assert_eq!(
        s.fs.max_cache_memory,
        448 << 20,
        "512 MiB less the 64 MiB reserve"
    );
    assert_eq!(s.request_timeout, defaults::REQUEST_TIMEOUT);
    assert!(s.cognito.is_none(), "no ids: the SDK's credentials chain");
    assert_eq!(s.kernel.readahead_kib, Some(1024));
    assert!(s.kernel.page_cache_push && !s.kernel.allow_other);
    assert_eq!((s.kernel.look.uid, s.kernel.look.gid), (1000, 100));
    assert_eq!(
        (s.kernel.look.file_mode, s.kernel.look.dir_mode),
        (0o444, 0o555)
    );
    assert_eq!(s.endpoints, Endpoints::default());
    assert!(!s.process.foreground && s.process.log_file.is_none());
}

#[test]
fn a_flag_beats_the_profile_which_beats_the_default() {
    let mut flags = MountOptions::default();
    let mut profile = MountOptions::default();
    profile.filesystem.metadata_ttl = Some(Duration::from_secs(300));
    profile.filesystem.negative_ttl = Some(Duration::from_secs(9));
    profile.reading.part_size = Some(16 << 20);
    profile.filesystem.buckets = vec!["from-profile".into()];
    flags.filesystem.metadata_ttl = Some(Duration::from_secs(7));
    flags.filesystem.buckets = vec!["from-flag".into()];
    let s = mount_of(&flags, &profile, &env());
    assert_eq!(
        s.fs.metadata_ttl,
        Duration::from_secs(7),
        "flag over profile"
    );
    assert_eq!(
        s.fs.negative_ttl,
        Duration::from_secs(9),
        "profile over default"
    );
    assert_eq!(s.fs.read.part_size, 16 << 20);
    assert_eq!(s.fs.root, Root::Buckets(vec!["from-flag".to_owned()]));
    assert_eq!(s.fs.read.parallel, defaults::READ_PARALLEL, "default");
}

#[test]
fn the_role_and_identity_flow_are_flag_then_profile_then_default() {
    let role = |name: &str| Some(format!("arn:aws:iam::123456789012:role/{name}"));
    let (mut flags, mut profile) = (MountOptions::default(), MountOptions::default());
    cognito_ids(&mut profile);
    let s = mount_of(&flags, &profile, &env());
    let identity = s.cognito.unwrap().identity;
    assert_eq!(
        identity,
        Default::default(),
        "enhanced, no role: the default"
    );

    profile.cognito.role_arn = role("from-profile");
    profile.cognito.identity_flow = Some(IdentityFlowArg::Basic);
    profile.cognito.session_duration = Some(Duration::from_secs(900));
    flags.cognito.role_arn = role("from-flag");
    let identity = mount_of(&flags, &profile, &env()).cognito.unwrap().identity;
    assert_eq!(identity.role_arn, role("from-flag"), "flag over profile");
    assert_eq!(identity.flow, IdentityFlow::Basic, "profile over default");
    assert_eq!(identity.session_duration, Some(Duration::from_secs(900)));
}

#[test]
fn the_region_is_flag_then_profile_then_environment_then_pool_prefix() {
    let mut flags = MountOptions::default();
    cognito_ids(&mut flags);
    let mut profile = MountOptions::default();
    let mut environment = env();
    let region = |f: &MountOptions, p: &MountOptions, e: &Environment| {
        mount_of(f, p, e).cognito.unwrap().region
    };
    assert_eq!(
        region(&flags, &profile, &environment),
        "eu-west-1",
        "pool prefix"
    );
    environment.region = Some("from-env".into());
    assert_eq!(region(&flags, &profile, &environment), "from-env");
    profile.cognito.region = Some("from-profile".into());
    assert_eq!(region(&flags, &profile, &environment), "from-profile");
    flags.cognito.region = Some("from-flag".into());
    assert_eq!(region(&flags, &profile, &environment), "from-flag");
    assert_eq!(
        mount_of(&flags, &profile, &environment).region.as_deref(),
        Some("from-flag"),
        "S3 goes to Cognito's region"
    );
}

#[test]
fn the_endpoint_is_flag_then_profile_then_environment() {
    let mut flags = MountOptions::default();
    let mut profile = MountOptions::default();
    let mut environment = env();
    let endpoints =
        |f: &MountOptions, p: &MountOptions, e: &Environment| mount_of(f, p, e).endpoints;
    environment.s3_endpoint = Some("http://127.0.0.1:9000".into());
    assert_eq!(
        endpoints(&flags, &profile, &environment),
        Endpoints {
            url: None,
            path_style: true
        },
        "the SDK's variable stays the SDK's, but a loopback one needs path style"
    );
    profile.endpoint.endpoint_url = Some("https://s3.example.com".into());
    assert_eq!(
        endpoints(&flags, &profile, &environment),
        Endpoints {
            url: Some("https://s3.example.com".into()),
            path_style: false
        }
    );
    flags.endpoint.endpoint_url = Some("http://localhost:4566".into());
    assert_eq!(
        endpoints(&flags, &profile, &environment),
        Endpoints {
            url: Some("http://localhost:4566".into()),
            path_style: true
        }
    );
    let mut forced = MountOptions::default();
    forced.endpoint.force_path_style = true;
    assert!(endpoints(&MountOptions::default(), &forced, &env()).path_style);
}

#[test]
fn a_switch_is_on_when_the_flag_or_the_profile_turns_it_on() {
    let mut profile = MountOptions::default();
    profile.filesystem.allow_other = true;
    profile.process.debug = true;
    let mut flags = MountOptions::default();
    flags.reading.no_page_cache_push = true;
    let s = mount_of(&flags, &profile, &env());
    assert!(s.kernel.allow_other && s.process.debug && !s.kernel.page_cache_push);
}

#[test]
fn the_password_comes_from_a_file_stdin_the_environment_or_the_prompt() {
    let mut flags = MountOptions::default();
    cognito_ids(&mut flags);
    let mut profile = MountOptions::default();
    let mut environment = env();
    let source = |f: &MountOptions, p: &MountOptions, e: &Environment| {
        mount_of(f, p, e).cognito.unwrap().password
    };
    assert_eq!(
        source(&flags, &profile, &environment),
        PasswordSource::Prompt
    );
    environment.password_set = true;
    assert_eq!(
        source(&flags, &profile, &environment),
        PasswordSource::Environment
    );
    profile.cognito.password_file = Some("/p".into());
    assert_eq!(
        source(&flags, &profile, &environment),
        PasswordSource::File("/p".into())
    );
    flags.cognito.password_stdin = true;
    assert_eq!(
        source(&flags, &MountOptions::default(), &environment),
        PasswordSource::Stdin
    );
    flags.cognito.password_file = Some("/q".into());
    assert_eq!(
        source(&flags, &profile, &environment),
        PasswordSource::File("/q".into())
    );
    let mut otp = MountOptions::default();
    cognito_ids(&mut otp);
    otp.cognito.first_factor = Some(FirstFactorArg::EmailOtp);
    assert_eq!(
        source(&otp, &MountOptions::default(), &env()),
        PasswordSource::NotNeeded
    );
}

#[test]
fn read_sizes_follow_the_part_size() {
    let mut flags = MountOptions::default();
    flags.reading.part_size = Some(128 << 10);
    flags.reading.kernel_readahead = Some(0);
    let s = mount_of(&flags, &MountOptions::default(), &env());
    assert_eq!(s.fs.read.first_window, 128 << 10, "never more than a part");
    assert_eq!(s.fs.read.late_reads, defaults::KERNEL_OWN_READAHEAD);
    assert_eq!(s.kernel.readahead_kib, None, "0 leaves the kernel's");
}

#[test]
fn every_refusal_says_what_to_do() {
    let mut partial = MountOptions::default();
    partial.cognito.user_pool_id = Some("us-east-1_X".into());
    partial.cognito.username = Some("alice".into());
    assert_eq!(
        refusal(&partial),
        "to log in through Cognito, also give --client-id, --identity-pool-id"
    );

    let mut no_region = MountOptions::default();
    cognito_ids(&mut no_region);
    no_region.cognito.user_pool_id = Some("PoolWithoutRegion".into());
    assert_eq!(
        refusal(&no_region),
        "no region: give --region or set AWS_REGION"
    );

    let mut otp = MountOptions::default();
    cognito_ids(&mut otp);
    otp.cognito.first_factor = Some(FirstFactorArg::SmsOtp);
    otp.cognito.auth_flow = Some(AuthFlowArg::Srp);
    assert_eq!(
        refusal(&otp),
        "--first-factor needs --auth-flow user-auth (or auto)"
    );

    let mut small = MountOptions::default();
    small.reading.max_memory = Some(70 << 20);
    let least = (defaults::MEMORY_RESERVE + 2 * defaults::PART_SIZE) >> 20;
    assert_eq!(
        refusal(&small),
        format!(
            "--max-memory must be at least {least} MiB: a reserve of 64 MiB plus two parts of --part-size"
        )
    );

    let alone = mount(
        PathBuf::from("s3://data/"),
        Layer::of(&MountOptions::default()),
        Layer::of(&MountOptions::default()),
        &env(),
    );
    assert_eq!(
        alone.unwrap_err().to_string(),
        "no MOUNTPOINT: give the directory to mount s3://data/ on after it"
    );

    let mut basic = MountOptions::default();
    cognito_ids(&mut basic);
    basic.cognito.identity_flow = Some(IdentityFlowArg::Basic);
    assert_eq!(
        refusal(&basic),
        "--identity-flow basic needs --role-arn: the basic flow assumes the role you name"
    );
    let mut lasting = MountOptions::default();
    cognito_ids(&mut lasting);
    lasting.cognito.session_duration = Some(Duration::from_secs(3600));
    assert_eq!(
        refusal(&lasting),
        "--session-duration applies to --identity-flow basic only; the enhanced flow's \
         credentials last as long as Cognito decides (one hour)"
    );

    let nothing = login(
        &Default::default(),
        &Default::default(),
        &MountOptions::default(),
        &env(),
    );
    assert_eq!(
        nothing.unwrap_err().to_string(),
        "login needs --user-pool-id, --client-id, --identity-pool-id and --username"
    );
}

#[test]
fn login_takes_its_ids_from_the_profile() {
    let mut profile = MountOptions::default();
    cognito_ids(&mut profile);
    let flags = crate::cli::CognitoArgs {
        username: Some("bob".into()),
        ..Default::default()
    };
    let s = login(&flags, &Default::default(), &profile, &env()).unwrap();
    assert_eq!(s.cognito.username, "bob");
    assert_eq!(s.cognito.client_id, "client");
}

#[test]
fn debug_output_shows_no_code_command() {
    let mut flags = MountOptions::default();
    cognito_ids(&mut flags);
    flags.cognito.mfa_code_command = Some("oathtool --totp -b SEEDSEED".into());
    let s = mount_of(&flags, &MountOptions::default(), &env());
    assert!(!format!("{s:?}").contains("SEEDSEED"));
}
