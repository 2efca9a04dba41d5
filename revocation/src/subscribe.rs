//! Following the push stream: server-sent events parsed by the
//! `eventsource-stream` crate behind a bound on each event's size.

use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;

use crate::error::{AcceptError, FetchError};
use crate::fetch::{Fetcher, accept, http_error};
use crate::state::{AcceptOutcome, RevocationState};
use crate::store::{EVENT_DELTA, EVENT_HEAD};

/// Follows the server-sent-events stream of [`router`](crate::router)
/// (`GET /events`): applies each pushed delta and head as it arrives, and
/// falls back to a [`Fetcher`] poll when a push does not apply (missed
/// events, after a reconnection) or is refused. Reconnects with back-off
/// when the connection drops, so it survives a server restart. Events are
/// parsed by the `eventsource-stream` crate behind a size bound
/// ([`FetcherBuilder::max_event_bytes`]): a longer event or line drops the
/// connection, logged, and the subscriber polls to catch up.
#[derive(Debug)]
pub struct Subscriber {
    client: reqwest::Client,
    events_url: String,
    max_event_bytes: usize,
    fetcher: Fetcher,
}

impl Subscriber {
    pub(crate) fn new_with(
        client: reqwest::Client,
        events_url: String,
        max_event_bytes: usize,
        fetcher: Fetcher,
    ) -> Self {
        Self {
            client,
            events_url,
            max_event_bytes,
            fetcher,
        }
    }

    /// A subscriber of the server at `base_url` that updates `state`, with
    /// the default timeouts (see [`Fetcher::builder`] to change them).
    pub fn new(base_url_text: &str, state: Arc<RevocationState>) -> Result<Self, FetchError> {
        Fetcher::builder(base_url_text).build_subscriber(state)
    }

    /// The state this subscriber updates.
    pub fn state(&self) -> &Arc<RevocationState> {
        self.fetcher.state()
    }

    /// Follows the stream forever, reconnecting after failures with a
    /// back-off from 100 ms up to 5 s. Run it in a task.
    pub async fn run(&self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.run_once().await {
                Ok(()) => {
                    tracing::warn!(url = %self.events_url, "revocation push stream closed; reconnecting");
                    backoff = Duration::from_millis(100);
                }
                Err(e @ FetchError::EventTooLarge { .. }) => {
                    tracing::error!(error = %e, "revocation push stream dropped; reconnecting");
                    // The dropped event is lost: catch up by polling.
                    if let Err(e) = self.fetcher.poll_once().await {
                        tracing::warn!(error = %e, "catch-up poll after a dropped event failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "revocation push stream failed; reconnecting");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Follows one connection until it ends. An event or line longer than
    /// the builder's `max_event_bytes` ends it with
    /// [`FetchError::EventTooLarge`], before more than that is buffered.
    pub async fn run_once(&self) -> Result<(), FetchError> {
        let url = self.events_url.clone();
        let resp = self
            .client
            .get(&self.events_url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| http_error(&url, e))?;
        if !resp.status().is_success() {
            return Err(FetchError::Status {
                url: url.clone(),
                status: resp.status().as_u16(),
            });
        }
        let max = self.max_event_bytes;
        let mut bound = EventBound::new(max);
        let bytes = resp.bytes_stream().map(move |chunk| match chunk {
            Ok(chunk) if bound.feed(&chunk) => Ok(chunk),
            Ok(_) => Err(PushError::TooLarge),
            Err(e) => Err(PushError::Http(e)),
        });
        let mut events = std::pin::pin!(bytes.eventsource());
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => self.dispatch(&event.event, &event.data).await,
                Err(EventStreamError::Transport(PushError::TooLarge)) => {
                    return Err(FetchError::EventTooLarge { url, max });
                }
                Err(EventStreamError::Transport(PushError::Http(e))) => {
                    return Err(http_error(&url, e));
                }
                Err(_) => return Err(FetchError::MalformedEvent),
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
            EVENT_DELTA => accept(state, bytes, RevocationState::accept_delta).await,
            // A head for a newer list: fetch that list before taking the
            // head, so a publication never makes the state fail closed.
            EVENT_HEAD if self.fetcher.announces_newer(&bytes).is_some() => {
                if let Err(e) = self.fetcher.poll_once().await {
                    tracing::warn!(error = %e, "catch-up poll after a pushed head failed");
                }
                // Still behind it: record that the held list is out of date.
                if self.fetcher.announces_newer(&bytes).is_some() {
                    let _ = accept(state, bytes, RevocationState::accept_head).await;
                }
                return;
            }
            EVENT_HEAD => accept(state, bytes, RevocationState::accept_head).await,
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

/// Why the push stream's bytes stopped.
#[derive(Debug)]
enum PushError {
    Http(reqwest::Error),
    /// An event or line passed the size bound.
    TooLarge,
}

/// Counts the bytes of the push stream's current event (lines up to a
/// blank line, line endings not counted), so that one endless line or event
/// ends the connection instead of growing a buffer. Linear in the bytes
/// seen.
struct EventBound {
    max: usize,
    in_event: usize,
    line_empty: bool,
    after_cr: bool,
}

impl EventBound {
    fn new(max: usize) -> Self {
        Self {
            max,
            in_event: 0,
            line_empty: true,
            after_cr: false,
        }
    }

    /// Whether the stream is still within the bound after `chunk`.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        for &b in chunk {
            match b {
                // The LF of a CR LF: that line already ended.
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    if self.line_empty {
                        self.in_event = 0;
                    }
                    self.line_empty = true;
                    self.after_cr = b == b'\r';
                }
                _ => {
                    self.after_cr = false;
                    self.line_empty = false;
                    self.in_event += 1;
                    if self.in_event > self.max {
                        return false;
                    }
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::EventBound;

    #[test]
    fn the_bound_counts_one_event_at_a_time() {
        let mut bound = EventBound::new(10);
        assert!(bound.feed(b"data: 12\r\n\r\n"));
        assert!(bound.feed(b"data: 1234\n\n"));
        assert!(bound.feed(b"data:\n"));
        assert!(!bound.feed(b"data: 12345"));
        let mut endless = EventBound::new(1000);
        assert!(!(0..100).all(|_| endless.feed(&[b'a'; 64])));
    }
}
