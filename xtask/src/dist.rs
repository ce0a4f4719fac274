//! `cargo xtask dist [--version V] [NAME…]`: every micro-frontend of `www/` in its own
//! self-contained, versioned folder, `dist/mfe/<name>/<version>/`, for embedding in any
//! page with one `<script type="module" src=".../<name>.js">` (docs/embedding.md).
//!
//! A folder holds the entry `<name>.js` (it loads the rest and defines the elements), the
//! wasm-bindgen glue and the wasm with a content hash in their names, the snippets the
//! glue imports, and `manifest.json`: tags, events published and subscribed with their
//! versions, and every file with its size, gzipped size and SRI integrity hash. The
//! examples of `www/examples/` go to `dist/examples/`, pointed at these folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha384};

use crate::mfes::{Kind, Mfe};
use crate::run::cargo;
use crate::{install, root, say};

/// herald's page runtime, which every MFE's folder carries beside its entry.
pub const RUNTIME_JS: &str = "crates/herald-push/js/herald-runtime.js";

pub fn dist_from_args(args: &[&str]) -> Result<(), String> {
    let all = crate::mfes::discover(&root())?;
    let mut version = None;
    let mut names = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--version" => version = Some(rest.next().ok_or("--version needs a value")?.to_string()),
            name if all.iter().any(|m| m.name == name) => names.push(name.to_owned()),
            other => {
                let known: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
                return Err(format!("no micro-frontend `{other}`; there are: {}", known.join(", ")));
            }
        }
    }
    let chosen: Vec<Mfe> = all.into_iter().filter(|m| names.is_empty() || names.contains(&m.name)).collect();
    dist(&chosen, version.as_deref())?;
    Ok(())
}

/// Builds `mfes` (at `version`, default: each one's) into `dist/mfe/`; returns the folder
/// of each.
pub fn dist(mfes: &[Mfe], version: Option<&str>) -> Result<BTreeMap<String, PathBuf>, String> {
    install::install(false)?;
    let root = root();
    let rust: Vec<&Mfe> = mfes.iter().filter(|m| m.kind == Kind::Rust).collect();
    if !rust.is_empty() {
        let mut build = cargo().args(["build", "--locked", "--release", "--target", "wasm32-unknown-unknown"]);
        for mfe in &rust {
            build = build.args(["-p", &mfe.name]);
        }
        build.status()?;
    }
    let mut folders = BTreeMap::new();
    for mfe in mfes {
        let name = &mfe.name;
        let version = version.unwrap_or(&mfe.version);
        let out = root.join("dist/mfe").join(name).join(version);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        say(&format!("dist: {name} {version} into {}", out.display()));
        match mfe.kind {
            Kind::Js => crate::bench::copy(&mfe.dir.join(format!("{name}.js")), &out.join(format!("{name}.js")))?,
            Kind::Rust => package_rust(&root, name, &out)?,
        }
        // the page runtime, which the MFE loads from its folder when the page has none
        // (docs/protocol.md §2.10)
        crate::bench::copy(&root.join(RUNTIME_JS), &out.join("herald-runtime.js"))?;
        let mut copied = vec![out.join("herald-runtime.js")];
        if mfe.kind == Kind::Js {
            copied.push(out.join(format!("{name}.js")));
        }
        crate::minify::js_files(&copied)?;
        write_manifest(name, version, &mfe.herald, &out)?;
        crate::compress::precompress(&out)?;
        folders.insert(name.clone(), out);
    }
    examples(&root)?;
    Ok(folders)
}

