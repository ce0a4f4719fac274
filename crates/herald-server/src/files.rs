//! The page's static files (`--static-dir`), served as a page wants them
//! (docs/protocol.md §3.7):
//!
//! - a precompressed variant (`NAME.br`, `NAME.gz`, written by `cargo xtask build`/`dist`)
//!   when the request's `Accept-Encoding` takes it, with `Vary: Accept-Encoding`;
//! - an `ETag` per representation (the served file's length and modification time) and
//!   `Last-Modified`, answered `304` on `If-None-Match` (else `If-Modified-Since`);
//! - `Cache-Control: public, max-age=31536000, immutable` for a name that carries a
//!   content hash, `no-cache` (revalidate every time) for every other;
//! - only files that really lie inside the folder: a symbolic link leading out is `404`.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppError;

/// `Cache-Control` of a file whose name carries a content hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of every other file: stored, but revalidated before each use.
pub const REVALIDATE: &str = "no-cache";

/// The precompressed variants looked for, in the order preferred at equal quality.
const VARIANTS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// The static folder, canonical, as the file routes share it.
#[derive(Debug, Clone)]
pub(crate) struct StaticDir {
    root: Arc<PathBuf>,
}

impl StaticDir {
    pub(crate) fn new(dir: &Path) -> StaticDir {
        StaticDir { root: Arc::new(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned())) }
    }
}

/// Whether `name` (a file name) carries a content hash: a `-` and 12 to 16 lowercase hex
/// digits, right before the extension or before `_bg` (trunk's `app-1a2b…_bg.wasm`,
/// `cargo xtask dist`'s `app-1a2b….js`).
pub fn is_hashed_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let Some((_, hash)) = stem.rsplit_once('-') else { return false };
    (12..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The encodings `accept` (an `Accept-Encoding` value) takes, with their quality; a
/// coding it names with `q=0` is refused even if `*` would take it.
fn quality(accept: &str, coding: &str) -> f32 {
    let mut star = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case(coding) {
            return q;
        }
        if name == "*" {
            star = Some(q);
        }
    }
    star.unwrap_or(0.0)
}

/// The path of the request's file inside `root`, or `None` for a path no file can have
/// (`..`, a backslash, a NUL, bad percent-encoding).
fn relative_path(uri_path: &str) -> Option<PathBuf> {
    let decoded = crate::ingest::percent_decode(uri_path)?;
    if decoded.contains('\\') || decoded.contains('\0') {
        return None;
    }
    let mut path = PathBuf::new();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(path)
}

/// `"LEN-MTIME"` in hex, with the coding: one per representation, as RFC 9110 §8.8.3 wants.
fn etag(meta: &std::fs::Metadata, coding: Option<&str>) -> String {
    let nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    match coding {
        Some(coding) => format!("\"{:x}-{nanos:x}-{coding}\"", meta.len()),
        None => format!("\"{:x}-{nanos:x}\"", meta.len()),
    }
}

/// Whether `If-None-Match` (weak comparison, RFC 9110 §13.1.2) matches `tag`.
fn none_match(value: &str, tag: &str) -> bool {
    let tag = tag.trim_start_matches("W/");
    value.trim() == "*" || value.split(',').any(|candidate| candidate.trim().trim_start_matches("W/") == tag)
}

/// Whether the file, modified at `modified`, is no newer than `If-Modified-Since`.
fn not_modified_since(value: &str, modified: SystemTime) -> bool {
    let Ok(since) = httpdate_parse(value) else { return false };
    let modified = modified.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    modified <= since
}

fn httpdate_parse(value: &str) -> Result<u64, ()> {
    let at = httpdate::parse_http_date(value.trim()).map_err(|_| ())?;
    at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).map_err(|_| ())
}

fn http_date(at: SystemTime) -> String {
    httpdate::fmt_http_date(at)
}

/// The `Content-Type` for a file named `name`.
fn content_type(name: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "xml");
    let value = if text && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// The fallback route: the file of the request's path, `index.html` for a folder.
