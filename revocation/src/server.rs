//! Serving published objects over HTTP (axum): head, list, deltas with
//! ETag / If-None-Match and Cache-Control, and a server-sent-events push
//! stream.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::error::StoreError;
use crate::store::{DELTAS_KEPT, Publication, RevocationStore};

use crate::store::{EVENT_DELTA, EVENT_HEAD};

const CACHE_REVALIDATE: &str = "no-cache";
const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[derive(Clone)]
struct Object {
    bytes: Bytes,
    etag: HeaderValue,
}

impl Object {
    fn new(kind: &str, bytes: Vec<u8>) -> Self {
        let sum = Sha256::digest(&bytes);
        let tag = format!("\"{kind}-{}\"", hex::encode(&sum[..12]));
        Self {
            bytes: Bytes::from(bytes),
            // A quoted hex string is always a valid header value.
            etag: HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"x\"")),
        }
    }
}

#[derive(Clone, Default)]
struct Snapshot {
    sequence: Option<u64>,
    list: Option<Object>,
    head: Option<Object>,
    /// Delta from N to N + 1, by N.
    deltas: BTreeMap<u64, Object>,
}

#[derive(Clone)]
enum Push {
    Delta(Bytes),
    Head(Bytes),
}

struct FeedInner {
    snapshot: RwLock<Snapshot>,
    push: broadcast::Sender<Push>,
}

/// What the HTTP endpoints serve: the current signed head and list, the
/// recent deltas, and the push channel. Cheap to clone (an `Arc` inside).
///
/// Whoever publishes calls [`announce`](Self::announce) (or
/// [`announce_head`](Self::announce_head) after re-signing the head); every
/// subscribed client receives the delta and the head at once.
#[derive(Clone)]
pub struct RevocationFeed {
    inner: Arc<FeedInner>,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("sequence", &self.sequence())
            .finish_non_exhaustive()
    }
}

impl Default for RevocationFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl RevocationFeed {
    /// An empty feed (every endpoint answers 404 until something is
    /// announced).
    pub fn new() -> Self {
        let (push, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(FeedInner {
                snapshot: RwLock::new(Snapshot::default()),
                push,
            }),
        }
    }

    /// A feed holding what `store` last published, with its kept deltas.
    pub fn from_store(store: &RevocationStore) -> Result<Self, StoreError> {
        let feed = Self::new();
        if let Some(p) = store.published()? {
            let mut deltas = BTreeMap::new();
            for n in p.sequence.saturating_sub(DELTAS_KEPT).max(1)..p.sequence {
                if let Some(d) = store.delta(n)? {
                    deltas.insert(n, Object::new("d", d));
                }
            }
            let mut s = feed.write();
            s.sequence = Some(p.sequence);
            s.list = Some(Object::new("l", p.list));
            s.head = Some(Object::new("h", p.head));
            s.deltas = deltas;
        }
        Ok(feed)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Snapshot> {
        self.inner
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> Snapshot {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sequence of the list being served, if any.
    pub fn sequence(&self) -> Option<u64> {
        self.read().sequence
    }

    /// Serves a new publication and pushes its delta and head to subscribers.
    pub fn announce(&self, publication: &Publication) {
        let delta = publication
            .delta
            .as_ref()
            .map(|d| Object::new("d", d.clone()));
        let head = Object::new("h", publication.head.clone());
        {
            let mut s = self.write();
            s.sequence = Some(publication.sequence);
            s.list = Some(Object::new("l", publication.list.clone()));
            s.head = Some(head.clone());
            if let Some(d) = &delta {
                s.deltas.insert(publication.sequence - 1, d.clone());
            }
            let keep_from = publication.sequence.saturating_sub(DELTAS_KEPT);
            s.deltas.retain(|&n, _| n >= keep_from);
        }
        // No receivers is not an error: nobody is subscribed.
        if let Some(d) = delta {
            let _ = self.inner.push.send(Push::Delta(d.bytes));
        }
        let _ = self.inner.push.send(Push::Head(head.bytes));
    }

    /// Serves a re-signed head (from
    /// [`RevocationStore::refresh_head`]) and pushes it to subscribers.
    pub fn announce_head(&self, head: Vec<u8>) {
        let head = Object::new("h", head);
        self.write().head = Some(head.clone());
        let _ = self.inner.push.send(Push::Head(head.bytes));
    }
}

/// The HTTP routes, to mount in an axum application or serve alone:
///
/// | route | answer |
/// |---|---|
/// | `GET /head.bin` | signed head; `Cache-Control: no-cache`, ETag |
/// | `GET /list.bin` | signed list; `Cache-Control: no-cache`, ETag |
/// | `GET /deltas/{N}.bin` | signed delta N → N+1; immutable |
/// | `GET /delta?since=N` | the deltas N → current, concatenated; 404 when not all are kept |
/// | `GET /events` | server-sent events: `head` on connect, then `delta` and `head` on each publication (hex data) |
///
/// Every answer with an ETag honours `If-None-Match` with `304 Not
/// Modified`. The static layout is the same as
/// [`RevocationStore::export_to`] writes, so a [`Fetcher`](crate::Fetcher)
/// works against either.
pub fn router(feed: RevocationFeed) -> Router {
    Router::new()
        .route("/head.bin", get(get_head))
        .route("/list.bin", get(get_list))
        .route("/deltas/{file}", get(get_delta_file))
        .route("/delta", get(get_delta_since))
        .route("/events", get(get_events))
        .with_state(feed)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not published\n").into_response()
}

fn serve_object(obj: Option<Object>, headers: &HeaderMap, cache: &'static str) -> Response {
    let Some(obj) = obj else {
        return not_found();
    };
    let cache = HeaderValue::from_static(cache);
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == obj.etag.to_str().unwrap_or_default()
        });
    if matches {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, obj.etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::ETAG, obj.etag),
            (header::CACHE_CONTROL, cache),
        ],
        Body::from(obj.bytes),
    )
        .into_response()
}

