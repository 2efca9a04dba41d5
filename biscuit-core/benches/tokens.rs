//! Token operations beside the equivalent raw biscuit-auth operation, in the
//! same run: mint, one signed hop, one plain hop, one narrowing, and inspect
//! of a 6-block token. The raw side builds the same facts and checks with
//! biscuit-auth's compile-time `biscuit!`/`block!` macros.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use agentcap::{Grant, Hop, KeyPair, Token, inspect};
use biscuit_auth::Biscuit;
use biscuit_auth::macros::{biscuit, block};
use criterion::{Criterion, criterion_group, criterion_main};

fn grant() -> Grant {
    Grant::new("alice", "travel-assistant")
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .cap("payments/charge:write", "amount", 500)
        .ttl(Duration::from_secs(3600))
        .max_depth(5)
        .intent("Book me a flight to Lisbon under 500 EUR")
}

/// The block `grant().mint()` writes (same facts and checks), built with
/// biscuit-auth alone.
fn raw_mint(root: &biscuit_auth::KeyPair) -> Biscuit {
    let now = SystemTime::now();
    let expires = now + Duration::from_secs(3600);
    biscuit!(
        r#"
        agentcap(1);
        user("alice");
        agent("travel-assistant");
        issued_at({now});
        intent("Book me a flight to Lisbon under 500 EUR");
        right("flights/*", "read");
        right("payments/charge", "write");
        cap_max("payments/charge", "write", "amount", 500);
        expires({expires});
        max_depth(5);
        check if time($time), $time <= {expires};
        check if resource($resource), operation("read"), $resource.starts_with("flights/")
              or resource("payments/charge"), operation("write");
        check if operation($op), $op !== "write"
              or resource($resource), $resource !== "payments/charge"
              or quantity("amount", $n), $n <= 500;
        "#
    )
    .build(root)
    .unwrap()
}

fn raw_hop_block(expires: SystemTime) -> biscuit_auth::BlockBuilder {
    block!(
        r#"
        hop(1, "travel-assistant", "flight-search");
        check if time($time), $time <= {expires};
        check if resource($resource), operation("read"), $resource.starts_with("flights/");
        "#
    )
}

fn raw_narrowing_block(expires: SystemTime) -> biscuit_auth::BlockBuilder {
    block!(
        r#"
        narrowing("flight-search");
        check if time($time), $time <= {expires};
        check if resource("flights/lis/2026-12-01"), operation("read");
        "#
    )
}

fn hop() -> Hop {
    Hop::to("flight-search")
        .right("flights/*", "read")
        .ttl(Duration::from_secs(600))
}

fn six_blocks(root: &KeyPair) -> Token {
    let mut token = grant().mint(root).unwrap();
    for i in 1..=4 {
        token = token
            .delegate(
                &Hop::to(format!("agent-{i}")).right("flights/*", "read"),
                Some(&KeyPair::generate()),
            )
            .unwrap();
    }
    token
        .narrow("flights/lis/2026-12-01", "read", Duration::from_secs(30))
        .unwrap()
}

/// Benchmarks `ours` and `raw` as `NAME/agentcap` and `NAME/raw`, each
/// measured interleaved with the other.
fn pair(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    ours: &dyn Fn(),
    raw: &dyn Fn(),
) {
    let interleaved = |measured: &dyn Fn(), other: &dyn Fn(), iters: u64| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let started = Instant::now();
            measured();
            total += started.elapsed();
            other();
        }
        total
    };
    group.bench_function(format!("{name}/agentcap"), |b| {
        b.iter_custom(|iters| interleaved(ours, raw, iters))
    });
    group.bench_function(format!("{name}/raw"), |b| {
        b.iter_custom(|iters| interleaved(raw, ours, iters))
    });
}

