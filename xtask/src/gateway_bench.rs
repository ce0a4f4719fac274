//! `cargo xtask bench gateway`: the herald gateway against a Socket.IO server, side by
//! side in one run, driven by the same Rust load generator (`bench/gateway-load`).
//!
//! For 1,000 and 10,000 concurrent stream clients on loopback, each server gets the same
//! fixed publish rate (open loop: 100 events/s for 2 s, every event to every client);
//! the table gives deliveries/s, publish-to-receive p50/p99, and the server's RSS per
//! idle connection, with herald/Socket.IO ratios. Then it times one herald client
//! resuming behind 10,000 missed events.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::run::{cargo, spawn_announced, Cmd, Guard};
use crate::{root, say};

const CLIENTS: [usize; 2] = [1_000, 10_000];
const EVENTS: usize = 200;
const RATE: usize = 100;
const REPLAY: usize = 10_000;

/// The servers of one run: herald on its embedded store (its SSE, its SignalR hub, its
/// Socket.IO namespace), herald on NATS JetStream (with `--store nats`), and the Node
/// Socket.IO server.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Herald,
    HeraldSignalR,
    HeraldSocketIo,
    HeraldNats,
    SocketIo,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Herald => "herald",
            Kind::HeraldSignalR => "herald/SignalR",
            Kind::HeraldSocketIo => "herald/Socket.IO",
            Kind::HeraldNats => "herald/NATS",
            Kind::SocketIo => "Socket.IO",
        }
    }
}

/// `cargo xtask bench gateway [--store nats]`.
pub fn bench_gateway(args: &[&str]) -> Result<(), String> {
    let with_nats = match args {
        [] => false,
        ["--store", "nats"] => true,
        _ => return Err("usage: cargo xtask bench gateway [--store nats]".into()),
    };
    let root = root();
    cargo()
        .args(["build", "--locked", "--release", "-p", "herald-server", "-p", "herald-bench-gateway-load"])
        .status()?;
    let socketio = root.join("bench/socketio");
    if !socketio.join("node_modules/socket.io").is_dir() {
        Cmd::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&socketio)
            .status()?;
    }
    let mut kinds = vec![Kind::Herald, Kind::HeraldSignalR, Kind::HeraldSocketIo];
    if with_nats {
        kinds.push(Kind::HeraldNats);
    }
    kinds.push(Kind::SocketIo);
    let mut rows = Vec::new();
    let mut run = 0;
    for clients in CLIENTS {
        for kind in &kinds {
            // every run connects from its own loopback address: no run waits for the
            // previous run's ports to leave TIME_WAIT
            run += 1;
            let source_ip = format!("127.0.0.{}", 20 + run);
            say(&format!("{}: {clients} clients, {EVENTS} events at {RATE}/s", kind.label()));
            let process = start(&root, *kind, run)?;
            let result = load(&root, *kind, &process, clients, &source_ip)?;
            rows.push((kind.label(), result));
        }
    }
    let mut replays = Vec::new();
    // a resume is SSE's Last-Event-ID (the other transports resume the same feed)
    for kind in kinds.iter().filter(|k| matches!(k, Kind::Herald | Kind::HeraldNats)) {
        run += 1;
        let process = start(&root, *kind, run)?;
        let replay = Cmd::new(root.join("target/release/herald-bench-gateway-load"))
            .args(["replay", "--base", &process.url, "--events", &REPLAY.to_string(), "--source-ip", "127.0.0.60"])
            .output_stdout(Stdio::inherit())?;
        let replay: Value = serde_json::from_str(replay.trim()).map_err(|e| format!("{e}: {replay}"))?;
        replays.push((kind.label(), replay));
    }
    println!("{}", table(&rows, &replays)?);
    println!("{}", floor(&root)?);
    println!("{}", storm_line(&storm(&root)?));
    Ok(())
}

