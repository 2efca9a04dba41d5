//! Keeping a [`RevocationState`] current: polling a base URL, and
//! subscribing to the push stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};

use crate::error::{AcceptError, FetchError};
use crate::head::ListHead;
use crate::keys::TrustedListKeys;
use crate::list::MAX_HEAD_BYTES;
use crate::state::{AcceptOutcome, RevocationState};
use crate::store::{DELTAS_DIR, HEAD_FILE, LIST_FILE};
use crate::subscribe::Subscriber;

/// Default number of deltas a [`Fetcher`] applies before it prefers the
/// full list.
pub const DEFAULT_MAX_DELTA_STEPS: u64 = 16;

/// Default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default time allowed for a whole request, body included.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Default longest silence on a connection. The push stream has no total
/// timeout, so this is what notices a dead one; it is longer than the
/// server's keep-alive interval.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default largest push event a [`Subscriber`] holds (1 MiB: a pushed delta
/// of about 15,000 entries, hex-encoded). A longer event or line ends the
/// connection; the subscriber reconnects and catches up by polling.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// The shortest interval [`Fetcher::run`] polls at: a shorter one
/// (including zero) is raised to it.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

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

/// A client error, with timeouts told apart from other failures.
pub(crate) fn http_error(url: &str, source: reqwest::Error) -> FetchError {
    if source.is_timeout() {
        FetchError::Timeout {
            url: url.to_owned(),
        }
    } else {
        FetchError::Http {
            url: url.to_owned(),
            source,
        }
    }
}

/// GETs `url` with a size limit enforced while the body streams in: at
/// most `max` bytes plus the chunk that passes the limit are ever held.
/// `None` on 304.
async fn get_bounded(
    client: &reqwest::Client,
    url: &str,
    max: usize,
    etag: Option<String>,
) -> Result<Option<(Vec<u8>, Option<String>)>, FetchError> {
    let mut req = client.get(url);
    if let Some(tag) = etag {
        req = req.header(IF_NONE_MATCH, tag);
    }
    let mut resp = req.send().await.map_err(|e| http_error(url, e))?;
    if resp.status() == StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: resp.status().as_u16(),
        });
    }
    let tag = resp
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        max,
    };
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| http_error(url, e))? {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some((body, tag)))
}

/// Configures a [`Fetcher`] or a [`Subscriber`]: timeouts and delta steps.
///
/// ```
/// # use std::time::Duration;
/// # use agentcap_revocation::Fetcher;
/// let builder = Fetcher::builder("https://cdn.example/revocation/")
///     .connect_timeout(Duration::from_secs(2))
///     .timeout(Duration::from_secs(10));
/// # let _ = builder;
/// ```
#[derive(Debug, Clone)]
pub struct FetcherBuilder {
    base: String,
    connect_timeout: Duration,
    timeout: Duration,
    idle_timeout: Duration,
    max_delta_steps: u64,
    max_event_bytes: usize,
}

impl FetcherBuilder {
    /// Time allowed to open a connection (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for a whole request of a [`Fetcher`], from connecting
    /// to the end of the body (default [`DEFAULT_FETCH_TIMEOUT`]).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longest silence tolerated while reading (default
    /// [`DEFAULT_IDLE_TIMEOUT`]); the only bound on a [`Subscriber`]'s
    /// endless stream.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How many deltas may be applied in one poll before the full list is
    /// fetched instead (default [`DEFAULT_MAX_DELTA_STEPS`]).
    #[must_use]
    pub fn max_delta_steps(mut self, steps: u64) -> Self {
        self.max_delta_steps = steps;
        self
    }

