//! End to end over loopback HTTP: the axum feed, the push stream, the
//! polling fetcher, static exports, server restarts and bad responses.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "server", feature = "client"))]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentcap_revocation::{
    AcceptOutcome, FetchError, Fetcher, RevocationFeed, RevocationState, RevocationStateConfig,
    RevocationStore, Subscriber, TrustedListKeys, router,
};
use axum::Router;
use axum::routing::get;
use common::{ISSUER, block_id, key};

/// An HTTP server on its own runtime and thread, so stopping it drops every
/// open connection (as a process restart would).
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(app: Router, addr: Option<SocketAddr>) -> Self {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.set_reuseaddr(true).unwrap();
                socket
                    .bind(addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()))
                    .unwrap();
                let listener = socket.listen(128).unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stop_rx => {}
                }
            });
            rt.shutdown_background();
        });
        let addr = addr_rx.recv().unwrap();
        Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn stop(mut self) -> SocketAddr {
        self.shutdown();
        self.addr
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits for `cond`, polling. The bound is a liveness guard for a hung
/// test, not a performance assertion.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..3_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

struct Issuer {
    _dir: tempfile::TempDir,
    store: RevocationStore,
    key: agentcap::KeyPair,
}

impl Issuer {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
        Self {
            _dir: dir,
            store,
            key: key(8),
        }
    }

    fn revoke_and_publish(&self, n: u32) -> agentcap_revocation::Publication {
        self.store
            .revoke(
                &block_id(n),
                SystemTime::now() + Duration::from_secs(3600),
                None,
            )
            .unwrap();
        self.store
            .publish(&self.key, Duration::from_secs(600))
            .unwrap()
    }

    fn verifier(&self) -> Arc<RevocationState> {
        Arc::new(
            RevocationState::in_memory(RevocationStateConfig::new(
                ISSUER,
                TrustedListKeys::from(self.key.public()),
            ))
            .unwrap(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_revocation_reaches_subscribed_and_polling_verifiers() {
    let issuer = Issuer::new();
    issuer.revoke_and_publish(1);
    let feed = RevocationFeed::from_store(&issuer.store).unwrap();
    let server = Server::start(router(feed.clone()), None);

    let pushed = issuer.verifier();
    let subscriber = Subscriber::new(&server.url(), pushed.clone()).unwrap();
    let task = tokio::spawn(async move { subscriber.run().await });
    let polled = issuer.verifier();
    let fetcher = Fetcher::new(&server.url(), polled.clone()).unwrap();

    assert_eq!(
        fetcher.poll_once().await.unwrap(),
        AcceptOutcome::Updated { from: None, to: 1 }
    );
    eventually("subscriber holds list 1", || pushed.sequence() == Some(1)).await;

    // A new revocation is published and announced: the push stream carries
    // the delta to the subscriber; the poller picks it up on its next poll.
    let p2 = issuer.revoke_and_publish(2);
    assert!(p2.delta.is_some());
    feed.announce(&p2);
    eventually("subscriber sees revocation 2", || {
        pushed.is_revoked(&[block_id(2)]) == Some(0)
    })
    .await;
    assert_eq!(pushed.sequence(), Some(2));
    assert_eq!(
        fetcher.poll_once().await.unwrap(),
        AcceptOutcome::Updated {
            from: Some(1),
            to: 2
        }
    );
    assert_eq!(polled.is_revoked(&[block_id(2)]), Some(0));
    assert_eq!(polled.digest(), pushed.digest());

    // Nothing new: the head answers 304 and nothing changes.
    assert_eq!(fetcher.poll_once().await.unwrap(), AcceptOutcome::Unchanged);

    // Far behind (more publications than delta steps): the poller fetches
    // the full list.
    let fetcher = fetcher.with_max_delta_steps(2);
    let mut last = None;
    for n in 3..8 {
        let p = issuer.revoke_and_publish(n);
        feed.announce(&p);
        last = Some(p);
    }
    let last = last.unwrap();
    assert_eq!(
        fetcher.poll_once().await.unwrap(),
        AcceptOutcome::Updated {
            from: Some(2),
            to: last.sequence
        }
    );
    eventually("subscriber follows every publication", || {
        pushed.sequence() == Some(last.sequence)
    })
    .await;
    assert_eq!(polled.digest(), pushed.digest());

    // A re-signed head extends freshness for both.
    let before = pushed.next_update().unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let head = issuer
        .store
        .refresh_head(&issuer.key, Duration::from_secs(900))
        .unwrap();
    feed.announce_head(head);
    eventually("subscriber takes the new head", || {
        pushed.next_update().unwrap() > before
    })
    .await;
    assert!(matches!(
        fetcher.poll_once().await.unwrap(),
        AcceptOutcome::Refreshed { .. }
    ));
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_survives_a_server_restart_and_catches_up() {
    let issuer = Issuer::new();
    issuer.revoke_and_publish(1);
    let server = Server::start(
        router(RevocationFeed::from_store(&issuer.store).unwrap()),
        None,
    );
    let url = server.url();
    let pushed = issuer.verifier();
    let subscriber = Subscriber::new(&url, pushed.clone()).unwrap();
    let task = tokio::spawn(async move { subscriber.run().await });
    eventually("subscriber holds list 1", || pushed.sequence() == Some(1)).await;

    let addr = server.stop();
    // Published while the server is down.
    issuer.revoke_and_publish(2);
    let _server = Server::start(
        router(RevocationFeed::from_store(&issuer.store).unwrap()),
        Some(addr),
    );
    eventually("subscriber reconnects and catches up", || {
        pushed.sequence() == Some(2)
    })
    .await;
    assert_eq!(pushed.is_revoked(&[block_id(2)]), Some(0));
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_responses_are_refused_and_the_state_kept() {
    let issuer = Issuer::new();
    let p1 = issuer.revoke_and_publish(1);
    let state = issuer.verifier();
    state.accept_list(&p1.list).unwrap();
    let p2 = issuer.revoke_and_publish(2);

    // A head signed by another key.
    let forged_head = {
        let list = agentcap_revocation::RevocationList::new(
            ISSUER,
            9,
            SystemTime::now(),
            SystemTime::now() + Duration::from_secs(60),
            vec![],
        )
        .unwrap();
        agentcap_revocation::ListHead::new(
            ISSUER,
            9,
            list.digest(),
            SystemTime::now(),
            SystemTime::now() + Duration::from_secs(60),
        )
        .unwrap()
        .sign(&key(99))
        .unwrap()
    };
    let bad = Server::start(
        Router::new().route("/head.bin", get(move || async move { forged_head.clone() })),
        None,
    );
    let fetcher = Fetcher::new(&bad.url(), state.clone()).unwrap();
    assert!(matches!(
        fetcher.poll_once().await,
        Err(FetchError::Refused { .. })
    ));

    // A valid head but a truncated list and no deltas.
    let (head, list) = (p2.head.clone(), p2.list[..p2.list.len() / 2].to_vec());
    let truncating = Server::start(
        Router::new()
            .route("/head.bin", get(move || async move { head.clone() }))
            .route("/list.bin", get(move || async move { list.clone() })),
        None,
    );
    let fetcher = Fetcher::new(&truncating.url(), state.clone()).unwrap();
    assert!(matches!(
        fetcher.poll_once().await,
        Err(FetchError::Refused { .. })
    ));

    // A server that fails.
    let failing = Server::start(
        Router::new().route(
            "/head.bin",
            get(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        ),
        None,
    );
    let fetcher = Fetcher::new(&failing.url(), state.clone()).unwrap();
    assert!(matches!(
        fetcher.poll_once().await,
        Err(FetchError::Status { status: 500, .. })
    ));
    assert_eq!(state.sequence(), Some(1));

    // A good server afterwards: the same state recovers.
    let good = Server::start(
        router(RevocationFeed::from_store(&issuer.store).unwrap()),
        None,
    );
    let fetcher = Fetcher::new(&good.url(), state.clone()).unwrap();
    fetcher.poll_once().await.unwrap();
    assert_eq!(state.sequence(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_answers_carry_etags_cache_control_and_delta_chains() {
    let issuer = Issuer::new();
    let p1 = issuer.revoke_and_publish(1);
    let feed = RevocationFeed::from_store(&issuer.store).unwrap();
    let server = Server::start(router(feed.clone()), None);
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", server.url()));

    let head = get("head.bin").send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["cache-control"], "no-cache");
    let etag = head.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(head.bytes().await.unwrap().as_ref(), p1.head.as_slice());
    let again = get("head.bin")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let list = get("list.bin").send().await.unwrap();
    assert_eq!(list.bytes().await.unwrap().as_ref(), p1.list.as_slice());

    for n in 2..5 {
        feed.announce(&issuer.revoke_and_publish(n));
    }
    let changed = get("head.bin")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);

    let delta = get("deltas/1.bin").send().await.unwrap();
    assert_eq!(delta.status(), 200);
    assert!(
        delta.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(get("deltas/99.bin").send().await.unwrap().status(), 404);

    let state = issuer.verifier();
    state.accept_list(&p1.list).unwrap();
    let chain = get("delta?since=1").send().await.unwrap();
    assert_eq!(chain.status(), 200);
    let chain = chain.bytes().await.unwrap();
    assert_eq!(
        state.accept_delta_chain(&chain).unwrap(),
        AcceptOutcome::Updated {
            from: Some(1),
            to: 4
        }
    );
    assert_eq!(get("delta?since=9").send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_garbled_pushes_are_refused_and_the_state_kept() {
    let issuer = Issuer::new();
    let p1 = issuer.revoke_and_publish(1);
    let state = issuer.verifier();
    state.accept_list(&p1.list).unwrap();
    let p2 = issuer.revoke_and_publish(2);
    let mut forged = p2.delta.clone().unwrap();
    let at = forged.len() / 2;
    forged[at] ^= 1;
    let body = format!(
        "event: delta\ndata: {}\n\nevent: delta\ndata: zz-not-hex\n\nevent: head\ndata: 00ff\n\n",
        hex::encode(&forged)
    );
    let bad = Server::start(
        Router::new().route(
            "/events",
            get(move || async move { ([("content-type", "text/event-stream")], body.clone()) }),
        ),
        None,
    );
    let subscriber = Subscriber::new(&bad.url(), state.clone()).unwrap();
    // The stream ends after the three events; each was refused.
    subscriber.run_once().await.unwrap();
    assert_eq!(state.sequence(), Some(1));
    assert_eq!(state.is_revoked(&[block_id(2)]), None);
}

/// Serves a folder as static files, like any web server or CDN would.
fn static_files(root: PathBuf) -> Router {
    Router::new().route(
        "/{*path}",
        get(
            move |axum::extract::Path(path): axum::extract::Path<String>| {
                let root = root.clone();
                async move {
                    if path.split('/').any(|c| c == ".." || c.is_empty()) {
                        return Err(axum::http::StatusCode::BAD_REQUEST);
                    }
                    std::fs::read(root.join(path)).map_err(|_| axum::http::StatusCode::NOT_FOUND)
                }
            },
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_follows_an_exported_folder_behind_a_plain_web_server() {
    let issuer = Issuer::new();
    let out = tempfile::tempdir().unwrap();
    issuer.revoke_and_publish(1);
    issuer.store.export_to(out.path()).unwrap();
    let server = Server::start(static_files(out.path().to_path_buf()), None);
    let state = issuer.verifier();
    let fetcher = Fetcher::new(&server.url(), state.clone()).unwrap();
    fetcher.poll_once().await.unwrap();
    assert_eq!(state.sequence(), Some(1));

    issuer.revoke_and_publish(2);
    issuer.revoke_and_publish(3);
    issuer.store.export_to(out.path()).unwrap();
    assert_eq!(
        fetcher.poll_once().await.unwrap(),
        AcceptOutcome::Updated {
            from: Some(1),
            to: 3
        }
    );
    assert_eq!(state.is_revoked(&[block_id(3)]), Some(0));
}

/// A loopback server that answers every request with 200 and a chunked
/// body that never ends (until the client hangs up).
fn endless_body_server() -> SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
                while stream.write_all(chunk.as_bytes()).is_ok() {}
            });
        }
    });
    addr
}

/// A loopback server that accepts connections and never answers.
fn silent_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_is_cut_off_with_a_size_error() {
    let addr = endless_body_server();
    let issuer = Issuer::new();
    let url = format!("http://{addr}/");
    let fetcher = Fetcher::new(&url, issuer.verifier()).unwrap();
    let error = fetcher.poll_once().await.unwrap_err();
    assert!(matches!(error, FetchError::TooLarge { .. }), "{error}");
    let error = Fetcher::builder(&url)
        .fetch_head(&TrustedListKeys::from(issuer.key.public()))
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::TooLarge { .. }), "{error}");
    assert_eq!(fetcher.state().sequence(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_fails_with_a_timeout() {
    let addr = silent_server();
    let issuer = Issuer::new();
    let fetcher = Fetcher::builder(&format!("http://{addr}/"))
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_millis(300))
        .build(issuer.verifier())
        .unwrap();
    let error = fetcher.poll_once().await.unwrap_err();
    assert!(matches!(error, FetchError::Timeout { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_withholding_the_announced_list_makes_the_state_fail_closed() {
    let issuer = Issuer::new();
    issuer.revoke_and_publish(1);
    let exported = tempfile::tempdir().unwrap();
    issuer.store.export_to(exported.path()).unwrap();
    let old_list = std::fs::read(exported.path().join("list.bin")).unwrap();
    issuer.revoke_and_publish(2);
    issuer.store.export_to(exported.path()).unwrap();
    // The relay serves the new head, but the old list and no deltas.
    std::fs::write(exported.path().join("list.bin"), &old_list).unwrap();
    std::fs::remove_dir_all(exported.path().join("deltas")).unwrap();
    let server = Server::start(static_files(exported.path().to_path_buf()), None);
    let state = issuer.verifier();
    let fetcher = Fetcher::new(&server.url(), state.clone()).unwrap();
    let error = fetcher.poll_once().await.unwrap_err();
    assert!(matches!(error, FetchError::StillBehind { .. }), "{error}");
    assert!(state.sequence().is_some());
    assert!(state.superseded_by().is_some());
    assert!(
        state.check(&[block_id(9)], SystemTime::now()).is_err(),
        "an old list is not used once a newer one is known"
    );
}
