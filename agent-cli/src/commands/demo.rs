//! `agentcap demo`: the whole delegation story on loopback, with no set-up.
//!
//! Keys go to a temporary folder. alice delegates to her travel assistant;
//! the assistant delegates a read-only slice to flight search in a signed
//! hop, and flight search one route further down to a scraper. A revocation
//! server and the example tool server (behind the verifier middleware)
//! start on 127.0.0.1 with ports the system picks. Agents call tools over
//! real HTTP; then flight search's hop is revoked and published, and the
//! tool server learns of it through the push stream: flight search and the
//! scraper are denied, the travel assistant is still allowed. The audit
//! trail closes the story.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentcap::{Grant, Hop, KeyFormat, KeyPair, Overwrite, Token};
use agentcap_revocation::{
    Fetcher, RevocationFeed, RevocationState, RevocationStateConfig, RevocationStore, Subscriber,
    TrustedListKeys,
};
use agentcap_verifier::AuditSink;
use serde_json::{Value, json};

use crate::Outcome;
use crate::cli::DemoArgs;
use crate::error::{CliError, CliResult, Kind, ResultExt};
use crate::output::{Format, emit, note};

use super::audit::{AuditFilter, read_records, record_line};
use super::revocation::{DEFAULT_ISSUER, start_revocation_server};
use super::service::{VerifierSpec, audit_sink, start_tool_server};
use super::tokens::render_chain;

/// Prints the story as it happens (human mode only; JSON mode prints one
/// document at the end).
pub(super) struct Story {
    format: Format,
    /// The service's audit log: denials are explained from it (the client
    /// only gets the reason code, the block and a short message).
    audit: Option<std::path::PathBuf>,
}

impl Story {
    pub(super) fn say(&self, text: impl AsRef<str>) {
        if self.format == Format::Human {
            println!("{}", text.as_ref());
        }
    }

    /// The explanation of the last decision in the service's audit log:
    /// the operator's view of a denial.
    pub(super) fn last_explanation(&self) -> Option<String> {
        let (records, _) = read_records(self.audit.as_ref()?, &AuditFilter::all()).ok()?;
        records.last().map(|r| r.explanation.clone())
    }

    pub(super) fn step(&self, n: u32, title: &str) {
        self.say(format!("\n{n}. {title}"));
    }
}

/// One tool call and what the demo expects of it.
struct Call<'a> {
    agent: &'a str,
    token: &'a str,
    method: &'static str,
    path: &'a str,
    expect_allowed: bool,
}

/// The outcome of one call.
struct CallResult {
    status: u16,
    reason: String,
    detail: String,
}

async fn call(client: &reqwest::Client, base: &str, c: &Call<'_>) -> CliResult<CallResult> {
    let url = format!("{base}{}", c.path.trim_start_matches('/'));
    let builder = match c.method {
        "POST" => client.post(&url),
        _ => client.get(&url),
    };
    let response = builder
        .bearer_auth(c.token)
        .send()
        .await
        .or_fail(Kind::Io, format!("calling {url}"))?;
    let status = response.status().as_u16();
    let body: Value = response.json_value().await;
    let reason = body["reason"].as_str().unwrap_or("allowed").to_owned();
    let detail = match body["detail"].as_str() {
        Some(d) => d.to_owned(),
        None => body["served_for"].to_string(),
    };
    Ok(CallResult {
        status,
        reason,
        detail,
    })
}

/// Reading a response body as JSON, `null` when it is not JSON.
trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        match self.bytes().await {
            Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }
}

/// The keys of the story.
struct Keys {
    root: KeyPair,
    assistant: KeyPair,
    search: KeyPair,
    list: KeyPair,
}

fn make_keys(dir: &std::path::Path) -> CliResult<Keys> {
    let keys = Keys {
        root: KeyPair::generate(),
        assistant: KeyPair::generate(),
        search: KeyPair::generate(),
        list: KeyPair::generate(),
    };
    for (name, key) in [
        ("issuer-root.key", &keys.root),
        ("travel-assistant.key", &keys.assistant),
        ("flight-search.key", &keys.search),
        ("revocation-list.key", &keys.list),
    ] {
        key.save(dir.join(name), KeyFormat::Text, Overwrite::Refuse)?;
    }
    Ok(keys)
}

/// The three tokens of the story, and their text.
pub(super) struct Tokens {
    search: Token,
    scraper: Token,
    assistant_text: String,
    pub(super) search_text: String,
    scraper_text: String,
    pub(super) booking_text: String,
}

