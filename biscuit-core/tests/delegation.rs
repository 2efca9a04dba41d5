//! The delegation story end to end, with real keys and real tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use agentcap::{BlockKind, Error, Grant, Hop, KeyPair, Request, Signer, Token, inspect};
use biscuit_auth::builder::{BlockBuilder, Term};

struct Story {
    root: KeyPair,
    assistant: KeyPair,
    search: KeyPair,
    scraper: KeyPair,
    user_token: Token,
    search_token: Token,
    scraper_token: Token,
    call_token: Token,
}

fn story() -> Story {
    let root = KeyPair::generate();
    let assistant = KeyPair::generate();
    let search = KeyPair::generate();
    let scraper = KeyPair::generate();
    let user_token = Grant::new("alice", "travel-assistant")
        .tenant("acme")
        .agent_key(assistant.public())
        .right("flights/*", "read")
        .right("hotels/*", "read")
        .right("payments/charge", "write")
        .cap("payments/charge:write", "amount", 500)
        .ttl(Duration::from_secs(3600))
        .max_depth(3)
        .intent("Book me a flight to Lisbon under 500 EUR")
        .root_key_id(1)
        .mint(&root)
        .unwrap();
    let search_token = user_token
        .delegate(
            &Hop::to("flight-search")
                .agent_key(search.public())
                .right("flights/*", "read")
                .ttl(Duration::from_secs(600)),
            Some(&assistant),
        )
        .unwrap();
    let scraper_token = search_token
        .delegate(
            &Hop::to("lisbon-scraper")
                .agent_key(scraper.public())
                .right("flights/lis/*", "read")
                .ttl(Duration::from_secs(300))
                .max_depth(2),
            Some(&search),
        )
        .unwrap();
    let call_token = scraper_token
        .narrow("flights/lis/2026-12-01", "read", Duration::from_secs(30))
        .unwrap();
    Story {
        root,
        assistant,
        search,
        scraper,
        user_token,
        search_token,
        scraper_token,
        call_token,
    }
}

