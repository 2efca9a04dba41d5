//! `Grant`, `Hop` and `Token`: minting, delegating, narrowing and the local
//! check. Every operation is the core crate's; this only converts values.

use std::time::Duration;

use agentcap::Request;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use crate::chain::PyChain;
use crate::errors::{CheckContext, check_error, invalid_argument, to_py};
use crate::keys::{PyKeyPair, public_key_arg};

/// Reads a lifetime: seconds (int or float) or a `datetime.timedelta`.
pub fn duration_arg(value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let seconds: f64 = if value.hasattr("total_seconds")? {
        value.call_method0("total_seconds")?.extract()?
    } else {
        value
            .extract()
            .map_err(|_| invalid_argument("a lifetime is seconds or a datetime.timedelta"))?
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(invalid_argument(
            "a lifetime must be a positive number of seconds",
        ));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid_argument("the lifetime is too long"))
}

/// Reads `**quantities`: names to integers (booleans are refused).
pub fn quantities_arg(quantities: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, i64)>> {
    let Some(quantities) = quantities else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(quantities.len());
    for (name, value) in quantities.iter() {
        let name: String = name.extract()?;
        if value.is_instance_of::<pyo3::types::PyBool>() {
            return Err(invalid_argument(format!(
                "quantity {name:?} must be an integer, not a boolean"
            )));
        }
        let value: i64 = value.extract().map_err(|_| {
            invalid_argument(format!(
                "quantity {name:?} must be an integer in the i64 range"
            ))
        })?;
        out.push((name, value));
    }
    Ok(out)
}

/// What a user delegates to an agent. Setters return the grant itself, so
/// they chain; everything is validated by `mint`.
#[pyclass(module = "agentcap", name = "Grant")]
pub struct PyGrant {
    pub(crate) inner: agentcap::Grant,
}

impl PyGrant {
    fn update(
        mut slf: PyRefMut<'_, Self>,
        f: impl FnOnce(agentcap::Grant) -> agentcap::Grant,
    ) -> PyRefMut<'_, Self> {
        let grant = std::mem::replace(&mut slf.inner, agentcap::Grant::new("", ""));
        slf.inner = f(grant);
        slf
    }
}

#[pymethods]
impl PyGrant {
    /// A grant from `user` to `agent`, valid for one hour, at most three hops deep.
    #[new]
    fn new(user: String, agent: String) -> Self {
        PyGrant {
            inner: agentcap::Grant::new(user, agent),
        }
    }

