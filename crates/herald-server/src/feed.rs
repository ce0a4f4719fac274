//! A subscription's feed: the replay from a resume position, in pages, then the live
//! events, filtered by topic patterns, subject and grants; shared by SSE and WebSocket.

use std::collections::VecDeque;
use std::sync::Arc;

use herald_protocol::{CloudEvent, Event, Position, TopicPattern};
use tokio::sync::broadcast::{self, error::RecvError};

use herald_protocol::control::{StreamNotice, StreamReset};

use crate::log::Fed;
use crate::{AppError, AppState, Stored};

/// Events read from the store per replay page.
const REPLAY_PAGE: usize = 512;

/// The event type of the in-band notice that a resume position cannot be honoured.
pub const RESET_TYPE: &str = <StreamReset as herald_protocol::Event>::TYPE;
/// The event type of the notice that the gateway is shutting down.
pub const DRAIN_TYPE: &str = herald_protocol::control::DRAIN;
/// The event type of the notice that a stream fell too far behind and is closed.
pub const SLOW_TYPE: &str = herald_protocol::control::SLOW;

/// Which events a subscription receives.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    /// The event `type` matches one of these...
    pub patterns: Vec<TopicPattern>,
    /// ...and one of these, when the bearer's grants limit what it may receive...
    pub grants: Option<Vec<TopicPattern>>,
    /// ...and its `subject` is this one, when set.
    pub subject: Option<String>,
}

impl Filter {
    pub fn matches(&self, event: &CloudEvent) -> bool {
        self.patterns.iter().any(|p| p.matches(&event.ty))
            && self.grants.as_ref().is_none_or(|g| g.iter().any(|p| p.matches(&event.ty)))
            && self.subject.as_ref().is_none_or(|s| event.subject.as_deref() == Some(s))
    }

    fn matches_topic(&self, topic: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(topic))
    }
}

/// What a feed yields.
#[derive(Debug)]
pub(crate) enum Item {
    /// A stored event.
    Event(Arc<Stored>),
    /// The resume position could not be honoured; `head` is the position the feed goes
    /// on from. Carries the notice as a CloudEvent.
    Reset { head: Position, notice: CloudEvent },
    /// The last item: the gateway is shutting down.
    Drain(CloudEvent),
    /// The last item: the subscriber fell too far behind.
    Slow(CloudEvent),
}

pub(crate) struct Feed {
    state: AppState,
    filter: Arc<Filter>,
    /// Replay events after this sequence number up to `head`, then go live.
    replay_after: Option<u64>,
    head: Position,
    page: VecDeque<Arc<Stored>>,
    pending: Option<Item>,
    live: broadcast::Receiver<Fed>,
    done: bool,
}

impl Feed {
    /// A feed of the events `filter` lets through: after `resume` when given (or a reset
    /// notice when it cannot be honoured), then live.
    pub async fn open(state: &AppState, filter: Filter, resume: Option<Position>) -> Result<Feed, AppError> {
        let (head, live) = state.log.follow();
        let filter = Arc::new(filter);
        let mut feed = Feed {
            state: state.clone(),
            filter: filter.clone(),
            replay_after: None,
            head,
            page: VecDeque::new(),
            pending: None,
            live,
            done: false,
        };
        let Some(from) = resume else { return Ok(feed) };
        let reason = if from.epoch != head.epoch {
            Some("the position is from another epoch of the event log".to_owned())
        } else if from.seq > head.seq {
            // With a shared store, another gateway may have stored it and this one's live
            // feed not caught up yet: then go on live from there, skipping what the feed
            // brings up to it.
            let log = state.log.clone();
            let durable = tokio::task::spawn_blocking(move || log.durable_head())
                .await
                .map_err(|join| AppError::Internal(join.to_string()))??;
            if from.seq <= durable.seq {
                feed.head = from;
                return Ok(feed);
            }
            Some("the position is ahead of the event log".to_owned())
        } else {
            let log = state.log.clone();
            let trimmed = tokio::task::spawn_blocking(move || log.trimmed_since(from.seq))
                .await
                .map_err(|join| AppError::Internal(join.to_string()))??;
            match trimmed {
                None => Some("events after the position were removed by retention".to_owned()),
                Some(topics) => topics
                    .iter()
                    .find(|topic| filter.matches_topic(topic))
                    .map(|topic| format!("events of `{topic}` after the position were removed by retention")),
            }
        };
        match reason {
            Some(reason) => {
                let reset = StreamReset { requested: from, head, reason, topic: None };
                let notice = CloudEvent::new(format!("reset-{head}"), GATEWAY_SOURCE, RESET_TYPE)
                    .with_data(serde_json::to_value(reset).unwrap_or_default());
                feed.pending = Some(Item::Reset { head, notice });
            }
            None => feed.replay_after = Some(from.seq),
        }
        Ok(feed)
    }

