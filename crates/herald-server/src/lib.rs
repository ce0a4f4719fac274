//! # herald-server
//!
//! herald's push gateway. Producers post CloudEvents to it; browsers keep one Server-Sent
//! Events stream open to it and receive the events whose type matches their topic
//! patterns. It also serves the page itself, so one process serves page and stream.
//!
//! | route                    | what it does                                                      |
//! |--------------------------|-------------------------------------------------------------------|
//! | `POST /events`           | ingest CloudEvents (structured, binary, batch); `202` + positions |
//! | `GET /events/stream`     | SSE: `?topic=PATTERN` (repeatable), resume with `Last-Event-ID`    |
//! | `GET /events/ws`         | WebSocket, subprotocol `cloudevents.json`: subscribe and publish  |
//! | `/hubs/events`           | a SignalR hub (JSON protocol): `StreamEvents`, `Publish`          |
//! | `/herald.v1.Herald/*`    | gRPC-web: `Subscribe` (server stream), `Publish`; CloudEvents protobuf |
//! | `/socket.io/`            | Socket.IO v4, namespace `/herald`: subscribe, publish with acks   |
//! | `POST /logs`             | the central log: modules' entries, written as ECS JSON lines      |
//! | `POST /webhooks/{name}`  | webhook deliveries, HMAC-SHA256 signed; `OPTIONS` handshake       |
//! | `POST /eventgrid/{name}` | Azure Event Grid deliveries, both schemas; validation handshake   |
//! | `/webhook-subscriptions` | outbound webhooks: list, create, delete, resume (admin token)     |
//! | `GET /healthz`           | liveness                                                          |
//! | `GET /metrics`           | counters in the Prometheus text format                            |
//! | anything else            | static files of the page (`--static-dir`)                          |
//!
//! Errors are RFC 9457 `application/problem+json` documents. `docs/protocol.md` in the
//! repository is the wire specification.
//!
//! The router is built by [`app`] from an [`AppState`], and [`serve`] serves it with the
//! connection limits ([`Limits`]), so that tests serve exactly what the binary serves:
//!
//! ```no_run
//! use herald_server::{serve, AppState, EventLog};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let log = EventLog::open("./.herald".as_ref())?;
//! let state = AppState::new(log).with_static_dir("dist");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8787").await?;
//! serve(listener, state).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod bridge;
pub mod central;
mod config;
mod cors;
mod error;
mod eventgrid;
mod feed;
mod files;
mod grpc;
#[doc(hidden)]
pub mod fuzz;
mod ingest;
mod log;
mod metrics;
pub mod query;
mod records;
mod serve;
mod signalr;
mod socketio;
pub mod store;
mod stream;
mod subscriptions;
mod webhooks;
mod ws;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::HeaderValue;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn_with_state, map_response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

pub use auth::{Access, Auth, Grants};
pub use bridge::{sign, AmqpIn, AmqpOut, BridgeStatus, Bridges, KafkaIn, KafkaOut, PlainMapping, WebhookOut};
pub use subscriptions::SUBSCRIPTIONS_FILE;
pub use config::{Config, ConfigError, NatsSection, RetentionConfig, WebhookConfig};
pub use error::{AppError, StoreError};
pub use eventgrid::{from_event_grid, EventGrid, DATA_VERSION_ATTRIBUTE, MAX_BATCH, VALIDATION_EVENT};
pub use files::{is_hashed_name, IMMUTABLE, REVALIDATE};
pub use feed::{DRAIN_TYPE, GATEWAY_SOURCE, RESET_TYPE, SLOW_TYPE};
pub use webhooks::{Webhook, SIGNATURE_HEADER};
pub use ws::{POSITION_ATTRIBUTE, SUBPROTOCOL, SUBSCRIBE_TYPE, UNSUBSCRIBE_TYPE};
pub use log::{EventLog, Fed};
pub use store::{EventStore, NatsConfig, NatsStore, Retention, SqliteStore, Stored};
pub use metrics::Metrics;
pub use serve::{bind, serve, Limits, LISTEN_BACKLOG, MAX_URI_BYTES, SEND_BUFFER_BYTES};

