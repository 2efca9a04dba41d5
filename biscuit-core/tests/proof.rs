//! Holder proofs bind the call: method, authority, path, query, body,
//! token, holder key and time. Real keys, real tokens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentcap::{
    Error, Grant, HolderProof, KeyPair, ProofHeaders, ProofRequest, VerifiedProof, content_digest,
};
use proptest::prelude::*;

const MAX_AGE: Duration = Duration::from_secs(60);
const SKEW: Duration = Duration::from_secs(5);

struct Fixture {
    holder: KeyPair,
    token: String,
    now: SystemTime,
}

fn fixture() -> Fixture {
    let root = KeyPair::generate();
    let holder = KeyPair::generate();
    let token = Grant::new("alice", "assistant")
        .agent_key(holder.public())
        .right("payments/charge", "write")
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    Fixture {
        holder,
        token,
        now: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    }
}

fn charge<'a>(token: &'a str, query: &'a str, body: &'a [u8]) -> ProofRequest<'a> {
    ProofRequest {
        method: "POST",
        authority: "pay.example:8443",
        path: "/payments/charge",
        query: Some(query),
        token,
        body,
    }
}

fn verify_at(
    headers: &ProofHeaders,
    f: &Fixture,
    request: &ProofRequest<'_>,
    now: SystemTime,
) -> Result<VerifiedProof, Error> {
    HolderProof::verify(
        &headers.signature_input,
        &headers.signature,
        Some(&headers.content_digest),
        &f.holder.public(),
        request,
        now,
        MAX_AGE,
        SKEW,
    )
}

fn reason(result: Result<VerifiedProof, Error>) -> &'static str {
    match result.expect_err("the proof must be refused") {
        Error::InvalidHolderProof(reason) => reason,
        other => panic!("unexpected error {other:?}"),
    }
}

const BAD_SIGNATURE: &str = "the signature does not verify for this request: its method, \
    authority, path, query, body or token differ from what the holder signed, or its parameters \
    were altered";

#[test]
fn a_proof_verifies_for_the_request_it_signs() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"{\"to\":\"bob\"}");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let proven = verify_at(&headers, &f, &request, f.now + Duration::from_secs(2)).unwrap();
    assert_eq!(proven.created, f.now);
    assert!(proven.nonce.len() >= 22, "a 128-bit nonce");
    // Accepted up to max age + skew (61 + 5 s, whole seconds): remembered until then.
    assert_eq!(proven.replay_until, f.now + Duration::from_secs(66));
    assert!(headers.signature_input.starts_with(
        "agentcap=(\"@method\" \"@authority\" \"@path\" \"@query\" \"content-digest\" \
         \"authorization\");created=1800000000;expires=1800000060;nonce=\""
    ));
    assert!(headers.signature.starts_with("agentcap=:") && headers.signature.ends_with(':'));
    assert_eq!(headers.content_digest, content_digest(request.body));
}

#[test]
fn two_proofs_for_the_same_call_have_distinct_nonces() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let a = verify_at(
        &HolderProof::sign(&f.holder, &request, f.now).unwrap(),
        &f,
        &request,
        f.now,
    )
    .unwrap();
    let b = verify_at(
        &HolderProof::sign(&f.holder, &request, f.now).unwrap(),
        &f,
        &request,
        f.now,
    )
    .unwrap();
    assert_ne!(a.nonce, b.nonce);
}

#[test]
fn a_proof_does_not_carry_another_method() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let other = ProofRequest {
        method: "PUT",
        ..request
    };
    assert_eq!(
        reason(verify_at(&headers, &f, &other, f.now)),
        BAD_SIGNATURE
    );
}

#[test]
fn a_proof_does_not_carry_another_path() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let other = ProofRequest {
        path: "/payments/refund",
        ..request
    };
    assert_eq!(
        reason(verify_at(&headers, &f, &other, f.now)),
        BAD_SIGNATURE
    );
}

#[test]
fn a_proof_does_not_carry_another_amount_in_the_query() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    for query in [Some("amount=500"), Some("amount=-100000"), None] {
        let other = ProofRequest { query, ..request };
        assert_eq!(
            reason(verify_at(&headers, &f, &other, f.now)),
            BAD_SIGNATURE
        );
    }
}

