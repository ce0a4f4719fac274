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
//! | `GET /healthz`           | liveness                                                          |
//! | `GET /metrics`           | counters in the Prometheus text format                            |
//! | anything else            | static files of the page (`--static-dir`)                          |
//!
//! Errors are RFC 9457 `application/problem+json` documents. `docs/protocol.md` in the
//! repository is the wire specification.
//!
//! The router is built by [`app`] from an [`AppState`], so that tests serve exactly the
//! router the binary serves:
//!
//! ```no_run
//! use herald_server::{app, AppState, EventLog};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let log = EventLog::open("./.herald".as_ref())?;
//! let state = AppState::new(log).with_static_dir("dist");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8787").await?;
//! axum::serve(listener, app(state)).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod ingest;
mod log;
mod metrics;
mod stream;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use tower_http::services::ServeDir;

pub use error::{AppError, StoreError};
pub use log::{EventLog, Stored};
pub use metrics::Metrics;

/// The default limit on a posted body, in bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

/// Everything the routes share.
#[derive(Clone)]
pub struct AppState {
    log: Arc<EventLog>,
    metrics: Arc<Metrics>,
    static_dir: Option<PathBuf>,
    max_body_bytes: usize,
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

    /// Ends every open stream once `signal` turns `true`, so that a graceful shutdown
    /// does not wait for streams that never end by themselves.
    pub fn with_shutdown(mut self, signal: watch::Receiver<bool>) -> Self {
        self.shutdown = signal;
        self._shutdown_tx = None;
        self
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

async fn metrics_route(axum::extract::State(state): axum::extract::State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

/// The gateway's router.
pub fn app(state: AppState) -> Router {
    let static_dir = state.static_dir.clone();
    let limit = state.max_body_bytes;
    let router = Router::new()
        .route("/events", post(ingest::post_events))
        .route("/events/stream", get(stream::get_stream))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics_route))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state);
    match static_dir {
        Some(dir) => router.fallback_service(ServeDir::new(dir).append_index_html_on_directories(true)),
        None => router.fallback(|| async { AppError::NotFound }),
    }
}
