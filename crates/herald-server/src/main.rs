//! The `herald-server` binary: the push gateway.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::{Parser, ValueEnum};
use herald_server::central::{CentralLog, Level, Ship};
use herald_server::{
    enforce_retention, log_summaries, serve, spawn_bridges, AppState, Auth, Config, EventLog, Limits, NatsConfig, NatsStore,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_QUEUE_BYTES,
};
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

/// herald's push gateway: CloudEvents in (POST /events, POST /webhooks/NAME,
/// POST /eventgrid/NAME, WebSocket, broker bridges),
/// streams out (Server-Sent Events at GET /events/stream?topic=PATTERN, WebSocket at
/// GET /events/ws), the stored events queried in a subset of KQL
/// (GET /events/query?q=QUERY), the documents pointer events point at
/// (PUT/GET /records/NAME), the central log (POST /logs: ECS JSON lines, optionally
/// shipped to Elasticsearch or OpenSearch), and the page's static files.
///
/// Settings come from flags, else the environment variable named in brackets, else the
/// --config file, else the default. Retention rules and webhooks are set in the config
/// file only. Logs go to standard error, filtered by RUST_LOG (default: info), through a
/// bounded buffer: a log sink that does not keep up loses lines (counted in
/// herald_log_lines_dropped_total), never stalls the gateway.
#[derive(Debug, Parser)]
#[command(name = "herald-server", version)]
struct Cli {
    /// A TOML configuration file (keys as the long flags with `_` for `-`, plus
    /// [auth], [[retention]] and [webhooks.NAME]; see docs/protocol.md §3.8).
    #[arg(long, env = "HERALD_CONFIG")]
    config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8787]; port 0 picks a free port. The
    /// bound address is printed on standard output as `herald-server listening on
    /// http://ADDR/`.
    #[arg(long, env = "HERALD_LISTEN")]
    listen: Option<SocketAddr>,

    /// Directory of the embedded event store (SQLite), created if missing
    /// [default: ./.herald].
    #[arg(long, env = "HERALD_DATA")]
    data: Option<PathBuf>,

    /// The event store: `embedded` (SQLite in --data), or NATS JetStream at
    /// `nats://HOST:PORT` (several comma-separated for a cluster), shared by every gateway
    /// on the same stream [default: embedded].
    #[arg(long, env = "HERALD_STORE")]
    store: Option<String>,

    /// With a NATS store: the JetStream stream, created when missing [default: HERALD].
    #[arg(long, env = "HERALD_STREAM")]
    stream: Option<String>,

    /// With a NATS store: the most events the stream keeps (oldest go first)
    /// [default: no limit].
    #[arg(long, env = "HERALD_STREAM_MAX_MSGS")]
    stream_max_msgs: Option<i64>,

    /// With a NATS store: the oldest event the stream keeps, in seconds [default: no limit].
    #[arg(long, env = "HERALD_STREAM_MAX_AGE_SECS")]
    stream_max_age_secs: Option<u64>,

    /// With a NATS store: the most bytes the stream keeps [default: no limit].
    #[arg(long, env = "HERALD_STREAM_MAX_BYTES")]
    stream_max_bytes: Option<i64>,

    /// With a NATS store: replicas of a new stream in a JetStream cluster (1 to 5)
    /// [default: 1].
    #[arg(long, env = "HERALD_STREAM_REPLICAS")]
    stream_replicas: Option<usize>,

    /// With a NATS store: how long a repeated (source, id) is recognised, in seconds
    /// [default: 120].
    #[arg(long, env = "HERALD_STREAM_DUPLICATE_WINDOW_SECS")]
    stream_duplicate_window_secs: Option<u64>,

    /// Directory of static files to serve for every other path (the trunk-built page).
    #[arg(long, env = "HERALD_STATIC_DIR")]
    static_dir: Option<PathBuf>,

    /// Largest accepted request body or WebSocket message in bytes; larger posts get 413
    /// [default: 262144].
    #[arg(long, env = "HERALD_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,

    /// How far, in bytes of events, a stream may fall behind before it is closed with a
    /// final `herald.slow` event (the client resumes from its last position)
    /// [default: 1048576].
    #[arg(long, env = "HERALD_MAX_QUEUE_BYTES")]
    max_queue_bytes: Option<usize>,

    /// Seconds a client has to send a whole request head (from its first byte; an idle
    /// keep-alive connection is closed after it too) [default: 10].
    #[arg(long, env = "HERALD_HEADER_READ_TIMEOUT_SECS")]
    header_read_timeout_secs: Option<u64>,

    /// Seconds a client has to send a whole request body; slower is 408 [default: 30].
    #[arg(long, env = "HERALD_BODY_READ_TIMEOUT_SECS")]
    body_read_timeout_secs: Option<u64>,

    /// Seconds a connection may take no byte of what the gateway writes to it (a client
    /// that stopped reading its stream) before it is closed [default: 10].
    #[arg(long, env = "HERALD_WRITE_TIMEOUT_SECS")]
    write_timeout_secs: Option<u64>,

    /// Largest request header fields in bytes (names, values, separators); larger is 431
    /// [default: 16384].
    #[arg(long, env = "HERALD_MAX_HEADER_BYTES")]
    max_header_bytes: Option<usize>,

    /// Seconds between two pings of a WebSocket; one that answers none of two pings in a
    /// row is closed [default: 30].
    #[arg(long, env = "HERALD_WS_PING_INTERVAL_SECS")]
    ws_ping_interval_secs: Option<u64>,

    /// Most connections open at once from one IP address; more are closed at once
    /// [default: no limit].
    #[arg(long, env = "HERALD_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<usize>,

    /// The RabbitMQ broker of every AMQP bridge ([amqp_in.NAME], [amqp_out.NAME] in the
    /// config file) that names no `url` of its own, e.g. amqp://user:pass@host:5672/%2f.
    #[arg(long, env = "HERALD_AMQP_URL", hide_env_values = true)]
    amqp_url: Option<String>,

    /// The Kafka bootstrap brokers (host:port, comma-separated) of every Kafka bridge
    /// ([kafka_in.NAME], [kafka_out.NAME] in the config file) that names none.
    #[arg(long, env = "HERALD_KAFKA_BROKERS", value_delimiter = ',')]
    kafka_brokers: Vec<String>,

    /// Lets outbound webhooks call loopback and private addresses (an endpoint inside the
    /// gateway's own network); refused by default, against SSRF.
    #[arg(long, env = "HERALD_ALLOW_PRIVATE_WEBHOOK_TARGETS")]
    allow_private_webhook_targets: bool,

    /// The origin (a DNS name) outbound webhooks give in the abuse-protection handshake
    /// [default: herald.localhost].
    #[arg(long, env = "HERALD_WEBHOOK_ORIGIN")]
    webhook_origin: Option<String>,

    /// Turns authorization off: anyone may publish and subscribe to everything. Allowed
    /// only when --listen is a loopback address.
    #[arg(long, env = "HERALD_DEV_NO_AUTH")]
    dev_no_auth: bool,

    /// Accept JWTs signed with HS256 and this secret.
    #[arg(long, env = "HERALD_JWT_HS256_SECRET", hide_env_values = true)]
    jwt_hs256_secret: Option<String>,

    /// Accept JWTs signed with RS256 by the key whose public half is in this PEM file.
    #[arg(long, env = "HERALD_JWT_RS256_PUBLIC_KEY")]
    jwt_rs256_public_key: Option<PathBuf>,

    /// An origin allowed to make cross-origin requests (CORS); repeat for several, or
    /// separate them with commas.
    #[arg(long = "cors-origin", env = "HERALD_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,

    /// Where the central log's ECS JSON lines go (the modules' entries of POST /logs, a
    /// line per event accepted or bridged out): `-` for standard error, a file to append
    /// to (its folder created if missing), or `off` [default: -].
    #[arg(long, env = "HERALD_CENTRAL_LOG")]
    central_log: Option<String>,

    /// The lowest level the central log keeps: debug (also a line per event accepted or
    /// bridged out), info, warn or error [default: info].
    #[arg(long, env = "HERALD_CENTRAL_LOG_LEVEL")]
    central_log_level: Option<String>,

    /// Also ship the central log's lines, in batches, to the `_bulk` API of the
    /// Elasticsearch or OpenSearch node at this base URL (http://127.0.0.1:9200).
    #[arg(long, env = "HERALD_CENTRAL_LOG_SHIP")]
    central_log_ship: Option<String>,

    /// With --central-log-ship: the index the lines go to, created with keyword mappings
    /// when missing [default: herald-logs].
    #[arg(long, env = "HERALD_CENTRAL_LOG_INDEX")]
    central_log_index: Option<String>,

    /// Log format on standard error: `json` (one object per line) or `text`.
    #[arg(long, env = "HERALD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

