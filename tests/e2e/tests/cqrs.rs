//! Event sourcing and CQRS: `nop-sensors` projects every sensor's state from the
//! gateway's log, and the plain-JS `<nop-sensor-state>` on the NOP page shows it beside
//! the history; rebuilt from position zero, the projection equals the live one.

use std::time::Duration;

use fantoccini::Locator;
use herald_e2e::{noise_reading, Browser, Error, Gateway, Projector};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn the_read_model_is_shown_live_and_rebuilt_from_zero_equal() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    // events stored before the projector starts are projected too: it reads from zero
    gateway.post(&noise_reading("cq-0", "cq-1", 50.0)).await?;
    let projector = Projector::start(&gateway)?;
    Browser::session(async |browser| scenario(&gateway, &projector, browser).await).await
}

async fn scenario(gateway: &Gateway, projector: &Projector, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    client.goto(&format!("{}/?projection={}/", gateway.base, projector.base)).await?;
    browser
        .wait_for_text(r#"nop-sensor-state tr[data-sensor="cq-1"]"#, |t| t.starts_with("cq-1 50.0 dB 1"), WAIT)
        .await?;

    // new readings change the model; the element reads it again when they pass on the bus
    let mut shown = Err::<String, Error>("never posted".into());
    for attempt in 0..20 {
        gateway.post(&noise_reading(&format!("cq-warm-{attempt}"), "cq-2", 61.5)).await?;
        shown = browser
            .wait_for_text(r#"nop-sensor-list li[data-sensor="cq-2"] .nop-db"#, |t| t == "61.5 dB", Duration::from_millis(500))
            .await;
        if shown.is_ok() {
            break;
        }
    }
    shown?;
    // four loud readings: an alert, logged back to the gateway, counted in the model
    for i in 0..4 {
        gateway.post(&noise_reading(&format!("cq-loud-{i}"), "cq-3", 95.0)).await?;
    }
    browser.wait_for_text("nop-stream-status .nop-forwarded", |t| t != "0", WAIT).await?;
    // a hostile sensor name is text in the table, not markup
    let hostile = r#"<img src=x onerror="window.__nopXss = 1">"#;
    gateway.post(&noise_reading("cq-hostile", hostile, 40.0)).await?;
    let row = browser
        .wait_for_text(r#"nop-sensor-state tr[data-sensor="cq-3"]"#, |t| t.starts_with("cq-3 95.0 dB 4") && t.ends_with(" 1"), WAIT)
        .await?;
    assert!(row.contains("–"), "no calibration yet: {row}");
    browser.wait_for_text("nop-sensor-state tbody", |t| t.contains(hostile), WAIT).await?;
    let markup = client
        .execute("return [document.querySelectorAll('nop-sensor-state img').length, String(window.__nopXss)]", vec![])
        .await?;
    assert_eq!(markup, json!([0, "undefined"]));

    // the same model over REST, at the position the page shows
    let live: Value = reqwest::get(format!("{}/sensors", projector.base)).await?.json().await?;
    let position = live["position"].as_str().ok_or("no position")?.to_owned();
    browser.wait_for_text("nop-sensor-state .nop-position", |t| t == position, WAIT).await?;

    // rebuilt from position zero: equal to the live projection
    client.find(Locator::Css("nop-sensor-state button")).await?.click().await?;
    let said = browser
        .wait_for_text("nop-sensor-state .nop-rebuilt", |t| t.contains("equal to the live projection"), WAIT)
        .await?;
    assert!(said.starts_with(&format!("rebuilt from zero up to {position}: ")), "{said}");
    assert!(!said.contains("NOT"), "{said}");
    let rebuilt: Value = reqwest::get(format!("{}/sensors", projector.base)).await?.json().await?;
    assert_eq!(rebuilt["sensors"], live["sensors"]);
    assert_eq!(rebuilt["events"], live["events"]);
    Ok(())
}
