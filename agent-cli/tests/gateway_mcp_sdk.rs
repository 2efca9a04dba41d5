//! `agentcap gateway --mcp` between the official MCP Python SDK's client
//! and an MCP server made with the same SDK, software no one here wrote:
//! the tool list is filtered to the token, an allowed call reaches the
//! tool, an ungranted tool and an argument above its cap are refused with
//! the gateway's JSON-RPC error, and a token revoked mid-session is refused
//! on its next call (HTTP 401). The audit log names user and agents.
//!
//! `.ci/run` installs the SDK into a venv and sets `AGENTCAP_MCP_PYTHON`
//! and `AGENTCAP_REQUIRE_MCP_SDK=1`, so there a missing SDK fails the test.
//! Elsewhere, without it, the test says so and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gateway_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway_support::{
    Lines, Running, alice_chain, collect, json_lines, require_tool, run, runs_ok, start_agentcap,
    start_announced,
};
use serde_json::{Value, json};

/// The code of the gateway's refusals (`agentcap_verifier::mcp::DENIED_CODE`).
const DENIED: i64 = -32010;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mcp")
        .join(name)
}

/// A Python with the MCP SDK: `$AGENTCAP_MCP_PYTHON`, else the venv
/// `.ci/run` makes, else `python3`.
fn mcp_python() -> Option<String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/mcp-venv/bin/python");
    let venv = venv.to_string_lossy().into_owned();
    require_tool(
        "AGENTCAP_MCP_PYTHON",
        "AGENTCAP_REQUIRE_MCP_SDK",
        &[&venv, "python3"],
        |python| {
            runs_ok(
                python,
                &[
                    "-c",
                    "import httpx2, mcp.server, mcp.client.streamable_http",
                ],
            )
        },
    )
}

/// The SDK client fixture, connected: commands go in on stdin, one JSON
/// line comes back for each.
struct SdkClient {
    stdin: ChildStdin,
    lines: Lines,
    stderr: Arc<Mutex<String>>,
    _child: Running,
}

