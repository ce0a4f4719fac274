//! `cargo xtask bench bus`: herald's bus against raw DOM events and mitt, in headless
//! Chromium, in one page and one run.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::install;
use crate::run::{cargo, Cmd, Gateway};
use crate::{root, say};

const MITT_NPM: &str = "mitt@3.0.1";
const MODULES: [(&str, &str); 2] = [
    ("herald-bench-bus-publisher", "publisher"),
    ("herald-bench-bus-subscriber", "subscriber"),
];

pub fn bench(what: &str) -> Result<(), String> {
    match what {
        "bus" => bench_bus(),
        other => Err(format!("no benchmark `{other}`; there is: bus")),
    }
}

fn bench_bus() -> Result<(), String> {
    install::install(false)?;
    let root = root();
    let out = root.join("target/bench/bus");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;

    say("building the two benchmark modules (release, as shipped: opt-level z, wasm-opt -Oz)");
    let mut build = cargo().args(["build", "--locked", "--release", "--target", "wasm32-unknown-unknown"]);
    for (krate, _) in MODULES {
        build = build.args(["-p", krate]);
    }
    build.status()?;
    for (krate, dir) in MODULES {
        let wasm = root.join(format!("target/wasm32-unknown-unknown/release/{}.wasm", krate.replace('-', "_")));
        Cmd::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(out.join(dir))
            .arg(&wasm)
            .env("PATH", install::tool_path())
            .status()?;
        let bg = out.join(dir).join(format!("{}_bg.wasm", krate.replace('-', "_")));
        Cmd::new("wasm-opt")
            .args(["-Oz", "-o"])
            .arg(&bg)
            .arg(&bg)
            .env("PATH", install::tool_path())
            .status()?;
    }

    say(&format!("fetching {MITT_NPM} from npm for the comparison"));
    let tools = root.join(".tools/bench");
    let mitt = tools.join("node_modules/mitt/dist/mitt.mjs");
    if !mitt.is_file() {
        Cmd::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--no-save", "--prefix"])
            .arg(&tools)
            .arg(MITT_NPM)
            .status()?;
    }
    copy(&mitt, &out.join("mitt.mjs"))?;
    for file in ["index.html", "bench.js"] {
        copy(&root.join("bench/bus-page").join(file), &out.join(file))?;
    }

    cargo()
        .args(["build", "--locked", "-p", "herald-server", "-p", "herald-e2e", "--bin", "herald-server", "--bin", "herald-bench-page"])
        .status()?;
    let data = std::env::temp_dir().join(format!("herald-bench-{}", std::process::id()));
    let gateway = Gateway::start(&root, "127.0.0.1:0", &data, &out)?;
    let output = Cmd::new(root.join("target/debug/herald-bench-page"))
        .arg(format!("{}index.html", gateway.url))
        .output_stdout(Stdio::inherit())?;
    drop(gateway);
    let _ = std::fs::remove_dir_all(&data);
    let result: Value = serde_json::from_str(output.trim()).map_err(|e| format!("bad benchmark output {output:?}: {e}"))?;
    if let Some(error) = result.get("error") {
        return Err(format!("the benchmark page failed: {error}"));
    }
    print!("{}", table(&result)?);
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// The results as a table: events/s, µs per event, and each case's cost relative to raw JS.
pub fn table(result: &Value) -> Result<String, String> {
    let rows = result["results"].as_array().ok_or("no results")?;
    let per_event = |row: &Value| -> Option<f64> { Some(row["ms"].as_f64()? * 1000.0 / row["events"].as_f64()?) };
    let baseline = rows.first().and_then(per_event).ok_or("no baseline")?;
    let mut out = format!(
        "\nherald bus benchmark — headless Chromium, one page, one run; {} events per round, median of {} rounds;\n\
         payload {{sensor, db, at}}; ratio = cost per event / raw JS cost per event (lower is better)\n\n",
        result["n"], result["rounds"]
    );
    out.push_str(&format!("{:<42} {:>12} {:>10} {:>9}\n", "case", "events/s", "µs/event", "× raw JS"));
    for row in rows {
        let us = per_event(row).ok_or("bad row")?;
        out.push_str(&format!(
            "{:<42} {:>12.0} {:>10.3} {:>9.2}\n",
            row["name"].as_str().unwrap_or("?"),
            1e6 / us,
            us,
            us / baseline
        ));
    }
    if let Some(parts) = result["breakdown"].as_array() {
        out.push_str("\nwhere a herald event's time goes (parts measured alone):\n");
        for row in parts {
            let us = per_event(row).ok_or("bad row")?;
            out.push_str(&format!(
                "  {:<50} {:>8.3} µs/event {:>6.2} × raw JS\n",
                row["name"].as_str().unwrap_or("?"),
                us,
                us / baseline
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod unit {
    #[test]
    fn the_table_puts_every_case_against_the_first() {
        let result = serde_json::json!({"n": 1000, "rounds": 3, "results": [
            {"name": "raw", "ms": 1.0, "events": 1000},
            {"name": "herald typed", "ms": 2.5, "events": 1000},
        ]});
        let table = super::table(&result).unwrap();
        assert!(table.contains("raw"), "{table}");
        let herald = table.lines().find(|l| l.starts_with("herald typed")).unwrap();
        assert!(herald.trim_end().ends_with("2.50"), "{herald}");
        assert!(herald.contains("400000"), "{herald}");
    }
}
