//! Release builds shorten the names between wasm-bindgen's glue and its wasm module.
//!
//! wasm-bindgen names every import after the Rust item it binds plus a 16-hex-digit hash
//! (`__wbg_herald_dispatch_4500246b63a17e2b`) and exports closures' entry points after their
//! mangled paths; each name is written twice, in the wasm's import or export section and in
//! the glue. Hashes do not compress: about 2.5 KB of every module's gzipped size. The names
//! are private to the pair (the glue's import object, its `wasm.` calls), so after wasm-opt
//! they become `a`, `b`, …, the same in both files, as Emscripten's
//! `--minify-imports-and-exports` does. What the glue exports to JavaScript (`start`, the
//! classes) keeps its names, and so do the imports of snippets (their own export names)
//! and the `memory` export.
//!
//! The glue is read as wasm-bindgen 0.2.130 writes it, before terser: each import is one
//! `name: function` entry of the import object, each export is called as `wasm.name`. A
//! name found otherwise is an error, never a silently broken module.

use std::collections::HashMap;
use std::path::Path;

/// Shortens the glue-private names of the module `wasm` (`X_bg.wasm`) and its glue `js`
/// (`X.js`), in place; how many names were shortened.
pub fn shorten_files(js: &Path, wasm: &Path) -> Result<usize, String> {
    let glue = std::fs::read_to_string(js).map_err(|e| format!("{}: {e}", js.display()))?;
    let module = std::fs::read(wasm).map_err(|e| format!("{}: {e}", wasm.display()))?;
    let (glue, module, renamed) =
        shorten(&glue, &module).map_err(|e| format!("{} and {}: {e}", js.display(), wasm.display()))?;
    std::fs::write(js, glue).map_err(|e| format!("{}: {e}", js.display()))?;
    std::fs::write(wasm, module).map_err(|e| format!("{}: {e}", wasm.display()))?;
    Ok(renamed)
}

/// Shortens every `X_bg.wasm` with its `X.js` directly in `dir` (trunk's output); how many
/// modules.
pub fn shorten_dir(dir: &Path) -> Result<usize, String> {
    let mut modules = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix("_bg.wasm")) else {
            continue;
        };
        let js = dir.join(format!("{stem}.js"));
        if js.is_file() {
            shorten_files(&js, &path)?;
            modules += 1;
        }
    }
    Ok(modules)
}

/// `glue` and `wasm` with the names private to them shortened; how many.
pub fn shorten(glue: &str, wasm: &[u8]) -> Result<(String, Vec<u8>, usize), String> {
    let sections = sections(wasm)?;
    let mut imports = HashMap::new();
    let mut exports = HashMap::new();
    let mut out = wasm[..8].to_vec();
    for (id, body) in &sections {
        let body = match id {
            2 => rewrite_imports(body, &mut imports)?,
            7 => rewrite_exports(body, glue, &mut exports)?,
            _ => body.to_vec(),
        };
        out.push(*id);
        leb(body.len() as u64, &mut out);
        out.extend_from_slice(&body);
    }
    if imports.is_empty() {
        return Err("no import of wasm-bindgen's glue module (`./*_bg.js`)".into());
    }
    let glue = rewrite_glue(glue, &imports, &exports)?;
    Ok((glue, out, imports.len() + exports.len()))
}

/// The next short name of `renamed`'s kind (imports or exports), recorded for `field`.
fn rename(field: &str, renamed: &mut HashMap<String, String>) -> String {
    let name = short(renamed.len());
    renamed.insert(field.to_owned(), name.clone());
    name
}

/// Whether `byte` may be part of a JavaScript identifier (of the ASCII ones wasm-bindgen writes).
fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$'
}

/// The `n`th short name: `a`…`z`, `A`…`Z`, then two letters, and so on.
fn short(mut n: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = Vec::new();
    loop {
        name.push(LETTERS[n % LETTERS.len()]);
        n /= LETTERS.len();
        if n == 0 {
            break;
        }
        n -= 1;
    }
    name.reverse();
    String::from_utf8(name).expect("letters")
}

/// The module's sections, id and body, after the 8-byte header.
fn sections(wasm: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("not a wasm module".into());
    }
    let mut at = 8;
    let mut out = Vec::new();
    while at < wasm.len() {
        let id = wasm[at];
        let mut reader = Reader { bytes: wasm, at: at + 1 };
        let size = reader.leb()? as usize;
        let body = reader.take(size)?;
        out.push((id, body));
        at = reader.at;
    }
    Ok(out)
}

