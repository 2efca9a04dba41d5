//! `agentcap audit query`: filters an audit log written by agentcap (one
//! [`AuditRecord`] per line, as `serve` and the middleware's
//! [`JsonLinesAuditSink`](agentcap_verifier::JsonLinesAuditSink) write it).
//!
//! Lines that are not records are counted and skipped. Names a record does
//! not prove are shown as claims, and everything read from a record is
//! escaped before it is printed.

use std::io::BufRead;
use std::time::SystemTime;

use agentcap::unix_time::{self, DurationMeans, format_rfc3339};
use agentcap_verifier::AuditRecord;
use serde_json::json;

use crate::Outcome;
use crate::cli::{AuditQueryArgs, DecisionFilter};
use crate::error::{CliResult, Kind, ResultExt};
use crate::input::time_point;
use crate::output::{Format, emit, note, safe};

/// The validated filter.
pub(crate) struct AuditFilter {
    user: Option<String>,
    agent: Option<String>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    decision: Option<DecisionFilter>,
}

impl AuditFilter {
    /// Keeps a record?
    pub(crate) fn matches(&self, record: &AuditRecord) -> bool {
        if self
            .user
            .as_ref()
            .is_some_and(|u| record.user.as_ref() != Some(u))
        {
            return false;
        }
        if self
            .agent
            .as_ref()
            .is_some_and(|a| !record.agents.contains(a))
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = record_time(record) else {
                return false;
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u) {
                return false;
            }
        }
        if let Some(d) = self.decision
            && record.allowed() != (d == DecisionFilter::Allow)
        {
            return false;
        }
        true
    }

    /// No filter at all.
    pub(crate) fn all() -> Self {
        Self {
            user: None,
            agent: None,
            since: None,
            until: None,
            decision: None,
        }
    }
}

fn record_time(record: &AuditRecord) -> Option<SystemTime> {
    unix_time::parse_rfc3339(&record.time).ok()
}

/// A name from a record, escaped, marked when the record does not prove it.
fn shown_name(name: &str, proven: bool) -> String {
    if proven {
        safe(name).into_owned()
    } else {
        format!("{} (claimed)", safe(name))
    }
}

/// One line of human output for a record.
pub(crate) fn record_line(r: &AuditRecord) -> String {
    let time = record_time(r).map_or_else(|| "-".to_owned(), format_rfc3339);
    let decision = if r.allowed() { "ALLOW" } else { "DENY " };
    let user = r
        .user
        .as_deref()
        .map_or_else(|| "-".to_owned(), |u| shown_name(u, r.user_proven));
    let agents = r
        .agents
        .iter()
        .enumerate()
        .map(|(i, a)| shown_name(a, r.agents_proven.get(i).copied().unwrap_or(false)))
        .collect::<Vec<_>>()
        .join(" → ");
    // The path, and what was asked when the path does not say it (an MCP
    // call names its tool in the body).
    let target = match r.path.as_deref() {
        Some(path) if path.trim_start_matches('/') == r.resource || r.resource.is_empty() => {
            path.to_owned()
        }
        Some(path) => format!("{path} {}:{}", r.resource, r.operation),
        None => r.resource.clone(),
    };
    let target = target.as_str();
    format!(
        "{time}  {decision} {} {}  {user} → {agents}  ({})",
        safe(r.method.as_deref().unwrap_or_default()),
        safe(target),
        safe(&r.reason),
    )
}

/// Reads the records of `path` that `filter` keeps, and how many lines
/// were not records.
pub(crate) fn read_records(
    path: &std::path::Path,
    filter: &AuditFilter,
) -> CliResult<(Vec<AuditRecord>, usize)> {
    let file = std::fs::File::open(path)
        .or_fail(Kind::Io, format!("reading audit log {}", path.display()))?;
    let mut kept = Vec::new();
    let mut skipped = 0;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.or_fail(Kind::Io, format!("reading audit log {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<AuditRecord>(&line) {
            Ok(record) if filter.matches(&record) => kept.push(record),
            Ok(_) => {}
            Err(_) => skipped += 1,
        }
    }
    Ok((kept, skipped))
}

/// `agentcap audit query`
pub fn query(args: AuditQueryArgs, format: Format) -> CliResult<Outcome> {
    let filter = AuditFilter {
        since: args
            .since
            .as_deref()
            .map(|t| time_point(t, "--since", DurationMeans::Ago))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| time_point(t, "--until", DurationMeans::Ago))
            .transpose()?,
        user: args.user,
        agent: args.agent,
        decision: args.decision,
    };
    let (records, skipped) = read_records(&args.log, &filter)?;
    if skipped > 0 {
        note(
            format,
            format!("agentcap: warning: skipped {skipped} line(s) that are not JSON records"),
        );
    }
    emit(
        format,
        || {
            if records.is_empty() {
                "no matching records".to_owned()
            } else {
                records
                    .iter()
                    .map(record_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        },
        || json!({"count": records.len(), "records": records}),
    );
    Ok(Outcome::Ok)
}