fn benches(c: &mut Criterion) {
    let root = KeyPair::generate();
    let raw_root = biscuit_auth::KeyPair::from(
        &biscuit_auth::PrivateKey::from_bytes(
            &hex::decode(root.to_text().trim_start_matches("ed25519-private/")).unwrap(),
            biscuit_auth::Algorithm::Ed25519,
        )
        .unwrap(),
    );
    let agent = KeyPair::generate();
    let raw_agent = biscuit_auth::KeyPair::new();
    let token = grant().mint(&root).unwrap();
    let raw_token = raw_mint(&raw_root);
    let expires = SystemTime::now() + Duration::from_secs(600);

    let mut group = c.benchmark_group("tokens");
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));

    // Each pair runs interleaved inside each measurement, each side timing
    // only its own calls: timing on this VM drifts between consecutive
    // benchmarks, and this way both sides see the same conditions.
    let mint = || {
        black_box(grant().mint(&root).unwrap());
    };
    let mint_raw = || {
        black_box(raw_mint(&raw_root));
    };
    pair(&mut group, "mint", &mint, &mint_raw);

    let signed_hop = || {
        black_box(token.delegate(&hop(), Some(&agent)).unwrap());
    };
    let signed_hop_raw = || {
        let request = raw_token.third_party_request().unwrap();
        let signed = request
            .create_block(&raw_agent.private(), raw_hop_block(expires))
            .unwrap();
        black_box(
            raw_token
                .append_third_party(raw_agent.public(), signed)
                .unwrap(),
        );
    };
    pair(&mut group, "signed_hop", &signed_hop, &signed_hop_raw);

    let plain_hop = || {
        black_box(token.delegate(&hop(), None).unwrap());
    };
    let plain_hop_raw = || {
        black_box(raw_token.append(raw_hop_block(expires)).unwrap());
    };
    pair(&mut group, "plain_hop", &plain_hop, &plain_hop_raw);

    let held = token.delegate(&hop(), None).unwrap();
    let raw_held = raw_token.append(raw_hop_block(expires)).unwrap();
    let narrow = || {
        black_box(
            held.narrow("flights/lis/2026-12-01", "read", Duration::from_secs(30))
                .unwrap(),
        );
    };
    let narrow_raw = || {
        black_box(raw_held.append(raw_narrowing_block(expires)).unwrap());
    };
    pair(&mut group, "narrow", &narrow, &narrow_raw);

    let six = six_blocks(&root).to_base64().unwrap();
    let public = root.public();
    let inspect_six = || {
        black_box(inspect(&six, Some(&public)).unwrap());
    };
    let inspect_six_raw = || {
        let biscuit = Biscuit::from_base64(&six, public.to_biscuit()).unwrap();
        let blocks: Vec<String> = (0..biscuit.block_count())
            .map(|i| biscuit.print_block_source(i).unwrap())
            .collect();
        black_box((
            biscuit.revocation_identifiers(),
            biscuit.external_public_keys(),
            blocks,
        ));
    };
    pair(
        &mut group,
        "inspect_6_blocks",
        &inspect_six,
        &inspect_six_raw,
    );
    group.finish();

    // Sizes: what each operation adds to the token.
    let base = token.to_bytes().unwrap().len();
    let plain = token
        .delegate(&hop(), None)
        .unwrap()
        .to_bytes()
        .unwrap()
        .len();
    let signed = token
        .delegate(&hop(), Some(&agent))
        .unwrap()
        .to_bytes()
        .unwrap()
        .len();
    let narrowed = held
        .narrow("flights/lis/2026-12-01", "read", Duration::from_secs(30))
        .unwrap();
    println!(
        "sizes: minted {base} B; plain hop +{} B; signed hop +{} B; narrowing +{} B; 6 blocks {} B",
        plain - base,
        signed - base,
        narrowed.to_bytes().unwrap().len() - held.to_bytes().unwrap().len(),
        Token::from_base64(&six).unwrap().to_bytes().unwrap().len(),
    );
}

/// A holder proof (RFC 9421 signature base, body digest, nonce, Ed25519
/// signature) beside a bare Ed25519 signature of a message the size of the
/// signature base.
fn proofs(c: &mut Criterion) {
    use ed25519_dalek::Signer;
    let root = KeyPair::generate();
    let holder = KeyPair::generate();
    let token = grant()
        .agent_key(holder.public())
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    let request = agentcap::ProofRequest {
        method: "POST",
        authority: "payments.example:8443",
        path: "/payments/charge",
        query: Some("amount=120"),
        token: &token,
        body: b"{\"note\":\"lunch\"}",
    };
    let now = SystemTime::now();
    let base_len = agentcap::HolderProof::sign(&holder, &request, now)
        .unwrap()
        .signature_input
        .len()
        + token.len()
        + 200;
    let message = vec![b'x'; base_len];
    let bare = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let mut group = c.benchmark_group("holder_proof");
    group.bench_function("sign", |b| {
        b.iter(|| black_box(agentcap::HolderProof::sign(&holder, &request, now).unwrap()))
    });
    group.bench_function("bare_ed25519_sign", |b| {
        b.iter(|| black_box(bare.sign(&message)))
    });
    let headers = agentcap::HolderProof::sign(&holder, &request, now).unwrap();
    group.bench_function("verify", |b| {
        b.iter(|| {
            black_box(
                agentcap::HolderProof::verify(
                    &headers.signature_input,
                    &headers.signature,
                    Some(&headers.content_digest),
                    &holder.public(),
                    &request,
                    now,
                    Duration::from_secs(60),
                    Duration::from_secs(5),
                )
                .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(tokens, benches, proofs);
criterion_main!(tokens);