fn make_tokens(keys: &Keys) -> CliResult<Tokens> {
    let assistant = Grant::new("alice", "travel-assistant")
        .agent_key(keys.assistant.public())
        .right("flights/*", "read")
        .right("hotels/*", "read")
        .right("payments/charge", "write")
        .cap("payments/charge:write", "amount", 500)
        .right("tools/*", "call")
        .cap("tools/book_flight:call", "max_price", 500)
        .ttl(Duration::from_secs(3600))
        .intent("Book me a flight to Lisbon under 500 EUR")
        .mint(&keys.root)?;
    let search = assistant.delegate(
        &Hop::to("flight-search")
            .agent_key(keys.search.public())
            .right("flights/*", "read")
            .ttl(Duration::from_secs(600)),
        Some(&keys.assistant),
    )?;
    let booking = assistant.delegate(
        &Hop::to("booking-agent")
            .right("tools/search_flights", "call")
            .right("tools/book_flight", "call")
            .ttl(Duration::from_secs(600)),
        Some(&keys.assistant),
    )?;
    let scraper = search.delegate(
        &Hop::to("lisbon-scraper")
            .right("flights/lis/*", "read")
            .ttl(Duration::from_secs(300)),
        Some(&keys.search),
    )?;
    Ok(Tokens {
        assistant_text: assistant.to_base64()?,
        search_text: search.to_base64()?,
        scraper_text: scraper.to_base64()?,
        booking_text: booking.to_base64()?,
        search,
        scraper,
    })
}

/// `agentcap demo`
pub fn run(args: DemoArgs, format: Format) -> CliResult<Outcome> {
    let dir = tempfile::Builder::new()
        .prefix("agentcap-demo-")
        .tempdir()
        .or_fail(Kind::Io, "creating a temporary folder")?;
    let story = Story {
        format,
        audit: Some(dir.path().join("audit.jsonl")),
    };
    let result = super::runtime()?.block_on(play(&story, dir.path()));
    if args.keep {
        let kept = dir.keep();
        note(format, format!("kept the demo folder: {}", kept.display()));
    }
    let report = result?;
    let failures: Vec<&Value> = report["calls"]
        .as_array()
        .map(|a| a.iter().filter(|c| c["as_expected"] != true).collect())
        .unwrap_or_default();
    emit(
        format,
        || {
            if failures.is_empty() {
                "\nDone: every request was decided as the story expects.".to_owned()
            } else {
                format!(
                    "\n{} request(s) were not decided as expected.",
                    failures.len()
                )
            }
        },
        || report.clone(),
    );
    if failures.is_empty() {
        Ok(Outcome::Ok)
    } else {
        Err(CliError::denied(format!(
            "demo: {} request(s) were not decided as expected",
            failures.len()
        )))
    }
}

async fn play(story: &Story, dir: &std::path::Path) -> CliResult<Value> {
    story.say(
        "agentcap demo: alice delegates to her travel assistant, which delegates onwards,\n\
         hop after hop and offline; a tool server verifies every call, and one revocation\n\
         cuts off a sub-agent and everything below it.",
    );
    let keys = show_keys(story, dir)?;
    let tokens = show_tokens(story, &keys)?;
    let services = start_services(story, dir, &keys).await?;
    let mut calls: Vec<Value> = Vec::new();

    story.step(6, "Agents call tools over HTTP");
    for c in &calls_before_revocation(&tokens) {
        run_call(story, &services, c, "before revocation", &mut calls).await?;
    }
    let revoked = revoke_flight_search(story, &services, &keys, &tokens).await?;

    story.step(
        8,
        "After the revocation: flight-search and everything below it are cut off",
    );
    for c in &calls_after_revocation(&tokens) {
        run_call(story, &services, c, "after revocation", &mut calls).await?;
    }
    story.say("   (the travel assistant, flight-search's parent, is untouched)");

    let mcp = super::demo_mcp::play(story, &services, &keys.root, &tokens, &mut calls).await?;

    story.step(
        10,
        &format!("The audit trail ({})", services.audit.display()),
    );
    let (records, _) = read_records(&services.audit, &AuditFilter::all())?;
    for r in &records {
        story.say(format!("   {}", record_line(r)));
    }
    Ok(json!({
        "folder": dir.display().to_string(),
        "revocation_url": services.revocation_url,
        "tool_server_url": services.base,
        "root_public_key": keys.root.public().to_string(),
        "revoked": revoked,
        "mcp": mcp,
        "calls": calls,
        "audit": records,
    }))
}

