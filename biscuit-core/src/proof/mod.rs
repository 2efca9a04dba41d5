//! Proof of possession that binds the call: the current holder of a
//! key-bound token signs each HTTP request with its key, as an RFC 9421 HTTP
//! Message Signature over the method, the service's authority, the path, the
//! query, the body's RFC 9530 `Content-Digest` and the `Authorization`
//! header carrying the token, with a nonce and a creation time.
//!
//! A token stolen without its key is useless to a service that requires
//! proofs; a captured proof is useless for another amount, another path,
//! another body, another service, or a second time (the service keeps the
//! nonces it has seen until the proof expires).
//!
//! The wire form, for a holder key `K` (see `docs/holder-proof.md`):
//!
//! ```text
//! Authorization: Bearer <token>
//! Content-Digest: sha-256=:<base64 of SHA-256(body)>:
//! Signature-Input: agentcap=("@method" "@authority" "@path" "@query" "content-digest" "authorization");created=<unix>;expires=<unix>;nonce="<nonce>";keyid="ed25519/<hex of K>";alg="ed25519";tag="agentcap"
//! Signature: agentcap=:<base64 of the Ed25519 signature>:
//! ```

use std::time::{Duration, SystemTime};

use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};

use crate::error::Error;
use crate::keys::{KeyPair, PublicKey};
use crate::token::unix_seconds;
use crate::unix_time::from_unix;

mod fields;
use fields::{
    Bare, CheckedParams, SignatureParams, check_content_digest, parse_signature,
    parse_signature_input,
};

/// The signature label, and the `tag` parameter: this signature means
/// "agentcap holder proof" and nothing else.
pub const PROOF_LABEL: &str = "agentcap";

/// The components a proof covers, in this order.
pub const COVERED_COMPONENTS: [&str; 6] = [
    "@method",
    "@authority",
    "@path",
    "@query",
    "content-digest",
    "authorization",
];

/// The component a proof adds, after [`COVERED_COMPONENTS`], when the
/// request is a joint one (it carries the `Agentcap-Joint` header with the
/// other principals' tokens): a proof of a joint request covers that
/// header, so no one can strip or change the principals it was made for.
pub const JOINT_COMPONENT: &str = "agentcap-joint";

/// How long after its creation a proof made by [`HolderProof::sign`] stays
/// valid (its `expires` parameter). A proof is made just before the request
/// it signs; a verifier may also demand a shorter age.
pub const PROOF_LIFETIME: Duration = Duration::from_secs(60);

/// The longest nonce accepted, in characters.
pub const MAX_NONCE_CHARS: usize = 64;

/// Bounds on the attacker-controlled header values, far above what a valid
/// proof needs, so parsing is cheap whatever arrives.
const MAX_SIGNATURE_INPUT_BYTES: usize = 1024;
const MAX_SIGNATURE_BYTES: usize = 256;
const MAX_CONTENT_DIGEST_BYTES: usize = 1024;
const MAX_DIGEST_MEMBERS: usize = 8;
const MAX_COMPONENTS: usize = 16;
const MAX_PARAMETERS: usize = 8;
const MAX_STRING_CHARS: usize = 128;

/// Random bytes in a nonce made by [`HolderProof::sign`] (128 bits).
const NONCE_BYTES: usize = 16;

/// The parts of an HTTP request a holder proof covers.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The method, as sent (`"POST"`); compared case-sensitively.
    pub method: &'a str,
    /// The service's authority, `host[:port]` without a default port: the
    /// audience. Compared without regard to ASCII case.
    pub authority: &'a str,
    /// The path, as sent (not decoded): `"/payments/charge"`. Empty means `/`.
    pub path: &'a str,
    /// The query, as sent, without the `?`; `None` when absent.
    pub query: Option<&'a str>,
    /// The token exactly as presented (base64); the request carries it as
    /// `Authorization: Bearer <token>`.
    pub token: &'a str,
    /// The request body (empty for none).
    pub body: &'a [u8],
}

