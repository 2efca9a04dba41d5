//! axum integration (feature `axum`): an extractor for the authorized
//! delegation, and the example tool server.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};

use crate::decision::{Decision, Reason};
use crate::middleware::{AuthorizedDelegation, problem_response};

/// Extracts the [`AuthorizedDelegation`] the [`AgentcapLayer`](crate::AgentcapLayer)
/// placed in the request; answers 401 (problem+json) when there is none,
/// e.g. on a route the layer does not cover.
///
/// ```no_run
/// use agentcap_verifier::Authorized;
/// async fn handler(Authorized(delegation): Authorized) -> String {
///     format!("{} via {}", delegation.user(), delegation.agents().join(" → "))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Authorized(pub AuthorizedDelegation);

impl<S: Send + Sync> FromRequestParts<S> for Authorized {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuthorizedDelegation>()
            .cloned()
            .map(Authorized)
            .ok_or_else(|| {
                let decision = Decision::new(
                    Reason::MissingToken,
                    parts.uri.path(),
                    parts.method.as_str(),
                );
                problem_response(&decision, "agentcap").into_response()
            })
    }
}
