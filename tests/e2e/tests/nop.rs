//! One noise reading travels producer → gateway → SSE → two independently compiled
//! micro-frontends, and a selection travels between them over the bus; a plain-JS
//! micro-frontend's alert reaches a Rust one.

use std::time::Duration;

use fantoccini::Locator;
use herald_e2e::{noise_reading, Browser, Error, Gateway};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn a_reading_reaches_both_mfes_and_a_selection_crosses_between_them() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    Browser::session(async |browser| scenario(&gateway, browser).await).await
}

async fn scenario(gateway: &Gateway, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    client.goto(&format!("{}/", gateway.base)).await?;
    // both elements are defined by their own modules and render their skeletons
    browser.wait_for_text("nop-sensor-list .nop-status", |t| t.contains("waiting"), WAIT).await?;
    browser.wait_for_text("nop-noise-meter .nop-meter-selected", |t| t == "none", WAIT).await?;

    // The stream connects asynchronously: post until the first reading shows up, so the
    // test does not depend on how fast EventSource opens.
    let mut shown = Err::<String, Error>("never posted".into());
    for attempt in 0..20 {
        gateway.post(&noise_reading(&format!("e2e-a-{attempt}"), "e2e-1", 99.5)).await?;
        shown = browser
            .wait_for_text(r#"nop-sensor-list li[data-sensor="e2e-1"] .nop-db"#, |t| t == "99.5 dB", Duration::from_millis(500))
            .await;
        if shown.is_ok() {
            break;
        }
    }
    shown?;
    browser.wait_for_text("nop-noise-meter .nop-meter-level", |t| t == "99.5 dB", WAIT).await?;
    browser.wait_for_text("nop-noise-meter .nop-meter-sensor", |t| t == "e2e-1", WAIT).await?;

    // a second sensor: the meter follows the newest reading while nothing is selected
    gateway.post(&noise_reading("e2e-b", "e2e-2", 42.0)).await?;
    browser.wait_for_text(r#"nop-sensor-list li[data-sensor="e2e-2"] .nop-db"#, |t| t == "42.0 dB", WAIT).await?;
    browser.wait_for_text("nop-noise-meter .nop-meter-sensor", |t| t == "e2e-2", WAIT).await?;

    // click e2e-1 in the list: the meter, another wasm module, hears nop.sensor.selected
    client
        .find(Locator::Css(r#"nop-sensor-list li[data-sensor="e2e-1"] button"#))
        .await?
        .click()
        .await?;
    browser.wait_for_text("nop-noise-meter .nop-meter-selected", |t| t == "e2e-1", WAIT).await?;
    browser.wait_for_text("nop-noise-meter .nop-meter-level", |t| t == "99.5 dB", WAIT).await?;
    // the yew chart (shadow DOM, another module) follows the selection too
    browser
        .wait_for_script(
            "return document.querySelector('nop-noise-chart').shadowRoot.querySelector('.note').textContent",
            |t| t.starts_with("e2e-1: ") && !t.starts_with("e2e-1: 0 "),
            WAIT,
        )
        .await?;
    let row_class = client
        .find(Locator::Css(r#"nop-sensor-list li[data-sensor="e2e-1"]"#))
        .await?
        .attr("class")
        .await?;
    let row_class = row_class.unwrap_or_default();
    assert!(row_class.split(' ').any(|c| c == "nop-selected"), "row classes: {row_class:?}");

    // With e2e-1 selected, a newer reading of e2e-2 leaves the meter on e2e-1. The stream
    // is ordered, so once the meter shows the later e2e-1 reading it has seen e2e-2's.
    gateway.post(&noise_reading("e2e-c", "e2e-2", 43.0)).await?;
    gateway.post(&noise_reading("e2e-d", "e2e-1", 77.0)).await?;
    browser.wait_for_text("nop-noise-meter .nop-meter-level", |t| t == "77.0 dB", WAIT).await?;
    let meter = browser.wait_for_text("nop-noise-meter .nop-meter-sensor", |_| true, WAIT).await?;
    assert_eq!(meter, "e2e-1");
    browser.wait_for_text(r#"nop-sensor-list li[data-sensor="e2e-2"] .nop-db"#, |t| t == "43.0 dB", WAIT).await?;

    // The plain-JS <nop-alerts> raises nop.noise.alert for a sensor loud too often; the Rust
    // sensor list, another module, marks the sensor.
    for i in 0..4 {
        gateway.post(&noise_reading(&format!("e2e-loud-{i}"), "e2e-3", 95.0)).await?;
    }
    browser
        .wait_for_text(r#"nop-alerts li[data-sensor="e2e-3"]"#, |t| t.contains("4 loud readings"), WAIT)
        .await?;
    browser
        .wait_for_text(r#"nop-sensor-list li.nop-alerted[data-sensor="e2e-3"] button"#, |t| t == "e2e-3", WAIT)
        .await?;
    Ok(())
}