fn allowed(token: &Token, root: &KeyPair, resource: &str, operation: &str) -> bool {
    match token.check(&root.public(), &Request::new(resource, operation)) {
        Ok(()) => true,
        Err(Error::NotPermitted { .. }) => false,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn each_hop_narrows_and_the_last_hop_allows_only_its_scope() {
    let s = story();
    let cases = [
        ("flights/lis/2026-12-01", "read", [true, true, true, true]),
        ("flights/lis/2026-12-02", "read", [true, true, true, false]),
        ("flights/opo/2026-12-01", "read", [true, true, false, false]),
        ("hotels/lis/ritz", "read", [true, false, false, false]),
        (
            "flights/lis/2026-12-01",
            "write",
            [false, false, false, false],
        ),
        ("calendar/alice", "read", [false, false, false, false]),
    ];
    let tokens = [
        &s.user_token,
        &s.search_token,
        &s.scraper_token,
        &s.call_token,
    ];
    for (resource, operation, expected) in cases {
        for (token, expected) in tokens.iter().zip(expected) {
            assert_eq!(
                allowed(token, &s.root, resource, operation),
                expected,
                "{resource}:{operation} at depth {}",
                token.chain().depth()
            );
        }
    }
}

#[test]
fn inspect_shows_every_delegation_with_verified_signers() {
    let s = story();
    let text = s.call_token.to_base64().unwrap();
    let chain = inspect(&text, Some(&s.root.public())).unwrap();
    assert!(chain.verified);
    assert_eq!(chain.user, "alice");
    assert_eq!(chain.tenant.as_deref(), Some("acme"));
    assert_eq!(
        chain.intent.as_deref(),
        Some("Book me a flight to Lisbon under 500 EUR")
    );
    assert_eq!(chain.root_key_id, Some(1));
    assert_eq!(
        chain.agents(),
        ["travel-assistant", "flight-search", "lisbon-scraper"]
    );
    let kinds: Vec<_> = chain.blocks.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        [
            BlockKind::Authority,
            BlockKind::Hop,
            BlockKind::Hop,
            BlockKind::Narrowing
        ]
    );

    let hop1 = &chain.blocks[1];
    let d = hop1.delegation.as_ref().unwrap();
    assert_eq!(
        (d.depth, d.from.as_str(), d.to.as_str()),
        (1, "travel-assistant", "flight-search")
    );
    assert_eq!(
        hop1.signer,
        Signer::Key {
            key: s.assistant.public(),
            is_delegator: true
        }
    );
    assert_eq!(hop1.holder_key, Some(s.search.public()));
    let hop2 = &chain.blocks[2];
    assert_eq!(
        hop2.signer,
        Signer::Key {
            key: s.search.public(),
            is_delegator: true
        }
    );
    assert_eq!(hop2.holder_key, Some(s.scraper.public()));
    assert_eq!(hop2.max_depth, Some(2));
    assert_eq!(chain.blocks[3].signer, Signer::Holder);
    assert!(chain.blocks.iter().all(|b| b.verified));
    assert_eq!(
        chain.blocks[0].caps[0].to_string(),
        "payments/charge:write:amount<=500"
    );

    // Revocation ids are the block signatures, as biscuit-auth reports them.
    let ids: Vec<String> = s
        .call_token
        .revocation_ids()
        .iter()
        .map(hex::encode)
        .collect();
    assert_eq!(
        chain.revocation_ids(),
        ids.iter().map(String::as_str).collect::<Vec<_>>()
    );

    // What was built incrementally is exactly what is read back.
    assert_eq!(&chain, s.call_token.chain());
}

#[test]
fn inspect_without_the_root_key_proves_nothing() {
    let s = story();
    let text = s.scraper_token.to_base64().unwrap();
    let chain = inspect(&text, None).unwrap();
    assert!(!chain.verified);
    assert!(chain.blocks.iter().all(|b| !b.verified));
    assert_eq!(chain.holder(), "lisbon-scraper");
    // A different root key does not verify it.
    let other = KeyPair::generate();
    assert!(matches!(
        inspect(&text, Some(&other.public())),
        Err(Error::InvalidSignature)
    ));
}

#[test]
fn an_unverified_token_can_be_attenuated_offline_and_then_verifies() {
    let s = story();
    let received = Token::from_base64(&s.scraper_token.to_base64().unwrap()).unwrap();
    assert!(!received.is_verified());
    let narrowed = received
        .narrow("flights/lis/x", "read", Duration::from_secs(10))
        .unwrap();
    let reread = Token::verify_base64(&narrowed.to_base64().unwrap(), &s.root.public()).unwrap();
    assert_eq!(reread.chain().blocks.len(), 4);
    assert!(allowed(&narrowed, &s.root, "flights/lis/x", "read"));
    assert!(!allowed(&narrowed, &s.root, "flights/lis/y", "read"));
}

#[test]
fn asking_for_more_than_the_parent_holds_is_refused_when_building() {
    let s = story();
    let t = &s.search_token;
    let more = Hop::to("x").right("hotels/*", "read");
    assert!(matches!(
        t.delegate(&more, Some(&s.search)),
        Err(Error::RightNotHeld { .. })
    ));
    let wider = Hop::to("x").right("*", "read");
    assert!(matches!(
        t.delegate(&wider, Some(&s.search)),
        Err(Error::RightNotHeld { .. })
    ));
    let longer = Hop::to("x")
        .right("flights/*", "read")
        .ttl(Duration::from_secs(7200));
    assert!(matches!(
        t.delegate(&longer, Some(&s.search)),
        Err(Error::TtlExceedsParent { .. })
    ));
    let deeper = Hop::to("x").right("flights/*", "read").max_depth(9);
    assert!(matches!(
        t.delegate(&deeper, Some(&s.search)),
        Err(Error::InvalidMaxDepth { .. })
    ));
    let looser = s.user_token.delegate(
        &Hop::to("x")
            .right("payments/charge", "write")
            .cap("payments/charge:write", "amount", 900),
        Some(&s.assistant),
    );
    assert!(matches!(
        looser,
        Err(Error::CapExceedsParent { ref parent, .. }) if parent == "payments/charge:write:amount<=500"
    ));
    assert!(matches!(
        s.call_token
            .narrow("flights/lis/2026-12-02", "read", Duration::from_secs(5)),
        Err(Error::RightNotHeld { .. })
    ));
    assert!(matches!(
        t.delegate(&Hop::to("x"), Some(&s.search)),
        Err(Error::NoRights)
    ));
}

#[test]
fn a_key_bound_holder_must_sign_its_hops_with_its_own_key() {
    let s = story();
    let hop = Hop::to("x").right("flights/*", "read");
    assert!(matches!(
        s.search_token.delegate(&hop, None),
        Err(Error::SigningKeyRequired { .. })
    ));
    assert!(matches!(
        s.search_token.delegate(&hop, Some(&s.assistant)),
        Err(Error::WrongSigningKey { .. })
    ));

    // A hop appended behind agentcap's back, unsigned, is caught by the check.
    let forged = append_raw_hop(&s.search_token, &s.root, 2, "flight-search", "mallory");
    assert!(matches!(
        forged.check(&s.root.public(), &Request::new("flights/lis/a", "read")),
        Err(Error::UnsignedHop { block: 2 })
    ));
}

/// Appends a plain hop block with raw biscuit-auth: a `hop` fact and
/// nothing else, as an attacker or a careless tool could.
fn append_raw_hop(token: &Token, root: &KeyPair, depth: i64, from: &str, to: &str) -> Token {
    let biscuit =
        biscuit_auth::Biscuit::from(token.to_bytes().unwrap(), root.public().to_biscuit()).unwrap();
    let block = BlockBuilder::new()
        .fact(biscuit_auth::builder::fact(
            "hop",
            &[
                Term::Integer(depth),
                Term::Str(from.into()),
                Term::Str(to.into()),
            ],
        ))
        .unwrap();
    Token::from_bytes(&biscuit.append(block).unwrap().to_vec().unwrap()).unwrap()
}

#[test]
fn expired_tokens_fail_with_their_own_error() {
    let root = KeyPair::generate();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let token = Grant::new("alice", "assistant")
        .right("mail/*", "read")
        .ttl(Duration::from_secs(60))
        .issued_at(an_hour_ago)
        .mint(&root)
        .unwrap();
    let check = token.check(&root.public(), &Request::new("mail/inbox", "read"));
    assert!(matches!(check, Err(Error::Expired { .. })), "{check:?}");
    let hop = token.delegate(&Hop::to("x").right("mail/*", "read"), None);
    assert!(matches!(hop, Err(Error::Expired { .. })));

    // A live token checked at a time past a hop's expiry is expired too.
    let live = Grant::new("alice", "assistant")
        .right("mail/*", "read")
        .mint(&root)
        .unwrap();
    let short = live
        .delegate(
            &Hop::to("x")
                .right("mail/*", "read")
                .ttl(Duration::from_secs(5)),
            None,
        )
        .unwrap();
    let later = Request::new("mail/inbox", "read").at(SystemTime::now() + Duration::from_secs(60));
    assert!(matches!(
        short.check(&root.public(), &later),
        Err(Error::Expired { .. })
    ));
    assert!(live.check(&root.public(), &later).is_ok());
}

#[test]
fn over_deep_chains_fail_with_their_own_error() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "a0")
        .right("docs/*", "read")
        .max_depth(1)
        .mint(&root)
        .unwrap();
    let one = token
        .delegate(&Hop::to("a1").right("docs/*", "read"), None)
        .unwrap();
    let two = one.delegate(&Hop::to("a2").right("docs/*", "read"), None);
    assert!(matches!(
        two,
        Err(Error::DepthExceeded {
            depth: 2,
            max_depth: 1
        })
    ));

    // Built behind agentcap's back, the over-deep chain is still refused.
    let forged = append_raw_hop(&one, &root, 2, "a1", "a2");
    let check = forged.check(&root.public(), &Request::new("docs/x", "read"));
    assert!(
        matches!(
            check,
            Err(Error::DepthExceeded {
                depth: 2,
                max_depth: 1
            })
        ),
        "{check:?}"
    );
    assert!(
        one.check(&root.public(), &Request::new("docs/x", "read"))
            .is_ok()
    );
}

