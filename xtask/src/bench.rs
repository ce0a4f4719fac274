//! `cargo xtask bench bus`: herald's bus against raw DOM events and mitt, in headless
//! Chromium, in one page and one run.

use std::path::{Path, PathBuf};
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

pub fn bench(what: &str, args: &[&str]) -> Result<(), String> {
    if what != "gateway" && !args.is_empty() {
        return Err(format!("`bench {what}` takes no options"));
    }
    match what {
        "bus" => bench_bus(),
        "size" => bench_size(),
        "store" => bench_store(),
        "gateway" => crate::gateway_bench::bench_gateway(args),
        "push" => crate::gateway_bench::bench_push(),
        "bridge" => crate::gateway_bench::bench_bridge(),
        "stall" => crate::gateway_bench::bench_stall(),
        "storm" => crate::gateway_bench::bench_storm(),
        other => Err(format!("no benchmark `{other}`; there are: bus, size, store, gateway, push, bridge, stall, storm")),
    }
}

/// `cargo xtask bench store`: the embedded stores (SQLite, redb) side by side: durable
/// appends, one and a hundred per commit, and a paged replay.
fn bench_store() -> Result<(), String> {
    cargo()
        .args(["run", "--locked", "--release", "-p", "herald-server", "--features", "redb", "--example", "store-bench"])
        .status()
}

/// Builds `krate` for release (opt-level z, as shipped), runs wasm-bindgen (`--target web`)
/// into `out`, and wasm-opt -Oz (binaryen 132) on the result.
fn build_module(krate: &str, out: &Path) -> Result<(), String> {
    let wasm = root().join(format!("target/wasm32-unknown-unknown/release/{}.wasm", krate.replace('-', "_")));
    crate::mfe::bindgen_web(&wasm, out, true)?;
    crate::minify::js_under(out, &[])
}

/// The size of `path` compressed with `gzip -9`.
pub fn gzip_size(path: &Path) -> Result<u64, String> {
    let output = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    Ok(output.stdout.len() as u64)
}

