//! Holder proofs: the holder of a key-bound token signs each HTTP request
//! (RFC 9421 message signature), in the wire form the verifier checks.

use std::time::{Duration, SystemTime};

use agentcap::{HolderProof, ProofRequest};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::chain::unix_seconds;
use crate::errors::{invalid_argument, to_py};
use crate::keys::{PyKeyPair, public_key_arg};
use crate::token::duration_arg;

/// The parts of an HTTP request a holder proof covers: the method, the
/// service's authority (`host[:port]`, default port omitted), the path and
/// query as sent, the token as presented, and the body.
#[pyclass(module = "agentcap", frozen, name = "ProofRequest")]
pub struct PyProofRequest {
    pub(crate) method: String,
    pub(crate) authority: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) token: String,
    pub(crate) body: Vec<u8>,
}

impl PyProofRequest {
    pub(crate) fn as_request(&self) -> ProofRequest<'_> {
        ProofRequest {
            method: &self.method,
            authority: &self.authority,
            path: &self.path,
            query: self.query.as_deref(),
            token: &self.token,
            body: &self.body,
        }
    }
}

#[pymethods]
impl PyProofRequest {
    /// A request to sign or check; `query` is without the `?` (None when
    /// the URL has none).
    #[new]
    #[pyo3(signature = (method, authority, path, token, *, query = None, body = None))]
    fn new(
        method: String,
        authority: String,
        path: String,
        token: String,
        query: Option<String>,
        body: Option<&[u8]>,
    ) -> Self {
        PyProofRequest {
            method,
            authority,
            path,
            query,
            token,
            body: body.unwrap_or_default().to_vec(),
        }
    }

    /// A request for `url` (http or https), split as the CLI's
    /// `agentcap prove` splits it: the host lowercased, the scheme's
    /// default port dropped.
    #[staticmethod]
    #[pyo3(signature = (method, url, token, body = None))]
    fn from_url(method: String, url: &str, token: String, body: Option<&[u8]>) -> PyResult<Self> {
        let parsed =
            url::Url::parse(url.trim()).map_err(|e| invalid_argument(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid_argument("only http and https URLs can be signed"));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| invalid_argument("the URL has no host"))?;
        let authority = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(PyProofRequest {
            method,
            authority,
            path: parsed.path().to_owned(),
            query: parsed.query().map(str::to_owned),
            token,
            body: body.unwrap_or_default().to_vec(),
        })
    }

    /// The method.
    #[getter]
    fn method(&self) -> &str {
        &self.method
    }

    /// The authority (`host[:port]`).
    #[getter]
    fn authority(&self) -> &str {
        &self.authority
    }

    /// The path, as sent.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// The query, as sent, without the `?`.
    #[getter]
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

/// The headers that prove possession of the token's key for one request.
#[pyclass(module = "agentcap", frozen, name = "ProofHeaders")]
pub struct PyProofHeaders {
    /// `Authorization: Bearer <token>`.
    #[pyo3(get)]
    authorization: String,
    /// The `Signature-Input` value.
    #[pyo3(get)]
    signature_input: String,
    /// The `Signature` value.
    #[pyo3(get)]
    signature: String,
    /// The `Content-Digest` value (SHA-256 of the body).
    #[pyo3(get)]
    content_digest: String,
}

#[pymethods]
impl PyProofHeaders {
    /// The four headers, by name, to add to the request.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let headers = PyDict::new(py);
        headers.set_item("Authorization", &self.authorization)?;
        headers.set_item("Content-Digest", &self.content_digest)?;
        headers.set_item("Signature-Input", &self.signature_input)?;
        headers.set_item("Signature", &self.signature)?;
        Ok(headers)
    }

    fn __repr__(&self) -> String {
        format!("ProofHeaders(signature_input={:?})", self.signature_input)
    }
}

/// Signs and verifies holder proofs.
#[pyclass(module = "agentcap", frozen, name = "HolderProof")]
pub struct PyHolderProof;

#[pymethods]
impl PyHolderProof {
    /// Signs `request` with the holder's key, now, with a fresh random
    /// nonce; the proof expires 60 seconds later.
    #[staticmethod]
    fn sign(
        py: Python<'_>,
        holder: PyRef<'_, PyKeyPair>,
        request: PyRef<'_, PyProofRequest>,
    ) -> PyResult<PyProofHeaders> {
        let holder = &holder.inner;
        let proof_request = request.as_request();
        let headers = py
            .detach(|| HolderProof::sign(holder, &proof_request, SystemTime::now()))
            .map_err(to_py)?;
        Ok(PyProofHeaders {
            authorization: format!("Bearer {}", request.token),
            signature_input: headers.signature_input,
            signature: headers.signature,
            content_digest: headers.content_digest,
        })
    }

    /// Checks a proof against the request as the service received it,
    /// for the holder key the token binds. Returns `{"nonce", "created",
    /// "replay_until"}` (times in unix seconds); the caller must refuse a
    /// nonce it has already accepted until `replay_until`. Raises
    /// `InvalidHolderProof`.
    #[staticmethod]
    #[pyo3(signature = (signature_input, signature, content_digest, holder, request, *, max_age = None, clock_skew = None))]
    #[allow(clippy::too_many_arguments)]
    fn verify<'py>(
        py: Python<'py>,
        signature_input: &str,
        signature: &str,
        content_digest: Option<&str>,
        holder: &Bound<'py, PyAny>,
        request: PyRef<'py, PyProofRequest>,
        max_age: Option<&Bound<'py, PyAny>>,
        clock_skew: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let holder = public_key_arg(holder)?;
        let max_age = max_age
            .map(duration_arg)
            .transpose()?
            .unwrap_or(Duration::from_secs(60));
        let skew = clock_skew
            .map(duration_arg)
            .transpose()?
            .unwrap_or(Duration::from_secs(5));
        let proof_request = request.as_request();
        let verified = py
            .detach(|| {
                HolderProof::verify(
                    signature_input,
                    signature,
                    content_digest,
                    &holder,
                    &proof_request,
                    SystemTime::now(),
                    max_age,
                    skew,
                )
            })
            .map_err(to_py)?;
        let out = PyDict::new(py);
        out.set_item("nonce", verified.nonce)?;
        out.set_item("created", unix_seconds(verified.created))?;
        out.set_item("replay_until", unix_seconds(verified.replay_until))?;
        Ok(out)
    }
}
