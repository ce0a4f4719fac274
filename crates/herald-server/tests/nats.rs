//! The gateway on NATS JetStream: several gateways on one stream, failover in a
//! three-node JetStream cluster, and NATS going away. Each test starts its own
//! `nats-server -js` processes on free loopback ports (`cargo xtask install` installs
//! Debian's `nats-server`).

mod common;

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use herald_server::{AppState, EventLog, NatsConfig, NatsStore};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn nats_server_bin() -> PathBuf {
    let bin = std::env::var_os("NATS_SERVER").map(PathBuf::from).unwrap_or_else(|| "nats-server".into());
    let found = Command::new(&bin).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "no `nats-server` ({}): run `cargo xtask install` (Debian's nats-server package)", bin.display());
    bin
}

/// One `nats-server -js` process, killed when dropped.
struct Nats {
    child: Option<Child>,
    args: Vec<String>,
    port: u16,
}

impl Nats {
    fn start(port: u16, dir: &Path, extra: &[String]) -> Nats {
        let mut args = vec![
            "-js".to_owned(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-sd".into(),
            dir.display().to_string(),
        ];
        args.extend_from_slice(extra);
        let mut nats = Nats { child: None, args, port };
        nats.spawn();
        nats
    }

    fn spawn(&mut self) {
        let child = Command::new(nats_server_bin())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server did not listen on {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn nats_gateway(servers: &str, replicas: usize) -> (Gateway, AppState) {
    let mut config = NatsConfig::new(servers);
    config.replicas = replicas;
    config.ack_timeout = Duration::from_secs(2);
    // a fresh cluster elects its JetStream leader first: try for a while
    let mut last = String::new();
    for _ in 0..100 {
        match NatsStore::connect(config.clone()).await {
            Ok(store) => {
                let state = AppState::new(EventLog::with_store(store).unwrap());
                return (start(state.clone()).await, state);
            }
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no NATS store: {last}");
}

/// Posts `event` until the gateway answers 202 (at least once; the store's dedupe makes
/// it exactly once); the position.
async fn post_until_accepted(client: &reqwest::Client, base: &str, event: &serde_json::Value) -> String {
    loop {
        let sent = client
            .post(format!("{base}/events"))
            .header("content-type", CE_JSON)
            .body(event.to_string())
            .send()
            .await;
        if let Ok(response) = sent {
            if response.status() == 202 {
                let body: serde_json::Value = response.json().await.unwrap();
                return body["position"].as_str().unwrap().to_owned();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_serve_one_stream_and_a_client_moves_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(free_port(), dir.path(), &[]);
    let (a, _) = nats_gateway(&nats.url(), 1).await;
    let (b, _) = nats_gateway(&nats.url(), 1).await;

    let mut on_b = b.stream("topic=nop.>", None).await;
    let mut posted = Vec::new();
    for i in 0..200 {
        let id = format!("g-{i:03}");
        a.post_event(&reading(&id, "nop.noise.reading", 1.0)).await;
        posted.push(id);
    }
    // half from B, then the client moves to A with its last position
    let mut received = Vec::new();
    let mut last = None;
    while received.len() < 100 {
        let frame = on_b.next(WAIT).await.expect("events from gateway B");
        received.push(frame.data["id"].as_str().unwrap().to_owned());
        last = frame.id;
    }
    drop(on_b);
    let mut on_a = a.stream("topic=nop.>", last.as_deref()).await;
    while received.len() < 200 {
        let frame = on_a.next(WAIT).await.expect("the rest from gateway A");
        received.push(frame.data["id"].as_str().unwrap().to_owned());
    }
    assert!(on_a.next(QUIET).await.is_none(), "nothing more");
    assert_eq!(received, posted, "exactly the posted events, in order, none twice");

    // the same positions on both: a repeat posted to B is A's event
    let again = b.post_event(&reading("g-000", "nop.noise.reading", 1.0)).await;
    let first = a.post_event(&reading("g-000", "nop.noise.reading", 1.0)).await;
    assert_eq!(again, first);
    assert!(first.ends_with("-1"), "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_outage_is_503_and_streams_continue_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(free_port(), dir.path(), &[]);
    let (gw, _) = nats_gateway(&nats.url(), 1).await;
    let mut sse = gw.stream("topic=nop.>", None).await;
    gw.post_event(&reading("before", "nop.noise.reading", 1.0)).await;
    assert_eq!(sse.next(WAIT).await.unwrap().data["id"], "before");

    nats.kill();
    let health = gw.client.get(format!("{}/healthz", gw.base)).send().await.unwrap();
    let mut status = health.status().as_u16();
    for _ in 0..50 {
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = gw.client.get(format!("{}/healthz", gw.base)).send().await.unwrap().status().as_u16();
    }
    assert_eq!(status, 503, "/healthz says the store is unreachable");
    let (status, body, media) = gw.post(reading("during", "nop.noise.reading", 1.0).to_string(), CE_JSON).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(media, "application/problem+json");
    assert!(body["detail"].as_str().unwrap().contains("unavailable"), "{body}");

    // NATS comes back (same data): the open stream goes on from where it was
    nats.spawn();
    let client = reqwest::Client::new();
    post_until_accepted(&client, &gw.base, &reading("after", "nop.noise.reading", 1.0)).await;
    let mut ids = Vec::new();
    while let Some(frame) = sse.next(Duration::from_secs(10)).await {
        ids.push(frame.data["id"].as_str().unwrap().to_owned());
        if ids.contains(&"after".to_owned()) {
            break;
        }
    }
    // "during" was refused with 503, yet may have reached NATS; nothing else may appear
    assert!(ids.ends_with(&["after".to_owned()]), "{ids:?}");
    assert!(ids.iter().all(|id| id == "after" || id == "during"), "{ids:?}");
    let health = gw.client.get(format!("{}/healthz", gw.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_of_a_three_node_cluster_loses_no_acknowledged_event() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let route_list = routes.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    let mut nodes: Vec<Nats> = (0..3)
        .map(|i| {
            let extra = [
                "-n".to_owned(),
                format!("n{i}"),
                "--cluster_name".into(),
                "herald".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{}", routes[i]),
                "--routes".into(),
                route_list.clone(),
            ];
            Nats::start(ports[i], dirs[i].path(), &extra)
        })
        .collect();
    let all = |first: usize| {
        (0..3).map(|k| nodes[(first + k) % 3].url()).collect::<Vec<_>>().join(",")
    };
    let (a, _) = nats_gateway(&all(0), 3).await;
    let (b, _) = nats_gateway(&all(1), 3).await;

    const EVENTS: usize = 5000;
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut producers = Vec::new();
    for (k, base) in [a.base.clone(), b.base.clone()].into_iter().enumerate() {
        let accepted = accepted.clone();
        producers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
            for i in (k..EVENTS).step_by(2) {
                let id = format!("f-{i:04}");
                post_until_accepted(&client, &base, &reading(&id, "nop.noise.reading", 1.0)).await;
                accepted.lock().unwrap().push(id);
            }
        }));
    }
    while accepted.lock().unwrap().len() < EVENTS / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nodes[0].kill(); // SIGKILL one JetStream node mid-stream
    for producer in producers {
        tokio::time::timeout(Duration::from_secs(180), producer).await.expect("the producers finish").unwrap();
    }

    // a client reads everything from the start, resuming on either gateway when a
    // stream breaks
    let epoch = a.post_event(&reading("f-0000", "nop.noise.reading", 1.0)).await;
    let epoch = epoch.split_once('-').unwrap().0.to_owned();
    let mut last = format!("{epoch}-0");
    let mut received = Vec::new();
    let mut positions: Vec<(String, String, usize)> = Vec::new();
    let mut turn = 0;
    while received.len() < EVENTS && turn < 50 {
        let gateway = if turn % 2 == 0 { &b } else { &a };
        turn += 1;
        let mut sse = gateway.stream("topic=nop.>", Some(&last)).await;
        while let Some(frame) = sse.next(Duration::from_secs(5)).await {
            if let Some(id) = &frame.id {
                last = id.clone();
            }
            positions.push((frame.id.clone().unwrap_or_default(), frame.data["id"].as_str().unwrap().to_owned(), turn));
            received.push(frame.data["id"].as_str().unwrap().to_owned());
            if received.len() == EVENTS {
                break;
            }
        }
    }
    let distinct: HashSet<&String> = received.iter().collect();
    if distinct.len() != received.len() {
        let mut seen = std::collections::HashMap::new();
        for (i, (position, id, turn)) in positions.iter().enumerate() {
            if let Some(first) = seen.insert(id.clone(), (i, position.clone(), *turn)) {
                eprintln!("DUP {id}: first #{} at {} (turn {}), again #{i} at {position} (turn {turn})", first.0, first.1, first.2);
                break;
            }
        }
        eprintln!("turns: {turn}; first 3: {:?}; around 510: {:?}", &positions[..3], &positions[505..515.min(positions.len())]);
    }
    assert_eq!(received.len(), EVENTS, "every acknowledged event");
    assert_eq!(distinct.len(), EVENTS, "none twice");
    let accepted: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();
    assert_eq!(distinct.into_iter().cloned().collect::<HashSet<_>>(), accepted);
}
