//! Tokens: minting a grant, delegating hops, narrowing, attesting, sealing,
//! and the local check.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, Biscuit, BlockBuilder, UnverifiedBiscuit};

use crate::chain::{BlockKind, Chain, ChainBlock, CheckRole, Delegation, Signer};
use crate::display::escape;
use crate::error::Error;
use crate::keys::{KeyPair, PublicKey};
use crate::rights::{Cap, ResourcePattern, Right, validate_name, validate_operation};
use crate::unix_time::from_unix;
use crate::vocabulary::{self, Principals, Restrictions};

/// The largest token accepted, in bytes (decoded).
pub const MAX_TOKEN_BYTES: usize = 1024 * 1024;

/// The longest intent or attestation text accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// The longest lifetime a grant may have (ten years): a bound that keeps
/// date arithmetic far from overflow.
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Datalog run limits of the local check: generous enough for a loaded host,
/// unlike biscuit-auth's 1 ms default.
pub const LOCAL_CHECK_LIMITS: AuthorizerLimits = AuthorizerLimits {
    max_facts: 1000,
    max_iterations: 100,
    max_time: Duration::from_millis(100),
};

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

    /// Adds a right: `operation` on the resources matching `resource`
    /// (a path, or a path ending in `/*`).
    pub fn right(mut self, resource: impl Into<String>, operation: impl Into<String>) -> Self {
        self.rights.push((resource.into(), operation.into()));
        self
    }

    /// Caps a quantity: requests for the operation on the resources `scope`
    /// names (`RESOURCE:OPERATION`, e.g. `payments/charge:write` or
    /// `tools/*:call`) must carry the quantity `name`, at most `max`. A scope
    /// without `:` is an operation on every resource (`*`).
    pub fn cap(self, scope: impl Into<String>, name: impl Into<String>, max: i64) -> Self {
        self.cap_range(scope, name, None, Some(max))
    }

    /// Like [`Grant::cap`], with a lower bound, an upper bound, or both. A
    /// lower bound below zero is what allows negative quantities.
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
        let issued_at = unix_seconds(self.issued_at.unwrap_or_else(SystemTime::now))?;
        let expires = issued_at + ttl_seconds(self.ttl)?;
        let block = vocabulary::authority_block(
            Principals {
                user: &self.user,
                tenant: self.tenant.as_deref(),
                agent: &self.agent,
                agent_key: self.agent_key.map(|k| k.to_bytes()),
                issued_at,
                intent: self.intent.as_deref(),
            },
            Restrictions {
                rights: &rights,
                caps: &caps,
                expires,
                max_depth: Some(self.max_depth),
            },
        );
        let mut builder = Biscuit::builder().merge(block);
        if let Some(id) = self.root_key_id {
            builder = builder.root_key_id(id);
        }
        let biscuit = builder.build(root.biscuit()).map_err(Error::from_biscuit)?;
        let revocation_id = last_revocation_id(&biscuit.revocation_identifiers());
        let roles = restriction_roles(&caps);
        let chain = Chain {
            user: self.user.clone(),
            tenant: self.tenant.clone(),
            intent: self.intent.clone(),
            issued_at: from_unix(issued_at),
            root_key_id: self.root_key_id,
            verified: true,
            sealed: false,
            blocks: vec![ChainBlock {
                index: 0,
                kind: BlockKind::Authority,
                delegation: Some(Delegation {
                    depth: 0,
                    from: self.user.clone(),
                    to: self.agent.clone(),
                }),
                holder: self.agent.clone(),
                holder_key: self.agent_key,
                holder_key_proven: self.agent_key.is_some(),
                delegation_proven: true,
                signer: Signer::Root {
                    key_id: self.root_key_id,
                },
                verified: true,
                rights,
                caps,
                expires_at: Some(from_unix(expires)),
                max_depth: Some(self.max_depth),
                checks: roles,
                attestation: None,
                revocation_id,
            }],
        };
        Ok(Token {
            inner: Inner::Verified(biscuit),
            root: Some(root.public()),
            chain: Arc::new(chain),
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
    to: String,
    to_key: Option<PublicKey>,
    rights: Vec<(String, String)>,
    caps: Vec<CapSpec>,
    ttl: Option<Duration>,
    max_depth: Option<u32>,
    at: Option<SystemTime>,
}

impl Hop {
    /// A hop to the sub-agent `agent`.
    pub fn to(agent: impl Into<String>) -> Self {
        Hop {
            to: agent.into(),
            to_key: None,
            rights: Vec::new(),
            caps: Vec::new(),
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

    /// Passes on a right the parent holds (or a narrower one).
    pub fn right(mut self, resource: impl Into<String>, operation: impl Into<String>) -> Self {
        self.rights.push((resource.into(), operation.into()));
        self
    }

    /// A cap no looser than the parent's; `scope` is `RESOURCE:OPERATION`
    /// as for [`Grant::cap`].
    pub fn cap(self, scope: impl Into<String>, name: impl Into<String>, max: i64) -> Self {
        self.cap_range(scope, name, None, Some(max))
    }

    /// Like [`Hop::cap`], with optional lower and upper bounds.
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

    /// Adds an already parsed [`Cap`].
    pub fn with_cap(mut self, cap: &Cap) -> Self {
        self.caps.push(CapSpec::from(cap));
        self
    }

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

/// A request to check a token against: a concrete resource, an operation,
/// and optional named quantities bounded by caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    resource: String,
    operation: String,
    quantities: Vec<(String, i64)>,
    at: Option<SystemTime>,
}

impl Request {
    /// `operation` on the concrete `resource`.
    pub fn new(resource: impl Into<String>, operation: impl Into<String>) -> Self {
        Request {
            resource: resource.into(),
            operation: operation.into(),
            quantities: Vec::new(),
            at: None,
        }
    }

    /// A named quantity (e.g. `amount`); caps bound it. Setting a name twice
    /// keeps the last value.
    pub fn quantity(mut self, name: impl Into<String>, value: i64) -> Self {
        let name = name.into();
        self.quantities.retain(|(n, _)| *n != name);
        self.quantities.push((name, value));
        self
    }

    /// The time of the request (default: now).
    pub fn at(mut self, at: SystemTime) -> Self {
        self.at = Some(at);
        self
    }

    /// The resource requested.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The operation requested.
    pub fn operation(&self) -> &str {
        &self.operation
    }
}

#[derive(Debug, Clone)]
enum Inner {
    Verified(Biscuit),
    Unverified(UnverifiedBiscuit),
}

/// An agentcap token: a Biscuit together with its decoded [`Chain`].
///
/// A token read with [`Token::from_base64`] is unverified: it can be
/// inspected and attenuated offline, and [`Token::check`] verifies it.
/// A token read with [`Token::verify_base64`] or minted here is verified.
#[derive(Debug, Clone)]
pub struct Token {
    inner: Inner,
    /// The root key the token was verified against, if any.
    root: Option<PublicKey>,
    /// Shared, so that a verifier's cache and its decisions hold one copy.
    chain: Arc<Chain>,
}

impl Token {
    /// Reads a token without verifying it (for inspection and attenuation).
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        Self::from_bytes(&decode_base64(text)?)
    }

    /// Reads a serialized token without verifying it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        check_size(bytes)?;
        let biscuit = UnverifiedBiscuit::from(bytes).map_err(Error::from_biscuit)?;
        let chain = Chain::decode(bytes, false, Some(&biscuit.external_public_keys()))?;
        Ok(Token {
            inner: Inner::Unverified(biscuit),
            root: None,
            chain: Arc::new(chain),
        })
    }

    /// Reads a token and verifies every signature against `root`.
    pub fn verify_base64(text: &str, root: &PublicKey) -> Result<Self, Error> {
        Self::verify_bytes(&decode_base64(text)?, root)
    }

    /// Reads a serialized token and verifies every signature against `root`.
    pub fn verify_bytes(bytes: &[u8], root: &PublicKey) -> Result<Self, Error> {
        Self::verify_bytes_with(bytes, |_| Some(*root))
    }

    /// Reads a serialized token and verifies it against the root key that
    /// `root_for` returns for the token's root key id (`None` when the token
    /// names none). A key id with no key is [`Error::UnknownRootKey`].
    pub fn verify_bytes_with(
        bytes: &[u8],
        root_for: impl Fn(Option<u32>) -> Option<PublicKey>,
    ) -> Result<Self, Error> {
        check_size(bytes)?;
        let chosen = std::cell::Cell::new(None);
        let provider = |id: Option<u32>| match root_for(id) {
            Some(key) => {
                chosen.set(Some(key));
                Ok(key.to_biscuit())
            }
            None => Err(biscuit_auth::error::Format::UnknownPublicKey),
        };
        let biscuit = Biscuit::from(bytes, provider).map_err(|e| match Error::from_biscuit(e) {
            Error::UnknownRootKey(_) => Error::UnknownRootKey(root_key_id(bytes)),
            other => other,
        })?;
        let chain = Chain::from_schema(
            &biscuit.container().to_proto(),
            true,
            Some(&biscuit.external_public_keys()),
        )?;
        Ok(Token {
            inner: Inner::Verified(biscuit),
            root: chosen.get(),
            chain: Arc::new(chain),
        })
    }

    /// The token as URL-safe base64, the form that travels in headers.
    pub fn to_base64(&self) -> Result<String, Error> {
        match &self.inner {
            Inner::Verified(b) => b.to_base64(),
            Inner::Unverified(b) => b.to_base64(),
        }
        .map_err(Error::from_biscuit)
    }

    /// The serialized token.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        match &self.inner {
            Inner::Verified(b) => b.to_vec(),
            Inner::Unverified(b) => b.to_vec(),
        }
        .map_err(Error::from_biscuit)
    }

    /// The token as a delegation chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The chain, shared: what a verifier hands to each decision without
    /// copying it.
    pub fn shared_chain(&self) -> Arc<Chain> {
        Arc::clone(&self.chain)
    }

    /// Whether the token was verified against a root key.
    pub fn is_verified(&self) -> bool {
        self.root.is_some()
    }

    /// The revocation id of each block, in order (raw signature bytes).
    pub fn revocation_ids(&self) -> Vec<Vec<u8>> {
        match &self.inner {
            Inner::Verified(b) => b.revocation_identifiers(),
            Inner::Unverified(b) => b.revocation_identifiers(),
        }
    }

    /// The underlying Biscuit, when verified.
    pub fn biscuit(&self) -> Option<&Biscuit> {
        match &self.inner {
            Inner::Verified(b) => Some(b),
            Inner::Unverified(_) => None,
        }
    }

    /// Delegates to a sub-agent: appends a hop block.
    ///
    /// When `signer` is given, the hop is a third-party block signed by it,
    /// proving who delegated; it must be given, and be the bound key, when
    /// the current holder is bound to a key. Asking for a right the chain
    /// does not hold, a looser cap, a longer life or a deeper chain is
    /// refused here (the checks in the token enforce it anyway).
    pub fn delegate(&self, hop: &Hop, signer: Option<&KeyPair>) -> Result<Token, Error> {
        self.refuse_if_sealed()?;
        validate_name("agent", &hop.to)?;
        let now = unix_seconds(hop.at.unwrap_or_else(SystemTime::now))?;
        let parent_expiry = self.unexpired_expiry(now)?;
        let rights = parse_rights(&hop.rights)?;
        for right in &rights {
            if !self.chain.holds(right) {
                return Err(Error::RightNotHeld {
                    right: right.clone(),
                });
            }
        }
        let caps = parse_caps(&hop.caps)?;
        for cap in &caps {
            if let Some(parent) = self.chain.loosened_by(cap) {
                return Err(Error::CapExceedsParent {
                    requested: escape(&cap.to_string()).into_owned(),
                    parent: escape(&parent).into_owned(),
                });
            }
        }
        let expires = match hop.ttl {
            Some(ttl) => self.child_expiry(now, ttl, parent_expiry)?,
            None => parent_expiry,
        };
        let depth = self.chain.depth() + 1;
        let parent_max = self.chain.max_depth().unwrap_or(u32::MAX);
        if depth > parent_max {
            return Err(Error::DepthExceeded {
                depth,
                max_depth: parent_max,
            });
        }
        if let Some(requested) = hop.max_depth
            && (requested < depth || requested > parent_max)
        {
            return Err(Error::InvalidMaxDepth {
                requested,
                depth,
                parent: parent_max,
            });
        }
        let from = self.chain.holder().to_owned();
        let bound = self.chain.holder_key();
        match (bound, signer) {
            (Some(_), None) => return Err(Error::SigningKeyRequired { holder: from }),
            (Some(key), Some(signer)) if signer.public() != key => {
                return Err(Error::WrongSigningKey { holder: from });
            }
            _ => {}
        }
        let block = vocabulary::hop_block(
            depth,
            &from,
            &hop.to,
            hop.to_key.map(|k| k.to_bytes()),
            Restrictions {
                rights: &rights,
                caps: &caps,
                expires,
                max_depth: hop.max_depth,
            },
        );
        // As when reading a chain: the signature proves the delegator only
        // if the key it matches was itself bound by a proven line.
        let bound_proven = self.root.is_some()
            && self
                .chain
                .blocks
                .last()
                .is_some_and(|b| b.holder_key_proven);
        let is_delegator = signer.is_some_and(|key| bound == Some(key.public()) && bound_proven);
        let signer_view = match signer {
            None => Signer::Holder,
            Some(key) => Signer::Key {
                key: key.public(),
                is_delegator,
            },
        };
        let inner = self.append(block, signer)?;
        let roles = restriction_roles(&caps);
        Ok(self.extend(
            inner,
            ChainBlock {
                index: self.chain.blocks.len(),
                kind: BlockKind::Hop,
                delegation: Some(Delegation {
                    depth,
                    from,
                    to: hop.to.clone(),
                }),
                holder: hop.to.clone(),
                holder_key: hop.to_key,
                holder_key_proven: is_delegator && hop.to_key.is_some(),
                delegation_proven: is_delegator,
                signer: signer_view,
                verified: self.root.is_some(),
                rights,
                caps,
                expires_at: Some(from_unix(expires)),
                max_depth: hop.max_depth,
                checks: roles,
                attestation: None,
                revocation_id: String::new(),
            },
        ))
    }

    /// Restricts the token to exactly one concrete resource and operation for
    /// `ttl` (whole seconds): what a holder does before each tool call.
    pub fn narrow(&self, resource: &str, operation: &str, ttl: Duration) -> Result<Token, Error> {
        self.narrow_at(resource, operation, ttl, SystemTime::now())
    }

    /// [`Token::narrow`] at a given time.
    pub fn narrow_at(
        &self,
        resource: &str,
        operation: &str,
        ttl: Duration,
        at: SystemTime,
    ) -> Result<Token, Error> {
        self.refuse_if_sealed()?;
        validate_operation(operation)?;
        let right = Right {
            resource: ResourcePattern::exact(resource)?,
            operation: operation.to_owned(),
        };
        if !self.chain.holds(&right) {
            return Err(Error::RightNotHeld { right });
        }
        let now = unix_seconds(at)?;
        let parent_expiry = self.unexpired_expiry(now)?;
        let expires = self.child_expiry(now, ttl, parent_expiry)?;
        let holder = self.chain.holder().to_owned();
        let rights = [right];
        let block = vocabulary::narrowing_block(
            &holder,
            Restrictions {
                rights: &rights,
                caps: &[],
                expires,
                max_depth: None,
            },
        );
        let inner = self.append(block, None)?;
        let [right] = rights;
        Ok(self.extend(
            inner,
            ChainBlock {
                index: self.chain.blocks.len(),
                kind: BlockKind::Narrowing,
                delegation: None,
                holder,
                holder_key: self.chain.holder_key(),
                holder_key_proven: self.holder_key_proven(),
                delegation_proven: false,
                signer: Signer::Holder,
                verified: self.root.is_some(),
                rights: vec![right],
                caps: Vec::new(),
                expires_at: Some(from_unix(expires)),
                max_depth: None,
                checks: restriction_roles(&[]),
                attestation: None,
                revocation_id: String::new(),
            },
        ))
    }

    /// Appends a third party's signed statement (an approval, say). It adds
    /// no authority and no restriction.
    pub fn attest(&self, signer: &KeyPair, statement: &str) -> Result<Token, Error> {
        self.refuse_if_sealed()?;
        validate_text("attestation", statement)?;
        let inner = self.append(vocabulary::attestation_block(statement), Some(signer))?;
        Ok(self.extend(
            inner,
            ChainBlock {
                index: self.chain.blocks.len(),
                kind: BlockKind::Attestation,
                delegation: None,
                holder: self.chain.holder().to_owned(),
                holder_key: self.chain.holder_key(),
                holder_key_proven: self.holder_key_proven(),
                delegation_proven: false,
                signer: Signer::Key {
                    key: signer.public(),
                    is_delegator: false,
                },
                verified: self.root.is_some(),
                rights: Vec::new(),
                caps: Vec::new(),
                expires_at: None,
                max_depth: None,
                checks: Vec::new(),
                attestation: Some(statement.to_owned()),
                revocation_id: String::new(),
            },
        ))
    }

    /// Seals the token: it can be used, but no longer attenuated.
    pub fn seal(&self) -> Result<Token, Error> {
        self.refuse_if_sealed()?;
        let inner = match &self.inner {
            Inner::Verified(b) => Inner::Verified(b.seal().map_err(Error::from_biscuit)?),
            Inner::Unverified(b) => Inner::Unverified(b.seal().map_err(Error::from_biscuit)?),
        };
        let mut chain = Chain::clone(&self.chain);
        chain.sealed = true;
        Ok(Token {
            inner,
            root: self.root,
            chain: Arc::new(chain),
        })
    }

    /// The local check: would this token, verified against `root`, allow
    /// `request`? For an agent deciding what to attempt or delegate; a
    /// service uses the full verifier, which adds revocation and policy.
    ///
    /// Errors distinguish an expired token ([`Error::Expired`]), a chain too
    /// deep ([`Error::DepthExceeded`]), a broken holder binding, a bad
    /// signature, and a request outside the token's rights
    /// ([`Error::NotPermitted`]).
    pub fn check(&self, root: &PublicKey, request: &Request) -> Result<(), Error> {
        let resource = ResourcePattern::exact(&request.resource)
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        validate_operation(&request.operation).map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let verified;
        let biscuit = match (&self.inner, self.root) {
            (Inner::Verified(b), Some(key)) if key == *root => b,
            _ => {
                verified = Biscuit::from(self.to_bytes()?, root.to_biscuit())
                    .map_err(Error::from_biscuit)?;
                &verified
            }
        };
        self.chain.validate()?;
        let now = unix_seconds(request.at.unwrap_or_else(SystemTime::now))?;
        self.unexpired_expiry(now)?;
        let mut authorizer = AuthorizerBuilder::new().set_limits(LOCAL_CHECK_LIMITS);
        for fact in vocabulary::request_facts(
            resource.as_str(),
            &request.operation,
            now,
            &request.quantities,
        ) {
            authorizer = authorizer.fact(fact).map_err(Error::from_biscuit)?;
        }
        let mut authorizer = authorizer
            .policy(vocabulary::allow_all_policy())
            .map_err(Error::from_biscuit)?
            .build(biscuit)
            .map_err(Error::from_biscuit)?;
        authorizer.authorize().map_err(Error::from_biscuit)?;
        self.chain
            .check_quantities(resource.as_str(), &request.operation, &request.quantities)
    }

    /// Whether the current holder's key binding is proven.
    fn holder_key_proven(&self) -> bool {
        self.chain
            .blocks
            .last()
            .is_some_and(|b| b.holder_key_proven)
    }

    fn refuse_if_sealed(&self) -> Result<(), Error> {
        if self.chain.sealed {
            return Err(Error::Sealed);
        }
        Ok(())
    }

    /// The chain's expiry, or [`Error::Expired`] if it is past at `now`.
    fn unexpired_expiry(&self, now: u64) -> Result<u64, Error> {
        let expiry = self
            .chain
            .expires_at()
            .map(unix_seconds)
            .transpose()?
            .unwrap_or(u64::MAX);
        if now > expiry {
            return Err(Error::Expired {
                expired_at: from_unix(expiry),
            });
        }
        Ok(expiry)
    }

    fn child_expiry(&self, now: u64, ttl: Duration, parent_expiry: u64) -> Result<u64, Error> {
        let expires = now + ttl_seconds(ttl)?;
        if expires > parent_expiry {
            return Err(Error::TtlExceedsParent {
                requested: from_unix(expires),
                parent: from_unix(parent_expiry),
            });
        }
        Ok(expires)
    }

    fn append(&self, block: BlockBuilder, signer: Option<&KeyPair>) -> Result<Inner, Error> {
        let map = Error::from_biscuit;
        Ok(match (&self.inner, signer) {
            (Inner::Verified(b), None) => Inner::Verified(b.append(block).map_err(map)?),
            (Inner::Unverified(b), None) => Inner::Unverified(b.append(block).map_err(map)?),
            (Inner::Verified(b), Some(key)) => {
                let request = b.third_party_request().map_err(map)?;
                let signed = request
                    .create_block(&key.biscuit().private(), block)
                    .map_err(map)?;
                Inner::Verified(
                    b.append_third_party(key.biscuit().public(), signed)
                        .map_err(map)?,
                )
            }
            (Inner::Unverified(b), Some(key)) => {
                let request = b.third_party_request().map_err(map)?;
                let signed = request
                    .create_block(&key.biscuit().private(), block)
                    .map_err(map)?;
                let serialized = signed.serialize().map_err(map)?;
                Inner::Unverified(b.append_third_party(&serialized).map_err(map)?)
            }
        })
    }

    /// The token with `inner` as its Biscuit and `block` appended to its chain.
    fn extend(&self, inner: Inner, mut block: ChainBlock) -> Token {
        let ids = match &inner {
            Inner::Verified(b) => b.revocation_identifiers(),
            Inner::Unverified(b) => b.revocation_identifiers(),
        };
        block.revocation_id = last_revocation_id(&ids);
        let mut chain = Chain::clone(&self.chain);
        chain.blocks.push(block);
        Token {
            inner,
            root: self.root,
            chain: Arc::new(chain),
        }
    }
}