    /// Grants `operation` on `resource` (a name, or a pattern ending in `/*`).
    fn right(slf: PyRefMut<'_, Self>, resource: String, operation: String) -> PyRefMut<'_, Self> {
        Self::update(slf, |g| g.right(resource, operation))
    }

    /// Caps quantity `name` at `max` for the rights `scope` covers
    /// (`RESOURCE:OPERATION`).
    fn cap(slf: PyRefMut<'_, Self>, scope: String, name: String, max: i64) -> PyRefMut<'_, Self> {
        Self::update(slf, |g| g.cap(scope, name, max))
    }

    /// Bounds quantity `name` below, above, or both.
    #[pyo3(signature = (scope, name, min = None, max = None))]
    fn cap_range(
        slf: PyRefMut<'_, Self>,
        scope: String,
        name: String,
        min: Option<i64>,
        max: Option<i64>,
    ) -> PyRefMut<'_, Self> {
        Self::update(slf, |g| g.cap_range(scope, name, min, max))
    }

    /// Restricts the token to a resource (an RFC 8707 resource indicator, an
    /// absolute http(s) URI). Repeatable.
    fn audience(slf: PyRefMut<'_, Self>, uri: String) -> PyRefMut<'_, Self> {
        Self::update(slf, |g| g.audience(uri))
    }

    /// The user's tenant.
    fn tenant(slf: PyRefMut<'_, Self>, tenant: String) -> PyRefMut<'_, Self> {
        Self::update(slf, |g| g.tenant(tenant))
    }

    /// Binds the agent to its key: its hops must then be signed with it,
    /// and a service may require it to sign each request.
    fn agent_key<'py>(
        slf: PyRefMut<'py, Self>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let key = public_key_arg(key)?;
        Ok(Self::update(slf, |g| g.agent_key(key)))
    }

    /// The lifetime: seconds or a `datetime.timedelta`.
    fn ttl<'py>(
        slf: PyRefMut<'py, Self>,
        ttl: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let ttl = duration_arg(ttl)?;
        Ok(Self::update(slf, |g| g.ttl(ttl)))
    }

    /// The greatest number of hops below this grant.
    fn max_depth(slf: PyRefMut<'_, Self>, max_depth: u32) -> PyRefMut<'_, Self> {
        Self::update(slf, |g| g.max_depth(max_depth))
    }

    /// What the user approved, in their words.
    fn intent(slf: PyRefMut<'_, Self>, intent: String) -> PyRefMut<'_, Self> {
        Self::update(slf, |g| g.intent(intent))
    }

    /// The root key id the token names (for key rotation).
    fn root_key_id(slf: PyRefMut<'_, Self>, id: u32) -> PyRefMut<'_, Self> {
        Self::update(slf, |g| g.root_key_id(id))
    }

    /// Validates the grant and signs it with the issuer's root key.
    fn mint(&self, py: Python<'_>, root: PyRef<'_, PyKeyPair>) -> PyResult<PyToken> {
        let root = &root.inner;
        let grant = &self.inner;
        let token = py.detach(|| grant.mint(root)).map_err(to_py)?;
        Ok(PyToken { inner: token })
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// A delegation to a sub-agent: a subset of the holder's rights, optionally
/// a shorter life, a lower depth limit, tighter caps and a key.
#[pyclass(module = "agentcap", name = "Hop")]
pub struct PyHop {
    pub(crate) inner: agentcap::Hop,
}

impl PyHop {
    fn update(
        mut slf: PyRefMut<'_, Self>,
        f: impl FnOnce(agentcap::Hop) -> agentcap::Hop,
    ) -> PyRefMut<'_, Self> {
        let hop = std::mem::replace(&mut slf.inner, agentcap::Hop::to(""));
        slf.inner = f(hop);
        slf
    }
}

#[pymethods]
impl PyHop {
    /// A hop to the agent `agent`.
    #[new]
    fn new(agent: String) -> Self {
        PyHop {
            inner: agentcap::Hop::to(agent),
        }
    }

    /// A hop to the agent `agent` (as in Rust, `Hop::to`).
    #[classmethod]
    fn to(_cls: &Bound<'_, PyType>, agent: String) -> Self {
        Self::new(agent)
    }

    /// Passes on `operation` on `resource`, which the holder must hold.
    fn right(slf: PyRefMut<'_, Self>, resource: String, operation: String) -> PyRefMut<'_, Self> {
        Self::update(slf, |h| h.right(resource, operation))
    }

    /// Caps quantity `name` at `max` (no looser than the parent's cap).
    fn cap(slf: PyRefMut<'_, Self>, scope: String, name: String, max: i64) -> PyRefMut<'_, Self> {
        Self::update(slf, |h| h.cap(scope, name, max))
    }

    /// Bounds quantity `name` below, above, or both.
    #[pyo3(signature = (scope, name, min = None, max = None))]
    fn cap_range(
        slf: PyRefMut<'_, Self>,
        scope: String,
        name: String,
        min: Option<i64>,
        max: Option<i64>,
    ) -> PyRefMut<'_, Self> {
        Self::update(slf, |h| h.cap_range(scope, name, min, max))
    }

    /// Restricts the hop to a resource (within the audiences in force).
    fn audience(slf: PyRefMut<'_, Self>, uri: String) -> PyRefMut<'_, Self> {
        Self::update(slf, |h| h.audience(uri))
    }

    /// Binds the new holder to its key.
    fn agent_key<'py>(
        slf: PyRefMut<'py, Self>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let key = public_key_arg(key)?;
        Ok(Self::update(slf, |h| h.agent_key(key)))
    }

    /// A lifetime shorter than the parent's: seconds or a `datetime.timedelta`.
    fn ttl<'py>(
        slf: PyRefMut<'py, Self>,
        ttl: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let ttl = duration_arg(ttl)?;
        Ok(Self::update(slf, |h| h.ttl(ttl)))
    }

    /// A lower maximum depth.
    fn max_depth(slf: PyRefMut<'_, Self>, max_depth: u32) -> PyRefMut<'_, Self> {
        Self::update(slf, |h| h.max_depth(max_depth))
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// An agentcap token (a Biscuit v3 token): the user's grant and every hop
/// and narrowing after it.
#[pyclass(module = "agentcap", frozen, name = "Token")]
pub struct PyToken {
    pub(crate) inner: agentcap::Token,
}

#[pymethods]
impl PyToken {
    /// Reads a token (URL-safe base64). With `root`, its signatures are
    /// verified against that root public key (else `InvalidToken`);
    /// without, the chain is read but nothing in it is proven.
    #[staticmethod]
    #[pyo3(signature = (text, root = None))]
    fn from_base64(py: Python<'_>, text: &str, root: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let root = root.map(public_key_arg).transpose()?;
        let text = text.trim();
        let token = py
            .detach(|| match root {
                Some(root) => agentcap::Token::verify_base64(text, &root),
                None => agentcap::Token::from_base64(text),
            })
            .map_err(to_py)?;
        Ok(PyToken { inner: token })
    }

    /// The token as URL-safe base64, as the CLI prints it.
    fn to_base64(&self) -> PyResult<String> {
        self.inner.to_base64().map_err(to_py)
    }

    /// Delegates to a sub-agent. `signer` is the current holder's key; it
    /// is required when the holder is bound to a key.
    #[pyo3(signature = (hop, signer = None))]
    fn delegate(
        &self,
        py: Python<'_>,
        hop: PyRef<'_, PyHop>,
        signer: Option<PyRef<'_, PyKeyPair>>,
    ) -> PyResult<PyToken> {
        let hop = &hop.inner;
        let signer = signer.as_ref().map(|s| &s.inner);
        let token = &self.inner;
        let child = py.detach(|| token.delegate(hop, signer)).map_err(to_py)?;
        Ok(PyToken { inner: child })
    }

    /// Restricts the token to one resource and operation for `ttl` (seconds
    /// or a timedelta; 30 seconds by default), before a tool call.
    #[pyo3(signature = (resource, operation, ttl = None))]
    fn narrow(
        &self,
        py: Python<'_>,
        resource: &str,
        operation: &str,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyToken> {
        let ttl = ttl
            .map(duration_arg)
            .transpose()?
            .unwrap_or(Duration::from_secs(30));
        let token = &self.inner;
        let narrowed = py
            .detach(|| token.narrow(resource, operation, ttl))
            .map_err(to_py)?;
        Ok(PyToken { inner: narrowed })
    }

    /// Seals the token: it can no longer be attenuated.
    fn seal(&self, py: Python<'_>) -> PyResult<PyToken> {
        let token = &self.inner;
        let sealed = py.detach(|| token.seal()).map_err(to_py)?;
        Ok(PyToken { inner: sealed })
    }

    /// Appends a third party's signed statement.
    fn attest(
        &self,
        py: Python<'_>,
        signer: PyRef<'_, PyKeyPair>,
        statement: &str,
    ) -> PyResult<PyToken> {
        let signer = &signer.inner;
        let token = &self.inner;
        let attested = py
            .detach(|| token.attest(signer, statement))
            .map_err(to_py)?;
        Ok(PyToken { inner: attested })
    }

    /// The chain: who delegated to whom, with what, proven or claimed.
    fn chain(&self) -> PyChain {
        PyChain::new(self.inner.shared_chain())
    }

    /// Whether the token's signatures were verified against a root key.
    #[getter]
    fn is_verified(&self) -> bool {
        self.inner.is_verified()
    }

    /// The local check: would this token, verified against `root`, allow
    /// `operation` on `resource` with these quantities? Returns None, or
    /// raises `Denied` (with `.reason` and `.explanation`), `InvalidToken`
    /// or `InvalidArgument`. `audience` is the service's resource id.
    #[pyo3(signature = (root, resource, operation, *, audience = None, **quantities))]
    fn check(
        &self,
        py: Python<'_>,
        root: &Bound<'_, PyAny>,
        resource: &str,
        operation: &str,
        audience: Option<String>,
        quantities: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let root = public_key_arg(root)?;
        let mut request = Request::new(resource, operation);
        for (name, value) in quantities_arg(quantities)? {
            request = request.quantity(name, value);
        }
        if let Some(audience) = audience {
            request = request.audience(audience);
        }
        let token = &self.inner;
        py.detach(|| token.check(&root, &request)).map_err(|e| {
            check_error(
                e,
                CheckContext {
                    chain: token.shared_chain(),
                    resource,
                    operation,
                },
            )
        })
    }

    fn __repr__(&self) -> String {
        let chain = self.inner.chain();
        format!(
            "Token(user={:?}, agents={:?}, verified={})",
            chain.user,
            chain.agents(),
            chain.verified
        )
    }
}