#[test]
fn a_proof_does_not_carry_another_body() {
    let f = fixture();
    let request = charge(&f.token, "", b"{\"amount\":10}");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let other = ProofRequest {
        body: b"{\"amount\":500}",
        ..request
    };
    assert_eq!(
        reason(verify_at(&headers, &f, &other, f.now)),
        "the Content-Digest header does not match the body"
    );
}

#[test]
fn a_recomputed_digest_for_another_body_breaks_the_signature() {
    let f = fixture();
    let request = charge(&f.token, "", b"{\"amount\":10}");
    let mut headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let other = ProofRequest {
        body: b"{\"amount\":500}",
        ..request
    };
    headers.content_digest = content_digest(other.body);
    assert_eq!(
        reason(verify_at(&headers, &f, &other, f.now)),
        BAD_SIGNATURE
    );
}

#[test]
fn a_digest_header_that_does_not_match_the_body_is_refused() {
    let f = fixture();
    let request = charge(&f.token, "", b"{\"amount\":10}");
    let mut headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    headers.content_digest = content_digest(b"something else");
    assert_eq!(
        reason(verify_at(&headers, &f, &request, f.now)),
        "the Content-Digest header does not match the body"
    );
    // Every supported digest listed must match, not just one of them.
    headers.content_digest = format!(
        "{}, sha-512=:{}:",
        content_digest(request.body),
        base64::encode([0u8; 64])
    );
    assert_eq!(
        reason(verify_at(&headers, &f, &request, f.now)),
        "the Content-Digest header does not match the body"
    );
}

#[test]
fn a_missing_digest_header_is_refused() {
    let f = fixture();
    let request = charge(&f.token, "", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let result = HolderProof::verify(
        &headers.signature_input,
        &headers.signature,
        None,
        &f.holder.public(),
        &request,
        f.now,
        MAX_AGE,
        SKEW,
    );
    assert_eq!(reason(result), "the Content-Digest header is missing");
}

#[test]
fn a_digest_header_with_only_unsupported_algorithms_is_refused() {
    let f = fixture();
    let request = charge(&f.token, "", b"");
    let mut headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    headers.content_digest = format!("md5=:{}:", base64::encode([1u8; 16]));
    assert_eq!(
        reason(verify_at(&headers, &f, &request, f.now)),
        "the Content-Digest header lists no supported algorithm (sha-256, sha-512)"
    );
}

#[test]
fn a_proof_for_one_service_is_refused_by_another() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let other = ProofRequest {
        authority: "shop.example",
        ..request
    };
    assert_eq!(
        reason(verify_at(&headers, &f, &other, f.now)),
        BAD_SIGNATURE
    );
    // The authority is compared without regard to case.
    let upper = ProofRequest {
        authority: "PAY.example:8443",
        ..request
    };
    verify_at(&headers, &f, &upper, f.now).unwrap();
}

#[test]
fn a_proof_does_not_carry_another_token() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let other_token = Grant::new("alice", "assistant")
        .agent_key(f.holder.public())
        .right("payments/charge", "write")
        .mint(&KeyPair::generate())
        .unwrap()
        .to_base64()
        .unwrap();
    let other = ProofRequest {
        token: &other_token,
        ..request
    };
    assert_eq!(
        reason(verify_at(&headers, &f, &other, f.now)),
        BAD_SIGNATURE
    );
}

#[test]
fn a_proof_by_a_key_other_than_the_holders_is_refused() {
    let f = fixture();
    let thief = KeyPair::generate();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&thief, &request, f.now).unwrap();
    assert_eq!(
        reason(verify_at(&headers, &f, &request, f.now)),
        "the keyid names a key other than the token's holder"
    );
    // Claiming the holder's keyid does not help: the signature is the thief's.
    let forged = ProofHeaders {
        signature_input: headers
            .signature_input
            .replace(&thief.public().to_string(), &f.holder.public().to_string()),
        ..headers
    };
    assert_eq!(
        reason(verify_at(&forged, &f, &request, f.now)),
        BAD_SIGNATURE
    );
}