fn rewrite_imports(body: &[u8], renamed: &mut HashMap<String, String>) -> Result<Vec<u8>, String> {
    let mut reader = Reader { bytes: body, at: 0 };
    let count = reader.leb()?;
    let mut out = Vec::new();
    leb(count, &mut out);
    for _ in 0..count {
        let module = reader.name()?;
        let field = reader.name()?;
        let start = reader.at;
        match reader.byte()? {
            0 => drop(reader.leb()?), // function: type index
            1 => {
                reader.byte()?; // table: element type, then limits
                reader.limits()?;
            }
            2 => reader.limits()?, // memory
            3 => drop(reader.take(2)?), // global: value type, mutability
            4 => {
                reader.byte()?; // tag: attribute, type index
                reader.leb()?;
            }
            kind => return Err(format!("import `{field}` of an unknown kind {kind}")),
        }
        let desc = &body[start..reader.at];
        let glue_module = module.starts_with("./") && module.ends_with("_bg.js") && !module.starts_with("./snippets/");
        let field = if glue_module { rename(field, renamed) } else { field.to_owned() };
        write_name(module, &mut out);
        write_name(&field, &mut out);
        out.extend_from_slice(desc);
    }
    Ok(out)
}

/// The exports renamed: those the glue calls as `wasm.name` but `memory` (what the glue
/// does not call may be someone else's to call).
fn rewrite_exports(body: &[u8], glue: &str, renamed: &mut HashMap<String, String>) -> Result<Vec<u8>, String> {
    let mut reader = Reader { bytes: body, at: 0 };
    let count = reader.leb()?;
    let mut out = Vec::new();
    leb(count, &mut out);
    for _ in 0..count {
        let field = reader.name()?;
        let kind = reader.byte()?;
        let index = reader.leb()?;
        let field = if field == "memory" || !calls(glue, field) { field.to_owned() } else { rename(field, renamed) };
        write_name(&field, &mut out);
        out.push(kind);
        leb(index, &mut out);
    }
    Ok(out)
}

/// Whether `glue` calls `wasm.name`.
fn calls(glue: &str, name: &str) -> bool {
    let call = format!("wasm.{name}");
    glue.match_indices(&call).any(|(at, _)| {
        !glue.as_bytes().get(at + call.len()).copied().is_some_and(is_ident)
    })
}

/// The glue with each import's `name:` key and each `wasm.name` of an export renamed; an
/// import named other than as exactly one key is an error.
fn rewrite_glue(glue: &str, imports: &HashMap<String, String>, exports: &HashMap<String, String>) -> Result<String, String> {
    let bytes = glue.as_bytes();
    let mut out = String::with_capacity(glue.len());
    let mut keys: HashMap<&str, usize> = HashMap::new();
    let (mut at, mut copied) = (0, 0);
    while at < bytes.len() {
        if !is_ident(bytes[at]) {
            at += 1;
            continue;
        }
        let start = at;
        while at < bytes.len() && is_ident(bytes[at]) {
            at += 1;
        }
        let word = &glue[start..at];
        let after = glue[at..].trim_start();
        let member = glue[..start].ends_with('.');
        let new = if let Some(new) = imports.get(word).filter(|_| !member && after.starts_with(':')) {
            *keys.entry(word).or_default() += 1;
            Some(new)
        } else if let Some(new) = exports.get(word).filter(|_| glue[..start].ends_with("wasm.")) {
            Some(new)
        } else {
            if imports.contains_key(word) {
                return Err(format!("the glue names import `{word}` other than as its import object's key"));
            }
            None
        };
        if let Some(new) = new {
            out.push_str(&glue[copied..start]);
            out.push_str(new);
            copied = at;
        }
    }
    out.push_str(&glue[copied..]);
    for name in imports.keys() {
        if keys.get(name.as_str()) != Some(&1) {
            return Err(format!("import `{name}` is not one key of the glue's import object"));
        }
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let byte = *self.bytes.get(self.at).ok_or("the module ends inside a section")?;
        self.at += 1;
        Ok(byte)
    }

    fn leb(&mut self) -> Result<u64, String> {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let byte = self.byte()?;
            if shift > 63 {
                return Err("a LEB128 number over 64 bits".into());
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or("the module ends inside a section")?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn name(&mut self) -> Result<&'a str, String> {
        let len = self.leb()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| "a name that is not UTF-8".to_owned())
    }

    fn limits(&mut self) -> Result<(), String> {
        let flags = self.byte()?;
        self.leb()?;
        if flags & 1 != 0 {
            self.leb()?;
        }
        Ok(())
    }
}

