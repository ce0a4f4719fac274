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
            state.metrics.replayed(first.len());
        }
        Some(from) => first.push(reset_event(from, head)),
        None => {}
    }


    // The reconnection delay EventSource should use, spread so that clients dropped
    // together (a restart, a drain) do not all come back in the same instant.
    let retry = SseEvent::default().retry(retry_with_jitter());
    let live = Live {
        _connection: state.metrics.connection(),
        metrics: state.metrics.clone(),
        feed,
        shutdown: state.shutdown.clone(),
        head,
        matching,
        done: false,
    };
    let events = stream::iter(std::iter::once(retry).chain(first))
        .chain(stream::unfold(live, Live::next))
        .map(Ok::<_, Infallible>);

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

/// The live part of a stream: events after `head` that match, until the client falls
/// too far behind (a final `herald.slow` notice) or the gateway shuts down (a final
/// `herald.drain` notice). Either way the client resumes from its last position.
struct Live<M> {
    _connection: crate::metrics::ConnectionGuard,
    metrics: Arc<crate::Metrics>,
    feed: tokio::sync::broadcast::Receiver<Arc<Stored>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    head: Position,
    matching: M,
    done: bool,
}

impl<M: Fn(&Stored) -> bool> Live<M> {
    async fn next(mut self) -> Option<(SseEvent, Self)> {
        use tokio::sync::broadcast::error::RecvError;
        if self.done {
            return None;
        }
        enum Step {
            Drain,
            Deliver(Arc<Stored>),
            Slow,
            Closed,
        }
        loop {
            let step = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|stop| *stop) => Step::Drain,
                received = self.feed.recv() => match received {
                    Ok(stored) => Step::Deliver(stored),
                    Err(RecvError::Lagged(_)) => Step::Slow,
                    Err(RecvError::Closed) => Step::Closed,
                },
            };
            match step {
                Step::Deliver(stored) if stored.position > self.head && (self.matching)(&stored) => {
                    self.metrics.delivered();
                    return Some((sse_event(&stored), self));
                }
                Step::Deliver(_) => {}
                Step::Drain => {
                    self.done = true;
                    let notice = notice(DRAIN_TYPE, "the gateway is shutting down; resume from your last position");
                    return Some((notice, self));
                }
                Step::Slow => {
                    self.done = true;
                    self.metrics.slow_disconnect();
                    let notice = notice(SLOW_TYPE, "this stream fell too far behind; resume from your last position");
                    return Some((notice, self));
                }
                Step::Closed => return None,
            }
        }
    }
}

/// The event type of the notice that the gateway is shutting down.
pub const DRAIN_TYPE: &str = "herald.drain";
/// The event type of the notice that a stream fell too far behind and is closed.
pub const SLOW_TYPE: &str = "herald.slow";

/// An in-band notice: a CloudEvent of `ty` with `{"reason": …}`, sent without an `id:` so
/// that the client's last position stays the last event's.
fn notice(ty: &str, reason: &str) -> SseEvent {
    let event: CloudEvent = CloudEvent::new(format!("{ty}-{}", retry_seed()), "urn:herald:gateway", ty)
        .with_data(serde_json::json!({ "reason": reason }));
    SseEvent::default().data(serde_json::to_string(&event).expect("a CloudEvent always serialises"))
}

/// 1 to 3 seconds.
fn retry_with_jitter() -> Duration {
    Duration::from_millis(1_000 + retry_seed() % 2_000)
}

fn retry_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // spread the low bits
    u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40
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
