//! The page's one connection to a gateway stream, shared by independently compiled
//! modules, and what carries its events into the bus.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::{Rc, Weak};

use gloo::events::EventListener;
use gloo::timers::callback::Timeout;
use herald_bus::{json, Bus, Event, Retention};
use herald_protocol::{CloudEvent, ExtensionValue, Position, TopicPattern};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::backoff::Backoff;
use crate::contracts::{ConnectionState, StreamReset};
use crate::{js, Error};

/// The extension attribute that carries a server event's stream position on the bus.
pub const POSITION_ATTRIBUTE: &str = "heraldposition";

const DRAIN_TYPE: &str = "herald.drain";
const SLOW_TYPE: &str = "herald.slow";

thread_local! {
    /// This module's agent per stream URL.
    static AGENTS: RefCell<HashMap<String, Rc<Agent>>> = RefCell::new(HashMap::new());
}

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
    transport: Transport,
    publish_url: String,
    token: Option<String>,
    backoff: Backoff,
    per_browser: bool,
}

impl Push {
    /// The stream at `stream_url` (absolute, or relative to the page), e.g.
    /// `/events/stream`; events are published to the same URL without its last segment
    /// (`/events`).
    pub fn new(stream_url: &str) -> Result<Push, Error> {
        let url = web_sys::Url::new_with_base(stream_url, &page_href()?)?;
        url.set_search("");
        url.set_hash("");
        let url = url.href();
        let publish_url = url
            .rsplit_once('/')
            .map(|(base, _)| base.to_owned())
            .unwrap_or_else(|| url.clone());
        Ok(Push {
            url,
            transport: Transport::Sse,
            publish_url,
            token: None,
            backoff: Backoff::default(),
            per_browser: true,
        })
    }

    /// The transport (default: Server-Sent Events). With [`Transport::WebSocket`] the
    /// socket is the stream URL with `ws:`/`wss:` and its last segment `ws`
    /// (`/events/stream` → `/events/ws`). The first module of a page to connect decides
    /// for the page.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// One connection per tab instead of one per browser. By default the tabs of an
    /// origin elect a leader (Web Locks) whose connection is relayed to the others over a
    /// `BroadcastChannel`; when the leader tab closes, another takes over from the last
    /// position. (The first module of a page to connect decides for the page.)
    pub fn per_tab(mut self) -> Self {
        self.per_browser = false;
        self
    }

    /// Sends `token` (a JWT) with the stream (`access_token`) and with publishes
    /// (`Authorization: Bearer`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The reconnection delays (default: 500 ms doubling to 30 s, with jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Publishes to this URL instead (default: the stream URL without its last segment).
    pub fn publish_to(mut self, url: &str) -> Result<Self, Error> {
        self.publish_url = web_sys::Url::new_with_base(url, &page_href()?)?.href();
        Ok(self)
    }

