//! The page's static files as docs/protocol.md §3.7 says: precompressed variants by
//! `Accept-Encoding`, `ETag` and `Last-Modified` with `304`s, `Cache-Control` by name.

mod common;

use common::start;
use herald_server::{AppState, EventLog};

struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<h1>NOP</h1>").unwrap();
        std::fs::create_dir(dir.path().join("mfe")).unwrap();
        std::fs::write(dir.path().join("mfe/index.html"), "<p>mfe</p>").unwrap();
        // a hashed module with both variants, an unhashed loader with gzip only
        std::fs::write(dir.path().join("app-0123456789abcdef.js"), "export const plain = 1;").unwrap();
        std::fs::write(dir.path().join("app-0123456789abcdef.js.br"), "BROTLI").unwrap();
        std::fs::write(dir.path().join("app-0123456789abcdef.js.gz"), "GZIP").unwrap();
        std::fs::write(dir.path().join("loader.js"), "import './app.js';").unwrap();
        std::fs::write(dir.path().join("loader.js.gz"), "GZ-LOADER").unwrap();
        Site { dir }
    }
}

async fn get(gw: &common::Gateway, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = gw.client.get(format!("{}{path}", gw.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_variant_follows_accept_encoding_and_varies_by_it() {
    let site = Site::new();
    let gw = start(AppState::new(EventLog::in_memory()).with_static_dir(site.dir.path())).await;
    let path = "/app-0123456789abcdef.js";
    let cases = [
        // (Accept-Encoding, Content-Encoding, body)
        (Some("gzip, deflate, br, zstd"), Some("br"), "BROTLI"), // what Chromium asks for
        (Some("gzip"), Some("gzip"), "GZIP"),
        (Some("br;q=0.5, gzip"), Some("gzip"), "GZIP"),
        (Some("br;q=0, gzip;q=0"), None, "export const plain = 1;"),
        (Some("*"), Some("br"), "BROTLI"),
        (Some("deflate"), None, "export const plain = 1;"),
        (None, None, "export const plain = 1;"),
    ];
    for (accept, encoding, body) in cases {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("accept-encoding", *a)).collect();
        let response = get(&gw, path, &headers).await;
        assert_eq!(response.status(), 200, "{accept:?}");
        assert_eq!(header(&response, "content-encoding"), encoding, "{accept:?}");
        assert_eq!(header(&response, "vary"), Some("accept-encoding"), "{accept:?}");
        assert_eq!(header(&response, "content-type"), Some("text/javascript; charset=utf-8"), "{accept:?}");
        assert_eq!(header(&response, "content-length"), Some(body.len().to_string().as_str()));
        assert_eq!(response.text().await.unwrap(), body, "{accept:?}");
    }
    // only the variants there are: the loader has a gzip one, not a brotli one
    let loader = get(&gw, "/loader.js", &[("accept-encoding", "br, gzip")]).await;
    assert_eq!(header(&loader, "content-encoding"), Some("gzip"));
    assert_eq!(loader.text().await.unwrap(), "GZ-LOADER");
    // a file without variants does not vary
    let page = get(&gw, "/", &[("accept-encoding", "br, gzip")]).await;
    assert_eq!(header(&page, "content-encoding"), None);
    assert_eq!(header(&page, "vary"), None);
    assert_eq!(page.text().await.unwrap(), "<h1>NOP</h1>");
    // identity refused and no variant: 406
    let refused = get(&gw, "/", &[("accept-encoding", "identity;q=0")]).await;
    assert_eq!(refused.status(), 406);
    assert_eq!(header(&refused, "content-type"), Some("application/problem+json"));
}

#[tokio::test]
async fn hashed_names_are_immutable_and_the_rest_revalidated() {
    let site = Site::new();
    let gw = start(AppState::new(EventLog::in_memory()).with_static_dir(site.dir.path())).await;
    for (path, cache) in [
        ("/app-0123456789abcdef.js", "public, max-age=31536000, immutable"),
        ("/loader.js", "no-cache"),
        ("/", "no-cache"),
        ("/index.html", "no-cache"),
    ] {
        let response = get(&gw, path, &[]).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "cache-control"), Some(cache), "{path}");
    }
}

