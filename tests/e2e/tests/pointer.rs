//! Complete vs pointer events: `nop.sensor.calibrated` points at a calibration record kept
//! by the gateway (`/records/{name}?revision=N`); `<nop-sensor-detail>` (plain JS)
//! resolves it through the page runtime, once per revision, and again on a new one.

use std::time::Duration;

use fantoccini::Locator;
use herald_e2e::{noise_reading, Browser, Error, Gateway};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn a_pointer_is_resolved_once_per_revision_and_again_on_a_new_one() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    Browser::session(async |browser| scenario(&gateway, browser).await).await
}

/// The producer's side: the record's next revision, then the pointer event.
async fn calibrate(gateway: &Gateway, sensor: &str, record: Value) -> Result<String, Error> {
    let response = reqwest::Client::new()
        .put(format!("{}/records/nop.calibration.{sensor}", gateway.base))
        .header("content-type", "application/json")
        .body(record.to_string())
        .send()
        .await?;
    if response.status() != 201 {
        return Err(format!("PUT answered {}", response.status()).into());
    }
    let stored: Value = response.json().await?;
    let revision = stored["revision"].as_u64().ok_or("no revision")?;
    let url = stored["url"].as_str().ok_or("no url")?.to_owned();
    gateway
        .post(&json!({
            "specversion": "1.0", "id": format!("cal-{sensor}-{revision}-{}", rand_suffix()), "source": "urn:nop:calibration",
            "type": "nop.sensor.calibrated", "datacontenttype": "application/json",
            "data": {"sensor": sensor, "revision": revision, "record": url, "at": 0}
        }))
        .await?;
    Ok(url)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// How many times the page fetched `fragment` from the network (Resource Timing).
async fn fetches(browser: &Browser, fragment: &str) -> Result<u64, Error> {
    let n = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource').filter((e) => e.name.includes(arguments[0])).length",
            vec![json!(fragment)],
        )
        .await?;
    n.as_u64().ok_or_else(|| format!("not a count: {n}").into())
}

async fn scenario(gateway: &Gateway, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    client.goto(&format!("{}/", gateway.base)).await?;
    browser.wait_for_text("nop-sensor-detail .nop-status", |t| t == "no calibration seen yet", WAIT).await?;
    let mut shown = Err::<String, Error>("never posted".into());
    for attempt in 0..20 {
        gateway.post(&noise_reading(&format!("pt-warm-{attempt}"), "pt-1", 50.0)).await?;
        shown = browser
            .wait_for_text(r#"nop-sensor-list li[data-sensor="pt-1"] .nop-db"#, |t| t == "50.0 dB", Duration::from_millis(500))
            .await;
        if shown.is_ok() {
            break;
        }
    }
    shown?;
    gateway.post(&noise_reading("pt-2-r", "pt-2", 51.0)).await?;

    // revision 1 of pt-1's record: the pointer travels, the element resolves it
    let hostile = r#"<img src=x onerror="window.__nopXss = 1">"#;
    let first = calibrate(gateway, "pt-1", json!({"sensor": "pt-1", "offset_db": -0.5, "note": hostile})).await?;
    browser.wait_for_text("nop-sensor-detail .nop-status", |t| t == "revision 1", WAIT).await?;
    let fields = browser.wait_for_text("nop-sensor-detail dl", |t| t.contains("offset_db"), WAIT).await?;
    assert!(fields.contains("-0.5") && fields.contains(hostile), "{fields}");
    let markup = client
        .execute("return [document.querySelectorAll('nop-sensor-detail img').length, String(window.__nopXss)]", vec![])
        .await?;
    assert_eq!(markup, json!([0, "undefined"]));
    assert_eq!(fetches(browser, &first).await?, 1);

    // another sensor's record, then back: revision 1 is not fetched again
    calibrate(gateway, "pt-2", json!({"sensor": "pt-2", "offset_db": 1.0})).await?;
    client.find(Locator::Css(r#"nop-sensor-list li[data-sensor="pt-2"] button"#)).await?.click().await?;
    browser.wait_for_text("nop-sensor-detail h2", |t| t == "Calibration of pt-2", WAIT).await?;
    browser.wait_for_text("nop-sensor-detail dl", |t| t.contains("1.0") || t.contains("offset_db\n1"), WAIT).await?;
    client.find(Locator::Css(r#"nop-sensor-list li[data-sensor="pt-1"] button"#)).await?.click().await?;
    browser.wait_for_text("nop-sensor-detail dl", |t| t.contains("-0.5"), WAIT).await?;
    assert_eq!(fetches(browser, &first).await?, 1, "revision 1 was fetched again");
    let stats = client.execute("return globalThis[Symbol.for('herald.runtime.v1')].pointers()", vec![]).await?;
    assert_eq!(stats["fetched"], 2, "{stats}");
    assert!(stats["reused"].as_u64().unwrap_or(0) >= 1, "{stats}");

    // a new revision: a new pointer, fetched once
    let second = calibrate(gateway, "pt-1", json!({"sensor": "pt-1", "offset_db": 0.75})).await?;
    assert!(second.ends_with("?revision=2"), "{second}");
    browser.wait_for_text("nop-sensor-detail .nop-status", |t| t == "revision 2", WAIT).await?;
    browser.wait_for_text("nop-sensor-detail dl", |t| t.contains("0.75"), WAIT).await?;
    assert_eq!(fetches(browser, &second).await?, 1);
    assert_eq!(fetches(browser, &first).await?, 1);
    Ok(())
}