#[test]
fn caps_bound_quantities_and_tighten_along_the_chain() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "shopper")
        .right("payments/charge", "write")
        .cap("write", "amount", 500)
        .mint(&root)
        .unwrap();
    let pay = |t: &Token, amount: Option<i64>| {
        let mut request = Request::new("payments/charge", "write");
        if let Some(a) = amount {
            request = request.quantity("amount", a);
        }
        t.check(&root.public(), &request).is_ok()
    };
    assert!(pay(&token, Some(500)));
    assert!(!pay(&token, Some(501)));
    assert!(!pay(&token, None), "a capped operation needs its quantity");
    let child = token
        .delegate(
            &Hop::to("sub")
                .right("payments/charge", "write")
                .cap("write", "amount", 100),
            None,
        )
        .unwrap();
    assert!(pay(&child, Some(100)));
    assert!(!pay(&child, Some(101)));
    let maxima: Vec<Option<i64>> = child
        .chain()
        .caps_for("payments/charge", "write")
        .map(|(_, cap)| cap.max)
        .collect();
    assert_eq!(maxima, [Some(500), Some(100)]);
}

/// A service mapping every tool to one operation (`call`), with a price cap
/// on one tool and a grant of all tools.
fn tools_grant(root: &KeyPair) -> Token {
    Grant::new("alice", "assistant")
        .right("tools/*", "call")
        .cap("tools/buy:call", "max_price", 500)
        .mint(root)
        .unwrap()
}