    /// The stream URL (absolute, without query).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Declares that this module needs the events whose type matches `topics`, until
    /// the returned [`Interest`] is dropped. The events arrive on the page bus
    /// ([`Bus::page`]) with their envelope as the gateway stored it, plus the
    /// `heraldposition` extension; subscribe to them there.
    pub fn subscribe(&self, topics: &[&str]) -> Result<Interest, Error> {
        let topics = topics
            .iter()
            .map(|t| t.parse::<TopicPattern>().map(|p| p.as_str().to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        let agent = AGENTS.with(|agents| {
            agents
                .borrow_mut()
                .entry(self.url.clone())
                .or_insert_with(|| Agent::new(self))
                .clone()
        });
        let id = agent.add_interest(topics);
        Ok(Interest { agent, id })
    }

    /// Sends an event to the gateway (`POST`, structured mode) with the envelope a bus
    /// publish would have — so, called inside a bus handler, it continues the handled
    /// event's correlation chain (the envelope is made at the call, not when the future
    /// first runs); resolves to the position the gateway stored it at.
    pub fn publish<E: Event>(&self, data: &E::Data) -> impl std::future::Future<Output = Result<Position, Error>> + 'static {
        let event = Bus::page().envelope(E::TYPE, E::VERSION).with_data(data);
        let json = json::to_string(&event);
        let (url, token) = (self.publish_url.clone(), self.token.clone());
        // the module that holds an open WebSocket sends over it; any other module posts
        let agent = AGENTS.with(|agents| agents.borrow().get(&self.url).cloned());
        let (id, source) = (event.id.clone(), event.source.clone());
        async move {
            let json = json.map_err(|e| Error::Rejected { status: 0, detail: e.to_string() })?;
            if let Some(ack) = agent.and_then(|agent| agent.send_over_socket(&json, &id, &source)) {
                return ack.await.unwrap_or_else(|_| {
                    Err(Error::Rejected { status: 0, detail: "the connection closed before the gateway acknowledged".into() })
                });
            }
            post(&url, token.as_deref(), &json).await
        }
    }
}

async fn post(url: &str, token: Option<&str>, json: &str) -> Result<Position, Error> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(json));
    let headers = web_sys::Headers::new()?;
    headers.set("content-type", herald_protocol::CLOUDEVENTS_JSON)?;
    if let Some(token) = token {
        headers.set("authorization", &format!("Bearer {token}"))?;
    }
    init.set_headers(&headers);
    let window = herald_bus::window().ok_or_else(|| Error::Rejected { status: 0, detail: "no window".into() })?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await?
        .unchecked_into();
    let body = JsFuture::from(response.text()?).await?.as_string().unwrap_or_default();
    let answer: Value = json::from_str(&body).unwrap_or(Value::Null);
    if response.status() != 202 {
        let detail = answer["detail"].as_str().map(str::to_owned).unwrap_or(body);
        return Err(Error::Rejected { status: response.status(), detail });
    }
    answer["position"]
        .as_str()
        .ok_or_else(|| Error::Rejected { status: 202, detail: format!("no position in {body}") })?
        .parse()
        .map_err(Error::Protocol)
}

/// This module's need for some topics of a stream; dropping it withdraws them (and, when
/// it was the module's last, gives the connection to another module, if one needs it).
#[must_use = "dropping an Interest withdraws its topics at once"]
pub struct Interest {
    agent: Rc<Agent>,
    id: u64,
}

impl Drop for Interest {
    fn drop(&mut self) {
        self.agent.remove_interest(self.id);
    }
}

/// One module's part in one stream: its interests and, while it owns it, the connection.
struct Agent {
    url: String,
    module: String,
    options: Push,
    me: Weak<Agent>,
    state: RefCell<State>,
    scheduled: Cell<bool>,
    /// As the browser's `online`/`offline` events last said.
    online: Cell<bool>,
    /// Whether this module owns the page's part as a follower of another tab.
    following: Cell<bool>,
    /// Receives the leader tab's events while following.
    relay: Closure<dyn FnMut(String, JsValue, JsValue)>,
    _live: herald_bus::LiveListener,
}

#[derive(Default)]
struct State {
    interests: BTreeMap<u64, Vec<String>>,
    next: u64,
    connection: Option<Connection>,
    attempt: u32,
    retry: Option<Timeout>,
    listeners: Vec<EventListener>,
    /// Publishes sent over the WebSocket, waiting for `herald.ack`, by (source, id).
    acks: HashMap<(String, String), futures_channel::oneshot::Sender<Result<Position, Error>>>,
}

struct Connection {
    /// The `EventSource` or `WebSocket`.
    source: JsValue,
    transport: Transport,
    open: bool,
    topics: Vec<String>,
    _on_item: Closure<dyn FnMut(String, JsValue, JsValue)>,
}

enum After {
    Nothing,
    Publish(ConnectionState),
}

