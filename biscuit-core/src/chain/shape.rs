//! The shape of every block agentcap writes: grant, hop, narrowing and
//! attestation. Each shape produces the biscuit-auth block (builder terms
//! only, never Datalog source) together with the [`BlockContent`] the chain
//! reader reads back from it: one definition for writing and reading, which
//! `tests/properties.rs` holds to the bytes.

use biscuit_auth::builder::{BlockBuilder, Fact, Term};

use super::link::{BlockContent, Restrictions};
use super::{BlockKind, Chain, CheckRole, Delegation};
use crate::keys::PublicKey;
use crate::rights::{Cap, Right};
use crate::unix_time::from_unix;
use crate::vocabulary::{self, SCHEMA_VERSION, fact};

fn string(value: &str) -> Term {
    Term::Str(value.to_owned())
}

/// The authority a block passes on: rights, caps, expiry and audiences,
/// enforced by checks, and the maximum depth, stated as a fact.
pub(crate) struct Passed<'a> {
    pub rights: &'a [Right],
    pub caps: &'a [Cap],
    pub expires: u64,
    pub max_depth: Option<u32>,
    /// The resources the block is for, canonical (empty: not restricted).
    pub audiences: &'a [String],
}

impl Passed<'_> {
    /// The block with these restrictions after `facts`; the grant also
    /// states its rights, caps and expiry as facts, trusted by service
    /// policies. Returns the restrictions as read back.
    fn write(&self, mut facts: Vec<Fact>, is_grant: bool) -> (BlockBuilder, Restrictions) {
        if is_grant {
            self.state_grant(&mut facts);
        }
        if let Some(max_depth) = self.max_depth {
            facts.push(vocabulary::fact(
                fact::MAX_DEPTH,
                vec![Term::Integer(i64::from(max_depth))],
            ));
        }
        let mut checks = Vec::with_capacity(3 + self.caps.len());
        let mut roles = Vec::with_capacity(checks.capacity());
        checks.push(vocabulary::expiry_check(self.expires));
        roles.push(CheckRole::Expiry);
        checks.push(vocabulary::rights_check(self.rights));
        roles.push(CheckRole::Rights);
        for (i, cap) in self.caps.iter().enumerate() {
            checks.push(vocabulary::cap_check(cap));
            roles.push(CheckRole::Cap(i));
        }
        let audiences = (!self.audiences.is_empty()).then(|| {
            let mut sorted = self.audiences.to_vec();
            sorted.sort();
            sorted.dedup();
            sorted
        });
        if let Some(audiences) = &audiences {
            checks.push(vocabulary::audience_check(audiences));
            roles.push(CheckRole::Audience);
        }
        let block = BlockBuilder {
            facts,
            checks,
            ..BlockBuilder::default()
        };
        let restrictions = Restrictions {
            rights: self.rights.to_vec(),
            caps: self.caps.to_vec(),
            expires_at: Some(from_unix(self.expires)),
            max_depth: self.max_depth,
            audiences,
            checks: roles,
            unrecognised: false,
        };
        (block, restrictions)
    }

    fn state_grant(&self, facts: &mut Vec<Fact>) {
        for right in self.rights {
            facts.push(vocabulary::fact(
                fact::RIGHT,
                vec![string(right.resource.as_str()), string(&right.operation)],
            ));
        }
        for cap in self.caps {
            let scope = || {
                vec![
                    string(cap.resource.as_str()),
                    string(&cap.operation),
                    string(&cap.name),
                ]
            };
            if let Some(max) = cap.max {
                if cap.resource.as_str() == "*" && cap.min.is_none() {
                    // Policies written for vocabulary 1's first caps keep working.
                    let terms = vec![
                        string(&cap.operation),
                        string(&cap.name),
                        Term::Integer(max),
                    ];
                    facts.push(vocabulary::fact(fact::CAP, terms));
                }
                let mut terms = scope();
                terms.push(Term::Integer(max));
                facts.push(vocabulary::fact(fact::CAP_MAX, terms));
            }
            if let Some(min) = cap.min {
                let mut terms = scope();
                terms.push(Term::Integer(min));
                facts.push(vocabulary::fact(fact::CAP_MIN, terms));
            }
        }
        facts.push(vocabulary::fact(
            fact::EXPIRES,
            vec![Term::Date(self.expires)],
        ));
    }
}

/// The authority block: the user's grant to the first agent.
pub(crate) struct GrantShape<'a> {
    pub user: &'a str,
    pub tenant: Option<&'a str>,
    pub agent: &'a str,
    pub agent_key: Option<PublicKey>,
    pub issued_at: u64,
    pub intent: Option<&'a str>,
    pub root_key_id: Option<u32>,
    pub passed: Passed<'a>,
}

