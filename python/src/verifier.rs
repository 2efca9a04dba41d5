//! `Verifier` and `Decision`: what a service runs for each request (root
//! keys, revocation, policies), answering allowed or denied with a stable
//! reason code, the chain and an explanation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentcap_revocation::{
    DEFAULT_MAX_LIST_BYTES, HEAD_FILE, LIST_FILE, RevocationList, RevocationState,
    RevocationStateConfig, TrustedListKeys,
};
use agentcap_verifier::{AccessRequest, Decision, HttpProof, VerifierBuilder};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::chain::PyChain;
use crate::errors::{config_error, invalid_argument};
use crate::keys::public_key_arg;
use crate::proof::PyProofRequest;
use crate::token::{duration_arg, quantities_arg};

/// Adds the trusted root keys: one key (or its text form), or a dict from
/// root key id (an int, or None for tokens naming no id) to key.
fn add_roots(mut builder: VerifierBuilder, roots: &Bound<'_, PyAny>) -> PyResult<VerifierBuilder> {
    if let Ok(roots) = roots.cast::<PyDict>() {
        for (id, key) in roots.iter() {
            let id: Option<u32> = id
                .extract()
                .map_err(|_| invalid_argument("root key ids are integers or None"))?;
            builder = builder.root_key(id, public_key_arg(&key)?);
        }
        return Ok(builder);
    }
    Ok(builder.root_key(None, public_key_arg(roots)?))
}

/// Adds the service's Datalog policies: one string or a sequence of strings.
fn add_policies(
    mut builder: VerifierBuilder,
    policies: &Bound<'_, PyAny>,
) -> PyResult<VerifierBuilder> {
    if let Ok(policy) = policies.extract::<String>() {
        return Ok(builder.policy(policy));
    }
    let bad = || invalid_argument("policies are a string or a sequence of strings");
    for policy in policies.try_iter().map_err(|_| bad())? {
        let policy: String = policy?.extract().map_err(|_| bad())?;
        builder = builder.policy(policy);
    }
    Ok(builder)
}

/// The holder proof an HTTP request carries, as the verifier reads it: the
/// request `ProofRequest` describes (its authority as the `Host`), with the
/// `Signature-Input`, `Signature` and `Content-Digest` of `headers`.
fn http_proof(request: &PyProofRequest, headers: &Bound<'_, PyAny>) -> PyResult<Option<HttpProof>> {
    let target = match &request.query {
        Some(query) => format!("{}?{query}", request.path),
        None => request.path.clone(),
    };
    let mut builder = http::Request::builder()
        .method(request.method.as_str())
        .uri(target)
        .header("host", request.authority.as_str());
    for name in [
        "signature-input",
        "signature",
        "content-digest",
        agentcap_verifier::JOINT_HEADER,
    ] {
        if let Some(value) = header_value(headers, name)? {
            builder = builder.header(name, value);
        }
    }
    let (parts, ()) = builder
        .body(())
        .map_err(|e| invalid_argument(format!("not a valid HTTP request: {e}")))?
        .into_parts();
    Ok(HttpProof::from_request(
        &parts,
        bytes::Bytes::copy_from_slice(&request.body),
    ))
}

/// A header's value from a mapping of names to values, whatever the case
/// of the names.
fn header_value(headers: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<String>> {
    let bad = || invalid_argument("headers are a mapping of str to str");
    let items = headers.call_method0("items").map_err(|_| bad())?;
    for item in items.try_iter()? {
        let (key, value): (String, String) = item?.extract().map_err(|_| bad())?;
        if key.eq_ignore_ascii_case(name) {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// The list file and head file of a revocation source: a published folder
/// (with `list.bin`, or a store folder's `published/`), or a list file.
fn list_files(source: &Path) -> (PathBuf, Option<PathBuf>) {
    if !source.is_dir() {
        return (source.to_path_buf(), None);
    }
    let dir = if source.join(LIST_FILE).is_file() {
        source.to_path_buf()
    } else {
        source.join("published")
    };
    let head = dir.join(HEAD_FILE);
    (dir.join(LIST_FILE), head.is_file().then_some(head))
}

/// Loads a signed revocation list (and its head, if published) from
/// files. With `state_file`, the state persists there, so that an older
/// list is refused across runs; otherwise it is held in memory.
fn load_revocation(
    source: &Path,
    key: agentcap::PublicKey,
    state_file: Option<&Path>,
) -> Result<Arc<RevocationState>, String> {
    let (list, head) = list_files(source);
    let head_bytes = head
        .map(|h| std::fs::read(&h).map_err(|e| format!("reading {}: {e}", h.display())))
        .transpose()?;
    let bytes = std::fs::read(&list)
        .map_err(|e| format!("reading revocation list {}: {e}", list.display()))?;
    let keys = TrustedListKeys::from(key);
    let (decoded, _) = RevocationList::decode_verified(&bytes, &keys, DEFAULT_MAX_LIST_BYTES)
        .map_err(|e| format!("the revocation list does not verify with its public key: {e}"))?;
    let config = RevocationStateConfig::new(decoded.issuer(), keys);
    if let Some(parent) = state_file
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty() && !p.is_dir())
    {
        create_private_dir(parent)?;
    }
    let state = match state_file {
        Some(path) => RevocationState::open(path, config),
        None => RevocationState::in_memory(config),
    }
    .map_err(|e| format!("opening the revocation state: {e}"))?;
    state
        .accept_list(&bytes)
        .map_err(|e| format!("refusing the revocation list {}: {e}", list.display()))?;
    if let Some(head_bytes) = head_bytes {
        // A head that is refused or announces a newer list leaves the
        // state stale: decisions then fail closed (revocation_list_stale).
        let _ = state.accept_head(&head_bytes);
    }
    Ok(Arc::new(state))
}

/// Creates `dir` and its parents, accessible to the owner only.
fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))
}

