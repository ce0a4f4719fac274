//! Events as the source of truth, queried: the plain-JS `<nop-event-query>` on the NOP
//! page asks the gateway's store (`GET /events/query`, KQL) and traces one alert's
//! correlation chain — the reading that raised it and the alert `<nop-stream-status>`
//! logged back to the gateway — with event data shown as text only.

use std::time::Duration;

use fantoccini::Locator;
use herald_e2e::{noise_reading, Browser, Error, Gateway};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn a_clicked_alert_is_traced_through_the_store_by_its_correlation_id() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    Browser::session(async |browser| scenario(&gateway, browser).await).await
}

async fn scenario(gateway: &Gateway, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    client.goto(&format!("{}/", gateway.base)).await?;
    // the first query runs on load: an empty store has no types to count
    browser.wait_for_text("nop-event-query .nop-status", |t| t == "0 rows", WAIT).await?;

    // readings until the page's stream is up and one is shown
    let mut shown = Err::<String, Error>("never posted".into());
    for attempt in 0..20 {
        gateway.post(&noise_reading(&format!("q-warm-{attempt}"), "q-0", 50.0)).await?;
        shown = browser
            .wait_for_text(r#"nop-sensor-list li[data-sensor="q-0"] .nop-db"#, |t| t == "50.0 dB", Duration::from_millis(500))
            .await;
        if shown.is_ok() {
            break;
        }
    }
    shown?;

    // four loud readings: <nop-alerts> (plain JS) raises an alert in the chain of the
    // fourth, and <nop-stream-status> (Rust) logs it to the gateway in the same chain
    for i in 0..4 {
        gateway.post(&noise_reading(&format!("q-loud-{i}"), "q-1", 95.0)).await?;
    }
    browser.wait_for_text(r#"nop-alerts li[data-sensor="q-1"]"#, |t| t.contains("4 loud readings"), WAIT).await?;
    browser.wait_for_text("nop-stream-status .nop-forwarded", |t| t != "0", WAIT).await?;

    // a click on the alert selects the sensor in the alert's chain: the query element
    // asks the store for every event of that correlation id
    client.find(Locator::Css(r#"nop-alerts li[data-sensor="q-1"] button"#)).await?.click().await?;
    let query = browser
        .wait_for_script("return document.querySelector('nop-event-query textarea').value", |t| t.contains("correlationid"), WAIT)
        .await?;
    assert!(query.contains(r#"correlationid == "q-loud-3""#), "{query}");
    let table = browser
        .wait_for_text("nop-event-query tbody", |t| t.contains("nop.noise.alert") && t.contains("q-loud-3"), WAIT)
        .await?;
    // the reading (its own id is the chain's) and the alert logged back, in log order
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].contains("nop.noise.reading") && lines[0].contains("q-loud-3"), "{table}");
    assert!(lines[1].contains("nop.noise.alert") && lines[1].contains("q-loud-3"), "{table}");
    browser.wait_for_text("nop-event-query .nop-status", |t| t == "2 rows", WAIT).await?;

    // event data is text, never markup: a hostile sensor name, queried
    let hostile = r#"<img src=x onerror="window.__nopXss = 1">"#;
    gateway.post(&noise_reading("q-hostile", hostile, 60.0)).await?;
    run(browser, r#"events | where id == "q-hostile" | project data.sensor"#).await?;
    let cell = browser.wait_for_text("nop-event-query tbody td", |t| t.starts_with("<img"), WAIT).await?;
    assert_eq!(cell, hostile);
    let markup = client
        .execute("return [document.querySelectorAll('nop-event-query img').length, String(window.__nopXss)]", vec![])
        .await?;
    assert_eq!(markup, serde_json::json!([0, "undefined"]));

    // a query outside the subset: the gateway's 400, said in the element
    run(browser, "events | extend x = 1").await?;
    browser
        .wait_for_text("nop-event-query .nop-status", |t| t.starts_with("400: ") && t.contains("`extend` is not in herald's subset"), WAIT)
        .await?;
    assert_eq!(
        client.find(Locator::Css("nop-event-query")).await?.attr("data-state").await?.as_deref(),
        Some("error")
    );

    // a summary of the whole store
    run(browser, "events | summarize count() by type | order by count_ desc").await?;
    browser
        .wait_for_text("nop-event-query tbody", |t| t.starts_with("nop.noise.reading ") && t.contains("\nnop.noise.alert 1"), WAIT)
        .await?;
    Ok(())
}

/// Types `query` into the element and runs it.
async fn run(browser: &Browser, query: &str) -> Result<(), Error> {
    let input = browser.client.find(Locator::Css("nop-event-query textarea")).await?;
    input.clear().await?;
    input.send_keys(query).await?;
    browser.client.find(Locator::Css("nop-event-query button")).await?.click().await?;
    Ok(())
}