/// `cargo xtask soak [--minutes M] [--kill-every S] [--clients N]`: M minutes (30) of mixed
/// load on a release gateway: a publisher at 50 events/s, N readers (2,000) with 20
/// reconnects a second among them, one client that never reads, and a kill -9 of the
/// gateway every S seconds (300), restarted on the same port and data. Ends with every
/// reader checked for every acknowledged event exactly once, and the gateway's RSS.
pub fn soak(args: &[&str]) -> Result<(), String> {
    let (mut minutes, mut kill_every, mut clients) = (30.0f64, 300u64, 2000usize);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match *flag {
            "--minutes" => minutes = value.parse().map_err(|e| bad(&e))?,
            "--kill-every" => kill_every = value.parse().map_err(|e| bad(&e))?,
            "--clients" => clients = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("soak: no option `{other}` (there are --minutes, --kill-every, --clients)")),
        }
    }
    let seconds = (minutes * 60.0).round().max(10.0) as u64;
    let root = root();
    cargo()
        .args(["build", "--locked", "--release", "-p", "herald-server", "-p", "herald-bench-gateway-load"])
        .status()?;
    let (command, data) = herald_command(&root, &format!("soak/data-{}", std::process::id()))?;
    let (mut gateway, url) = spawn_announced(command, "the gateway")?;
    let listen = url.trim_start_matches("http://").to_owned();
    let pid_file = root.join("target/bench/soak/gateway.pid");
    std::fs::write(&pid_file, gateway.0.id().to_string()).map_err(|e| e.to_string())?;
    say(&format!(
        "soak: {seconds} s, {clients} readers, 50 events/s, 20 reconnects/s, one stalled client, kill -9 every {kill_every} s"
    ));
    // before the first kill, which would close it anyway
    let stall_check = (kill_every * 4 / 5).clamp(1, 240).min(seconds.saturating_sub(5).max(1));
    let mut load = Cmd::new(root.join("target/release/herald-bench-gateway-load"))
        .args(["soak", "--base", &url, "--clients", &clients.to_string(), "--seconds", &seconds.to_string()])
        .args(["--rate", "50", "--churn", "20", "--stall-check", &stall_check.to_string()])
        .arg("--pid-file")
        .arg(&pid_file)
        .args(["--source-ip", "127.0.0.97"])
        .spawn(Stdio::piped())?;
    let started = std::time::Instant::now();
    let mut kills = 0;
    let mut next_kill = started + std::time::Duration::from_secs(kill_every);
    let output = loop {
        if let Some(status) = load.try_wait().map_err(|e| e.to_string())? {
            let mut text = String::new();
            if let Some(mut out) = load.stdout.take() {
                std::io::Read::read_to_string(&mut out, &mut text).map_err(|e| e.to_string())?;
            }
            if !status.success() {
                return Err(format!("the soak's load generator failed ({status}): {text}"));
            }
            break text;
        }
        // no kill in the last minute: the readers catch up on a gateway that stays up
        let ends = started + std::time::Duration::from_secs(seconds);
        if std::time::Instant::now() >= next_kill && next_kill + std::time::Duration::from_secs(60) < ends {
            say(&format!("soak: kill -9 of the gateway ({} s in)", started.elapsed().as_secs()));
            drop(gateway); // SIGKILL, then reaped
            kills += 1;
            let command = Cmd::new(root.join("target/release/herald-server"))
                .args(["--dev-no-auth", "--listen", &listen, "--data"])
                .arg(&data.0)
                .env("RUST_LOG", "warn");
            let (process, _) = spawn_announced(command, "the gateway")?;
            gateway = process;
            std::fs::write(&pid_file, gateway.0.id().to_string()).map_err(|e| e.to_string())?;
            next_kill += std::time::Duration::from_secs(kill_every);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    drop(gateway);
    let result: Value = serde_json::from_str(output.trim()).map_err(|e| format!("{e}: {output}"))?;
    println!("{}", soak_table(&result, kills));
    let exact = result["readers_exactly_once"] == result["readers"];
    if exact && result["events_missing"] == 0 && result["events_repeated"] == 0 {
        Ok(())
    } else {
        Err("the soak lost or repeated acknowledged events".into())
    }
}

/// The soak's result as a table.
pub fn soak_table(result: &Value, kills: u64) -> String {
    let n = |key: &str| num(result, key);
    let rows = [
        ("duration", format!("{:.0} s", n("seconds"))),
        ("events published / acknowledged", format!("{:.0} / {:.0}", n("published"), n("acknowledged"))),
        ("readers", format!("{:.0}", n("readers"))),
        ("kill -9 of the gateway", format!("{kills} (gateway processes seen: {:.0})", n("gateway_runs"))),
        ("reconnects (churn and kills)", format!("{:.0}", n("reconnects"))),
        ("readers with every acknowledged event exactly once", format!("{:.0} of {:.0}", n("readers_exactly_once"), n("readers"))),
        ("acknowledged events missing / repeated (all readers)", format!("{:.0} / {:.0}", n("events_missing"), n("events_repeated"))),
        ("stalled client dropped by the gateway", if result["stalled_client_dropped"] == true { "yes".into() } else { "NO".into() }),
        ("gateway RSS, highest / at the end", format!("{:.1} / {:.1} MiB", n("rss_max_kib") / 1024.0, n("rss_end_kib") / 1024.0)),
    ];
    let mut out = String::from("\nsoak (cargo xtask soak):\n| what | result |\n|---|---|\n");
    for (what, value) in rows {
        out.push_str(&format!("| {what} | {value} |\n"));
    }
    out
}

/// Clients and events of the reconnect storm.
const STORM_CLIENTS: usize = 10_000;
const STORM_EVENTS: usize = 100;

/// `cargo xtask bench storm`: the reconnect storm alone (also the last line of `bench
/// gateway`).
pub fn bench_storm() -> Result<(), String> {
    let root = root();
    cargo()
        .args(["build", "--locked", "--release", "-p", "herald-server", "-p", "herald-bench-gateway-load"])
        .status()?;
    println!("{}", storm_line(&storm(&root)?));
    Ok(())
}

/// The reconnect storm: a fresh gateway with 100 events, then 10,000 SSE clients at once,
/// each resuming from before them (herald-gateway-load storm).
fn storm(root: &Path) -> Result<Value, String> {
    let (command, _data) = herald_command(root, &format!("gateway/storm-{}", std::process::id()))?;
    let (process, url) = spawn_announced(command, "the gateway")?;
    say(&format!("reconnect storm: {STORM_CLIENTS} SSE clients resuming at once after {STORM_EVENTS} events"));
    // a loopback address of its own per run: the 10,000 ports of the last run may still be
    // in TIME_WAIT, and connecting from them again would wait
    let pid = std::process::id();
    let source_ip = format!("127.{}.{}.{}", 100 + pid % 100, (pid / 100) % 250, 1 + (pid / 25_000) % 250);
    let output = Cmd::new(root.join("target/release/herald-bench-gateway-load"))
        .args(["storm", "--base", &url, "--clients", &STORM_CLIENTS.to_string(), "--events", &STORM_EVENTS.to_string()])
        .args(["--pid", &process.0.id().to_string(), "--source-ip", &source_ip])
        .output_stdout(Stdio::inherit())?;
    serde_json::from_str(output.trim()).map_err(|e| format!("{e}: {output}"))
}

/// The storm's result in words, against its bars (all resumed within 2 s, nothing lost,
/// the gateway up, ≤ 8 KiB per connection).
pub fn storm_line(result: &Value) -> String {
    let mut line = format!(
        "reconnect storm: {} SSE clients resuming at once after {} events: all connected in {:.2} s, \
         all resumed in {:.2} s (bar 2 s); {} of them resumed, {} failed, {} events lost, {} out of order, \
         {} ended elsewhere; RSS {:.1} KiB per connection (bar 8 KiB); gateway {}",
        num(result, "clients"),
        num(result, "events"),
        num(result, "all_connected_in_secs"),
        num(result, "all_resumed_in_secs"),
        num(result, "resumed"),
        num(result, "failed"),
        num(result, "events_lost"),
        num(result, "out_of_order"),
        num(result, "ended_elsewhere"),
        num(result, "kib_per_connection"),
        if result["gateway_up"] == true { "up" } else { "DOWN" },
    );
    if let Some(error) = result["first_error"].as_str() {
        line.push_str(&format!("; first error: {error}"));
    }
    line
}

/// RSS per idle stream of the gateway beside a bare hyper server with the same builder
/// settings that streams nothing (`examples/sse-floor.rs`): the floor hyper itself sets.
fn floor(root: &Path) -> Result<String, String> {
    const IDLE: usize = 10_000;
    cargo()
        .args(["build", "--locked", "--release", "-p", "herald-server", "--example", "sse-floor"])
        .status()?;
    let mut lines = Vec::new();
    for (run, what) in ["herald", "bare hyper (sse-floor)"].into_iter().enumerate() {
        let (process, url, _data) = if run == 0 {
            let (command, data) = herald_command(root, &format!("gateway/floor-{}", std::process::id()))?;
            let (process, url) = spawn_announced(command, "the gateway")?;
            (process, url, Some(data))
        } else {
            let command = Cmd::new(root.join("target/release/examples/sse-floor"));
            let (process, url) = spawn_announced(command, "sse-floor")?;
            (process, url, None)
        };
        let output = Cmd::new(root.join("target/release/herald-bench-gateway-load"))
            .args(["rss", "--target", "herald", "--base", &url, "--clients", &IDLE.to_string()])
            .args(["--pid", &process.0.id().to_string(), "--source-ip", &format!("127.0.0.{}", 90 + run)])
            .output_stdout(Stdio::inherit())?;
        let result: Value = serde_json::from_str(output.trim()).map_err(|e| format!("{e}: {output}"))?;
        lines.push(format!(
            "RSS per idle stream, {IDLE} streams: {what} {:.1} KiB (all connected in {:.2} s)",
            num(&result, "kib_per_idle_connection"),
            num(&result, "connected_in_secs")
        ));
    }
    Ok(lines.join("\n"))
}

/// `cargo xtask bench bridge`: events into the gateway through RabbitMQ beside direct
/// HTTP ingest, in one run: 1,000 SSE readers, the same open-loop publish rate; the
/// table gives deliveries/s and publish-to-receive p50/p99 of both paths, and their ratio.
pub fn bench_bridge() -> Result<(), String> {
    const READERS: usize = 1_000;
    let root = root();
    cargo()
        .args(["build", "--locked", "--release", "-p", "herald-server", "-p", "herald-bench-gateway-load"])
        .status()?;
    say("starting RabbitMQ on loopback");
    let rabbit = herald_brokers::Rabbit::start()?;
    let config = TempDir(root.join(format!("target/bench/bridge-{}", std::process::id())));
    std::fs::create_dir_all(&config.0).map_err(|e| e.to_string())?;
    let file = config.0.join("bridge.toml");
    std::fs::write(&file, "[amqp_in.bench]\nexchange = \"bench\"\nqueue = \"herald.bench\"\nbindings = [\"#\"]\n")
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (run, path) in ["HTTP POST /events", "RabbitMQ → bridge"].into_iter().enumerate() {
        let (mut command, data) = herald_command(&root, &format!("bridge/data-{}-{run}", std::process::id()))?;
        if run == 1 {
            command = command.arg("--config").arg(&file).args(["--amqp-url", &rabbit.url()]);
        }
        let (process, url) = spawn_announced(command, "the gateway")?;
        let server = Server { url, pid: process.0.id(), _process: process, _data: Some(data), _nats: None };
        if run == 1 {
            wait_for_bridge(&server.url)?;
        }
        say(&format!("{path}: {READERS} readers, {EVENTS} events at {RATE}/s"));
        let mut load = Cmd::new(root.join("target/release/herald-bench-gateway-load"))
            .args(["fanout", "--target", "herald", "--base", &server.url])
            .args(["--clients", &READERS.to_string(), "--events", &EVENTS.to_string(), "--rate", &RATE.to_string()])
            .args(["--pid", &server.pid.to_string(), "--source-ip", &format!("127.0.0.{}", 70 + run)]);
        if run == 1 {
            load = load.args(["--amqp", &rabbit.url(), "--exchange", "bench"]);
        }
        let output = load.output_stdout(Stdio::inherit())?;
        let result: Value = serde_json::from_str(output.trim()).map_err(|e| format!("{e}: {output}"))?;
        rows.push((path, result));
    }
    println!("{}", bridge_table(&rows));
    Ok(())
}

/// `cargo xtask bench stall`: 1,000 stream readers with and without one reader that never
/// reads, in one run, the gateway's write timeout at 2 s: the others' p50/p99 latency
/// with and without it, and whether the stalled one was dropped (write timeouts, slow
/// disconnects).
pub fn bench_stall() -> Result<(), String> {
    const READERS: usize = 1_000;
    // 1 KiB events: the stalled reader's socket buffers (~260 KiB) fill in ~2 s
    let (events, rate, pad) = (500, 100, 1024);
    let root = root();
    cargo()
        .args(["build", "--locked", "--release", "-p", "herald-server", "-p", "herald-bench-gateway-load"])
        .status()?;
    let mut rows = Vec::new();
    for (run, stalled) in [0usize, 1].into_iter().enumerate() {
        let (command, data) = herald_command(&root, &format!("stall/data-{}-{run}", std::process::id()))?;
        let command = command.args(["--write-timeout-secs", "2"]);
        let (process, url) = spawn_announced(command, "the gateway")?;
        let server = Server { url, pid: process.0.id(), _process: process, _data: Some(data), _nats: None };
        say(&format!("{READERS} readers and {stalled} stalled, {events} events of 1 KiB at {rate}/s"));
        let output = Cmd::new(root.join("target/release/herald-bench-gateway-load"))
            .args(["fanout", "--target", "herald", "--base", &server.url])
            .args(["--clients", &READERS.to_string(), "--events", &events.to_string(), "--rate", &rate.to_string()])
            .args(["--pad", &pad.to_string(), "--stalled", &stalled.to_string()])
            .args(["--pid", &server.pid.to_string(), "--source-ip", &format!("127.0.0.{}", 80 + run)])
            .output_stdout(Stdio::inherit())?;
        let mut result: Value = serde_json::from_str(output.trim()).map_err(|e| format!("{e}: {output}"))?;
        let metrics = http_get(&server.url, "/metrics").unwrap_or_default();
        let counter = |name: &str| {
            metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok()).unwrap_or(0)
        };
        result["write_timeouts"] = counter("herald_write_timeouts_total").into();
        result["slow_disconnects"] = counter("herald_stream_slow_disconnects_total").into();
        rows.push(result);
    }
    println!("{}", stall_table(&rows));
    Ok(())
}

