//! Running commands: narrated, with clear errors, optionally captured line by line.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::say;

/// A command the xtask runs, narrated before it starts.
pub struct Cmd {
    command: Command,
    shown: String,
}

/// `cargo` (the one running this xtask).
pub fn cargo() -> Cmd {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    Cmd::new(cargo).current_dir(&crate::root())
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref();
        let name = Path::new(program)
            .file_name()
            .unwrap_or(program)
            .to_string_lossy()
            .into_owned();
        Cmd {
            command: Command::new(program),
            shown: name,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.shown.push(' ');
        self.shown.push_str(&arg.as_ref().to_string_lossy());
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Runs to completion with inherited output; an error unless it exits 0.
    pub fn status(mut self) -> Result<(), String> {
        say(&format!("$ {}", self.shown));
        let status = self
            .command
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run `{}`: {e}", self.shown))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{}` failed ({status})", self.shown))
        }
    }

    /// Runs to completion, echoing stdout and stderr live and returning them merged, with
    /// whether it exited 0.
    pub fn tee(mut self) -> Result<(bool, String), String> {
        say(&format!("$ {}", self.shown));
        let mut child = self
            .command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run `{}`: {e}", self.shown))?;
        let (tx, rx) = mpsc::channel::<String>();
        let out = child.stdout.take().map(|s| forward(s, tx.clone(), false));
        let err = child.stderr.take().map(|s| forward(s, tx, true));
        let mut captured = String::new();
        for line in rx {
            captured.push_str(&line);
            captured.push('\n');
        }
        out.map(|t| t.join());
        err.map(|t| t.join());
        let status = child.wait().map_err(|e| e.to_string())?;
        Ok((status.success(), captured))
    }

    /// Starts it in the background.
    pub fn spawn(mut self, stdout: Stdio) -> Result<Child, String> {
        say(&format!("$ {} &", self.shown));
        self.command
            .stdin(Stdio::null())
            .stdout(stdout)
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", self.shown))
    }

    /// Runs it to completion and returns its stdout (stderr goes to `stderr`); an error
    /// unless it exits 0.
    pub fn output_stdout(mut self, stderr: Stdio) -> Result<String, String> {
        say(&format!("$ {}", self.shown));
        let output = self
            .command
            .stdin(Stdio::null())
            .stderr(stderr)
            .output()
            .map_err(|e| format!("cannot run `{}`: {e}", self.shown))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!("`{}` failed ({})", self.shown, output.status))
        }
    }

    /// Runs it and returns its trimmed stdout, or `None` if it cannot run or fails.
    pub fn output_quiet(mut self) -> Option<String> {
        let output = self.command.stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

fn forward(
    stream: impl std::io::Read + Send + 'static,
    tx: mpsc::Sender<String>,
    to_stderr: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if to_stderr {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    })
}

/// A child process killed when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server that announces itself with a first line `… listening on URL`; the
/// process and the URL (without a trailing `/`). `what` names it in errors.
pub fn spawn_announced(command: Cmd, what: &str) -> Result<(Guard, String), String> {
    let mut child = command.spawn(Stdio::piped())?;
    let stdout = child.stdout.take().ok_or_else(|| format!("{what} has no stdout"))?;
    let process = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let url = line
        .trim()
        .rsplit_once(" listening on ")
        .map(|(_, url)| url.trim_end_matches('/').to_owned())
        .ok_or_else(|| format!("{what} did not start (it said {line:?})"))?;
    Ok((process, url))
}

/// The gateway binary, started in the background.
pub struct Gateway {
    pub url: String,
    process: Guard,
}

impl Gateway {
    pub fn start(root: &Path, listen: &str, data: &Path, static_dir: &Path, extra: &[String]) -> Result<Self, String> {
        let command = Cmd::new(root.join("target/debug/herald-server"))
            .args(["--dev-no-auth", "--listen", listen, "--data"])
            .arg(data)
            .arg("--static-dir")
            .arg(static_dir)
            .args(extra);
        let (process, url) = spawn_announced(command, "the gateway")?;
        Ok(Gateway { url, process })
    }

    /// Waits for the gateway to exit.
    pub fn wait(&mut self) -> Result<(), String> {
        let status = self.process.0.wait().map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the gateway exited ({status})"))
        }
    }
}

/// Starts the NOP noise simulator: posting to `gateway`, or publishing to the RabbitMQ
/// broker at `amqp` when given.
pub fn spawn_simulator(root: &Path, gateway: &str, amqp: Option<&str>) -> Result<Guard, String> {
    let simulator = Cmd::new(root.join("target/debug/nop-simulator"));
    let simulator = match amqp {
        Some(url) => simulator.args(["--amqp", url]),
        None => simulator.args(["--gateway", gateway.trim_end_matches('/')]),
    };
    simulator.spawn(Stdio::null()).map(Guard)
}

/// Starts the recalibration saga's process manager and calibration service
/// (`nop-recalibration`) against `gateway`.
pub fn spawn_recalibration(root: &Path, gateway: &str) -> Result<Guard, String> {
    Cmd::new(root.join("target/debug/nop-recalibration"))
        .args(["--gateway", gateway.trim_end_matches('/')])
        .spawn(Stdio::null())
        .map(Guard)
}

/// Starts NOP's read model (`nop-sensors`) following `gateway`, on port 8788 of the
/// gateway's address (where `<nop-sensor-state>` looks for it), answering the page's
/// origin (also as `localhost` when the gateway is on 127.0.0.1).
pub fn spawn_projector(root: &Path, gateway: &str) -> Result<Guard, String> {
    let gateway = gateway.trim_end_matches('/');
    let host = gateway.trim_start_matches("http://").rsplit_once(':').map_or("127.0.0.1", |(host, _)| host);
    let mut command = Cmd::new(root.join("target/debug/nop-sensors"))
        .args(["--gateway", gateway, "--listen", &format!("{host}:8788"), "--cors-origin", gateway]);
    if host == "127.0.0.1" {
        command = command.args(["--cors-origin", &gateway.replace("127.0.0.1", "localhost")]);
    }
    let (process, url) = spawn_announced(command, "nop-sensors")?;
    say(&format!("NOP's read model (nop-sensors) is at {url}"));
    Ok(process)
}