/// wasm-bindgen (`--target web`) and wasm-opt, then the files under content-hashed names
/// and the entry that loads them.
fn package_rust(root: &Path, name: &str, out: &Path) -> Result<(), String> {
    let stem = name.replace('-', "_");
    let bindgen = root.join("target/herald-dist").join(name);
    let _ = std::fs::remove_dir_all(&bindgen);
    let module = root.join(format!("target/wasm32-unknown-unknown/release/{stem}.wasm"));
    let wasm = crate::mfe::bindgen_web(&module, &bindgen, true)?;
    crate::minify::js_under(&bindgen, &[])?;
    let wasm_bytes = read(&wasm)?;
    let wasm_name = format!("{name}_bg-{}.wasm", short_hash(&wasm_bytes));
    write(&out.join(&wasm_name), &wasm_bytes)?;
    let glue_bytes = read(&bindgen.join(format!("{stem}.js")))?;
    let glue_name = format!("{name}-{}.js", short_hash(&glue_bytes));
    write(&out.join(&glue_name), &glue_bytes)?;
    let snippets = bindgen.join("snippets");
    if snippets.is_dir() {
        crate::mfe::copy_dir(&snippets, &out.join("snippets"))?;
    }
    let entry = format!(
        "// {name}: loading this module defines its custom element(s); nothing else is needed.\n\
         import init from \"./{glue_name}\";\n\
         await init({{ module_or_path: new URL(\"./{wasm_name}\", import.meta.url) }});\n"
    );
    write(&out.join(format!("{name}.js")), entry.as_bytes())
}

fn write_manifest(name: &str, version: &str, herald: &Value, out: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    for path in walk(out)? {
        let bytes = read(&path)?;
        let relative = path.strip_prefix(out).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        files.push(json!({
            "path": relative,
            "bytes": bytes.len(),
            "gzip_bytes": crate::bench::gzip_size(&path)?,
            "integrity": format!("sha384-{}", base64(&Sha384::digest(&bytes))),
        }));
    }
    let manifest = json!({
        "name": name,
        "version": version,
        "entry": format!("{name}.js"),
        "tags": herald["tags"],
        "publishes": herald["publishes"],
        "subscribes": herald["subscribes"],
        "files": files,
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    write(&out.join("manifest.json"), text.as_bytes())
}

/// `www/examples/*.html` into `dist/examples/`, with `{{mfe:NAME}}` replaced by the path
/// of NAME's newest entry (relative to the example).
fn examples(root: &Path) -> Result<(), String> {
    let from = root.join("www/examples");
    let to = root.join("dist/examples");
    std::fs::create_dir_all(&to).map_err(|e| format!("{}: {e}", to.display()))?;
    for path in walk(&from)? {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("{{mfe:") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").ok_or_else(|| format!("{}: an unclosed {{{{mfe:", path.display()))? + start;
            let name = &rest[start + 6..end];
            let version = newest_version(&root.join("dist/mfe").join(name))
                .ok_or_else(|| format!("{}: {name} is not in dist/mfe (run `cargo xtask dist`)", path.display()))?;
            out.push_str(&format!("../mfe/{name}/{version}/{name}.js"));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        let file = path.file_name().ok_or("an example without a name")?;
        write(&to.join(file), out.as_bytes())?;
    }
    Ok(())
}

/// The highest version folder (by numeric parts) under `dir`.
pub fn newest_version(dir: &Path) -> Option<String> {
    let parts = |v: &str| v.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("manifest.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .max_by_key(|v| parts(v))
}

fn short_hash(bytes: &[u8]) -> String {
    Sha384::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding (RFC 4648 §4), as SRI wants.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// Every file below `dir`, sorted.
pub fn walk(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn the_newest_version_is_by_number_not_by_text() {
        let dir = std::env::temp_dir().join(format!("herald-dist-test-{}", std::process::id()));
        for v in ["0.9.0", "0.10.0", "0.2.1"] {
            std::fs::create_dir_all(dir.join(v)).unwrap();
            std::fs::write(dir.join(v).join("manifest.json"), "{}").unwrap();
        }
        std::fs::create_dir_all(dir.join("1.0.0")).unwrap(); // no manifest: not a build
        assert_eq!(newest_version(&dir).as_deref(), Some("0.10.0"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