#[tokio::test]
async fn etags_differ_per_representation_and_answer_304() {
    let site = Site::new();
    let gw = start(AppState::new(EventLog::in_memory()).with_static_dir(site.dir.path())).await;
    let path = "/app-0123456789abcdef.js";
    let br = get(&gw, path, &[("accept-encoding", "br")]).await;
    let gz = get(&gw, path, &[("accept-encoding", "gzip")]).await;
    let plain = get(&gw, path, &[]).await;
    let tags: Vec<String> = [&br, &gz, &plain].iter().map(|r| header(r, "etag").unwrap().to_owned()).collect();
    for tag in &tags {
        assert!(tag.starts_with('"') && tag.ends_with('"'), "a strong entity tag: {tag}");
    }
    assert_ne!(tags[0], tags[1]);
    assert_ne!(tags[0], tags[2]);
    assert_ne!(tags[1], tags[2]);

    // revalidation: the same representation's tag (also weak, also in a list) is 304
    for condition in [tags[0].clone(), format!("W/{}", tags[0]), format!("\"other\", {}", tags[0]), "*".into()] {
        let again = get(&gw, path, &[("accept-encoding", "br"), ("if-none-match", &condition)]).await;
        assert_eq!(again.status(), 304, "{condition}");
        assert_eq!(header(&again, "etag"), Some(tags[0].as_str()));
        assert_eq!(header(&again, "cache-control"), Some("public, max-age=31536000, immutable"));
        assert_eq!(header(&again, "vary"), Some("accept-encoding"));
        assert!(again.bytes().await.unwrap().is_empty());
    }
    // another representation's tag is not a match
    let other = get(&gw, path, &[("accept-encoding", "br"), ("if-none-match", &tags[1])]).await;
    assert_eq!(other.status(), 200);
    assert_eq!(other.text().await.unwrap(), "BROTLI");

    // If-Modified-Since, when there is no If-None-Match
    let modified = header(&plain, "last-modified").unwrap().to_owned();
    let since = get(&gw, "/loader.js", &[("if-modified-since", &modified)]).await;
    assert_eq!(since.status(), 304);
    let old = get(&gw, "/loader.js", &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")]).await;
    assert_eq!(old.status(), 200);
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3)
    let both = get(&gw, "/loader.js", &[("if-none-match", "\"other\""), ("if-modified-since", &modified)]).await;
    assert_eq!(both.status(), 200);

    // a changed file has a new tag
    std::fs::write(site.dir.path().join("loader.js"), "import './app2.js'; // longer now").unwrap();
    std::fs::remove_file(site.dir.path().join("loader.js.gz")).unwrap();
    let first = get(&gw, "/loader.js", &[]).await;
    let tag = header(&first, "etag").unwrap().to_owned();
    std::fs::write(site.dir.path().join("loader.js"), "import './app3.js'; // and longer still").unwrap();
    let changed = get(&gw, "/loader.js", &[("if-none-match", &tag)]).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(header(&changed, "etag"), Some(tag.as_str()));
}

#[tokio::test]
async fn head_folders_and_methods() {
    let site = Site::new();
    let gw = start(AppState::new(EventLog::in_memory()).with_static_dir(site.dir.path())).await;
    let head = gw
        .client
        .head(format!("{}/app-0123456789abcdef.js", gw.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    assert_eq!(header(&head, "content-length"), Some("4"));
    assert!(header(&head, "etag").is_some());
    assert!(head.bytes().await.unwrap().is_empty());

    // a folder without its slash is redirected to it, keeping the query
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let folder = client.get(format!("{}/mfe?x=1", gw.base)).send().await.unwrap();
    assert_eq!(folder.status(), 307);
    assert_eq!(header(&folder, "location"), Some("/mfe/?x=1"));
    let index = get(&gw, "/mfe/", &[]).await;
    assert_eq!(index.text().await.unwrap(), "<p>mfe</p>");

    let post = gw.client.post(format!("{}/loader.js", gw.base)).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(header(&post, "allow"), Some("GET,HEAD"));
    for missing in ["/nope.js", "/../etc/passwd", "/%2e%2e/etc/passwd"] {
        assert_eq!(get(&gw, missing, &[]).await.status(), 404, "{missing}");
    }
}
