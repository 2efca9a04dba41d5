//! The upstream: where allowed requests go, and how they are rewritten on
//! the way (identity headers, no token, no hop-by-hop headers, the
//! upstream's `Host`).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, HOST};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::decide::Identity;
use crate::{BoxError, GatewayBody, GatewayError, identity};

/// How long connecting to the upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The upstream server and a pooled client for it.
pub(crate) struct Upstream {
    scheme: Scheme,
    authority: Authority,
    /// The upstream URL's path, without a trailing `/` (`""` for none).
    prefix: String,
    host: HeaderValue,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, GatewayBody>,
}

impl Upstream {
    pub(crate) fn new(url: &str) -> Result<Upstream, GatewayError> {
        let bad = || GatewayError::Upstream(url.chars().take(200).collect());
        let uri: Uri = url.parse().map_err(|_| bad())?;
        let scheme = uri.scheme().cloned().ok_or_else(bad)?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(bad());
        }
        let authority = uri.authority().cloned().ok_or_else(bad)?;
        if uri.query().is_some() || authority.as_str().contains('@') {
            return Err(bad());
        }
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Upstream {
            scheme,
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            host,
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .build(https),
        })
    }

    /// Sends the request upstream, rewritten: the upstream's URI and
    /// `Host`, no hop-by-hop headers, no token unless `forward_token`
    /// (neither the acting one nor a joint request's others), the proven
    /// identity (with every principal of a joint request: `principals`,
    /// empty for one), and `X-Forwarded-*`.
    pub(crate) async fn forward(
        &self,
        mut parts: http::request::Parts,
        body: GatewayBody,
        identity: &Identity<'_>,
        peer: SocketAddr,
        forward_token: bool,
    ) -> Result<Response<Incoming>, BoxError> {
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.prefix, path_and_query))
            .build()?;
        let original_host = parts.headers.get(HOST).cloned();
        let headers = &mut parts.headers;
        remove_hop_by_hop(headers);
        if !forward_token {
            headers.remove(AUTHORIZATION);
            headers.remove(agentcap_verifier::JOINT_HEADER);
        }
        identity::set(headers, identity.chain);
        identity::set_principals(headers, &identity.principals);
        headers.insert(HOST, self.host.clone());
        forwarded_for(headers, peer, original_host);
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        Ok(self
            .client
            .request(Request::from_parts(parts, body))
            .await?)
    }
}

/// Removes hop-by-hop headers, and those the `Connection` header names.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Appends the client's address to `X-Forwarded-For`, and states the
/// original host and protocol.
fn forwarded_for(headers: &mut HeaderMap, peer: SocketAddr, original_host: Option<HeaderValue>) {
    let ip = peer.ip().to_string();
    let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {ip}"),
        None => ip,
    };
    if let Ok(value) = HeaderValue::from_str(&chain) {
        headers.insert("x-forwarded-for", value);
    }
    if let Some(host) = original_host {
        headers.insert("x-forwarded-host", host);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
}

/// The upstream's answer, made ready for the client: hop-by-hop headers
/// removed, the body streamed.
pub(crate) fn relay(response: Response<Incoming>) -> Response<GatewayBody> {
    let (mut parts, body) = response.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync())
}

/// A whole body as the gateway's body type.
pub(crate) fn full(bytes: impl Into<Bytes>) -> GatewayBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}
