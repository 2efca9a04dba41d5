//! What is delegated: a [`Grant`] minted into a token, and a [`Hop`] to a
//! sub-agent, with the validation of what they name.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use biscuit_auth::Biscuit;

use super::attenuate::last_revocation_id;
use super::{Inner, MAX_TEXT_BYTES, MAX_TTL, Token, unix_seconds};
use crate::audience::canonical_resources;
use crate::chain::Chain;
use crate::chain::shape::{GrantShape, Passed};
use crate::error::Error;
use crate::keys::{KeyPair, PublicKey};
use crate::rights::{Cap, Right, validate_name};

/// The setters [`Grant`] and [`Hop`] share: the rights and caps a block
/// passes on, validated when the block is built.
macro_rules! passed_authority_setters {
    ($type:ident, $right_doc:literal, $cap_doc:literal, $audience_doc:literal) => {
        #[doc = $right_doc]
        pub fn right(mut self, resource: impl Into<String>, operation: impl Into<String>) -> Self {
            self.rights.push((resource.into(), operation.into()));
            self
        }

        #[doc = $cap_doc]
        pub fn cap(self, scope: impl Into<String>, name: impl Into<String>, max: i64) -> Self {
            self.cap_range(scope, name, None, Some(max))
        }

        #[doc = concat!("Like [`", stringify!($type), "::cap`], with a lower bound, an upper bound, or both. ")]
        /// A lower bound below zero is what allows negative quantities.
        pub fn cap_range(
            mut self,
            scope: impl Into<String>,
            name: impl Into<String>,
            min: Option<i64>,
            max: Option<i64>,
        ) -> Self {
            self.caps
                .push(CapSpec::new(scope.into(), name.into(), min, max));
            self
        }

        /// Adds an already parsed [`Cap`] (e.g. from its text form).
        pub fn with_cap(mut self, cap: &Cap) -> Self {
            self.caps.push(CapSpec::from(cap));
            self
        }

        #[doc = $audience_doc]
        ///
        /// Repeatable (at most [`MAX_AUDIENCES`](crate::MAX_AUDIENCES)); each
        /// URI is put in canonical form ([`canonical_resource`](crate::canonical_resource))
        /// when the token is built, and an invalid one is refused then. The
        /// block then carries `reject if audience($a), !{...}.contains($a)`,
        /// and a verifier with a resource identifier
        /// ([`Chain::check_audience`](crate::Chain::check_audience)) refuses
        /// the token unless it is one of them.
        pub fn audience(mut self, uri: impl Into<String>) -> Self {
            self.audiences.push(uri.into());
            self
        }
    };
}

/// What a user delegates to an agent: the content of a token's authority block.
///
/// Setters take plain strings and never fail; everything is validated by
/// [`Grant::mint`].
///
/// ```
/// use std::time::Duration;
/// use agentcap::{Grant, KeyPair};
///
/// let root = KeyPair::generate();
/// let token = Grant::new("alice", "travel-assistant")
///     .right("flights/*", "read")
///     .right("payments/charge", "write")
///     .cap("payments/charge:write", "amount", 500)
///     .ttl(Duration::from_secs(3600))
///     .max_depth(3)
///     .intent("Book me a flight to Lisbon under 500 EUR")
///     .mint(&root)?;
/// assert_eq!(token.chain().user, "alice");
/// # Ok::<(), agentcap::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Grant {
    user: String,
    tenant: Option<String>,
    agent: String,
    agent_key: Option<PublicKey>,
    rights: Vec<(String, String)>,
    caps: Vec<CapSpec>,
    audiences: Vec<String>,
    ttl: Duration,
    max_depth: u32,
    intent: Option<String>,
    root_key_id: Option<u32>,
    issued_at: Option<SystemTime>,
}

impl Grant {
    /// A grant from `user` to `agent`, valid for one hour, at most three hops deep.
    pub fn new(user: impl Into<String>, agent: impl Into<String>) -> Self {
        Grant {
            user: user.into(),
            tenant: None,
            agent: agent.into(),
            agent_key: None,
            rights: Vec::new(),
            caps: Vec::new(),
            audiences: Vec::new(),
            ttl: Duration::from_secs(3600),
            max_depth: 3,
            intent: None,
            root_key_id: None,
            issued_at: None,
        }
    }