impl Agent {
    fn new(options: &Push) -> Rc<Agent> {
        // The connection state is retained, so a module that loads later learns it.
        let _ = Bus::page().retain::<ConnectionState>(Retention::LastValue);
        let agent = Rc::new_cyclic(|me: &Weak<Agent>| Agent {
            url: options.url.clone(),
            module: herald_bus::module_id(),
            options: options.clone(),
            me: me.clone(),
            state: RefCell::new(State::default()),
            scheduled: Cell::new(false),
            online: Cell::new(herald_bus::window().map(|w| w.navigator().on_line()).unwrap_or(true)),
            following: Cell::new(false),
            relay: {
                let me = me.clone();
                Closure::new(move |kind: String, data: JsValue, id: JsValue| {
                    if let Some(agent) = me.upgrade() {
                        agent.on_item(&kind, data.as_string(), id.as_string());
                    }
                })
            },
            _live: herald_bus::LiveListener::new(),
        });
        let window = herald_bus::window().expect_throw("herald-push needs a window");
        let mut listeners = Vec::new();
        for name in ["herald-push:changed", "online", "offline", "herald:herald.mfe.crashed"] {
            let me = agent.me.clone();
            let url = agent.url.clone();
            listeners.push(EventListener::new(&window, name, move |event| {
                if name == "herald-push:changed" && !is_about(event, &url) {
                    return;
                }
                if let Some(agent) = me.upgrade() {
                    match name {
                        "online" => agent.online.set(true),
                        "offline" => agent.online.set(false),
                        _ => {}
                    }
                    agent.schedule();
                }
            }));
        }
        agent.state.borrow_mut().listeners = listeners;
        agent
    }

    fn add_interest(&self, topics: Vec<String>) -> u64 {
        let (id, mine) = {
            let mut state = self.state.borrow_mut();
            state.next += 1;
            let id = state.next;
            state.interests.insert(id, topics);
            (id, union(&state.interests))
        };
        // announces the change: every module's agent (this one too) reconsiders
        js::push_set_interest(&self.url, &self.module, mine);
        id
    }

    fn remove_interest(&self, id: u64) {
        let (mine, last) = {
            let mut state = self.state.borrow_mut();
            state.interests.remove(&id);
            (union(&state.interests), state.interests.is_empty())
        };
        if last {
            // Give the connection up first, so the announcement finds no owner and
            // another module takes over from the last position.
            let closed = self.close();
            js::push_release(&self.url, &self.module);
            js::push_set_interest(&self.url, &self.module, mine);
            AGENTS.with(|agents| agents.borrow_mut().remove(&self.url));
            if closed {
                self.publish_state("closed", None);
            }
        } else {
            js::push_set_interest(&self.url, &self.module, mine);
        }
    }

