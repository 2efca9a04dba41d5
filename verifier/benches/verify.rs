//! Verify + authorize, cold (signatures checked) and warm (cached), beside
//! raw biscuit-auth `from_base64` + authorize of the same token in the same
//! run; and the middleware's throughput over loopback with a warm token.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use agentcap::{Grant, Hop, KeyPair};
use agentcap_revocation::{RevocationState, RevocationStateConfig, RevocationStore};
use agentcap_verifier::{AccessRequest, AgentcapLayer, NoAudit, Verifier, tool_server};
use biscuit_auth::builder::Term;
use biscuit_auth::{AuthorizerBuilder, Biscuit};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// A token of `blocks` blocks: a grant, then signed hops.
fn token(root: &KeyPair, blocks: usize) -> String {
    let mut token = Grant::new("alice", "agent-0")
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .max_depth(16)
        .mint(root)
        .unwrap();
    for i in 1..blocks {
        token = token
            .delegate(
                &Hop::to(format!("agent-{i}")).right("flights/*", "read"),
                Some(&KeyPair::generate()),
            )
            .unwrap();
    }
    token.to_base64().unwrap()
}

fn revocation_state(dir: &std::path::Path) -> Arc<RevocationState> {
    let store = RevocationStore::open(dir, "bench").unwrap();
    let key = agentcap::KeyPair::generate();
    for i in 0..1000u32 {
        store
            .revoke(
                &i.to_be_bytes(),
                SystemTime::now() + Duration::from_secs(3600),
                None,
            )
            .unwrap();
    }
    let publication = store.publish(&key, Duration::from_secs(3600)).unwrap();
    let state =
        RevocationState::in_memory(RevocationStateConfig::new("bench", key.public())).unwrap();
    state.accept_list(&publication.list).unwrap();
    Arc::new(state)
}

fn raw_authorize(token: &str, root: &biscuit_auth::PublicKey) {
    let biscuit = Biscuit::from_base64(token, root).unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let limits = agentcap_verifier::DEFAULT_LIMITS;
    let limits = biscuit_auth::AuthorizerLimits {
        max_facts: limits.max_facts,
        max_iterations: limits.max_iterations,
        max_time: limits.max_time,
    };
    let params = std::collections::HashMap::from([("now".to_owned(), Term::Date(now))]);
    let mut authorizer = AuthorizerBuilder::new()
        .set_limits(limits)
        .code_with_params(
            r#"resource("flights/lis/x"); operation("read"); time({now}); allow if true;"#,
            params,
            std::collections::HashMap::new(),
        )
        .unwrap()
        .build(&biscuit)
        .unwrap();
    black_box(authorizer.authorize().unwrap());
}

/// Runs `measured` and `other` alternately `iters` times each, on
/// alternating tokens; returns the time spent in `measured` only.
fn interleaved(iters: u64, measured: &dyn Fn(usize), other: &dyn Fn(usize)) -> Duration {
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let turn = (i % 2) as usize;
        let started = Instant::now();
        measured(turn);
        total += started.elapsed();
        other(1 - turn);
    }
    total
}

