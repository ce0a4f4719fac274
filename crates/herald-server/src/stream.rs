//! `GET /events/stream`: Server-Sent Events, resumable by position.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use herald_protocol::{CloudEvent, Position, TopicPattern};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};

use crate::{AppError, AppState, Stored};

/// How often an idle stream sends a comment line to keep proxies from closing it.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The event type of the in-band notice that a resume position cannot be honoured.
pub const RESET_TYPE: &str = "herald.reset";

struct StreamRequest {
    patterns: Vec<TopicPattern>,
    resume: Option<Position>,
}

fn parse_request(query: Option<&str>, headers: &HeaderMap) -> Result<StreamRequest, AppError> {
    let mut patterns = Vec::new();
    let mut resume_query = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "topic" => patterns.push(value.parse::<TopicPattern>()?),
            "lastEventId" => resume_query = Some(value.into_owned()),
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
    Ok(StreamRequest { patterns, resume })
}

pub(crate) async fn get_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let request = parse_request(query.as_deref(), &headers)?;
    let log = state.log.clone();
    let (head, feed) = log.follow();
    let patterns = Arc::new(request.patterns);
    let matching = {
        let patterns = patterns.clone();
        move |stored: &Stored| patterns.iter().any(|p| p.matches(&stored.event.ty))
    };

    let mut first: Vec<SseEvent> = Vec::new();
    match request.resume {
        Some(from) if from.epoch == head.epoch && from.seq <= head.seq => {
            for stored in log.after(from.seq).iter().take_while(|s| s.position <= head) {
                if matching(stored) {
                    first.push(sse_event(stored));
                }
            }
        }
        Some(from) => first.push(reset_event(from, head)),
        None => {}
    }

    let matching_live = matching.clone();
    let live = BroadcastStream::new(feed)
        // A stream that fell too far behind ends; the client resumes from its last id.
        .take_while(|item| std::future::ready(!matches!(item, Err(BroadcastStreamRecvError::Lagged(_)))))
        .filter_map(move |item| {
            let event = item.ok().filter(|s| s.position > head && matching_live(s)).map(|s| sse_event(&s));
            std::future::ready(event)
        });
    let shutdown = WatchStream::new(state.shutdown.clone()).filter(|stop| std::future::ready(*stop));
    let events = stream::iter(first)
        .chain(live)
        .map(Ok::<_, Infallible>)
        .take_until(Box::pin(shutdown).into_future());

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

fn sse_event(stored: &Stored) -> SseEvent {
    SseEvent::default()
        .id(stored.position.to_string())
        .data(&stored.json)
}

/// The in-band notice that `from` cannot be resumed (another epoch, or ahead of the log):
/// the client must resync; the stream continues after `head`.
fn reset_event(from: Position, head: Position) -> SseEvent {
    let reason = if from.epoch != head.epoch {
        "the position is from another epoch of the event log"
    } else {
        "the position is ahead of the event log"
    };
    let event: CloudEvent = CloudEvent::new(format!("reset-{head}"), "urn:herald:gateway", RESET_TYPE).with_data(
        serde_json::json!({ "requested": from, "head": head, "reason": reason }),
    );
    SseEvent::default()
        .id(head.to_string())
        .data(serde_json::to_string(&event).expect("a CloudEvent always serialises"))
}
