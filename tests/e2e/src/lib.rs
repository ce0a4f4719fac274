//! Harness for herald's end-to-end tests: the real `herald-server` binary on a free port,
//! the trunk-built page it serves, and Debian's Chromium driven through chromedriver.
//!
//! - `HERALD_SERVER_BIN`: the gateway binary (default `target/debug/herald-server`);
//! - `HERALD_DIST`: the built page (default `dist/` at the workspace root);
//! - `CHROMEDRIVER`: the driver (default `/usr/bin/chromedriver`).
//!
//! `cargo xtask test` builds both before it runs these tests.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Any error of the harness, with a message that says what to do.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_path(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or(default)
}

/// A child process that is killed when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running gateway.
pub struct Gateway {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    process: Option<ChildGuard>,
    data: tempdir::TempDir,
    /// The flags it was started with beyond the usual ones, kept for [`Gateway::restart`].
    extra: Vec<String>,
}

mod tempdir {
    use std::path::{Path, PathBuf};

    /// A directory removed when dropped.
    pub struct TempDir(PathBuf);

    impl TempDir {
        /// A new, empty directory: never one that exists already, so two tests never
        /// share a store.
        pub fn new(prefix: &str) -> std::io::Result<Self> {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}-{n}", std::process::id()));
            std::fs::create_dir(&dir)?;
            Ok(TempDir(dir))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Gateway {
    /// Starts the gateway binary on a free port with a fresh data directory, serving the
    /// built page.
    pub fn start() -> Result<Self, Error> {
        Self::start_with(&[])
    }

    /// Like [`Gateway::start`], with more flags (`--cors-origin`, say).
    pub fn start_with(extra: &[&str]) -> Result<Self, Error> {
        let data = tempdir::TempDir::new("herald-e2e")?;
        let (process, base) = spawn_gateway_with("127.0.0.1:0", data.path(), extra)?;
        Ok(Gateway {
            base,
            process: Some(process),
            data,
            extra: extra.iter().map(|flag| flag.to_string()).collect(),
        })
    }

    /// Kills the gateway with SIGKILL: no drain, nothing flushed that was not already.
    pub fn kill(&mut self) -> Result<(), Error> {
        if let Some(mut process) = self.process.take() {
            process.0.kill()?;
            process.0.wait()?;
        }
        Ok(())
    }

    /// Starts the gateway again on the same address and flags, on the same data directory
    /// (`fresh`: on a new, empty one — a new epoch).
    pub fn restart(&mut self, fresh: bool) -> Result<(), Error> {
        self.kill()?;
        if fresh {
            self.data = tempdir::TempDir::new("herald-e2e")?;
        }
        let address = self.base.trim_start_matches("http://").to_owned();
        let mut last = None;
        // the port is free again at once (SO_REUSEADDR), but allow the kernel a moment
        for _ in 0..50 {
            let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
            match spawn_gateway_with(&address, self.data.path(), &extra) {
                Ok((process, _)) => {
                    self.process = Some(process);
                    return Ok(());
                }
                Err(error) => last = Some(error),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last.unwrap_or_else(|| "the gateway did not restart".into()))
    }

    /// The value of one metric of `/metrics` (`herald_stream_connections`, say).
    pub async fn metric(&self, name: &str) -> Result<f64, Error> {
        let text = reqwest::get(format!("{}/metrics", self.base)).await?.text().await?;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .ok_or_else(|| format!("no metric {name} in {text}").into())
    }

    /// Posts one structured-mode CloudEvent; returns the assigned position.
    pub async fn post(&self, event: &Value) -> Result<String, Error> {
        post(&self.base, event).await
    }
}

/// Posts one structured-mode CloudEvent to the gateway at `base`; returns the assigned
/// position.
pub async fn post(base: &str, event: &Value) -> Result<String, Error> {
    let response = reqwest::Client::new()
        .post(format!("{base}/events"))
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if status.as_u16() != 202 {
        return Err(format!("POST /events answered {status}: {body}").into());
    }
    Ok(body["position"].as_str().ok_or("no position")?.to_owned())
}

/// Starts the gateway binary on `listen` with the data directory `data`, serving the
/// built page; the process and its base URL.
fn spawn_gateway_with(listen: &str, data: &Path, extra: &[&str]) -> Result<(ChildGuard, String), Error> {
    let root = workspace_root();
    let bin = env_path("HERALD_SERVER_BIN", root.join("target/debug/herald-server"));
    let dist = env_path("HERALD_DIST", root.join("dist"));
    if !bin.is_file() {
        return Err(format!("no gateway binary at {} (run `cargo build -p herald-server`)", bin.display()).into());
    }
    if !dist.join("index.html").is_file() {
        return Err(format!("no built page in {} (run `cargo xtask build`)", dist.display()).into());
    }
    let mut command = Command::new(&bin);
    command
        .args(["--dev-no-auth", "--listen", listen, "--data"])
        .arg(data)
        .arg("--static-dir")
        .arg(&dist)
        .args(extra)
        .env("RUST_LOG", "warn")
        // the central log's lines are not the tests' output (a test that reads them asks
        // for them with --central-log-ship)
        .env("HERALD_CENTRAL_LOG", "off");
    spawn_announced(command, &bin, "herald-server").map_err(|e| format!("the gateway did not start on {listen}: {e}").into())
}

/// Starts `command` (the binary `bin`) and reads the first line it prints,
/// `NAME listening on URL`; the process and the URL without its trailing `/`.
fn spawn_announced(mut command: Command, bin: &Path, name: &str) -> Result<(ChildGuard, String), Error> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let process = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix(&format!("{name} listening on "))
        .ok_or_else(|| format!("{name} said {line:?}"))?
        .trim_end_matches('/')
        .to_owned();
    Ok((process, base))
}

/// Reads with `read` every 100 ms until what it reads satisfies `check`, or `timeout`
/// passes (an error naming `what` and the last text read).
async fn poll(
    what: &str,
    read: impl AsyncFn() -> Option<String>,
    check: impl Fn(&str) -> bool,
    timeout: Duration,
) -> Result<String, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Some(text) = read().await {
            if check(&text) {
                return Ok(text);
            }
            last = Some(text);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out waiting on {what}; last text: {last:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// NOP's read model, the `nop-sensors` binary, following `gateway` on a free loopback
/// port and answering the gateway's page origin; stops when dropped.
pub struct Projector {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    _process: ChildGuard,
}

impl Projector {
    /// Starts it (built by `cargo build -p nop-sensors`).
    pub fn start(gateway: &Gateway) -> Result<Self, Error> {
        let bin = env_path("NOP_SENSORS_BIN", workspace_root().join("target/debug/nop-sensors"));
        if !bin.is_file() {
            return Err(format!("no projector binary at {} (run `cargo build -p nop-sensors`)", bin.display()).into());
        }
        let mut command = Command::new(&bin);
        command.args(["--gateway", &gateway.base, "--listen", "127.0.0.1:0", "--cors-origin", &gateway.base]);
        let (process, base) = spawn_announced(command, &bin, "nop-sensors")?;
        Ok(Projector { base, _process: process })
    }
}

/// Starts the workspace binary `name` (built by `cargo build -p PACKAGE`) with `args`, its
/// stdout discarded; stopped when dropped.
pub fn start_binary(name: &str, args: &[&str]) -> Result<ChildGuard, Error> {
    let bin = workspace_root().join("target/debug").join(name);
    let child = Command::new(&bin)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {} (run `cargo build -p {name}`): {e}", bin.display()))?;
    Ok(ChildGuard(child))
}

/// A NOP noise reading as a CloudEvent.
pub fn noise_reading(id: &str, sensor: &str, db: f64) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": "urn:nop:e2e", "type": "nop.noise.reading",
        "subject": sensor, "datacontenttype": "application/json",
        "data": {"sensor": sensor, "db": db, "at": 0}
    })
}

/// A plain static file server (no gateway, no trunk) on a free loopback port, serving
/// the files of a directory under a path prefix (as behind a reverse proxy that mounts an
/// application at `/apps/nop/`); stops when dropped.
pub struct StaticServer {
    /// The base URL of the served directory, `http://127.0.0.1:PORT/apps/nop`.
    pub base: String,
    /// The origin, `http://127.0.0.1:PORT`.
    pub origin: String,
    task: tokio::task::JoinHandle<()>,
}

/// Where [`StaticServer`] mounts its directory.
pub const STATIC_PREFIX: &str = "/apps/nop";

impl StaticServer {
    /// Serves `dir` (call from within a tokio runtime).
    pub async fn start(dir: &Path) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let files = tower_http::services::ServeDir::new(dir);
        let app = axum::Router::new().nest_service(STATIC_PREFIX, files);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(StaticServer { base: format!("{origin}{STATIC_PREFIX}"), origin, task })
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A headless Chromium session.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    _driver: ChildGuard,
}

fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Result<Self, Error> {
        let driver_bin = env_path("CHROMEDRIVER", PathBuf::from("/usr/bin/chromedriver"));
        let port = free_port()?;
        let driver = ChildGuard(
            Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {} (install chromium-driver): {e}", driver_bin.display()))?,
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--window-size=1000,780"
            ]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut last_error = String::new();
        for _ in 0..50 {
            match ClientBuilder::new(connector.clone()).capabilities(caps.clone()).connect(&url).await {
                Ok(client) => {
                    return Ok(Browser {
                        client,
                        _driver: driver,
                    })
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!("no WebDriver session from {}: {last_error}", driver_bin.display()).into())
    }

    /// Waits until the text of the first element matching `css` satisfies `check`;
    /// returns that text, or an error with the last text seen.
    pub async fn wait_for_text(
        &self,
        css: &str,
        check: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, Error> {
        let read = async || match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        };
        poll(&format!("`{css}`"), read, check, timeout).await
    }

    /// Waits until `script` (a function body returning a string, e.g. reading into a
    /// shadow root) returns a text that satisfies `check`; returns that text.
    pub async fn wait_for_script(
        &self,
        script: &str,
        check: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, Error> {
        let read = async || {
            let value = self.client.execute(script, vec![]).await.ok()?;
            Some(value.as_str().unwrap_or_default().to_owned())
        };
        poll(&format!("script `{script}`"), read, check, timeout).await
    }

    /// Runs `scenario` in a new session, and ends the session whatever the outcome.
    pub async fn session(scenario: impl AsyncFnOnce(&Browser) -> Result<(), Error>) -> Result<(), Error> {
        let browser = Browser::start().await?;
        let result = scenario(&browser).await;
        browser.close().await?;
        result
    }

    /// Ends the session.
    pub async fn close(self) -> Result<(), Error> {
        self.client.close().await?;
        Ok(())
    }
}
