//! One-line summaries of AWS SDK errors that carry no service error code (network trouble,
//! timeouts, answers that are not AWS errors), without the raw response dump that the SDK's
//! own `Debug` output contains.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;

/// A short description of `err`, fit for one log or error line.
pub fn summary<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    match err {
        SdkError::DispatchFailure(f) => match f.as_connector_error() {
            Some(c) => format!("connection failed: {}", chain(c)),
            None => "the request could not be sent".to_owned(),
        },
        SdkError::TimeoutError(_) => "the request timed out".to_owned(),
        SdkError::ResponseError(r) => {
            format!("unexpected answer (HTTP {})", r.raw().http_status())
        }
        SdkError::ServiceError(s) => format!(
            "error answer (HTTP {}): {}",
            s.raw().http_status(),
            chain(s.err())
        ),
        SdkError::ConstructionFailure(_) => {
            format!(
                "the request could not be built: {}",
                DisplayErrorContext(err)
            )
        }
        _ => DisplayErrorContext(err).to_string(),
    }
}

/// The HTTP status of a raw response type.
pub trait HasStatus {
    fn http_status(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The messages of an error and its sources, joined with ": ", skipping repeats.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}