    /// Largest push event (or line) a [`Subscriber`] holds (default
    /// [`DEFAULT_MAX_EVENT_BYTES`]).
    #[must_use]
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.max_event_bytes = max;
        self
    }

    /// Refuses settings nothing could work with.
    fn check(&self) -> Result<(), FetchError> {
        let invalid = |what| Err(FetchError::InvalidConfig(what));
        if self.connect_timeout.is_zero() {
            return invalid("the connect timeout is zero");
        }
        if self.timeout.is_zero() {
            return invalid("the request timeout is zero");
        }
        if self.idle_timeout.is_zero() {
            return invalid("the idle timeout is zero");
        }
        if self.max_event_bytes == 0 {
            return invalid("the largest push event is zero bytes");
        }
        Ok(())
    }

    fn client(&self, total: Option<Duration>) -> Result<reqwest::Client, FetchError> {
        self.check()?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.idle_timeout);
        if let Some(total) = total {
            builder = builder.timeout(total);
        }
        builder.build().map_err(|source| FetchError::Http {
            url: self.base.clone(),
            source,
        })
    }

    /// Downloads the signed head and checks it against `keys`, without
    /// accepting it anywhere: e.g. to learn the issuer before opening the
    /// persisted [`RevocationState`] that follows it.
    pub async fn fetch_head(&self, keys: &TrustedListKeys) -> Result<ListHead, FetchError> {
        let base = base_url(&self.base)?;
        let url = format!("{base}{HEAD_FILE}");
        let client = self.client(Some(self.timeout))?;
        let (bytes, _) = get_bounded(&client, &url, MAX_HEAD_BYTES, None)
            .await?
            .ok_or(FetchError::Status {
                url: url.clone(),
                status: 304,
            })?;
        ListHead::decode_verified(&bytes, keys)
            .map(|(head, _)| head)
            .map_err(|e| FetchError::Refused {
                url,
                source: AcceptError::Decode(e),
            })
    }

    /// A fetcher that updates `state`.
    pub fn build(self, state: Arc<RevocationState>) -> Result<Fetcher, FetchError> {
        Ok(Fetcher {
            client: self.client(Some(self.timeout))?,
            base: base_url(&self.base)?,
            state,
            max_delta_steps: self.max_delta_steps,
            head_etag: Mutex::new(None),
        })
    }

    /// A subscriber to the push stream that updates `state`, falling back
    /// to a fetcher with the same settings.
    pub fn build_subscriber(self, state: Arc<RevocationState>) -> Result<Subscriber, FetchError> {
        let base = base_url(&self.base)?;
        Ok(Subscriber::new_with(
            self.client(None)?,
            format!("{base}events"),
            self.max_event_bytes,
            self.build(state)?,
        ))
    }
}

/// Polls a base URL serving the static layout (`head.bin`, `list.bin`,
/// `deltas/<N>.bin`; from [`RevocationStore::export_to`](crate::RevocationStore::export_to)
/// behind any web server, or from [`router`](crate::router)).
///
/// Each poll fetches the head first (with `If-None-Match`). If the head
/// names a newer list, it applies deltas when at most
/// `max_delta_steps` behind, and downloads the full list otherwise or when
/// a delta is missing or refused, and only then accepts the head; if that
/// list cannot be had, the head is accepted anyway so the state knows it
/// is behind and fails closed. A bad response is refused by the
/// [`RevocationState`] and leaves it unchanged; the next poll tries again.
/// Every request has a connect timeout and a total timeout, and every body
/// a size limit enforced as it streams in.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    base: String,
    state: Arc<RevocationState>,
    max_delta_steps: u64,
    head_etag: Mutex<Option<String>>,
}