async fn get_head(State(feed): State<RevocationFeed>, headers: HeaderMap) -> Response {
    serve_object(feed.read().head, &headers, CACHE_REVALIDATE)
}

async fn get_list(State(feed): State<RevocationFeed>, headers: HeaderMap) -> Response {
    serve_object(feed.read().list, &headers, CACHE_REVALIDATE)
}

async fn get_delta_file(
    State(feed): State<RevocationFeed>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(n) = file
        .strip_suffix(".bin")
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return not_found();
    };
    serve_object(
        feed.read().deltas.get(&n).cloned(),
        &headers,
        CACHE_IMMUTABLE,
    )
}

#[derive(serde::Deserialize)]
struct Since {
    since: u64,
}

async fn get_delta_since(
    State(feed): State<RevocationFeed>,
    Query(Since { since }): Query<Since>,
    headers: HeaderMap,
) -> Response {
    let s = feed.read();
    let Some(current) = s.sequence else {
        return not_found();
    };
    if since > current {
        return not_found();
    }
    let mut chain = Vec::new();
    for n in since..current {
        match s.deltas.get(&n) {
            Some(d) => chain.extend_from_slice(&d.bytes),
            None => return not_found(),
        }
    }
    serve_object(Some(Object::new("c", chain)), &headers, CACHE_REVALIDATE)
}

async fn get_events(
    State(feed): State<RevocationFeed>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribe before reading the head, so nothing published in between
    // is missed.
    let rx = feed.inner.push.subscribe();
    let first = feed.read().head.map(|h| {
        Ok(Event::default()
            .event(EVENT_HEAD)
            .data(hex::encode(&h.bytes)))
    });
    let feed_for_lag = feed.clone();
    let updates = BroadcastStream::new(rx).map(move |item| {
        Ok(match item {
            Ok(Push::Delta(b)) => Event::default().event(EVENT_DELTA).data(hex::encode(&b)),
            Ok(Push::Head(b)) => Event::default().event(EVENT_HEAD).data(hex::encode(&b)),
            // A slow client missed events: send the current head so it
            // notices it is behind and fetches.
            Err(BroadcastStreamRecvError::Lagged(_)) => match feed_for_lag.read().head {
                Some(h) => Event::default()
                    .event(EVENT_HEAD)
                    .data(hex::encode(&h.bytes)),
                None => Event::default().comment("lagged"),
            },
        })
    });
    Sse::new(stream::iter(first).chain(updates)).keep_alive(KeepAlive::default())
}