/// The default limit on a posted body, in bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// The default limit on how far a stream may fall behind, in bytes of events.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 1024 * 1024;

/// The origin outbound webhooks name in the abuse-protection handshake by default.
pub const DEFAULT_WEBHOOK_ORIGIN: &str = "herald.localhost";

/// Everything the routes share.
#[derive(Clone)]
pub struct AppState {
    log: Arc<EventLog>,
    metrics: Arc<Metrics>,
    static_dir: Option<PathBuf>,
    max_body_bytes: usize,
    max_queue_bytes: usize,
    limits: Limits,
    auth: Option<Arc<Auth>>,
    cors_origins: Vec<HeaderValue>,
    webhooks: Arc<HashMap<String, Webhook>>,
    eventgrid: Arc<HashMap<String, EventGrid>>,
    retention: Arc<Vec<Retention>>,
    bridges: Arc<Bridges>,
    configured: Arc<Vec<Configured>>,
    subscriptions: Arc<subscriptions::Subscriptions>,
    hub_connections: Arc<signalr::Connections>,
    allow_private_webhook_targets: bool,
    webhook_origin: String,
    central: Arc<central::CentralLog>,
    shutdown: watch::Receiver<bool>,
    // Keeps the channel open when nobody asked for a shutdown signal.
    _shutdown_tx: Option<Arc<watch::Sender<bool>>>,
}

impl AppState {
    /// State over `log`, serving no static files, never shutting streams down.
    pub fn new(log: EventLog) -> Self {
        let (tx, rx) = watch::channel(false);
        AppState {
            log: Arc::new(log),
            metrics: Arc::default(),
            static_dir: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            limits: Limits::default(),
            auth: None,
            cors_origins: Vec::new(),
            webhooks: Arc::default(),
            eventgrid: Arc::default(),
            retention: Arc::default(),
            bridges: Arc::default(),
            configured: Arc::default(),
            subscriptions: Arc::default(),
            hub_connections: Arc::default(),
            allow_private_webhook_targets: false,
            webhook_origin: DEFAULT_WEBHOOK_ORIGIN.into(),
            central: Arc::default(),
            shutdown: rx,
            _shutdown_tx: Some(Arc::new(tx)),
        }
    }

