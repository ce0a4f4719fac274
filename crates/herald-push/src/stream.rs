use gloo::events::EventListener;
use herald_protocol::{CloudEvent, Position, TopicPattern};
use wasm_bindgen::{JsCast, JsValue, UnwrapThrowExt};
use web_sys::{EventSource, MessageEvent, Url};

use crate::Error;

/// One event from the stream, with the position the gateway stored it at.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Delivery {
    /// The stream position (the SSE `id:`).
    pub position: Position,
    /// The event.
    pub event: CloudEvent,
}

/// An open push stream; dropping it closes the connection.
#[must_use = "dropping a PushStream closes it at once"]
pub struct PushStream {
    source: EventSource,
    _on_message: EventListener,
    _live: herald_bus::LiveListener,
}

impl PushStream {
    /// Opens the stream at `url` (absolute, or relative to the page) for the given topic
    /// patterns, calling `on_delivery` for every event.
    ///
    /// Every pattern is checked before anything is opened. A message that is not a valid
    /// CloudEvent with a position is reported on the console and skipped.
    pub fn open<F>(url: &str, topics: &[&str], mut on_delivery: F) -> Result<Self, Error>
    where
        F: FnMut(Delivery) + 'static,
    {
        let url = stream_url(url, topics)?;
        let source = EventSource::new(&url)?;
        let on_message = EventListener::new(&source, "message", move |event| {
            let message = event.unchecked_ref::<MessageEvent>();
            match parse_message(message) {
                Ok(delivery) => on_delivery(delivery),
                Err(reason) => web_sys::console::warn_1(&JsValue::from_str(&format!(
                    "herald-push: skipped a stream message: {reason}"
                ))),
            }
        });
        Ok(PushStream {
            source,
            _on_message: on_message,
            _live: herald_bus::LiveListener::new(),
        })
    }

    /// The underlying `EventSource`.
    pub fn as_raw(&self) -> &EventSource {
        &self.source
    }
}

impl Drop for PushStream {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// The stream URL for `base` and the topic patterns: `base?topic=…&topic=…`, resolved
/// against the page's URL. Fails on an invalid pattern or URL.
pub fn stream_url(base: &str, topics: &[&str]) -> Result<String, Error> {
    let page = web_sys::window()
        .expect_throw("herald-push needs a window")
        .location()
        .href()?;
    let url = Url::new_with_base(base, &page)?;
    let params = url.search_params();
    for topic in topics {
        let pattern: TopicPattern = topic.parse()?;
        params.append("topic", pattern.as_str());
    }
    Ok(url.href())
}

fn parse_message(message: &MessageEvent) -> Result<Delivery, String> {
    let position: Position = message.last_event_id().parse().map_err(|e| format!("{e}"))?;
    let data = message.data().as_string().ok_or("data is not text")?;
    let event = CloudEvent::from_json(data.as_bytes()).map_err(|e| e.to_string())?;
    Ok(Delivery { position, event })
}
