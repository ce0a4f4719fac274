//! `nop-screenshot OUT.png [URL]`: saves a headless Chromium screenshot of the NOP demo once
//! every micro-frontend shows live data: readings, a selected sensor, an alert logged back
//! and traced in the event store, the read model with a sensor muted by command, and a
//! calibration record resolved from its pointer event, two recalibration sagas (one
//! compensated). Without URL it serves the demo itself (gateway, simulator, read model
//! and the saga's services on free ports); with URL it shoots a running
//! one, such as `cargo xtask serve`'s. Run by `cargo xtask screenshot`.

use std::time::Duration;

use fantoccini::Locator;
use herald_e2e::{start_binary, Browser, ChildGuard, Error, Gateway, Projector};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: nop-screenshot OUT.png [URL]")?;
    let (url, _demo) = match args.next() {
        Some(url) => (url, None),
        None => {
            let (gateway, simulator, projector) = serve_demo()?;
            (format!("{}/?projection={}/", gateway.base, projector.base), Some((gateway, simulator, projector)))
        }
    };
    let browser = Browser::start().await?;
    browser.client.goto(&url).await?;
    let wait = Duration::from_secs(20);
    browser
        .wait_for_text("nop-sensor-list ul", |t| t.contains("s-4"), wait)
        .await?;
    // calibrations: each sensor's record stored, then its pointer event published
    let base = url.split("/?").next().unwrap_or(&url).trim_end_matches('/').to_owned();
    for (i, sensor) in ["s-1", "s-2", "s-3", "s-4"].iter().enumerate() {
        calibrate(&base, sensor, i as f64).await?;
    }
    // a command: mute s-1, acknowledged by the simulator
    browser
        .client
        .execute("document.querySelector('nop-sensor-state tr[data-sensor=\"s-1\"] .nop-command')?.click()", vec![])
        .await?;
    browser
        .wait_for_text(r#"nop-sensor-state tr[data-sensor="s-1"] .nop-command-status"#, |t| t == "mute: done", wait)
        .await?;
    // two recalibration sagas of s-3: orchestrated, failing at its last step and
    // compensated; choreographed, completed
    for (style, fail_at) in [("orchestrated", json!("online")), ("choreographed", Value::Null)] {
        let id = browser
            .client
            .execute("return await document.querySelector('nop-sagas').start('s-3', arguments[0], arguments[1])", vec![json!(style), fail_at])
            .await?;
        let id = id.as_str().ok_or("the saga was not sent")?.to_owned();
        browser
            .wait_for_text(&format!(r#"nop-sagas li[data-saga="{id}"][data-over="true"] .nop-saga-outcome"#), |t| !t.is_empty(), wait)
            .await?;
    }
    browser
        .client
        .find(Locator::Css(r#"nop-sensor-list li[data-sensor="s-2"] button"#))
        .await?
        .click()
        .await?;
    browser
        .wait_for_text("nop-noise-meter .nop-meter-sensor", |t| t == "s-2", wait)
        .await?;
    // the plain-JS <nop-alerts> raises an alert for the busy-road sensor soon enough
    browser
        .wait_for_text("nop-alerts li", |t| t.contains("loud readings"), Duration::from_secs(60))
        .await?;
    // and <nop-stream-status> has logged it to the gateway
    browser
        .wait_for_text("nop-stream-status .nop-forwarded", |t| t != "0", wait)
        .await?;
    // a click on the alert: its sensor is selected, and its chain traced in the store
    browser.client.find(Locator::Css("nop-alerts li button")).await?.click().await?;
    browser
        .wait_for_text("nop-event-query tbody", |t| t.contains("nop.noise.alert"), wait)
        .await?;
    browser
        .wait_for_text("nop-sensor-detail .nop-status", |t| t.starts_with("revision "), wait)
        .await?;
    // tall enough for every card
    browser.client.set_window_size(1100, 1900).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let png = browser.client.screenshot().await?;
    std::fs::write(&out, png)?;
    // and <herald-devtools>, showing the alert's causation graph
    browser
        .client
        .execute(
            "const root = document.querySelector('herald-devtools').shadowRoot; \
             root.querySelector('li.event[data-type=\"nop.noise.alert\"]')?.click(); \
             document.querySelector('herald-devtools').scrollIntoView();",
            vec![],
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let devtools = browser.client.find(Locator::Css("herald-devtools")).await?.screenshot().await?;
    let devtools_out = std::path::Path::new(&out).with_file_name("devtools.png");
    std::fs::write(&devtools_out, devtools)?;
    eprintln!("nop-screenshot: wrote {}", devtools_out.display());
    browser.close().await?;
    eprintln!("nop-screenshot: wrote {out}");
    Ok(())
}

/// Stores a calibration record of `sensor` and publishes its pointer event.
async fn calibrate(base: &str, sensor: &str, offset: f64) -> Result<(), Error> {
    let client = reqwest::Client::new();
    let record = json!({"sensor": sensor, "offset_db": offset / 4.0 - 0.25, "reference_db": 94.0, "by": "NOP calibration rig"});
    let stored: Value = client
        .put(format!("{base}/records/nop.calibration.{sensor}"))
        .header("content-type", "application/json")
        .body(record.to_string())
        .send()
        .await?
        .json()
        .await?;
    let event = json!({
        "specversion": "1.0", "id": format!("screenshot-cal-{sensor}-{}", stored["revision"]), "source": "urn:nop:calibration",
        "type": "nop.sensor.calibrated", "datacontenttype": "application/json",
        "data": {"sensor": sensor, "revision": stored["revision"], "record": stored["url"], "at": 0}
    });
    herald_e2e::post(base, &event).await?;
    Ok(())
}

fn serve_demo() -> Result<(Gateway, [ChildGuard; 2], Projector), Error> {
    let gateway = Gateway::start()?;
    let projector = Projector::start(&gateway)?;
    let services = [
        start_binary("nop-simulator", &["--gateway", &gateway.base, "--interval-ms", "400"])?,
        start_binary("nop-recalibration", &["--gateway", &gateway.base])?,
    ];
    Ok((gateway, services, projector))
}
