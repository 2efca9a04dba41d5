//! Building a [`Verifier`] from command-line options, and running the
//! example tool server behind its middleware (for `serve` and `demo`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agentcap::PublicKey;
use agentcap_revocation::{Fetcher, RevocationState, Subscriber};
use agentcap_verifier::{AgentcapLayer, AuditSink, JsonLinesAuditSink, Verifier};

use crate::error::{CliError, CliResult, Kind, ResultExt};
use crate::input::check_path_arg;

/// How often a file or URL revocation source is re-read by `serve`.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// The validated verifier options.
pub(crate) struct VerifierSpec {
    /// Root keys by root key id (`None`: tokens naming no id).
    pub roots: Vec<(Option<u32>, PublicKey)>,
    /// A Datalog policy file.
    pub policy_file: Option<PathBuf>,
    /// Require holder proofs of possession, no older than this.
    pub holder_proof_max_age: Option<Duration>,
    /// With proofs required: accept bearer leaves without one.
    pub allow_bearer: bool,
    /// The authorities proofs must be made for (empty: any).
    pub audience: Vec<String>,
    /// The service's resource identifier, compared with the audiences
    /// tokens name (`None`: tokens naming any are refused).
    pub resource_id: Option<String>,
    /// Tolerated clock skew (`None`: the verifier's default).
    pub clock_skew: Option<Duration>,
}

/// Parses `--clock-skew` (`0s` allowed). Its bound is the verifier's
/// (`MAX_CLOCK_SKEW`), refused when the verifier is built.
pub(crate) fn clock_skew(text: Option<&str>) -> CliResult<Option<Duration>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let skew = humantime::parse_duration(text.trim())
        .map_err(|e| CliError::usage(format!("--clock-skew: {e} (examples: 0s, 5s, 2m)")))?;
    Ok(Some(skew))
}

/// Parses `--resource-id` into its canonical form.
pub(crate) fn resource_id(text: Option<&str>) -> CliResult<Option<String>> {
    text.map(|uri| {
        agentcap::canonical_resource(uri)
            .map_err(|e| CliError::usage(format!("--resource-id: {e}")))
    })
    .transpose()
}

impl VerifierSpec {
    /// Checks the policy file path.
    pub(crate) fn new(
        roots: Vec<(Option<u32>, PublicKey)>,
        policy_file: Option<PathBuf>,
    ) -> CliResult<Self> {
        if let Some(p) = &policy_file {
            check_path_arg(p, "--policy-file", None)?;
            if !p.is_file() {
                return Err(CliError::io(format!(
                    "reading policy file {}: no such file",
                    p.display()
                )));
            }
        }
        Ok(Self {
            roots,
            policy_file,
            holder_proof_max_age: None,
            allow_bearer: false,
            audience: Vec::new(),
            resource_id: None,
            clock_skew: None,
        })
    }

    /// Builds the verifier, with the revocation state if any.
    pub(crate) fn build(&self, revocation: Option<Arc<RevocationState>>) -> CliResult<Verifier> {
        let mut builder = Verifier::builder();
        for (id, key) in &self.roots {
            builder = builder.root_key(*id, *key);
        }
        builder = match revocation {
            Some(state) => builder.revocation(state),
            None => builder.without_revocation(),
        };
        if let Some(p) = &self.policy_file {
            builder = builder.policy_file(p);
        }
        if let Some(max_age) = self.holder_proof_max_age {
            builder = builder.require_holder_proof(max_age);
            if self.allow_bearer {
                builder = builder.allow_bearer_leaves();
            }
        }
        if !self.audience.is_empty() {
            builder = builder.audience(self.audience.iter().cloned());
        }
        if let Some(skew) = self.clock_skew {
            builder = builder.clock_skew(skew);
        }
        if let Some(id) = &self.resource_id {
            builder = builder.resource_id(id);
        }
        builder
            .build()
            .or_fail(Kind::Usage, "configuring the verifier")
    }
}

/// Opens the audit sink (JSON lines, 0600).
pub(crate) fn audit_sink(path: &Path) -> CliResult<Arc<JsonLinesAuditSink>> {
    check_path_arg(path, "--audit-log", None)?;
    JsonLinesAuditSink::open(path)
        .map(Arc::new)
        .or_fail(Kind::Io, format!("opening audit log {}", path.display()))
}

/// Starts the example tool server on `listen`; returns the bound address.
pub(crate) async fn start_tool_server(
    listen: &str,
    verifier: Verifier,
    audit: Option<Arc<dyn AuditSink>>,
    audit_required: bool,
) -> CliResult<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let mut layer = AgentcapLayer::new(verifier);
    if let Some(sink) = audit {
        layer = layer.audit(sink);
        if audit_required {
            layer = layer.require_audit();
        }
    }
    super::serve_router(listen, agentcap_verifier::tool_server::router(layer)).await
}

/// Keeps `state` current in the background: a fetcher polls its URL, and
/// a subscriber follows the push stream when the server offers one (an
/// `agentcap revocation serve`), so a revocation lands within a second.
pub(crate) fn keep_fresh(fetcher: Fetcher, base_url: &str) {
    if let Ok(subscriber) = Subscriber::new(base_url, fetcher.state().clone()) {
        tokio::spawn(async move { subscriber.run().await });
    }
    tokio::spawn(async move { fetcher.run(REFRESH_INTERVAL).await });
}