#[test]
fn a_cap_on_one_tool_does_not_block_another_tool_with_the_same_operation() {
    let root = KeyPair::generate();
    let token = tools_grant(&root);
    // The other tool carries no price at all, and is allowed.
    token
        .check(&root.public(), &Request::new("tools/search", "call"))
        .unwrap();
    // The capped tool still needs its quantity, within bounds.
    let buy = |price: Option<i64>| {
        let mut request = Request::new("tools/buy", "call");
        if let Some(p) = price {
            request = request.quantity("max_price", p);
        }
        token.check(&root.public(), &request)
    };
    buy(Some(500)).unwrap();
    assert!(matches!(buy(Some(501)), Err(Error::NotPermitted { .. })));
    assert!(matches!(buy(None), Err(Error::NotPermitted { .. })));
    // The cap reads back with its scope, and survives a round trip.
    let chain = inspect(&token.to_base64().unwrap(), Some(&root.public())).unwrap();
    assert_eq!(
        chain.blocks[0].caps[0].to_string(),
        "tools/buy:call:max_price<=500"
    );
    assert_eq!(chain.blocks[0].other_checks(), 0);
}

#[test]
fn negative_and_below_minimum_amounts_are_refused() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "shopper")
        .right("payments/*", "write")
        .cap_range("payments/charge:write", "amount", Some(10), Some(500))
        .cap("payments/refund:write", "amount", 500)
        .mint(&root)
        .unwrap();
    let pay = |resource: &str, amount: i64| {
        token.check(
            &root.public(),
            &Request::new(resource, "write").quantity("amount", amount),
        )
    };
    pay("payments/charge", 10).unwrap();
    assert!(matches!(
        pay("payments/charge", 9),
        Err(Error::NotPermitted { .. })
    ));
    assert!(matches!(
        pay("payments/charge", -100_000),
        Err(Error::NotPermitted { .. })
    ));
    // No lower bound stated: negative values are still refused.
    pay("payments/refund", 0).unwrap();
    assert!(matches!(
        pay("payments/refund", -100_000),
        Err(Error::QuantityRefused { .. })
    ));
    // Even where no cap applies at all.
    assert!(matches!(
        pay("payments/other", -1),
        Err(Error::QuantityRefused { .. })
    ));
}

