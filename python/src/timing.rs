//! The same operations as `python/bench.py` times from Python, timed inside
//! Rust on the same objects, so that the binding's own cost shows as the
//! difference (on a loaded machine both sides slow down alike).

use std::time::{Instant, SystemTime};

use agentcap::{HolderProof, Request};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{invalid_argument, to_py};
use crate::keys::{PyKeyPair, PyPublicKey};
use crate::proof::PyProofRequest;
use crate::token::{PyGrant, PyHop, PyToken};

/// The best of five runs of `iterations` calls of `op`, in seconds per call.
fn best_of_five(
    iterations: u32,
    mut op: impl FnMut() -> Result<(), agentcap::Error>,
) -> Result<f64, agentcap::Error> {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iterations {
            op()?;
        }
        best = best.min(start.elapsed().as_secs_f64() / f64::from(iterations));
    }
    Ok(best)
}

/// Times mint, a signed hop, a check and a request signature inside Rust
/// (`iterations` calls, best of five): a diagnostic for `python/bench.py`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn _native_timings<'py>(
    py: Python<'py>,
    grant: PyRef<'py, PyGrant>,
    root: PyRef<'py, PyKeyPair>,
    token: PyRef<'py, PyToken>,
    hop: PyRef<'py, PyHop>,
    signer: PyRef<'py, PyKeyPair>,
    root_public: PyRef<'py, PyPublicKey>,
    request: PyRef<'py, PyProofRequest>,
    iterations: u32,
) -> PyResult<Bound<'py, PyDict>> {
    if iterations == 0 {
        return Err(invalid_argument("iterations must be at least 1"));
    }
    let (grant, root, token, hop, signer) = (
        &grant.inner,
        &root.inner,
        &token.inner,
        &hop.inner,
        &signer.inner,
    );
    let root_public = root_public.inner;
    let proof_request = request.as_request();
    let check_request = Request::new("flights/lis/x", "read");
    let timings = py
        .detach(|| {
            Ok::<_, agentcap::Error>([
                (
                    "mint",
                    best_of_five(iterations, || grant.mint(root).map(drop))?,
                ),
                (
                    "signed hop",
                    best_of_five(iterations, || token.delegate(hop, Some(signer)).map(drop))?,
                ),
                (
                    "check",
                    best_of_five(iterations, || token.check(&root_public, &check_request))?,
                ),
                (
                    "sign",
                    best_of_five(iterations, || {
                        HolderProof::sign(signer, &proof_request, SystemTime::now()).map(drop)
                    })?,
                ),
            ])
        })
        .map_err(to_py)?;
    let out = PyDict::new(py);
    for (name, seconds) in timings {
        out.set_item(name, seconds)?;
    }
    Ok(out)
}
