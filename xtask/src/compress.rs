//! Precompressed variants of a built page's files: `NAME.br` (brotli, quality 11) and
//! `NAME.gz` (gzip -9) beside each text or wasm file, written only where they are
//! smaller. The gateway serves them by `Accept-Encoding` (docs/protocol.md §3.7).

use std::io::Write;
use std::path::Path;

/// The extensions worth compressing: text and wasm (images and fonts are compressed
/// already).
const COMPRESSIBLE: [&str; 10] = ["html", "js", "mjs", "css", "wasm", "json", "svg", "txt", "map", "xml"];

/// What precompressing a folder did: files seen, and bytes before and after (brotli).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compressed {
    pub files: usize,
    pub bytes: u64,
    pub brotli: u64,
    pub gzip: u64,
}

/// Writes the variants of every compressible file under `dir` (and removes variants whose
/// file is gone or no longer gains from them).
pub fn precompress(dir: &Path) -> Result<Compressed, String> {
    let mut total = Compressed::default();
    walk(dir, &mut total)?;
    Ok(total)
}

fn walk(dir: &Path, total: &mut Compressed) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            walk(&path, total)?;
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "br" || ext == "gz" {
            // a variant whose original is gone is stale
            if !path.with_extension("").is_file() {
                std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            continue;
        }
        if !COMPRESSIBLE.contains(&ext) {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        total.files += 1;
        total.bytes += bytes.len() as u64;
        let brotli = brotli_bytes(&bytes)?;
        let gzip = gzip_bytes(&bytes)?;
        total.brotli += write_variant(&path, "br", &bytes, &brotli)?;
        total.gzip += write_variant(&path, "gz", &bytes, &gzip)?;
    }
    Ok(())
}

/// Writes `PATH.suffix` if `variant` is smaller than `original` (else removes it); the
/// bytes a client then gets for the file.
fn write_variant(path: &Path, suffix: &str, original: &[u8], variant: &[u8]) -> Result<u64, String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    let target = Path::new(&name);
    if variant.len() < original.len() {
        std::fs::write(target, variant).map_err(|e| format!("{}: {e}", target.display()))?;
        Ok(variant.len() as u64)
    } else {
        let _ = std::fs::remove_file(target);
        Ok(original.len() as u64)
    }
}

/// `bytes` compressed with brotli at quality 11, window 2^22.
pub fn brotli_bytes(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(bytes.len() / 3);
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        writer.write_all(bytes).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// `bytes` compressed with gzip at level 9.
pub fn gzip_bytes(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).map_err(|e| e.to_string())?;
    encoder.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    #[test]
    fn variants_are_written_where_they_gain_and_read_back() {
        let dir = std::env::temp_dir().join(format!("herald-compress-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let text = "export function f() { return 42; }\n".repeat(200);
        std::fs::write(dir.join("sub/app.js"), &text).unwrap();
        std::fs::write(dir.join("tiny.css"), "a{}").unwrap();
        std::fs::write(dir.join("photo.png"), [0u8; 4096]).unwrap();
        std::fs::write(dir.join("gone.js.br"), "stale").unwrap();
        let done = super::precompress(&dir).unwrap();
        assert_eq!(done.files, 2);
        let br = std::fs::read(dir.join("sub/app.js.br")).unwrap();
        let mut back = String::new();
        brotli::Decompressor::new(&br[..], 4096).read_to_string(&mut back).unwrap();
        assert_eq!(back, text);
        let gz = std::fs::read(dir.join("sub/app.js.gz")).unwrap();
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut back).unwrap();
        assert_eq!(back, text);
        // no gain, no variant; not compressible, not touched; a stale variant removed
        assert!(!dir.join("tiny.css.br").exists());
        assert!(!dir.join("photo.png.br").exists());
        assert!(!dir.join("gone.js.br").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
