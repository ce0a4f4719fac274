//! `/metrics`: the gateway's counters in the Prometheus text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// The gateway's counters, shared by every route.
#[derive(Debug, Default)]
pub struct Metrics {
    connections: AtomicI64,
    ingested: AtomicU64,
    ingest_bytes: AtomicU64,
    delivered: AtomicU64,
    delivered_bytes: AtomicU64,
    replayed: AtomicU64,
    slow: AtomicU64,
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

    /// Counts an open stream until the guard is dropped.
    pub(crate) fn connection(self: &std::sync::Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
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
        metric("herald_stream_connections", "gauge", "Open event streams (SSE and WebSocket).", self.connections().to_string());
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
        let seconds = self.append_micros.load(Ordering::Relaxed) as f64 / 1e6;
        metric("herald_store_append_seconds_sum", "counter", "Time spent storing accepted events.", format!("{seconds}"));
        metric("herald_store_append_seconds_count", "counter", "Store appends (a batch is one).", get(&self.appends));
        out
    }
}

/// An open stream, counted while it lives.
pub(crate) struct ConnectionGuard(std::sync::Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}
