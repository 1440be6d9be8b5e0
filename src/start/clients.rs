//! The AWS clients: the SDK configuration, the Cognito sign-in, and the S3 client, built in
//! one place for the daemon and for `s3-direct` alike (so that the benchmark's direct column
//! measures the same HTTP client the mount uses).

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::sync::Notify;

use super::secrets::Login;
use crate::auth::secret::{prompt_new_password, SecretInputError};
use crate::auth::transport::check_cognito_endpoints;
use crate::auth::{sign_in, CognitoClient, CognitoCredentialsProvider, Secret, SignedIn};
use crate::s3::retry::{CredentialsInvalidator, RetryPolicy, RetryingStore};
use crate::s3::sdk::SdkStore;
use crate::s3::{Counters, ObjectStore};
use crate::settings::{Endpoints, MountSettings};

/// The SDK's shared configuration. `anonymous`: never consult the default credentials chain
/// (the Cognito calls are unsigned, and the S3 client gets the Cognito provider).
pub async fn sdk_config(region: Option<&str>, endpoints: &Endpoints, anonymous: bool) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(crate::s3::https::client());
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_owned()));
    }
    if let Some(url) = &endpoints.url {
        loader = loader.endpoint_url(url);
    }
    if anonymous {
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

/// The S3 client: credentials from `provider` (else the SDK's chain), SDK retries off
/// (retries happen in [`RetryingStore`], which has no retry quota to run dry under faults).
pub fn s3_client(
    sdk: &SdkConfig,
    path_style: bool,
    provider: Option<CognitoCredentialsProvider>,
) -> aws_sdk_s3::Client {
    let mut s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style);
    if let Some(provider) = provider {
        s3 = s3
            .credentials_provider(provider)
            .identity_cache(aws_config::identity::IdentityCache::no_cache());
    }
    s3 = s3
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .build(),
        );
    aws_sdk_s3::Client::from_conf(s3.build())
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

/// Runs the Cognito chain once on a runtime that is gone when this returns (the daemon
/// forks afterwards, single-threaded).
pub fn sign_in_once(login: &mut Login, endpoints: &Endpoints) -> Result<SignedIn, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let password = login.password.clone();
    let mut source = new_password_source(login.new_password.take());
    let config = login.config.clone();
    let settings = login.sign_in.clone();
    let result = rt.block_on(async {
        let sdk = sdk_config(Some(&config.region), endpoints, true).await;
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

/// The store the filesystem reads through, and its request counters.
pub struct Clients {
    pub store: Arc<dyn ObjectStore>,
    pub counters: Arc<Counters>,
    /// The Cognito session, for `cognito-s3fs status`: the provider, and who signed in
    /// (username, user pool id, identity id).
    pub cognito: Option<(CognitoCredentialsProvider, (String, String, String))>,
}

/// The mount's clients; with a Cognito login, its credentials refresher runs until `stop`.
/// Call inside the daemon's runtime.
pub async fn for_mount(
    settings: &MountSettings,
    cognito: Option<(Login, SignedIn)>,
    stop: Arc<Notify>,
) -> Clients {
    let sdk = sdk_config(
        settings.region.as_deref(),
        &settings.endpoints,
        cognito.is_some(),
    )
    .await;
    let who = cognito.as_ref().map(|(login, signed_in)| {
        let c = &login.config;
        let ids = (c.username.clone(), c.user_pool_id.clone());
        (ids.0, ids.1, signed_in.identity_id.clone())
    });
    let provider = cognito.map(|(login, signed_in)| {
        let identity = signed_in.identity_id.clone();
        let backend = Arc::new(CognitoClient::new(login.config, &sdk).with_sign_in(login.sign_in));
        let provider = CognitoCredentialsProvider::new(backend, signed_in);
        tokio::spawn(provider.clone().run_refresher(stop));
        tracing::info!(identity_id = %identity, "logged in through Cognito");
        provider
    });
    let session = provider.clone().zip(who);
    let invalidator = provider
        .clone()
        .map(|p| Arc::new(p) as Arc<dyn CredentialsInvalidator>);
    let sdk_store = SdkStore::new(s3_client(&sdk, settings.endpoints.path_style, provider));
    let counters = sdk_store.counters();
    let mut store = RetryingStore::new(
        sdk_store,
        RetryPolicy::with_deadline(settings.request_timeout),
    );
    if let Some(credentials) = invalidator {
        store = store.with_invalidator(credentials);
    }
    Clients {
        store: Arc::new(store),
        counters,
        cognito: session,
    }
}
