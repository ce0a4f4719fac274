//! A native Rust client of the herald gateway, for producers and server-side consumers
//! (the browser's side is herald-push): publish a CloudEvent (`POST /events`), and follow
//! the event stream (`GET /events/stream`, Server-Sent Events, docs/protocol.md §3.2)
//! from a position, one [`Frame`] at a time.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use herald_client::Client;
//!
//! # async fn run() -> Result<(), herald_client::Error> {
//! let gateway = Client::new("http://127.0.0.1:8787");
//! // every `nop.sensor.*` event stored after the start of the log, then live ones
//! gateway
//!     .stream(&["nop.sensor.*"], Some("0-0"), |frame| {
//!         println!("{:?} {}", frame.position, frame.event.ty);
//!         ControlFlow::Continue(())
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::ops::ControlFlow;

use futures_util::StreamExt;
use herald_protocol::control::Subscribed;
use herald_protocol::{CloudEvent, Event, Position};
use serde::{Deserialize, Serialize};

/// What went wrong talking to the gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The gateway could not be reached, or the connection broke.
    #[error("the gateway at {url}: {source}")]
    Http {
        /// The URL asked.
        url: String,
        /// What failed.
        source: reqwest::Error,
    },
    /// The gateway answered with an error status; `detail` is its problem document's.
    #[error("the gateway answered {status}: {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// What it said.
        detail: String,
    },
    /// The stream sent something that is not what docs/protocol.md §3.2 says.
    #[error("the stream: {0}")]
    Protocol(String),
}

/// One message of the stream: its position (`None` for a notice: `herald.slow`,
/// `herald.drain`) and its event; a `herald.reset` comes with the newest position, and
/// the `herald.subscribed` that begins a stream followed live ([`Client::stream`] without
/// `from`) with the position the stream starts after.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The `id:` of the message.
    pub position: Option<Position>,
    /// The CloudEvent of its `data:`.
    pub event: CloudEvent,
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The frame handler asked to stop.
    Stopped,
    /// The gateway closed the stream (follow again from the last position).
    Closed,
}

/// A client of one gateway.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of the gateway at `base` (`http://host:port`, or with a path prefix).
    pub fn new(base: &str) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    /// The same client, sending `token` as its bearer (docs/protocol.md §3.5).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Publishes `event` (structured mode); the position it was stored at.
    pub async fn publish<T: Serialize>(&self, event: &CloudEvent<T>) -> Result<Position, Error> {
        let url = format!("{}/events", self.base);
        let response = self
            .authorized(self.http.post(&url))
            .header("content-type", herald_protocol::CLOUDEVENTS_JSON)
            .json(event)
            .send()
            .await
            .map_err(|source| Error::Http { url: url.clone(), source })?;
        let answer = refused(response).await?;
        let body: serde_json::Value = answer.json().await.map_err(|source| Error::Http { url, source })?;
        body["position"]
            .as_str()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| Error::Protocol(format!("an answer without a position: {body}")))
    }

    /// Follows the events whose type matches one of `patterns`, after `from` (a position;
    /// `None`: live ones only), handing each message to `on_frame` until it breaks
    /// ([`Ended::Stopped`]) or the gateway ends the stream ([`Ended::Closed`]).
    ///
    /// Followed live, the first frame is the gateway's `herald.subscribed` (asked for with
    /// `head=true`, docs/protocol.md §3.2) at the position the stream starts after: a
    /// caller that follows again from its last frame's position gets everything stored
    /// since it first followed, even when no event had come yet.
    pub async fn stream(
        &self,
        patterns: &[&str],
        from: Option<&str>,
        mut on_frame: impl FnMut(Frame) -> ControlFlow<()>,
    ) -> Result<Ended, Error> {
        let url = format!("{}/events/stream", self.base);
        let mut request = self.http.get(&url).query(&patterns.iter().map(|p| ("topic", *p)).collect::<Vec<_>>());
        request = match from {
            Some(from) => request.header("last-event-id", from),
            None => request.query(&[("head", "true")]),
        };
        let response = self
            .authorized(request)
            .send()
            .await
            .map_err(|source| Error::Http { url: url.clone(), source })?;
        let mut body = refused(response).await?.bytes_stream();
        let mut reader = Reader::default();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| Error::Http { url: url.clone(), source })?;
            for frame in reader.push(&chunk)? {
                let frame = match (from, frame.position) {
                    (None, None) if frame.event.ty == Subscribed::TYPE => started_at(frame)?,
                    _ => frame,
                };
                if on_frame(frame).is_break() {
                    return Ok(Ended::Stopped);
                }
            }
        }
        Ok(Ended::Closed)
    }
}

/// The `herald.subscribed` frame at the position it names.
fn started_at(frame: Frame) -> Result<Frame, Error> {
    let subscribed = frame
        .event
        .data
        .as_ref()
        .and_then(|data| Subscribed::deserialize(data).ok())
        .ok_or_else(|| Error::Protocol(format!("a herald.subscribed without a head: {:?}", frame.event.data)))?;
    Ok(Frame { position: Some(subscribed.head), event: frame.event })
}

/// A record's revision as the gateway stored it (docs/protocol.md §3.16).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Stored {
    /// The record's name.
    pub name: String,
    /// Its revision, from 1.
    pub revision: u64,
    /// The revision's URL, `/records/{name}?revision=N` (relative to the gateway).
    pub url: String,
}

