//! The load generator of `cargo xtask bench gateway`.
//!
//! `herald-gateway-load fanout --target herald|herald-signalr|herald-socketio|socketio
//! --base URL --clients N --events K --rate R --pid PID` connects N stream clients
//! (herald: SSE, or its SignalR hub or Socket.IO namespace over a WebSocket; socketio: the
//! Node Socket.IO server's WebSocket transport, Engine.IO 4), measures the server's RSS with them idle, publishes K events
//! at R per second by HTTP POST, and waits until every client has every event (or a
//! deadline). Each event carries its publish time; clients parse only that. Prints one
//! JSON object: deliveries/s, p50/p99 publish-to-receive latency, RSS per idle
//! connection.
//!
//! With `--amqp URL [--exchange X]`, fanout publishes the events to that RabbitMQ exchange
//! (structured mode, persistent, each confirmed) instead of posting them: the gateway at
//! `--base` bridges the exchange (`cargo xtask bench bridge`).
//!
//! `herald-gateway-load replay --base URL --events K` posts K events while no client is
//! connected, then times one client resuming from before them until it has all K.
//!
//! `herald-gateway-load soak --base URL --clients N --seconds S --rate R --churn C
//! --pid-file F` (`soak.rs`): `cargo xtask soak`'s mixed load, while the xtask kills the
//! gateway every few minutes.
//!
//! `herald-gateway-load storm --base URL --clients N --events K --pid PID`: the reconnect
//! storm after a gateway restart: K events posted, then N SSE clients at once, each
//! resuming from before them; time until all are connected and until all have all K,
//! events lost or reordered, RSS per connection, and whether the gateway still answers.
//!
//! Client sockets are bound to `--source-ip` (a loopback address), so that runs one after
//! another do not run out of ephemeral ports to connections in TIME_WAIT.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

mod soak;

#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// herald's Server-Sent Events.
    Herald,
    /// herald's SignalR hub, over its WebSocket transport.
    HeraldSignalR,
    /// herald's Socket.IO namespace `/herald`, over Engine.IO's WebSocket transport.
    HeraldSocketIo,
    /// The Node Socket.IO server of bench/socketio (namespace `/`).
    SocketIo,
}

struct Args {
    mode: String,
    target: Target,
    base: String,
    clients: usize,
    events: usize,
    rate: f64,
    pid: Option<u32>,
    source_ip: IpAddr,
    /// Publish to this RabbitMQ broker (a gateway bridging `exchange`) instead of posting.
    amqp: Option<String>,
    exchange: String,
    /// Stream clients that connect and never read (a 4 KB receive buffer).
    stalled: usize,
    /// Bytes of padding in each event's data.
    pad: usize,
    /// soak: how long, in seconds.
    seconds: u64,
    /// soak: reconnects per second across the readers.
    churn: f64,
    /// soak: a file holding the gateway's pid (rewritten on every restart).
    pid_file: Option<String>,
    /// soak: when the stalled client is checked (seconds from the start).
    stall_check: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut raw = std::env::args().skip(1);
    let mode = raw.next().ok_or("usage: herald-gateway-load fanout|replay --base URL ...")?;
    let mut args = Args {
        mode,
        target: Target::Herald,
        base: String::new(),
        clients: 1000,
        events: 100,
        rate: 50.0,
        pid: None,
        source_ip: IpAddr::from([127, 0, 0, 1]),
        amqp: None,
        exchange: "bench".into(),
        stalled: 0,
        pad: 0,
        seconds: 1800,
        churn: 20.0,
        pid_file: None,
        stall_check: 240,
    };
    while let Some(flag) = raw.next() {
        let value = raw.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--target" => {
                args.target = match value.as_str() {
                    "herald" => Target::Herald,
                    "herald-signalr" => Target::HeraldSignalR,
                    "herald-socketio" => Target::HeraldSocketIo,
                    "socketio" => Target::SocketIo,
                    other => return Err(format!("--target {other}: herald, herald-signalr, herald-socketio or socketio")),
                }
            }
            "--base" => args.base = value.trim_end_matches('/').to_owned(),
            "--clients" => args.clients = value.parse().map_err(|e| bad(&e))?,
            "--events" => args.events = value.parse().map_err(|e| bad(&e))?,
            "--rate" => args.rate = value.parse().map_err(|e| bad(&e))?,
            "--pid" => args.pid = Some(value.parse().map_err(|e| bad(&e))?),
            "--source-ip" => args.source_ip = value.parse().map_err(|e| bad(&e))?,
            "--amqp" => args.amqp = Some(value),
            "--exchange" => args.exchange = value,
            "--stalled" => args.stalled = value.parse().map_err(|e| bad(&e))?,
            "--pad" => args.pad = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => args.seconds = value.parse().map_err(|e| bad(&e))?,
            "--churn" => args.churn = value.parse().map_err(|e| bad(&e))?,
            "--pid-file" => args.pid_file = Some(value),
            "--stall-check" => args.stall_check = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.base.is_empty() {
        return Err("--base URL is required".into());
    }
    Ok(args)
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

fn event(i: usize) -> serde_json::Value {
    padded(i, 0)
}

fn padded(i: usize, pad: usize) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0", "id": format!("bench-{}-{i}", now_micros()), "source": "/bench/load",
        "type": "nop.noise.reading", "datacontenttype": "application/json",
        "data": { "sensor": format!("s-{}", i % 16), "db": 60.0 + (i % 40) as f64, "sent_us": now_micros(), "pad": "p".repeat(pad) },
    })
}