/// The stall results as a Markdown table, with the p99 ratio with/without.
pub fn stall_table(rows: &[Value]) -> String {
    let mut out = String::from(
        "| stalled readers | delivered        | p50 ms  | p99 ms  | write timeouts | slow disconnects | stalled closed |\n\
         |----------------:|-----------------:|--------:|--------:|---------------:|-----------------:|---------------:|\n",
    );
    for r in rows {
        let count = |key: &str| r[key].as_u64().unwrap_or(0);
        out.push_str(&format!(
            "| {:>15} | {:>16} | {:>7.1} | {:>7.1} | {:>14} | {:>16} | {:>14} |\n",
            count("stalled"),
            format!("{}/{}", count("delivered"), count("expected")),
            num(r, "p50_ms"),
            num(r, "p99_ms"),
            count("write_timeouts"),
            count("slow_disconnects"),
            format!("{}/{}", count("stalled_closed_by_server"), count("stalled")),
        ));
    }
    if let [without, with] = rows {
        out.push_str(&format!(
            "\nwith a stalled reader / without: p50 {:.2}x, p99 {:.2}x (bar: p99 at most 1.10x)\n",
            num(with, "p50_ms") / num(without, "p50_ms"),
            num(with, "p99_ms") / num(without, "p99_ms"),
        ));
    }
    out
}

