//! The findings of "Reliability measured" (issue 21), each tried as it was found: from
//! outside, through the real binary on a real listener where it is about the process.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use herald_server::{AppState, EventLog};
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

fn dev_gateway(data: &Path, extra: &[&str]) -> Process {
    let mut args = vec!["--dev-no-auth", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    spawn(&args, data).unwrap()
}

/// Events `e-FROM` … of `bytes` of padding each.
fn batch(from: usize, count: usize, bytes: usize) -> Vec<Value> {
    (from..from + count)
        .map(|i| {
            json!({
                "specversion": "1.0", "id": format!("e-{i}"), "source": "/test/load", "type": "nop.noise.reading",
                "data": {"pad": "x".repeat(bytes)}
            })
        })
        .collect()
}

/// Finding 1 (and acceptance 2): with standard error into a pipe that is never read,
/// every post is still answered. Logging at `debug` floods the pipe many times over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_log_sink_never_stalls_the_gateway() {
    let data = tempfile::tempdir().unwrap();
    let process = spawn_logging(&["--dev-no-auth", "--listen", "127.0.0.1:0"], data.path(), "debug").unwrap();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    for i in 0..2000 {
        let event = reading(&format!("log-{i}"), "nop.noise.reading", 60.0);
        let response = client
            .post(format!("{}/events", process.base))
            .header(CONTENT_TYPE, CE_JSON)
            .body(event.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("post {i} was not answered: {e}"));
        assert_eq!(response.status(), 202, "post {i}");
    }
    assert_eq!(metric(&process.base, "herald_events_ingested_total").await, 2000.0);
    // a line per event: 10,000 more overflow the pipe and the writer's bounded queue
    for b in 0..20 {
        post_batch(&process.base, batch(b * 500, 500, 10)).await;
    }
    assert!(
        metric(&process.base, "herald_log_lines_dropped_total").await > 0.0,
        "the lines the sink did not take are counted"
    );
}

/// Finding 2: a stream socket that never reads (a 4 KB receive buffer) is closed once
/// the gateway could write nothing to it for the write timeout, and counted as slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected() {
    let data = tempfile::tempdir().unwrap();
    let process = dev_gateway(data.path(), &["--write-timeout-secs", "2"]);
    let addr: std::net::SocketAddr = process.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stalled,
        b"GET /events/stream?topic=nop.%3E HTTP/1.1\r\nhost: herald\r\n\r\n",
    )
    .await
    .unwrap();
    streams_open(&process.base, 1.0).await;
    for b in 0..40 {
        post_batch(&process.base, batch(b * 500, 500, 100)).await;
    }
    // 20,000 events (~4 MB) went past; the stalled stream must be gone within the timeout
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(&process.base, "herald_stream_connections").await > 0.0 {
        assert!(Instant::now() < deadline, "the stalled reader is still connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metric(&process.base, "herald_stream_slow_disconnects_total").await >= 1.0);
    assert!(metric(&process.base, "herald_write_timeouts_total").await >= 1.0);
    drop(stalled);
}

/// Reads from `stream` until the peer closes it; `false` if it is still open at `deadline`.
fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left.min(Duration::from_millis(200)))).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true, // reset
        }
    }
}

/// Finding 3: a request head that drips in is cut off by the header read timeout.
#[test]
fn slowloris_connections_are_closed_by_the_header_read_timeout() {
    let data = tempfile::tempdir().unwrap();
    let process = dev_gateway(data.path(), &["--header-read-timeout-secs", "1"]);
    let addr = process.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut drips: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nhost: herald\r\nx-drip: ").unwrap();
            s
        })
        .collect();
    // one more header byte every 300 ms, for as long as the server lets us
    let mut open = drips.len();
    while open > 0 && started.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(300));
        open = 0;
        for stream in &mut drips {
            if stream.write_all(b"a").is_ok() && !closed_by(stream, Instant::now() + Duration::from_millis(1)) {
                open += 1;
            }
        }
    }
    for stream in &mut drips {
        assert!(closed_by(stream, Instant::now() + Duration::from_secs(1)), "a dripping connection is still open");
    }
    assert!(started.elapsed() < Duration::from_secs(6), "closed within the timeout (and a margin)");
    // a well-behaved request on the same gateway is served
    let mut ok = TcpStream::connect(&addr).unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nhost: herald\r\nconnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    ok.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Finding 3: an oversized head is refused with a problem document.