impl SdkClient {
    /// Starts the client against `url`; it and its first line (`connected`
    /// or `connect_failed`).
    fn start(python: &str, url: &str, token: &str, mode: &str) -> (Self, Value) {
        let mut child = Command::new(python)
            .arg(fixture("sdk_client.py"))
            .args([url, token, mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = Lines::spawn(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let client = SdkClient {
            stdin,
            lines,
            stderr,
            _child: Running(child),
        };
        let first = client.read();
        (client, first)
    }

    fn read(&self) -> Value {
        let Some(line) = self.lines.next() else {
            panic!(
                "the SDK client said nothing: {}",
                self.stderr.lock().unwrap()
            );
        };
        serde_json::from_str(&line).unwrap()
    }

    /// Sends one command; the client's record of what happened.
    fn send(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.read()
    }

    fn call(&mut self, name: &str, arguments: Value) -> Value {
        self.send(json!({"op": "call", "name": name, "arguments": arguments}))
    }
}

/// Asserts `record` is the gateway's refusal with `reason`.
fn assert_refused(record: &Value, reason: &str) {
    assert_eq!(record["ok"], false, "{record}");
    assert_eq!(record["code"], DENIED, "{record}");
    assert_eq!(record["data"]["reason"], reason, "{record}");
}

/// The upstream MCP server (made with the SDK), logging to `log`.
fn start_upstream(python: &str, log: &Path) -> (Running, String) {
    let mut command = Command::new(python);
    command.arg(fixture("flights_server.py")).arg("0").arg(log);
    let (running, url, _) = start_announced(command);
    let base = url.strip_suffix("mcp").unwrap().to_owned();
    (running, base)
}

/// `agentcap revocation serve` on a new store: it, its URL and the list's
/// public key.
fn start_revocation(dir: &Path) -> (Running, String, String) {
    let init = run(
        dir,
        &[
            "revocation",
            "init",
            "--store",
            "store",
            "--signing-key-file",
            "list.key",
        ],
    );
    let list_pub = init["public_key"].as_str().unwrap().to_owned();
    let (running, url, _) = start_agentcap(
        dir,
        &[
            "revocation",
            "serve",
            "--store",
            "store",
            "--signing-key-file",
            "list.key",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    (running, url, list_pub)
}

const CAPPED_BOOKING: &[&str] = &[
    "--right",
    "tools/search_flights:call",
    "--right",
    "tools/book_flight:call",
    "--cap",
    "tools/book_flight:call:max_price<=500",
    "--right",
    "prompts/plan_trip:read",
];

/// What a scenario runs against: the SDK's Python, the tokens, the
/// revocation server, the upstream MCP server and the gateway in front.
struct Stack {
    python: String,
    t0: String,
    t1: String,
    mcp_url: String,
    upstream: String,
    upstream_log: PathBuf,
    tmp: tempfile::TempDir,
    _running: Vec<Running>,
}

impl Stack {
    /// Mints alice's grant and the hop (see [`alice_chain`]) and starts
    /// everything; `None` when the SDK is missing (and not required).
    fn start(grant: &[&str], narrowed: &[&str]) -> Option<Stack> {
        let python = mcp_python()?;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (root_pub, t0, t1) = alice_chain(dir, grant, narrowed);
        let (rev, rev_url, list_pub) = start_revocation(dir);
        let upstream_log = dir.join("upstream.jsonl");
        let (server, upstream) = start_upstream(&python, &upstream_log);
        let (gateway, gateway_url, _) = start_agentcap(
            dir,
            &[
                "gateway",
                "--mcp",
                "--upstream",
                &upstream,
                "--listen",
                "127.0.0.1:0",
                "--root-public-key",
                &root_pub,
                "--revocation-list",
                &rev_url,
                "--revocation-public-key",
                &list_pub,
                "--audit-log",
                "audit.jsonl",
            ],
        );
        Some(Stack {
            python,
            t0,
            t1,
            mcp_url: format!("{gateway_url}mcp"),
            upstream,
            upstream_log,
            tmp,
            _running: vec![gateway, server, rev],
        })
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The SDK client through the gateway with `token`, connected.
    fn client(&self, token: &str, mode: &str) -> SdkClient {
        let (client, connected) = SdkClient::start(&self.python, &self.mcp_url, token, mode);
        assert_eq!(connected["event"], "connected", "{connected}");
        client
    }

    /// `agentcap revoke` on the holder's token (its last block).
    fn revoke_t1(&self) {
        run(
            self.dir(),
            &[
                "revoke",
                "@t1",
                "--store",
                "store",
                "--signing-key-file",
                "list.key",
            ],
        );
    }
}

#[test]
fn the_mcp_sdk_through_the_gateway_sees_only_what_the_token_allows() {
    let mut grant = CAPPED_BOOKING.to_vec();
    grant.extend(["--right", "tools/cancel_trip:call"]);
    let Some(stack) = Stack::start(&grant, CAPPED_BOOKING) else {
        return;
    };
    let mut client = stack.client(&stack.t1, "auto");
    holder_session(&mut client);
    parent_session_in_the_legacy_era(&stack);
    a_bad_token_cannot_connect(&stack.python, &stack.mcp_url);
    what_reached_the_upstream(&stack.upstream_log, &stack.upstream);
    stack.revoke_t1();
    refused_once_revoked(&mut client);
    assert_http_401_revoked(&stack.mcp_url, &stack.t1);
    audit_names_user_and_agents(&stack.dir().join("audit.jsonl"));
}

/// The holder's session (2026-07-28 era): filtered list, allowed and
/// refused calls, prompts.
fn holder_session(client: &mut SdkClient) {
    let listed = client.send(json!({"op": "list_tools"}));
    assert_eq!(
        listed["tools"],
        json!(["search_flights", "book_flight"]),
        "cancel_trip is not granted, so it is not listed; book_flight is, under its cap: {listed}"
    );
    let found = client.call(
        "search_flights",
        json!({"origin": "AMS", "destination": "LIS", "max_price": 400}),
    );
    assert_eq!(found["ok"], true, "{found}");
    assert_eq!(found["is_error"], false, "{found}");
    assert_eq!(found["text"][0], "AMS->LIS under 400: KL1 at 420");
    let booked = client.call("book_flight", json!({"flight_id": "KL1", "max_price": 450}));
    assert_eq!(booked["ok"], true, "{booked}");
    assert!(
        booked["text"][0]
            .as_str()
            .unwrap()
            .contains("\"booked\": \"KL1\"")
    );

    let cancelled = client.call("cancel_trip", json!({"trip_id": "t1"}));
    assert_refused(&cancelled, "policy_denied");
    assert!(cancelled["data"]["block"].is_u64(), "{cancelled}");
    let over_cap = client.call(
        "book_flight",
        json!({"flight_id": "KL1", "max_price": 9999}),
    );
    assert_refused(&over_cap, "policy_denied");

    let prompts = client.send(json!({"op": "list_prompts"}));
    assert_eq!(prompts["prompts"], json!(["plan_trip"]), "{prompts}");
    let prompt =
        client.send(json!({"op": "prompt", "name": "plan_trip", "arguments": {"city": "Lisbon"}}));
    assert_eq!(
        prompt["messages"],
        json!(["Plan a trip to Lisbon"]),
        "{prompt}"
    );
    let resources = client.send(json!({"op": "list_resources"}));
    assert_eq!(
        resources["resources"],
        json!([]),
        "no resource is granted: {resources}"
    );
}

/// The parent token, with the SDK's legacy `initialize` handshake: it may
/// cancel trips, so it sees and calls `cancel_trip`.
fn parent_session_in_the_legacy_era(stack: &Stack) {
    let (mut client, connected) =
        SdkClient::start(&stack.python, &stack.mcp_url, &stack.t0, "legacy");
    assert_eq!(connected["event"], "connected", "{connected}");
    assert_eq!(connected["protocol_version"], "2025-11-25");
    let listed = client.send(json!({"op": "list_tools"}));
    assert_eq!(
        listed["tools"],
        json!(["search_flights", "book_flight", "cancel_trip"]),
        "{listed}"
    );
    let cancelled = client.call("cancel_trip", json!({"trip_id": "t9"}));
    assert_eq!(cancelled["text"], json!(["cancelled t9"]), "{cancelled}");
    let over_cap = client.call("book_flight", json!({"flight_id": "KL2", "max_price": 501}));
    assert_refused(&over_cap, "policy_denied");
}

/// An unreadable token is refused at the first request: the SDK cannot
/// connect, in either era.
fn a_bad_token_cannot_connect(python: &str, url: &str) {
    let (_client, first) = SdkClient::start(python, url, "not-a-token", "auto");
    assert_eq!(first["event"], "connect_failed", "{first}");
    let errors = first["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["code"] == DENIED && e["data"]["reason"].is_string()),
        "the 401's JSON-RPC error reaches the SDK: {first}"
    );
}

/// The upstream ran only allowed calls, and saw the identity headers but
/// never the token.
fn what_reached_the_upstream(log: &Path, upstream: &str) {
    let records = json_lines(log);
    let tools: Vec<&Value> = records.iter().filter(|r| r["tool"].is_string()).collect();
    let ran: Vec<Value> = tools
        .iter()
        .map(|r| json!([r["tool"], r["arguments"]]))
        .collect();
    assert_eq!(
        ran,
        vec![
            json!(["search_flights", ["AMS", "LIS", 400]]),
            json!(["book_flight", ["KL1", 450]]),
            json!(["cancel_trip", ["t9"]]),
        ],
        "only allowed calls reach the tool"
    );
    let requests: Vec<&Value> = records
        .iter()
        .filter(|r| r["request"].is_string())
        .collect();
    assert!(requests.len() >= 8, "{requests:?}");
    let authority = upstream.trim_start_matches("http://").trim_end_matches('/');
    for request in &requests {
        assert_eq!(
            request["authorization"], false,
            "token forwarded: {request}"
        );
        assert_eq!(
            request["headers"]["x-agentcap-user"], "\"alice\"",
            "{request}"
        );
        assert_eq!(request["headers"]["host"], authority, "{request}");
    }
    let holder = r#"["travel-assistant","flight-search"]"#;
    assert!(
        requests
            .iter()
            .any(|r| r["headers"]["x-agentcap-agents"] == holder),
        "{requests:?}"
    );
}

/// After `agentcap revoke`, the session's next calls are refused as
/// revoked (once the gateway has the new list).
fn refused_once_revoked(client: &mut SdkClient) {
    let started = Instant::now();
    loop {
        let record = client.call(
            "search_flights",
            json!({"origin": "AMS", "destination": "LIS"}),
        );
        if record["ok"] == false {
            assert_refused(&record, "revoked");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never revoked: {record}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The audit log has the decisions, each naming alice and the agents.
fn audit_names_user_and_agents(path: &Path) {
    let records = json_lines(path);
    let holder = json!(["travel-assistant", "flight-search"]);
    let find = |decision: &str, resource: &str, operation: &str| {
        records.iter().any(|r| {
            r["decision"] == decision
                && r["resource"] == resource
                && r["operation"] == operation
                && r["user"] == "alice"
                && r["agents"] == holder
        })
    };
    assert!(find("allow", "tools/search_flights", "call"), "{records:?}");
    assert!(find("allow", "prompts/plan_trip", "read"), "{records:?}");
    let denied = |resource: &str| {
        records.iter().any(|r| {
            r["decision"] == "deny"
                && r["resource"] == resource
                && r["reason"] == "policy_denied"
                && r["user"] == "alice"
                && r["agents"] == holder
        })
    };
    assert!(denied("tools/cancel_trip"), "{records:?}");
    assert!(denied("tools/book_flight"), "{records:?}");
    assert!(
        records
            .iter()
            .any(|r| r["reason"] == "revoked" && r["user"] == "alice" && r["agents"] == holder),
        "{records:?}"
    );
}

/// Resource URIs have a scheme (`itinerary://t1`); a grant names them as
/// paths, as docs/mcp.md says: `resources/itinerary/*:read`.
#[test]
fn resources_whose_uri_has_a_scheme_can_be_granted_listed_and_read() {
    let rights = [
        "--right",
        "resources/itinerary/*:read",
        "--right",
        "resources/trips/recent:read",
    ];
    let Some(stack) = Stack::start(&rights, &rights) else {
        return;
    };
    let mut client = stack.client(&stack.t1, "auto");
    let listed = client.send(json!({"op": "list_resources"}));
    assert_eq!(listed["resources"], json!(["trips://recent"]), "{listed}");
    let read = client.send(json!({"op": "read", "uri": "itinerary://t1"}));
    assert_eq!(read["contents"], json!(["trip t1: AMS->LIS"]), "{read}");
    let other = client.send(json!({"op": "read", "uri": "secret://x"}));
    assert_refused(&other, "policy_denied");
}

/// The revoked token on the wire: HTTP 401 with a challenge naming the
/// resource metadata, and the JSON-RPC error in the body.
fn assert_http_401_revoked(url: &str, token: &str) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "search_flights", "arguments": {"origin": "AMS", "destination": "LIS"}}});
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, challenge, answer) = rt.block_on(async {
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let answer: Value = response.json().await.unwrap();
        (status, challenge, answer)
    });
    assert_eq!(status, 401, "{answer}");
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("resource_metadata=\""),
        "{challenge}"
    );
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["error"]["code"], DENIED, "{answer}");
    assert_eq!(answer["error"]["data"]["reason"], "revoked", "{answer}");
}