impl Client {
    /// Stores `document` as the next revision of the record `name` (`PUT /records/{name}`,
    /// the documents pointer events point at).
    pub async fn put_record<T: Serialize + ?Sized>(&self, name: &str, document: &T) -> Result<Stored, Error> {
        let url = format!("{}/records/{name}", self.base);
        let response = self
            .authorized(self.http.put(&url))
            .json(document)
            .send()
            .await
            .map_err(|source| Error::Http { url: url.clone(), source })?;
        refused(response).await?.json().await.map_err(|source| Error::Http { url, source })
    }

    /// The latest revision of the record `name` and its number, `None` when there is none.
    pub async fn record(&self, name: &str) -> Result<Option<(u64, serde_json::Value)>, Error> {
        let url = format!("{}/records/{name}", self.base);
        let response = self
            .authorized(self.http.get(&url))
            .send()
            .await
            .map_err(|source| Error::Http { url: url.clone(), source })?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = refused(response).await?;
        let revision = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|tag| tag.to_str().ok())
            .and_then(|tag| tag.trim_matches('"').parse().ok())
            .ok_or_else(|| Error::Protocol(format!("{url} answered without a revision's ETag")))?;
        let document = response.json().await.map_err(|source| Error::Http { url, source })?;
        Ok(Some((revision, document)))
    }
}

/// `response`, or [`Error::Refused`] with its problem document's detail.
async fn refused(response: reqwest::Response) -> Result<reqwest::Response, Error> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|p| p["detail"].as_str().map(str::to_owned))
        .unwrap_or(text);
    Err(Error::Refused { status, detail })
}

/// Server-Sent Events cut into frames, as bytes arrive (the event stream format of the
/// HTML standard: fields `id` and `data`, a blank line ends a message, comments ignored).
#[derive(Debug, Default)]
struct Reader {
    pending: Vec<u8>,
    id: Option<String>,
    data: String,
}

impl Reader {
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<Frame>, Error> {
        self.pending.extend_from_slice(bytes);
        let mut frames = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8(line).map_err(|_| Error::Protocol("a line that is not UTF-8".into()))?;
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            if line.is_empty() {
                let (id, data) = (self.id.take(), std::mem::take(&mut self.data));
                if data.is_empty() {
                    continue;
                }
                let event = CloudEvent::from_json(data.as_bytes()).map_err(|e| Error::Protocol(format!("a message that is no CloudEvent: {e}")))?;
                let position = id
                    .filter(|id| !id.is_empty())
                    .map(|id| id.parse::<Position>().map_err(|e| Error::Protocol(format!("the id `{id}`: {e}"))))
                    .transpose()?;
                frames.push(Frame { position, event });
            } else if line.starts_with(':') {
                // a comment (the keep-alive)
            } else {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => self.id = Some(value.to_owned()),
                    "data" => {
                        if !self.data.is_empty() {
                            self.data.push('\n');
                        }
                        self.data.push_str(value);
                    }
                    _ => {}
                }
            }
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_from_bytes_as_they_come_and_comments_and_retry_are_skipped() {
        let mut reader = Reader::default();
        let event = r#"{"specversion":"1.0","id":"a","source":"/s","type":"t.x"}"#;
        let text = format!("retry: 1500\n: keep-alive\n\nid: 5-1\ndata: {event}\n\nid: 5-2\r\ndata: {event}\r\n\r\ndata: {event}\n\n");
        let bytes = text.as_bytes();
        let mut frames = Vec::new();
        for chunk in bytes.chunks(7) {
            frames.extend(reader.push(chunk).unwrap());
        }
        let positions: Vec<Option<String>> = frames.iter().map(|f| f.position.map(|p| p.to_string())).collect();
        assert_eq!(positions, [Some("5-1".into()), Some("5-2".into()), None]);
        assert!(frames.iter().all(|f| f.event.ty == "t.x"));
        assert!(matches!(Reader::default().push(b"id: x\ndata: {}\n\n"), Err(Error::Protocol(_))));
    }

    /// A follower that had no event yet when its stream ended resumes from where the
    /// stream started: what was stored in between reaches it.
    #[tokio::test]
    async fn a_live_stream_starts_at_a_position_so_a_resume_loses_nothing() {
        use herald_server::{serve, AppState, EventLog};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, AppState::new(EventLog::in_memory())));
        let gateway = Client::new(&base);
        let before = gateway.publish(&CloudEvent::<()>::new("before", "/test", "t.x")).await.unwrap();

        let mut first = Vec::new();
        let ended = gateway
            .stream(&["t.*"], None, |frame| {
                first.push(frame);
                ControlFlow::Break(())
            })
            .await
            .unwrap();
        assert_eq!(ended, Ended::Stopped);
        assert_eq!(first[0].event.ty, "herald.subscribed");
        assert_eq!(first[0].position, Some(before), "the position the stream starts after");

        // stored while nobody followed, then found by following from that position
        let missed = gateway.publish(&CloudEvent::<()>::new("missed", "/test", "t.x")).await.unwrap();
        let from = first[0].position.unwrap().to_string();
        let mut next = Vec::new();
        gateway
            .stream(&["t.*"], Some(&from), |frame| {
                next.push(frame);
                ControlFlow::Break(())
            })
            .await
            .unwrap();
        assert_eq!((next[0].position, next[0].event.id.as_str()), (Some(missed), "missed"));
    }
}