/// Reads a token and its chain; verifies it when a root key is given.
///
/// ```
/// use agentcap::{Grant, KeyPair, inspect};
/// let root = KeyPair::generate();
/// let token = Grant::new("alice", "assistant").right("mail/*", "read").mint(&root)?;
/// let text = token.to_base64()?;
/// let unverified = inspect(&text, None)?;
/// assert!(!unverified.verified);
/// let verified = inspect(&text, Some(&root.public()))?;
/// assert!(verified.verified && verified.user == "alice");
/// # Ok::<(), agentcap::Error>(())
/// ```
pub fn inspect(token: &str, root: Option<&PublicKey>) -> Result<Chain, Error> {
    let bytes = decode_base64(token)?;
    check_size(&bytes)?;
    match root {
        Some(root) => {
            let biscuit = Biscuit::from(&bytes, root.to_biscuit()).map_err(Error::from_biscuit)?;
            Chain::decode(&bytes, true, Some(&biscuit.external_public_keys()))
        }
        None => Chain::decode(&bytes, false, None),
    }
}

/// Decodes a token's URL-safe base64 form (padded or not) into its bytes,
/// without parsing it. Refuses input larger than [`MAX_TOKEN_BYTES`].
pub fn decode_base64(text: &str) -> Result<Vec<u8>, Error> {
    let text = text.trim();
    if text.len() > MAX_TOKEN_BYTES * 4 / 3 + 4 {
        return Err(Error::TokenTooLarge {
            size: text.len() * 3 / 4,
            limit: MAX_TOKEN_BYTES,
        });
    }
    // Tokens travel as URL-safe base64; accept them with or without padding.
    let unpadded = text.trim_end_matches('=');
    let mut padded = String::with_capacity(unpadded.len() + 3);
    padded.push_str(unpadded);
    while !padded.len().is_multiple_of(4) {
        padded.push('=');
    }
    base64::decode_config(&padded, base64::URL_SAFE)
        .map_err(|e| Error::MalformedToken(format!("not URL-safe base64: {e}")))
}