fn leb(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_name(name: &str, out: &mut Vec<u8>) {
    leb(name.len() as u64, out);
    out.extend_from_slice(name.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module importing two glue functions and one snippet function, exporting a
    /// function and its memory.
    fn module() -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let section = |id: u8, body: Vec<u8>, wasm: &mut Vec<u8>| {
            wasm.push(id);
            leb(body.len() as u64, wasm);
            wasm.extend(body);
        };
        section(1, vec![1, 0x60, 0, 0], &mut wasm); // one type: [] -> []
        let mut imports = vec![3];
        for (module, field) in [
            ("./m_bg.js", "__wbg_herald_dispatch_0123456789abcdef"),
            ("./snippets/herald-bus-1/inline0.js", "herald_listen"),
            ("./m_bg.js", "__wbindgen_init_externref_table"),
        ] {
            write_name(module, &mut imports);
            write_name(field, &mut imports);
            imports.extend([0, 0]);
        }
        section(2, imports, &mut wasm);
        section(3, vec![1, 0], &mut wasm); // one function of type 0
        section(5, vec![1, 0, 1], &mut wasm); // a memory of one page
        let mut exports = vec![2];
        write_name("memory", &mut exports);
        exports.extend([2, 0]);
        write_name("__wbindgen_malloc", &mut exports);
        exports.extend([0, 3]);
        section(7, exports, &mut wasm);
        section(10, vec![1, 2, 0, 0x0b], &mut wasm); // its body: end
        wasm
    }

    const GLUE: &str = "function imports() { return { \"./m_bg.js\": {\n\
        __wbg_herald_dispatch_0123456789abcdef: function(arg0) { herald_dispatch(arg0); },\n\
        __wbindgen_init_externref_table: function() {},\n\
        }}; }\n\
        export function malloc(n) { return wasm.__wbindgen_malloc(n); }\n\
        const view = new Uint8Array(wasm.memory.buffer);";

    #[test]
    fn glue_private_names_are_shortened_in_both_files_alike() {
        let (glue, wasm, renamed) = shorten(GLUE, &module()).unwrap();
        assert_eq!(renamed, 3);
        assert!(glue.contains("{\na: function(arg0) { herald_dispatch(arg0); },\nb: function() {},"), "{glue}");
        assert!(glue.contains("export function malloc(n) { return wasm.a(n); }"), "{glue}");
        assert!(glue.contains("wasm.memory.buffer"), "{glue}");
        let text = String::from_utf8_lossy(&wasm);
        assert!(!text.contains("0123456789abcdef") && !text.contains("__wbindgen"), "{text:?}");
        assert!(text.contains("herald_listen") && text.contains("memory"));
        let sections = sections(&wasm).unwrap();
        assert_eq!(sections.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2, 3, 5, 7, 10]);
    }

    #[test]
    fn a_glue_that_names_an_import_otherwise_is_an_error_not_a_broken_module() {
        let odd = GLUE.replace("herald_dispatch(arg0); }", "herald_dispatch(arg0); }, x: \"__wbg_herald_dispatch_0123456789abcdef\"");
        let error = shorten(&odd, &module()).unwrap_err();
        assert!(error.contains("__wbg_herald_dispatch_0123456789abcdef"), "{error}");
        // an export the glue does not call keeps its name
        let uncalled = GLUE.replace("wasm.__wbindgen_malloc", "wasm[\"__wbindgen_malloc\"]");
        let (glue, wasm, renamed) = shorten(&uncalled, &module()).unwrap();
        assert_eq!(renamed, 2);
        assert!(glue.contains("wasm[\"__wbindgen_malloc\"]") && String::from_utf8_lossy(&wasm).contains("__wbindgen_malloc"));
        assert!(shorten(GLUE, b"\0asm\x01\0\0\0").unwrap_err().contains("no import"));
        assert!(shorten(GLUE, b"not wasm").is_err());
    }
}
