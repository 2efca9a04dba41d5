//! Property tests: authority only shrinks along a chain, and tampering never
//! yields a token that verifies with other content.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use agentcap::{Chain, Error, Grant, Hop, KeyPair, Request, Token};
use proptest::prelude::*;

const OPERATIONS: &[&str] = &["read", "write", "pay"];

/// A block written with biscuit-auth alone that states `claimed` as
/// `right` facts and checks that the request falls under one of them, in
/// agentcap's shape (values passed as parameters, never in the source).
fn claiming_block(claimed: &[agentcap::Right]) -> biscuit_auth::BlockBuilder {
    use biscuit_auth::builder::Term;
    let mut source = String::new();
    let mut params = std::collections::HashMap::new();
    let mut alternatives = Vec::new();
    for (i, right) in claimed.iter().enumerate() {
        source.push_str(&format!("right({{r{i}}}, {{o{i}}});\n"));
        params.insert(
            format!("r{i}"),
            Term::Str(right.resource.as_str().to_owned()),
        );
        params.insert(format!("o{i}"), Term::Str(right.operation.clone()));
        alternatives.push(match right.resource.prefix() {
            None => format!("resource({{r{i}}}), operation({{o{i}}})"),
            Some(prefix) => {
                params.insert(format!("p{i}"), Term::Str(prefix.to_owned()));
                format!("resource($res), operation({{o{i}}}), $res.starts_with({{p{i}}})")
            }
        });
    }
    source.push_str(&format!("check if {};", alternatives.join(" or ")));
    biscuit_auth::BlockBuilder::new()
        .code_with_params(&source, params, std::collections::HashMap::new())
        .unwrap()
}

fn segment() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned)
}

fn path(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(segment(), 1..=max)
}

/// A resource pattern over a small tree, so that rights overlap often.
fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("*".to_owned()),
        3 => path(2).prop_map(|p| format!("{}/*", p.join("/"))),
        3 => path(3).prop_map(|p| p.join("/")),
    ]
}

fn operation() -> impl Strategy<Value = String> {
    prop::sample::select(OPERATIONS.to_vec()).prop_map(str::to_owned)
}

fn right() -> impl Strategy<Value = (String, String)> {
    (pattern(), operation())
}

/// A right to ask for in a hop: narrow the parent's right at an index
/// (optionally one path segment deeper), or an arbitrary right instead.
type RightPlan = (
    prop::sample::Index,
    Option<String>,
    Option<(String, String)>,
);

#[derive(Debug, Clone)]
struct HopPlan {
    /// Each entry narrows a right held by the parent (index into the parent's
    /// rights, extra path), or asks for an arbitrary right (maybe not held).
    rights: Vec<RightPlan>,
    caps: Vec<CapPlan>,
    ttl: u64,
    max_depth: Option<u32>,
    signed: bool,
}

fn hop_plan() -> impl Strategy<Value = HopPlan> {
    (
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::option::of(segment()),
                prop::option::weighted(0.2, right()),
            ),
            1..3,
        ),
        prop::collection::vec(cap_plan(), 0..3),
        1u64..4000,
        prop::option::weighted(0.3, 1u32..5),
        any::<bool>(),
    )
        .prop_map(|(rights, caps, ttl, max_depth, signed)| HopPlan {
            rights,
            caps,
            ttl,
            max_depth,
            signed,
        })
}

/// A cap on `amount`: its scope (pattern and operation) and bounds, at
/// least one stated, the lower sometimes negative.
type CapPlan = (String, String, Option<i64>, Option<i64>);

fn cap_plan() -> impl Strategy<Value = CapPlan> {
    (
        pattern(),
        operation(),
        prop::option::of(-60i64..60),
        prop::option::of(-20i64..1000),
    )
        .prop_map(|(pattern, operation, min, max)| match (min, max) {
            (None, None) => (pattern, operation, None, Some(500)),
            (Some(lo), Some(hi)) if lo > hi => (pattern, operation, Some(hi), Some(lo)),
            (min, max) => (pattern, operation, min, max),
        })
}

fn request() -> impl Strategy<Value = (String, String, Option<i64>)> {
    (
        path(4).prop_map(|p| p.join("/")),
        operation(),
        prop::option::of(-100i64..1200),
    )
}

struct Built {
    root: KeyPair,
    tokens: Vec<Token>,
}

