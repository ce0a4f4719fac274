//! `GET /events/stream`: Server-Sent Events, resumable by position.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
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
}

fn parse_request(query: Option<&str>, headers: &HeaderMap) -> Result<StreamRequest, AppError> {
    let mut patterns = Vec::new();
    let mut resume_query = None;
    let mut subject = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "topic" => patterns.push(value.parse::<TopicPattern>()?),
            "lastEventId" => resume_query = Some(value.into_owned()),
            "subject" => subject = Some(value.into_owned()),
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
    Ok(StreamRequest { patterns, subject, resume })
}

pub(crate) async fn get_stream(
    State(state): State<AppState>,
    access: Access,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let request = parse_request(query.as_deref(), &headers)?;
    let grants = access.check_subscribe(&request.patterns)?;
    let filter = Filter {
        patterns: request.patterns,
        grants,
        subject: request.subject,
    };
    let feed = Feed::open(&state, filter, request.resume).await?;

    // The reconnection delay EventSource should use, spread so that clients dropped
    // together (a restart, a drain) do not all come back in the same instant.
    let retry = SseEvent::default().retry(retry_with_jitter());
    let connection = state.metrics.connection();
    let items = stream::unfold((feed, connection), |(mut feed, connection)| async move {
        let item = feed.next().await?;
        Some((sse_event(item), (feed, connection)))
    });
    let events = stream::once(async { retry }).chain(items).map(Ok::<_, Infallible>);

    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT))
        .into_response();
    // Tell buffering reverse proxies (nginx) to pass events through at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// An item as SSE: events and the reset notice carry `id:` (the position to resume
/// from); the drain and slow notices carry none, so the client's last position stays
/// the last event's.
fn sse_event(item: Item) -> SseEvent {
    match item {
        Item::Event(stored) => SseEvent::default().id(stored.position.to_string()).data(&stored.json),
        Item::Reset { head, notice } => SseEvent::default().id(head.to_string()).data(json(&notice)),
        Item::Drain(notice) | Item::Slow(notice) => SseEvent::default().data(json(&notice)),
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
