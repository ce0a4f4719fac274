//! Serving the router on a TCP listener, with a time limit everywhere a peer can hold a
//! resource: the request head must arrive within [`Limits::header_read_timeout`], a write
//! the peer does not take within [`Limits::write_timeout`] ends the connection (a client
//! that stopped reading its stream), and the request head is bounded in size
//! ([`Limits::max_header_bytes`], [`MAX_URI_BYTES`]).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::error::problem;
use crate::metrics::Metrics;
use crate::{app, AppState};

/// The longest request target (path and query) taken; a longer one is `414`.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The kernel send buffer asked for each connection: what a client that stops reading
/// can leave queued in the kernel beyond the stream's own limit (Linux doubles it).
pub const SEND_BUFFER_BYTES: usize = 128 * 1024;

/// How long a shutdown waits for connections to finish their responses.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The connection limits of [`serve`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// The whole request head must arrive within this, counted from its first byte (and
    /// an idle keep-alive connection is closed after it); else the connection is closed.
    pub header_read_timeout: Duration,
    /// A request body must arrive whole within this; else `408`.
    pub body_read_timeout: Duration,
    /// A write the peer takes no byte of for this long closes the connection (a stream
    /// whose client stopped reading is counted as a slow disconnect).
    pub write_timeout: Duration,
    /// The most bytes of request header fields (names, values and their separators);
    /// more is `431`.
    pub max_header_bytes: usize,
    /// The most connections open at once from one IP address (`None`: no limit); a
    /// connection over it is closed at once.
    pub max_connections_per_ip: Option<usize>,
    /// How often a WebSocket is pinged; one that answers none of two pings in a row (and
    /// sends nothing else) is closed with `1001`.
    pub ws_ping_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_connections_per_ip: None,
            ws_ping_interval: Duration::from_secs(30),
        }
    }
}

/// The length of the gateway's accept queue: a reconnect storm (every page of a fleet
/// coming back at once after a restart) waits there, not in SYN retries. The kernel caps
/// it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listener on `address` with [`LISTEN_BACKLOG`] and `SO_REUSEADDR`.
pub fn bind(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves [`app`]`(state)` on `listener` with the state's [`Limits`] until the state's
/// shutdown signal turns `true`; then stops accepting, lets open connections finish
/// (streams end with `herald.drain`) for up to 10 s, and returns.
///
/// ```no_run
/// use herald_server::{serve, AppState, EventLog};
///
/// # async fn run() -> std::io::Result<()> {
/// let state = AppState::new(EventLog::in_memory());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8787").await?;
/// serve(listener, state).await
/// # }
/// ```
pub async fn serve(listener: TcpListener, state: AppState) -> io::Result<()> {
    let limits = state.limits.clone();
    let metrics = state.metrics.clone();
    let mut shutdown = state.shutdown.clone();
    let router = app(state);
    let per_ip = Arc::new(Mutex::new(HashMap::<IpAddr, usize>::new()));
    // every connection task holds a sender: when all are gone, every connection ended
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    loop {
        let (stream, peer) = tokio::select! {
            () = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // out of file descriptors, say: wait instead of spinning
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = IpSlot::take(&per_ip, peer, limits.max_connections_per_ip) else {
            metrics.refused_connection();
            continue; // dropped: closed at once
        };
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER_BYTES);
        let io = TokioIo::new(TimedIo::new(stream, limits.write_timeout, metrics.clone()));
        let service = TowerToHyperService::new(router.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
        let mut shutdown = shutdown.clone();
        let open = open_tx.clone();
        tokio::spawn(async move {
            let _open = open;
            let _slot = slot;
            let conn = builder.serve_connection(io, service).with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %peer, "connection ended with an error");
                    }
                    return;
                }
                () = stopped(&mut shutdown) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    drop(listener);
    drop(open_tx);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, open_rx.recv()).await;
    Ok(())
}

/// Resolves once the shutdown signal is `true` (or its sender is gone).
async fn stopped(signal: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = signal.wait_for(|stop| *stop).await;
}

/// A connection counted against its IP address's limit while it lives.
struct IpSlot {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl IpSlot {
    /// A slot for `peer`, or `None` when its address has `limit` connections already.
    fn take(map: &Arc<Mutex<HashMap<IpAddr, usize>>>, peer: SocketAddr, limit: Option<usize>) -> Option<Option<IpSlot>> {
        let Some(limit) = limit else { return Some(None) };
        let mut counts = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(peer.ip()).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Some(IpSlot { map: map.clone(), ip: peer.ip() }))
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A TCP stream whose writes fail with `TimedOut` once the peer has taken no byte for
/// `timeout`: a client that stopped reading cannot hold its connection, nor what the
/// gateway queued for it, for ever.
struct TimedIo {
    inner: TcpStream,
    timeout: Duration,
    /// Running while a write waits for the peer; allocated only then.
    stalled: Option<Pin<Box<Sleep>>>,
    metrics: Arc<Metrics>,
}

impl TimedIo {
    fn new(inner: TcpStream, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        TimedIo { inner, timeout, stalled: None, metrics }
    }

    /// The outcome of a write: progress ends the stall; waiting starts or checks it.
    fn timed<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.timeout;
        let stall = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stall.as_mut().poll(cx));
        self.stalled = None;
        self.metrics.write_timeout();
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the peer took nothing written to it within the write timeout",
        )))
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.timed(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.timed(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.timed(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.timed(cx, poll)
    }
}

/// Refuses a request head over the limits with a problem document: `414` for a target
/// longer than [`MAX_URI_BYTES`], `431` for header fields over `max_header_bytes`.
pub(crate) async fn head_limits(
    axum::extract::State(max_header_bytes): axum::extract::State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return problem(
            StatusCode::URI_TOO_LONG,
            &format!("the request target is {target} bytes; the limit is {MAX_URI_BYTES}"),
        );
    }
    // as on the wire: `name: value\r\n`
    let header_bytes: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if header_bytes > max_header_bytes {
        return problem(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!("the header fields are {header_bytes} bytes; the limit is {max_header_bytes}"),
        );
    }
    next.run(request).await.into_response()
}

/// The error a request body yields when it did not arrive within its time limit.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub(crate) struct BodyTimeout(Duration);

/// Gives every request body [`Limits::body_read_timeout`] to arrive whole.
pub(crate) async fn body_deadline(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let request = request.map(|body| {
        axum::body::Body::new(DeadlineBody {
            inner: body,
            deadline: None,
            timeout,
        })
    });
    next.run(request).await
}

/// A body that fails with [`BodyTimeout`] once `timeout` has passed since it was first
/// read (a client that drips a body cannot hold a handler for ever).
struct DeadlineBody {
    inner: axum::body::Body,
    deadline: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
}

impl http_body::Body for DeadlineBody {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let timeout = self.timeout;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(deadline.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyTimeout(timeout)))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
