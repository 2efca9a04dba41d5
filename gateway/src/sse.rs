//! Server-sent events passed through with one kind of message rewritten:
//! the events stream on as they come, and an event whose `data` is a JSON
//! message the rewriter changes is re-sent with the new JSON.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Incoming;
use serde_json::Value;

use crate::{BoxError, GatewayBody};

/// Splits an event stream into events (line ends normalised to `\n`).
#[derive(Debug, Default)]
pub(crate) struct EventSplitter {
    buffer: BytesMut,
    /// The last byte seen was `\r`: a `\n` that follows belongs to it.
    after_cr: bool,
}

impl EventSplitter {
    /// Adds bytes; returns the events they complete, each without its
    /// closing blank line.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<Bytes> {
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' => {
                    self.after_cr = true;
                    self.buffer.extend_from_slice(b"\n");
                }
                other => {
                    self.after_cr = false;
                    self.buffer.extend_from_slice(&[other]);
                }
            }
        }
        let mut events = Vec::new();
        while let Some(end) = find(&self.buffer, b"\n\n") {
            let event = self.buffer.split_to(end + 2);
            events.push(event.freeze().slice(..end));
        }
        events
    }

    /// The bytes of an event not yet complete.
    pub(crate) fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// What is left when the stream ends.
    pub(crate) fn finish(self) -> Bytes {
        self.buffer.freeze()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The event, rewritten when its data is JSON that `rewrite` changes,
/// with its closing blank line.
pub(crate) fn process_event(event: &[u8], rewrite: &mut impl FnMut(&mut Value) -> bool) -> Bytes {
    let unchanged = || {
        let mut out = Vec::with_capacity(event.len() + 2);
        out.extend_from_slice(event);
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    };
    let Ok(text) = std::str::from_utf8(event) else {
        return unchanged();
    };
    let mut data = Vec::new();
    let mut other = Vec::new();
    for line in text.split('\n') {
        match line.strip_prefix("data") {
            Some("") => data.push(""),
            Some(rest) if rest.starts_with(':') => {
                let value = &rest[1..];
                data.push(value.strip_prefix(' ').unwrap_or(value));
            }
            _ => other.push(line),
        }
    }
    if data.is_empty() {
        return unchanged();
    }
    let Ok(mut message) = serde_json::from_str::<Value>(&data.join("\n")) else {
        return unchanged();
    };
    if !rewrite(&mut message) {
        return unchanged();
    }
    let mut out = String::with_capacity(event.len());
    for line in other {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&message.to_string());
    out.push_str("\n\n");
    Bytes::from(out)
}

/// The upstream's event stream with `rewrite` applied to each event's
/// JSON; an event longer than `max_event_bytes` ends the stream with an
/// error.
pub(crate) fn rewrite_stream<F>(body: Incoming, max_event_bytes: usize, rewrite: F) -> GatewayBody
where
    F: FnMut(&mut Value) -> bool + Send + 'static,
{
    struct State<F> {
        frames: BodyStream<Incoming>,
        splitter: Option<EventSplitter>,
        rewrite: F,
        max: usize,
    }
    let state = State {
        frames: BodyStream::new(body),
        splitter: Some(EventSplitter::default()),
        rewrite,
        max: max_event_bytes,
    };
    let stream = futures_util::stream::unfold(state, |mut state| async move {
        loop {
            let splitter = state.splitter.as_mut()?;
            match state.frames.next().await {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: an event stream has none to keep
                    };
                    let events = splitter.push(&data);
                    if splitter.pending() > state.max {
                        state.splitter = None;
                        let error: BoxError = "an upstream event is too large to filter".into();
                        return Some((Err(error), state));
                    }
                    if events.is_empty() {
                        continue;
                    }
                    let mut out = BytesMut::new();
                    for event in events {
                        out.extend_from_slice(&process_event(&event, &mut state.rewrite));
                    }
                    return Some((Ok(Frame::data(out.freeze())), state));
                }
                Some(Err(error)) => {
                    state.splitter = None;
                    return Some((Err(BoxError::from(error)), state));
                }
                None => {
                    let rest = state.splitter.take()?.finish();
                    if rest.is_empty() {
                        return None;
                    }
                    return Some((Ok(Frame::data(rest)), state));
                }
            }
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_split_on_every_line_ending_across_chunks() {
        let mut splitter = EventSplitter::default();
        assert!(
            splitter
                .push(b"event: message\r\ndata: {\"a\":1}\r")
                .is_empty()
        );
        let events = splitter.push(b"\n\r\n: keep-alive\r\rdata: 2\n\ndata: 3");
        assert_eq!(
            events,
            [
                Bytes::from_static(b"event: message\ndata: {\"a\":1}"),
                Bytes::from_static(b": keep-alive"),
                Bytes::from_static(b"data: 2"),
            ]
        );
        assert_eq!(splitter.finish(), Bytes::from_static(b"data: 3"));
    }

    #[test]
    fn only_the_events_the_rewriter_changes_are_rewritten() {
        let mut rewrite = |v: &mut Value| {
            if v["id"] == 7 {
                v["result"] = Value::from("filtered");
                true
            } else {
                false
            }
        };
        let kept = process_event(b"event: message\ndata: {\"id\":1}", &mut rewrite);
        assert_eq!(
            kept,
            Bytes::from_static(b"event: message\ndata: {\"id\":1}\n\n")
        );
        let changed = process_event(
            b"event: message\nid: e1\ndata: {\"id\":\ndata: 7}",
            &mut rewrite,
        );
        assert_eq!(
            changed,
            Bytes::from_static(
                b"event: message\nid: e1\ndata: {\"id\":7,\"result\":\"filtered\"}\n\n"
            )
        );
        assert_eq!(
            process_event(b": ping", &mut rewrite),
            Bytes::from_static(b": ping\n\n")
        );
    }
}
