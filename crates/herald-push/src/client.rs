//! A module's side of the page's push connection: its requests to the page runtime
//! (`js/herald-runtime.js`), which holds the one connection per stream for every module.

use herald_bus::{json, Bus, Event};
use herald_protocol::{Position, TopicPattern};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::backoff::Backoff;
use crate::{js, Error};


/// How the page's connection reaches the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Transport {
    /// Server-Sent Events (`GET …/events/stream`); publishes go by `POST`.
    #[default]
    Sse,
    /// WebSocket (`…/events/ws`, subprotocol `cloudevents.json`); the owner's publishes go
    /// over the socket.
    WebSocket,
    /// Socket.IO (Engine.IO 4 over a WebSocket): `/socket.io/` on the stream URL's
    /// origin, namespace `/herald`, herald's event names (docs/protocol.md §3.13) — the
    /// gateway's, or any Socket.IO server that speaks them; the owner's publishes go over
    /// the socket, as `publish` with an ack.
    SocketIo,
    /// SignalR (the JSON hub protocol over a WebSocket): the hub `/hubs/events` on the
    /// stream URL's origin, `StreamEvents` (docs/protocol.md §3.12) — the gateway's, or
    /// any hub with that method; the owner's publishes go over the socket, as `Publish`.
    SignalR,
}

/// The gateway's stream, as the page shares it: declare topics with
/// [`Push::subscribe`] and receive the events on the bus; send events with
/// [`Push::publish`].
///
/// However many modules use it, the page keeps **one** connection per stream URL: the
/// first module that needs it owns it, the others add their topics through the page
/// state (docs/protocol.md §2.10), and when the owner goes away (its last [`Interest`]
/// dropped, or the module crashed) another takes over from the last position.
///
/// ```no_run
/// use herald_bus::{Bus, Event};
/// use herald_push::Push;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Reading { db: f64 }
/// # struct NoiseReading;
/// # impl Event for NoiseReading { const TYPE: &'static str = "nop.noise.reading"; type Data = Reading; }
///
/// let push = Push::new("/events/stream")?;
/// let interest = push.subscribe(&[NoiseReading::TYPE])?; // keep it while you need them
/// let subscription = Bus::page().subscribe::<NoiseReading>(|event| {
///     web_sys::console::log_1(&format!("{} dB", event.data.db).into());
/// });
/// # Ok::<(), herald_push::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Push {
    url: String,
    /// The options this module states (`None`: it leaves them to the page, §2.10).
    transport: Option<Transport>,
    publish_url: String,
    token: Option<String>,
    backoff: Option<Backoff>,
    per_tab: Option<bool>,
    /// The name of its central log entries ([`Push::log`]).
    module: Option<String>,
}

impl Push {
    /// The stream at `stream_url` (absolute, or relative to the page), e.g.
    /// `/events/stream`; events are published to the same URL without its last segment
    /// (`/events`).
    pub fn new(stream_url: &str) -> Result<Push, Error> {
        let url = js::herald_href(stream_url, true)?;
        let publish_url = url
            .rsplit_once('/')
            .map(|(base, _)| base.to_owned())
            .unwrap_or_else(|| url.clone());
        Ok(Push {
            url,
            transport: None,
            publish_url,
            token: None,
            backoff: None,
            per_tab: None,
            module: None,
        })
    }

    /// The transport (default: Server-Sent Events). With [`Transport::WebSocket`] the
    /// socket is the stream URL with `ws:`/`wss:` and its last segment `ws`
    /// (`/events/stream` → `/events/ws`). The page has one connection per stream: of the
    /// modules that state a transport, the earliest still interested decides.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// One connection per tab instead of one per browser. By default the tabs of an
    /// origin elect a leader (Web Locks) whose connection is relayed to the others over a
    /// `BroadcastChannel`; when the leader tab closes, another takes over from the last
    /// position. (Of the modules that state it, the earliest still interested decides.)
    pub fn per_tab(mut self) -> Self {
        self.per_tab = Some(true);
        self
    }

    /// Sends `token` (a JWT) with the stream (`access_token`) and with publishes
    /// (`Authorization: Bearer`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The reconnection delays (default: 500 ms doubling to 30 s, with jitter; decided
    /// for the page like the transport).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Publishes to this URL instead (default: the stream URL without its last segment).
    pub fn publish_to(mut self, url: &str) -> Result<Self, Error> {
        self.publish_url = js::herald_href(url, false)?;
        Ok(self)
    }

