//! Release builds ship minified JavaScript: terser (npm `terser`, installed by `cargo xtask
//! install` into `.tools/terser`) over wasm-bindgen's glue and snippets, the page runtime
//! and the plain-JS micro-frontends as they are copied into `dist/`. The sources in the
//! repository stay as written; `trunk serve` (debug) serves them unminified.
//!
//! trunk's own minifier (minify-js) cannot parse wasm-bindgen's glue, so `cargo xtask
//! build` minifies trunk's output itself and rewrites the `integrity` (SRI) attributes
//! trunk wrote for the files it changed.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha384};

use crate::run::Cmd;
use crate::root;

/// The npm package, at the version `cargo xtask install` installs.
pub const TERSER_NPM: &str = "terser@5.51.2";

/// terser's ES module entry in the project-local install.
pub fn terser_entry() -> PathBuf {
    root().join(".tools/terser/node_modules/terser/main.js")
}

/// Minifies every `.js`/`.mjs` file under `dir` (not its `.br`/`.gz` variants) in place,
/// except under the folders `skip` (relative to `dir`).
pub fn js_under(dir: &Path, skip: &[&str]) -> Result<(), String> {
    let skipped: Vec<PathBuf> = skip.iter().map(|s| dir.join(s)).collect();
    let files: Vec<PathBuf> = crate::dist::walk(dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "js" || e == "mjs"))
        .filter(|p| !skipped.iter().any(|s| p.starts_with(s)))
        .collect();
    js_files(&files)
}

/// Minifies `files` (JavaScript modules) in place, in one node process.
pub fn js_files(files: &[PathBuf]) -> Result<(), String> {
    if files.is_empty() {
        return Ok(());
    }
    Cmd::new("node")
        .arg(root().join("xtask/minify.mjs"))
        .args(files.iter().map(|p| p.as_os_str()))
        .env("HERALD_TERSER", terser_entry())
        .status()
}

/// Rewrites every `integrity="sha384-…"` of `html` whose tag's `href`/`src` is a
/// root-relative path to a file under `dist` to that file's hash now; how many changed.
pub fn refresh_integrity(html: &str, dist: &Path) -> Result<(String, usize), String> {
    const ATTR: &str = "integrity=\"";
    let mut out = String::with_capacity(html.len());
    let mut changed = 0;
    let mut rest = html;
    while let Some(at) = rest.find(ATTR) {
        let value_start = at + ATTR.len();
        let Some(len) = rest[value_start..].find('"') else { break };
        let tag_start = rest[..at].rfind('<').unwrap_or(0);
        let tag_end = rest[at..].find('>').map_or(rest.len(), |e| at + e);
        let tag = &rest[tag_start..tag_end];
        let old = &rest[value_start..value_start + len];
        let mut new = old.to_owned();
        if let Some(url) = attribute(tag, "href").or_else(|| attribute(tag, "src")) {
            let path = dist.join(url.trim_start_matches('/'));
            if url.starts_with('/') && path.is_file() {
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                new = format!("sha384-{}", crate::dist::base64(&Sha384::digest(&bytes)));
            }
        }
        if new != old {
            changed += 1;
        }
        out.push_str(&rest[..value_start]);
        out.push_str(&new);
        rest = &rest[value_start + len..];
    }
    out.push_str(rest);
    Ok((out, changed))
}

/// The value of `name="…"` in a tag's text.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_is_refreshed_for_the_files_that_changed_only() {
        let dir = std::env::temp_dir().join(format!("herald-xtask-sri-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("snippets")).unwrap();
        std::fs::write(dir.join("app.js"), "export const a=1;").unwrap();
        std::fs::write(dir.join("snippets/s.js"), "x").unwrap();
        let digest = |b: &[u8]| format!("sha384-{}", crate::dist::base64(&Sha384::digest(b)));
        let same = digest(b"x");
        let html = format!(
            "<link rel=\"modulepreload\" href=\"/app.js\" crossorigin=\"anonymous\" integrity=\"sha384-stale\">\n\
             <link rel=\"modulepreload\" href=\"/snippets/s.js\" integrity=\"{same}\">\n\
             <script src=\"https://cdn.example/x.js\" integrity=\"sha384-foreign\"></script>"
        );
        let (out, changed) = refresh_integrity(&html, &dir).unwrap();
        assert_eq!(changed, 1);
        assert!(out.contains(&format!("href=\"/app.js\" crossorigin=\"anonymous\" integrity=\"{}\">", digest(b"export const a=1;"))));
        assert!(out.contains(&format!("integrity=\"{same}\">")));
        assert!(out.contains("integrity=\"sha384-foreign\""), "a file not in dist is left alone");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