/// Step 1: the keys, written to the demo folder.
fn show_keys(story: &Story, dir: &std::path::Path) -> CliResult<Keys> {
    story.step(1, &format!("Keys, in {} (files 0600)", dir.display()));
    let keys = make_keys(dir)?;
    story.say(format!("   issuer root key       {}", keys.root.public()));
    story.say(format!(
        "   travel-assistant      {}",
        keys.assistant.public()
    ));
    story.say(format!("   flight-search         {}", keys.search.public()));
    story.say(format!("   revocation list key   {}", keys.list.public()));
    Ok(keys)
}

/// Steps 2 to 4: the grant and two hops, and the chain the last agent holds.
fn show_tokens(story: &Story, keys: &Keys) -> CliResult<Tokens> {
    let tokens = make_tokens(keys)?;
    story.step(2, "alice → travel-assistant: the issuer mints her grant");
    story.say(
        "   flights/*:read, hotels/*:read, payments/charge:write (amount <= 500),\n   \
         tools/*:call (book_flight's max_price <= 500), 1 hour, bound to the assistant's key;\n   \
         intent \"Book me a flight to Lisbon under 500 EUR\"",
    );
    story.step(
        3,
        "travel-assistant → flight-search: a hop signed by the assistant's key",
    );
    story.say("   flights/*:read only, 10 minutes, bound to flight-search's key");
    story.step(
        4,
        "flight-search → lisbon-scraper: a hop signed by flight-search's key",
    );
    story.say("   flights/lis/*:read only, 5 minutes. The chain the scraper holds:");
    let tree = render_chain(tokens.scraper.chain(), Some(&keys.root.public()));
    for line in tree.lines() {
        story.say(format!("   {line}"));
    }
    Ok(tokens)
}

/// The running services of the story and how to reach them.
pub(super) struct Services {
    store: RevocationStore,
    revocation: super::revocation::RevocationServer,
    revocation_url: String,
    pub(super) state: Arc<RevocationState>,
    fetcher: Fetcher,
    base: String,
    pub(super) client: reqwest::Client,
    pub(super) audit: std::path::PathBuf,
    _tool_server: tokio::task::JoinHandle<()>,
}

/// Step 5: a revocation server and the tool server, on 127.0.0.1.
async fn start_services(story: &Story, dir: &std::path::Path, keys: &Keys) -> CliResult<Services> {
    story.step(5, "Services on 127.0.0.1");
    let store = RevocationStore::open(dir.join("revocation-store"), DEFAULT_ISSUER)?;
    store.publish(&keys.list, Duration::from_secs(3600))?;
    let feed = RevocationFeed::from_store(&store)?;
    let revocation = start_revocation_server("127.0.0.1:0", feed).await?;
    let revocation_url = format!("http://{}/", revocation.addr);
    story.say(format!(
        "   revocation server  {revocation_url}  (signed list sequence 1, nothing revoked)"
    ));
    let state = Arc::new(
        RevocationState::in_memory(RevocationStateConfig::new(
            DEFAULT_ISSUER,
            TrustedListKeys::from(keys.list.public()),
        ))
        .or_fail(Kind::Usage, "revocation state")?,
    );
    let fetcher =
        Fetcher::new(&revocation_url, state.clone()).or_fail(Kind::Usage, "revocation URL")?;
    fetcher
        .poll_once()
        .await
        .or_fail(Kind::Io, "fetching the revocation list")?;
    let subscriber =
        Subscriber::new(&revocation_url, state.clone()).or_fail(Kind::Usage, "revocation URL")?;
    tokio::spawn(async move { subscriber.run().await });

    let audit = story
        .audit
        .clone()
        .unwrap_or_else(|| dir.join("audit.jsonl"));
    let sink = audit_sink(&audit)?;
    let verifier =
        VerifierSpec::new(vec![(None, keys.root.public())], None)?.build(Some(state.clone()))?;
    let (tool_addr, tool_server) = start_tool_server(
        "127.0.0.1:0",
        verifier,
        Some(sink as Arc<dyn AuditSink>),
        true,
    )
    .await?;
    let base = format!("http://{tool_addr}/");
    story.say(format!(
        "   tool server        {base}  (verifier middleware: issuer root key, revocation list by push)"
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .or_fail(Kind::Io, "building the HTTP client")?;
    Ok(Services {
        store,
        revocation,
        revocation_url,
        state,
        fetcher,
        base,
        client,
        audit,
        _tool_server: tool_server,
    })
}

/// One call of the story, as data.
fn call_of<'a>(
    agent: &'a str,
    token: &'a str,
    method: &'static str,
    path: &'a str,
    expect_allowed: bool,
) -> Call<'a> {
    Call {
        agent,
        token,
        method,
        path,
        expect_allowed,
    }
}