    /// The name this module's central log entries carry ([`Push::log`]): its element's
    /// tag, say (default: the module's id on the page, [`herald_bus::module_id`]).
    pub fn module(mut self, name: impl Into<String>) -> Self {
        self.module = Some(name.into());
        self
    }

    /// The stream URL (absolute, without query).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Declares that this module needs the events whose type matches `topics`, until
    /// the returned [`Interest`] is dropped. The events arrive on the page bus
    /// ([`Bus::page`]) with their envelope as the gateway stored it, plus the
    /// `heraldposition` extension; subscribe to them there. The page runtime holds the
    /// connection (docs/protocol.md §2.10): this is a request to it.
    pub fn subscribe(&self, topics: &[&str]) -> Result<Interest, Error> {
        // checked here (a typed error), joined by spaces, which no pattern holds
        let mut joined = String::new();
        for topic in topics {
            let pattern = topic.parse::<TopicPattern>()?;
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(pattern.as_str());
        }
        let transport = self.transport.map(|t| match t {
            Transport::Sse => "sse",
            Transport::WebSocket => "websocket",
            Transport::SocketIo => "socketio",
            Transport::SignalR => "signalr",
        });
        #[cfg(feature = "embedded-runtime")]
        crate::embedded::install();
        let handle = js::herald_interest(
            &self.url,
            &joined,
            transport,
            self.per_tab,
            self.token.as_deref(),
            self.backoff.map(|b| b.base.as_millis() as f64),
            self.backoff.map(|b| b.max.as_millis() as f64),
            &herald_bus::module_id(),
        )?;
        Ok(Interest { handle })
    }

    /// Has the page runtime answer this page's requests of type `Q` (herald-bus's
    /// [`Bus::request`](herald_bus::Bus::request)) upstream, until the returned
    /// [`Interest`] is dropped: it claims each request as its responder, sends it to the
    /// gateway, and hands back as the request's reply the server's `herald.reply` (or
    /// `herald.reply.error`) whose `causationid` is the request's id (docs/protocol.md
    /// §2.10). A server-side responder follows the gateway's stream of `Q`'s type and
    /// publishes the reply; with none, the request times out as any other.
    pub fn forward<Q: herald_protocol::Request>(&self) -> Result<Interest, Error> {
        #[cfg(feature = "embedded-runtime")]
        crate::embedded::install();
        let handle = js::herald_forward(&self.url, Q::TYPE, self.token.as_deref(), &herald_bus::module_id())?;
        Ok(Interest { handle })
    }

    /// Sends an event to the gateway with the envelope a bus publish would have — so,
    /// called inside a bus handler, it continues the handled event's correlation chain
    /// (the envelope is made at the call, not when the future first runs); resolves to
    /// the position the gateway stored it at. The page runtime sends it over the page's
    /// open WebSocket if it has one (`herald.ack`), else by `POST` (structured mode).
    pub fn publish<E: Event>(&self, data: &E::Data) -> impl std::future::Future<Output = Result<Position, Error>> + 'static {
        #[cfg(feature = "embedded-runtime")]
        crate::embedded::install();
        let event = Bus::page().envelope(E::TYPE, E::VERSION).with_data(data);
        let sent = json::to_string(&event)
            .map(|json| js::herald_publish(&self.url, &self.publish_url, self.token.as_deref(), &json))
            .map_err(|e| Error::Rejected { status: 0, detail: e.to_string() });
        async move {
            let answer = JsFuture::from(sent?).await.map_err(rejected)?;
            answer
                .as_string()
                .unwrap_or_default()
                .parse()
                .map_err(Error::Protocol)
        }
    }
}