    /// Serves the files under `dir` (the trunk-built page) for every other path.
    pub fn with_static_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_dir = Some(dir.into());
        self
    }

    /// Sets the limit on a posted body; larger bodies get `413`.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets how far (in bytes of events) a stream may fall behind before it is ended
    /// with a `herald.slow` notice.
    pub fn with_max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = bytes;
        self
    }

    /// Sets the connection limits and timeouts [`serve`] applies.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Requires a valid token on every event route (see [`auth`]). Without this, every
    /// request may publish and subscribe to everything.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// Allows cross-origin requests (CORS, with credentials) from these origins.
    pub fn with_cors_origins(mut self, origins: impl IntoIterator<Item = HeaderValue>) -> Self {
        self.cors_origins = origins.into_iter().collect();
        self
    }

    /// Receives webhook deliveries at `POST /webhooks/{name}`.
    pub fn with_webhook(mut self, name: impl Into<String>, hook: Webhook) -> Self {
        Arc::make_mut(&mut self.webhooks).insert(name.into(), hook);
        self
    }

    /// Adds an inbound RabbitMQ bridge `name` consuming from the broker at `url`;
    /// [`spawn_bridges`] starts it.
    pub fn with_amqp_in(mut self, name: impl Into<String>, url: impl Into<String>, bridge: AmqpIn) -> Self {
        Arc::make_mut(&mut self.configured).push(Configured::AmqpIn(name.into(), url.into(), bridge));
        self
    }

    /// Adds an outbound RabbitMQ bridge `name` publishing to the broker at `url`;
    /// [`spawn_bridges`] starts it.
    pub fn with_amqp_out(mut self, name: impl Into<String>, url: impl Into<String>, bridge: AmqpOut) -> Self {
        Arc::make_mut(&mut self.configured).push(Configured::AmqpOut(name.into(), url.into(), bridge));
        self
    }

    /// Adds an inbound Kafka bridge `name` consuming from the bootstrap `brokers`;
    /// [`spawn_bridges`] starts it.
    pub fn with_kafka_in(mut self, name: impl Into<String>, brokers: Vec<String>, bridge: KafkaIn) -> Self {
        Arc::make_mut(&mut self.configured).push(Configured::KafkaIn(name.into(), brokers, bridge));
        self
    }

    /// Adds an outbound Kafka bridge `name` producing to the bootstrap `brokers`;
    /// [`spawn_bridges`] starts it.
    pub fn with_kafka_out(mut self, name: impl Into<String>, brokers: Vec<String>, bridge: KafkaOut) -> Self {
        Arc::make_mut(&mut self.configured).push(Configured::KafkaOut(name.into(), brokers, bridge));
        self
    }

    /// Adds an outbound webhook subscription `name` (as the configuration file does:
    /// listed by the REST API, not deleted by it); [`spawn_bridges`] starts it.
    pub fn with_webhook_out(mut self, name: impl Into<String>, hook: WebhookOut) -> Self {
        Arc::make_mut(&mut self.configured).push(Configured::WebhookOut(name.into(), hook));
        self
    }

    /// Keeps the subscriptions made through the REST API in `file` (and starts those it
    /// holds in [`spawn_bridges`]); without it they live in memory only.
    pub fn with_subscriptions_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.subscriptions = Arc::new(subscriptions::Subscriptions::in_file(file.into()));
        self
    }

    /// Allows outbound webhooks to loopback and private addresses (tests, an endpoint
    /// inside the gateway's own network); off by default, against SSRF.
    pub fn with_private_webhook_targets(mut self, allow: bool) -> Self {
        self.allow_private_webhook_targets = allow;
        self
    }

    /// The origin (a DNS name) outbound webhooks give in the abuse-protection handshake.
    pub fn with_webhook_origin(mut self, origin: impl Into<String>) -> Self {
        self.webhook_origin = origin.into();
        self
    }

    /// Every bridge's status.
    pub fn bridges(&self) -> &Bridges {
        &self.bridges
    }

    /// Receives Azure Event Grid deliveries at `POST /eventgrid/{name}`.
    pub fn with_eventgrid(mut self, name: impl Into<String>, receiver: EventGrid) -> Self {
        Arc::make_mut(&mut self.eventgrid).insert(name.into(), receiver);
        self
    }

    /// The retention rules [`enforce_retention`] applies.
    pub fn with_retention(mut self, rules: Vec<Retention>) -> Self {
        self.retention = Arc::new(rules);
        self
    }

    /// Ends every open stream once `signal` turns `true`, so that a graceful shutdown
    /// does not wait for streams that never end by themselves.
    pub fn with_shutdown(mut self, signal: watch::Receiver<bool>) -> Self {
        self.shutdown = signal;
        self._shutdown_tx = None;
        self
    }

    /// The same state, keeping the central log in `log` (docs/protocol.md §3.17; by
    /// default lines go nowhere).
    pub fn with_central_log(mut self, log: central::CentralLog) -> Self {
        self.central = Arc::new(log);
        self
    }

    /// The central log.
    pub fn central_log(&self) -> &central::CentralLog {
        &self.central
    }

    /// The event log.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The gateway's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// A bridge of the configuration, with its broker.
#[derive(Debug, Clone)]
enum Configured {
    AmqpIn(String, String, AmqpIn),
    AmqpOut(String, String, AmqpOut),
    KafkaIn(String, Vec<String>, KafkaIn),
    KafkaOut(String, Vec<String>, KafkaOut),
    WebhookOut(String, WebhookOut),
}

