//! `GET /events/stream`: Server-Sent Events, resumable by position.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use herald_protocol::control::Subscribed;
use herald_protocol::{CloudEvent, Position, TopicPattern};

use crate::auth::Access;
use crate::feed::{Feed, Filter, Item};
use crate::{AppError, AppState};

/// How often an idle stream sends a comment line to keep proxies from closing it.
const HEARTBEAT: Duration = Duration::from_secs(15);

struct StreamRequest {
    patterns: Vec<TopicPattern>,
    subject: Option<String>,
    resume: Option<Position>,
    /// `head=true`: begin with a `herald.subscribed` message naming the position the
    /// stream goes on from.
    announce: bool,
}

fn parse_request(query: Option<&str>, headers: &HeaderMap) -> Result<StreamRequest, AppError> {
    let mut patterns = Vec::new();
    let mut resume_query = None;
    let mut subject = None;
    let mut announce = false;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "topic" => patterns.push(value.parse::<TopicPattern>()?),
            "lastEventId" => resume_query = Some(value.into_owned()),
            "subject" => subject = Some(value.into_owned()),
            "head" => {
                announce = match &*value {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(AppError::BadRequest(format!("`head` is `true` or `false`, not `{other}`")));
                    }
                }
            }
            _ => {}
        }
    }
    if patterns.is_empty() {
        return Err(AppError::BadRequest(
            "at least one `topic` query parameter (a topic pattern such as `nop.>`) is required".into(),
        ));
    }
    let header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| AppError::BadRequest("Last-Event-ID is not valid text".into()))
        })
        .transpose()?;
    // The header is what EventSource sends when it reconnects: it is newer than the query.
    let resume = match header.or(resume_query).filter(|s| !s.trim().is_empty()) {
        Some(text) => Some(text.parse::<Position>()?),
        None => None,
    };
    Ok(StreamRequest { patterns, subject, resume, announce })
}

pub(crate) async fn get_stream(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let request = parse_request(query.as_deref(), &headers)?;
    let grants = access.check_subscribe(&request.patterns)?;
    let topic = request.patterns.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    let filter = Filter {
        patterns: request.patterns,
        grants,
        subject: request.subject,
    };
    let feed = Feed::open(&state, filter, request.resume).await?;

    // The reconnection delay EventSource should use, spread so that clients dropped
    // together (a restart, a drain) do not all come back in the same instant.
    let mut first = format!("retry: {}\n\n", retry_with_jitter().as_millis());
    if request.announce {
        // without `id:`, as the notices: the client's last event id stays its own
        let subscribed = crate::feed::message(Subscribed { topic, head: feed.head() });
        first.push_str(&format!("data: {}\n\n", json(&subscribed)));
    }
    let retry = Bytes::from(first);
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = SseStream {
        first: Some(retry),
        feed,
        heartbeat,
        _connection: state.metrics.connection(crate::metrics::Transport::Sse),
    };
    let body = stream::unfold(stream, SseStream::next).map(Ok::<_, Infallible>);
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        // Tell buffering reverse proxies (nginx) to pass events through at once.
        (HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
    ];
    Ok((headers, Body::from_stream(body)).into_response())
}

/// An open stream: the `retry:` field first, then the feed's items, with a comment line
/// every [`HEARTBEAT`] so that proxies and clients see the connection is alive.
struct SseStream {
    first: Option<Bytes>,
    feed: Feed,
    heartbeat: tokio::time::Interval,
    _connection: crate::metrics::ConnectionGuard,
}

impl SseStream {
    async fn next(mut self) -> Option<(Bytes, Self)> {
        if let Some(first) = self.first.take() {
            return Some((first, self));
        }
        // `Feed::next` is cancel-safe: a heartbeat tick loses nothing.
        let item = tokio::select! {
            item = self.feed.next() => item?,
            _ = self.heartbeat.tick() => return Some((Bytes::from_static(b":\n\n"), self)),
        };
        Some((sse_frame(item), self))
    }
}

/// An item as an SSE frame: events and the reset notice carry `id:` (the position to
/// resume from); the drain and slow notices carry none, so the client's last position
/// stays the last event's. Compact JSON has no line breaks: one `data:` line each.
fn sse_frame(item: Item) -> Bytes {
    match item {
        Item::Event(stored) => stored.sse_frame(),
        Item::Reset { head, notice } => Bytes::from(format!("id: {head}\ndata: {}\n\n", json(&notice))),
        Item::Drain(notice) | Item::Slow(notice) => Bytes::from(format!("data: {}\n\n", json(&notice))),
    }
}

fn json(event: &CloudEvent) -> String {
    serde_json::to_string(event).expect("a CloudEvent always serialises")
}

/// 1 to 3 seconds.
fn retry_with_jitter() -> Duration {
    Duration::from_millis(1_000 + random_u64() % 2_000)
}

/// A cheap, non-cryptographic random number (jitter, notice ids).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(crate::store::now_millis());
    hasher.finish()
}