impl Fetcher {
    /// Configures a fetcher or subscriber of `base_url` (e.g.
    /// `https://cdn.example/revocation/`).
    pub fn builder(base_url_text: &str) -> FetcherBuilder {
        FetcherBuilder {
            base: base_url_text.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_FETCH_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_delta_steps: DEFAULT_MAX_DELTA_STEPS,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }

    /// A fetcher of `base_url` (e.g. `https://cdn.example/revocation/`) that
    /// updates `state`, with the default timeouts.
    pub fn new(base_url_text: &str, state: Arc<RevocationState>) -> Result<Self, FetchError> {
        Self::builder(base_url_text).build(state)
    }

    /// Sets how many deltas may be applied in one poll before the full list
    /// is fetched instead.
    #[must_use]
    pub fn with_max_delta_steps(mut self, steps: u64) -> Self {
        self.max_delta_steps = steps;
        self
    }

    /// The state this fetcher updates.
    pub fn state(&self) -> &Arc<RevocationState> {
        &self.state
    }

    /// GETs `path` under the base URL, with a size limit. `None` on 304.
    async fn get(
        &self,
        path: &str,
        max: usize,
        etag: Option<String>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, FetchError> {
        get_bounded(&self.client, &format!("{}{}", self.base, path), max, etag).await
    }

    fn refused(&self, path: &str) -> impl FnOnce(AcceptError) -> FetchError {
        let url = format!("{}{}", self.base, path);
        move |source| FetchError::Refused { url, source }
    }

    /// The sequence `head` announces when it is a valid head, of the
    /// followed issuer, for a newer list than the one held.
    pub(crate) fn announces_newer(&self, head: &[u8]) -> Option<u64> {
        let (head, _) = ListHead::decode_verified(head, self.state.config().keys()).ok()?;
        let newer = head.issuer() == self.state.config().issuer()
            && self
                .state
                .sequence()
                .is_none_or(|held| head.sequence() > held);
        newer.then_some(head.sequence())
    }

    /// Polls once: head, then deltas or the list if behind. Returns what
    /// changed.
    pub async fn poll_once(&self) -> Result<AcceptOutcome, FetchError> {
        let etag = self
            .head_etag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // Only trust the cached ETag while a current list is held.
        let etag = etag
            .filter(|_| self.state.sequence().is_some() && self.state.superseded_by().is_none());
        let Some((head, tag)) = self.get(HEAD_FILE, MAX_HEAD_BYTES, etag).await? else {
            return Ok(AcceptOutcome::Unchanged);
        };
        let outcome = match self.announces_newer(&head) {
            // Fetch the newer list before taking the head, so that a
            // normal publication never makes the state fail closed.
            Some(available) => {
                let current = self.state.sequence();
                let caught_up = self.catch_up(current, available).await;
                // The head either names the held list now (its freshness is
                // taken) or records that the held list is out of date.
                let accepted = accept(&self.state, head, RevocationState::accept_head).await;
                caught_up?;
                match accepted.map_err(self.refused(HEAD_FILE))? {
                    AcceptOutcome::Behind { current, available } => {
                        return Err(FetchError::StillBehind { current, available });
                    }
                    _ => AcceptOutcome::Updated {
                        from: current,
                        to: self.state.sequence().unwrap_or(available),
                    },
                }
            }
            None => accept(&self.state, head, RevocationState::accept_head)
                .await
                .map_err(self.refused(HEAD_FILE))?,
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
                let delta = match self.get(&path, max, None).await {
                    Ok(Some((delta, _))) => delta,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, path, "delta not fetched; fetching the full list");
                        break;
                    }
                };
                match accept(&self.state, delta, RevocationState::accept_delta).await {
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
        accept(&self.state, list, RevocationState::accept_list)
            .await
            .map_err(self.refused(LIST_FILE))?;
        Ok(())
    }

    /// Polls every `interval` (at least [`MIN_POLL_INTERVAL`]) forever,
    /// logging failures (the state stays as it was after a failure). Run it
    /// in a task.
    pub async fn run(&self, interval: Duration) {
        let interval = interval.max(MIN_POLL_INTERVAL);
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, "revocation poll failed");
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// The signature of [`RevocationState`]'s accept methods.
type AcceptFn = fn(&RevocationState, &[u8]) -> Result<AcceptOutcome, AcceptError>;

/// Applies a list, delta or head on tokio's blocking pool (inline outside a
/// runtime): checking signatures, decoding a large list and the fsync of a
/// persisted state never hold an executor thread.
pub(crate) async fn accept(
    state: &Arc<RevocationState>,
    bytes: Vec<u8>,
    apply: AcceptFn,
) -> Result<AcceptOutcome, AcceptError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let state = Arc::clone(state);
            handle
                .spawn_blocking(move || apply(&state, &bytes))
                .await
                .unwrap_or(Err(AcceptError::Interrupted))
        }
        Err(_) => apply(state, &bytes),
    }
}
