//! `agentcap audit query`: filters an audit log of JSON lines.
//!
//! Records are read field by field so any JSON-lines audit sink works: the
//! user from `user`; the agents from `agents` (or `chain`/`agent_chain`,
//! strings or objects with `agent`/`to`/`name`); the time from `time` or
//! `timestamp` (RFC 3339 or Unix seconds); the decision from `decision`
//! (`allow`/`deny`) or `allowed` (boolean). Which names are proven comes
//! from `user_proven` and `agents_proven` (agentcap's records), else from
//! `chain_verified`; names not proven are shown as claims. Everything read
//! from a record is escaped before it is printed.

use std::io::BufRead;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::Outcome;
use crate::cli::{AuditQueryArgs, DecisionFilter};
use crate::error::{CliResult, Kind, ResultExt};
use agentcap::unix_time::{self, DurationMeans};

use crate::input::time_point;
use crate::output::{Format, emit, note, rfc3339, safe};

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
    pub(crate) fn matches(&self, record: &Value) -> bool {
        if let Some(u) = &self.user
            && record_user(record).as_deref() != Some(u.as_str())
        {
            return false;
        }
        if let Some(a) = &self.agent
            && !record_agents(record).iter().any(|x| x == a)
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
        if let Some(d) = self.decision {
            let want = d == DecisionFilter::Allow;
            if record_allowed(record) != Some(want) {
                return false;
            }
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

fn record_user(r: &Value) -> Option<String> {
    match r.get("user") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => r
            .pointer("/chain/user")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

/// The agents a record names, in order.
pub(crate) fn record_agents(r: &Value) -> Vec<String> {
    let list = ["agents", "agent_chain", "chain"]
        .iter()
        .find_map(|k| match r.get(*k) {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(Value::Object(o)) => o.get("agents").and_then(Value::as_array).cloned(),
            _ => None,
        })
        .unwrap_or_default();
    list.iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => ["agent", "to", "name", "holder"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str))
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

fn record_time(r: &Value) -> Option<SystemTime> {
    let v = r.get("time").or_else(|| r.get("timestamp"))?;
    match v {
        Value::String(s) => unix_time::parse_rfc3339(s).ok(),
        Value::Number(n) => n.as_u64().map(unix_time::from_unix),
        _ => None,
    }
}

/// Allowed (true), denied (false), or unknown.
pub(crate) fn record_allowed(r: &Value) -> Option<bool> {
    if let Some(b) = r.get("allowed").and_then(Value::as_bool) {
        return Some(b);
    }
    let d = r.get("decision")?;
    let text = d
        .as_str()
        .or_else(|| d.get("decision").and_then(Value::as_str))?;
    match text.to_ascii_lowercase().as_str() {
        "allow" | "allowed" => Some(true),
        "deny" | "denied" => Some(false),
        _ => None,
    }
}

/// Whether the record proves its user: `Some(false)` when it says the name
/// is a claim, `None` when it does not say.
fn user_proven(r: &Value) -> Option<bool> {
    r.get("user_proven")
        .and_then(Value::as_bool)
        .or_else(|| r.get("chain_verified").and_then(Value::as_bool))
}

/// Whether the record proves its `index`-th agent (as [`user_proven`]).
fn agent_proven(r: &Value, index: usize) -> Option<bool> {
    match r.get("agents_proven").and_then(Value::as_array) {
        Some(flags) => Some(flags.get(index).and_then(Value::as_bool).unwrap_or(false)),
        // Records from before per-agent flags: an unverified chain proves nothing.
        None => match r.get("chain_verified").and_then(Value::as_bool) {
            Some(false) => Some(false),
            _ => None,
        },
    }
}

/// A name from a record, escaped, marked when the record says it is a claim.
fn shown_name(name: &str, proven: Option<bool>) -> String {
    match proven {
        Some(false) => format!("{} (claimed)", safe(name)),
        _ => safe(name).into_owned(),
    }
}

/// One line of human output for a record.
pub(crate) fn record_line(r: &Value) -> String {
    let time = record_time(r)
        .map(rfc3339)
        .unwrap_or_else(|| "-".to_owned());
    let decision = match record_allowed(r) {
        Some(true) => "ALLOW",
        Some(false) => "DENY ",
        None => "?    ",
    };
    let user = record_user(r).map_or_else(|| "-".to_owned(), |u| shown_name(&u, user_proven(r)));
    let agents = record_agents(r)
        .iter()
        .enumerate()
        .map(|(i, a)| shown_name(a, agent_proven(r, i)))
        .collect::<Vec<_>>()
        .join(" → ");
    let str_of = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| {
                r.get(*k)
                    .and_then(Value::as_str)
                    .map(|v| safe(v).into_owned())
            })
            .unwrap_or_default()
    };
    let reason = r
        .get("reason")
        .map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            _ => String::new(),
        })
        .unwrap_or_default();
    let reason = safe(&reason);
    format!(
        "{time}  {decision} {} {}  {user} → {agents}  ({reason})",
        str_of(&["method"]),
        str_of(&["path", "resource"]),
    )
}

/// Reads the records of `path` that `filter` keeps.
pub(crate) fn read_records(
    path: &std::path::Path,
    filter: &AuditFilter,
) -> CliResult<(Vec<Value>, usize)> {
    let file = std::fs::File::open(path)
        .or_fail(Kind::Io, format!("reading audit log {}", path.display()))?;
    let mut kept = Vec::new();
    let mut skipped = 0;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.or_fail(Kind::Io, format!("reading audit log {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(v) if v.is_object() => {
                if filter.matches(&v) {
                    kept.push(v);
                }
            }
            _ => skipped += 1,
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