/// The headers a holder adds to its request, besides
/// `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofHeaders {
    /// The `Signature-Input` header value.
    pub signature_input: String,
    /// The `Signature` header value.
    pub signature: String,
    /// The `Content-Digest` header value (SHA-256 of the body).
    pub content_digest: String,
}

/// What a verified proof established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The proof's nonce: a verifier refuses a nonce it has seen from the
    /// same holder (see the verifier's replay cache).
    pub nonce: String,
    /// When the holder made the proof (to the second).
    pub created: SystemTime,
    /// The first instant at which this verification would refuse the proof
    /// as too old or expired: a replay cache must remember the nonce until
    /// then, and may forget it after.
    pub replay_until: SystemTime,
}

/// Signs and verifies holder proofs (RFC 9421 HTTP Message Signatures with
/// the holder's Ed25519 key).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use agentcap::{Grant, HolderProof, KeyPair, ProofRequest};
///
/// let root = KeyPair::generate();
/// let agent = KeyPair::generate();
/// let token = Grant::new("alice", "assistant")
///     .agent_key(agent.public())
///     .right("payments/charge", "write")
///     .mint(&root)?
///     .to_base64()?;
///
/// // The agent signs its call; it sends the three headers and
/// // `Authorization: Bearer <token>`.
/// let request = ProofRequest {
///     method: "POST",
///     authority: "pay.example:8443",
///     path: "/payments/charge",
///     query: Some("amount=10"),
///     token: &token,
///     body: br#"{"to":"bob"}"#,
/// };
/// let now = SystemTime::now();
/// let headers = HolderProof::sign(&agent, &request, now)?;
///
/// // The service checks it against the request it received.
/// let (max_age, skew) = (Duration::from_secs(60), Duration::from_secs(5));
/// let verify = |request: &ProofRequest<'_>| {
///     HolderProof::verify(
///         &headers.signature_input,
///         &headers.signature,
///         Some(&headers.content_digest),
///         &agent.public(),
///         request,
///         now,
///         max_age,
///         skew,
///     )
/// };
/// let proven = verify(&request)?;
/// assert_eq!(proven.nonce.len(), 22);
///
/// // The same proof does not carry another amount.
/// let altered = ProofRequest { query: Some("amount=500"), ..request };
/// assert!(verify(&altered).is_err());
/// # Ok::<(), agentcap::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HolderProof;

impl HolderProof {
    /// Signs `request` with the holder's key at time `created`, with a fresh
    /// random nonce (128 bits, base64url). The proof expires
    /// [`PROOF_LIFETIME`] after `created`.
    pub fn sign(
        holder: &KeyPair,
        request: &ProofRequest<'_>,
        created: SystemTime,
    ) -> Result<ProofHeaders, Error> {
        let mut bytes = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let nonce = base64::encode_config(bytes, base64::URL_SAFE_NO_PAD);
        Self::sign_with_nonce(holder, request, created, &nonce)
    }

    /// Signs `request` with a nonce of the caller's choosing (1 to
    /// [`MAX_NONCE_CHARS`] printable ASCII characters). The nonce must never
    /// repeat for this key: a verifier refuses the second use.
    pub fn sign_with_nonce(
        holder: &KeyPair,
        request: &ProofRequest<'_>,
        created: SystemTime,
        nonce: &str,
    ) -> Result<ProofHeaders, Error> {
        Self::sign_inner(holder, request, None, created, nonce)
    }

    /// Signs a joint request: as [`HolderProof::sign`], covering also the
    /// `Agentcap-Joint` header, whose value (the other principals' tokens,
    /// comma-separated, exactly as sent) is `joint`.
    pub fn sign_joint(
        holder: &KeyPair,
        request: &ProofRequest<'_>,
        joint: &str,
        created: SystemTime,
    ) -> Result<ProofHeaders, Error> {
        let mut bytes = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let nonce = base64::encode_config(bytes, base64::URL_SAFE_NO_PAD);
        Self::sign_inner(holder, request, Some(joint), created, &nonce)
    }