/// Log lines buffered for standard error before new ones are dropped.
const LOG_BUFFER_LINES: usize = 8192;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // a writer thread drains a bounded queue into standard error: a stalled log sink
    // (a pipe nobody reads) costs log lines, never a worker blocked in write(2)
    let (writer, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .thread_name("herald-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let central_writer = writer.clone();
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match cli.log_format {
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
        LogFormat::Text => logs.init(),
    }
    match run(cli, central_writer, move || dropped.dropped_lines() as u64).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the gateway cannot start");
            eprintln!("herald-server: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    cli: Cli,
    stderr: tracing_appender::non_blocking::NonBlocking,
    dropped_log_lines: impl Fn() -> u64 + Send + Sync + 'static,
) -> Result<(), String> {
    let file = match &cli.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    let (central, _central_flush) = central_log(&cli, &file, stderr)?;
    let listen = cli.listen.or(file.listen).unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8787)));
    let data = cli.data.clone().or(file.data.clone()).unwrap_or_else(|| PathBuf::from("./.herald"));
    let dev_no_auth = cli.dev_no_auth || file.dev_no_auth.unwrap_or(false);

    let auth = auth(&cli, &file)?;
    match (&auth, dev_no_auth) {
        (Some(_), true) => return Err("--dev-no-auth and a JWT key exclude each other".into()),
        (None, false) => {
            return Err("authorization needs a key: --jwt-hs256-secret or --jwt-rs256-public-key \
                        (or --dev-no-auth for local development, loopback only)"
                .into())
        }
        (None, true) if !listen.ip().is_loopback() => {
            return Err(format!("--dev-no-auth only listens on a loopback address, not {listen}"))
        }
        _ => {}
    }

    let store = cli.store.clone().or(file.store.clone()).unwrap_or_else(|| "embedded".into());
    let log = if store == "embedded" {
        EventLog::open(&data).map_err(|e| e.to_string())?
    } else if store.starts_with("nats://") || store.starts_with("tls://") {
        if !file.retention.is_empty() {
            return Err("[[retention]] rules are for the embedded store; a NATS stream has its own limits \
                        (--stream-max-msgs, --stream-max-age-secs, --stream-max-bytes)"
                .into());
        }
        let mut nats = NatsConfig::new(&store);
        let n = &file.nats;
        if let Some(stream) = cli.stream.clone().or(n.stream.clone()) {
            nats.stream = stream;
        }
        nats.max_messages = cli.stream_max_msgs.or(n.max_msgs);
        nats.max_age = cli.stream_max_age_secs.or(n.max_age_secs).map(Duration::from_secs);
        nats.max_bytes = cli.stream_max_bytes.or(n.max_bytes);
        nats.replicas = cli.stream_replicas.or(n.replicas).unwrap_or(1);
        if let Some(secs) = cli.stream_duplicate_window_secs.or(n.duplicate_window_secs) {
            nats.duplicate_window = Duration::from_secs(secs);
        }
        let store = NatsStore::connect(nats).await.map_err(|e| e.to_string())?;
        EventLog::with_store(store).map_err(|e| e.to_string())?
    } else {
        return Err(format!("--store `{store}`: `embedded` or a `nats://` URL"));
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut state = AppState::new(log)
        .with_max_body_bytes(cli.max_body_bytes.or(file.max_body_bytes).unwrap_or(DEFAULT_MAX_BODY_BYTES))
        .with_max_queue_bytes(cli.max_queue_bytes.or(file.max_queue_bytes).unwrap_or(DEFAULT_MAX_QUEUE_BYTES))
        .with_retention(file.retention_rules()?)
        .with_limits(limits(&cli, &file))
        .with_shutdown(stop_rx);
    state.metrics().count_dropped_log_lines(dropped_log_lines);
    state = state.with_central_log(central);
    if let Some(auth) = auth {
        state = state.with_auth(auth);
    }
    let origins = if cli.cors_origins.is_empty() { &file.cors_origins } else { &cli.cors_origins };
    let origins = origins
        .iter()
        .map(|o| HeaderValue::from_str(o.trim()).map_err(|_| format!("CORS origin `{o}` is not a valid header value")))
        .collect::<Result<Vec<_>, _>>()?;
    state = state.with_cors_origins(origins);
    for (name, hook) in file.webhooks() {
        state = state.with_webhook(name, hook);
    }
    for (name, receiver) in file.eventgrid() {
        state = state.with_eventgrid(name, receiver);
    }
    let allow_private = cli.allow_private_webhook_targets || file.allow_private_webhook_targets.unwrap_or(false);
    state = state
        .with_private_webhook_targets(allow_private)
        .with_subscriptions_file(data.join(herald_server::SUBSCRIPTIONS_FILE));
    if let Some(origin) = cli.webhook_origin.clone().or(file.webhook_origin.clone()) {
        state = state.with_webhook_origin(origin);
    }
    if store != "embedded" && !file.webhook_out.is_empty() {
        return Err("[webhook_out] subscriptions keep their cursors in the embedded store: they need --store embedded".into());
    }
    for (name, hook) in &file.webhook_out {
        hook.validate(allow_private).await.map_err(|e| format!("[webhook_out.{name}]: {e}"))?;
        state = state.with_webhook_out(name, hook.clone());
    }
    let amqp_url = cli.amqp_url.clone().or(file.amqp_url.clone());
    let broker = |name: &str, url: &Option<String>| {
        url.clone()
            .or(amqp_url.clone())
            .ok_or_else(|| format!("AMQP bridge `{name}` has no `url`, and no --amqp-url is given"))
    };
    for (name, bridge) in &file.amqp_in {
        state = state.with_amqp_in(name, broker(name, &bridge.url)?, bridge.clone());
    }
    let bridges = !file.amqp_out.is_empty() || !file.kafka_in.is_empty() || !file.kafka_out.is_empty();
    if store != "embedded" && bridges {
        return Err("[amqp_out], [kafka_in] and [kafka_out] bridges keep their cursors in the embedded store: \
                    they need --store embedded"
            .into());
    }
    for (name, bridge) in &file.amqp_out {
        bridge.validate().map_err(|e| format!("[amqp_out.{name}]: {e}"))?;
        state = state.with_amqp_out(name, broker(name, &bridge.url)?, bridge.clone());
    }
    let kafka_brokers = if cli.kafka_brokers.is_empty() { file.kafka_brokers.clone() } else { Some(cli.kafka_brokers.clone()) };
    let bootstrap = |name: &str, brokers: &Option<Vec<String>>| {
        brokers
            .clone()
            .or(kafka_brokers.clone())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| format!("Kafka bridge `{name}` has no `brokers`, and no --kafka-brokers is given"))
    };
    for (name, bridge) in &file.kafka_in {
        if bridge.topics.is_empty() {
            return Err(format!("[kafka_in.{name}]: `topics` lists no topic"));
        }
        state = state.with_kafka_in(name, bootstrap(name, &bridge.brokers)?, bridge.clone());
    }
    for (name, bridge) in &file.kafka_out {
        bridge.validate().map_err(|e| format!("[kafka_out.{name}]: {e}"))?;
        state = state.with_kafka_out(name, bootstrap(name, &bridge.brokers)?, bridge.clone());
    }
    if let Some(dir) = cli.static_dir.as_ref().or(file.static_dir.as_ref()) {
        if !dir.is_dir() {
            return Err(format!("--static-dir {} is not a directory", dir.display()));
        }
        state = state.with_static_dir(dir);
    }
    let listener = herald_server::bind(listen)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, %store, head = %state.log().head(), auth = !dev_no_auth, "gateway started");
    println!("herald-server listening on http://{addr}/");

    let interval = Duration::from_secs(file.retention_interval_secs.unwrap_or(30).max(1));
    tokio::spawn(enforce_retention(state.clone(), interval));
    tokio::spawn(log_summaries(state.clone(), Duration::from_secs(10)));
    spawn_bridges(&state);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining streams");
        let _ = stop_tx.send(true);
    });
    serve(listener, state).await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