#[test]
fn a_proof_dated_59_seconds_ahead_is_refused() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now + Duration::from_secs(59)).unwrap();
    assert_eq!(
        reason(verify_at(&headers, &f, &request, f.now)),
        "the proof was created in the future"
    );
    // Within the skew it is accepted.
    let headers = HolderProof::sign(&f.holder, &request, f.now + SKEW).unwrap();
    verify_at(&headers, &f, &request, f.now).unwrap();
}

#[test]
fn a_proof_older_than_max_age_is_refused() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let late = f.now + MAX_AGE + SKEW + Duration::from_secs(1);
    // A service with a shorter max age than the proof's lifetime.
    let result = HolderProof::verify(
        &headers.signature_input,
        &headers.signature,
        Some(&headers.content_digest),
        &f.holder.public(),
        &request,
        f.now + Duration::from_secs(11),
        Duration::from_secs(5),
        SKEW,
    );
    assert_eq!(
        reason(result),
        "the proof is older than this service accepts"
    );
    assert_eq!(
        reason(verify_at(&headers, &f, &request, late)),
        "the proof is older than this service accepts"
    );
}

#[test]
fn a_proof_past_its_expires_parameter_is_refused() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    // A service accepting older proofs still honours the proof's own expiry.
    let result = HolderProof::verify(
        &headers.signature_input,
        &headers.signature,
        Some(&headers.content_digest),
        &f.holder.public(),
        &request,
        f.now + Duration::from_secs(120),
        Duration::from_secs(3600),
        SKEW,
    );
    assert_eq!(reason(result), "the proof has expired");
}

#[test]
fn a_tampered_signature_parameter_is_refused() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let tampered = |from: &str, to: &str| ProofHeaders {
        signature_input: headers.signature_input.replacen(from, to, 1),
        ..headers.clone()
    };
    // A fresh nonce (to slip past a replay cache) breaks the signature.
    let proven = verify_at(&headers, &f, &request, f.now).unwrap();
    let renonced = tampered(&proven.nonce, "another-nonce");
    assert_eq!(
        reason(verify_at(&renonced, &f, &request, f.now)),
        BAD_SIGNATURE
    );
    // So does a later creation time.
    let redated = tampered("created=1800000000", "created=1800000001");
    assert_eq!(
        reason(verify_at(&redated, &f, &request, f.now)),
        BAD_SIGNATURE
    );
    // A foreign tag or algorithm is refused by name.
    let retagged = tampered("tag=\"agentcap\"", "tag=\"other\"");
    assert_eq!(
        reason(verify_at(&retagged, &f, &request, f.now)),
        "the tag parameter is not agentcap"
    );
    let realg = tampered("alg=\"ed25519\"", "alg=\"hmac-sha256\"");
    assert_eq!(
        reason(verify_at(&realg, &f, &request, f.now)),
        "the alg parameter is not ed25519"
    );
    let dropped = tampered(";tag=\"agentcap\"", "");
    assert_eq!(
        reason(verify_at(&dropped, &f, &request, f.now)),
        "the tag parameter is missing"
    );
    let unknown = tampered(";tag=", ";foo=1;tag=");
    assert_eq!(
        reason(verify_at(&unknown, &f, &request, f.now)),
        "the Signature-Input header has an unknown parameter"
    );
    let repeated = tampered(";tag=", ";alg=\"ed25519\";tag=");
    assert_eq!(
        reason(verify_at(&repeated, &f, &request, f.now)),
        "the Signature-Input header repeats a parameter"
    );
}

#[test]
fn a_proof_missing_a_covered_component_is_refused() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let component_error = "the proof must cover exactly \"@method\" \"@authority\" \"@path\" \
        \"@query\" \"content-digest\" \"authorization\", in that order";
    for (from, to) in [
        (" \"@query\"", ""),
        ("\"@method\" \"@authority\"", "\"@authority\" \"@method\""),
        (" \"authorization\")", " \"authorization\" \"date\")"),
    ] {
        let tampered = ProofHeaders {
            signature_input: headers.signature_input.replacen(from, to, 1),
            ..headers.clone()
        };
        assert_eq!(
            reason(verify_at(&tampered, &f, &request, f.now)),
            component_error
        );
    }
}

