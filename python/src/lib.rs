//! # agentcap for Python
//!
//! The extension module `agentcap._agentcap`, which the Python package
//! `agentcap` re-exports. It wraps the Rust crates `agentcap` (keys,
//! grants, delegation, the chain, the local check, holder proofs) and
//! `agentcap-verifier` (the service-side verifier and its decisions); it
//! implements no token logic of its own. The names mirror the Rust ones:
//! `KeyPair`, `PublicKey`, `Grant`, `Hop`, `Token`, `Chain`,
//! `ChainBlock`, `HolderProof`, `ProofRequest`, `ProofHeaders`,
//! `Verifier`, `Decision`.
//!
//! Operations that sign, verify or evaluate Datalog release the GIL
//! (`Python::detach`). Bad input raises a typed exception
//! (`agentcap.AgentcapError` and its subclasses), never a panic.
//!
//! Built by maturin (`pip install ./python`); in the cargo workspace it
//! builds as an rlib only, so that no workspace build links libpython.

mod chain;
mod errors;
mod keys;
mod proof;
mod timing;
mod token;
mod verifier;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _agentcap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<keys::PyKeyPair>()?;
    m.add_class::<keys::PyPublicKey>()?;
    m.add_class::<token::PyGrant>()?;
    m.add_class::<token::PyHop>()?;
    m.add_class::<token::PyToken>()?;
    m.add_class::<chain::PyChain>()?;
    m.add_class::<chain::PyChainBlock>()?;
    m.add_class::<proof::PyProofRequest>()?;
    m.add_class::<proof::PyProofHeaders>()?;
    m.add_class::<proof::PyHolderProof>()?;
    m.add_class::<verifier::PyVerifier>()?;
    m.add_class::<verifier::PyDecision>()?;
    m.add_function(wrap_pyfunction!(timing::_native_timings, m)?)?;
    m.add("PROOF_LIFETIME_SECONDS", agentcap::PROOF_LIFETIME.as_secs())?;
    Ok(())
}