/// Step 6: what each agent tries while nothing is revoked.
fn calls_before_revocation(t: &Tokens) -> Vec<Call<'_>> {
    let flight = "/flights/lis/2026-12-01";
    vec![
        call_of(
            "travel-assistant",
            &t.assistant_text,
            "POST",
            "/payments/charge?amount=120",
            true,
        ),
        call_of(
            "travel-assistant",
            &t.assistant_text,
            "POST",
            "/payments/charge?amount=900",
            false,
        ),
        call_of("flight-search", &t.search_text, "GET", flight, true),
        call_of(
            "flight-search",
            &t.search_text,
            "POST",
            "/payments/charge?amount=10",
            false,
        ),
        call_of("lisbon-scraper", &t.scraper_text, "GET", flight, true),
        call_of(
            "lisbon-scraper",
            &t.scraper_text,
            "GET",
            "/hotels/lisbon",
            false,
        ),
    ]
}

/// Step 8: the same agents once flight-search's hop is revoked.
fn calls_after_revocation(t: &Tokens) -> Vec<Call<'_>> {
    let flight = "/flights/lis/2026-12-01";
    vec![
        call_of("flight-search", &t.search_text, "GET", flight, false),
        call_of("lisbon-scraper", &t.scraper_text, "GET", flight, false),
        call_of("travel-assistant", &t.assistant_text, "GET", flight, true),
    ]
}

/// Step 7: revokes flight-search's hop, publishes the list, and waits until
/// the tool server holds it (push, with polling as a fallback).
async fn revoke_flight_search(
    story: &Story,
    services: &Services,
    keys: &Keys,
    tokens: &Tokens,
) -> CliResult<Value> {
    story.step(
        7,
        "flight-search misbehaves: its hop (block 1) is revoked and the list published",
    );
    let ids = tokens.search.revocation_ids();
    let expires = tokens
        .search
        .chain()
        .expires_at()
        .unwrap_or_else(|| std::time::SystemTime::now() + Duration::from_secs(3600));
    let revoked = services.store.revoke_token_block(&ids, 1, expires, None)?;
    let publication = services
        .store
        .publish(&keys.list, Duration::from_secs(3600))?;
    let started = Instant::now();
    services.revocation.feed.announce(&publication);
    while services.state.sequence() != Some(publication.sequence) {
        if started.elapsed() > Duration::from_secs(2) {
            let _ = services.fetcher.poll_once().await;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(CliError::io(
                "demo: the tool server did not receive the new revocation list",
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    story.say(format!(
        "   revoked id {revoked}; list sequence {} reached the tool server in {} ms",
        publication.sequence,
        started.elapsed().as_millis()
    ));
    Ok(
        json!({"id": revoked.to_string(), "block": 1, "holder": "flight-search",
              "sequence": publication.sequence}),
    )
}

async fn run_call(
    story: &Story,
    services: &Services,
    c: &Call<'_>,
    phase: &str,
    calls: &mut Vec<Value>,
) -> CliResult<()> {
    let mut r = call(&services.client, &services.base, c).await?;
    let allowed = r.status == 200;
    if !allowed && let Some(explanation) = story.last_explanation() {
        r.detail = explanation;
    }
    let as_expected = allowed == c.expect_allowed;
    let mark = match (allowed, as_expected) {
        (true, true) => "✔ ALLOW",
        (false, true) => "✘ DENY ",
        (true, false) => "! ALLOW (expected a denial)",
        (false, false) => "! DENY (expected to be allowed)",
    };
    story.say(format!(
        "   {mark}  {:<16} {} {}  → {} {}",
        c.agent, c.method, c.path, r.status, r.reason
    ));
    if !allowed {
        story.say(format!("            {}", r.detail));
    }
    calls.push(json!({
        "phase": phase,
        "agent": c.agent,
        "method": c.method,
        "path": c.path,
        "status": r.status,
        "decision": if allowed { "allow" } else { "deny" },
        "reason": r.reason,
        "detail": r.detail,
        "expected": if c.expect_allowed { "allow" } else { "deny" },
        "as_expected": as_expected,
    }));
    Ok(())
}