fn benches(c: &mut Criterion) {
    let root = KeyPair::generate();
    let dir = tempfile::tempdir().unwrap();
    let state = revocation_state(dir.path());
    let request = AccessRequest::new("flights/lis/x", "read");
    let mut group = c.benchmark_group("verify");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    for blocks in [1usize, 3, 6, 10] {
        // Two tokens of the same shape, alternated through a one-entry cache:
        // every verification is a miss.
        let tokens = [token(&root, blocks), token(&root, blocks)];
        let cold = Verifier::builder()
            .root_key(None, root.public())
            .revocation(Arc::clone(&state))
            .cache_bytes(1)
            .build()
            .unwrap();
        let raw_root = root.public().to_biscuit();
        // Both sides run interleaved in each measurement, each timing only
        // its own calls, so they see the same caches and allocator state
        // (this VM's timing drifts between consecutive benchmarks).
        let agentcap_call = |turn: usize| {
            let decision = cold.verify(&tokens[turn], &request);
            assert!(decision.allowed());
            black_box(decision);
        };
        let raw_call = |turn: usize| raw_authorize(&tokens[turn], &raw_root);
        group.bench_with_input(
            BenchmarkId::new("cold/agentcap", blocks),
            &blocks,
            |b, _| b.iter_custom(|iters| interleaved(iters, &agentcap_call, &raw_call)),
        );
        group.bench_with_input(BenchmarkId::new("cold/raw", blocks), &blocks, |b, _| {
            b.iter_custom(|iters| interleaved(iters, &raw_call, &agentcap_call))
        });
        let warm = Verifier::builder()
            .root_key(None, root.public())
            .revocation(Arc::clone(&state))
            .build()
            .unwrap();
        group.bench_with_input(
            BenchmarkId::new("warm/agentcap", blocks),
            &blocks,
            |b, _| {
                b.iter(|| {
                    let decision = warm.verify(&tokens[0], &request);
                    assert!(decision.allowed());
                    black_box(decision)
                })
            },
        );
        // The same decision through Datalog: a policy that allows all but
        // is not `allow if true` keeps the hot path out.
        let warm_datalog = Verifier::builder()
            .root_key(None, root.public())
            .revocation(Arc::clone(&state))
            .policy("allow if 1 == 1")
            .build()
            .unwrap();
        group.bench_with_input(BenchmarkId::new("warm/datalog", blocks), &blocks, |b, _| {
            b.iter(|| {
                let decision = warm_datalog.verify(&tokens[0], &request);
                assert!(decision.allowed());
                black_box(decision)
            })
        });
    }
    group.finish();

    // The middleware over loopback: one client, keep-alive, a warm token.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .revocation(Arc::clone(&state))
        .build()
        .unwrap();
    let layer = AgentcapLayer::new(verifier).audit(Arc::new(NoAudit));
    let base = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, tool_server::router(layer))
                .await
                .unwrap()
        });
        base
    });
    let client = reqwest::Client::new();
    let bearer = token(&root, 3);
    let url = format!("{base}/flights/lis/2026-12-01");
    let mut group = c.benchmark_group("middleware");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("loopback_request_3_blocks_warm", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = client.get(&url).bearer_auth(&bearer).send().await.unwrap();
                assert!(response.status().is_success());
                black_box(response.bytes().await.unwrap())
            })
        })
    });

    // The same with holder proofs required: a key-bound 3-block token, each
    // request signed by the holder (signing is part of what is timed).
    let holder = KeyPair::generate();
    let mut bound = Grant::new("alice", "agent-0")
        .right("flights/*", "read")
        .max_depth(16)
        .mint(&root)
        .unwrap();
    let mut signer = None;
    for i in 1..3 {
        let next = if i == 2 {
            holder.clone()
        } else {
            KeyPair::generate()
        };
        bound = bound
            .delegate(
                &Hop::to(format!("agent-{i}"))
                    .right("flights/*", "read")
                    .agent_key(next.public()),
                signer.as_ref(),
            )
            .unwrap();
        signer = Some(next);
    }
    let bound = bound.to_base64().unwrap();
    let proving = Verifier::builder()
        .root_key(None, root.public())
        .revocation(Arc::clone(&state))
        .require_holder_proof(Duration::from_secs(60))
        .build()
        .unwrap();
    let layer = AgentcapLayer::new(proving).audit(Arc::new(NoAudit));
    let (proof_base, authority) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            axum::serve(listener, tool_server::router(layer))
                .await
                .unwrap()
        });
        (format!("http://{authority}"), authority)
    });
    let path = "/flights/lis/2026-12-01";
    group.bench_function("loopback_request_3_blocks_warm_with_proof", |b| {
        b.iter(|| {
            let covered = agentcap::ProofRequest {
                method: "GET",
                authority: &authority,
                path,
                query: None,
                token: &bound,
                body: b"",
            };
            let proof = agentcap::HolderProof::sign(&holder, &covered, SystemTime::now()).unwrap();
            runtime.block_on(async {
                let response = client
                    .get(format!("{proof_base}{path}"))
                    .bearer_auth(&bound)
                    .header("signature-input", proof.signature_input)
                    .header("signature", proof.signature)
                    .header("content-digest", proof.content_digest)
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                black_box(response.bytes().await.unwrap())
            })
        })
    });
    group.finish();
}

/// A block in Datalog (bench-controlled source) appended with biscuit-auth.
fn append(token: &agentcap::Token, root: &KeyPair, datalog: &str) -> String {
    let biscuit = Biscuit::from(token.to_bytes().unwrap(), root.public().to_biscuit()).unwrap();
    let block = biscuit_auth::BlockBuilder::new().code(datalog).unwrap();
    biscuit.append(block).unwrap().to_base64().unwrap()
}