/// Waits until the gateway at `url` says its bridge is up.
fn wait_for_bridge(url: &str) -> Result<(), String> {
    for _ in 0..300 {
        let metrics = http_get(url, "/metrics").unwrap_or_default();
        if metrics.lines().any(|l| l.starts_with("herald_bridge_up{") && l.ends_with(" 1")) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err("the gateway's RabbitMQ bridge did not come up within 30 s".into())
}

/// The body of `GET path` on the server at `base` (`http://HOST:PORT`), by hand: the
/// xtask has no HTTP client, and a fresh machine may have no curl.
fn http_get(base: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// The bridge results as a Markdown table, with the bridge's ratios to direct ingest.
pub fn bridge_table(rows: &[(&str, Value)]) -> String {
    let mut out = String::from(
        "| ingest path        | delivered        | deliveries/s | p50 ms  | p99 ms  |\n\
         |--------------------|-----------------:|-------------:|--------:|--------:|\n",
    );
    for (path, r) in rows {
        let count = |key: &str| r[key].as_u64().unwrap_or(0);
        out.push_str(&format!(
            "| {path:<18} | {:>16} | {:>12.0} | {:>7.1} | {:>7.1} |\n",
            format!("{}/{}", count("delivered"), count("expected")),
            num(r, "deliveries_per_sec"),
            num(r, "p50_ms"),
            num(r, "p99_ms"),
        ));
    }
    if let [(_, http), (_, bridge)] = rows {
        out.push_str(&format!(
            "\nRabbitMQ/HTTP: deliveries/s {:.2}x, p50 latency {:.2}x, p99 latency {:.2}x\n",
            num(bridge, "deliveries_per_sec") / num(http, "deliveries_per_sec"),
            num(bridge, "p50_ms") / num(http, "p50_ms"),
            num(bridge, "p99_ms") / num(http, "p99_ms"),
        ));
    }
    out
}

/// A `nats-server -js` on a free loopback port for the benchmark.
struct NatsServer {
    url: String,
    _process: Guard,
    _data: TempDir,
}

impl NatsServer {
    fn start(root: &Path, run: usize) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let data = TempDir(root.join(format!("target/bench/gateway/nats-{}-{run}", std::process::id())));
        let _ = std::fs::remove_dir_all(&data.0);
        std::fs::create_dir_all(&data.0).map_err(|e| format!("{}: {e}", data.0.display()))?;
        let bin = if Path::new("/usr/sbin/nats-server").exists() { "/usr/sbin/nats-server" } else { "nats-server" };
        let child = Cmd::new(bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&data.0)
            .arg("-l")
            .arg(data.0.join("nats.log"))
            .spawn(Stdio::null())?;
        let process = Guard(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(NatsServer { url: format!("nats://127.0.0.1:{port}"), _process: process, _data: data });
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(format!("nats-server did not listen on {port} (`cargo xtask install` installs it)"))
    }
}

/// `cargo xtask bench push`: publish-to-DOM latency on the NOP page in headless Chromium
/// (a capturing listener on `window` sees each reading arrive on the page's bus), with
/// no other stream clients and with 1,000 others connected to the same gateway.
pub fn bench_push() -> Result<(), String> {
    let root = root();
    crate::install::install(false)?;
    crate::build_page()?;
    cargo()
        .args(["build", "--locked", "--release", "-p", "herald-server", "-p", "herald-bench-gateway-load"])
        .status()?;
    cargo()
        .args(["build", "--locked", "-p", "herald-e2e", "--bin", "herald-bench-push"])
        .status()?;
    let mut rows = Vec::new();
    for others in [0usize, 1_000] {
        say(&format!("publish-to-DOM with {others} other stream clients"));
        let server = start_serving(&root)?;
        let _clients = if others > 0 {
            let mut child = Cmd::new(root.join("target/release/herald-bench-gateway-load"))
                .args(["idle", "--base", &server.url, "--clients", &others.to_string(), "--source-ip", "127.0.0.40"])
                .spawn(Stdio::piped())?;
            let stdout = child.stdout.take().ok_or("the load generator has no stdout")?;
            let guard = Guard(child);
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
            if !line.starts_with("ready") {
                return Err(format!("the idle clients did not connect: {line:?}"));
            }
            Some(guard)
        } else {
            None
        };
        let output = Cmd::new(root.join("target/debug/herald-bench-push"))
            .args([&server.url, "500", "50"])
            .env("CHROMEDRIVER", "/usr/bin/chromedriver")
            .output_stdout(Stdio::inherit())?;
        let result: Value = serde_json::from_str(output.trim()).map_err(|e| format!("{e}: {output}"))?;
        rows.push((others, result));
    }
    println!("{}", push_table(&rows));
    Ok(())
}

/// The push latency results as a Markdown table.
pub fn push_table(rows: &[(usize, Value)]) -> String {
    let mut out = String::from(
        "| other stream clients | events | p50 ms | p90 ms | p99 ms | max ms |\n\
         |---------------------:|-------:|-------:|-------:|-------:|-------:|\n",
    );
    for (others, r) in rows {
        out.push_str(&format!(
            "| {others:>20} | {:>6} | {:>6.2} | {:>6.2} | {:>6.2} | {:>6.2} |\n",
            r["events"].as_u64().unwrap_or(0),
            num(r, "p50_ms"),
            num(r, "p90_ms"),
            num(r, "p99_ms"),
            num(r, "max_ms"),
        ));
    }
    out
}

fn start_serving(root: &Path) -> Result<Server, String> {
    let (command, data) = herald_command(root, &format!("push/data-{}", std::process::id()))?;
    let command = command.arg("--static-dir").arg(root.join("dist"));
    let (process, url) = spawn_announced(command, "the gateway")?;
    Ok(Server { url, pid: process.0.id(), _process: process, _data: Some(data), _nats: None })
}

/// The release gateway, without authorization, on a free port, with a fresh data
/// directory `target/bench/<data>` (removed with the returned guard).
fn herald_command(root: &Path, data: &str) -> Result<(Cmd, TempDir), String> {
    let data = TempDir(root.join("target/bench").join(data));
    let _ = std::fs::remove_dir_all(&data.0);
    let command = Cmd::new(root.join("target/release/herald-server"))
        .args(["--dev-no-auth", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data.0)
        .env("RUST_LOG", "warn");
    Ok((command, data))
}

struct Server {
    url: String,
    pid: u32,
    _process: Guard,
    _data: Option<TempDir>,
    _nats: Option<NatsServer>,
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(root: &Path, kind: Kind, run: usize) -> Result<Server, String> {
    // herald on NATS gets a nats-server of its own per run: every run starts empty
    let nats = if kind == Kind::HeraldNats { Some(NatsServer::start(root, run)?) } else { None };
    let (command, data) = match kind {
        Kind::Herald | Kind::HeraldSignalR | Kind::HeraldSocketIo | Kind::HeraldNats => {
            let (mut command, data) = herald_command(root, &format!("gateway/data-{}-{run}", std::process::id()))?;
            if let Some(nats) = &nats {
                command = command.args(["--store", &nats.url]);
            }
            (command, Some(data))
        }
        Kind::SocketIo => {
            let command = Cmd::new("node").args(["server.js", "0"]).current_dir(&root.join("bench/socketio"));
            (command, None)
        }
    };
    let (process, url) = spawn_announced(command, kind.label())?;
    Ok(Server { url, pid: process.0.id(), _process: process, _data: data, _nats: nats })
}

fn load(root: &Path, kind: Kind, process: &Server, clients: usize, source_ip: &str) -> Result<Value, String> {
    let target = match kind {
        Kind::Herald | Kind::HeraldNats => "herald",
        Kind::HeraldSignalR => "herald-signalr",
        Kind::HeraldSocketIo => "herald-socketio",
        Kind::SocketIo => "socketio",
    };
    let output = Cmd::new(root.join("target/release/herald-bench-gateway-load"))
        .args(["fanout", "--target", target, "--base", &process.url])
        .args(["--clients", &clients.to_string(), "--events", &EVENTS.to_string(), "--rate", &RATE.to_string()])
        .args(["--pid", &process.pid.to_string(), "--source-ip", source_ip])
        .output_stdout(Stdio::inherit())?;
    serde_json::from_str(output.trim()).map_err(|e| format!("{e}: {output}"))
}

fn num(value: &Value, key: &str) -> f64 {
    value[key].as_f64().unwrap_or(f64::NAN)
}

/// The results as a Markdown table, per client count, with each herald's ratio to
/// Socket.IO, and the replay times.
pub fn table(rows: &[(&str, Value)], replays: &[(&str, Value)]) -> Result<String, String> {
    let mut out = String::from(
        "| clients | server           | delivered        | deliveries/s | p50 ms  | p99 ms  | RSS/idle conn |\n\
         |--------:|------------------|-----------------:|-------------:|--------:|--------:|--------------:|\n",
    );
    for (server, r) in rows {
        let rss = r["kib_per_idle_connection"].as_f64().map(|k| format!("{k:.1} KiB")).unwrap_or("-".into());
        let count = |key: &str| r[key].as_u64().unwrap_or(0);
        out.push_str(&format!(
            "| {:>7} | {:<16} | {:>16} | {:>12.0} | {:>7.1} | {:>7.1} | {:>13} |\n",
            count("clients"),
            server,
            format!("{}/{}", count("delivered"), count("expected")),
            num(r, "deliveries_per_sec"),
            num(r, "p50_ms"),
            num(r, "p99_ms"),
            rss,
        ));
    }
    out.push('\n');
    for (server, r) in rows.iter().filter(|(s, _)| *s != "Socket.IO") {
        let Some((_, socketio)) = rows
            .iter()
            .find(|(s, other)| *s == "Socket.IO" && other["clients"] == r["clients"])
        else {
            continue;
        };
        out.push_str(&format!(
            "{} clients: {server} against Socket.IO on Node: deliveries/s {:.2}x, p99 latency {:.2}x\n",
            r["clients"],
            num(r, "deliveries_per_sec") / num(socketio, "deliveries_per_sec"),
            num(r, "p99_ms") / num(socketio, "p99_ms"),
        ));
    }
    for (server, replay) in replays {
        out.push_str(&format!(
            "replay on resume ({server}): {} missed events in {:.3} s ({:.0} events/s)\n",
            replay["events"],
            num(replay, "seconds"),
            num(replay, "events_per_sec")
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_soak_table_says_what_was_lost() {
        let result = serde_json::json!({"seconds": 1800.2, "published": 90000, "acknowledged": 90000,
            "readers": 2000, "readers_exactly_once": 2000, "events_missing": 0, "events_repeated": 0,
            "reconnects": 36500, "gateway_runs": 6, "stalled_client_dropped": true,
            "rss_max_kib": 102400, "rss_end_kib": 51200});
        let table = super::soak_table(&result, 5);
        assert!(table.contains("| readers with every acknowledged event exactly once | 2000 of 2000 |"), "{table}");
        assert!(table.contains("| kill -9 of the gateway | 5 (gateway processes seen: 6) |"), "{table}");
        assert!(table.contains("| gateway RSS, highest / at the end | 100.0 / 50.0 MiB |"), "{table}");
        assert!(table.contains("| stalled client dropped by the gateway | yes |"), "{table}");
    }

    #[test]
    fn the_storm_line_gives_the_times_and_the_losses() {
        let result = serde_json::json!({"clients": 10000, "events": 100, "all_connected_in_secs": 0.8,
            "all_resumed_in_secs": 1.5, "resumed": 10000, "failed": 0, "events_lost": 0, "out_of_order": 0,
            "ended_elsewhere": 0, "kib_per_connection": 14.2, "gateway_up": true, "first_error": null});
        let line = super::storm_line(&result);
        assert!(line.contains("10000 SSE clients"), "{line}");
        assert!(line.contains("all resumed in 1.50 s (bar 2 s)"), "{line}");
        assert!(line.contains("0 events lost"), "{line}");
        assert!(line.contains("14.2 KiB per connection"), "{line}");
        assert!(line.ends_with("gateway up"), "{line}");
    }

    #[test]
    fn the_stall_table_compares_p99_with_and_without_a_stalled_reader() {
        let row = |stalled: u64, p99: f64| json!({ "stalled": stalled, "delivered": 10, "expected": 10, "p50_ms": 1.0, "p99_ms": p99, "write_timeouts": stalled, "slow_disconnects": stalled, "stalled_closed_by_server": stalled });
        let text = stall_table(&[row(0, 4.0), row(1, 4.2)]);
        assert!(text.contains("p50 1.00x, p99 1.05x"), "{text}");
        assert!(text.contains("|               1 |"), "{text}");
    }

    #[test]
    fn the_bridge_table_sets_the_bridge_beside_direct_ingest() {
        let row = |rate: f64, p50: f64, p99: f64| json!({ "delivered": 10, "expected": 10, "deliveries_per_sec": rate, "p50_ms": p50, "p99_ms": p99 });
        let text = bridge_table(&[("HTTP POST /events", row(200.0, 1.0, 4.0)), ("RabbitMQ → bridge", row(100.0, 3.0, 8.0))]);
        assert!(text.contains("RabbitMQ/HTTP: deliveries/s 0.50x, p50 latency 3.00x, p99 latency 2.00x"), "{text}");
        assert!(text.contains("| RabbitMQ → bridge  |"), "{text}");
    }

    #[test]
    fn the_push_table_has_a_row_per_client_count() {
        let row = json!({ "events": 500, "p50_ms": 1.5, "p90_ms": 2.0, "p99_ms": 3.25, "max_ms": 9.0 });
        let text = push_table(&[(0, row.clone()), (1000, row)]);
        assert!(text.contains("|                 1000 |    500 |   1.50 |   2.00 |   3.25 |   9.00 |"), "{text}");
    }

    #[test]
    fn the_table_puts_herald_against_socketio_per_client_count() {
        let row = |rate: f64, p99: f64| json!({ "clients": 1000, "delivered": 10, "expected": 10, "deliveries_per_sec": rate, "p50_ms": 1.0, "p99_ms": p99, "kib_per_idle_connection": 2.5 });
        let rows = [("herald", row(300.0, 2.0)), ("herald/NATS", row(200.0, 4.0)), ("herald/Socket.IO", row(150.0, 4.0)), ("Socket.IO", row(100.0, 8.0))];
        let replay = json!({ "events": 10000, "seconds": 0.5, "events_per_sec": 20000.0 });
        let text = table(&rows, &[("herald", replay)]).unwrap();
        assert!(text.contains("1000 clients: herald against Socket.IO on Node: deliveries/s 3.00x, p99 latency 0.25x"), "{text}");
        assert!(text.contains("1000 clients: herald/NATS against Socket.IO on Node: deliveries/s 2.00x, p99 latency 0.50x"), "{text}");
        assert!(text.contains("1000 clients: herald/Socket.IO against Socket.IO on Node: deliveries/s 1.50x"), "{text}");
        assert!(text.contains("| Socket.IO        |"));
        assert!(text.contains("2.5 KiB"));
        assert!(text.contains("replay on resume (herald): 10000 missed events in 0.500 s"));
    }
}
