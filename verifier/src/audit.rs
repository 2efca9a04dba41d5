//! The audit trail: one record per decision, naming the user and every agent.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use agentcap::unix_time::format_rfc3339;

use crate::decision::Decision;
use crate::joint::JointPrincipal;

/// One audit record. Serialized as one JSON object per line by
/// [`JsonLinesAuditSink`]; `Deserialize` lets tools read the trail back
/// (a field missing from an older record reads as its default: nothing
/// proven, no agents, no ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When the decision was taken (RFC 3339, UTC).
    pub time: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// The stable reason code.
    pub reason: String,
    /// The user, when the token could be read.
    pub user: Option<String>,
    /// The user's tenant.
    pub tenant: Option<String>,
    /// The agents, first agent to current holder.
    pub agents: Vec<String>,
    /// Whether the chain's signatures verified (if false, user and agents
    /// are only what an unverifiable token claims).
    pub chain_verified: bool,
    /// Whether `user` is proven (the root-signed grant, verified).
    pub user_proven: bool,
    /// For each of `agents`, whether the delegation to it is proven: the
    /// verified grant, or a hop signed by the previous holder's proven key.
    /// Otherwise the name is a claim.
    pub agents_proven: Vec<bool>,
    /// The revocation ids of the token's blocks (hex).
    pub revocation_ids: Vec<String>,
    /// The HTTP method, if any.
    pub method: Option<String>,
    /// The HTTP path, if any.
    pub path: Option<String>,
    /// The resource requested (empty for a token-only request).
    pub resource: String,
    /// The operation requested (empty for a token-only request).
    pub operation: String,
    /// Whether the request asked for a valid token only, nothing specific
    /// ([`crate::AccessRequest::token_only`]).
    pub token_only: bool,
    /// The service policy that matched, if any.
    pub matched_policy: Option<String>,
    /// The decision in plain words.
    pub explanation: String,
    /// Time spent deciding, in microseconds.
    pub latency_us: u64,
    /// For a joint request: every principal, the acting one first (empty
    /// for a request made for one principal). `user` and `agents` above
    /// are the acting token's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<AuditPrincipal>,
}

/// One principal of a joint request, in an [`AuditRecord`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AuditPrincipal {
    /// 0 for the acting token, then the joint tokens in order.
    pub position: usize,
    /// The principal, when its token could be read.
    pub user: Option<String>,
    /// The principal's tenant.
    pub tenant: Option<String>,
    /// The agents of its token, first agent to holder.
    pub agents: Vec<String>,
    /// Whether its chain's signatures verified.
    pub chain_verified: bool,
    /// What its token alone decided (a reason code).
    pub reason: String,
    /// The revocation ids of its token's blocks (hex).
    pub revocation_ids: Vec<String>,
}

impl AuditPrincipal {
    fn of(principal: &JointPrincipal) -> Self {
        let chain = principal.decision.chain.as_deref();
        AuditPrincipal {
            position: principal.position,
            user: principal.user().map(str::to_owned),
            tenant: principal.tenant().map(str::to_owned),
            agents: principal.agents().into_iter().map(str::to_owned).collect(),
            chain_verified: chain.is_some_and(|c| c.verified),
            reason: principal.decision.reason.code().to_owned(),
            revocation_ids: chain.map_or_else(Vec::new, |c| {
                c.revocation_ids().into_iter().map(str::to_owned).collect()
            }),
        }
    }
}

impl AuditRecord {
    /// The record of `decision`, taken at `at`.
    pub fn new(
        decision: &Decision,
        method: Option<&str>,
        path: Option<&str>,
        at: SystemTime,
    ) -> Self {
        let chain = decision.chain.as_deref();
        AuditRecord {
            time: format_rfc3339(at),
            decision: if decision.allowed() { "allow" } else { "deny" }.to_owned(),
            reason: decision.reason.code().to_owned(),
            user: chain.map(|c| c.user.clone()),
            tenant: chain.and_then(|c| c.tenant.clone()),
            agents: chain.map_or_else(Vec::new, |c| {
                c.agents().into_iter().map(str::to_owned).collect()
            }),
            chain_verified: chain.is_some_and(|c| c.verified),
            user_proven: chain.is_some_and(|c| c.verified),
            agents_proven: chain.map_or_else(Vec::new, |c| {
                c.blocks
                    .iter()
                    .filter(|b| b.delegation.is_some())
                    .map(|b| c.verified && b.delegation_proven)
                    .collect()
            }),
            revocation_ids: chain.map_or_else(Vec::new, |c| {
                c.revocation_ids().into_iter().map(str::to_owned).collect()
            }),
            method: method.map(str::to_owned),
            path: path.map(str::to_owned),
            resource: decision.resource.clone(),
            operation: decision.operation.clone(),
            token_only: decision.token_only,
            matched_policy: decision.matched_policy.as_ref().map(|(_, p)| p.clone()),
            explanation: decision.explain(),
            latency_us: u64::try_from(decision.elapsed.as_micros()).unwrap_or(u64::MAX),
            principals: decision.joint.as_deref().map_or_else(Vec::new, |joint| {
                joint.principals.iter().map(AuditPrincipal::of).collect()
            }),
        }
    }

    /// Whether the request was allowed.
    pub fn allowed(&self) -> bool {
        self.decision == "allow"
    }

    /// The latency as a duration.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us)
    }
}

/// A record that could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The record could not be serialized.
    #[error("cannot serialize an audit record: {0}")]
    Serialize(String),
    /// The record could not be written.
    #[error("cannot write an audit record to {path}: {source}")]
    Write {
        /// Where.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Where decisions are recorded. `record` runs on the request path, off
/// the async executor (the middleware decides on tokio's blocking pool).
pub trait AuditSink: Send + Sync + 'static {
    /// Records one decision. An error means the record is lost; the
    /// middleware logs it, and refuses the request when audit is required
    /// ([`crate::AgentcapLayer::require_audit`]).
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError>;

    /// Whether records are wanted at all; when not, callers skip building
    /// them (an explanation and the chain's ids per request).
    fn enabled(&self) -> bool {
        true
    }
}

/// Discards records (for services that audit elsewhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _record: &AuditRecord) -> Result<(), AuditError> {
        Ok(())
    }

    fn enabled(&self) -> bool {
        false
    }
}

/// Appends one JSON line per record to a file. Each line is written with a
/// single `write` on a file opened for appending, under a lock, so lines
/// stay whole under concurrent requests (and across processes appending to
/// the same file). A write error is logged and returned.
#[derive(Debug)]
pub struct JsonLinesAuditSink {
    path: PathBuf,
    file: Mutex<File>,
}

impl JsonLinesAuditSink {
    /// Opens (creating if needed, mode 0600) the file for appending.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let path = path.as_ref().to_owned();
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        Ok(JsonLinesAuditSink {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AuditSink for JsonLinesAuditSink {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line =
            serde_json::to_vec(record).map_err(|e| AuditError::Serialize(e.to_string()))?;
        line.push(b'\n');
        let written = match self.file.lock() {
            Ok(mut file) => file.write_all(&line).and_then(|()| file.flush()),
            Err(poisoned) => {
                let mut file = poisoned.into_inner();
                file.write_all(&line).and_then(|()| file.flush())
            }
        };
        written.map_err(|source| {
            tracing::error!(%source, path = %self.path.display(), "cannot write an audit record");
            AuditError::Write {
                path: self.path.display().to_string(),
                source,
            }
        })
    }
}