    /// Reconsiders the connection soon (in a microtask), not while the caller may hold
    /// borrows or be inside a dispatch.
    fn schedule(&self) {
        if self.scheduled.replace(true) {
            return;
        }
        let me = self.me.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(agent) = me.upgrade() {
                agent.scheduled.set(false);
                agent.reconcile();
            }
        });
    }

    /// Who connects, with which topics: the owner opens (or reopens) the connection for
    /// the union of every module's topics; everyone else has none.
    fn reconcile(&self) {
        let after = self.reconcile_inner();
        if let After::Publish(state) = after {
            publish(&state);
        }
    }

    fn reconcile_inner(&self) -> After {
        if self.state.borrow().interests.is_empty() {
            return After::Nothing;
        }
        if !self.online.get() {
            if js::push_owner(&self.url).as_deref() == Some(&self.module) && self.close() {
                return After::Publish(self.describe("offline", None));
            }
            return After::Nothing;
        }
        if !js::push_claim(&self.url, &self.module) {
            self.close();
            self.following.set(false);
            return After::Nothing;
        }
        if js::push_share(&self.url, self.options.per_browser) && !js::push_is_leader(&self.url) {
            // another tab holds the connection: receive its events, send it our topics
            let had = self.close();
            js::push_follow(&self.url, Some(self.relay.as_ref().unchecked_ref()));
            if !self.following.replace(true) || had {
                return After::Publish(self.describe("following", None));
            }
            return After::Nothing;
        }
        if self.following.replace(false) {
            js::push_follow(&self.url, None);
        }
        let topics = js::push_union(&self.url);
        let mut state = self.state.borrow_mut();
        if state.retry.is_some() {
            return After::Nothing; // the pending reconnect will use the topics of then
        }
        if state.connection.as_ref().is_some_and(|c| c.topics == topics) {
            return After::Nothing;
        }
        if let Some(old) = state.connection.take() {
            js::push_close(&self.url, &old.source);
        }
        match self.open(&topics) {
            Ok(connection) => {
                state.connection = Some(connection);
                drop(state);
                After::Publish(self.describe("connecting", None))
            }
            Err(error) => {
                web_sys::console::error_1(&format!("herald-push: cannot open {}: {error}", self.url).into());
                After::Nothing
            }
        }
    }

    fn open(&self, topics: &[String]) -> Result<Connection, Error> {
        let url = web_sys::Url::new(&self.url)?;
        let params = url.search_params();
        for topic in topics {
            params.append("topic", topic);
        }
        if let Some(last) = js::push_last(&self.url) {
            params.append("lastEventId", &last);
        }
        if let Some(token) = &self.options.token {
            params.append("access_token", token);
        }
        let me = self.me.clone();
        let on_item = Closure::<dyn FnMut(String, JsValue, JsValue)>::new(move |kind: String, data: JsValue, id: JsValue| {
            if let Some(agent) = me.upgrade() {
                agent.on_item(&kind, data.as_string(), id.as_string());
            }
        });
        let callback: &js_sys::Function = on_item.as_ref().unchecked_ref();
        let transport = self.options.transport;
        let source = match transport {
            Transport::Sse => js::push_open_sse(&self.url, &self.module, &url.href(), callback),
            Transport::WebSocket => {
                // the same query (token), on the socket's URL; the topics and the resume
                // position go in the subscription
                let ws = web_sys::Url::new(&ws_url(&self.url))?;
                if let Some(token) = &self.options.token {
                    ws.search_params().append("access_token", token);
                }
                let hello = subscribe_message(topics, js::push_last(&self.url));
                js::push_open_ws(&self.url, &self.module, &ws.href(), &hello, callback)
            }
        };
        Ok(Connection {
            source,
            transport,
            open: false,
            topics: topics.to_vec(),
            _on_item: on_item,
        })
    }

    /// Sends a publish over this module's open WebSocket; the acknowledgement to await,
    /// or `None` when this module has no open socket (the caller posts instead).
    fn send_over_socket(
        &self,
        json: &str,
        id: &str,
        source: &str,
    ) -> Option<futures_channel::oneshot::Receiver<Result<Position, Error>>> {
        let mut state = self.state.borrow_mut();
        let connection = state.connection.as_ref()?;
        if connection.transport != Transport::WebSocket || !connection.open {
            return None;
        }
        if !js::push_send(&connection.source, json) {
            return None;
        }
        let (tx, rx) = futures_channel::oneshot::channel();
        state.acks.insert((source.to_owned(), id.to_owned()), tx);
        Some(rx)
    }

    /// Answers a publish sent over the socket (`herald.ack` or `herald.error`).
    fn acknowledge(&self, event: &CloudEvent, result: impl FnOnce(&Value) -> Result<Position, Error>) {
        let data = event.data.clone().unwrap_or(Value::Null);
        let key = (
            data["source"].as_str().unwrap_or_default().to_owned(),
            data["id"].as_str().unwrap_or_default().to_owned(),
        );
        let waiting = {
            let mut state = self.state.borrow_mut();
            match state.acks.remove(&key) {
                Some(tx) => Some(tx),
                // `herald.error` names only the id
                None => {
                    let found = state.acks.keys().find(|(_, id)| *id == key.1).cloned();
                    found.and_then(|k| state.acks.remove(&k))
                }
            }
        };
        if let Some(tx) = waiting {
            let _ = tx.send(result(&data));
        }
    }

    /// Closes this module's connection (or cancels its pending reconnect); whether it
    /// had one.
    fn close(&self) -> bool {
        let mut state = self.state.borrow_mut();
        let pending = state.retry.take().is_some();
        match state.connection.take() {
            Some(connection) => {
                js::push_close(&self.url, &connection.source);
                true
            }
            None => pending,
        }
    }

    fn on_item(&self, kind: &str, data: Option<String>, id: Option<String>) {
        match kind {
            "open" => {
                {
                    let mut state = self.state.borrow_mut();
                    state.attempt = 0;
                    if let Some(connection) = state.connection.as_mut() {
                        connection.open = true;
                    }
                }
                self.publish_state("open", None);
            }
            "error" => self.reconnect(false),
            "message" => self.on_message(data.unwrap_or_default(), id.unwrap_or_default()),
            _ => {}
        }
    }

    /// Closes the connection and opens it again after the backoff delay (`soon`: the
    /// first step's, for a planned close such as a drain).
    fn reconnect(&self, soon: bool) {
        let acks: Vec<_> = self.state.borrow_mut().acks.drain().map(|(_, tx)| tx).collect();
        for tx in acks {
            let _ = tx.send(Err(Error::Rejected {
                status: 0,
                detail: "the connection closed before the gateway acknowledged".into(),
            }));
        }
        let delay = {
            let mut state = self.state.borrow_mut();
            let Some(connection) = state.connection.take() else { return };
            js::push_close(&self.url, &connection.source);
            let attempt = if soon { 0 } else { state.attempt };
            state.attempt = state.attempt.saturating_add(1);
            let delay = self.options.backoff.delay(attempt, js_sys::Math::random());
            let me = self.me.clone();
            state.retry = Some(Timeout::new(delay.as_millis() as u32, move || {
                if let Some(agent) = me.upgrade() {
                    agent.state.borrow_mut().retry = None;
                    agent.reconcile();
                }
            }));
            delay
        };
        self.publish_state("reconnecting", Some(delay.as_millis() as u64));
    }

    fn on_message(&self, data: String, id: String) {
        // read with the bus's codec: the module then ships one JSON reader, not two
        let event = json::from_str::<CloudEvent>(&data)
            .map_err(|e| e.to_string())
            .and_then(|event| event.validate().map(|()| event).map_err(|e| e.to_string()));
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                web_sys::console::warn_1(&format!("herald-push: skipped a stream message: {error}").into());
                return;
            }
        };
        // over a WebSocket the position travels in the event
        let id = if id.is_empty() {
            event
                .extensions
                .get(POSITION_ATTRIBUTE)
                .and_then(ExtensionValue::as_str)
                .map(str::to_owned)
                .unwrap_or_default()
        } else {
            id
        };
        match event.ty.as_str() {
            DRAIN_TYPE | SLOW_TYPE => return self.reconnect(event.ty == DRAIN_TYPE),
            "herald.subscribed" | "herald.unsubscribed" => return,
            "herald.ack" => {
                return self.acknowledge(&event, |data| {
                    data["position"]
                        .as_str()
                        .unwrap_or_default()
                        .parse()
                        .map_err(Error::Protocol)
                })
            }
            "herald.error" => {
                let detail = event.data.as_ref().and_then(|d| json::to_string(d).ok()).unwrap_or_default();
                web_sys::console::warn_1(&format!("herald-push: the gateway refused a message: {detail}").into());
                return self.acknowledge(&event, |data| {
                    Err(Error::Rejected {
                        status: data["status"].as_u64().unwrap_or(0) as u16,
                        detail: data["detail"].as_str().unwrap_or_default().to_owned(),
                    })
                });
            }
            StreamReset::TYPE => {
                // resync from the head the gateway goes on from
                js::push_set_last(&self.url, &id);
                if let Err(error) = Bus::page().publish_event(&event) {
                    web_sys::console::warn_1(&format!("herald-push: {error}").into());
                }
                return;
            }
            _ => {}
        }
        let Ok(position) = id.parse::<Position>() else {
            web_sys::console::warn_1(&format!("herald-push: skipped `{}` without a position", event.id).into());
            return;
        };
        if let Some(last) = js::push_last(&self.url).and_then(|l| l.parse::<Position>().ok()) {
            if last.epoch == position.epoch && position.seq <= last.seq {
                return; // delivered already (a resume overlapped)
            }
        }
        js::push_set_last(&self.url, &id);
        if js::push_seen(&self.url, &format!("{}\u{0}{}", event.source, event.id)) {
            return; // the same event under another position
        }
        let mut event = event;
        event.extensions.insert(POSITION_ATTRIBUTE, id);
        if let Err(error) = Bus::page().publish_event(&event) {
            web_sys::console::warn_1(&format!("herald-push: {error}").into());
        }
    }

    fn describe(&self, state: &str, retry_ms: Option<u64>) -> ConnectionState {
        let s = self.state.borrow();
        ConnectionState {
            url: self.url.clone(),
            state: state.to_owned(),
            attempt: s.attempt,
            retry_ms,
            position: js::push_last(&self.url),
            topics: s.connection.as_ref().map(|c| c.topics.clone()).unwrap_or_default(),
        }
    }

    fn publish_state(&self, state: &str, retry_ms: Option<u64>) {
        publish(&self.describe(state, retry_ms));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(connection) = self.state.get_mut().connection.take() {
            js::push_close(&self.url, &connection.source);
        }
    }
}