    /// The user's tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Binds the token to the agent's key: every later change of holder must
    /// then be a hop signed by the current holder's key.
    pub fn agent_key(mut self, key: PublicKey) -> Self {
        self.agent_key = Some(key);
        self
    }

    passed_authority_setters!(
        Grant,
        "Adds a right: `operation` on the resources matching `resource` (a path, or a path ending in `/*`).",
        "Caps a quantity: requests for the operation on the resources `scope` names (`RESOURCE:OPERATION`, e.g. `payments/charge:write` or `tools/*:call`) must carry the quantity `name`, at most `max`. A scope without `:` is an operation on every resource (`*`).",
        "Names a resource the token is for (an RFC 8707 resource indicator, e.g. `https://gw.example/mcp`): a service that knows its own resource identifier accepts the token only if it is named. Without any, the token is for every service that trusts the issuer."
    );

    /// How long the token lives (whole seconds, at least one).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The maximum number of hops below the first agent.
    pub fn max_depth(mut self, max_depth: u32) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// The intent the user approved, recorded in the token.
    pub fn intent(mut self, intent: impl Into<String>) -> Self {
        self.intent = Some(intent.into());
        self
    }

    /// The root key id to name in the token (a hint for key rotation).
    pub fn root_key_id(mut self, id: u32) -> Self {
        self.root_key_id = Some(id);
        self
    }

    /// The issue time (default: now). The token expires at issue time + TTL.
    pub fn issued_at(mut self, at: SystemTime) -> Self {
        self.issued_at = Some(at);
        self
    }

    /// Validates the grant and signs it with the issuer's root key.
    pub fn mint(&self, root: &KeyPair) -> Result<Token, Error> {
        validate_name("user", &self.user)?;
        validate_name("agent", &self.agent)?;
        if let Some(tenant) = &self.tenant {
            validate_name("tenant", tenant)?;
        }
        if let Some(intent) = &self.intent {
            validate_text("intent", intent)?;
        }
        let rights = parse_rights(&self.rights)?;
        let caps = parse_caps(&self.caps)?;
        let audiences = canonical_resources(&self.audiences)?;
        let issued_at = unix_seconds(self.issued_at.unwrap_or_else(SystemTime::now))?;
        let expires = issued_at + ttl_seconds(self.ttl)?;
        let shape = GrantShape {
            user: &self.user,
            tenant: self.tenant.as_deref(),
            agent: &self.agent,
            agent_key: self.agent_key,
            issued_at,
            intent: self.intent.as_deref(),
            root_key_id: self.root_key_id,
            passed: Passed {
                rights: &rights,
                caps: &caps,
                expires,
                max_depth: Some(self.max_depth),
                audiences: &audiences,
            },
        };
        let (block, header, grant) = shape.write();
        let mut builder = Biscuit::builder().merge(block);
        if let Some(id) = self.root_key_id {
            builder = builder.root_key_id(id);
        }
        let biscuit = builder.build(root.biscuit()).map_err(Error::from_biscuit)?;
        let revocation_id = last_revocation_id(&biscuit.revocation_identifiers());
        Ok(Token {
            inner: Inner::Verified(biscuit),
            root: Some(root.public()),
            chain: Arc::new(Chain::from_grant(header, grant, revocation_id)),
        })
    }
}

/// A delegation from the current holder to a sub-agent, with narrower
/// authority. Validated against the parent by [`Token::delegate`].
///
/// ```
/// use std::time::Duration;
/// use agentcap::{Grant, Hop, KeyPair};
///
/// let root = KeyPair::generate();
/// let token = Grant::new("alice", "assistant").right("flights/*", "read").mint(&root)?;
/// let hop = Hop::to("flight-search")
///     .right("flights/lisbon/*", "read")
///     .ttl(Duration::from_secs(300));
/// let child = token.delegate(&hop, None)?;
/// assert_eq!(child.chain().holder(), "flight-search");
///
/// // More than the parent holds is refused when the hop is built.
/// let greedy = Hop::to("flight-search").right("payments/*", "write");
/// assert!(token.delegate(&greedy, None).is_err());
/// # Ok::<(), agentcap::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Hop {
    pub(super) to: String,
    pub(super) to_key: Option<PublicKey>,
    pub(super) rights: Vec<(String, String)>,
    pub(super) caps: Vec<CapSpec>,
    pub(super) audiences: Vec<String>,
    pub(super) ttl: Option<Duration>,
    pub(super) max_depth: Option<u32>,
    pub(super) at: Option<SystemTime>,
}

