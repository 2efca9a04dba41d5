//! Keeping a [`VerifierState`] current: polling a base URL, and
//! subscribing to the push stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};

use crate::error::{AcceptError, FetchError};
use crate::list::MAX_HEAD_BYTES;
use crate::server::{EVENT_DELTA, EVENT_HEAD};
use crate::state::{AcceptOutcome, VerifierState};
use crate::store::{DELTAS_DIR, HEAD_FILE, LIST_FILE};

/// Default number of deltas a [`Fetcher`] applies before it prefers the
/// full list.
pub const DEFAULT_MAX_DELTA_STEPS: u64 = 16;

fn base_url(base: &str) -> Result<String, FetchError> {
    let parsed = reqwest::Url::parse(base).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(FetchError::InvalidUrl(format!(
            "scheme {} is not http or https",
            parsed.scheme()
        )));
    }
    let mut s = parsed.to_string();
    if !s.ends_with('/') {
        s.push('/');
    }
    Ok(s)
}

/// Polls a base URL serving the static layout (`head.bin`, `list.bin`,
/// `deltas/<N>.bin`; from [`RevocationStore::export_to`](crate::RevocationStore::export_to)
/// behind any web server, or from [`router`](crate::router)).
///
/// Each poll fetches the head first (with `If-None-Match`). If the head
/// names a newer list, it applies deltas when at most
/// `max_delta_steps` behind, and downloads the full list otherwise or when
/// a delta is missing or refused. A bad response is refused by the
/// [`VerifierState`] and leaves it unchanged; the next poll tries again.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    base: String,
    state: Arc<VerifierState>,
    max_delta_steps: u64,
    head_etag: Mutex<Option<String>>,
}

impl Fetcher {
    /// A fetcher of `base_url` (e.g. `https://cdn.example/revocation/`) that
    /// updates `state`.
    pub fn new(base_url_text: &str, state: Arc<VerifierState>) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| FetchError::Http {
                url: base_url_text.to_owned(),
                source,
            })?;
        Ok(Self {
            client,
            base: base_url(base_url_text)?,
            state,
            max_delta_steps: DEFAULT_MAX_DELTA_STEPS,
            head_etag: Mutex::new(None),
        })
    }

    /// Sets how many deltas may be applied in one poll before the full list
    /// is fetched instead.
    #[must_use]
    pub fn with_max_delta_steps(mut self, steps: u64) -> Self {
        self.max_delta_steps = steps;
        self
    }

    /// The state this fetcher updates.
    pub fn state(&self) -> &Arc<VerifierState> {
        &self.state
    }

    /// GETs `path` under the base URL, with a size limit. `None` on 304.
    async fn get(
        &self,
        path: &str,
        max: usize,
        etag: Option<String>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, FetchError> {
        let url = format!("{}{}", self.base, path);
        let http = |source| FetchError::Http {
            url: url.clone(),
            source,
        };
        let mut req = self.client.get(&url);
        if let Some(tag) = etag {
            req = req.header(IF_NONE_MATCH, tag);
        }
        let mut resp = req.send().await.map_err(http)?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(FetchError::Status {
                url,
                status: resp.status().as_u16(),
            });
        }
        let tag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let too_large = || FetchError::TooLarge {
            url: url.clone(),
            max,
        };
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some((body, tag)))
    }

    fn refused(&self, path: &str) -> impl FnOnce(AcceptError) -> FetchError {
        let url = format!("{}{}", self.base, path);
        move |source| FetchError::Refused { url, source }
    }

    /// Polls once: head, then deltas or the list if behind. Returns what
    /// changed.
    pub async fn poll_once(&self) -> Result<AcceptOutcome, FetchError> {
        let etag = self
            .head_etag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // Only trust the cached ETag while a list is held.
        let etag = etag.filter(|_| self.state.sequence().is_some());
        let Some((head, tag)) = self.get(HEAD_FILE, MAX_HEAD_BYTES, etag).await? else {
            return Ok(AcceptOutcome::Unchanged);
        };
        let outcome = self
            .state
            .accept_head(&head)
            .map_err(self.refused(HEAD_FILE))?;
        let outcome = match outcome {
            AcceptOutcome::Behind { current, available } => {
                self.catch_up(current, available).await?;
                // The head now names the held list: take its freshness.
                self.state
                    .accept_head(&head)
                    .map_err(self.refused(HEAD_FILE))?;
                AcceptOutcome::Updated {
                    from: current,
                    to: self.state.sequence().unwrap_or(available),
                }
            }
            other => other,
        };
        *self
            .head_etag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = tag;
        Ok(outcome)
    }

    async fn catch_up(&self, current: Option<u64>, available: u64) -> Result<(), FetchError> {
        let max = self.state.config().max_list_bytes();
        if let Some(mut at) = current
            && available.saturating_sub(at) <= self.max_delta_steps
        {
            while at < available {
                let path = format!("{DELTAS_DIR}/{at}.bin");
                let Ok(Some((delta, _))) = self.get(&path, max, None).await else {
                    break;
                };
                match self.state.accept_delta(&delta) {
                    Ok(_) => at = self.state.sequence().unwrap_or(at),
                    Err(e) => {
                        tracing::warn!(error = %e, path, "delta refused; fetching the full list");
                        break;
                    }
                }
            }
            if at >= available {
                return Ok(());
            }
        }
        let (list, _) = self
            .get(LIST_FILE, max, None)
            .await?
            .ok_or(FetchError::Status {
                url: format!("{}{LIST_FILE}", self.base),
                status: 304,
            })?;
        self.state
            .accept_list(&list)
            .map_err(self.refused(LIST_FILE))?;
        Ok(())
    }

    /// Polls every `interval` forever, logging failures (the state stays as
    /// it was after a failure). Run it in a task.
    pub async fn run(&self, interval: Duration) {
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, "revocation poll failed");
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// Follows the server-sent-events stream of [`router`](crate::router)
/// (`GET /events`): applies each pushed delta and head as it arrives, and
/// falls back to a [`Fetcher`] poll when a push does not apply (missed
/// events, after a reconnection) or is refused. Reconnects with back-off
/// when the connection drops, so it survives a server restart.
#[derive(Debug)]
pub struct Subscriber {
    client: reqwest::Client,
    events_url: String,
    fetcher: Fetcher,
}