/// The revocation choice: a list from files, or an explicit opt-out.
fn add_revocation(
    builder: VerifierBuilder,
    py: Python<'_>,
    options: &RevocationOptions,
) -> PyResult<VerifierBuilder> {
    match (&options.list, options.without) {
        (Some(_), true) => Err(invalid_argument(
            "give either revocation_list or without_revocation=True, not both",
        )),
        (None, true) => Ok(builder.without_revocation()),
        (None, false) => Ok(builder),
        (Some(list), false) => {
            if list.starts_with("http://") || list.starts_with("https://") {
                return Err(invalid_argument(
                    "revocation_list: fetching a list over HTTP is not supported from Python yet; \
                     give a folder or file (e.g. synced by `agentcap revocation` tooling)",
                ));
            }
            let key = options
                .key
                .as_ref()
                .ok_or_else(|| invalid_argument("revocation_list needs revocation_public_key"))?;
            let key = public_key_arg(key.bind(py))?;
            let source = PathBuf::from(list);
            let state_file = options.state.clone();
            let state = py
                .detach(|| load_revocation(&source, key, state_file.as_deref()))
                .map_err(invalid_argument)?;
            Ok(builder.revocation(state))
        }
    }
}

/// The revocation arguments of the constructor.
struct RevocationOptions {
    list: Option<String>,
    key: Option<Py<PyAny>>,
    state: Option<PathBuf>,
    without: bool,
}

/// Verifies tokens for a service: trusted root keys, a revocation list (or
/// an explicit opt-out), Datalog policies, and optionally the service's
/// resource identifier, a holder-proof requirement, the clock skew and a
/// maximum depth.
#[pyclass(module = "agentcap", frozen, name = "Verifier")]
pub struct PyVerifier {
    inner: agentcap_verifier::Verifier,
}

#[pymethods]
impl PyVerifier {
    /// Builds a verifier; raises `ConfigError` for an unusable
    /// configuration (no root key; no revocation list and no
    /// `without_revocation=True`; a policy that does not parse).
    #[new]
    #[pyo3(signature = (
        roots, *, policies = None, revocation_list = None, revocation_public_key = None,
        revocation_state = None, without_revocation = false, resource_id = None,
        require_holder_proof = None, clock_skew = None, max_depth = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        roots: &Bound<'_, PyAny>,
        policies: Option<&Bound<'_, PyAny>>,
        revocation_list: Option<PathBuf>,
        revocation_public_key: Option<Py<PyAny>>,
        revocation_state: Option<PathBuf>,
        without_revocation: bool,
        resource_id: Option<String>,
        require_holder_proof: Option<&Bound<'_, PyAny>>,
        clock_skew: Option<&Bound<'_, PyAny>>,
        max_depth: Option<u32>,
    ) -> PyResult<Self> {
        let mut builder = add_roots(agentcap_verifier::Verifier::builder(), roots)?;
        if let Some(policies) = policies {
            builder = add_policies(builder, policies)?;
        }
        let options = RevocationOptions {
            list: revocation_list.map(|p| p.to_string_lossy().into_owned()),
            key: revocation_public_key,
            state: revocation_state,
            without: without_revocation,
        };
        builder = add_revocation(builder, py, &options)?;
        if let Some(resource_id) = resource_id {
            builder = builder.resource_id(resource_id);
        }
        if let Some(max_age) = require_holder_proof {
            builder = builder.require_holder_proof(duration_arg(max_age)?);
        }
        if let Some(skew) = clock_skew {
            builder = builder.clock_skew(duration_arg(skew)?);
        }
        if let Some(depth) = max_depth {
            builder = builder.max_depth(depth);
        }
        let inner = builder.build().map_err(|e| config_error(&e))?;
        Ok(PyVerifier { inner })
    }

    /// Decides whether `token` allows `operation` on `resource` with these
    /// quantities (and call `arguments`, a dict of str, int or bool values).
    /// With `http_request` (a `ProofRequest` for the request as received)
    /// and `http_headers` (its headers), the holder proof it carries is
    /// checked when the verifier requires proofs. With `joint` (the other
    /// principals' tokens), the request is made for several principals and
    /// allowed only if every token allows it (see `docs/joint.md`); a proof
    /// must then cover the `Agentcap-Joint` header given in `http_headers`.
    /// Never raises for a bad token: the decision says why.
    #[pyo3(signature = (
        token, resource, operation, *, arguments = None, http_request = None,
        http_headers = None, joint = None, **quantities
    ))]
    #[allow(clippy::too_many_arguments)]
    fn verify(
        &self,
        py: Python<'_>,
        token: &str,
        resource: &str,
        operation: &str,
        arguments: Option<&Bound<'_, PyDict>>,
        http_request: Option<PyRef<'_, PyProofRequest>>,
        http_headers: Option<&Bound<'_, PyAny>>,
        joint: Option<Vec<String>>,
        quantities: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyDecision> {
        let mut request = AccessRequest::new(resource, operation);
        match (http_request, http_headers) {
            (Some(http_request), Some(headers)) => {
                if let Some(proof) = http_proof(&http_request, headers)? {
                    request = request.holder_proof(proof);
                }
            }
            (None, None) => {}
            _ => {
                return Err(invalid_argument(
                    "give http_request and http_headers together",
                ));
            }
        }
        for (name, value) in quantities_arg(quantities)? {
            request = request.quantity(name, value);
        }
        if let Some(arguments) = arguments {
            request = add_arguments(request, arguments)?;
        }
        let verifier = &self.inner;
        let joint = joint.unwrap_or_default();
        let decision = py.detach(|| verifier.verify_joint(token, &joint, &request));
        Ok(PyDecision { inner: decision })
    }

    /// Decides whether `token` is valid, asking nothing more (for traffic
    /// that acts on nothing).
    fn verify_token_only(&self, py: Python<'_>, token: &str) -> PyDecision {
        let verifier = &self.inner;
        let request = AccessRequest::token_only();
        PyDecision {
            inner: py.detach(|| verifier.verify(token, &request)),
        }
    }

    /// The service's policies, as given.
    #[getter]
    fn policies(&self) -> Vec<String> {
        self.inner.policies().to_vec()
    }
}