/// Mints a grant and applies the hop plans, skipping hops the builder refuses
/// (refusals must be the typed errors for asking too much).
fn build(
    rights: &[(String, String)],
    caps: &[CapPlan],
    max_depth: u32,
    plans: &[HopPlan],
) -> Built {
    let root = KeyPair::generate();
    let mut grant = Grant::new("alice", "agent-0")
        .max_depth(max_depth)
        .ttl(Duration::from_secs(3600));
    for (r, o) in rights {
        grant = grant.right(r.as_str(), o.as_str());
    }
    for (pattern, operation, min, max) in caps {
        grant = grant.cap_range(format!("{pattern}:{operation}"), "amount", *min, *max);
    }
    let mut tokens = vec![grant.mint(&root).unwrap()];
    for (i, plan) in plans.iter().enumerate() {
        let parent = tokens.last().unwrap();
        let held = &parent.chain().blocks.last().unwrap().rights;
        let held = if held.is_empty() {
            &parent.chain().blocks[0].rights
        } else {
            held
        };
        let mut hop = Hop::to(format!("agent-{}", i + 1)).ttl(Duration::from_secs(plan.ttl));
        for (index, extra, arbitrary) in &plan.rights {
            match arbitrary {
                Some((r, o)) => hop = hop.right(r.as_str(), o.as_str()),
                None => {
                    let base = &held[index.index(held.len())];
                    let resource = match (base.resource.prefix(), extra) {
                        (Some(prefix), Some(seg)) => format!("{prefix}{seg}"),
                        _ => base.resource.as_str().to_owned(),
                    };
                    hop = hop.right(resource, base.operation.as_str());
                }
            }
        }
        for (pattern, operation, min, max) in &plan.caps {
            hop = hop.cap_range(format!("{pattern}:{operation}"), "amount", *min, *max);
        }
        if let Some(depth) = plan.max_depth {
            hop = hop.max_depth(depth);
        }
        let signer = plan.signed.then(KeyPair::generate);
        match parent.delegate(&hop, signer.as_ref()) {
            Ok(child) => tokens.push(child),
            Err(
                Error::RightNotHeld { .. }
                | Error::CapExceedsParent { .. }
                | Error::TtlExceedsParent { .. }
                | Error::DepthExceeded { .. }
                | Error::InvalidMaxDepth { .. },
            ) => {}
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    Built { root, tokens }
}

fn allows(
    built: &Built,
    token: &Token,
    (resource, operation, amount): &(String, String, Option<i64>),
) -> bool {
    let mut request = Request::new(resource.as_str(), operation.as_str());
    if let Some(a) = amount {
        request = request.quantity("amount", *a);
    }
    match token.check(&built.root.public(), &request) {
        Ok(()) => true,
        Err(Error::NotPermitted { .. } | Error::QuantityRefused { .. }) => false,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// What the chain's stated rights and caps allow, computed without Datalog.
fn model_allows(
    chain: &Chain,
    (resource, operation, amount): &(String, String, Option<i64>),
) -> bool {
    let caps: Vec<_> = chain
        .caps_for(resource, operation)
        .filter(|(_, cap)| cap.name == "amount")
        .collect();
    let within_caps = caps
        .iter()
        .all(|(_, cap)| amount.is_some_and(|a| cap.within(a)));
    // Negative only where the grant allows it and no cap refuses it.
    let sign_ok = amount.is_none_or(|a| {
        a >= 0
            || (caps.iter().any(|(block, _)| *block == 0)
                && caps.iter().all(|(_, c)| c.min.is_some()))
    });
    chain.allows(resource, operation) && within_caps && sign_ok
}

fn grant_rights() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(right(), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn whatever_a_child_allows_its_parent_allows(
        rights in grant_rights(),
        caps in prop::collection::vec(cap_plan(), 0..3),
        max_depth in 0u32..5,
        plans in prop::collection::vec(hop_plan(), 0..5),
        requests in prop::collection::vec(request(), 1..10),
    ) {
        let built = build(&rights, &caps, max_depth, &plans);
        for request in &requests {
            let verdicts: Vec<bool> = built.tokens.iter().map(|t| allows(&built, t, request)).collect();
            for pair in verdicts.windows(2) {
                prop_assert!(!pair[1] || pair[0], "child allows {request:?}, parent does not");
            }
            // And Datalog agrees with the plain model of the chain.
            for (token, verdict) in built.tokens.iter().zip(&verdicts) {
                prop_assert_eq!(*verdict, model_allows(token.chain(), request), "{:?}", request);
            }
        }
    }

    #[test]
    fn no_sequence_of_hops_adds_a_right(
        rights in grant_rights(),
        plans in prop::collection::vec(hop_plan(), 1..5),
        claimed in prop::collection::vec(right(), 1..4),
        requests in prop::collection::vec(request(), 1..10),
    ) {
        let built = build(&rights, &[], 5, &plans);
        let granted: Vec<agentcap::Right> = rights.iter().map(|(r, o)| agentcap::Right::new(r, o).unwrap()).collect();
        // A block appended with raw biscuit-auth, claiming rights and checking
        // for them, can only narrow too.
        let last = built.tokens.last().unwrap();
        let biscuit = biscuit_auth::Biscuit::from(last.to_bytes().unwrap(), built.root.public().to_biscuit()).unwrap();
        let claimed: Vec<agentcap::Right> = claimed.iter().map(|(r, o)| agentcap::Right::new(r, o).unwrap()).collect();
        let block = claiming_block(&claimed);
        let forged = Token::from_bytes(&biscuit.append(block).unwrap().to_vec().unwrap()).unwrap();
        for request in &requests {
            let in_grant = granted.iter().any(|r| r.allows(&request.0, &request.1));
            for token in built.tokens.iter().chain([&forged]) {
                if allows(&built, token, request) {
                    prop_assert!(in_grant, "{request:?} allowed beyond the grant");
                }
            }
            if allows(&built, &forged, request) {
                prop_assert!(allows(&built, last, request));
            }
        }
    }

    #[test]
    fn changing_any_byte_never_verifies_with_other_content(
        plans in prop::collection::vec(hop_plan(), 0..4),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let built = build(&[("a/*".into(), "read".into()), ("b".into(), "write".into())], &[("*".into(), "write".into(), None, Some(10))], 5, &plans);
        let token = built.tokens.last().unwrap();
        let mut bytes = token.to_bytes().unwrap();
        let at = position.index(bytes.len());
        bytes[at] ^= flip;
        if let Ok(tampered) = Token::verify_bytes(&bytes, &built.root.public()) {
            // The root key id is an unsigned hint in Biscuit; all else is signed.
            let mut seen = tampered.chain().clone();
            seen.root_key_id = token.chain().root_key_id;
            seen.blocks[0].signer = token.chain().blocks[0].signer.clone();
            prop_assert_eq!(&seen, token.chain(), "byte {} changed content", at);
        }
    }
}

/// A grant, then hops (each maybe binding the new holder to a key and
/// signed by the holder's key), then maybe a narrowing and an attestation.
/// Spellings of resource identifiers: the first two are one resource.
const AUDIENCES: &[&str] = &[
    "https://a.example/mcp",
    "HTTPS://A.example:443/mcp/",
    "https://b.example",
    "http://127.0.0.1:8080/x?y=1",
    "https://c.example/tools/",
];

/// The audiences block `block` names in a plan (indices into [`AUDIENCES`]).
fn audiences_of(audiences: &[Vec<usize>], block: usize) -> impl Iterator<Item = &'static str> {
    audiences
        .get(block)
        .into_iter()
        .flatten()
        .map(|i| AUDIENCES[*i % AUDIENCES.len()])
}

/// The hop `plan` describes, to `agent-{n}` below `parent`, for `audiences`.
fn hop_of(
    parent: &Token,
    n: usize,
    plan: &HopPlan,
    audiences: impl Iterator<Item = &'static str>,
) -> Hop {
    let mut hop = Hop::to(format!("agent-{n}")).ttl(Duration::from_secs(plan.ttl));
    for uri in audiences {
        hop = hop.audience(uri);
    }
    for (index, _, _) in &plan.rights {
        let held = &parent.chain().blocks[0].rights;
        let base = &held[index.index(held.len())];
        hop = hop.right(base.resource.as_str(), base.operation.as_str());
    }
    hop
}

fn build_keyed(
    rights: &[(String, String)],
    caps: &[CapPlan],
    plans: &[(HopPlan, bool)],
    bind_first: bool,
    ending: (bool, bool),
    audiences: &[Vec<usize>],
) -> Built {
    let root = KeyPair::generate();
    let mut keys = vec![KeyPair::generate()];
    let mut grant = Grant::new("alice", "agent-0").tenant("acme").root_key_id(7);
    if bind_first {
        grant = grant.agent_key(keys[0].public()).intent("book a trip");
    }
    for (r, o) in rights {
        grant = grant.right(r.as_str(), o.as_str());
    }
    for (pattern, operation, min, max) in caps {
        grant = grant.cap_range(format!("{pattern}:{operation}"), "amount", *min, *max);
    }
    for uri in audiences_of(audiences, 0) {
        grant = grant.audience(uri);
    }
    let mut tokens = vec![grant.mint(&root).unwrap()];
    for (i, (plan, bind)) in plans.iter().enumerate() {
        let parent = tokens.last().unwrap();
        let mut hop = hop_of(parent, i + 1, plan, audiences_of(audiences, i + 1));
        let next = KeyPair::generate();
        if *bind {
            hop = hop.agent_key(next.public());
        }
        let holder = keys.last().unwrap();
        let signer = match parent.chain().holder_key() {
            Some(_) => Some(holder),
            None if plan.signed => Some(holder),
            None => None,
        };
        match parent.delegate(&hop, signer) {
            Ok(child) => {
                tokens.push(child);
                keys.push(next);
            }
            Err(
                Error::RightNotHeld { .. }
                | Error::DepthExceeded { .. }
                | Error::TtlExceedsParent { .. }
                | Error::AudienceNotHeld { .. },
            ) => {}
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    let last = tokens.last().unwrap();
    let mut last = last.clone();
    if ending.0 {
        let right = &last.chain().blocks.last().unwrap().rights[0];
        let resource = match right.resource.prefix() {
            Some(prefix) => format!("{prefix}x"),
            None => right.resource.as_str().to_owned(),
        };
        let operation = right.operation.clone();
        match last.narrow(&resource, &operation, Duration::from_secs(1)) {
            Ok(narrowed) => {
                last = narrowed;
                tokens.push(last.clone());
            }
            Err(Error::TtlExceedsParent { .. }) => {}
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    if ending.1 {
        tokens.push(last.attest(&KeyPair::generate(), "approved").unwrap());
    }
    Built { root, tokens }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Writing a block and reading it back have one definition: the chain
    /// the builder produced is, block by block, the chain read from the
    /// token's bytes (verified, and inspected).
    #[test]
    fn the_chain_read_back_is_the_chain_built(
        rights in grant_rights(),
        caps in prop::collection::vec(cap_plan(), 0..3),
        plans in prop::collection::vec((hop_plan(), any::<bool>()), 0..4),
        bind_first in any::<bool>(),
        ending in (any::<bool>(), any::<bool>()),
        audiences in prop::collection::vec(prop::collection::vec(0usize..8, 0..3), 5),
    ) {
        let built = build_keyed(&rights, &caps, &plans, bind_first, ending, &audiences);
        let root = built.root.public();
        for token in &built.tokens {
            let bytes = token.to_bytes().unwrap();
            let read = Token::verify_bytes(&bytes, &root).unwrap();
            let inspected = agentcap::inspect(&token.to_base64().unwrap(), Some(&root)).unwrap();
            prop_assert_eq!(read.chain().blocks.len(), token.chain().blocks.len());
            for (built_block, read_block) in token.chain().blocks.iter().zip(&read.chain().blocks) {
                prop_assert_eq!(built_block, read_block);
            }
            prop_assert_eq!(read.chain(), token.chain());
            prop_assert_eq!(&inspected, token.chain());
            // The audience rule follows the audiences in force, which a hop
            // only narrows.
            let in_force = token.chain().audiences();
            for uri in AUDIENCES {
                let id = agentcap::canonical_resource(uri).unwrap();
                let allowed = in_force.as_ref().is_none_or(|a| a.contains(&id.as_str()));
                prop_assert_eq!(token.chain().check_audience(Some(&id)).is_ok(), allowed);
            }
            prop_assert_eq!(token.chain().check_audience(None).is_ok(), in_force.is_none());
        }
        for pair in built.tokens.windows(2) {
            if let Some(parent) = pair[0].chain().audiences() {
                let child = pair[1].chain().audiences().unwrap();
                prop_assert!(child.iter().all(|a| parent.contains(a)));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The hot path evaluates a fully recognised chain from its
    /// restrictions; Datalog evaluates the token. For every chain (grant,
    /// signed and unsigned hops, caps, audiences, narrowing, attestation),
    /// request, time and audience, the two give the same answer, and a
    /// service whose only policy is `allow if true` allows exactly what
    /// Datalog allows.
    #[test]
    fn native_evaluation_agrees_with_datalog(
        rights in grant_rights(),
        capped in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::option::of(-60i64..60), prop::option::of(0i64..1000)),
            0..3,
        ),
        plans in prop::collection::vec((hop_plan(), any::<bool>()), 0..4),
        ending in (any::<bool>(), any::<bool>()),
        audiences in prop::collection::vec(prop::collection::vec(0usize..8, 0..3), 5),
        asked in (any::<prop::sample::Index>(), any::<bool>(), request()),
        later in prop::sample::select(vec![0u64, 30, 1800, 7200]),
        audience in prop::option::of(0usize..AUDIENCES.len()),
    ) {
        use agentcap::{EvaluationLimits, FactValue, ServicePolicies};
        // Caps on granted rights, so that requests meet them.
        let caps: Vec<CapPlan> = capped
            .iter()
            .map(|(index, min, max)| {
                let (pattern, operation) = &rights[index.index(rights.len())];
                let max = match (min, max) {
                    (None, None) => Some(500),
                    (Some(lo), Some(hi)) if lo > hi => Some(*lo),
                    (_, max) => *max,
                };
                (pattern.clone(), operation.clone(), *min, max)
            })
            .collect();
        let built = build_keyed(&rights, &caps, &plans, false, ending, &audiences);
        let limits = EvaluationLimits::new(10_000, 1_000, Duration::from_secs(5));
        let fast = ServicePolicies::allow_all(limits);
        prop_assert!(fast.allows_everything());
        // The same policy in other words: not recognised, so Datalog runs.
        let datalog = ServicePolicies::parse(&["allow if 1 == 1"], limits).unwrap();
        prop_assert!(!datalog.allows_everything());
        let now = std::time::SystemTime::now() + Duration::from_secs(later);
        let seconds = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let audience = audience.map(|i| agentcap::canonical_resource(AUDIENCES[i]).unwrap());
        let extra = || match &audience {
            Some(a) => vec![("audience", vec![FactValue::Str(a.clone())])],
            None => Vec::new(),
        };
        // Half the requests fall under a granted right; the others anywhere.
        let (pick, granted, (resource, operation, amount)) = &asked;
        let (resource, operation) = if *granted {
            let (pattern, operation) = &rights[pick.index(rights.len())];
            match pattern.strip_suffix('*') {
                Some(prefix) => (format!("{prefix}x"), operation.clone()),
                None => (pattern.clone(), operation.clone()),
            }
        } else {
            (resource.clone(), operation.clone())
        };
        let mut request = Request::new(resource.as_str(), operation.as_str());
        if let Some(a) = amount {
            request = request.quantity("amount", *a);
        }
        for token in &built.tokens {
            let token = Token::verify_bytes(&token.to_bytes().unwrap(), &built.root.public()).unwrap();
            let by_datalog = token
                .authorize(&request, now, Duration::ZERO, extra(), &datalog)
                .is_ok();
            let native = token.chain().allows_request(&request, seconds, audience.as_deref());
            prop_assert_eq!(native, Some(by_datalog), "{:?} {:?}", request, audience);
            let by_fast = token.authorize(&request, now, Duration::ZERO, extra(), &fast).is_ok();
            prop_assert_eq!(by_fast, by_datalog);
        }
    }
}

/// A block the chain reader does not recognise (a rule, a check of
/// another shape) is left to Datalog, whose answer stands: the
/// hot path never allows what Datalog refuses.
#[test]
fn unrecognised_blocks_are_left_to_datalog() {
    use agentcap::{EvaluationLimits, ServicePolicies};
    use biscuit_auth::builder::BlockBuilder;
    let root = KeyPair::generate();
    let token = Grant::new("alice", "agent-0")
        .right("flights/*", "read")
        .mint(&root)
        .unwrap();
    let limits = EvaluationLimits::new(10_000, 1_000, Duration::from_secs(5));
    let fast = ServicePolicies::allow_all(limits);
    let request = Request::new("flights/lis", "read");
    for (source, allowed) in [
        // Refuses every request: a check of a shape agentcap does not write.
        (r#"check if resource("nothing");"#, false),
        // A rule, and a check on what it derives.
        (
            r#"seen($r) <- resource($r); check if seen("flights/lis");"#,
            true,
        ),
    ] {
        let bytes = token
            .biscuit()
            .unwrap()
            .append(BlockBuilder::new().code(source).unwrap())
            .unwrap()
            .to_vec()
            .unwrap();
        let token = Token::verify_bytes(&bytes, &root.public()).unwrap();
        assert!(token.chain().blocks[1].unrecognised, "{source}");
        assert_eq!(token.chain().allows_request(&request, 0, None), None);
        let decided = token
            .authorize(
                &request,
                std::time::SystemTime::now(),
                Duration::ZERO,
                Vec::new(),
                &fast,
            )
            .is_ok();
        assert_eq!(decided, allowed, "{source}");
    }
    assert!(!token.chain().blocks[0].unrecognised);
    // A block after the grant that states a request fact is refused outright.
    let stating = BlockBuilder::new()
        .code(r#"resource("flights/lis");"#)
        .unwrap();
    let bytes = token
        .biscuit()
        .unwrap()
        .append(stating)
        .unwrap()
        .to_vec()
        .unwrap();
    assert!(matches!(
        Token::verify_bytes(&bytes, &root.public()),
        Err(Error::TooComplex { block: 1, .. })
    ));
}