    fn sign_inner(
        holder: &KeyPair,
        request: &ProofRequest<'_>,
        joint: Option<&str>,
        created: SystemTime,
        nonce: &str,
    ) -> Result<ProofHeaders, Error> {
        use ed25519_dalek::Signer;
        check_nonce(nonce)?;
        let created = unix_seconds(created)?;
        let expires = created.saturating_add(PROOF_LIFETIME.as_secs());
        let params = SignatureParams {
            components: covered_components(joint.is_some()),
            params: vec![
                ("created".to_owned(), Bare::Integer(created)),
                ("expires".to_owned(), Bare::Integer(expires)),
                ("nonce".to_owned(), Bare::String(nonce.to_owned())),
                (
                    "keyid".to_owned(),
                    Bare::String(holder.public().to_string()),
                ),
                ("alg".to_owned(), Bare::String("ed25519".to_owned())),
                ("tag".to_owned(), Bare::String(PROOF_LABEL.to_owned())),
            ],
        };
        let content_digest = content_digest(request.body);
        let serialized = params.serialize();
        let base = signature_base(request, &content_digest, &serialized, joint)?;
        let signature = holder.signing_key()?.sign(base.as_bytes());
        Ok(ProofHeaders {
            signature_input: format!("{PROOF_LABEL}={serialized}"),
            signature: format!("{PROOF_LABEL}=:{}:", base64::encode(signature.to_bytes())),
            content_digest,
        })
    }

    /// Checks a proof against the request received: the `Signature-Input`,
    /// `Signature` and `Content-Digest` header values (`None` when the
    /// request had none), the holder key the token binds, and the request as
    /// the service saw it (`authority` is this service's own).
    ///
    /// Refuses, with [`Error::InvalidHolderProof`], anything but the exact
    /// form [`HolderProof::sign`] produces: another label, other or
    /// reordered components, a missing, duplicated or unknown parameter, a
    /// `tag` other than `agentcap`, an `alg` other than `ed25519`, a `keyid`
    /// other than the holder's key, a nonce that is empty, too long or not
    /// printable; a proof created more than `clock_skew` in the future,
    /// older than `max_age` (plus `clock_skew`) or expired; a
    /// `Content-Digest` that is missing, lists no supported algorithm
    /// (`sha-256`, `sha-512`) or does not match the body; a signature that
    /// does not verify (strictly) over this request.
    ///
    /// A successful check does not prevent replay by itself: the caller
    /// must also refuse a nonce it has already accepted from this holder,
    /// until [`VerifiedProof::replay_until`].
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        signature_input: &str,
        signature: &str,
        content_digest: Option<&str>,
        holder: &PublicKey,
        request: &ProofRequest<'_>,
        now: SystemTime,
        max_age: Duration,
        clock_skew: Duration,
    ) -> Result<VerifiedProof, Error> {
        Self::verify_joint(
            signature_input,
            signature,
            content_digest,
            holder,
            request,
            None,
            now,
            max_age,
            clock_skew,
        )
    }

    /// [`HolderProof::verify`] for a request that may be joint: `joint` is
    /// the `Agentcap-Joint` header's value as received (its lines joined by
    /// `", "`), `None` when the request has none. A joint request's proof
    /// must cover the header ([`JOINT_COMPONENT`], as
    /// [`HolderProof::sign_joint`] makes it); any other proof must not.
    #[allow(clippy::too_many_arguments)]
    pub fn verify_joint(
        signature_input: &str,
        signature: &str,
        content_digest: Option<&str>,
        holder: &PublicKey,
        request: &ProofRequest<'_>,
        joint: Option<&str>,
        now: SystemTime,
        max_age: Duration,
        clock_skew: Duration,
    ) -> Result<VerifiedProof, Error> {
        let (label, params) = parse_signature_input(signature_input)?;
        if label != PROOF_LABEL {
            return Err(Error::InvalidHolderProof(
                "the signature label is not agentcap",
            ));
        }
        let signature = parse_signature(signature)?;
        let checked = check_proof_params(&params, holder, joint.is_some())?;
        let last_accepted = last_accepted_second(&checked, now, max_age, clock_skew)?;
        let Some(content_digest) = content_digest else {
            return Err(Error::InvalidHolderProof(
                "the Content-Digest header is missing",
            ));
        };
        check_content_digest(content_digest, request.body)?;
        let base = signature_base(request, content_digest.trim(), &params.serialize(), joint)?;
        verify_holder_signature(holder, &base, &signature)?;
        Ok(VerifiedProof {
            nonce: checked.nonce.to_owned(),
            created: from_unix(checked.created),
            // Accepted while `now` (in whole seconds) is at most the bound:
            // until the second after it.
            replay_until: from_unix(last_accepted.saturating_add(1)),
        })
    }

    /// The signature base (RFC 9421 §2.5) a proof with these
    /// `Signature-Input` parameters signs for `request`: for tests, test
    /// vectors and debugging. `signature_input` is the whole header value
    /// (`agentcap=(...);...`); it is parsed strictly.
    pub fn signature_base(
        request: &ProofRequest<'_>,
        content_digest: &str,
        signature_input: &str,
    ) -> Result<String, Error> {
        let (_, params) = parse_signature_input(signature_input)?;
        let joint = params.components.iter().any(|c| c == JOINT_COMPONENT);
        if joint {
            return Err(Error::InvalidHolderProof(
                "a joint proof's base needs the Agentcap-Joint value",
            ));
        }
        signature_base(request, content_digest.trim(), &params.serialize(), None)
    }
}