#[tokio::test]
async fn oversized_heads_are_431_and_414_problem_documents() {
    let data = tempfile::tempdir().unwrap();
    let process = dev_gateway(data.path(), &[]);
    let client = reqwest::Client::new();
    let big = client
        .get(format!("{}/healthz", process.base))
        .header("x-big", "a".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 431);
    assert_eq!(big.headers()[CONTENT_TYPE], "application/problem+json");
    let body: Value = big.json().await.unwrap();
    assert_eq!(body["status"], 431);
    // many small headers add up too
    let mut many = client.get(format!("{}/healthz", process.base));
    for i in 0..100 {
        many = many.header(format!("x-h{i}"), "b".repeat(200));
    }
    assert_eq!(many.send().await.unwrap().status(), 431);
    let long = client
        .get(format!("{}/events/stream?topic=nop.%3E&pad={}", process.base, "c".repeat(9 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), 414);
    assert_eq!(long.headers()[CONTENT_TYPE], "application/problem+json");
    // within the limits, fine
    let fine = client.get(format!("{}/healthz", process.base)).header("x-fine", "d".repeat(8 * 1024)).send().await.unwrap();
    assert_eq!(fine.status(), 200);
}

/// A body that drips in slower than the body read timeout is `408`.
#[tokio::test]
async fn a_dripping_body_is_408() {
    let data = tempfile::tempdir().unwrap();
    let process = dev_gateway(data.path(), &["--body-read-timeout-secs", "1"]);
    let addr = process.base.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"POST /events HTTP/1.1\r\nhost: herald\r\ncontent-type: application/cloudevents+json\r\ncontent-length: 100\r\n\r\n{").unwrap();
        let started = Instant::now();
        s.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while started.elapsed() < Duration::from_secs(5) {
            let _ = s.write_all(b" ");
            match s.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}

/// Finding 4: a symbolic link in the static folder that leads out of it is not followed.
#[tokio::test]
async fn links_out_of_the_static_folder_are_not_served() {
    let site = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "<p>page</p>").unwrap();
    std::fs::create_dir(site.path().join("assets")).unwrap();
    std::fs::write(site.path().join("assets/app.js"), "1").unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", site.path().join("passwd")).unwrap();
    std::os::unix::fs::symlink(outside.path(), site.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(site.path().join("assets/app.js"), site.path().join("inside.js")).unwrap();
    let gw = start(AppState::new(EventLog::in_memory()).with_static_dir(site.path())).await;
    let get = |path: &'static str| gw.client.get(format!("{}{path}", gw.base)).send();
    for path in ["/passwd", "/elsewhere/secret.txt", "/elsewhere/", "/%70asswd"] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json", "{path}");
        assert!(!response.text().await.unwrap().contains("root:"), "{path}");
    }
    assert_eq!(get("/").await.unwrap().text().await.unwrap(), "<p>page</p>");
    assert_eq!(get("/assets/app.js").await.unwrap().status(), 200);
    // a link that stays inside the folder is served
    assert_eq!(get("/inside.js").await.unwrap().text().await.unwrap(), "1");
}

/// Finding 5: control characters in String attributes are refused, in every mode.
#[tokio::test]
async fn control_characters_in_attributes_are_400() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    for (attribute, value) in [
        ("id", "a\u{0}b"),
        ("type", "nop.noise\u{1}.reading"),
        ("subject", "s-1\u{7f}"),
        ("subject", "s-\u{85}1"),
        ("id", "tab\there"),
        ("source", "/s\u{9f}"),
    ] {
        let mut event = reading("ok-1", "nop.noise.reading", 1.0);
        event[attribute] = json!(value);
        let (status, body, media) = gw.post(event.to_string(), CE_JSON).await;
        assert_eq!(status, 400, "structured {attribute} {value:?}: {body}");
        assert_eq!(media, "application/problem+json");
        assert!(body["detail"].as_str().unwrap().contains(attribute), "{body}");
        let (status, _, _) = gw.post(Value::Array(vec![event]).to_string(), "application/cloudevents-batch+json").await;
        assert_eq!(status, 400, "batch {attribute} {value:?}");
    }
    for (header, value) in [("ce-id", "a%00b"), ("ce-subject", "s%C2%851"), ("ce-type", "nop.%1F"), ("ce-subject", "a%7F")] {
        let mut request = gw
            .client
            .post(format!("{}/events", gw.base))
            .header(CONTENT_TYPE, "application/json")
            .header("ce-specversion", "1.0")
            .header("ce-id", "b-1")
            .header("ce-source", "/test")
            .header("ce-type", "nop.noise.reading");
        request = request.header(header, value);
        let response = request.body("{}").send().await.unwrap();
        assert_eq!(response.status(), 400, "binary {header}: {value}");
    }
    let metrics = gw.client.get(format!("{}/metrics", gw.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("herald_events_ingested_total 0"), "nothing was stored");
}