/// A stream client that never reads: a 4 KB receive buffer, the request sent, nothing
/// taken. The gateway must drop it once its socket takes no more (the write timeout).
async fn stalled_client(args: &Args, topic: &str) -> Result<TcpStream, String> {
    let address: SocketAddr = args.base.trim_start_matches("http://").parse().map_err(|e| format!("{}: {e}", args.base))?;
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket.set_recv_buffer_size(4096).map_err(|e| e.to_string())?;
    socket.bind(SocketAddr::new(args.source_ip, 0)).map_err(|e| e.to_string())?;
    let mut stream = socket.connect(address).await.map_err(|e| e.to_string())?;
    let host = args.base.trim_start_matches("http://");
    let request = format!("GET /events/stream?topic={topic} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Whether the gateway closed `stream`: what it holds is read out, then the end (or a
/// reset) must follow.
async fn closed_by_server(mut stream: TcpStream) -> bool {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// The `"sent_us":N` of a received frame.
fn sent_us(frame: &str) -> Option<u64> {
    let at = frame.find("\"sent_us\":")? + "\"sent_us\":".len();
    let digits: String = frame[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The RSS the server grew by from `before` to `after` (KiB), per connection.
fn kib_per_connection(before: Option<u64>, after: Option<u64>, connections: usize) -> Option<f64> {
    Some(after?.saturating_sub(before?) as f64 / connections as f64)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn connect_tcp(args: &Args) -> Result<TcpStream, String> {
    let address: SocketAddr = args
        .base
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("{}: {e}", args.base))?;
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket.bind(SocketAddr::new(args.source_ip, 0)).map_err(|e| e.to_string())?;
    let stream = socket.connect(address).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// What one client saw: publish-to-receive latencies in microseconds.
type Latencies = Vec<u32>;

/// One herald SSE client: connected (headers read) when `ready` is signalled.
async fn herald_client(
    args: Arc<Args>,
    ready: tokio::sync::mpsc::Sender<()>,
    received: Arc<AtomicU64>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Latencies, String> {
    let mut stream = connect_tcp(&args).await?;
    let host = args.base.trim_start_matches("http://");
    let request = format!("GET /events/stream?topic=nop.noise.reading HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut headers_done = false;
    let mut latencies = Vec::with_capacity(args.events.min(4096));
    let mut stop = stop;
    while latencies.len() < args.events {
        let n = tokio::select! {
            n = stream.read(&mut chunk) => n.map_err(|e| e.to_string())?,
            _ = stop.changed() => break,
        };
        if n == 0 {
            return Err("the stream ended".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if !headers_done {
            let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            if !buffer.starts_with(b"HTTP/1.1 200") {
                return Err(String::from_utf8_lossy(&buffer[..end]).into_owned());
            }
            buffer.drain(..end + 4);
            headers_done = true;
            let _ = ready.send(()).await;
        }
        // Count complete `data:` lines; chunked-encoding size lines are skipped as noise.
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line = &buffer[..end];
            if line.starts_with(b"data:") {
                record(&String::from_utf8_lossy(line), &mut latencies, &received);
            }
            buffer.drain(..=end);
        }
    }
    Ok(latencies)
}

/// Counts one event received, its publish time read from `frame`.
fn record(frame: &str, latencies: &mut Latencies, received: &AtomicU64) {
    if let Some(sent) = sent_us(frame) {
        latencies.push(now_micros().saturating_sub(sent) as u32);
        received.fetch_add(1, Ordering::Relaxed);
    }
}

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A WebSocket to `path` of the server, from `--source-ip`.
async fn websocket(args: &Args, path: &str) -> Result<Socket, String> {
    let stream = connect_tcp(args).await?;
    let url = format!("{}{path}", args.base.replace("http://", "ws://"));
    let (socket, _) = tokio_tungstenite::client_async(url, stream).await.map_err(|e| e.to_string())?;
    Ok(socket)
}

/// The next text message of `socket` (other frames skipped); `None` once the run stops.
async fn next_text(
    socket: &mut Socket,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>, String> {
    loop {
        let message = tokio::select! {
            m = socket.next() => m,
            _ = stop.changed() => return Ok(None),
        };
        let Some(message) = message else { return Err("the socket closed".into()) };
        if let Message::Text(text) = message.map_err(|e| e.to_string())? {
            return Ok(Some(text));
        }
    }
}

/// One Socket.IO client over its WebSocket transport (Engine.IO 4, Socket.IO 5 protocol):
/// on the Node server's namespace `/`, whose events are broadcast, or (`herald`) on the
/// gateway's `/herald`, subscribed with an ack.
async fn socketio_client(
    args: Arc<Args>,
    ready: tokio::sync::mpsc::Sender<()>,
    received: Arc<AtomicU64>,
    stop: tokio::sync::watch::Receiver<bool>,
    herald: bool,
) -> Result<Latencies, String> {
    let mut socket = websocket(&args, "/socket.io/?EIO=4&transport=websocket").await?;
    let (connect, connected, subscribe, acked, event) = if herald {
        ("40/herald,{}", "40/herald,", "42/herald,1[\"subscribe\",{\"topics\":[\"nop.noise.reading\"]}]", "43/herald,1", "42/herald,")
    } else {
        ("40", "40", "", "", "42")
    };
    let mut latencies = Vec::with_capacity(args.events.min(4096));
    let mut stop = stop;
    while latencies.len() < args.events {
        let Some(text) = next_text(&mut socket, &mut stop).await? else { break };
        let text = text.as_str();
        if text.starts_with('0') {
            socket.send(Message::text(connect)).await.map_err(|e| e.to_string())?; // open → connect
        } else if text == "2" {
            socket.send(Message::text("3")).await.map_err(|e| e.to_string())?; // ping → pong
        } else if text.starts_with(event) {
            record(text, &mut latencies, &received);
        } else if text.starts_with(connected) && !subscribe.is_empty() {
            socket.send(Message::text(subscribe)).await.map_err(|e| e.to_string())?;
        } else if text.starts_with(connected) || (!acked.is_empty() && text.starts_with(acked)) {
            let _ = ready.send(()).await;
        }
    }
    Ok(latencies)
}

/// One SignalR client of herald's hub over its WebSocket transport (negotiate skipped, as
/// the official client's `skipNegotiation` does): the JSON hub protocol's handshake, then
/// `StreamEvents(["nop.noise.reading"], null)`; each StreamItem is an event. It answers
/// the hub's pings with a ping.
async fn signalr_client(
    args: Arc<Args>,
    ready: tokio::sync::mpsc::Sender<()>,
    received: Arc<AtomicU64>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Latencies, String> {
    const RS: char = '\u{1e}';
    let mut socket = websocket(&args, "/hubs/events").await?;
    socket.send(Message::text(format!("{{\"protocol\":\"json\",\"version\":1}}{RS}"))).await.map_err(|e| e.to_string())?;
    let mut latencies = Vec::with_capacity(args.events.min(4096));
    let mut stop = stop;
    while latencies.len() < args.events {
        let Some(text) = next_text(&mut socket, &mut stop).await? else { break };
        for message in text.as_str().split(RS).filter(|m| !m.is_empty()) {
            if message == "{}" {
                let stream = format!(
                    "{{\"type\":4,\"invocationId\":\"1\",\"target\":\"StreamEvents\",\"arguments\":[[\"nop.noise.reading\"],null]}}{RS}"
                );
                socket.send(Message::text(stream)).await.map_err(|e| e.to_string())?;
                let _ = ready.send(()).await;
            } else if message.starts_with("{\"type\":2,") {
                record(message, &mut latencies, &received);
            } else if message.contains("\"type\":6") {
                socket.send(Message::text(format!("{{\"type\":6}}{RS}"))).await.map_err(|e| e.to_string())?;
            } else if message.starts_with("{\"error\"") || message.contains("\"type\":7") {
                return Err(format!("the hub refused: {message}"));
            }
        }
    }
    Ok(latencies)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

async fn fanout(args: Args) -> Result<serde_json::Value, String> {
    let args = Arc::new(args);
    let rss_before = args.pid.and_then(rss_kib);
    let received = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let clients = connect_all(&args, &received, &stop_rx).await?;
    let mut stalled = Vec::with_capacity(args.stalled);
    for _ in 0..args.stalled {
        stalled.push(stalled_client(&args, "nop.noise.reading").await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = args.pid.and_then(rss_kib);

    // Open loop: each event is published at its time whether or not the previous post
    // has been answered, so a server busy fanning out does not slow the offered rate.
    let client = reqwest::Client::new();
    let broker = match &args.amqp {
        Some(url) => Some(amqp_channel(url, &args.exchange).await?),
        None => None,
    };
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut posts = Vec::with_capacity(args.events);
    for i in 0..args.events {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let body = padded(i, args.pad).to_string();
        match &broker {
            Some(channel) => {
                let (channel, exchange) = (channel.clone(), args.exchange.clone());
                posts.push(tokio::spawn(async move { amqp_publish(&channel, &exchange, body).await }));
            }
            None => {
                let request = client
                    .post(format!("{}/events", args.base))
                    .header("content-type", "application/cloudevents+json")
                    .body(body);
                posts.push(tokio::spawn(async move {
                    match request.send().await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("publish answered {}", r.status())),
                        Err(e) => Err(format!("publish failed: {e}")),
                    }
                }));
            }
        }
    }
    for post in posts {
        post.await.map_err(|e| e.to_string())??;
    }
    let expected = (args.clients * args.events) as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_change = (received.load(Ordering::Relaxed), Instant::now());
    while received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = received.load(Ordering::Relaxed);
        if now != last_change.0 {
            last_change = (now, Instant::now());
        }
    }
    let elapsed = last_change.1.duration_since(started).as_secs_f64();
    let _ = stop_tx.send(true);
    let mut latencies = Vec::with_capacity(expected as usize);
    let mut failed = 0;
    for client in clients {
        match client.await {
            Ok(Ok(mine)) => latencies.extend(mine),
            _ => failed += 1,
        }
    }
    latencies.sort_unstable();
    let delivered = latencies.len() as u64;
    let mut stalled_closed = 0;
    for stream in stalled {
        stalled_closed += usize::from(closed_by_server(stream).await);
    }
    let per_connection = kib_per_connection(rss_before, rss_idle, args.clients);
    Ok(serde_json::json!({
        "clients": args.clients,
        "events": args.events,
        "expected": expected,
        "delivered": delivered,
        "failed_clients": failed,
        "seconds": elapsed,
        "deliveries_per_sec": delivered as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "p999_ms": percentile(&latencies, 0.999),
        "max_ms": percentile(&latencies, 1.0),
        "rss_before_kib": rss_before,
        "rss_idle_kib": rss_idle,
        "kib_per_idle_connection": per_connection,
        "stalled": args.stalled,
        "stalled_closed_by_server": stalled_closed,
    }))
}

/// A channel with publisher confirms to `exchange` (a durable topic exchange).
async fn amqp_channel(url: &str, exchange: &str) -> Result<lapin::Channel, String> {
    use lapin::options::{ConfirmSelectOptions, ExchangeDeclareOptions};
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .map_err(|e| format!("RabbitMQ: {e}"))?;
    let channel = connection.create_channel().await.map_err(|e| e.to_string())?;
    channel
        .exchange_declare(
            exchange.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions { durable: true, ..Default::default() },
            lapin::types::FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| e.to_string())?;
    // a channel keeps its connection open (lapin closes it with the last channel)
    Ok(channel)
}

/// Publishes one structured-mode event, persistent, and waits for its confirm.
async fn amqp_publish(channel: &lapin::Channel, exchange: &str, body: String) -> Result<(), String> {
    let properties = lapin::BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_delivery_mode(2);
    let confirm = channel
        .basic_publish(exchange.into(), "nop.noise.reading".into(), Default::default(), body.as_bytes(), properties)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    if confirm.is_nack() {
        return Err("RabbitMQ refused a reading".into());
    }
    Ok(())
}

/// Starts `--clients` clients of `--target`, at most 256 connecting at once, and waits
/// (up to 120 s) until every one is connected; their tasks.
async fn connect_all(
    args: &Arc<Args>,
    received: &Arc<AtomicU64>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<Result<Latencies, String>>>, String> {
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(args.clients.max(1));
    let mut clients = Vec::with_capacity(args.clients);
    let connecting = Arc::new(tokio::sync::Semaphore::new(256));
    for _ in 0..args.clients {
        let (args, ready, received, stop) = (args.clone(), ready_tx.clone(), received.clone(), stop.clone());
        let permit = connecting.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        let (signal_tx, mut signal_rx) = tokio::sync::mpsc::channel(1);
        clients.push(tokio::spawn(async move {
            match args.target {
                Target::Herald => herald_client(args, signal_tx, received, stop).await,
                Target::HeraldSignalR => signalr_client(args, signal_tx, received, stop).await,
                Target::HeraldSocketIo => socketio_client(args, signal_tx, received, stop, true).await,
                Target::SocketIo => socketio_client(args, signal_tx, received, stop, false).await,
            }
        }));
        // a permit is released once its client is connected (or has failed)
        tokio::spawn(async move {
            let connected = signal_rx.recv().await.is_some();
            drop(permit);
            if connected {
                let _ = ready.send(()).await;
            }
        });
    }
    drop(ready_tx);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut connected = 0;
    while connected < args.clients {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ready_rx.recv()).await {
            Ok(Some(())) => connected += 1,
            _ => return Err(format!("only {connected} of {} clients connected", args.clients)),
        }
    }
    Ok(clients)
}

/// `rss`: connects `--clients` stream clients and prints the server's RSS per idle
/// connection (`--pid`), then ends.
async fn rss(args: Args) -> Result<serde_json::Value, String> {
    let args = Arc::new(Args { events: usize::MAX >> 1, ..args });
    let before = args.pid.and_then(rss_kib);
    let received = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let clients = connect_all(&args, &received, &stop_rx).await?;
    let connected_in = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = args.pid.and_then(rss_kib);
    let _ = stop_tx.send(true);
    for client in clients {
        client.abort();
    }
    let per_connection = kib_per_connection(before, idle, args.clients);
    Ok(serde_json::json!({ "clients": args.clients, "connected_in_secs": connected_in, "kib_per_idle_connection": per_connection }))
}

/// `idle`: connects `--clients` herald stream clients, prints `ready N`, and keeps them
/// reading until the process is killed (the other clients of `cargo xtask bench push`).
async fn idle(args: Args) -> Result<serde_json::Value, String> {
    let args = Arc::new(Args { events: usize::MAX >> 1, ..args });
    let received = Arc::new(AtomicU64::new(0));
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let clients = connect_all(&args, &received, &stop_rx).await?;
    let connected = clients.len();
    println!("ready {connected}");
    for client in clients {
        if let Ok(Err(error)) = client.await {
            return Err(error);
        }
    }
    Ok(serde_json::json!({ "received": received.load(Ordering::Relaxed) }))
}

/// Posts `count` events in batches of 500; the position of the last one.
async fn post_events(client: &reqwest::Client, base: &str, count: usize) -> Result<String, String> {
    let mut last = String::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<_> = chunk.iter().map(|i| event(*i)).collect();
        let response = client
            .post(format!("{base}/events"))
            .header("content-type", "application/cloudevents-batch+json")
            .body(serde_json::to_string(&batch).map_err(|e| e.to_string())?)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("batch answered {}", response.status()));
        }
        let answer: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        last = answer["positions"]
            .as_array()
            .and_then(|p| p.last())
            .and_then(|p| p.as_str())
            .ok_or(format!("no positions in {answer}"))?
            .to_owned();
    }
    Ok(last)
}

/// What one storm client saw.
#[derive(Default)]
struct Resumed {
    /// When its headers came, from the storm's start.
    connected: Option<Duration>,
    /// When it had every event.
    complete: Option<Duration>,
    events: usize,
    /// An `id:` not after the one before it.
    out_of_order: usize,
    last: String,
}

/// One client of the storm: resumes from `from` and reads until it has `expect` events
/// (then stays connected, idle, until `stop`).
async fn storm_client(
    args: Arc<Args>,
    from: String,
    expect: usize,
    started: Instant,
    done: tokio::sync::mpsc::Sender<()>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Resumed, String> {
    let mut seen = Resumed::default();
    let mut stream = connect_tcp(&args).await?;
    let host = args.base.trim_start_matches("http://");
    let request = format!(
        "GET /events/stream?topic=nop.noise.reading HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nLast-Event-ID: {from}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8 * 1024];
    let mut previous: Option<(u64, u64)> = None;
    loop {
        let n = tokio::select! {
            n = stream.read(&mut chunk) => n.map_err(|e| e.to_string())?,
            _ = stop.changed() => return Ok(seen),
        };
        if n == 0 {
            return Err(format!("the stream ended after {} events", seen.events));
        }
        buffer.extend_from_slice(&chunk[..n]);
        if seen.connected.is_none() {
            let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            if !buffer.starts_with(b"HTTP/1.1 200") {
                return Err(String::from_utf8_lossy(&buffer[..end]).into_owned());
            }
            buffer.drain(..end + 4);
            seen.connected = Some(started.elapsed());
        }
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            if let Some(id) = buffer[..end].strip_prefix(b"id:") {
                let id = String::from_utf8_lossy(id).trim().to_owned();
                let at = id.split_once('-').and_then(|(e, s)| Some((e.parse().ok()?, s.parse().ok()?)));
                if at.is_none() || previous.is_some_and(|p| at.is_some_and(|a| a <= p)) {
                    seen.out_of_order += 1;
                }
                previous = at;
                seen.events += 1;
                seen.last = id;
                if seen.events == expect {
                    seen.complete = Some(started.elapsed());
                    let _ = done.send(()).await;
                }
            }
            buffer.drain(..=end);
        }
    }
}

/// `storm`: posts `--events` K events, then opens `--clients` N SSE streams all at once,
/// each resuming (`Last-Event-ID`) from the position before the events, as a page does
/// after the gateway comes back; times until every one is connected and until every one
/// has all K, checks that none missed, repeated or reordered one, then measures the
/// server's RSS per connection (`--pid`) with all of them idle, and whether the gateway
/// still answers.
async fn storm(args: Args) -> Result<serde_json::Value, String> {
    let client = reqwest::Client::new();
    let before_events = post_events(&client, &args.base, 1).await?;
    let last = post_events(&client, &args.base, args.events).await?;
    let rss_before = args.pid.and_then(rss_kib);
    let args = Arc::new(args);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(args.clients.max(1));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let expect = args.events;
    let started = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|_| {
            let (args, from, done, stop) = (args.clone(), before_events.clone(), done_tx.clone(), stop_rx.clone());
            tokio::spawn(storm_client(args, from, expect, started, done, stop))
        })
        .collect();
    drop(done_tx);
    let deadline = Duration::from_secs(60);
    let mut complete = 0;
    while complete < args.clients {
        match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), done_rx.recv()).await {
            Ok(Some(())) => complete += 1,
            _ => break,
        }
    }
    let all_resumed_in = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = args.pid.and_then(rss_kib);
    let healthy = client
        .get(format!("{}/healthz", args.base))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    let _ = stop_tx.send(true);
    let (mut connected_in, mut failed, mut lost, mut out_of_order, mut wrong_last) = (0f64, 0, 0, 0, 0);
    let mut first_error = None;
    for handle in clients {
        match handle.await {
            Ok(Ok(seen)) => {
                connected_in = connected_in.max(seen.connected.map_or(f64::NAN, |d| d.as_secs_f64()));
                lost += args.events.saturating_sub(seen.events);
                out_of_order += seen.out_of_order;
                if seen.last != last {
                    wrong_last += 1;
                }
            }
            Ok(Err(error)) => {
                failed += 1;
                first_error.get_or_insert(error);
            }
            Err(error) => {
                failed += 1;
                first_error.get_or_insert(error.to_string());
            }
        }
    }
    let per_connection = kib_per_connection(rss_before, rss_idle, args.clients);
    Ok(serde_json::json!({
        "clients": args.clients,
        "events": args.events,
        "all_connected_in_secs": connected_in,
        "all_resumed_in_secs": all_resumed_in,
        "resumed": complete,
        "failed": failed,
        "first_error": first_error,
        "events_lost": lost,
        "out_of_order": out_of_order,
        "ended_elsewhere": wrong_last,
        "kib_per_connection": per_connection,
        "gateway_up": healthy,
    }))
}

async fn replay(args: Args) -> Result<serde_json::Value, String> {
    let client = reqwest::Client::new();
    // the position before the events, then the events
    let head = post_events(&client, &args.base, 1).await?;
    post_events(&client, &args.base, args.events).await?;
    let started = Instant::now();
    let mut stream = connect_tcp(&args).await?;
    let host = args.base.trim_start_matches("http://");
    let request = format!(
        "GET /events/stream?topic=nop.noise.reading HTTP/1.1\r\nHost: {host}\r\nLast-Event-ID: {head}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut count = 0;
    let mut carry = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while count < args.events {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .map_err(|_| format!("replay stalled after {count} events"))?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the stream ended".into());
        }
        carry.extend_from_slice(&chunk[..n]);
        while let Some(end) = carry.iter().position(|b| *b == b'\n') {
            // events carry `id:`; the gateway's notices do not
            if carry.starts_with(b"id:") {
                count += 1;
            }
            carry.drain(..=end);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(serde_json::json!({ "events": count, "seconds": seconds, "events_per_sec": count as f64 / seconds }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match parse_args() {
        Ok(args) if args.mode == "fanout" => fanout(args).await,
        Ok(args) if args.mode == "replay" => replay(args).await,
        Ok(args) if args.mode == "idle" => idle(args).await,
        Ok(args) if args.mode == "rss" => rss(args).await,
        Ok(args) if args.mode == "storm" => storm(args).await,
        Ok(args) if args.mode == "soak" => soak::run(args).await,
        Ok(args) => Err(format!("unknown mode {}", args.mode)),
        Err(e) => Err(e),
    };
    match result {
        Ok(value) => {
            println!("{value}");
            std::process::ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("herald-gateway-load: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