/// Checks the `Signature-Input` parameters of a proof for `holder`: exactly
/// the covered components, in order; every parameter present; the agentcap
/// `tag`, the `ed25519` `alg`, the holder's `keyid` and a well-formed nonce.
fn check_proof_params<'a>(
    params: &'a SignatureParams,
    holder: &PublicKey,
    joint: bool,
) -> Result<CheckedParams<'a>, Error> {
    let invalid = Error::InvalidHolderProof;
    if params.components != covered_components(joint) {
        return Err(invalid(if joint {
            "the proof of a joint request must cover exactly \"@method\" \"@authority\" \
             \"@path\" \"@query\" \"content-digest\" \"authorization\" \"agentcap-joint\", \
             in that order"
        } else {
            "the proof must cover exactly \"@method\" \"@authority\" \"@path\" \"@query\" \
             \"content-digest\" \"authorization\", in that order"
        }));
    }
    let checked = params.check()?;
    if checked.tag != PROOF_LABEL {
        return Err(invalid("the tag parameter is not agentcap"));
    }
    if checked.alg != "ed25519" {
        return Err(invalid("the alg parameter is not ed25519"));
    }
    if checked.keyid != holder.to_string() {
        return Err(invalid(
            "the keyid names a key other than the token's holder",
        ));
    }
    check_nonce(checked.nonce)?;
    Ok(checked)
}

/// The components a proof covers: [`COVERED_COMPONENTS`], then
/// [`JOINT_COMPONENT`] for a joint request.
fn covered_components(joint: bool) -> Vec<String> {
    COVERED_COMPONENTS
        .iter()
        .chain(joint.then_some(&JOINT_COMPONENT))
        .map(|c| (*c).to_owned())
        .collect()
}

/// Checks the proof's times against `now` (in whole seconds, as the proof
/// states them) and returns the last second at which it is still accepted:
/// the earlier of "older than `max_age`" and "expired", each widened by
/// `clock_skew`.
fn last_accepted_second(
    checked: &CheckedParams<'_>,
    now: SystemTime,
    max_age: Duration,
    clock_skew: Duration,
) -> Result<u64, Error> {
    let invalid = Error::InvalidHolderProof;
    let now = unix_seconds(now)?;
    let skew = clock_skew.as_secs();
    if checked.expires <= checked.created {
        return Err(invalid("the proof expires before it was created"));
    }
    if checked.created > now.saturating_add(skew) {
        return Err(invalid("the proof was created in the future"));
    }
    let too_old_after = checked
        .created
        .saturating_add(max_age.as_secs())
        .saturating_add(skew);
    if now > too_old_after {
        return Err(invalid("the proof is older than this service accepts"));
    }
    let expired_after = checked.expires.saturating_add(skew);
    if now > expired_after {
        return Err(invalid("the proof has expired"));
    }
    Ok(too_old_after.min(expired_after))
}

