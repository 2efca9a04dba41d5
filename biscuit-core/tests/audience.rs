//! Audiences (RFC 8707 resource indicators): what grants and hops name, how
//! the chain reads it back, the rule a service applies, and the Datalog
//! check the token itself carries.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use agentcap::vocabulary::request as request_fact;
use agentcap::{
    CheckRole, Error, FactValue, Grant, Hop, KeyPair, LOCAL_CHECK_LIMITS, Request, ServicePolicies,
    Token,
};

const MCP_A: &str = "https://a.example/mcp";
const MCP_B: &str = "https://b.example/mcp";

fn grant() -> Grant {
    Grant::new("alice", "assistant")
        .right("tools/*", "call")
        .ttl(Duration::from_secs(600))
}

/// Runs the token's Datalog alone (no audience rule outside it), with
/// `audience` stated when given.
fn datalog_allows(token: &Token, audience: Option<&str>) -> bool {
    let request = Request::new("tools/search", "call");
    let facts = audience
        .map(|a| vec![(request_fact::AUDIENCE, vec![FactValue::from(a)])])
        .unwrap_or_default();
    let policies = ServicePolicies::allow_all(LOCAL_CHECK_LIMITS);
    token
        .authorize(
            &request,
            SystemTime::now(),
            Duration::ZERO,
            facts,
            &policies,
        )
        .is_ok()
}

#[test]
fn a_grant_names_its_audiences_in_canonical_form_and_the_chain_reads_them_back() {
    let root = KeyPair::generate();
    let token = grant()
        .audience("HTTPS://A.Example:443/mcp/")
        .audience(MCP_B)
        .audience("https://a.example/mcp")
        .mint(&root)
        .unwrap();
    let block = &token.chain().blocks[0];
    assert_eq!(
        block.audiences.as_deref(),
        Some(&[MCP_A.to_owned(), MCP_B.to_owned()][..])
    );
    assert_eq!(block.checks.last(), Some(&CheckRole::Audience));
    let read = Token::verify_base64(&token.to_base64().unwrap(), &root.public()).unwrap();
    assert_eq!(read.chain(), token.chain());
    assert_eq!(read.chain().audiences(), Some(vec![MCP_A, MCP_B]));

    let plain = grant().mint(&root).unwrap();
    assert_eq!(plain.chain().blocks[0].audiences, None);
    assert_eq!(plain.chain().audiences(), None);
}

#[test]
fn an_invalid_audience_is_refused_when_the_token_is_built() {
    let root = KeyPair::generate();
    for uri in ["not a uri", "ftp://a.example/", "https://a.example/#x"] {
        let error = grant().audience(uri).mint(&root).unwrap_err();
        assert!(matches!(error, Error::InvalidResourceId(_)), "{uri}");
    }
    let token = grant().mint(&root).unwrap();
    let hop = Hop::to("search").right("tools/*", "call").audience("/mcp");
    assert!(matches!(
        token.delegate(&hop, None),
        Err(Error::InvalidResourceId(_))
    ));
    let mut many = grant();
    for i in 0..=agentcap::MAX_AUDIENCES {
        many = many.audience(format!("https://s{i}.example"));
    }
    assert!(matches!(many.mint(&root), Err(Error::InvalidResourceId(_))));
}

