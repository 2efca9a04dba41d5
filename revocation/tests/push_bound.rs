//! The push subscriber bounds what it buffers: a stream sending one endless
//! line is dropped (not parsed over and over as it grows), and the
//! subscriber reconnects and still takes valid events.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "client")]

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use agentcap_revocation::{
    FetchError, Fetcher, RevocationState, RevocationStateConfig, RevocationStore, TrustedListKeys,
};
use common::{ISSUER, block_id, key};

const MAX_EVENT: usize = 64 * 1024;

/// A loopback push server: the first `/events` connection streams one
/// line that never ends; later ones send `event` and close. Anything else
/// is 404. Returns its address and the bytes written on the endless line
/// before the client hung up (once it did).
fn push_server(event: String) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let out = written.clone();
    let connections = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (event, written, connections) = (event.clone(), out.clone(), connections.clone());
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let n = stream.read(&mut request).unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]).into_owned();
                if !request.starts_with("GET /events ") {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                if connections.fetch_add(1, Ordering::SeqCst) > 0 {
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{event}",
                            event.len()
                        )
                        .as_bytes(),
                    );
                    return;
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                      Transfer-Encoding: chunked\r\n\r\n6\r\ndata: \r\n",
                );
                let chunk = format!("{:x}\r\n{}\r\n", 4096, "a".repeat(4096));
                let mut total = 0;
                while stream.write_all(chunk.as_bytes()).is_ok() {
                    total += 4096;
                }
                written.store(total, Ordering::SeqCst);
            });
        }
    });
    (addr, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_line_drops_the_stream_and_the_subscriber_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
    let list_key = key(9);
    let expires = SystemTime::now() + Duration::from_secs(3600);
    store.revoke(&block_id(1), expires, None).unwrap();
    let p1 = store.publish(&list_key, Duration::from_secs(600)).unwrap();
    store.revoke(&block_id(2), expires, None).unwrap();
    let p2 = store.publish(&list_key, Duration::from_secs(600)).unwrap();
    let event = format!("event: delta\ndata: {}\n\n", hex::encode(p2.delta.unwrap()));

    let state = Arc::new(
        RevocationState::in_memory(RevocationStateConfig::new(
            ISSUER,
            TrustedListKeys::from(list_key.public()),
        ))
        .unwrap(),
    );
    state.accept_list(&p1.list).unwrap();
    let (addr, written) = push_server(event);
    let subscriber = Fetcher::builder(&format!("http://{addr}/"))
        .max_event_bytes(MAX_EVENT)
        .build_subscriber(state.clone())
        .unwrap();

    // The endless line: the subscriber gives up on that stream.
    let error = subscriber.run_once().await.unwrap_err();
    assert!(
        matches!(error, FetchError::EventTooLarge { max: MAX_EVENT, .. }),
        "{error}"
    );
    assert_eq!(state.sequence(), Some(1));

    // Reconnecting, it takes the valid event the server sends next.
    let task = tokio::spawn(async move { subscriber.run().await });
    for _ in 0..3_000 {
        if state.sequence() == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    assert_eq!(state.sequence(), Some(2));
    assert_eq!(state.is_revoked(&[block_id(2)]), Some(0));
    // The server stopped writing the endless line soon after the bound:
    // what it managed to write is the bound plus what the socket buffers
    // hold, not an ever-growing line.
    let sent = written.load(Ordering::SeqCst);
    assert!(sent > MAX_EVENT, "sent {sent}");
    assert!(sent < 64 * 1024 * 1024, "sent {sent}");
}

#[test]
fn a_builder_with_zero_timeouts_or_sizes_is_refused() {
    let state = Arc::new(
        RevocationState::in_memory(RevocationStateConfig::new(
            ISSUER,
            TrustedListKeys::from(key(9).public()),
        ))
        .unwrap(),
    );
    let base = "http://127.0.0.1:1/";
    let builders = [
        Fetcher::builder(base).connect_timeout(Duration::ZERO),
        Fetcher::builder(base).timeout(Duration::ZERO),
        Fetcher::builder(base).idle_timeout(Duration::ZERO),
        Fetcher::builder(base).max_event_bytes(0),
    ];
    for builder in builders {
        let error = builder.build(state.clone()).unwrap_err();
        assert!(matches!(error, FetchError::InvalidConfig(_)), "{error}");
    }
    assert!(Fetcher::builder(base).build(state.clone()).is_ok());
    let zero_max = RevocationStateConfig::new(ISSUER, TrustedListKeys::from(key(9).public()))
        .with_max_list_bytes(0);
    assert!(matches!(
        RevocationState::in_memory(zero_max),
        Err(agentcap_revocation::StateError::ZeroMaxListBytes)
    ));
}