/// The central log of the flags and file (docs/protocol.md §3.17), writing to standard
/// error through the gateway's own non-blocking writer, or to a file through one of its
/// own (the guard flushes it on exit).
fn central_log(
    cli: &Cli,
    file: &Config,
    stderr: tracing_appender::non_blocking::NonBlocking,
) -> Result<(CentralLog, Option<tracing_appender::non_blocking::WorkerGuard>), String> {
    let level = cli.central_log_level.clone().or(file.central_log_level.clone()).unwrap_or_else(|| "info".into());
    let level: Level = level.parse().map_err(|e| format!("--central-log-level: {e}"))?;
    let mut log = CentralLog::new(level);
    let mut guard = None;
    match cli.central_log.clone().or(file.central_log.clone()).as_deref().unwrap_or("-") {
        "off" => {}
        "-" => log = log.with_writer(stderr),
        path => {
            if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("--central-log {path}: {e}"))?;
            }
            let opened = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--central-log {path}: {e}"))?;
            let (writer, flush) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(true)
                .buffered_lines_limit(LOG_BUFFER_LINES)
                .thread_name("herald-central-log")
                .finish(opened);
            log = log.with_writer(writer);
            guard = Some(flush);
        }
    }
    if let Some(url) = cli.central_log_ship.clone().or(file.central_log_ship.clone()) {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("--central-log-ship `{url}`: an http:// or https:// base URL"));
        }
        let index = cli.central_log_index.clone().or(file.central_log_index.clone()).unwrap_or_else(|| "herald-logs".into());
        let valid = !index.is_empty()
            && index.len() <= 255
            && !index.starts_with(['-', '_', '+'])
            && index.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if !valid || index == "." || index == ".." {
            return Err(format!("--central-log-index `{index}`: lower-case letters, digits, `-`, `_` and `.`, not starting with `-`, `_` or `+`"));
        }
        log = log.with_ship(Ship { url, index });
    }
    Ok((log, guard))
}