impl Hop {
    /// A hop to the sub-agent `agent`.
    pub fn to(agent: impl Into<String>) -> Self {
        Hop {
            to: agent.into(),
            to_key: None,
            rights: Vec::new(),
            caps: Vec::new(),
            audiences: Vec::new(),
            ttl: None,
            max_depth: None,
            at: None,
        }
    }

    /// Binds the sub-agent's key: its own hops must then be signed with it.
    pub fn agent_key(mut self, key: PublicKey) -> Self {
        self.to_key = Some(key);
        self
    }

    passed_authority_setters!(
        Hop,
        "Passes on a right the parent holds (or a narrower one).",
        "A cap no looser than the parent's; `scope` is `RESOURCE:OPERATION` as for [`Grant::cap`].",
        "Names a resource the sub-agent's token is for (see [`Grant::audience`]). When the chain already names audiences, only those can be named (a hop narrows); without any, the hop keeps the parent's."
    );

    /// The hop's lifetime; no longer than the parent's remaining life.
    /// Default: the parent's remaining life.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A lower maximum depth for the chain below.
    pub fn max_depth(mut self, max_depth: u32) -> Self {
        self.max_depth = Some(max_depth);
        self
    }

    /// The time the hop is made (default: now).
    pub fn at(mut self, at: SystemTime) -> Self {
        self.at = Some(at);
        self
    }
}

pub(super) fn validate_text(what: &'static str, text: &str) -> Result<(), Error> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::InvalidName {
            what,
            reason: "longer than 16 KiB",
        });
    }
    Ok(())
}

pub(super) fn parse_rights(rights: &[(String, String)]) -> Result<Vec<Right>, Error> {
    if rights.is_empty() {
        return Err(Error::NoRights);
    }
    let mut parsed: Vec<Right> = Vec::with_capacity(rights.len());
    for (resource, operation) in rights {
        let right = Right::new(resource, operation)?;
        if !parsed.contains(&right) {
            parsed.push(right);
        }
    }
    Ok(parsed)
}

/// A cap as given to [`Grant`] or [`Hop`], validated when the token is built.
#[derive(Debug, Clone)]
pub(super) struct CapSpec {
    resource: String,
    operation: String,
    name: String,
    min: Option<i64>,
    max: Option<i64>,
}

impl CapSpec {
    /// Splits `RESOURCE:OPERATION` at its last `:`; a bare operation means
    /// every resource.
    fn new(scope: String, name: String, min: Option<i64>, max: Option<i64>) -> Self {
        let (resource, operation) = match scope.rsplit_once(':') {
            Some((resource, operation)) => (resource.to_owned(), operation.to_owned()),
            None => ("*".to_owned(), scope),
        };
        CapSpec {
            resource,
            operation,
            name,
            min,
            max,
        }
    }
}

impl From<&Cap> for CapSpec {
    fn from(cap: &Cap) -> Self {
        CapSpec {
            resource: cap.resource.as_str().to_owned(),
            operation: cap.operation.clone(),
            name: cap.name.clone(),
            min: cap.min,
            max: cap.max,
        }
    }
}

pub(super) fn parse_caps(caps: &[CapSpec]) -> Result<Vec<Cap>, Error> {
    let mut parsed: Vec<Cap> = Vec::with_capacity(caps.len());
    for spec in caps {
        let cap = Cap::new(
            &spec.resource,
            &spec.operation,
            &spec.name,
            spec.min,
            spec.max,
        )?;
        if !parsed.contains(&cap) {
            parsed.push(cap);
        }
    }
    Ok(parsed)
}

pub(super) fn ttl_seconds(ttl: Duration) -> Result<u64, Error> {
    if ttl < Duration::from_secs(1) {
        return Err(Error::InvalidTtl("at least one second"));
    }
    if ttl > MAX_TTL {
        return Err(Error::InvalidTtl("at most ten years"));
    }
    Ok(ttl.as_secs())
}