/// `cargo xtask bench size`: per micro-frontend, the wasm and JS glue (wasm-bindgen's
/// module and its snippets) sizes, raw and gzipped, after wasm-opt: the NOP page's modules as trunk builds them, and the smallest
/// possible herald MFE.
fn bench_size() -> Result<(), String> {
    install::install(false)?;
    crate::build_page()?;
    let root = root();
    let minimal = root.join("target/bench/size/minimal-mfe");
    cargo()
        .args(["build", "--locked", "--release", "--target", "wasm32-unknown-unknown", "-p", "herald-bench-minimal-mfe"])
        .status()?;
    build_module("herald-bench-minimal-mfe", &minimal)?;

    let dist = root.join("dist");
    let mfes = crate::mfes::discover(&root)?;
    // every Rust MFE as the page loads it: trunk's main module from dist/, the others from
    // dist/mfe/<name>/; and the smallest herald MFE
    let mut modules: Vec<(String, PathBuf, String)> = Vec::new();
    for mfe in mfes.iter().filter(|m| m.kind == crate::mfes::Kind::Rust) {
        if mfe.trunk_main {
            modules.push((format!("{} (trunk main)", mfe.name), dist.clone(), mfe.name.clone()));
        } else {
            modules.push((mfe.name.clone(), dist.join("mfe").join(&mfe.name), mfe.name.replace('-', "_")));
        }
    }
    modules.push(("minimal: 1 element, 1 subscription".into(), minimal.clone(), "herald_bench_minimal_mfe".into()));
    let mut rows: Vec<(String, [u64; 4])> = Vec::new();
    for (label, dir, stem) in &modules {
        let (dir, stem) = (dir.as_path(), stem.as_str());
        let entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(stem)))
            .collect();
        let find = |suffix: &str, not: &str| {
            entries
                .iter()
                .find(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    name.ends_with(suffix) && !name.contains(not)
                })
                .cloned()
                .ok_or_else(|| format!("no {stem}*{suffix} in {}", dir.display()))
        };
        let wasm = find("_bg.wasm", ".wasm.")?;
        // the JS glue: wasm-bindgen's module and the crates' snippets it imports (each file
        // is fetched on its own, so each is gzipped on its own)
        let mut js_files = vec![find(".js", ".js.")?];
        let snippets = dir.join("snippets");
        if snippets.is_dir() {
            js_files.extend(crate::dist::walk(&snippets)?.into_iter().filter(|p| !is_variant(p)));
        }
        let (mut js, mut js_gz) = (0, 0);
        for file in &js_files {
            js += size(file)?;
            js_gz += gzip_size(file)?;
        }
        rows.push((label.clone(), [size(&wasm)?, gzip_size(&wasm)?, js, js_gz]));
    }
    // the page runtime: no wasm, loaded once per page
    let runtime = dist.join("herald-runtime.js");
    rows.push(("page runtime (herald-runtime.js, once)".to_owned(), [0, 0, size(&runtime)?, gzip_size(&runtime)?]));
    print!("{}", size_table(&rows));
    println!(
        "bars: each Rust NOP MFE <= 45 KB gz with its glue, the yew chart <= 100, the minimal MFE <= 25, \
         the page runtime <= 40"
    );
    page_weight(&root)?;

    // what embedding each MFE costs: every file of its dist folder, from its manifest
    crate::dist::dist_from_args(&[])?;
    let mut manifests = Vec::new();
    for name in mfes.iter().map(|m| &m.name) {
        let dir = root.join("dist/mfe").join(name);
        let version = crate::dist::newest_version(&dir).ok_or_else(|| format!("no dist build of {name}"))?;
        let path = dir.join(&version).join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        manifests.push(serde_json::from_str::<Value>(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    println!();
    print!("{}", transfer_table(&manifests));
    Ok(())
}

fn size(p: &Path) -> Result<u64, String> {
    std::fs::metadata(p).map(|m| m.len()).map_err(|e| format!("{}: {e}", p.display()))
}

/// A precompressed variant (`.br`, `.gz`) of a built file.
fn is_variant(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "br" || e == "gz")
}

/// The NOP page's first load on the wire: `dist/` served by the gateway as `cargo xtask
/// serve` serves it, loaded in headless Chromium with an empty cache (nop-page-weight).
fn page_weight(root: &Path) -> Result<(), String> {
    cargo()
        .args(["build", "--locked", "-p", "herald-server", "-p", "herald-e2e", "--bin", "herald-server", "--bin", "nop-page-weight"])
        .status()?;
    let data = root.join("target/bench/page-weight-data");
    let _ = std::fs::remove_dir_all(&data);
    let gateway = crate::run::Gateway::start(root, "127.0.0.1:0", &data, &root.join("dist"), &[])?;
    let text = Cmd::new(root.join("target/debug/nop-page-weight"))
        .arg(format!("{}/", gateway.url.trim_end_matches('/')))
        .output_stdout(std::process::Stdio::inherit())?;
    drop(gateway);
    let weight: Value = serde_json::from_str(&text).map_err(|e| format!("nop-page-weight: {e}"))?;
    print!("{}", weight_table(&weight));
    Ok(())
}

/// The first-load table: every resource's bytes on the wire and decoded, and the total
/// against the bar.
pub fn weight_table(weight: &Value) -> String {
    let kb = |v: &Value| v.as_f64().unwrap_or(0.0) / 1000.0;
    let mut out = String::from(
        "\nNOP first load in headless Chromium (Resource Timing, empty cache), the page as `cargo xtask serve` serves it:\n\
         | resource                                            | on the wire KB | decoded KB |\n\
         |-----------------------------------------------------|---------------:|-----------:|\n",
    );
    for row in weight["resources"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "| {:<51} | {:>14.1} | {:>10.1} |\n",
            row["name"].as_str().unwrap_or("?"),
            kb(&row["transferSize"]),
            kb(&row["decodedBodySize"]),
        ));
    }
    out.push_str(&format!(
        "| {:<51} | {:>14.1} | {:>10.1} |\n",
        "total",
        kb(&weight["transferSize"]),
        kb(&weight["decodedBodySize"])
    ));
    out.push_str("bar: <= 300 KB on the wire (goal 250 KB)\n");
    out
}

/// Per MFE, from its dist manifest: what a page transfers to embed it (every file, raw
/// and gzipped), and its wasm alone.
pub fn transfer_table(manifests: &[Value]) -> String {
    let mut out = String::from(
        "embedding, from the dist manifests (every file of the MFE's folder):\n\
         | MFE               | version | files | total KB | total gz KB | wasm gz KB |\n\
         |-------------------|---------|------:|---------:|------------:|-----------:|\n",
    );
    for m in manifests {
        let files = m["files"].as_array().cloned().unwrap_or_default();
        let sum = |key: &str| files.iter().map(|f| f[key].as_u64().unwrap_or(0)).sum::<u64>() as f64 / 1000.0;
        let wasm_gz = files
            .iter()
            .filter(|f| f["path"].as_str().is_some_and(|p| p.ends_with(".wasm")))
            .map(|f| f["gzip_bytes"].as_u64().unwrap_or(0))
            .sum::<u64>() as f64
            / 1000.0;
        out.push_str(&format!(
            "| {:<17} | {:<7} | {:>5} | {:>8.1} | {:>11.1} | {:>10.1} |\n",
            m["name"].as_str().unwrap_or("?"),
            m["version"].as_str().unwrap_or("?"),
            files.len(),
            sum("bytes"),
            sum("gzip_bytes"),
            wasm_gz,
        ));
    }
    out
}