fn publish(state: &ConnectionState) {
    if let Err(error) = Bus::page().with_source("urn:herald:push").publish::<ConnectionState>(state) {
        web_sys::console::warn_1(&format!("herald-push: {error}").into());
    }
}

/// The WebSocket URL for a stream URL: `ws:`/`wss:`, last segment `ws`.
fn ws_url(stream: &str) -> String {
    let base = stream.rsplit_once('/').map(|(base, _)| base).unwrap_or(stream);
    let url = format!("{base}/ws");
    if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url
    }
}

/// The `herald.subscribe` message for `topics`, resuming after `from`.
fn subscribe_message(topics: &[String], from: Option<String>) -> String {
    /// The `data` of `herald.subscribe` (docs/protocol.md §3.3).
    #[derive(serde::Serialize)]
    struct Subscribe<'a> {
        topics: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    }
    let event = Bus::page()
        .with_source("urn:herald:push")
        .envelope(SUBSCRIBE_TYPE, 1)
        .with_data(Subscribe { topics, from });
    // strings and a list of strings: always JSON
    json::to_string(&event).unwrap_or_default()
}

const SUBSCRIBE_TYPE: &str = "herald.subscribe";

fn union(interests: &BTreeMap<u64, Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = interests.values().flatten().cloned().collect();
    all.sort();
    all.dedup();
    all
}