    /// The position this feed goes on from: every matching event after it follows (after
    /// the replay, when resuming from an earlier position). It is the log's head when the
    /// feed was opened, or the resume position when that is ahead of this gateway's head
    /// but stored (a shared store).
    pub fn head(&self) -> Position {
        self.head
    }

    /// The next item; `None` once the feed has ended (after a drain or slow notice, or
    /// when the log is gone).
    pub async fn next(&mut self) -> Option<Item> {
        if self.done {
            return None;
        }
        if let Some(item) = self.pending.take() {
            return Some(item);
        }
        while let Some(after) = self.replay_after {
            if let Some(stored) = self.page.pop_front() {
                self.replay_after = Some(stored.position.seq);
                if self.filter.matches(&stored.event) {
                    self.state.metrics.replayed(1);
                    return Some(Item::Event(stored));
                }
                continue;
            }
            if after >= self.head.seq {
                self.replay_after = None;
                break;
            }
            // recent events come from memory, older ones from the store
            let recent = self.state.log.read_recent(after, REPLAY_PAGE).map(Ok);
            let log = self.state.log.clone();
            let read = match recent {
                Some(page) => Ok(page),
                None => tokio::task::spawn_blocking(move || log.read(after, REPLAY_PAGE)).await,
            };
            let page = match read {
                Ok(Ok(page)) => page,
                Ok(Err(error)) => {
                    tracing::error!(%error, "replay failed; ending the stream so the client resumes");
                    self.done = true;
                    return None;
                }
                Err(_) => {
                    self.done = true;
                    return None;
                }
            };
            if page.is_empty() {
                self.replay_after = None;
                break;
            }
            let head = self.head;
            self.page.extend(page.into_iter().filter(|s| s.position <= head));
            if self.page.is_empty() {
                self.replay_after = None;
            }
        }
        let mut shutdown = self.state.shutdown.clone();
        loop {
            let received = tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => {
                    self.done = true;
                    return Some(Item::Drain(notice(DRAIN_TYPE, "the gateway is shutting down; resume from your last position")));
                }
                received = self.live.recv() => received,
            };
            match received {
                Ok(fed) => {
                    let behind = self.state.log.appended_bytes().saturating_sub(fed.offset);
                    if behind > self.state.max_queue_bytes as u64 {
                        return Some(self.slow());
                    }
                    if fed.stored.position > self.head && self.filter.matches(&fed.stored.event) {
                        self.state.metrics.delivered(fed.stored.json.len());
                        return Some(Item::Event(fed.stored));
                    }
                }
                Err(RecvError::Lagged(_)) => return Some(self.slow()),
                Err(RecvError::Closed) => {
                    self.done = true;
                    return None;
                }
            }
        }
    }

    fn slow(&mut self) -> Item {
        self.done = true;
        self.state.metrics.slow_disconnect();
        Item::Slow(notice(SLOW_TYPE, "this stream fell too far behind; resume from your last position"))
    }
}

/// The `source` of the gateway's own notices.
pub const GATEWAY_SOURCE: &str = herald_protocol::control::GATEWAY_SOURCE;

/// A gateway message of the contract `E` (the answers of `/events/ws`, the SSE stream's
/// `herald.subscribed`).
pub(crate) fn message<E: Event<Data = E> + serde::Serialize>(data: E) -> CloudEvent {
    CloudEvent::new(format!("{}-{:016x}", E::TYPE, crate::stream::random_u64()), GATEWAY_SOURCE, E::TYPE)
        .with_data(serde_json::to_value(data).unwrap_or_default())
}

/// An in-band notice: a CloudEvent of `ty` with `{"reason": …}`.
pub(crate) fn notice(ty: &str, reason: &str) -> CloudEvent {
    CloudEvent::new(format!("{ty}-{}", crate::stream::random_u64()), GATEWAY_SOURCE, ty)
        .with_data(serde_json::to_value(StreamNotice::new(reason)).unwrap_or_default())
}
