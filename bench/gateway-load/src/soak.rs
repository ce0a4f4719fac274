//! `soak`: the mixed load of `cargo xtask soak`. A publisher posts events at `--rate`
//! (each retried until the gateway acknowledges it: a kill -9 in between must lose
//! nothing acknowledged); `--clients` readers follow `soak.>` from the start, each
//! reconnecting with `Last-Event-ID` whenever its stream ends and, as churn, at random
//! (`--churn` reconnects per second in all); one client connects and never reads. The
//! xtask kills the gateway meanwhile and starts it again on the same port and data, and
//! rewrites `--pid-file`.
//!
//! At the end every reader must have had every acknowledged event exactly once: each
//! keeps a bitmap of the sequence numbers it received, so a repeat is seen as it comes and
//! a gap at the end. Prints one JSON object: events acknowledged, readers, reconnects,
//! readers with everything exactly once, events missing and repeated, whether the stalled
//! client was dropped, and the gateway's RSS (highest, and at the end).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{closed_by_server, connect_tcp, now_micros, rss_kib, stalled_client, Args};

/// What a reader received: a bit per sequence number.
#[derive(Default)]
struct Seen {
    bits: Vec<u64>,
    repeats: u64,
    last: Option<String>,
    last_seq: u64,
}

impl Seen {
    /// Records `seq`; whether it was new.
    fn record(&mut self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        let new = self.bits[word] & (1 << bit) == 0;
        self.bits[word] |= 1 << bit;
        if !new {
            self.repeats += 1;
        }
        new
    }

    fn has(&self, seq: u64) -> bool {
        self.bits.get((seq / 64) as usize).is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }
}

struct Shared {
    args: Args,
    acked: Mutex<Vec<u64>>,
    reconnects: AtomicU64,
    stop: AtomicBool,
    /// The highest acknowledged sequence number once publishing stopped.
    final_seq: AtomicU64,
    caught_up: AtomicU64,
}

pub async fn run(args: Args) -> Result<serde_json::Value, String> {
    let readers = args.clients;
    let seconds = args.seconds;
    let stall_check = args.stall_check.min(seconds.saturating_sub(1)).max(1);
    let shared = Arc::new(Shared {
        args,
        acked: Mutex::new(Vec::new()),
        reconnects: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        final_seq: AtomicU64::new(u64::MAX),
        caught_up: AtomicU64::new(0),
    });
    // a first event: its position is where every reader starts from
    let start = reqwest::Client::new()
        .post(format!("{}/events", shared.args.base))
        .header("content-type", "application/cloudevents+json")
        .body(serde_json::json!({"specversion": "1.0", "id": format!("soak-start-{}", now_micros()),
            "source": "/bench/soak", "type": "soak.start"}).to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let start: serde_json::Value = start.json().await.map_err(|e| e.to_string())?;
    let start = start["position"].as_str().ok_or(format!("no position in {start}"))?.to_owned();
    let started = Instant::now();
    let rss = tokio::spawn(sample_rss(shared.clone()));
    let stalled = stalled_client(&shared.args, "soak.%3E").await?;
    let tasks: Vec<_> = (0..readers).map(|n| tokio::spawn(reader(shared.clone(), n, start.clone()))).collect();
    let publisher = tokio::spawn(publish(shared.clone(), Duration::from_secs(seconds)));

    tokio::time::sleep(Duration::from_secs(stall_check)).await;
    let stalled_dropped = closed_by_server(stalled).await;

    let published = publisher.await.map_err(|e| e.to_string())??;
    let last = shared.acked.lock().map_err(|e| e.to_string())?.iter().copied().max().unwrap_or(0);
    shared.final_seq.store(last, Ordering::SeqCst);
    // every reader catches up to the last acknowledged event (or 120 s pass)
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.caught_up.load(Ordering::SeqCst) < readers as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shared.stop.store(true, Ordering::SeqCst);
    let acked = shared.acked.lock().map_err(|e| e.to_string())?.clone();
    let (mut exact, mut missing, mut repeats, mut failed) = (0u64, 0u64, 0u64, 0u64);
    for task in tasks {
        match task.await {
            Ok(seen) => {
                let lost = acked.iter().filter(|seq| !seen.has(**seq)).count() as u64;
                missing += lost;
                repeats += seen.repeats;
                if lost == 0 && seen.repeats == 0 {
                    exact += 1;
                }
            }
            Err(_) => failed += 1,
        }
    }
    let (rss_max, rss_end, restarts) = rss.await.map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "seconds": started.elapsed().as_secs_f64(),
        "published": published,
        "acknowledged": acked.len(),
        "readers": readers,
        "readers_exactly_once": exact,
        "events_missing": missing,
        "events_repeated": repeats,
        "readers_failed": failed,
        "reconnects": shared.reconnects.load(Ordering::SeqCst),
        "gateway_runs": restarts,
        "stalled_client_dropped": stalled_dropped,
        "rss_max_kib": rss_max,
        "rss_end_kib": rss_end,
    }))
}