/// Starts every configured bridge as a task beside the server; each runs until the
/// shutdown signal, reconnecting to its broker with backoff whenever it is lost. Also
/// starts the central log's shipping to its `_bulk` endpoint, when it has one.
pub fn spawn_bridges(state: &AppState) {
    if let Some(shipper) = state.central.shipper() {
        tokio::spawn(shipper);
    }
    for bridge in state.configured.iter().cloned() {
        let state = state.clone();
        match bridge {
            Configured::AmqpIn(name, url, bridge) => {
                state.bridges.status(&format!("amqp-in:{name}"));
                tokio::spawn(bridge::amqp::run_in(name, bridge, url, state));
            }
            Configured::AmqpOut(name, url, bridge) => {
                state.bridges.status(&format!("amqp-out:{name}"));
                tokio::spawn(bridge::amqp::run_out(name, bridge, url, state));
            }
            Configured::KafkaIn(name, brokers, bridge) => {
                state.bridges.status(&format!("kafka-in:{name}"));
                tokio::spawn(bridge::kafka::run_in(name, bridge, brokers, state));
            }
            Configured::KafkaOut(name, brokers, bridge) => {
                state.bridges.status(&format!("kafka-out:{name}"));
                tokio::spawn(bridge::kafka::run_out(name, bridge, brokers, state));
            }
            Configured::WebhookOut(name, hook) => {
                tokio::spawn(async move {
                    if let Err(error) = subscriptions::start(&state, name, hook, true).await {
                        tracing::error!(%error, "a webhook subscription cannot start");
                    }
                });
            }
        }
    }
    // and those made through the REST API before
    let state = state.clone();
    tokio::spawn(async move {
        let saved = match state.subscriptions.load() {
            Ok(saved) => saved,
            Err(error) => return tracing::error!(%error, "the webhook subscriptions cannot be read"),
        };
        for (name, hook) in saved {
            if let Err(error) = subscriptions::start(&state, name, hook, false).await {
                tracing::error!(%error, "a webhook subscription cannot start");
            }
        }
    });
}

/// Applies the retention rules every `interval`, until the shutdown signal. Run it
/// beside the server: `tokio::spawn(enforce_retention(state.clone(), interval))`.
pub async fn enforce_retention(state: AppState, interval: std::time::Duration) {
    if state.retention.is_empty() {
        return;
    }
    let mut shutdown = state.shutdown.clone();
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = ticks.tick() => {}
        }
        let (log, rules) = (state.log.clone(), state.retention.clone());
        match tokio::task::spawn_blocking(move || log.enforce(&rules)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => tracing::info!(removed, "retention removed events"),
            Ok(Err(error)) => tracing::error!(%error, "retention failed"),
            Err(error) => tracing::error!(%error, "retention was interrupted"),
        }
    }
}

/// Logs, every `interval` until the shutdown signal, a summary at `info` of what the
/// gateway did (events accepted and delivered, open streams), and a warning when log
/// lines were dropped because the log sink did not keep up. Run it beside the server.
pub async fn log_summaries(state: AppState, interval: std::time::Duration) {
    let mut shutdown = state.shutdown.clone();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let metrics = state.metrics.clone();
    let (mut accepted, mut delivered, mut dropped) =
        (metrics.ingested_events(), metrics.delivered_events(), metrics.dropped_log_lines());
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = ticks.tick() => {}
        }
        let now = (metrics.ingested_events(), metrics.delivered_events(), metrics.dropped_log_lines());
        if now.0 > accepted || now.1 > delivered {
            tracing::info!(
                accepted = now.0 - accepted,
                delivered = now.1 - delivered,
                streams = metrics.connections(),
                head = %state.log.head(),
                seconds = interval.as_secs(),
                "events since the last summary"
            );
        }
        if now.2 > dropped {
            tracing::warn!(dropped = now.2 - dropped, "log lines dropped: the log sink is not keeping up");
        }
        (accepted, delivered, dropped) = now;
    }
}