/// Verifies (strictly) the holder's Ed25519 `signature` over the signature
/// base.
fn verify_holder_signature(
    holder: &PublicKey,
    base: &str,
    signature: &[u8; 64],
) -> Result<(), Error> {
    let invalid = Error::InvalidHolderProof;
    let key: [u8; 32] = holder
        .to_bytes()
        .try_into()
        .map_err(|_| invalid("the holder key is not an Ed25519 key"))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| invalid("the holder key is not an Ed25519 key"))?;
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(base.as_bytes(), &signature).map_err(|_| {
        invalid(
            "the signature does not verify for this request: its method, authority, path, \
                 query, body or token differ from what the holder signed, or its parameters \
                 were altered",
        )
    })
}

/// The `Content-Digest` value for a body: `sha-256=:<base64>:` (RFC 9530).
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", base64::encode(Sha256::digest(body)))
}

/// RFC 9421 §2.5: one line per covered component, `"name": value`, then the
/// `@signature-params` line, without a trailing newline.
fn signature_base(
    request: &ProofRequest<'_>,
    content_digest: &str,
    serialized_params: &str,
    joint: Option<&str>,
) -> Result<String, Error> {
    let invalid = Error::InvalidHolderProof;
    let method = request.method;
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(invalid("the method is not an HTTP method token"));
    }
    let authority = request.authority.to_ascii_lowercase();
    if authority.is_empty() || !is_visible(&authority) {
        return Err(invalid("the authority is empty or not printable ASCII"));
    }
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    if !is_visible(path) {
        return Err(invalid("the path is not printable ASCII"));
    }
    let query = request.query.unwrap_or("");
    if !is_visible(query) {
        return Err(invalid("the query is not printable ASCII"));
    }
    let token = request.token.trim();
    if token.is_empty() || !is_visible(token) {
        return Err(invalid("the token is empty or not printable ASCII"));
    }
    if !is_printable(content_digest) {
        return Err(invalid("the Content-Digest header is not printable ASCII"));
    }
    let mut base = String::with_capacity(
        160 + authority.len() + path.len() + query.len() + token.len() + serialized_params.len(),
    );
    for (name, value) in [
        ("@method", method),
        ("@authority", authority.as_str()),
        ("@path", path),
    ] {
        push_line(&mut base, name, &[value]);
    }
    push_line(&mut base, "@query", &["?", query]);
    push_line(&mut base, "content-digest", &[content_digest]);
    push_line(&mut base, "authorization", &["Bearer ", token]);
    if let Some(joint) = joint {
        let joint = joint.trim();
        if joint.is_empty() || !is_printable(joint) {
            return Err(invalid(
                "the Agentcap-Joint header is empty or not printable ASCII",
            ));
        }
        push_line(&mut base, JOINT_COMPONENT, &[joint]);
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(serialized_params);
    Ok(base)
}

fn push_line(base: &mut String, name: &str, value: &[&str]) {
    base.push('"');
    base.push_str(name);
    base.push_str("\": ");
    for part in value {
        base.push_str(part);
    }
    base.push('\n');
}

/// RFC 9110 `tchar`: the characters of a method name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible ASCII, no spaces (paths, queries, authorities, tokens as sent).
fn is_visible(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_graphic())
}

/// Printable ASCII, spaces allowed (header values).
fn is_printable(text: &str) -> bool {
    text.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

fn check_nonce(nonce: &str) -> Result<(), Error> {
    if nonce.is_empty() || nonce.len() > MAX_NONCE_CHARS || !is_printable(nonce) {
        return Err(Error::InvalidHolderProof(
            "the nonce must be 1 to 64 printable ASCII characters",
        ));
    }
    Ok(())
}