#[test]
fn a_proof_under_another_label_or_beside_another_signature_is_refused() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let headers = HolderProof::sign(&f.holder, &request, f.now).unwrap();
    let relabelled = ProofHeaders {
        signature_input: headers.signature_input.replacen("agentcap=", "sig1=", 1),
        ..headers.clone()
    };
    assert_eq!(
        reason(verify_at(&relabelled, &f, &request, f.now)),
        "the signature label is not agentcap"
    );
    let doubled = ProofHeaders {
        signature_input: format!("{}, sig2=(\"@method\");created=1", headers.signature_input),
        ..headers.clone()
    };
    assert_eq!(
        reason(verify_at(&doubled, &f, &request, f.now)),
        "the Signature-Input header must hold exactly one signature, labelled agentcap"
    );
    let other_signature = ProofHeaders {
        signature: headers.signature.replacen("agentcap=", "sig1=", 1),
        ..headers.clone()
    };
    assert_eq!(
        reason(verify_at(&other_signature, &f, &request, f.now)),
        "the Signature header has no agentcap signature"
    );
}

#[test]
fn nonces_must_be_short_and_printable() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    let refused = "the nonce must be 1 to 64 printable ASCII characters";
    for nonce in ["", "é", "a\nb", &"n".repeat(65)] {
        let error = HolderProof::sign_with_nonce(&f.holder, &request, f.now, nonce)
            .expect_err("a bad nonce is refused when signing");
        assert!(matches!(error, Error::InvalidHolderProof(r) if r == refused));
    }
    // A nonce with quotes and backslashes is escaped and round-trips.
    let nonce = r#"a "quoted" \ nonce"#;
    let headers = HolderProof::sign_with_nonce(&f.holder, &request, f.now, nonce).unwrap();
    assert_eq!(
        verify_at(&headers, &f, &request, f.now).unwrap().nonce,
        nonce
    );
    let too_long = &"n".repeat(64);
    let headers = HolderProof::sign_with_nonce(&f.holder, &request, f.now, too_long).unwrap();
    let longer = ProofHeaders {
        signature_input: headers
            .signature_input
            .replacen(too_long.as_str(), &"n".repeat(65), 1),
        ..headers
    };
    assert_eq!(reason(verify_at(&longer, &f, &request, f.now)), refused);
}

#[test]
fn header_values_with_line_breaks_cannot_be_signed() {
    let f = fixture();
    let request = charge(&f.token, "amount=10", b"");
    for bad in [
        ProofRequest {
            path: "/a\n\"@method\": GET",
            ..request
        },
        ProofRequest {
            method: "PO ST",
            ..request
        },
        ProofRequest {
            query: Some("a=1\r\nb"),
            ..request
        },
    ] {
        let error = HolderProof::sign(&f.holder, &bad, f.now).expect_err("refused");
        assert!(matches!(error, Error::InvalidHolderProof(_)));
    }
}