impl GrantShape<'_> {
    /// The block, and the chain's header and first block as read back
    /// from a token signed by the root key.
    pub(crate) fn write(&self) -> (BlockBuilder, Chain, BlockContent) {
        let mut facts = vec![
            vocabulary::fact(fact::SCHEMA, vec![Term::Integer(SCHEMA_VERSION)]),
            vocabulary::fact(fact::USER, vec![string(self.user)]),
            vocabulary::fact(fact::AGENT, vec![string(self.agent)]),
            vocabulary::fact(fact::ISSUED_AT, vec![Term::Date(self.issued_at)]),
        ];
        if let Some(tenant) = self.tenant {
            facts.push(vocabulary::fact(fact::TENANT, vec![string(tenant)]));
        }
        if let Some(key) = self.agent_key {
            let terms = vec![string(self.agent), Term::Bytes(key.to_bytes())];
            facts.push(vocabulary::fact(fact::AGENT_KEY, terms));
        }
        if let Some(intent) = self.intent {
            facts.push(vocabulary::fact(fact::INTENT, vec![string(intent)]));
        }
        let (block, restrictions) = self.passed.write(facts, true);
        let header = Chain {
            user: self.user.to_owned(),
            tenant: self.tenant.map(str::to_owned),
            intent: self.intent.map(str::to_owned),
            issued_at: from_unix(self.issued_at),
            root_key_id: self.root_key_id,
            verified: true,
            sealed: false,
            blocks: Vec::new(),
        };
        let content = BlockContent {
            kind: BlockKind::Authority,
            delegation: Some(Delegation {
                depth: 0,
                from: self.user.to_owned(),
                to: self.agent.to_owned(),
            }),
            holder_key: self.agent_key,
            restrictions,
            attestation: None,
        };
        (block, header, content)
    }
}

/// A hop: `hop(depth, from, to)`, the new holder's key if any, and the
/// narrowed restrictions.
pub(crate) struct HopShape<'a> {
    pub depth: u32,
    pub from: &'a str,
    pub to: &'a str,
    pub to_key: Option<PublicKey>,
    pub passed: Passed<'a>,
}

impl HopShape<'_> {
    /// The block and what the chain reads from it.
    pub(crate) fn write(&self) -> (BlockBuilder, BlockContent) {
        let mut facts = vec![vocabulary::fact(
            fact::HOP,
            vec![
                Term::Integer(i64::from(self.depth)),
                string(self.from),
                string(self.to),
            ],
        )];
        if let Some(key) = self.to_key {
            let terms = vec![string(self.to), Term::Bytes(key.to_bytes())];
            facts.push(vocabulary::fact(fact::AGENT_KEY, terms));
        }
        let (block, restrictions) = self.passed.write(facts, false);
        let content = BlockContent {
            kind: BlockKind::Hop,
            delegation: Some(Delegation {
                depth: self.depth,
                from: self.from.to_owned(),
                to: self.to.to_owned(),
            }),
            holder_key: self.to_key,
            restrictions,
            attestation: None,
        };
        (block, content)
    }
}

/// A narrowing: `narrowing(holder)` and exactly one right, until `expires`.
pub(crate) struct NarrowingShape<'a> {
    pub holder: &'a str,
    pub right: &'a Right,
    pub expires: u64,
}

impl NarrowingShape<'_> {
    /// The block and what the chain reads from it.
    pub(crate) fn write(&self) -> (BlockBuilder, BlockContent) {
        let passed = Passed {
            rights: std::slice::from_ref(self.right),
            caps: &[],
            expires: self.expires,
            max_depth: None,
            audiences: &[],
        };
        let facts = vec![vocabulary::fact(fact::NARROWING, vec![string(self.holder)])];
        let (block, restrictions) = passed.write(facts, false);
        let content = BlockContent {
            kind: BlockKind::Narrowing,
            delegation: None,
            holder_key: None,
            restrictions,
            attestation: None,
        };
        (block, content)
    }
}

/// An attestation: `attestation(statement)`, no checks.
pub(crate) struct AttestationShape<'a> {
    pub statement: &'a str,
}

impl AttestationShape<'_> {
    /// The block and what the chain reads from it.
    pub(crate) fn write(&self) -> (BlockBuilder, BlockContent) {
        let block = BlockBuilder {
            facts: vec![vocabulary::fact(
                fact::ATTESTATION,
                vec![string(self.statement)],
            )],
            ..BlockBuilder::default()
        };
        let content = BlockContent {
            kind: BlockKind::Attestation,
            delegation: None,
            holder_key: None,
            restrictions: Restrictions::default(),
            attestation: Some(self.statement.to_owned()),
        };
        (block, content)
    }
}