/// The connection limits: flag, else file, else default.
fn limits(cli: &Cli, file: &Config) -> Limits {
    let secs = |flag: Option<u64>, key: Option<u64>, default: Duration| flag.or(key).map_or(default, Duration::from_secs);
    let default = Limits::default();
    let mut limits = default.clone();
    limits.header_read_timeout =
        secs(cli.header_read_timeout_secs, file.header_read_timeout_secs, default.header_read_timeout);
    limits.body_read_timeout = secs(cli.body_read_timeout_secs, file.body_read_timeout_secs, default.body_read_timeout);
    limits.write_timeout = secs(cli.write_timeout_secs, file.write_timeout_secs, default.write_timeout);
    limits.max_header_bytes = cli.max_header_bytes.or(file.max_header_bytes).unwrap_or(default.max_header_bytes);
    limits.max_connections_per_ip = cli.max_connections_per_ip.or(file.max_connections_per_ip);
    limits.ws_ping_interval = secs(cli.ws_ping_interval_secs, file.ws_ping_interval_secs, default.ws_ping_interval).max(Duration::from_secs(1));
    limits
}

fn auth(cli: &Cli, file: &Config) -> Result<Option<Auth>, String> {
    let secret = cli.jwt_hs256_secret.clone().or(file.auth.hs256_secret.clone());
    let public_key = cli.jwt_rs256_public_key.clone().or(file.auth.rs256_public_key_file.clone());
    let hs256 = secret
        .map(|secret| Auth::hs256(secret.as_bytes()).map_err(|e| format!("--jwt-hs256-secret: {e}")))
        .transpose()?;
    let rs256 = public_key
        .map(|path| {
            let pem = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Auth::rs256(&pem).map_err(|e| format!("{}: {e}", path.display()))
        })
        .transpose()?;
    Ok(match (hs256, rs256) {
        (Some(a), Some(b)) => Some(a.or(b)),
        (a, b) => a.or(b),
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