#[test]
fn negative_amounts_need_a_grant_that_allows_them_and_hops_cannot_add_one() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "bank")
        .right("ledger/*", "adjust")
        .cap_range("ledger/*:adjust", "delta", Some(-100), Some(100))
        .mint(&root)
        .unwrap();
    let adjust = |t: &Token, delta: i64| {
        t.check(
            &root.public(),
            &Request::new("ledger/a", "adjust").quantity("delta", delta),
        )
    };
    adjust(&token, -100).unwrap();
    assert!(adjust(&token, -101).is_err());
    // A hop's cap without a lower bound refuses negative values again.
    let child = token
        .delegate(
            &Hop::to("clerk")
                .right("ledger/*", "adjust")
                .cap("ledger/*:adjust", "delta", 50),
            None,
        )
        .unwrap();
    adjust(&child, 50).unwrap();
    assert!(matches!(
        adjust(&child, -1),
        Err(Error::QuantityRefused { .. })
    ));
    // A hop cannot widen the bounds, nor allow negatives the grant refuses.
    let wider = Hop::to("x").right("ledger/*", "adjust").cap_range(
        "ledger/a:adjust",
        "delta",
        Some(-200),
        None,
    );
    assert!(matches!(
        token.delegate(&wider, None),
        Err(Error::CapExceedsParent { .. })
    ));
    let plain = Grant::new("alice", "bank")
        .right("ledger/*", "adjust")
        .mint(&root)
        .unwrap();
    let unlock = Hop::to("x").right("ledger/*", "adjust").cap_range(
        "ledger/*:adjust",
        "delta",
        Some(-5),
        Some(5),
    );
    assert!(matches!(
        plain.delegate(&unlock, None),
        Err(Error::CapExceedsParent { .. })
    ));
    // Appended behind agentcap's back, such a cap still unlocks nothing.
    let biscuit =
        biscuit_auth::Biscuit::from(plain.to_bytes().unwrap(), root.public().to_biscuit()).unwrap();
    let cap: agentcap::Cap = "ledger/*:adjust:-5<=delta<=5".parse().unwrap();
    // The cap's check, in agentcap's shape, written with biscuit-auth alone.
    let params = std::collections::HashMap::from([
        ("min".to_owned(), biscuit_auth::builder::Term::Integer(-5)),
        ("max".to_owned(), biscuit_auth::builder::Term::Integer(5)),
    ]);
    let block = biscuit_auth::BlockBuilder::new()
        .code_with_params(
            r#"check if operation($op), $op !== "adjust"
                or resource($resource), !$resource.starts_with("ledger/")
                or quantity("delta", $n), $n >= {min}, $n <= {max};"#,
            params,
            std::collections::HashMap::new(),
        )
        .unwrap();
    let forged = Token::from_bytes(&biscuit.append(block).unwrap().to_vec().unwrap()).unwrap();
    assert_eq!(forged.chain().blocks[1].caps, [cap]);
    assert!(matches!(
        adjust(&forged, -1),
        Err(Error::QuantityRefused { .. })
    ));
}

#[test]
fn a_sealed_token_still_works_but_cannot_be_attenuated() {
    let s = story();
    let sealed = s.search_token.seal().unwrap();
    assert!(sealed.chain().sealed);
    assert!(allowed(&sealed, &s.root, "flights/opo/x", "read"));
    let reread = inspect(&sealed.to_base64().unwrap(), Some(&s.root.public())).unwrap();
    assert!(reread.sealed);
    let verified = Token::verify_base64(&sealed.to_base64().unwrap(), &s.root.public()).unwrap();
    assert!(verified.chain().sealed);
    assert!(matches!(
        sealed.narrow("flights/x", "read", Duration::from_secs(5)),
        Err(Error::Sealed)
    ));
    let received = Token::from_base64(&sealed.to_base64().unwrap()).unwrap();
    assert!(matches!(
        received.delegate(&Hop::to("x").right("flights/*", "read"), Some(&s.search)),
        Err(Error::Sealed)
    ));
}

#[test]
fn an_attestation_is_shown_signed_and_adds_no_authority() {
    let s = story();
    let approver = KeyPair::generate();
    let attested = s
        .scraper_token
        .attest(&approver, "approved by alice's manager")
        .unwrap();
    let chain = inspect(&attested.to_base64().unwrap(), Some(&s.root.public())).unwrap();
    let block = chain.blocks.last().unwrap();
    assert_eq!(block.kind, BlockKind::Attestation);
    assert_eq!(
        block.attestation.as_deref(),
        Some("approved by alice's manager")
    );
    assert_eq!(
        block.signer,
        Signer::Key {
            key: approver.public(),
            is_delegator: false
        }
    );
    assert_eq!(chain.holder(), "lisbon-scraper");
    assert!(!allowed(&attested, &s.root, "hotels/x", "read"));
    assert!(allowed(&attested, &s.root, "flights/lis/x", "read"));
}

#[test]
fn tokens_verify_with_plain_biscuit_auth() {
    let s = story();
    let bytes = s.call_token.to_bytes().unwrap();
    let biscuit = biscuit_auth::Biscuit::from(&bytes, s.root.public().to_biscuit()).unwrap();
    assert_eq!(biscuit.block_count(), 4);
}

#[test]
fn a_plain_hop_adds_at_most_250_bytes() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "travel-assistant")
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .mint(&root)
        .unwrap();
    let before = token.to_bytes().unwrap().len();
    let hop = token
        .delegate(
            &Hop::to("flight-search")
                .right("flights/*", "read")
                .ttl(Duration::from_secs(600)),
            None,
        )
        .unwrap();
    let added = hop.to_bytes().unwrap().len() - before;
    assert!(added <= 250, "a plain hop added {added} bytes");
}

