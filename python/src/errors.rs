//! The exceptions of the Python package, and the translation of the Rust
//! crates' errors into them.
//!
//! Every exception carries a stable `reason` code (the verifier's codes
//! where one applies, e.g. `policy_denied`, `expired`, `bad_signature`)
//! and an `explanation` in plain words. Messages never contain key
//! material: the Rust errors they come from never do.

use std::sync::Arc;

use agentcap::{Chain, Error};
use agentcap_verifier::{Decision, Reason};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::{PyErr, Python, create_exception};

create_exception!(
    agentcap,
    AgentcapError,
    PyException,
    "Base class of every agentcap error; `reason` is a stable code, `explanation` plain words."
);
create_exception!(
    agentcap,
    InvalidKey,
    AgentcapError,
    "A key could not be parsed or used (the input is never echoed)."
);
create_exception!(
    agentcap,
    KeyFileExists,
    AgentcapError,
    "Saving a key would overwrite an existing file (pass overwrite=True to replace it)."
);
create_exception!(
    agentcap,
    FileError,
    AgentcapError,
    "Reading or writing a file failed."
);
create_exception!(
    agentcap,
    InvalidToken,
    AgentcapError,
    "The token is malformed, forged, altered, issued under an unknown root key, or handed on unsigned."
);
create_exception!(
    agentcap,
    InvalidArgument,
    AgentcapError,
    "An argument is not acceptable: a bad name, resource, right, lifetime or request."
);
create_exception!(
    agentcap,
    DelegationRefused,
    AgentcapError,
    "A hop or narrowing asks for more than its parent holds, or is not signed as it must be."
);
create_exception!(
    agentcap,
    Denied,
    AgentcapError,
    "The token is valid but does not allow the request (or has expired, is too deep, or is for another service)."
);
create_exception!(
    agentcap,
    InvalidHolderProof,
    AgentcapError,
    "A holder proof (RFC 9421 request signature) is malformed, stale, or does not verify."
);
create_exception!(
    agentcap,
    ConfigError,
    AgentcapError,
    "A verifier configuration is unusable (no root key, no revocation choice, a bad policy)."
);

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AgentcapError", py.get_type::<AgentcapError>())?;
    m.add("InvalidKey", py.get_type::<InvalidKey>())?;
    m.add("KeyFileExists", py.get_type::<KeyFileExists>())?;
    m.add("FileError", py.get_type::<FileError>())?;
    m.add("InvalidToken", py.get_type::<InvalidToken>())?;
    m.add("InvalidArgument", py.get_type::<InvalidArgument>())?;
    m.add("DelegationRefused", py.get_type::<DelegationRefused>())?;
    m.add("Denied", py.get_type::<Denied>())?;
    m.add("InvalidHolderProof", py.get_type::<InvalidHolderProof>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    Ok(())
}

/// Which exception class an error becomes.
#[derive(Debug, Clone, Copy)]
enum Class {
    Base,
    Key,
    KeyExists,
    File,
    Token,
    Argument,
    Delegation,
    Denial,
    Proof,
}

/// An exception of `class` with `message`, its `reason` code and its
/// `explanation` set as attributes.
fn raise(class: Class, message: &str, reason: &str, explanation: &str) -> PyErr {
    let message = message.to_owned();
    let err = match class {
        Class::Base => AgentcapError::new_err(message),
        Class::Key => InvalidKey::new_err(message),
        Class::KeyExists => KeyFileExists::new_err(message),
        Class::File => FileError::new_err(message),
        Class::Token => InvalidToken::new_err(message),
        Class::Argument => InvalidArgument::new_err(message),
        Class::Delegation => DelegationRefused::new_err(message),
        Class::Denial => Denied::new_err(message),
        Class::Proof => InvalidHolderProof::new_err(message),
    };
    Python::attach(|py| {
        let value = err.value(py);
        // Setting attributes on a fresh exception instance cannot fail
        // short of memory exhaustion; the exception is useful without them.
        let _ = value.setattr("reason", reason);
        let _ = value.setattr("explanation", explanation);
    });
    err
}

/// The exception for a configuration the verifier builder refuses.
pub fn config_error(error: &agentcap_verifier::ConfigError) -> PyErr {
    let message = error.to_string();
    let err = ConfigError::new_err(message.clone());
    Python::attach(|py| {
        let value = err.value(py);
        let _ = value.setattr("reason", "config_error");
        let _ = value.setattr("explanation", message);
    });
    err
}

