//! A real RabbitMQ broker for a test (Debian's `rabbitmq-server`, which `cargo xtask
//! install` installs), on free loopback ports with its own data, its own `epmd`, and
//! nothing bound to another interface; and pika (the official Python client, installed by
//! the xtask into `.tools/py`) to talk to it as an independent client.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn rabbitmq_server_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("RABBITMQ_SERVER") {
        return bin.into();
    }
    let lib = Path::new("/usr/lib/rabbitmq/lib");
    let found = std::fs::read_dir(lib).ok().and_then(|dirs| {
        dirs.filter_map(Result::ok)
            .map(|d| d.path().join("sbin/rabbitmq-server"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| panic!("no rabbitmq-server under {}: run `cargo xtask install`", lib.display()))
}

/// The Python with pika: `HERALD_PYTHON`, else the xtask's `.tools/py`.
pub fn python() -> PathBuf {
    let bin = std::env::var_os("HERALD_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/py/bin/python")
    });
    let ok = Command::new(&bin).args(["-c", "import pika"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "no Python with pika at {}: run `cargo xtask install`", bin.display());
    bin
}

/// Runs a pika script (`code`, with `args` as `sys.argv[1:]`) to its end.
pub fn pika(code: &str, args: &[&str]) -> Output {
    let output = Command::new(python()).arg("-c").arg(code).args(args).output().unwrap();
    assert!(output.status.success(), "pika script failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Starts a pika script in the background.
pub fn pika_spawn(code: &str, args: &[&str]) -> Child {
    Command::new(python()).arg("-c").arg(code).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// One broker, killed (with its epmd) when dropped.
pub struct Rabbit {
    broker: Option<Child>,
    epmd: Child,
    pub port: u16,
    dist_port: u16,
    epmd_port: u16,
    dir: tempfile::TempDir,
}

impl Rabbit {
    /// A broker, ready for connections (a cold start takes ~12 s).
    pub fn start() -> Rabbit {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("rabbitmq.conf"), "loopback_users.guest = true\n").unwrap();
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").unwrap();
        let epmd_port = free_port();
        let epmd = Command::new("epmd")
            .args(["-address", "127.0.0.1", "-port", &epmd_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("epmd (Erlang) runs");
        let mut rabbit = Rabbit { broker: None, epmd, port: free_port(), dist_port: free_port(), epmd_port, dir };
        rabbit.boot();
        rabbit
    }

    fn boot(&mut self) {
        let d = self.dir.path();
        let mut command = Command::new(rabbitmq_server_bin());
        command
            .env("HOME", d.join("home"))
            .env("RABBITMQ_NODENAME", format!("herald{}@localhost", self.port))
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
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            // its own process group: a kill reaches the script and the Erlang VM
            .process_group(0);
        self.broker = Some(command.spawn().expect("rabbitmq-server runs"));
        let deadline = Instant::now() + Duration::from_secs(90);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "RabbitMQ did not start within 90 s (logs in {})", d.display());
            std::thread::sleep(Duration::from_millis(200));
        }
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
        // until the port is free again
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kill, then start again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.boot();
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        self.kill();
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
    }
}