/// A fixed key, request, nonce and time give this exact signature base and
/// these headers: the wire format cannot drift silently.
#[test]
fn the_signature_base_matches_the_checked_in_vector() {
    let holder = KeyPair::from_text(
        "ed25519-private/9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    )
    .unwrap();
    let request = ProofRequest {
        method: "POST",
        authority: "Pay.Example:8443",
        path: "/payments/charge",
        query: Some("amount=10&currency=EUR"),
        token: "En0KEwoEdGVzdBgDIgkKBwgKEgMYgAgSJAgAEiBuQ",
        body: b"{\"to\":\"bob\"}",
    };
    let created = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let headers =
        HolderProof::sign_with_nonce(&holder, &request, created, "dGVzdC1ub25jZS0wMDE").unwrap();
    let keyid = "ed25519/d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    assert_eq!(holder.public().to_string(), keyid);
    let expected_input = "agentcap=(\"@method\" \"@authority\" \"@path\" \"@query\" \
        \"content-digest\" \"authorization\");created=1800000000;expires=1800000060;\
        nonce=\"dGVzdC1ub25jZS0wMDE\";\
        keyid=\"ed25519/d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\";\
        alg=\"ed25519\";tag=\"agentcap\"";
    assert_eq!(headers.signature_input, expected_input);
    assert_eq!(
        headers.content_digest,
        "sha-256=:e2YmTZpbPoZOq8/NqMnP4PrzpJ8aWL5a78tB2xPgHZY=:"
    );
    let base =
        HolderProof::signature_base(&request, &headers.content_digest, expected_input).unwrap();
    assert_eq!(
        base,
        "\"@method\": POST\n\
         \"@authority\": pay.example:8443\n\
         \"@path\": /payments/charge\n\
         \"@query\": ?amount=10&currency=EUR\n\
         \"content-digest\": sha-256=:e2YmTZpbPoZOq8/NqMnP4PrzpJ8aWL5a78tB2xPgHZY=:\n\
         \"authorization\": Bearer En0KEwoEdGVzdBgDIgkKBwgKEgMYgAgSJAgAEiBuQ\n\
         \"@signature-params\": (\"@method\" \"@authority\" \"@path\" \"@query\" \
         \"content-digest\" \"authorization\");created=1800000000;expires=1800000060;\
         nonce=\"dGVzdC1ub25jZS0wMDE\";\
         keyid=\"ed25519/d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\";\
         alg=\"ed25519\";tag=\"agentcap\""
    );
    // Ed25519 is deterministic: the signature is fixed too.
    assert_eq!(headers.signature, SIGNATURE_VECTOR);
    // No query: "@query" is a lone "?".
    let bare = ProofRequest {
        query: None,
        ..request
    };
    let base = HolderProof::signature_base(&bare, &headers.content_digest, expected_input).unwrap();
    assert!(base.contains("\n\"@query\": ?\n"));
}

const SIGNATURE_VECTOR: &str = "agentcap=:VaK1SGNn8Y/fQ2kmulDNrKmf1NQXC3ArjvLcCBTDAw+EEn400O/3Q7CF2rqrGMgEpjwJSzp/ZK8MekzjHJaNAQ==:";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Attacker-controlled headers never make verification panic.
    #[test]
    fn arbitrary_headers_never_panic(
        input in ".{0,300}",
        signature in ".{0,200}",
        digest in proptest::option::of(".{0,200}"),
    ) {
        let f = FIXED.with(|f| (f.holder.public(), f.token.clone()));
        let request = charge(&f.1, "amount=10", b"");
        let _ = HolderProof::verify(
            &input, &signature, digest.as_deref(), &f.0, &request,
            SystemTime::now(), MAX_AGE, SKEW,
        );
    }

    /// Near-misses of a valid proof (one byte changed, cut or inserted in
    /// any header) never panic and are never accepted unless unchanged.
    #[test]
    fn mutated_proofs_never_panic(
        which in 0usize..3,
        at in any::<proptest::sample::Index>(),
        byte in any::<u8>(),
        action in 0usize..3,
    ) {
        FIXED.with(|f| {
            let request = charge(&f.token, "amount=10", b"{}");
            let headers = HolderProof::sign_with_nonce(&f.holder, &request, f.now, "n0nce").unwrap();
            let mut parts = [
                headers.signature_input.clone().into_bytes(),
                headers.signature.clone().into_bytes(),
                headers.content_digest.clone().into_bytes(),
            ];
            let target = &mut parts[which];
            let i = at.index(target.len());
            match action {
                0 => target[i] = byte,
                1 => { target.truncate(i); }
                _ => target.insert(i, byte),
            }
            let [input, signature, digest] = parts.map(|p| String::from_utf8_lossy(&p).into_owned());
            let unchanged = input == headers.signature_input
                && signature == headers.signature
                && digest == headers.content_digest;
            let result = HolderProof::verify(
                &input, &signature, Some(&digest), &f.holder.public(), &request,
                f.now, MAX_AGE, SKEW,
            );
            // Structured fields allow optional spaces (after `;`, between
            // inner-list items, around each header value), and the signature covers
            // their canonical serialization: a change of spacing alone may be
            // accepted. Any other change to what is signed is refused.
            let squeeze = |s: &str| s.split_whitespace().collect::<String>();
            let spacing_only = squeeze(&input) == squeeze(&headers.signature_input)
                && squeeze(&signature) == squeeze(&headers.signature)
                && squeeze(&digest) == squeeze(&headers.content_digest);
            if !unchanged && !spacing_only {
                prop_assert!(result.is_err(), "a changed proof was accepted");
            }
            Ok(())
        })?;
    }
}

thread_local! {
    static FIXED: Fixture = fixture();
}
