//! What the gateway's tests share: keys, a verifier, an upstream that
//! tells what it received, and a running gateway. Real HTTP on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentcap::KeyPair;
use agentcap_gateway::{Gateway, GatewayBuilder};
use agentcap_verifier::{AuditError, AuditRecord, AuditSink, Verifier};
use axum::Router;

/// Binds 127.0.0.1 on a port the system picks and serves `app` there.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A verifier trusting `root`, without revocation, with `policies`.
pub fn verifier(root: &KeyPair, policies: &[&str]) -> Verifier {
    let mut builder = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation();
    for policy in policies {
        builder = builder.policy(*policy);
    }
    builder.build().unwrap()
}

/// Starts the gateway `configure` makes for `upstream`; its base URL.
pub async fn gateway(
    upstream: &str,
    verifier: Verifier,
    configure: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
) -> String {
    let gateway: Gateway = configure(Gateway::builder(upstream, verifier))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { gateway.serve(listener).await });
    format!("http://{addr}")
}

/// Counts the requests that reached an upstream.
#[derive(Clone, Default)]
pub struct Hits(pub Arc<AtomicUsize>);

impl Hits {
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Keeps every audit record in memory.
#[derive(Default)]
pub struct Records(pub std::sync::Mutex<Vec<AuditRecord>>);

impl AuditSink for Records {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.0.lock().unwrap().push(record.clone());
        Ok(())
    }
}

impl Records {
    pub fn all(&self) -> Vec<AuditRecord> {
        self.0.lock().unwrap().clone()
    }
}