fn is_about(event: &web_sys::Event, url: &str) -> bool {
    event
        .dyn_ref::<web_sys::CustomEvent>()
        .map(|e| e.detail())
        .and_then(|detail| js_sys::Reflect::get(&detail, &JsValue::from_str("url")).ok())
        .and_then(|u| u.as_string())
        .is_some_and(|u| u == url)
}

/// The URL relative URLs resolve against: the document's base URL (`<base href>`, else
/// the page's own).
fn page_href() -> Result<String, Error> {
    let window = herald_bus::window().ok_or_else(|| Error::Rejected { status: 0, detail: "no window".into() })?;
    if let Some(base) = window.document().and_then(|d| d.base_uri().ok().flatten()) {
        return Ok(base);
    }
    Ok(window.location().href()?)
}

/// The name of the `<meta>` that tells a page's micro-frontends where the gateway's
/// stream is: `<meta name="herald-stream" content="https://gw.example/events/stream">`.
pub const STREAM_META: &str = "herald-stream";

/// The stream URL for `element`: its `stream` attribute, else the page's
/// `<meta name="herald-stream" content="…">`, else `/events/stream` (the gateway serving
/// the page). Relative URLs resolve against the document's base URL, so they work under
/// a path prefix and behind a reverse proxy.
pub fn stream_url_of(element: &web_sys::Element) -> String {
    if let Some(url) = element.get_attribute("stream").filter(|u| !u.trim().is_empty()) {
        return url;
    }
    element
        .owner_document()
        .and_then(|document| {
            document
                .query_selector(&format!("meta[name=\"{STREAM_META}\"]"))
                .ok()
                .flatten()
        })
        .and_then(|meta| meta.get_attribute("content"))
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "/events/stream".to_owned())
}
