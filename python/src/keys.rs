//! `KeyPair` and `PublicKey`: Ed25519 keys for issuers and agents.

use std::path::PathBuf;

use agentcap::{KeyFormat, Overwrite};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{invalid_argument, to_py};

/// A private Ed25519 key with its public half: an issuer's root key or an
/// agent's key. Its `repr` shows only the public key.
#[pyclass(module = "agentcap", frozen, name = "KeyPair")]
pub struct PyKeyPair {
    pub(crate) inner: agentcap::KeyPair,
}

#[pymethods]
impl PyKeyPair {
    /// A new key from the operating system's random source.
    #[staticmethod]
    fn generate() -> Self {
        PyKeyPair {
            inner: agentcap::KeyPair::generate(),
        }
    }

    /// Reads a private key file (`ed25519-private/<hex>`, bare hex or
    /// PKCS#8 PEM), as `agentcap keygen` writes it.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = py
            .detach(|| agentcap::KeyPair::load(&path))
            .map_err(to_py)?;
        Ok(PyKeyPair { inner })
    }

    /// Parses a private key from text (`ed25519-private/<hex>`, bare hex or
    /// PKCS#8 PEM), e.g. from an environment variable.
    #[staticmethod]
    fn from_text(text: &str) -> PyResult<Self> {
        let inner = agentcap::KeyPair::from_text(text).map_err(to_py)?;
        Ok(PyKeyPair { inner })
    }

    /// Writes the private key to `path`, readable by its owner only
    /// (0600), atomically. An existing file is replaced only with
    /// `overwrite=True`; otherwise `KeyFileExists` is raised. `format` is
    /// `"text"` (`ed25519-private/<hex>`, as biscuit-cli writes) or `"pem"`.
    #[pyo3(signature = (path, *, overwrite = false, format = "text"))]
    fn save(&self, py: Python<'_>, path: PathBuf, overwrite: bool, format: &str) -> PyResult<()> {
        let format = match format {
            "text" => KeyFormat::Text,
            "pem" => KeyFormat::Pem,
            _ => return Err(invalid_argument("format must be \"text\" or \"pem\"")),
        };
        let overwrite = if overwrite {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        };
        py.detach(|| self.inner.save(&path, format, overwrite))
            .map_err(to_py)
    }

    /// The public half.
    fn public(&self) -> PyPublicKey {
        PyPublicKey {
            inner: self.inner.public(),
        }
    }

    fn __repr__(&self) -> String {
        format!("KeyPair(public={})", self.inner.public())
    }
}

/// An Ed25519 public key. `str()` gives the text form the CLI prints,
/// `ed25519/<hex>`.
#[pyclass(module = "agentcap", frozen, eq, hash, name = "PublicKey")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyPublicKey {
    pub(crate) inner: agentcap::PublicKey,
}

#[pymethods]
impl PyPublicKey {
    /// Parses `ed25519/<hex>`, bare hex (64 digits) or a PEM public key.
    #[staticmethod]
    fn parse(text: &str) -> PyResult<Self> {
        let inner = agentcap::PublicKey::from_text(text).map_err(to_py)?;
        Ok(PyPublicKey { inner })
    }

    /// Reads a public key file in any form `parse` accepts.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = py
            .detach(|| agentcap::PublicKey::load(&path))
            .map_err(to_py)?;
        Ok(PyPublicKey { inner })
    }

    /// The 32 raw bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("PublicKey('{}')", self.inner)
    }
}

/// Reads a `PublicKey` argument given as a `PublicKey` or as its text form.
pub fn public_key_arg(value: &Bound<'_, PyAny>) -> PyResult<agentcap::PublicKey> {
    if let Ok(key) = value.cast::<PyPublicKey>() {
        return Ok(key.get().inner);
    }
    if let Ok(text) = value.extract::<String>() {
        return agentcap::PublicKey::from_text(&text).map_err(to_py);
    }
    Err(invalid_argument(
        "expected a PublicKey or its text form (ed25519/<hex>)",
    ))
}
