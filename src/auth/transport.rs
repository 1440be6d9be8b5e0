//! Where Cognito traffic may go in the clear.
//!
//! Every Cognito call carries a secret: InitiateAuth the password (or the refresh token),
//! GetId and GetCredentialsForIdentity the IdToken, STS AssumeRoleWithWebIdentity (the
//! basic flow) an OpenID token, and their answers the tokens and the AWS keys. Over plain `http://` anyone on the path reads them, so plain http is refused unless
//! the endpoint is a loopback address (a local emulator such as moto).
//!
//! The endpoint is worked out the way the SDK's client config does it (`--endpoint-url`,
//! else the service's own `AWS_ENDPOINT_URL_*` variable or profile setting, else
//! `AWS_ENDPOINT_URL`), before any call is made. With none of these, the SDK's own endpoints
//! are https.

use std::net::{Ipv4Addr, Ipv6Addr};

use aws_types::service_config::ServiceConfigKey;
use aws_types::SdkConfig;

/// The SDK's service ids of the clients of the sign-in chain.
const SERVICES: [&str; 3] = ["Cognito Identity Provider", "Cognito Identity", "STS"];

/// Refuses a configuration that would send Cognito traffic over plain http to a host that
/// is not loopback.
pub fn check_cognito_endpoints(sdk: &SdkConfig) -> Result<(), String> {
    for service in SERVICES {
        if let Some(url) = endpoint_of(sdk, service) {
            if let Some(why) = refusal(&url) {
                return Err(why);
            }
        }
    }
    Ok(())
}

/// The endpoint the SDK's client for `service` will use, when one is configured.
fn endpoint_of(sdk: &SdkConfig, service: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_owned);
    }
    let key = ServiceConfigKey::builder()
        .service_id(service)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config()
        .and_then(|conf| conf.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// Why `url` may not carry a password, if it may not.
pub fn refusal(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") || is_loopback_host(host_of(rest)) {
        return None;
    }
    Some(format!(
        "refusing to send the password and tokens over plain http to {url}: use an https \
         endpoint (plain http is allowed to loopback addresses only)"
    ))
}

/// The host of the part of a URL after `scheme://`: no user info, no port, no brackets.
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or("");
    }
    host_port.split(':').next().unwrap_or("")
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return v4.is_loopback();
    }
    host.parse::<Ipv6Addr>()
        .is_ok_and(|v6| v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_unless_the_host_is_loopback() {
        for allowed in [
            "https://cognito-idp.us-east-1.amazonaws.com",
            "https://10.1.2.3:8443/",
            "http://127.0.0.1:5000",
            "http://127.8.9.10/",
            "HTTP://localhost:5000/path",
            "http://localhost.",
            "http://[::1]:5000",
            "http://[::ffff:127.0.0.1]:5000",
            "http://user@127.0.0.1:5000",
        ] {
            assert_eq!(refusal(allowed), None, "{allowed}");
        }
        for refused in [
            "http://cognito-idp.us-east-1.amazonaws.com",
            "http://0.0.0.0:5000",
            "http://10.0.0.1",
            "http://[::]:5000",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io:5000",
            "http://127.0.0.1@evil.example:5000",
        ] {
            let why = refusal(refused).unwrap_or_else(|| panic!("{refused} allowed"));
            assert!(why.contains("plain http"), "{why}");
        }
    }
}