/// `200 ok`, or `503` with the reason when the store cannot take events (NATS down, a
/// full disk). With `Accept: application/json`, a JSON document that also gives each
/// bridge's state (a bridge that is down does not make the gateway unhealthy).
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // a store may probe its disk or its server: not on an async worker
    let log = state.log.clone();
    let store = match tokio::task::spawn_blocking(move || log.health()).await {
        Ok(store) => store,
        Err(join) => return AppError::Internal(join.to_string()).into_response(),
    };
    let json = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"));
    if !json {
        return match store {
            Ok(()) => "ok".into_response(),
            Err(reason) => AppError::Unavailable(reason).into_response(),
        };
    }
    let bridges: serde_json::Map<String, serde_json::Value> = state
        .bridges
        .all()
        .into_iter()
        .map(|(name, status)| {
            let value = serde_json::json!({
                "state": if status.is_up() { "up" } else { "down" },
                "lag": status.lag(),
                "error": status.last_error(),
            });
            (name, value)
        })
        .collect();
    let status = if store.is_ok() { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({
        "status": if store.is_ok() { "ok" } else { "unavailable" },
        "store": store.err(),
        "bridges": bridges,
    });
    (status, axum::Json(body)).into_response()
}

async fn metrics_route(axum::extract::State(state): axum::extract::State<AppState>) -> impl axum::response::IntoResponse {
    let mut text = state.metrics.render();
    state.bridges.render(&mut text);
    state.central.render(&mut text);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// The gateway's router. [`serve`] serves it with the connection limits; the request
/// limits (head size, body time) are layers of the router itself.
pub fn app(state: AppState) -> Router {
    let static_dir = state.static_dir.clone();
    let limit = state.max_body_bytes;
    let limits = state.limits.clone();
    let cors_origins = Arc::new(state.cors_origins.clone());
    let socketio_state = state.clone();
    let router = Router::new()
        .route("/events", post(ingest::post_events))
        .route("/events/stream", get(stream::get_stream))
        .route("/events/query", get(query::get_query))
        .route("/logs", post(central::post_logs))
        .route("/records/{name}", get(records::get_record).put(records::put_record))
        .route("/events/ws", get(ws::get_ws))
        .route(signalr::HUB_PATH, get(signalr::connect).post(signalr::send))
        .route(&format!("{}/negotiate", signalr::HUB_PATH), post(signalr::negotiate))
        .route_service(grpc::ROUTE, grpc::service(&state))
        .route("/webhooks/{name}", post(webhooks::post_webhook).options(webhooks::options_webhook))
        .route("/eventgrid/{name}", post(eventgrid::post_eventgrid).options(eventgrid::options_eventgrid))
        .route("/webhook-subscriptions", get(subscriptions::list).post(subscriptions::create))
        .route("/webhook-subscriptions/{name}", axum::routing::delete(subscriptions::delete))
        .route("/webhook-subscriptions/{name}/resume", post(subscriptions::resume))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_route))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state);
    let router = match static_dir {
        // files are served from inside the folder only, links out of it are not followed
        Some(dir) => router.fallback_service(get(files::serve_file).with_state(files::StaticDir::new(&dir))),
        None => router,
    };
    // every error answered as a problem document: also axum's own 404 and 405, the static
    // files' and the extractors' rejections
    let router = router
        .layer(map_response(error::problem_documents))
        // Socket.IO answers `/socket.io/` itself, with its own error bodies
        .layer(socketio::layer(&socketio_state))
        .layer(from_fn_with_state(limits.body_read_timeout, serve::body_deadline))
        .layer(from_fn_with_state(limits.max_header_bytes, serve::head_limits));
    if cors_origins.is_empty() {
        router
    } else {
        router.layer(from_fn_with_state(cors_origins, cors::cors))
    }
}