/// An `InvalidArgument` raised by the binding itself (a bad Python value).
pub fn invalid_argument(message: impl Into<String>) -> PyErr {
    let message = message.into();
    raise(Class::Argument, &message, "invalid_argument", &message)
}

/// The class and reason code of an error from the core crate.
fn classify(error: &Error) -> (Class, &'static str) {
    match error {
        Error::InvalidKey(_) => (Class::Key, "invalid_key"),
        Error::KeyFileExists { .. } => (Class::KeyExists, "key_file_exists"),
        Error::Io { .. } => (Class::File, "io_error"),
        Error::MalformedToken(_)
        | Error::TokenTooLarge { .. }
        | Error::NotAgentcapToken(_)
        | Error::MalformedBlock { .. } => (Class::Token, "malformed"),
        Error::TooComplex { .. } => (Class::Token, "token_too_complex"),
        Error::InvalidSignature => (Class::Token, "bad_signature"),
        Error::UnknownRootKey(_) => (Class::Token, "unknown_root_key"),
        Error::UnsignedHop { .. } | Error::WrongHopSigner { .. } => {
            (Class::Token, "holder_binding_broken")
        }
        Error::InvalidRequest(_) => (Class::Argument, "malformed_request"),
        Error::InvalidName { .. }
        | Error::InvalidResource { .. }
        | Error::InvalidRight(_)
        | Error::NoRights
        | Error::InvalidTtl(_)
        | Error::InvalidResourceId(_)
        | Error::ClockBeforeEpoch => (Class::Argument, "invalid_argument"),
        Error::Sealed => (Class::Delegation, "sealed"),
        Error::RightNotHeld { .. } => (Class::Delegation, "right_not_held"),
        Error::CapExceedsParent { .. } => (Class::Delegation, "cap_exceeds_parent"),
        Error::AudienceNotHeld { .. } => (Class::Delegation, "audience_not_held"),
        Error::TtlExceedsParent { .. } => (Class::Delegation, "ttl_exceeds_parent"),
        Error::InvalidMaxDepth { .. } => (Class::Delegation, "invalid_max_depth"),
        Error::SigningKeyRequired { .. } => (Class::Delegation, "signing_key_required"),
        Error::WrongSigningKey { .. } => (Class::Delegation, "wrong_signing_key"),
        Error::NotPermitted { .. } | Error::QuantityRefused { .. } => {
            (Class::Denial, "policy_denied")
        }
        Error::Expired { .. } => (Class::Denial, "expired"),
        Error::IssuedInFuture { .. } => (Class::Denial, "malformed"),
        Error::DepthExceeded { .. } => (Class::Denial, "depth_exceeded"),
        Error::AudienceMismatch { .. } => (Class::Denial, "audience_mismatch"),
        Error::RunLimit(_) => (Class::Denial, "limits_exceeded"),
        Error::InvalidHolderProof(_) => (Class::Proof, "holder_proof_invalid"),
        _ => (Class::Base, "error"),
    }
}

/// Translates an error of the core crate, outside any check.
pub fn to_py(error: Error) -> PyErr {
    let (class, reason) = classify(&error);
    let message = error.to_string();
    raise(class, &message, reason, &message)
}

/// What a local check was asked, to explain its refusal.
pub struct CheckContext<'a> {
    /// The token's chain.
    pub chain: Arc<Chain>,
    /// The resource requested.
    pub resource: &'a str,
    /// The operation requested.
    pub operation: &'a str,
}

/// Translates the error of a local check ([`agentcap::Token::check`]); a
/// denial is explained as the verifier explains its decisions (which block
/// refused what).
pub fn check_error(error: Error, context: CheckContext<'_>) -> PyErr {
    let (class, reason) = classify(&error);
    let message = error.to_string();
    let Some(verifier_reason) = Reason::ALL.into_iter().find(|r| r.code() == reason) else {
        return raise(class, &message, reason, &message);
    };
    let mut decision = Decision::new(verifier_reason, context.resource, context.operation);
    decision.chain = Some(context.chain);
    match error {
        Error::NotPermitted { failed_checks } => decision.failed_checks = failed_checks,
        Error::Expired { expired_at } => decision.expired_at = Some(expired_at),
        other => decision.detail = Some(other.to_string()),
    }
    let explanation = decision.explain();
    // A denial reads best as its explanation; other errors keep their message.
    let message = if matches!(class, Class::Denial) {
        &explanation
    } else {
        &message
    };
    raise(class, message, reason, &explanation)
}

/// A `Denied` with a reason code and the verifier's explanation.
pub fn denied(reason: &str, explanation: &str) -> PyErr {
    raise(Class::Denial, explanation, reason, explanation)
}