/// A tmpfs of `megabytes` mounted at a fresh directory, unmounted on drop: a disk that
/// really fills up. Mounting needs root, as CI runs.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "herald-test"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "this test mounts a small tmpfs: it needs root");
        SmallDisk { path: dir.path().to_owned(), _dir: dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Finding 8: `/healthz` is `503` while the disk is full, and `200` again (and posts
/// succeed) once there is room; what was stored stays readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_while_the_disk_is_full() {
    let disk = SmallDisk::mount(8);
    let filler = disk.path.join("filler");
    std::fs::write(&filler, vec![1u8; 3 * 1024 * 1024]).unwrap();
    let data = disk.path.join("data");
    let process = dev_gateway(&data, &[]);
    let client = reqwest::Client::new();
    let health = |client: &reqwest::Client| client.get(format!("{}/healthz", process.base)).send();
    assert_eq!(health(&client).await.unwrap().status(), 200);

    let mut stored = 0;
    let mut full = false;
    let mut epoch = String::new();
    for b in 0..200 {
        let response = client
            .post(format!("{}/events", process.base))
            .header(CONTENT_TYPE, "application/cloudevents-batch+json")
            .body(Value::Array(batch(b * 10, 10, 20 * 1024)).to_string())
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            202 => {
                let body: Value = response.json().await.unwrap();
                epoch = body["positions"][0].as_str().unwrap().split_once('-').unwrap().0.to_owned();
                stored += 10;
            }
            500 => {
                full = true;
                break;
            }
            other => panic!("a post answered {other}"),
        }
    }
    assert!(full, "the disk filled up");
    let unhealthy = health(&client).await.unwrap();
    assert_eq!(unhealthy.status(), 503);
    assert_eq!(unhealthy.headers()[CONTENT_TYPE], "application/problem+json");
    // reads still work
    let mut sse = SseReader {
        body: Box::pin(
            client
                .get(format!("{}/events/stream?topic=nop.>&lastEventId={epoch}-0", process.base))
                .send()
                .await
                .unwrap()
                .bytes_stream(),
        ),
        buffer: String::new(),
    };
    assert_eq!(sse.next(WAIT).await.unwrap().data["id"], "e-0");

    std::fs::remove_file(&filler).unwrap();
    assert_eq!(health(&client).await.unwrap().status(), 200, "room again");
    let response = client
        .post(format!("{}/events", process.base))
        .header(CONTENT_TYPE, CE_JSON)
        .body(reading("after", "nop.noise.reading", 1.0).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert!(stored > 0);
    drop(process);
}

/// `--max-connections-per-ip`: connections over the limit from one address are closed at
/// once and counted; one freed makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_limit_are_closed() {
    let data = tempfile::tempdir().unwrap();
    let process = dev_gateway(data.path(), &["--max-connections-per-ip", "2"]);
    let addr = process.base.trim_start_matches("http://").to_owned();
    let (first, second, third) = tokio::task::block_in_place(|| {
        let first = TcpStream::connect(&addr).unwrap();
        let second = TcpStream::connect(&addr).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let mut third = TcpStream::connect(&addr).unwrap();
        let closed = closed_by(&mut third, Instant::now() + Duration::from_secs(3));
        (first, second, closed)
    });
    assert!(third, "the third connection from 127.0.0.1 is closed at once");
    drop((first, second));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // room again (this request is the only connection now), and the refusal was counted
    assert_eq!(metric(&process.base, "herald_connections_refused_total").await, 1.0);
}
