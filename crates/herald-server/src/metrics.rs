//! `/metrics`: the gateway's counters in the Prometheus text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// The transports a client streams events over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `GET /events/stream`.
    Sse,
    /// `GET /events/ws`.
    WebSocket,
    /// `/hubs/events`, either of its transports.
    SignalR,
    /// `/socket.io/`, namespace `/herald`.
    SocketIo,
    /// `herald.v1.Herald/Subscribe` (gRPC-web).
    Grpc,
}

impl Transport {
    const ALL: [Transport; 5] = [Transport::Sse, Transport::WebSocket, Transport::SignalR, Transport::SocketIo, Transport::Grpc];

    /// Its `transport` label in `/metrics`.
    fn label(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::WebSocket => "websocket",
            Transport::SignalR => "signalr",
            Transport::SocketIo => "socketio",
            Transport::Grpc => "grpc",
        }
    }
}

/// The gateway's counters, shared by every route.
#[derive(Default)]
pub struct Metrics {
    connections: AtomicI64,
    by_transport: [AtomicI64; 5],
    ingested: AtomicU64,
    ingest_bytes: AtomicU64,
    delivered: AtomicU64,
    delivered_bytes: AtomicU64,
    replayed: AtomicU64,
    slow: AtomicU64,
    write_timeouts: AtomicU64,
    refused: AtomicU64,
    log_dropped: std::sync::OnceLock<Box<dyn Fn() -> u64 + Send + Sync>>,
    append_micros: AtomicU64,
    appends: AtomicU64,
}

impl Metrics {
    pub(crate) fn ingested(&self, events: usize, bytes: usize, took: Duration) {
        self.ingested.fetch_add(events as u64, Ordering::Relaxed);
        self.ingest_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.append_micros
            .fetch_add(took.as_micros().try_into().unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn delivered(&self, bytes: usize) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.delivered_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn replayed(&self, events: usize) {
        self.replayed.fetch_add(events as u64, Ordering::Relaxed);
    }

    pub(crate) fn slow_disconnect(&self) {
        self.slow.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection closed because its peer took nothing written to it in time: it
    /// counts as a slow disconnect too.
    pub(crate) fn write_timeout(&self) {
        self.write_timeouts.fetch_add(1, Ordering::Relaxed);
        self.slow_disconnect();
    }

    pub(crate) fn refused_connection(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads the count of log lines dropped (the log writer's) for `/metrics`; the
    /// first call wins.
    pub fn count_dropped_log_lines(&self, dropped: impl Fn() -> u64 + Send + Sync + 'static) {
        let _ = self.log_dropped.set(Box::new(dropped));
    }

    /// Log lines dropped because the log sink did not keep up.
    pub fn dropped_log_lines(&self) -> u64 {
        self.log_dropped.get().map_or(0, |dropped| dropped())
    }

    /// Events accepted since the gateway started.
    pub fn ingested_events(&self) -> u64 {
        self.ingested.load(Ordering::Relaxed)
    }

    /// Events sent live to streams since the gateway started.
    pub fn delivered_events(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Counts an open stream over `transport` until the guard is dropped.
    pub(crate) fn connection(self: &std::sync::Arc<Self>, transport: Transport) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.by_transport[transport as usize].fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone(), transport)
    }

    /// The open streams right now.
    pub fn connections(&self) -> i64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed).to_string();
        metric("herald_stream_connections", "gauge", "Open event streams, every transport.", self.connections().to_string());
        metric("herald_events_ingested_total", "counter", "Events accepted and stored.", get(&self.ingested));
        metric("herald_ingest_bytes_total", "counter", "Bytes of accepted request bodies.", get(&self.ingest_bytes));
        metric("herald_events_delivered_total", "counter", "Events sent live to streams.", get(&self.delivered));
        metric("herald_delivered_bytes_total", "counter", "Bytes of events sent live to streams.", get(&self.delivered_bytes));
        metric("herald_events_replayed_total", "counter", "Events sent to streams on resume.", get(&self.replayed));
        metric(
            "herald_stream_slow_disconnects_total",
            "counter",
            "Streams ended because they fell too far behind.",
            get(&self.slow),
        );
        metric(
            "herald_write_timeouts_total",
            "counter",
            "Connections closed because the peer took nothing written to it within the write timeout.",
            get(&self.write_timeouts),
        );
        metric(
            "herald_connections_refused_total",
            "counter",
            "Connections closed at once: over the per-IP limit.",
            get(&self.refused),
        );
        metric(
            "herald_log_lines_dropped_total",
            "counter",
            "Log lines dropped because the log sink did not keep up.",
            self.dropped_log_lines().to_string(),
        );
        let seconds = self.append_micros.load(Ordering::Relaxed) as f64 / 1e6;
        metric("herald_store_append_seconds_sum", "counter", "Time spent storing accepted events.", format!("{seconds}"));
        metric("herald_store_append_seconds_count", "counter", "Store appends (a batch is one).", get(&self.appends));
        let name = "herald_transport_connections";
        let _ = writeln!(out, "# HELP {name} Open event streams per transport.\n# TYPE {name} gauge");
        for transport in Transport::ALL {
            let open = self.by_transport[transport as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{transport=\"{}\"}} {open}", transport.label());
        }
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("connections", &self.connections()).finish_non_exhaustive()
    }
}

/// An open stream, counted while it lives.
pub(crate) struct ConnectionGuard(std::sync::Arc<Metrics>, Transport);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
        self.0.by_transport[self.1 as usize].fetch_sub(1, Ordering::Relaxed);
    }
}