/// Time to deny each hostile shape (the issue's attacks: each took seconds
/// or never returned before the budget), and the time to authorize the most
/// expensive token the budget accepts.
fn budget(c: &mut Criterion) {
    let root = KeyPair::generate();
    let grant = Grant::new("alice", "agent-0")
        .right("flights/*", "read")
        .mint(&root)
        .unwrap();
    let facts = |n: usize| (0..n).map(|i| format!("f({i});\n")).collect::<String>();
    let shapes = [
        (
            "join_in_check",
            format!(
                "{}check if f($a), f($b), f($c), f($d), $a + $b + $c + $d == -1;",
                facts(60)
            ),
        ),
        (
            "join_in_rule",
            format!(
                "{}g($a, $b, $c) <- f($a), f($b), f($c);\ncheck if g(1, 2, 3);",
                facts(300)
            ),
        ),
        ("many_facts", facts(2000)),
        (
            "regex_heavy",
            (0..50)
                .map(|i| format!("check if resource($r), $r.matches(\"^(a|b)*{i}$\");\n"))
                .collect(),
        ),
        (
            "nested_expressions",
            format!(
                "check if time($t), {} > 0;",
                (0..200)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
        ),
    ];
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .build()
        .unwrap();
    let request = AccessRequest::new("flights/lis/x", "read");
    let mut group = c.benchmark_group("budget");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, source) in shapes {
        let token = append(&grant, &root, &source);
        group.bench_function(format!("deny/{name}"), |b| {
            b.iter(|| {
                let decision = verifier.verify(&token, &request);
                assert_eq!(decision.reason, agentcap_verifier::Reason::TooComplex);
                black_box(decision)
            })
        });
    }
    // Close to the worst the budget accepts: 120 facts, 4 rules and 40
    // checks of two alternatives, each scanning those facts (one many-fact
    // predicate per body): an estimated cost of about 86,000 of 100,000.
    let mut worst = facts(120);
    for i in 0..4 {
        worst.push_str(&format!("g{i}($a) <- f($a), resource($r), $a >= {i};\n"));
    }
    for i in 0..40 {
        worst.push_str(&format!(
            "check if f($a), time($t), $a + {i} >= 0 or g{}($b), $b >= 0;\n",
            i % 4
        ));
    }
    let token = append(&grant, &root, &worst);
    let cold = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .cache_bytes(1)
        .build()
        .unwrap();
    group.bench_function("worst_within_budget/cold", |b| {
        b.iter(|| {
            let decision = cold.verify(&token, &request);
            assert!(decision.allowed(), "{}", decision.explain());
            black_box(decision)
        })
    });
    group.bench_function("worst_within_budget/warm", |b| {
        b.iter(|| {
            let decision = verifier.verify(&token, &request);
            assert!(decision.allowed(), "{}", decision.explain());
            black_box(decision)
        })
    });
    group.finish();
}

/// A joint request for a channel of 20 (the acting token and 19 others, one
/// grant each, all to the same agent): warm (every token cached) and cold
/// (none: 20 signature verifications).
fn joint(c: &mut Criterion) {
    let root = KeyPair::generate();
    let dir = tempfile::tempdir().unwrap();
    let state = revocation_state(dir.path());
    let request = AccessRequest::new("finance/budget/q3", "read");
    let members: Vec<String> = (0..20)
        .map(|i| {
            Grant::new(format!("member-{i}"), "channel-assistant")
                .right("finance/budget/*", "read")
                .mint(&root)
                .unwrap()
                .to_base64()
                .unwrap()
        })
        .collect();
    let (acting, others) = members.split_first().unwrap();
    let mut group = c.benchmark_group("joint");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    for (name, cache_bytes) in [("warm/20", 64 << 20), ("cold/20", 1)] {
        let verifier = Verifier::builder()
            .root_key(None, root.public())
            .revocation(Arc::clone(&state))
            .cache_bytes(cache_bytes)
            .build()
            .unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let decision = verifier.verify_joint(acting, others, &request);
                assert!(decision.allowed());
                black_box(decision);
            })
        });
    }
    group.finish();
}

criterion_group!(verify, benches, budget, joint);
criterion_main!(verify);