/// The size table: bytes raw and gzipped (-9), wasm and JS glue, and the gzipped total.
pub fn size_table(rows: &[(String, [u64; 4])]) -> String {
    let kb = |b: u64| format!("{:.1} KB", b as f64 / 1024.0);
    let mut out = String::from(
        "\nherald micro-frontend sizes — release (opt-level z, LTO), wasm-opt -Oz (binaryen 132), gzip -9\n\n",
    );
    out.push_str(&format!(
        "{:<38} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "module", "wasm", "wasm gz", "js", "js gz", "total gz"
    ));
    for (label, [wasm, wasm_gz, js, js_gz]) in rows {
        out.push_str(&format!(
            "{:<38} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            label,
            kb(*wasm),
            kb(*wasm_gz),
            kb(*js),
            kb(*js_gz),
            kb(wasm_gz + js_gz)
        ));
    }
    out
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
        build_module(krate, &out.join(dir))?;
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
    let gateway = Gateway::start(&root, "127.0.0.1:0", &data, &out, &[])?;
    let output = Cmd::new(root.join("target/debug/herald-bench-page"))
        .arg(format!("{}/index.html", gateway.url))
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

/// Copies one file.
pub fn copy(from: &Path, to: &Path) -> Result<(), String> {
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
        "\nherald bus benchmark — headless Chromium, one page, one run; {} events per case and round, {} rounds;\n\
         payload {{sensor, db, at}}; µs/event: median over rounds; × raw JS: median over rounds of the case's time\n\
         over raw JS's time in the same round (lower is better)\n\n",
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
            row["ratio"].as_f64().unwrap_or(us / baseline)
        ));
    }
    let sections = [
        ("inPlace", "where a herald event's time goes, in place (one case less another, per round):"),
        ("breakdown", "where a herald event's time goes, part by part (each measured alone):"),
    ];
    for (key, title) in sections {
        let Some(parts) = result[key].as_array() else { continue };
        out.push_str(&format!("\n{title}\n"));
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
    fn the_transfer_table_sums_the_manifest_files() {
        let manifest = serde_json::json!({
            "name": "nop-x", "version": "0.1.0",
            "files": [
                { "path": "nop-x.js", "bytes": 300, "gzip_bytes": 200 },
                { "path": "nop-x_bg-ab.wasm", "bytes": 50000, "gzip_bytes": 20000 },
            ],
        });
        let text = super::transfer_table(&[manifest]);
        assert!(text.contains("| nop-x             | 0.1.0   |     2 |     50.3 |        20.2 |       20.0 |"), "{text}");
    }

    #[test]
    fn the_weight_table_lists_each_resource_and_the_total() {
        let weight = serde_json::json!({
            "resources": [{"name": "/", "transferSize": 1500, "decodedBodySize": 3000},
                          {"name": "/app_bg.wasm", "transferSize": 50000, "decodedBodySize": 140000}],
            "transferSize": 51500, "decodedBodySize": 143000
        });
        let table = super::weight_table(&weight);
        assert!(table.contains("| /app_bg.wasm"), "{table}");
        assert!(table.contains("|           50.0 |      140.0 |"), "{table}");
        assert!(table.contains("| total") && table.contains("51.5"), "{table}");
    }

    #[test]
    fn the_size_table_totals_the_gzipped_parts() {
        let table = super::size_table(&[("m".into(), [2048, 1024, 4096, 512])]);
        let row = table.lines().find(|l| l.starts_with("m ")).unwrap();
        assert!(row.trim_end().ends_with("1.5 KB"), "{row}");
    }

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
        // the page's paired ratio (median over rounds) wins over the ratio of medians
        let result = serde_json::json!({"n": 1000, "rounds": 3, "results": [
            {"name": "raw", "ms": 1.0, "ratio": 1.0, "events": 1000},
            {"name": "herald typed", "ms": 2.5, "ratio": 2.25, "events": 1000},
        ]});
        let table = super::table(&result).unwrap();
        let herald = table.lines().find(|l| l.starts_with("herald typed")).unwrap();
        assert!(herald.trim_end().ends_with("2.25"), "{herald}");
    }
}