#[test]
fn a_hop_may_narrow_the_audiences_but_never_widen_them() {
    let root = KeyPair::generate();
    let open = grant().mint(&root).unwrap();
    let hop = |uris: &[&str]| {
        uris.iter()
            .fold(Hop::to("search").right("tools/*", "call"), |h, u| {
                h.audience(*u)
            })
    };
    // Without audiences in force, a hop may name any.
    let for_a = open.delegate(&hop(&[MCP_A]), None).unwrap();
    assert_eq!(for_a.chain().audiences(), Some(vec![MCP_A]));
    // Then only those in force.
    let error = for_a.delegate(&hop(&[MCP_B]), None).unwrap_err();
    assert!(matches!(error, Error::AudienceNotHeld { ref audience } if audience == MCP_B));
    assert!(for_a.delegate(&hop(&[MCP_A, MCP_B]), None).is_err());
    let again = for_a.delegate(&hop(&["https://A.example/mcp/"]), None);
    assert_eq!(again.unwrap().chain().audiences(), Some(vec![MCP_A]));
    // A hop that names none keeps the parent's.
    let silent = for_a.delegate(&hop(&[]), None).unwrap();
    assert_eq!(silent.chain().audiences(), Some(vec![MCP_A]));
    assert_eq!(silent.chain().blocks[2].audiences, None);

    let both = grant().audience(MCP_A).audience(MCP_B).mint(&root).unwrap();
    let narrowed = both.delegate(&hop(&[MCP_B]), None).unwrap();
    assert_eq!(narrowed.chain().audiences(), Some(vec![MCP_B]));
    assert!(narrowed.chain().check_audience(Some(MCP_A)).is_err());
    assert!(narrowed.chain().check_audience(Some(MCP_B)).is_ok());
}

#[test]
fn the_audience_rule_refuses_other_services_and_services_without_an_identifier() {
    let root = KeyPair::generate();
    let token = grant().audience(MCP_A).mint(&root).unwrap();
    let chain = token.chain();
    assert!(chain.check_audience(Some(MCP_A)).is_ok());
    let error = chain.check_audience(Some(MCP_B)).unwrap_err();
    assert!(matches!(error, Error::AudienceMismatch { block: 0, .. }));
    assert!(error.to_string().contains(MCP_B));
    assert!(matches!(
        chain.check_audience(None),
        Err(Error::AudienceMismatch {
            block: 0,
            resource_id: None
        })
    ));
    // A token naming no audience passes anywhere.
    let plain = grant().mint(&root).unwrap();
    assert!(plain.chain().check_audience(None).is_ok());
    assert!(plain.chain().check_audience(Some(MCP_B)).is_ok());
    // The block that excludes the service is named.
    let hop = Hop::to("search").right("tools/*", "call").audience(MCP_B);
    let child = plain.delegate(&hop, None).unwrap();
    assert!(matches!(
        child.chain().check_audience(Some(MCP_A)),
        Err(Error::AudienceMismatch { block: 1, .. })
    ));
}

#[test]
fn the_token_s_own_check_refuses_a_stated_audience_it_does_not_name() {
    let root = KeyPair::generate();
    let token = grant().audience(MCP_A).mint(&root).unwrap();
    let hop = Hop::to("search").right("tools/*", "call").audience(MCP_A);
    let child = token.delegate(&hop, None).unwrap();
    for t in [&token, &child] {
        assert!(
            datalog_allows(t, None),
            "no audience stated: the check passes"
        );
        assert!(datalog_allows(t, Some(MCP_A)));
        assert!(!datalog_allows(t, Some(MCP_B)));
        assert!(
            !datalog_allows(t, Some("https://A.example/mcp")),
            "not canonical"
        );
    }
    let failed = token.authorize(
        &Request::new("tools/search", "call"),
        SystemTime::now(),
        Duration::ZERO,
        vec![(request_fact::AUDIENCE, vec![FactValue::from(MCP_B)])],
        &ServicePolicies::allow_all(LOCAL_CHECK_LIMITS),
    );
    let agentcap::AuthorizationError::Denied { failed_checks, .. } = failed.unwrap_err() else {
        panic!("expected a denial");
    };
    assert_eq!(failed_checks[0].role, Some(CheckRole::Audience));
}

#[test]
fn the_local_check_applies_the_audience_of_the_request_when_given() {
    let root = KeyPair::generate();
    let token = grant().audience(MCP_A).mint(&root).unwrap();
    let key = root.public();
    let call = || Request::new("tools/search", "call");
    token.check(&key, &call()).unwrap();
    token
        .check(&key, &call().audience("https://A.example:443/mcp/"))
        .unwrap();
    assert!(matches!(
        token.check(&key, &call().audience(MCP_B)),
        Err(Error::AudienceMismatch { .. })
    ));
    assert!(matches!(
        token.check(&key, &call().audience("mcp")),
        Err(Error::InvalidRequest(_))
    ));
}
