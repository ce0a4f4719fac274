//! `cargo xtask test`: every test layer, counted.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use crate::run::{cargo, Cmd};
use crate::{build_page, install, root, say};

/// The library crates whose tests run in headless Chromium, and the cross-module tests
/// (whose peer module `build_peer` builds first); every Rust MFE with a `tests/` folder
/// (found by `mfes::discover`) runs there too.
const BROWSER_CRATES: [&str; 6] = [
    "crates/herald-alloc",
    "crates/herald-bus",
    "crates/herald-element",
    "crates/herald-push",
    "crates/herald-yew",
    "tests/cross-module",
];

/// Passed and failed tests of one layer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: u64,
    pub failed: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

/// Sums every libtest / wasm-bindgen-test summary line
/// (`test result: ok. 7 passed; 0 failed; ...`) in `output`.
pub fn count(output: &str) -> Tally {
    let mut tally = Tally::default();
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let n: u64 = n.parse().unwrap_or(0);
            match kind {
                "passed" => tally.passed += n,
                "failed" => tally.failed += n,
                _ => {}
            }
        }
    }
    tally
}

/// Runs one command of a layer: its counted tests, plus one failure if it failed without
/// a failing test to show for it (a build error, a crash).
fn run_counted(cmd: Cmd) -> Tally {
    match cmd.tee() {
        Ok((success, output)) => {
            let mut tally = count(&output);
            if !success && tally.failed == 0 {
                say("the command failed outside any test: counted as one failure");
                tally.failed += 1;
            }
            tally
        }
        Err(error) => {
            say(&error);
            Tally { passed: 0, failed: 1 }
        }
    }
}

pub fn test_all() -> ExitCode {
    let started = Instant::now();
    if let Err(error) = install::install(false) {
        say(&format!("error: {error}"));
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    }
    let path = install::tool_path();
    let mut layers: Vec<(&str, Tally)> = Vec::new();

    say("layer 1/3: native tests (unit, gateway on a real listener and on NATS, doc tests)");
    let mut native_tests = cargo().args(["test", "--locked", "--no-fail-fast", "--workspace", "--exclude", "herald-e2e"]);
    // the NATS store tests start their own nats-server processes (Debian puts it in sbin)
    if Path::new("/usr/sbin/nats-server").exists() {
        native_tests = native_tests.env("NATS_SERVER", "/usr/sbin/nats-server");
    }
    // the bridge tests start their own brokers and talk to them with the official clients
    native_tests = native_tests.env("HERALD_PYTHON", install::python());
    let native = run_counted(native_tests);
    layers.push(("native", native));

    say("the fuzz smoke run: 20,000 executions of each target");
    let fuzz = run_counted(cargo().args(["run", "--locked", "-p", "herald-fuzz", "--", "--execs", "20000"]));
    layers.push(("fuzz", fuzz));

    say("layer 2/3: browser tests (wasm-pack test --headless --chrome)");
    let mut browser = Tally::default();
    if let Err(error) = crate::build_peer() {
        say(&format!("cannot build the cross-module peer: {error}"));
        browser.failed += 1;
    }
    let mut crates: Vec<std::path::PathBuf> = BROWSER_CRATES.iter().map(|c| root().join(c)).collect();
    match crate::mfes::discover(&root()) {
        Ok(mfes) => crates.extend(mfes.into_iter().filter(|m| m.has_browser_tests()).map(|m| m.dir)),
        Err(error) => {
            say(&format!("cannot find the micro-frontends: {error}"));
            browser.failed += 1;
        }
    }
    for krate in &crates {
        browser.add(run_counted(
            Cmd::new("wasm-pack")
                .args(["test", "--headless", "--chrome", "--mode", "no-install"])
                .env("PATH", &path)
                .env("CHROMEDRIVER", "/usr/bin/chromedriver")
                // the leak test may wait seconds for garbage collection on a busy machine
                .env("WASM_BINDGEN_TEST_TIMEOUT", "120")
                .current_dir(krate),
        ));
    }
    layers.push(("browser", browser));

    say("layer 3/3: end-to-end tests (gateway binary + trunk-built page + dist folders + Chromium)");
    let built = build_page()
        .and_then(|()| crate::build_binaries())
        // the embedding tests load the dist folders, and a second version of one MFE
        .and_then(|()| crate::dist::dist_from_args(&[]))
        .and_then(|()| crate::dist::dist_from_args(&["--version", "0.1.1", "nop-noise-meter"]));
    let e2e = match built {
        Ok(()) => run_counted(cargo().args(["test", "--locked", "--no-fail-fast", "-p", "herald-e2e"])),
        Err(error) => {
            say(&format!("cannot build what the end-to-end tests need: {error}"));
            Tally { passed: 0, failed: 1 }
        }
    };
    layers.push(("e2e", e2e));

    let mut total = Tally::default();
    say(&format!("summary ({:.0} s)", started.elapsed().as_secs_f64()));
    for (name, tally) in &layers {
        println!("{name:>8}: {} passed, {} failed", tally.passed, tally.failed);
        total.add(*tally);
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    let ran_something = layers.iter().all(|(_, t)| t.passed + t.failed > 0);
    if total.failed == 0 && ran_something {
        ExitCode::SUCCESS
    } else {
        if !ran_something {
            say("error: a layer ran no test");
        }
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn sums_libtest_and_wasm_bindgen_test_summaries() {
        let output = "\
running 3 tests
test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s
test result: FAILED. 6 passed; 1 failed; 0 ignored; 0 filtered out; finished in 0.05s
test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out
some other line with 5 passed; 2 failed
";
        assert_eq!(count(output), Tally { passed: 9, failed: 1 });
    }
}
