//! `cargo xtask schema [--check]`: the NOP contracts as JSON Schemas and TypeScript.

use std::path::{Path, PathBuf};

use crate::{root, say};

/// Where the generated files live, relative to the workspace root.
const SCHEMA_DIR: &str = "docs/schemas";
const TYPESCRIPT_FILE: &str = "docs/nop-events.d.ts";

/// Every generated file: path and content.
pub fn generated() -> Vec<(PathBuf, String)> {
    let contracts = nop_events::contracts();
    let mut files: Vec<(PathBuf, String)> = contracts
        .iter()
        .map(|c| (Path::new(SCHEMA_DIR).join(c.file_name()), c.schema_file()))
        .collect();
    files.push((PathBuf::from(TYPESCRIPT_FILE), herald_schema::typescript(&contracts)));
    files
}

/// The generated files that differ from what is committed (missing ones included).
pub fn stale(root: &Path) -> Vec<PathBuf> {
    generated()
        .into_iter()
        .filter(|(path, content)| std::fs::read_to_string(root.join(path)).ok().as_deref() != Some(content))
        .map(|(path, _)| path)
        .collect()
}

pub fn schema(check: bool) -> Result<(), String> {
    let root = root();
    if check {
        let stale = stale(&root);
        if stale.is_empty() {
            say("schemas and TypeScript declarations match the Rust event types");
            return Ok(());
        }
        let list: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
        return Err(format!("out of date (run `cargo xtask schema`): {}", list.join(", ")));
    }
    std::fs::create_dir_all(root.join(SCHEMA_DIR)).map_err(|e| e.to_string())?;
    for (path, content) in generated() {
        std::fs::write(root.join(&path), content).map_err(|e| format!("{}: {e}", path.display()))?;
        say(&format!("wrote {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    #[test]
    fn committed_schemas_and_declarations_match_the_rust_types() {
        let stale = super::stale(&crate::root());
        assert!(stale.is_empty(), "out of date, run `cargo xtask schema`: {stale:?}");
    }

    #[test]
    fn every_contract_has_a_schema_file_and_an_event_map_entry() {
        let files = super::generated();
        let dts = &files.last().unwrap().1;
        for contract in nop_events::contracts() {
            assert!(files.iter().any(|(p, _)| p.ends_with(contract.file_name())));
            assert!(dts.contains(&format!("\"herald:{}\"", contract.ty)), "{}", contract.ty);
        }
    }
}