/// Adds call arguments: names to str, int or bool values.
fn add_arguments(
    mut request: AccessRequest,
    arguments: &Bound<'_, PyDict>,
) -> PyResult<AccessRequest> {
    use agentcap::FactValue;
    for (name, value) in arguments.iter() {
        let name: String = name.extract()?;
        let value = if value.is_instance_of::<pyo3::types::PyBool>() {
            FactValue::Bool(value.extract()?)
        } else if let Ok(number) = value.extract::<i64>() {
            FactValue::Int(number)
        } else if let Ok(text) = value.extract::<String>() {
            FactValue::Str(text)
        } else {
            return Err(invalid_argument(format!(
                "argument {name:?} must be a str, an int or a bool"
            )));
        };
        request = request.argument(name, value);
    }
    Ok(request)
}

/// The verifier's answer for one request.
#[pyclass(module = "agentcap", frozen, name = "Decision")]
pub struct PyDecision {
    inner: Decision,
}

#[pymethods]
impl PyDecision {
    /// Whether the request is allowed.
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.allowed()
    }

    /// The stable reason code: `allowed`, `policy_denied`, `expired`, ...
    #[getter]
    fn reason(&self) -> &'static str {
        self.inner.reason.code()
    }

    /// The chain, when the token could be read (see `Chain.verified`).
    #[getter]
    fn chain(&self) -> Option<PyChain> {
        self.inner.chain.clone().map(PyChain::new)
    }

    /// Extra detail for reasons that need it.
    #[getter]
    fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }

    /// The block that refused the request, when one did.
    #[getter]
    fn failing_block(&self) -> Option<usize> {
        self.inner.failing_block()
    }

    /// The service policy that matched: (index, text).
    #[getter]
    fn matched_policy(&self) -> Option<(usize, String)> {
        self.inner.matched_policy.clone()
    }

    /// For a joint request: every principal's user, the acting one first
    /// (`"?"` for a token that could not be read); `None` otherwise.
    #[getter]
    fn joint_users(&self) -> Option<Vec<String>> {
        self.inner
            .joint_users()
            .map(|users| users.into_iter().map(str::to_owned).collect())
    }

    /// For a joint request: the position of the first principal whose
    /// token refused (0 is the acting token), if any.
    #[getter]
    fn refused_by(&self) -> Option<usize> {
        self.inner.joint.as_deref().and_then(|j| j.refused_by)
    }

    /// Seconds spent deciding.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.inner.elapsed.as_secs_f64()
    }

    /// The decision in plain words, safe to show on a terminal.
    fn explain(&self) -> String {
        self.inner.explain()
    }

    /// The message to send back to the client (no internal detail).
    fn client_message(&self) -> String {
        self.inner.client_message()
    }

    /// Raises `Denied` (with `.reason` and `.explanation`) unless allowed.
    fn raise_for_denial(&self) -> PyResult<()> {
        if self.inner.allowed() {
            return Ok(());
        }
        let explanation = self.inner.explain();
        Err(crate::errors::denied(
            self.inner.reason.code(),
            &explanation,
        ))
    }

    fn __repr__(&self) -> String {
        format!("Decision(reason={:?})", self.inner.reason.code())
    }
}