/// The root key id a serialized token names, read without verifying it.
fn root_key_id(bytes: &[u8]) -> Option<u32> {
    use prost::Message;
    biscuit_auth::format::schema::Biscuit::decode(bytes)
        .ok()
        .and_then(|t| t.root_key_id)
}

fn check_size(bytes: &[u8]) -> Result<(), Error> {
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(Error::TokenTooLarge {
            size: bytes.len(),
            limit: MAX_TOKEN_BYTES,
        });
    }
    Ok(())
}

fn validate_text(what: &'static str, text: &str) -> Result<(), Error> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::InvalidName {
            what,
            reason: "longer than 16 KiB",
        });
    }
    Ok(())
}

fn parse_rights(rights: &[(String, String)]) -> Result<Vec<Right>, Error> {
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
struct CapSpec {
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

fn parse_caps(caps: &[CapSpec]) -> Result<Vec<Cap>, Error> {
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

fn ttl_seconds(ttl: Duration) -> Result<u64, Error> {
    if ttl < Duration::from_secs(1) {
        return Err(Error::InvalidTtl("at least one second"));
    }
    if ttl > MAX_TTL {
        return Err(Error::InvalidTtl("at most ten years"));
    }
    Ok(ttl.as_secs())
}

/// Unix seconds of `at` (see [`crate::unix_time`]); a clock before 1970
/// is refused rather than saturated, as a token minted then would be wrong.
pub(crate) fn unix_seconds(at: SystemTime) -> Result<u64, Error> {
    if at < UNIX_EPOCH {
        return Err(Error::ClockBeforeEpoch);
    }
    Ok(crate::unix_time::to_unix(at))
}

/// The roles of the checks [`vocabulary`]'s blocks carry, in order.
fn restriction_roles(caps: &[Cap]) -> Vec<CheckRole> {
    let mut roles = vec![CheckRole::Expiry, CheckRole::Rights];
    roles.extend((0..caps.len()).map(CheckRole::Cap));
    roles
}

fn last_revocation_id(ids: &[Vec<u8>]) -> String {
    ids.last().map(hex::encode).unwrap_or_default()
}