impl Subscriber {
    /// A subscriber of the server at `base_url` that updates `state`.
    pub fn new(base_url_text: &str, state: Arc<VerifierState>) -> Result<Self, FetchError> {
        let base = base_url(base_url_text)?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Longer than the server's keep-alive interval: a silent
            // connection is a dead one.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| FetchError::Http {
                url: base.clone(),
                source,
            })?;
        Ok(Self {
            client,
            events_url: format!("{base}events"),
            fetcher: Fetcher::new(&base, state)?,
        })
    }

    /// The state this subscriber updates.
    pub fn state(&self) -> &Arc<VerifierState> {
        self.fetcher.state()
    }

    /// Follows the stream forever, reconnecting after failures with a
    /// back-off from 100 ms up to 5 s. Run it in a task.
    pub async fn run(&self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.run_once().await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, "revocation push stream failed; reconnecting");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Follows one connection until it ends.
    pub async fn run_once(&self) -> Result<(), FetchError> {
        let url = self.events_url.clone();
        let http = |source| FetchError::Http {
            url: url.clone(),
            source,
        };
        let mut resp = self
            .client
            .get(&self.events_url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(http)?;
        if !resp.status().is_success() {
            return Err(FetchError::Status {
                url: url.clone(),
                status: resp.status().as_u16(),
            });
        }
        let max_line = self.state().config().max_list_bytes() * 2 + 64;
        let mut buffer: Vec<u8> = Vec::new();
        let mut event = String::new();
        let mut data = String::new();
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            buffer.extend_from_slice(&chunk);
            while let Some(pos) = buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    self.dispatch(&event, &data).await;
                    event.clear();
                    data.clear();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim_start().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
                if data.len() > max_line {
                    return Err(FetchError::MalformedEvent);
                }
            }
            if buffer.len() > max_line {
                return Err(FetchError::MalformedEvent);
            }
        }
        Ok(())
    }

    async fn dispatch(&self, event: &str, data: &str) {
        if data.is_empty() {
            return;
        }
        let Ok(bytes) = hex::decode(data) else {
            tracing::warn!(event, "push event with malformed data ignored");
            return;
        };
        let state = self.state();
        let result = match event {
            EVENT_DELTA => state.accept_delta(&bytes),
            EVENT_HEAD => state.accept_head(&bytes),
            _ => return,
        };
        let needs_poll = match result {
            Ok(AcceptOutcome::Behind { .. }) => true,
            Ok(_) => false,
            // Missed deltas: the head that follows triggers the catch-up.
            Err(AcceptError::DeltaNotApplicable { .. }) => false,
            Err(e) => {
                tracing::warn!(error = %e, event, "pushed object refused");
                true
            }
        };
        if needs_poll && let Err(e) = self.fetcher.poll_once().await {
            tracing::warn!(error = %e, "catch-up poll after push failed");
        }
    }
}