/// Posts events at `--rate` for `duration`, each until it is acknowledged; how many.
async fn publish(shared: Arc<Shared>, duration: Duration) -> Result<u64, String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().map_err(|e| e.to_string())?;
    let run = now_micros();
    let interval = Duration::from_secs_f64(1.0 / shared.args.rate.max(0.1));
    let started = Instant::now();
    let mut n = 0u64;
    let mut next = Instant::now();
    while started.elapsed() < duration {
        next += interval;
        n += 1;
        let body = serde_json::json!({
            "specversion": "1.0", "id": format!("soak-{run}-{n}"), "source": "/bench/soak",
            "type": "soak.reading", "data": { "n": n, "pad": "p".repeat(200) },
        })
        .to_string();
        // the same event again until the gateway says where it is (a repeat is stored once)
        loop {
            let answer = client
                .post(format!("{}/events", shared.args.base))
                .header("content-type", "application/cloudevents+json")
                .body(body.clone())
                .send()
                .await;
            if let Ok(response) = answer {
                if response.status().is_success() {
                    let value: serde_json::Value = response.json().await.unwrap_or_default();
                    if let Some(seq) = value["position"].as_str().and_then(|p| p.split_once('-')).and_then(|(_, s)| s.parse().ok()) {
                        shared.acked.lock().map_err(|e| e.to_string())?.push(seq);
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep_until(next.into()).await;
    }
    Ok(n)
}

/// One reader: follows `soak.>` from the start until told to stop; what it received.
async fn reader(shared: Arc<Shared>, n: usize, start: String) -> Seen {
    let mut seen = Seen { last: Some(start), ..Seen::default() };
    let mut reported = false;
    // each reader drops its stream at random, `churn` times a second across all of them
    let mean = shared.args.clients as f64 / shared.args.churn.max(0.001);
    let mut random = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut draw = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        (random % 10_000) as f64 / 10_000.0
    };
    while !shared.stop.load(Ordering::SeqCst) {
        let until = Instant::now() + Duration::from_secs_f64(mean * 2.0 * draw());
        let _ = follow(&shared, &mut seen, &mut reported, until).await;
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50 + (draw() * 450.0) as u64)).await;
    }
    seen
}

/// One connection of a reader, until it ends, `until` passes, or the soak stops.
async fn follow(shared: &Shared, seen: &mut Seen, reported: &mut bool, until: Instant) -> Result<(), String> {
    let mut stream = connect_tcp(&shared.args).await?;
    let host = shared.args.base.trim_start_matches("http://");
    let resume = seen.last.as_ref().map(|p| format!("Last-Event-ID: {p}\r\n")).unwrap_or_default();
    let request = format!("GET /events/stream?topic=soak.%3E HTTP/1.1\r\nHost: {host}\r\n{resume}\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8 * 1024];
    let mut headers = false;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let left = until.saturating_duration_since(Instant::now()).min(Duration::from_millis(500));
        let n = match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(read) => read.map_err(|e| e.to_string())?,
            Err(_) if Instant::now() >= until => return Ok(()),
            Err(_) => continue,
        };
        if n == 0 {
            return Err("the stream ended".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if !headers {
            let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            if !buffer.starts_with(b"HTTP/1.1 200") {
                return Err(String::from_utf8_lossy(&buffer[..end]).into_owned());
            }
            buffer.drain(..end + 4);
            headers = true;
        }
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            if let Some(id) = buffer[..end].strip_prefix(b"id:") {
                let id = String::from_utf8_lossy(id).trim().to_owned();
                if let Some(seq) = id.split_once('-').and_then(|(_, s)| s.parse::<u64>().ok()) {
                    seen.record(seq);
                    seen.last_seq = seen.last_seq.max(seq);
                    seen.last = Some(id);
                }
            }
            buffer.drain(..=end);
        }
        if !*reported && seen.last_seq >= shared.final_seq.load(Ordering::SeqCst) {
            *reported = true;
            shared.caught_up.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Samples the gateway's RSS every second (its pid from `--pid-file`, which changes with
/// each restart): the highest, the last, and how many gateway processes it saw.
async fn sample_rss(shared: Arc<Shared>) -> (u64, u64, u64) {
    let (mut max, mut last, mut pids) = (0, 0, Vec::new());
    while !shared.stop.load(Ordering::SeqCst) {
        let pid = shared
            .args
            .pid_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| t.trim().parse::<u32>().ok())
            .or(shared.args.pid);
        if let Some(pid) = pid {
            if !pids.contains(&pid) {
                pids.push(pid);
            }
            if let Some(kib) = rss_kib(pid) {
                max = max.max(kib);
                last = kib;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    (max, last, pids.len() as u64)
}