impl Push {
    /// The document a pointer event points at (docs/protocol.md §2.10, `resolve`), read as
    /// `T`: `pointer` is the event's URL of it, such as `/records/{name}?revision=N`,
    /// resolved against the page. The page runtime fetches each revision once for the
    /// whole page, whichever module asks, and revalidates a URL without a revision
    /// (`If-None-Match`); this module's token ([`Push::token`]) goes as its bearer.
    ///
    /// A status other than 2xx is [`Error::Rejected`] with the gateway's `detail`; a
    /// document that is not a `T`, [`Error::Document`].
    ///
    /// ```no_run
    /// use herald_push::Push;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Calibration { offset_db: f64 }
    ///
    /// # async fn run() -> Result<(), herald_push::Error> {
    /// let push = Push::new("/events/stream")?;
    /// let calibration: Calibration = push.resolve("/records/calibration-s-1?revision=3").await?;
    /// # let _ = calibration.offset_db;
    /// # Ok(()) }
    /// ```
    pub fn resolve<T: serde::de::DeserializeOwned>(
        &self,
        pointer: &str,
    ) -> impl std::future::Future<Output = Result<T, Error>> + 'static {
        #[cfg(feature = "embedded-runtime")]
        crate::embedded::install();
        let url = pointer.to_owned();
        let fetching = js::herald_resolve(pointer, self.token.as_deref());
        async move {
            let text = JsFuture::from(fetching).await.map_err(rejected)?.as_string().unwrap_or_default();
            json::from_str::<T>(&text).map_err(|e| Error::Document { url, reason: e.to_string() })
        }
    }
}

/// How much a central log entry matters ([`Push::log`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail.
    Debug,
    /// What happened.
    Info,
    /// Something is off.
    Warn,
    /// Something failed.
    Error,
}

/// A central log entry as the page runtime takes it (docs/protocol.md §2.10).
#[derive(serde::Serialize)]
struct Entry<'a> {
    level: &'static str,
    message: &'a str,
    module: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlationid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eventid: Option<&'a str>,
}

impl Push {
    /// Logs `message` to the gateway's central log (docs/protocol.md §3.17) as this
    /// module ([`Push::module`]), at `level`. Called inside a bus handler, the entry carries the handled
    /// event's correlation id and id, so the central log traces it with its chain. The
    /// page runtime sends the page's entries in batches (`POST /logs`); nothing waits,
    /// and an entry that cannot be sent is counted there (`logs()`), never an error here.
    ///
    /// ```no_run
    /// use herald_push::{Level, Push};
    ///
    /// let push = Push::new("/events/stream")?.module("nop-sensor-list");
    /// push.log(Level::Info, "alert shown");
    /// # Ok::<(), herald_push::Error>(())
    /// ```
    pub fn log(&self, level: Level, message: &str) {
        #[cfg(feature = "embedded-runtime")]
        crate::embedded::install();
        let handled = herald_bus::handled();
        let module = self.module.clone().unwrap_or_else(herald_bus::module_id);
        let entry = Entry {
            level: match level {
                Level::Debug => "debug",
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            },
            message,
            module: &module,
            correlationid: handled.as_ref().map(|(correlation, _)| correlation.as_str()),
            eventid: handled.as_ref().map(|(_, id)| id.as_str()),
        };
        if let Ok(json) = json::to_string(&entry) {
            js::herald_log(&self.url, self.token.as_deref(), &json);
        }
    }
}

/// The runtime's rejection `{status, detail}` as an [`Error`].
fn rejected(value: JsValue) -> Error {
    let field = |name: &str| js_sys::Reflect::get(&value, &JsValue::from_str(name)).ok();
    match (field("status").and_then(|s| s.as_f64()), field("detail").and_then(|d| d.as_string())) {
        (Some(status), Some(detail)) => Error::Rejected { status: status as u16, detail },
        _ => Error::from(value),
    }
}

/// This module's need for some topics of a stream; dropping it withdraws them (and,
/// when no module of the page needs the stream any more, the page runtime closes it).
#[must_use = "dropping an Interest withdraws its topics at once"]
pub struct Interest {
    handle: JsValue,
}

impl std::fmt::Debug for Interest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interest")
    }
}

impl Drop for Interest {
    fn drop(&mut self) {
        js::herald_release(&self.handle);
    }
}

/// The name of the `<meta>` that tells a page's micro-frontends where the gateway's
/// stream is: `<meta name="herald-stream" content="https://gw.example/events/stream">`.
pub const STREAM_META: &str = "herald-stream";

/// The stream URL for `element`: its `stream` attribute, else the page's
/// `<meta name="herald-stream" content="…">`, else `/events/stream` (the gateway serving
/// the page). Relative URLs resolve against the document's base URL, so they work under
/// a path prefix and behind a reverse proxy.
pub fn stream_url_of(element: &web_sys::Element) -> String {
    js::herald_stream_url_of(element, STREAM_META)
}
