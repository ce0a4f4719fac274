//! `cargo xtask`: installs herald's toolchain, builds, serves and tests it.
//!
//! Standard library only, so that it compiles in a second on a fresh machine.

mod bench;
mod compress;
mod dist;
mod gateway_bench;
mod install;
mod mfe;
mod mfes;
mod minify;
mod names;
mod new;
mod run;
mod schema;
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use run::{cargo, Cmd};

const USAGE: &str = "\
cargo xtask — herald's developer commands

USAGE:
    cargo xtask <COMMAND> [OPTIONS]

COMMANDS:
    install [--dry-run]    Install what is missing: the wasm32 target, wasm-bindgen-cli (at the
                           version in Cargo.lock), trunk, wasm-pack, Chromium and chromedriver
                           (apt), wasm-opt (npm binaryen@132) and terser (npm terser@5.51.2),
                           both project-local, the official clients the tests use (PyPI into
                           .tools/py; npm `ci` in tests/clients: @microsoft/signalr,
                           socket.io-client and socket.io, Connect's gRPC-web and
                           protoc-gen-es). Says what it does.
    build                  Build the NOP page with trunk (release, wasm-opt, the names
                           between each module and its glue shortened, JavaScript minified
                           with terser) into dist/, with a brotli (.br) and a gzip (.gz)
                           variant beside each text and wasm file where smaller.
    schema [--check]       Write the NOP event contracts as JSON Schemas (docs/schemas/) and
                           TypeScript declarations (docs/nop-events.d.ts); with --check, fail
                           if the committed files differ from the Rust types.
    mfe [--release] [OUT]  Build the micro-frontends the page loads as standalone modules
                           (every Rust MFE but trunk's main module) into OUT/mfe/<name>/, each
                           with herald-runtime.js and a loader.js (default OUT: trunk's
                           staging dir, as the Trunk.toml pre-build hook runs it).
    new NAME [--yew|--js]  Scaffold a working micro-frontend <NAME> in www/NAME/: a Rust crate
                           (herald-element; --yew: a yew component) with a browser test, or
                           (--js) a plain-JS element with its herald.json; add it to the
                           workspace and to the NOP page (index.html). The xtask finds MFEs by
                           their [package.metadata.herald] tags (or herald.json): mfe, dist,
                           bench size and test take the new one as it is.
    peer                   Build the peer wasm module of the cross-module browser tests into
                           tests/cross-module/peer-pkg/.
    dist [--version V] [NAME...]
                           Build every micro-frontend (or NAME) into its own versioned,
                           self-contained folder dist/mfe/<name>/<version>/ (entry <name>.js,
                           hashed wasm and glue, manifest.json), and the embedding examples of
                           www/examples/ into dist/examples/.
    serve [--listen ADDR] [--broker rabbitmq]
                           Install, build, then serve the NOP demo: the gateway on its embedded
                           store (data in .herald/), serving dist/, with the noise simulator
                           posting readings, NOP's read model (nop-sensors) following the
                           log on port 8788 of ADDR's host, and the recalibration saga's
                           process manager and calibration service (nop-recalibration); the
                           central log's ECS lines go to .herald/central-log.ndjson. Default ADDR: 127.0.0.1:8787. With --broker
                           rabbitmq, NOP runs as the lecture's case study: a local RabbitMQ
                           (loopback, data in .herald/rabbitmq/) that the simulator publishes
                           readings to, the gateway bridging it (www/nop-rabbitmq.toml) and
                           publishing the page's alerts back out to it.
    test                   Install, then run every test: native, the fuzz smoke run, headless
                           browser, end-to-end. Ends with the count per layer and a line
                           `N passed, M failed`;
                           exits non-zero on any failure.
    screenshot [--broker rabbitmq] [OUT]
                           Serve the demo on a free port (with --broker rabbitmq: on RabbitMQ, as
                           serve does) and save headless Chromium screenshots: the dashboard
                           (default docs/nop.png) and <herald-devtools> (devtools.png beside
                           it).
    bench bus              Benchmark the bus in headless Chromium against raw DOM events and
                           mitt (npm): events/s and the ratio of each to raw JS (the median
                           over rounds of each round's ratio), herald's DOM transport alone
                           (an envelope written once), then where a herald event's time
                           goes: in place (one case less another) and part by part.
    bench size             Build release bundles and print each micro-frontend's wasm and JS
                           glue (wasm-bindgen's module and snippets) sizes, raw and gzipped,
                           after wasm-opt, and the page runtime's; then the NOP page's first
                           load in headless Chromium against the gateway serving dist/ (bytes
                           on the wire per resource, Resource Timing, empty cache), and what
                           embedding each MFE's dist folder costs.
    bench store            The embedded stores (SQLite, redb) side by side: durable appends and
                           a paged replay, events/s.
    bench gateway [--store nats]
                           The gateway (its SSE, its SignalR hub and its Socket.IO namespace)
                           against Socket.IO (npm, on Node) with 1,000 and 10,000 stream
                           clients from a Rust load generator: deliveries/s, p50/p99
                           latency, RSS per idle connection, ratios; replay of 10,000 events;
                           RSS per idle stream beside a bare hyper server; and the reconnect
                           storm (bench storm). With --store nats, also the gateway on NATS
                           JetStream (a local nats-server -js), side by side.
    bench push             Publish-to-DOM latency (p50/p90/p99) on the NOP page in headless
                           Chromium, alone and with 1,000 other stream clients.
    bench bridge           Events into the gateway through RabbitMQ (a local broker, the gateway's
                           AMQP bridge) beside direct HTTP ingest, 1,000 SSE readers, the same
                           open-loop rate: deliveries/s, publish-to-receive p50/p99, ratios.
    bench stall            1,000 stream readers with and without one that never reads (the
                           gateway's write timeout at 2 s): the others' p50/p99 latency and
                           ratio, and whether the stalled reader was dropped.
    bench storm            The reconnect storm after a gateway restart: 100 events stored,
                           then 10,000 SSE clients at once, each resuming from before them:
                           time until all are connected and until all have every event,
                           events lost or out of order, RSS per connection, gateway still up.
    soak [--minutes M] [--kill-every S] [--clients N]
                           M minutes (30) of mixed load on a release gateway: a publisher at 50
                           events/s (each retried until acknowledged), N readers (2000) with 20
                           reconnects/s among them, one client that never reads, and a kill -9
                           of the gateway every S seconds (300), restarted on the same port
                           and data. Prints a table: every reader checked for every
                           acknowledged event exactly once, the stalled client dropped, the
                           gateway's RSS; fails if anything acknowledged was lost or repeated.
    fuzz [--smoke] [--execs N] [--save] [TARGET...]
                           Mutation-fuzz the parsers of untrusted input and the frame writers
                           (structured, batch, binary, broker, envelope, topic, position,
                           frames, eventgrid) from the corpus in fuzz/corpus/, with properties
                           checked on each input: 10,000,000 executions per target in a
                           release build (default), or 20,000 in a debug build with --smoke (as
                           `cargo xtask test` runs it). Prints executions, crashes and corpus
                           size per target; a crash's input goes to fuzz/artifacts/.
    help                   Print this message (so does --help after any command).
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    // `--help` anywhere (`cargo xtask bench --help`) asks for this text, not a run
    if arg_refs.iter().any(|arg| matches!(*arg, "--help" | "-h")) {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = match arg_refs.as_slice() {
        ["install"] => install::install(false),
        ["install", "--dry-run"] => install::install(true),
        ["build"] => install::install(false).and_then(|()| build_page()),
        ["schema"] => schema::schema(false),
        ["schema", "--check"] => schema::schema(true),
        ["mfe", rest @ ..] => mfe::build_from_args(rest),
        ["dist", rest @ ..] => dist::dist_from_args(rest),
        ["new", rest @ ..] => new::new_from_args(rest),
        ["peer"] => install::install(false).and_then(|()| build_peer()),
        ["serve", rest @ ..] => serve_from_args(rest),
        ["test"] => return tests::test_all(),
        ["fuzz", rest @ ..] => fuzz(rest),
        ["soak", rest @ ..] => gateway_bench::soak(rest),
        ["bench", what, rest @ ..] => bench::bench(what, rest),
        ["screenshot"] => screenshot("docs/nop.png", None),
        ["screenshot", "--broker", broker] => screenshot("docs/nop.png", Some(broker)),
        ["screenshot", "--broker", broker, out] => screenshot(out, Some(broker)),
        ["screenshot", out] => screenshot(out, None),
        [] | ["help"] | ["--help"] | ["-h"] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown command `{}`\n\n{USAGE}", args.join(" "))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            say(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// Prints a line of the xtask's own narration.
pub fn say(message: &str) {
    eprintln!("xtask: {message}");
}

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Builds the page with trunk into `dist/`.
pub fn build_page() -> Result<(), String> {
    say("building the NOP page (trunk build --release) into dist/");
    // trunk copies (and preloads) every file of wasm-bindgen's snippets folder, also those
    // an earlier build left that the module no longer imports
    let _ = std::fs::remove_dir_all(root().join("target/wasm-bindgen/release/snippets"));
    Cmd::new("trunk")
        .args(["build", "--release", "--offline", "--skip-version-check"])
        .env("RUST_BACKTRACE", "0")
        .env("PATH", install::tool_path())
        .current_dir(&root())
        .status()?;
    // trunk's main module with the names private to it and its glue shortened, trunk's own
    // outputs and copied files minified (the hook did both in mfe/ already), and the SRI
    // hashes trunk wrote into the page brought up to date
    let dist = root().join("dist");
    names::shorten_dir(&dist)?;
    minify::js_under(&dist, &["mfe", "examples"])?;
    let index = dist.join("index.html");
    let html = std::fs::read_to_string(&index).map_err(|e| format!("{}: {e}", index.display()))?;
    let (html, _) = minify::refresh_integrity(&html, &dist)?;
    std::fs::write(&index, html).map_err(|e| format!("{}: {e}", index.display()))?;
    let done = compress::precompress(&dist)?;
    say(&format!(
        "precompressed {} files of dist/: {} KB, {} KB as brotli, {} KB as gzip",
        done.files,
        done.bytes / 1000,
        done.brotli / 1000,
        done.gzip / 1000
    ));
    Ok(())
}

/// Builds the cross-module tests' peer: its own cargo build and wasm-bindgen run.
pub fn build_peer() -> Result<(), String> {
    say("building the cross-module peer module into tests/cross-module/peer-pkg/");
    cargo()
        .args(["build", "--locked", "-p", "herald-test-peer", "--target", "wasm32-unknown-unknown"])
        .status()?;
    let root = root();
    Cmd::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(root.join("tests/cross-module/peer-pkg"))
        .arg(root.join("target/wasm32-unknown-unknown/debug/herald_test_peer.wasm"))
        .env("PATH", install::tool_path())
        .status()
}

fn build_binaries() -> Result<(), String> {
    say("building herald-server, nop-simulator, nop-sensors and nop-recalibration");
    cargo()
        .args(["build", "--locked", "-p", "herald-server", "-p", "nop-simulator", "-p", "nop-sensors", "-p", "nop-recalibration"])
        .status()
}

fn serve_from_args(args: &[&str]) -> Result<(), String> {
    let (mut listen, mut broker) = ("127.0.0.1:8787", None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match (*arg, args.next()) {
            ("--listen", Some(addr)) => listen = addr,
            ("--broker", Some(name)) => broker = Some(*name),
            _ => return Err(format!("serve takes [--listen ADDR] [--broker rabbitmq], not `{arg}`\n\n{USAGE}")),
        }
    }
    serve(listen, broker)
}

/// The running NOP demo: the gateway, the simulator, the read model, the recalibration
/// saga's services and, on RabbitMQ, the broker.
struct Demo {
    gateway: run::Gateway,
    _simulator: run::Guard,
    _projector: run::Guard,
    _sagas: run::Guard,
    _broker: Option<herald_brokers::Rabbit>,
}

/// Starts the demo (built already) on `listen`, on the embedded store or with `broker`.
fn start_demo(listen: &str, data: &Path, broker: Option<&str>) -> Result<Demo, String> {
    let root = root();
    let (broker, extra) = match broker {
        None => (None, Vec::new()),
        Some("rabbitmq") => {
            say("starting RabbitMQ on loopback (data in .herald/rabbitmq/)");
            let rabbit = herald_brokers::Rabbit::start_in(&root.join(".herald/rabbitmq"), 0)?;
            say(&format!("RabbitMQ is up at {}", rabbit.url()));
            let config = root.join("www/nop-rabbitmq.toml").display().to_string();
            let extra = vec!["--config".to_owned(), config, "--amqp-url".to_owned(), rabbit.url()];
            (Some(rabbit), extra)
        }
        Some(other) => return Err(format!("--broker `{other}`: the broker NOP runs on is `rabbitmq`")),
    };
    // the central log (the modules' entries, ECS JSON lines) beside the data, not on the
    // terminal
    let mut extra = extra;
    extra.extend(["--central-log".to_owned(), data.join("central-log.ndjson").display().to_string()]);
    let gateway = run::Gateway::start(&root, listen, data, &root.join("dist"), &extra)?;
    let amqp = broker.as_ref().map(herald_brokers::Rabbit::url);
    let simulator = run::spawn_simulator(&root, &gateway.url, amqp.as_deref())?;
    let projector = run::spawn_projector(&root, &gateway.url)?;
    let sagas = run::spawn_recalibration(&root, &gateway.url)?;
    Ok(Demo { gateway, _simulator: simulator, _projector: projector, _sagas: sagas, _broker: broker })
}

fn serve(listen: &str, broker: Option<&str>) -> Result<(), String> {
    install::install(false)?;
    build_page()?;
    build_binaries()?;
    let root = root();
    let mut demo = start_demo(listen, &root.join(".herald"), broker)?;
    let url = demo.gateway.url.clone();
    match broker {
        Some(_) => say(&format!("NOP is live at {url}: readings travel simulator → RabbitMQ → herald → browsers")),
        None => say(&format!("NOP is live at {url}")),
    }
    say("the gateway's data is in .herald/; press Ctrl-C to stop");
    println!("{url}");
    demo.gateway.wait()
}

fn fuzz(args: &[&str]) -> Result<(), String> {
    let smoke = args.contains(&"--smoke");
    let rest: Vec<&str> = args.iter().copied().filter(|a| *a != "--smoke").collect();
    let mut command = cargo().args(["run", "--locked", "-p", "herald-fuzz"]);
    if !smoke {
        command = command.arg("--release");
    }
    let executions = if smoke { "20000" } else { "10000000" };
    let mut command = command.args(["--", "--execs", executions]);
    command = command.args(rest);
    command.status()
}

fn screenshot(out: &str, broker: Option<&str>) -> Result<(), String> {
    install::install(false)?;
    build_page()?;
    build_binaries()?;
    say(&format!("taking a screenshot of the live demo into {out}"));
    let out = root().join(out);
    let mut command = cargo()
        .args(["run", "--locked", "--quiet", "-p", "herald-e2e", "--bin", "nop-screenshot", "--"])
        .arg(out.as_os_str());
    // on a broker, the xtask serves the demo and the tool shoots it
    let data = root().join("target/screenshot-data");
    let _ = std::fs::remove_dir_all(&data);
    let demo = match broker {
        Some(_) => Some(start_demo("127.0.0.1:0", &data, broker)?),
        None => None,
    };
    if let Some(demo) = &demo {
        command = command.arg(format!("{}/", demo.gateway.url));
    }
    command.status()
}
