//! Embedding: the micro-frontends of `cargo xtask dist` in pages herald did not build,
//! served by a plain static file server under a path prefix (`/apps/nop/`, relative URLs
//! only), with the gateway on another origin (CORS), under
//! a strict Content-Security-Policy, from a plain-JS host, inside a shadow root, and two
//! versions side by side.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Locator;
use herald_e2e::{noise_reading, workspace_root, Browser, Error, Gateway, StaticServer};

const WAIT: Duration = Duration::from_secs(30);

/// A site like one a user would deploy: `dist/mfe/` and the examples, with the examples'
/// `<meta name="herald-stream">` pointed at the test's gateway.
struct Site {
    dir: PathBuf,
    server: StaticServer,
    gateway: Gateway,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn dist() -> PathBuf {
    std::env::var_os("HERALD_DIST").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("dist"))
}

fn copy_dir(from: &Path, to: &Path, rewrite: &dyn Fn(String) -> String) -> Result<(), Error> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let target = to.join(path.file_name().ok_or("a file without a name")?);
        if path.is_dir() {
            copy_dir(&path, &target, rewrite)?;
        } else if path.extension().is_some_and(|e| e == "html") {
            std::fs::write(&target, rewrite(std::fs::read_to_string(&path)?))?;
        } else {
            std::fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

async fn site() -> Result<Site, Error> {
    let dist = dist();
    if !dist.join("examples/static.html").is_file() {
        return Err(format!("no {} (run `cargo xtask dist`)", dist.join("examples/static.html").display()).into());
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let dir = std::env::temp_dir().join(format!("herald-embed-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let server = StaticServer::start(&dir).await?;
    // the gateway is another origin: it lets the static site's origin in
    let gateway = Gateway::start_with(&["--cors-origin", &server.origin])?;
    let stream = format!("{}/events/stream", gateway.base);
    let rewrite = move |html: String| html.replace("http://127.0.0.1:8787/events/stream", &stream);
    copy_dir(&dist.join("mfe"), &dir.join("mfe"), &rewrite)?;
    copy_dir(&dist.join("examples"), &dir.join("examples"), &rewrite)?;
    Ok(Site { dir, server, gateway })
}

async fn show_readings(browser: &Browser, site: &Site, list: &str, sensor: &str) -> Result<(), Error> {
    let script = format!("return {list}?.querySelector('li[data-sensor=\"{sensor}\"] .nop-db')?.textContent ?? ''");
    post_until_shown(browser, site, sensor, &script).await
}

/// Posts 70 dB readings of `sensor` until `script` returns `70.0 dB`: the stream connects,
/// and each module loads and subscribes, asynchronously (a reading published before a
/// module subscribed is not replayed to it: readings are not retained).
async fn post_until_shown(browser: &Browser, site: &Site, sensor: &str, script: &str) -> Result<(), Error> {
    // every reading a new event id (the gateway drops a repeated one)
    static POSTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    for _ in 0..40 {
        let n = POSTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        site.gateway.post(&noise_reading(&format!("{sensor}-{n}"), sensor, 70.0)).await?;
        if browser.wait_for_script(script, |t| t == "70.0 dB", Duration::from_millis(500)).await.is_ok() {
            return Ok(());
        }
    }
    Err(format!("{sensor} never showed: {script}").into())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_page_under_a_strict_csp_embeds_two_mfes_with_the_gateway_elsewhere() -> Result<(), Error> {
    let site = site().await?;
    Browser::session(async |browser| static_page(&site, browser).await).await
}

async fn static_page(site: &Site, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    client.goto(&format!("{}/examples/static.html", site.server.base)).await?;
    show_readings(browser, site, "document.querySelector('nop-sensor-list')", "s-embed").await?;
    let meter = "return document.querySelector('nop-noise-meter .nop-meter-level')?.textContent ?? ''";
    post_until_shown(browser, site, "s-embed", meter).await?;
    client
        .find(Locator::Css(r#"nop-sensor-list li[data-sensor="s-embed"] button"#))
        .await?
        .click()
        .await?;
    browser.wait_for_text("nop-noise-meter .nop-meter-selected", |t| t == "s-embed", WAIT).await?;
    // the policy is in force (eval is blocked) and nothing of the MFEs violated it
    let csp = client.execute("return window.__csp", vec![]).await?;
    assert_eq!(csp["evalBlocked"], true, "{csp}");
    assert_eq!(csp["violations"], serde_json::json!([]), "{csp}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_js_host_sets_properties_and_hears_events() -> Result<(), Error> {
    let site = site().await?;
    Browser::session(async |browser| host_page(&site, browser).await).await
}

async fn host_page(site: &Site, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    client.goto(&format!("{}/examples/host.html", site.server.base)).await?;
    show_readings(browser, site, "document.querySelector('nop-sensor-list')", "s-host").await?;
    let loud = "return String(document.querySelector('nop-noise-meter .nop-meter-level').classList.contains('nop-loud'))";
    browser.wait_for_script(loud, |t| t == "false", WAIT).await?; // 70 dB, threshold 85
    client
        .execute(
            "const input = document.getElementById('threshold'); input.value = '60'; \
             input.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await?;
    browser.wait_for_script(loud, |t| t == "true", WAIT).await?;
    let threshold = client.execute("return document.querySelector('nop-noise-meter').threshold", vec![]).await?;
    assert_eq!(threshold.as_f64(), Some(60.0));
    // a value the MFE refuses is a TypeError to the host
    client
        .execute(
            "const input = document.getElementById('threshold'); input.value = '500'; \
             input.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await?;
    browser.wait_for_text("#heard", |t| t.contains("refused 500"), WAIT).await?;
    // the host hears the list's event
    client
        .find(Locator::Css(r#"nop-sensor-list li[data-sensor="s-host"] button"#))
        .await?
        .click()
        .await?;
    browser.wait_for_text("#heard", |t| t.starts_with("nop.sensor.selected: sensor s-host"), WAIT).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mfes_inside_another_elements_shadow_root_work() -> Result<(), Error> {
    let site = site().await?;
    Browser::session(async |browser| shadow_page(&site, browser).await).await
}

async fn shadow_page(site: &Site, browser: &Browser) -> Result<(), Error> {
    browser.client.goto(&format!("{}/examples/shadow.html", site.server.base)).await?;
    let root = "document.querySelector('my-dashboard').shadowRoot";
    show_readings(browser, site, &format!("{root}.querySelector('nop-sensor-list')"), "s-shadow").await?;
    browser
        .client
        .execute(&format!("{root}.querySelector('nop-sensor-list li[data-sensor=\"s-shadow\"] button').click()"), vec![])
        .await?;
    browser
        .wait_for_script(
            &format!("return {root}.querySelector('nop-noise-meter .nop-meter-selected').textContent"),
            |t| t == "s-shadow",
            WAIT,
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_js_mfe_alone_on_a_page_hears_the_gateway_and_publishes_upstream() -> Result<(), Error> {
    let site = site().await?;
    Browser::session(async |browser| plain_js_page(&site, browser).await).await
}

async fn plain_js_page(site: &Site, browser: &Browser) -> Result<(), Error> {
    browser.client.goto(&format!("{}/examples/plain-js.html", site.server.base)).await?;
    // no Rust module on the page: the element loaded the page runtime, which connects
    let state = "const url = document.querySelector('meta[name=\"herald-stream\"]').content; \
        return globalThis[Symbol.for('herald.runtime.v1')]?.connection(url)?.state ?? '';";
    browser.wait_for_script(state, |t| t == "open", WAIT).await?;
    let wasm = browser
        .client
        .execute("return performance.getEntriesByType('resource').filter((e) => e.name.includes('.wasm')).length", vec![])
        .await?;
    assert_eq!(wasm, 0, "the page loaded no wasm module");
    let ingested = site.gateway.metric("herald_events_ingested_total").await?;
    for i in 0..3 {
        site.gateway.post(&noise_reading(&format!("plain-{i}"), "s-plain", 95.0)).await?;
    }
    // the readings came from the gateway into the bus: the element raised an alert
    browser
        .wait_for_text(r#"nop-alerts li[data-sensor="s-plain"] span"#, |t| t == "3 loud readings", WAIT)
        .await?;
    // and sent it upstream through the runtime: the gateway stored it
    let position = browser
        .wait_for_script("return document.querySelector('nop-alerts').dataset.upstream ?? '';", |t| !t.is_empty(), WAIT)
        .await?;
    assert!(position.contains('-'), "a stream position: {position}");
    assert_eq!(site.gateway.metric("herald_events_ingested_total").await?, ingested + 4.0);
    Ok(())
}

/// The version folders (those with a manifest) of one MFE's dist folder.
fn built_versions(dir: &Path) -> Result<Vec<String>, Error> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("manifest.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_versions_side_by_side_exchange_events() -> Result<(), Error> {
    let site = site().await?;
    // cargo xtask test builds nop-noise-meter a second time, as version 0.1.1
    let meters = site.dir.join("mfe/nop-noise-meter");
    let mut versions = built_versions(&meters)?;
    versions.sort();
    assert!(versions.len() >= 2, "two builds of nop-noise-meter: {versions:?} (run `cargo xtask dist --version 0.1.1 nop-noise-meter`)");
    let list_version = built_versions(&site.dir.join("mfe/nop-sensor-list"))?
        .into_iter()
        .min()
        .ok_or("no nop-sensor-list build")?;
    let bumped = versions.last().unwrap().clone();
    assert_ne!(bumped, list_version, "the two MFEs come from different versions");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(meters.join(&bumped).join("manifest.json"))?)?;
    assert_eq!(manifest["version"], bumped.as_str());
    let page = format!(
        "<!doctype html><meta charset=\"utf-8\"><meta name=\"herald-stream\" content=\"{}/events/stream\">\
         <script type=\"module\" src=\"../mfe/nop-sensor-list/{list_version}/nop-sensor-list.js\"></script>\
         <script type=\"module\" src=\"../mfe/nop-noise-meter/{bumped}/nop-noise-meter.js\"></script>\
         <nop-sensor-list></nop-sensor-list><nop-noise-meter></nop-noise-meter>",
        site.gateway.base
    );
    std::fs::write(site.dir.join("examples/versions.html"), page)?;
    Browser::session(async |browser| {
        browser.client.goto(&format!("{}/examples/versions.html", site.server.base)).await?;
        show_readings(browser, &site, "document.querySelector('nop-sensor-list')", "s-v").await?;
        browser
            .client
            .find(Locator::Css(r#"nop-sensor-list li[data-sensor="s-v"] button"#))
            .await?
            .click()
            .await?;
        browser.wait_for_text("nop-noise-meter .nop-meter-selected", |t| t == "s-v", WAIT).await?;
        Ok(())
    })
    .await
}
