//! Revocation ids and reasons.

use std::fmt;

use sha2::{Digest, Sha256};

/// Domain-separation prefix of [`RevocationId::from_block_id`].
const ID_DOMAIN: &[u8] = b"agentcap-revocation v1 id\0";

/// The identifier a revocation list stores for one revoked token block.
///
/// A Biscuit block's revocation id is its 64-byte signature; storing it whole
/// would make a million-entry list 64 MB. The list stores instead the first
/// 16 bytes of SHA-256 over a domain-separation prefix and the block's id
/// bytes. 128 bits make an accidental or crafted collision infeasible, and a
/// collision could only wrongly *revoke* a block, never un-revoke one.
///
/// ```
/// use agentcap_revocation::RevocationId;
/// let a = RevocationId::from_block_id(&[7u8; 64]);
/// assert_eq!(a, RevocationId::from_block_id(&[7u8; 64]));
/// assert_ne!(a, RevocationId::from_block_id(&[8u8; 64]));
/// assert_eq!(a.to_string().len(), 32); // lowercase hex
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RevocationId([u8; 16]);

impl RevocationId {
    /// Length of the digest in bytes.
    pub const LEN: usize = 16;

    /// The id recorded for a block whose revocation id (e.g. one item of
    /// biscuit-auth's `Biscuit::revocation_identifiers()`) is `block_id`.
    pub fn from_block_id(block_id: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(ID_DOMAIN);
        hasher.update(block_id);
        let full = hasher.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        Self(out)
    }

    /// Wraps digest bytes as they appear in an encoded list.
    pub const fn from_digest_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for RevocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for RevocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RevocationId({})", hex::encode(self.0))
    }
}

/// Why a token block was revoked: a one-byte code, kept compact so that
/// reasons do not weigh on million-entry lists.
///
/// Codes without a named constant are kept as they are and shown as
/// `other(N)`, so newer issuers can add codes without breaking older
/// verifiers.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RevocationReason(u8);

impl RevocationReason {
    /// No reason given beyond "revoked".
    pub const UNSPECIFIED: Self = Self(0);
    /// The holder's key or the token itself leaked.
    pub const KEY_COMPROMISE: Self = Self(1);
    /// The agent holding the token misbehaved or was compromised.
    pub const AGENT_COMPROMISED: Self = Self(2);
    /// Replaced by another token.
    pub const SUPERSEDED: Self = Self(3);
    /// The user asked for the delegation to end.
    pub const USER_REQUEST: Self = Self(4);
    /// The delegation broke a policy.
    pub const POLICY_VIOLATION: Self = Self(5);
    /// The task the delegation was for is finished or abandoned.
    pub const TASK_ENDED: Self = Self(6);

    /// The reason with code `code`.
    pub const fn from_code(code: u8) -> Self {
        Self(code)
    }

    /// The one-byte code.
    pub const fn code(self) -> u8 {
        self.0
    }

    /// A stable lowercase name (`key_compromise`, ...; `other(N)` for codes
    /// without a name).
    pub fn name(self) -> String {
        match self.0 {
            0 => "unspecified".into(),
            1 => "key_compromise".into(),
            2 => "agent_compromised".into(),
            3 => "superseded".into(),
            4 => "user_request".into(),
            5 => "policy_violation".into(),
            6 => "task_ended".into(),
            n => format!("other({n})"),
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RevocationReason({})", self.name())
    }
}
