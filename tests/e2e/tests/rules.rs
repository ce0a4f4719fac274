//! One stateful consumer in two languages: on `rules.html`, the plain-JS `<nop-alerts>`
//! and the Rust `<nop-loud-rule>` (herald-protocol's sliding window) hear the same
//! readings from the real gateway through the page runtime's one connection, and agree:
//! the rule holds for the same sensor with the same count, and names are shown as text.

use std::time::Duration;

use herald_e2e::{noise_reading, Browser, Error, Gateway};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn the_rule_in_javascript_and_in_rust_agree_on_the_live_stream() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    Browser::session(async |browser| scenario(&gateway, browser).await).await
}

async fn scenario(gateway: &Gateway, browser: &Browser) -> Result<(), Error> {
    browser.client.goto(&format!("{}/rules.html", gateway.base)).await?;
    browser
        .wait_for_text("nop-loud-rule .nop-rule", |t| t.starts_with("more than 3 readings above 85.0 dB within 60 s"), WAIT)
        .await?;

    // loud readings of r-1 until the stream is up and the Rust rule holds (readings sent
    // before the page's connection opened are not delivered: the stream is not retained)
    let rust = r#"nop-loud-rule li[data-sensor="r-1"]"#;
    let mut holds = Err::<String, Error>("never posted".into());
    for attempt in 0..30 {
        gateway.post(&noise_reading(&format!("r-loud-{attempt}"), "r-1", 95.0)).await?;
        holds = browser.wait_for_text(rust, |t| !t.is_empty(), Duration::from_millis(400)).await;
        if holds.is_ok() {
            break;
        }
    }
    assert_eq!(holds?, "r-1 · 4 loud readings");
    // the JavaScript rule heard the same four and raised its alert at the same one
    browser.wait_for_text(r#"nop-alerts li[data-sensor="r-1"]"#, |t| t.contains("4 loud readings"), WAIT).await?;
    browser.wait_for_text("nop-loud-rule .nop-rule-fired", |t| t == "1", WAIT).await?;

    // quiet readings and another sensor's: neither rule holds for r-2
    for i in 0..6 {
        gateway.post(&noise_reading(&format!("r-quiet-{i}"), "r-2", 60.0)).await?;
    }
    // a sensor named with markup, loud: both rules hold for it and show the name as text
    let hostile = r#"<img src=x onerror="window.__nopXss = 1">"#;
    for i in 0..4 {
        gateway.post(&noise_reading(&format!("r-hostile-{i}"), hostile, 99.0)).await?;
    }
    let shown = browser.wait_for_text("nop-loud-rule .nop-rule-over", |t| t.contains("<img"), WAIT).await?;
    assert_eq!(shown, format!("r-1 · 4 loud readings\n{hostile} · 4 loud readings"));
    browser.wait_for_text("nop-alerts ul", |t| t.contains("<img"), WAIT).await?;
    browser.wait_for_text("nop-loud-rule .nop-rule-fired", |t| t == "2", WAIT).await?;
    let page = browser
        .client
        .execute(
            "return [document.querySelectorAll('img').length, String(window.__nopXss), \
                     document.querySelectorAll('nop-loud-rule li[data-sensor=\"r-2\"]').length, \
                     document.querySelectorAll('nop-alerts li[data-sensor=\"r-2\"]').length]",
            vec![],
        )
        .await?;
    assert_eq!(page, serde_json::json!([0, "undefined", 0, 0]));
    Ok(())
}