pub(crate) async fn serve_file(State(dir): State<StaticDir>, request: Request) -> Response {
    let method = request.method().clone();
    if method != Method::GET && method != Method::HEAD {
        let mut response = AppError::MethodNotAllowed(format!("this route does not take {method}")).into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some(relative) = relative_path(request.uri().path()) else {
        return AppError::NotFound.into_response();
    };
    let mut path = dir.root.join(&relative);
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return AppError::NotFound.into_response();
    };
    if meta.is_dir() {
        if !request.uri().path().ends_with('/') {
            // relative URLs in the folder's index resolve against the folder
            let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
            let location = format!("{}/{query}", request.uri().path());
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return response;
        }
        path.push("index.html");
    }
    // only what really lies inside the folder, links followed
    match tokio::fs::canonicalize(&path).await {
        Ok(resolved) if resolved.starts_with(dir.root.as_path()) => {}
        _ => return AppError::NotFound.into_response(),
    }
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return AppError::NotFound.into_response();
    };
    if !meta.is_file() {
        return AppError::NotFound.into_response();
    }
    let accept = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // the variant: the acceptable one of highest quality, br first at equal quality
    let mut has_variants = false;
    let mut chosen: Option<(&str, PathBuf, std::fs::Metadata, f32)> = None;
    for (coding, suffix) in VARIANTS {
        let mut variant = path.clone().into_os_string();
        variant.push(suffix);
        let variant = PathBuf::from(variant);
        let Ok(variant_meta) = tokio::fs::metadata(&variant).await else { continue };
        if !variant_meta.is_file() {
            continue;
        }
        match tokio::fs::canonicalize(&variant).await {
            Ok(resolved) if resolved.starts_with(dir.root.as_path()) => {}
            _ => continue,
        }
        has_variants = true;
        let q = quality(accept, coding);
        if q > 0.0 && chosen.as_ref().is_none_or(|(_, _, _, best)| q > *best) {
            chosen = Some((coding, variant, variant_meta, q));
        }
    }
    let identity_refused = quality(accept, "identity") == 0.0 && accept.contains("identity");
    let (coding, file, meta) = match chosen {
        Some((coding, file, meta, _)) => (Some(coding), file, meta),
        None if identity_refused => {
            return crate::error::problem(
                StatusCode::NOT_ACCEPTABLE,
                "no representation of this file has an encoding that Accept-Encoding takes",
            );
        }
        None => (None, path.clone(), meta),
    };

    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let tag = etag(&meta, coding);
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    let modified = meta.modified().ok();
    if let Some(value) = modified.map(http_date).and_then(|d| HeaderValue::from_str(&d).ok()) {
        headers.insert(header::LAST_MODIFIED, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if is_hashed_name(name) { IMMUTABLE } else { REVALIDATE }),
    );
    if has_variants {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    let conditional = request.headers();
    let not_modified = match conditional.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        Some(value) => none_match(value, &tag),
        None => conditional
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .zip(modified)
            .is_some_and(|(value, modified)| not_modified_since(value, modified)),
    };
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, content_type(&path));
    if let Some(coding) = coding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    if method == Method::HEAD {
        return (StatusCode::OK, headers).into_response();
    }
    match tokio::fs::File::open(&file).await {
        Ok(file) => (StatusCode::OK, headers, Body::from_stream(tokio_util::io::ReaderStream::new(file))).into_response(),
        Err(_) => AppError::NotFound.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_those_of_trunk_and_dist() {
        assert!(is_hashed_name("nop-noise-meter-1a2b3c4d5e6f7a8b.js"));
        assert!(is_hashed_name("nop-noise-meter-1a2b3c4d5e6f7a8b_bg.wasm"));
        assert!(is_hashed_name("nop_sensor_list_bg-0011223344556677.wasm"));
        assert!(is_hashed_name("nop-1a2b3c4d5e6f.css"));
        assert!(!is_hashed_name("index.html"));
        assert!(!is_hashed_name("loader.js"));
        assert!(!is_hashed_name("nop-sensor-list.js"));
        assert!(!is_hashed_name("nop-deadbeef.js"));
        assert!(!is_hashed_name("nop-1A2B3C4D5E6F7A8B.js"));
    }

    #[test]
    fn accept_encoding_qualities() {
        assert_eq!(quality("gzip, deflate, br, zstd", "br"), 1.0);
        assert_eq!(quality("gzip;q=0.5, br;q=0", "br"), 0.0);
        assert_eq!(quality("gzip;q=0.5", "gzip"), 0.5);
        assert_eq!(quality("*", "br"), 1.0);
        assert_eq!(quality("*;q=0.2, br;q=0", "br"), 0.0);
        assert_eq!(quality("", "gzip"), 0.0);
    }

    #[test]
    fn paths_out_of_the_folder_are_refused() {
        assert_eq!(relative_path("/a/b.js"), Some(PathBuf::from("a/b.js")));
        assert_eq!(relative_path("/a/./b.js"), Some(PathBuf::from("a/b.js")));
        assert_eq!(relative_path("/a/../../etc/passwd"), None);
        assert_eq!(relative_path("/a/%2e%2e/b"), None);
        assert_eq!(relative_path("/a\\b"), None);
        assert_eq!(relative_path("/a%00b"), None);
        assert_eq!(relative_path("/%zz"), None);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(none_match("\"1-2\"", "\"1-2\""));
        assert!(none_match("W/\"1-2\"", "\"1-2\""));
        assert!(none_match("\"x\", \"1-2\"", "\"1-2\""));
        assert!(none_match("*", "\"1-2\""));
        assert!(!none_match("\"1-3\"", "\"1-2\""));
    }

    #[test]
    fn http_dates_read_back() {
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let text = http_date(at);
        assert_eq!(text, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(httpdate_parse(&text), Ok(1_700_000_000));
    }
}
