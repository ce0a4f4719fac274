//! The push libraries' official browser clients (tests/clients: `@microsoft/signalr` 10,
//! `socket.io-client` 4, Connect's gRPC-web 2) in headless Chromium against the gateway,
//! from another origin (CORS, with credentials for SignalR): each streams 1,000 posted events in order across
//! a SIGKILL and restart of the gateway, and publishes one, whose answer is its position.

use std::time::Duration;

use herald_e2e::{noise_reading, workspace_root, Browser, Error, Gateway, StaticServer};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// Posts readings `from..to` (ids `sig-N`, type `sig.reading`) as one batch.
async fn post_readings(base: &str, from: usize, to: usize) -> Result<(), Error> {
    let events: Vec<Value> = (from..to)
        .map(|n| {
            let mut event = noise_reading(&format!("sig-{n}"), "s-1", 50.0);
            event["type"] = json!("sig.reading");
            event
        })
        .collect();
    let response = reqwest::Client::new()
        .post(format!("{base}/events"))
        .header("content-type", "application/cloudevents-batch+json")
        .body(Value::Array(events).to_string())
        .send()
        .await?;
    if response.status() != 202 {
        return Err(format!("POST /events answered {}", response.status()).into());
    }
    Ok(())
}

/// The first line the page's client said with member `key`.
async fn line(browser: &Browser, key: &str) -> Result<Value, Error> {
    let script = "return JSON.stringify(window.heraldTest?.lines ?? [])";
    let text = browser
        .wait_for_script(script, |t| serde_json::from_str::<Vec<Value>>(t).is_ok_and(|l| l.iter().any(|v| v.get(key).is_some())), WAIT)
        .await?;
    let lines: Vec<Value> = serde_json::from_str(&text)?;
    Ok(lines.into_iter().find_map(|l| l.get(key).cloned()).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn signalr_in_chromium_streams_in_order_publishes_and_resumes_across_a_kill_9() -> Result<(), Error> {
    follow_in_chromium("signalr.html", "node_modules/@microsoft/signalr/dist/browser/signalr.min.js", "signalr-published-1").await
}

#[tokio::test(flavor = "multi_thread")]
async fn socketio_in_chromium_streams_in_order_publishes_and_resumes_across_a_kill_9() -> Result<(), Error> {
    follow_in_chromium("socketio.html", "node_modules/socket.io-client/dist/socket.io.min.js", "socketio-published-1").await
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_web_in_chromium_streams_in_order_publishes_and_resumes_across_a_kill_9() -> Result<(), Error> {
    herald_grpc_codegen::generate()?;
    follow_in_chromium("grpc.html", "node_modules/@connectrpc/connect-web/dist/esm/index.js", "grpc-published-1").await
}

/// The client of `page` (loading `client`, the library's browser bundle) follows `sig.>`
/// from another origin across a SIGKILL; its own event has id `published_id`.
async fn follow_in_chromium(page_name: &str, client: &str, published_id: &str) -> Result<(), Error> {
    let clients = workspace_root().join("tests/clients");
    if !clients.join(client).is_file() {
        return Err(format!("no {client} in tests/clients: run `cargo xtask install`").into());
    }
    let page = StaticServer::start(&clients).await?;
    let mut gateway = Gateway::start_with(&["--cors-origin", &page.origin])?;
    let mut start = noise_reading("start-1", "s-1", 50.0);
    start["type"] = json!("start");
    let from = gateway.post(&start).await?;
    Browser::session(async |browser| {
        let url = format!(
            "{}/{page_name}?gateway={}&pattern=sig.%3E&from={from}&count=1001",
            page.base, gateway.base
        );
        browser.client.goto(&url).await?;
        let published = line(browser, "published").await?;
        let published = published.as_str().ok_or(format!("Publish did not complete with a position: {published}"))?.to_owned();
        for batch in (0..500).step_by(100) {
            post_readings(&gateway.base, batch, batch + 100).await?;
        }
        line(browser, "received").await?;
        gateway.restart(false)?; // SIGKILL, then the same port and data
        for batch in (500..1000).step_by(100) {
            post_readings(&gateway.base, batch, batch + 100).await?;
        }
        let done = line(browser, "done").await?;
        assert_eq!(done["repeated"], 0, "nothing repeated");
        assert_eq!(done["outOfOrder"], 0, "in log order");
        assert!(done["reconnects"].as_u64().unwrap_or(0) >= 1, "the client reconnected: {done}");
        let received = done["received"].as_array().ok_or("no items")?;
        assert_eq!(received.len(), 1001, "nothing lost");
        let posted: Vec<&str> =
            received.iter().filter_map(|r| r["id"].as_str()).filter(|id| id.starts_with("sig-")).collect();
        let expected: Vec<String> = (0..1000).map(|n| format!("sig-{n}")).collect();
        assert_eq!(posted, expected, "every posted reading, in the order posted");
        let mine = received.iter().find(|r| r["id"] == published_id).ok_or("its own event did not come back")?;
        assert_eq!(mine["position"], published.as_str(), "Publish's result is the event's position");
        Ok(())
    })
    .await
}

/// A Node process of tests/clients, its first stdout line (JSON) read.
struct NodeServer {
    child: std::process::Child,
    port: u16,
}

impl NodeServer {
    fn start(script: &str) -> Result<Self, Error> {
        use std::io::BufRead;
        let mut child = std::process::Command::new("node")
            .arg(script)
            .current_dir(workspace_root().join("tests/clients"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start node: {e}"))?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let first: Value = serde_json::from_str(&line).map_err(|e| format!("{script} said {line:?}: {e}"))?;
        let port = first["port"].as_u64().ok_or(format!("{script} said {line:?}"))? as u16;
        Ok(NodeServer { child, port })
    }

    async fn control(&self, what: &str, body: Value) -> Result<Value, Error> {
        let answer = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/control/{what}", self.port))
            .body(body.to_string())
            .send()
            .await?;
        Ok(answer.json().await?)
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A page of `<nop-stream-status>` (of `cargo xtask dist`) following `sig.>` from
/// `stream` over `transport`, counting every `sig.reading` the bus delivers in
/// `window.ids`; served from a temporary folder, removed when dropped.
struct StatusPage {
    dir: std::path::PathBuf,
    server: StaticServer,
}

impl StatusPage {
    async fn new(stream: &str, transport: &str) -> Result<Self, Error> {
        let dist = std::env::var_os("HERALD_DIST").map(std::path::PathBuf::from).unwrap_or_else(|| workspace_root().join("dist"));
        let mfe = dist.join("mfe/nop-stream-status");
        let version = std::fs::read_dir(&mfe)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(|c: char| c.is_ascii_digit()))
            .max()
            .ok_or(format!("no dist build in {} (run `cargo xtask dist`)", mfe.display()))?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
        let dir = std::env::temp_dir().join(format!("herald-{transport}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::os::unix::fs::symlink(&mfe, dir.join("nop-stream-status"))?;
        std::fs::write(
            dir.join("page.html"),
            format!(
                r#"<!doctype html><meta charset="utf-8"><title>herald-push over {transport}</title>
<script>
  window.ids = [];
  addEventListener("herald:sig.reading", (e) => ids.push(e.detail.id));
</script>
<script type="module" src="nop-stream-status/{version}/nop-stream-status.js"></script>
<nop-stream-status stream="{stream}" transport="{transport}" topics="sig.>"></nop-stream-status>
"#
            ),
        )?;
        let server = StaticServer::start(&dir).await?;
        Ok(StatusPage { dir, server })
    }

    async fn open(&self, browser: &Browser) -> Result<(), Error> {
        browser.client.goto(&format!("{}/page.html", self.server.base)).await?;
        self.state(browser, "open").await
    }

    async fn state(&self, browser: &Browser, state: &str) -> Result<(), Error> {
        let script = "return document.querySelector('nop-stream-status .nop-conn')?.textContent ?? ''";
        browser.wait_for_script(script, |t| t == state, WAIT).await?;
        Ok(())
    }

    async fn delivered(&self, browser: &Browser, count: usize) -> Result<(), Error> {
        browser.wait_for_script("return String(window.ids.length)", |t| t == count.to_string(), WAIT).await?;
        Ok(())
    }

    /// After a moment for anything more to show: the ids delivered are `sig-0`… once each,
    /// in order.
    async fn exactly_once(&self, browser: &Browser, count: usize) -> Result<(), Error> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ids: Vec<String> = serde_json::from_value(browser.client.execute("return window.ids", vec![]).await?)?;
        let expected: Vec<String> = (0..count).map(|k| format!("sig-{k}")).collect();
        assert_eq!(ids, expected, "every event once, in order");
        Ok(())
    }

    /// Publishes an event through the page runtime over `stream`'s connection; its position.
    async fn publish(&self, browser: &Browser, stream: &str) -> Result<String, Error> {
        let publish = format!(
            "const rt = globalThis[Symbol.for('herald.runtime.v1')];
             rt.publish('{stream}', JSON.stringify({{specversion: '1.0', id: 'from-page-1', source: '/test/page', type: 'sig.published', data: {{}}}}))
               .then((p) => {{ window.published = p; }}, (e) => {{ window.published = 'refused: ' + JSON.stringify(e); }});
             return ''"
        );
        browser.client.execute(&publish, vec![]).await?;
        browser.wait_for_script("return window.published ?? ''", |t| !t.is_empty(), WAIT).await
    }
}

impl Drop for StatusPage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// herald-push's Socket.IO transport, from a Rust MFE (`<nop-stream-status
/// transport="socketio">`), against the official `socket.io` 4 server on Node written to
/// herald's documented event names (not herald's gateway): every event into the bus
/// exactly once, across a cut where the server sends an event again; and a publish over
/// the socket answered with its position.
#[tokio::test(flavor = "multi_thread")]
async fn herald_push_over_socketio_delivers_into_the_bus_exactly_once() -> Result<(), Error> {
    let server = NodeServer::start("herald-socketio-server.mjs")?;
    let stream = format!("http://127.0.0.1:{}/events/stream", server.port);
    let page = StatusPage::new(&stream, "socketio").await?;
    Browser::session(async |browser| {
        page.open(browser).await?;
        server.control("append", json!({ "count": 300 })).await?;
        page.delivered(browser, 300).await?;
        // the server cuts every transport and, on the resubscribe, sends sig-299 again
        server.control("cut", json!({})).await?;
        page.state(browser, "open").await?;
        server.control("append", json!({ "count": 300 })).await?;
        page.delivered(browser, 600).await?;
        page.exactly_once(browser, 600).await?;
        assert_eq!(page.publish(browser, &stream).await?, "1-601", "the server's position for it");
        Ok(())
    })
    .await
}

/// herald-push's SignalR transport, from the same Rust MFE, against the gateway's hub:
/// every event into the bus exactly once across a SIGKILL and restart of the gateway, and
/// a publish over the hub answered with its position.
#[tokio::test(flavor = "multi_thread")]
async fn herald_push_over_signalr_delivers_into_the_bus_exactly_once_across_a_kill_9() -> Result<(), Error> {
    let mut gateway = Gateway::start()?;
    let stream = format!("{}/events/stream", gateway.base);
    let page = StatusPage::new(&stream, "signalr").await?;
    Browser::session(async |browser| {
        page.open(browser).await?;
        post_readings(&gateway.base, 0, 300).await?;
        page.delivered(browser, 300).await?;
        gateway.restart(false)?;
        page.state(browser, "open").await?;
        post_readings(&gateway.base, 300, 600).await?;
        page.delivered(browser, 600).await?;
        page.exactly_once(browser, 600).await?;
        let published = page.publish(browser, &stream).await?;
        assert!(published.starts_with(|c: char| c.is_ascii_digit()) && published.contains('-'), "a position: {published}");
        Ok(())
    })
    .await
}
