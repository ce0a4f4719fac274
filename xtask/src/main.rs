//! `cargo xtask`: installs herald's toolchain, builds, serves and tests it.
//!
//! Standard library only, so that it compiles in a second on a fresh machine.

mod bench;
mod dist;
mod gateway_bench;
mod install;
mod mfe;
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
                           (apt), wasm-opt (npm binaryen@132, project-local). Says what it does.
    build                  Build the NOP page with trunk (release, wasm-opt) into dist/.
    schema [--check]       Write the NOP event contracts as JSON Schemas (docs/schemas/) and
                           TypeScript declarations (docs/nop-events.d.ts); with --check, fail
                           if the committed files differ from the Rust types.
    mfe [--release] [OUT]  Build the micro-frontends the page loads as standalone modules
                           (nop-sensor-list, nop-noise-chart, nop-stream-status) into OUT/mfe/<name>/ (default:
                           trunk's staging dir, as the Trunk.toml pre-build hook runs it).
    peer                   Build the peer wasm module of the cross-module browser tests into
                           tests/cross-module/peer-pkg/.
    dist [--version V] [NAME...]
                           Build every micro-frontend (or NAME) into its own versioned,
                           self-contained folder dist/mfe/<name>/<version>/ (entry <name>.js,
                           hashed wasm and glue, manifest.json), and the embedding examples of
                           www/examples/ into dist/examples/.
    serve [--listen ADDR]  Install, build, then serve the NOP demo: the gateway on its embedded
                           store (data in .herald/), serving dist/, with the noise simulator
                           posting readings. Default ADDR: 127.0.0.1:8787.
    test                   Install, then run every test: native, headless browser, end-to-end.
                           Ends with the count per layer and a line `N passed, M failed`;
                           exits non-zero on any failure.
    screenshot [OUT]       Serve the demo on a free port and save a headless Chromium screenshot
                           (default docs/nop.png).
    bench bus              Benchmark the bus in headless Chromium against raw DOM events and
                           mitt (npm): events/s and the ratio of each to raw JS (the median
                           over rounds of each round's ratio), herald's DOM transport alone
                           (an envelope written once), then where a herald event's time
                           goes: in place (one case less another) and part by part.
    bench size             Build release bundles and print each micro-frontend's wasm and JS
                           glue (wasm-bindgen's module and snippets) sizes, raw and gzipped,
                           after wasm-opt.
    bench store            The embedded stores (SQLite, redb) side by side: durable appends and
                           a paged replay, events/s.
    bench gateway [--store nats]
                           The gateway against Socket.IO (npm, on Node) with 1,000 and 10,000
                           stream clients from a Rust load generator: deliveries/s, p50/p99
                           latency, RSS per idle connection, ratios; replay of 10,000 events.
                           With --store nats, also the gateway on NATS JetStream (a local
                           nats-server -js), side by side.
    bench push             Publish-to-DOM latency (p50/p90/p99) on the NOP page in headless
                           Chromium, alone and with 1,000 other stream clients.
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
        ["peer"] => install::install(false).and_then(|()| build_peer()),
        ["serve"] => serve("127.0.0.1:8787"),
        ["serve", "--listen", addr] => serve(addr),
        ["test"] => return tests::test_all(),
        ["bench", what, rest @ ..] => bench::bench(what, rest),
        ["screenshot"] => screenshot("docs/nop.png"),
        ["screenshot", out] => screenshot(out),
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
    Cmd::new("trunk")
        .args(["build", "--release", "--offline", "--skip-version-check"])
        .env("RUST_BACKTRACE", "0")
        .env("PATH", install::tool_path())
        .current_dir(&root())
        .status()
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
    say("building herald-server and nop-simulator");
    cargo()
        .args(["build", "--locked", "-p", "herald-server", "-p", "nop-simulator"])
        .status()
}

fn serve(listen: &str) -> Result<(), String> {
    install::install(false)?;
    build_page()?;
    build_binaries()?;
    let root = root();
    let mut gateway = run::Gateway::start(&root, listen, &root.join(".herald"), &root.join("dist"))?;
    let _simulator = run::spawn_simulator(&root, &gateway.url)?;
    say(&format!("NOP is live at {}", gateway.url));
    say("the gateway's data is in .herald/; press Ctrl-C to stop");
    println!("{}", gateway.url);
    gateway.wait()
}

fn screenshot(out: &str) -> Result<(), String> {
    install::install(false)?;
    build_page()?;
    build_binaries()?;
    say(&format!("taking a screenshot of the live demo into {out}"));
    let out = root().join(out);
    cargo()
        .args(["run", "--locked", "--quiet", "-p", "herald-e2e", "--bin", "nop-screenshot", "--"])
        .arg(out.as_os_str())
        .status()
}
