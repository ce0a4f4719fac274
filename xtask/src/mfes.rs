//! The page's micro-frontends, discovered rather than listed: a Rust MFE is a workspace
//! crate with `[package.metadata.herald]` tags in its Cargo.toml; a plain-JS MFE is a
//! folder `www/<name>/` with `<name>.js` and `herald.json`. Trunk's main module is the
//! crate that `index.html`'s `<link data-trunk rel="rust" href=…>` names; every other Rust
//! MFE is built by `cargo xtask mfe`. Adding an MFE is adding its folder (`cargo xtask
//! new`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::run::cargo;

/// How an MFE is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Its own crate and wasm module.
    Rust,
    /// `www/<name>/<name>.js`, no build.
    Js,
}

/// One micro-frontend of the workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Mfe {
    /// The crate's (or folder's) name.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    pub kind: Kind,
    /// Its version: the crate's, or `herald.json`'s `version`.
    pub version: String,
    /// `[package.metadata.herald]` or `herald.json`: tags, publishes, subscribes.
    pub herald: Value,
    /// Whether trunk builds it as the page's main module.
    pub trunk_main: bool,
}

impl Mfe {
    /// Whether it has browser tests of its own (`tests/`).
    pub fn has_browser_tests(&self) -> bool {
        self.kind == Kind::Rust && self.dir.join("tests").is_dir()
    }
}

/// Every MFE of the workspace at `root`, Rust ones first, each group by name.
pub fn discover(root: &Path) -> Result<Vec<Mfe>, String> {
    let text = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output_stdout(std::process::Stdio::inherit())?;
    let metadata: Value = serde_json::from_str(&text).map_err(|e| format!("cargo metadata: {e}"))?;
    let main = trunk_main(root)?;
    from_metadata(root, &metadata, main.as_deref())
}

/// The MFEs that `metadata` (`cargo metadata` output) and the `www/` folder of `root`
/// hold; `main` is the folder (relative to `root`) of trunk's main module.
pub fn from_metadata(root: &Path, metadata: &Value, main: Option<&Path>) -> Result<Vec<Mfe>, String> {
    let mut rust = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let herald = &package["metadata"]["herald"];
        if herald["tags"].as_array().is_none_or(|t| t.is_empty()) {
            continue;
        }
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        rust.push(Mfe {
            name: package["name"].as_str().unwrap_or_default().to_owned(),
            trunk_main: main.is_some_and(|m| root.join(m) == dir),
            dir,
            kind: Kind::Rust,
            version: package["version"].as_str().unwrap_or("0.0.0").to_owned(),
            herald: herald.clone(),
        });
    }
    rust.sort_by(|a, b| a.name.cmp(&b.name));
    let mut js = Vec::new();
    let www = root.join("www");
    for entry in std::fs::read_dir(&www).map_err(|e| format!("{}: {e}", www.display()))? {
        let dir = entry.map_err(|e| e.to_string())?.path();
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
        let manifest = dir.join("herald.json");
        if !manifest.is_file() || !dir.join(format!("{name}.js")).is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
        let herald: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
        js.push(Mfe {
            name,
            dir,
            kind: Kind::Js,
            version: herald["version"].as_str().unwrap_or("0.0.0").to_owned(),
            herald,
            trunk_main: false,
        });
    }
    js.sort_by(|a, b| a.name.cmp(&b.name));
    rust.extend(js);
    Ok(rust)
}

/// The folder `index.html` builds as trunk's main module: its `<link data-trunk
/// rel="rust" href="…">`.
pub fn trunk_main(root: &Path) -> Result<Option<PathBuf>, String> {
    let path = root.join("index.html");
    let html = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(main_of(&html).map(PathBuf::from))
}

fn main_of(html: &str) -> Option<&str> {
    html.split("<link").skip(1).find_map(|tag| {
        let tag = &tag[..tag.find('>')?];
        if !(tag.contains("data-trunk") && tag.contains("rel=\"rust\"")) {
            return None;
        }
        let start = tag.find("href=\"")? + "href=\"".len();
        let end = tag[start..].find('"')? + start;
        Some(&tag[start..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_module_is_the_trunk_rust_link() {
        let html = r#"<link data-trunk rel="css" href="a.css">
            <link data-trunk rel="rust" href="www/nop-noise-meter" data-wasm-opt="z">"#;
        assert_eq!(main_of(html), Some("www/nop-noise-meter"));
        assert_eq!(main_of("<link rel=\"stylesheet\" href=\"x\">"), None);
    }

    #[test]
    fn mfes_are_the_crates_with_herald_tags_and_the_js_folders() {
        let root = std::env::temp_dir().join(format!("herald-mfes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("www/plain")).unwrap();
        std::fs::write(root.join("www/plain/plain.js"), "").unwrap();
        std::fs::write(root.join("www/plain/herald.json"), r#"{"version": "0.2.0", "tags": ["plain-x"]}"#).unwrap();
        std::fs::create_dir_all(root.join("www/notes")).unwrap(); // no herald.json: not an MFE
        let at = |dir: &str| root.join(dir).join("Cargo.toml").display().to_string();
        let metadata = serde_json::json!({"packages": [
            {"name": "b-mfe", "version": "0.1.0", "manifest_path": at("www/b-mfe"),
             "metadata": {"herald": {"tags": ["b-mfe"]}}},
            {"name": "a-mfe", "version": "0.1.0", "manifest_path": at("www/a-mfe"),
             "metadata": {"herald": {"tags": ["a-mfe"]}}},
            {"name": "a-lib", "version": "0.1.0", "manifest_path": at("crates/a-lib"), "metadata": null},
        ]});
        let found = from_metadata(&root, &metadata, Some(Path::new("www/b-mfe"))).unwrap();
        let names: Vec<(&str, Kind, bool)> = found.iter().map(|m| (m.name.as_str(), m.kind, m.trunk_main)).collect();
        assert_eq!(names, [("a-mfe", Kind::Rust, false), ("b-mfe", Kind::Rust, true), ("plain", Kind::Js, false)]);
        assert_eq!(found[2].version, "0.2.0");
        let _ = std::fs::remove_dir_all(&root);
    }
}
