//! The AWS SDK's default HTTPS client, with its one slow step taken off the way to a mount.
//!
//! The default client reads and parses the system's root certificates when a client is
//! built (in `validate_base_client_config`), so that the first request does not pay for it.
//! That step takes 10-20 ms here (hundreds of files under `/etc/ssl/certs`), a sizeable part
//! of the time from the command to a usable mount, while the mount itself (`fusermount3`) waits
//! behind it. Here the certificates load on a thread of their own, started with the daemon,
//! and the client skips the eager step: the mount and the certificates proceed side by side,
//! and the first request waits for the certificates only if they are not loaded yet.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, Connector, ConnectorBuilder};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The connector the SDK's own default builds (aws-smithy-runtime's `default_https_client`):
/// rustls with aws-lc, the system's roots, proxies from the environment.
fn connector(
    settings: Option<&HttpConnectorSettings>,
    components: Option<&RuntimeComponents>,
) -> Connector {
    let mut builder =
        ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    builder.set_connector_settings(settings.cloned());
    if let Some(components) = components {
        builder.set_sleep_impl(components.sleep_impl());
    }
    builder.set_proxy_config(Some(ProxyConfig::from_env()));
    builder.build()
}

/// The default client without the eager certificate load at client construction.
#[derive(Debug)]
struct Deferred(SharedHttpClient);

impl HttpClient for Deferred {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The HTTPS client every SDK client of the daemon uses.
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(Deferred(Builder::new().build_with_connector_fn(connector)))
}

/// Starts loading the root certificates on a thread of their own. Call it after any fork: a
/// thread does not survive one.
pub fn load_roots_in_background() {
    let started = std::thread::Builder::new()
        .name("tls-roots".into())
        .spawn(|| drop(connector(None, None)));
    if let Err(e) = started {
        // The first request loads them instead.
        tracing::debug!("cannot start the thread that loads TLS roots: {e}");
    }
}