#[test]
fn a_hop_signed_by_a_key_bound_only_by_a_claim_proves_nothing() {
    let root = KeyPair::generate();
    let mallory = KeyPair::generate();
    let token = Grant::new("alice", "assistant")
        .right("a/*", "read")
        .mint(&root)
        .unwrap();
    // An unsigned hop claims a key for "mallory", who then signs the next hop.
    let claimed = token
        .delegate(
            &Hop::to("mallory")
                .agent_key(mallory.public())
                .right("a/*", "read"),
            None,
        )
        .unwrap();
    let next = claimed
        .delegate(&Hop::to("x").right("a/*", "read"), Some(&mallory))
        .unwrap();
    let text = next.to_base64().unwrap();
    for chain in [
        next.chain().clone(),
        inspect(&text, Some(&root.public())).unwrap(),
    ] {
        assert!(chain.blocks[0].delegation_proven);
        assert!(!chain.blocks[1].delegation_proven && !chain.blocks[1].holder_key_proven);
        assert!(matches!(
            chain.blocks[2].signer,
            Signer::Key {
                is_delegator: false,
                ..
            }
        ));
        assert!(!chain.blocks[2].delegation_proven);
    }
    // With the key bound by the root-signed grant, the same hop is proven.
    let bound = Grant::new("alice", "mallory")
        .agent_key(mallory.public())
        .right("a/*", "read")
        .mint(&root)
        .unwrap();
    let next = bound
        .delegate(&Hop::to("x").right("a/*", "read"), Some(&mallory))
        .unwrap();
    let text = next.to_base64().unwrap();
    let chain = inspect(&text, Some(&root.public())).unwrap();
    assert!(matches!(
        chain.blocks[1].signer,
        Signer::Key {
            is_delegator: true,
            ..
        }
    ));
    assert!(chain.blocks[1].delegation_proven);
    // Unverified, nothing is proven.
    let chain = inspect(&text, None).unwrap();
    assert!(!chain.blocks[0].delegation_proven && !chain.blocks[1].delegation_proven);
}

#[test]
fn block_descriptions_escape_names() {
    let root = KeyPair::generate();
    let token = Grant::new("al\nice", "a\u{1b}[2J\u{202e}b")
        .right("x", "read")
        .mint(&root)
        .unwrap();
    let text = token.chain().blocks[0].describe();
    assert!(!text.contains(['\n', '\u{1b}', '\u{202e}']), "{text}");
    assert!(text.contains("al\\u{a}ice"), "{text}");
}

#[test]
fn a_request_names_a_concrete_operation_never_the_wildcard() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "bot")
        .right("docs/*", "read")
        .mint(&root)
        .unwrap();
    let request = Request::new("docs/a", "*");
    assert!(matches!(request.validate(), Err(Error::InvalidRequest(_))));
    assert!(matches!(
        token.check(&root.public(), &request),
        Err(Error::InvalidRequest(_))
    ));
    let empty_name = Request::new("docs/a", "read").quantity("", 1);
    assert!(matches!(
        token.check(&root.public(), &empty_name),
        Err(Error::InvalidRequest(_))
    ));
    token
        .check(&root.public(), &Request::new("docs/a", "read"))
        .unwrap();
}

#[test]
fn the_time_rule_is_the_same_for_the_local_check_and_with_skew() {
    let root = KeyPair::generate();
    let now = SystemTime::now();
    let future = Grant::new("alice", "bot")
        .right("docs/*", "read")
        .issued_at(now + Duration::from_secs(60))
        .mint(&root)
        .unwrap();
    let request = Request::new("docs/a", "read").at(now);
    assert!(matches!(
        future.check(&root.public(), &request),
        Err(Error::IssuedInFuture { .. })
    ));
    // Within the skew, the same chain is on time; past it, not.
    let chain = future.chain();
    chain.check_time(now, Duration::from_secs(60)).unwrap();
    assert!(matches!(
        chain.check_time(now, Duration::from_secs(59)),
        Err(Error::IssuedInFuture { .. })
    ));
    let expiry = chain.expires_at().unwrap();
    chain
        .check_time(expiry + Duration::from_secs(5), Duration::from_secs(5))
        .unwrap();
    assert!(matches!(
        chain.check_time(expiry + Duration::from_secs(6), Duration::from_secs(5)),
        Err(Error::Expired { expired_at }) if expired_at == expiry
    ));
}
