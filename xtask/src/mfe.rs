//! `cargo xtask mfe`: the page's standalone micro-frontend modules, each built on its own.
//!
//! trunk builds one "main" module itself. Building the others as trunk `data-type="worker"`
//! links runs their wasm-bindgen steps concurrently into one shared output folder, where
//! the crates they share (herald-element, herald-bus) write the same snippet files at the
//! same time: a copy or an integrity hash can catch a half-written file. So trunk's
//! pre-build hook runs this instead: one module after another, each wasm-bindgen into its
//! own folder, copied to `mfe/<name>/` of trunk's staging dir with a `loader.js` that
//! instantiates it.

use std::path::{Path, PathBuf};

use crate::run::{cargo, Cmd};
use crate::{install, root, say};

pub fn build_from_args(args: &[&str]) -> Result<(), String> {
    let release = args.contains(&"--release")
        || std::env::var("TRUNK_PROFILE").is_ok_and(|profile| profile == "release");
    let out = match args.iter().find(|a| !a.starts_with("--")) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("TRUNK_STAGING_DIR")
            .map(PathBuf::from)
            .ok_or("give an output folder, or run from trunk's pre-build hook (TRUNK_STAGING_DIR)")?,
    };
    build(&out, release)
}

pub fn build(out: &Path, release: bool) -> Result<(), String> {
    let profile = if release { "release" } else { "debug" };
    say(&format!("building the standalone micro-frontends ({profile}) into {}", out.join("mfe").display()));
    let root = root();
    // every Rust MFE but trunk's main module, which the page loads from mfe/<name>/loader.js
    let standalone: Vec<String> = crate::mfes::discover(&root)?
        .into_iter()
        .filter(|m| m.kind == crate::mfes::Kind::Rust && !m.trunk_main)
        .map(|m| m.name)
        .collect();
    let mut build = cargo().args(["build", "--target", "wasm32-unknown-unknown"]);
    if release {
        build = build.arg("--release");
    }
    for name in &standalone {
        build = build.args(["-p", name]);
    }
    build.status()?;
    for name in &standalone {
        let stem = name.replace('-', "_");
        let bindgen = root.join("target/herald-mfe").join(profile).join(name);
        let _ = std::fs::remove_dir_all(&bindgen);
        let wasm = root.join(format!("target/wasm32-unknown-unknown/{profile}/{stem}.wasm"));
        bindgen_web(&wasm, &bindgen, release)?;
        // the page runtime, loaded from here if the page has none (docs/protocol.md §2.10)
        crate::bench::copy(&root.join(crate::dist::RUNTIME_JS), &bindgen.join("herald-runtime.js"))?;
        std::fs::write(
            bindgen.join("loader.js"),
            format!("import init from \"./{stem}.js\";\nawait init();\n"),
        )
        .map_err(|e| e.to_string())?;
        if release {
            crate::minify::js_under(&bindgen, &[])?;
        }
        let dest = out.join("mfe").join(name);
        let _ = std::fs::remove_dir_all(&dest);
        copy_dir(&bindgen, &dest)?;
    }
    Ok(())
}

/// What wasm-opt runs with beside `-Oz`, here and (`data-wasm-opt-params`) for trunk's main
/// module in index.html. `--low-memory-unused` lets binaryen fold more address arithmetic:
/// rustc links wasm32 with `--stack-first`, so the lowest 1 KiB of memory is the far end of
/// the 1 MiB stack, reached only by a stack about to overflow. `--converge` repeats the
/// passes while they shrink the module; the producers and target-features sections are
/// metadata no browser reads.
pub const WASM_OPT_PARAMS: [&str; 4] = ["--low-memory-unused", "--converge", "--strip-producers", "--strip-target-features"];

/// wasm-bindgen `--target web` of the module `wasm` into `out`, and, with `optimize`,
/// wasm-opt -Oz (npm binaryen 132) on its `_bg.wasm` and the names between it and its glue
/// shortened (`names`); the path of that `_bg.wasm`.
pub fn bindgen_web(wasm: &Path, out: &Path, optimize: bool) -> Result<PathBuf, String> {
    Cmd::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(out)
        .arg(wasm)
        .env("PATH", install::tool_path())
        .status()?;
    let stem = wasm.file_stem().and_then(|s| s.to_str()).ok_or("a wasm file without a name")?;
    let bg = out.join(format!("{stem}_bg.wasm"));
    if optimize {
        Cmd::new("wasm-opt")
            .arg("-Oz")
            .args(WASM_OPT_PARAMS)
            .arg("-o")
            .arg(&bg)
            .arg(&bg)
            .env("PATH", install::tool_path())
            .status()?;
        crate::names::shorten_files(&out.join(format!("{stem}.js")), &bg)?;
    }
    Ok(bg)
}

/// Copies the folder `from`, with everything in it, to `to`.
pub fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn trunk_optimizes_the_main_module_as_the_xtask_does_the_others() {
        let index = std::fs::read_to_string(crate::root().join("index.html")).unwrap();
        let params = format!("data-wasm-opt-params=\"{}\"", super::WASM_OPT_PARAMS.join(" "));
        assert!(index.contains(&params), "index.html should say {params}");
    }
}
