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
    // four readings, no calibration yet, one alert in the last hour
    browser
        .wait_for_text(r#"nop-sensor-state tr[data-sensor="cq-3"]"#, |t| t.starts_with("cq-3 95.0 dB 4 – 1 "), WAIT)
        .await?;
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
    client.find(Locator::Css("nop-sensor-state .nop-rebuild")).await?.click().await?;
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

/// The NOP simulator (two sensors, a reading each every 200 ms), taking commands.
fn simulator(gateway: &Gateway) -> Result<herald_e2e::ChildGuard, Error> {
    herald_e2e::start_binary("nop-simulator", &["--gateway", &gateway.base, "--sensors", "2", "--interval-ms", "200"])
}

async fn readings(projector: &Projector, sensor: &str) -> Result<u64, Error> {
    let view: Value = reqwest::get(format!("{}/sensors/{sensor}", projector.base)).await?.json().await?;
    view["readings"].as_u64().ok_or_else(|| format!("no readings of {sensor}: {view}").into())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mute_command_is_acknowledged_by_its_producer_and_one_nobody_takes_times_out() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    let _simulator = simulator(&gateway)?;
    let projector = Projector::start(&gateway)?;
    Browser::session(async |browser| commands(&gateway, &projector, browser).await).await
}

async fn commands(gateway: &Gateway, projector: &Projector, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    client.goto(&format!("{}/?projection={}/", gateway.base, projector.base)).await?;
    for sensor in ["s-1", "s-2"] {
        browser.wait_for_text(&format!(r#"nop-sensor-state tr[data-sensor="{sensor}"] .nop-command"#), |t| t == "mute", WAIT).await?;
    }
    // the page's stream is up once a reading reaches the list
    browser.wait_for_text(r#"nop-sensor-list li[data-sensor="s-1"] .nop-db"#, |t| t.ends_with(" dB"), WAIT).await?;

    // mute s-1: pending, then acknowledged by the simulator, which stops its readings
    click(browser, r#"nop-sensor-state tr[data-sensor="s-1"] .nop-command"#).await?;
    browser
        .wait_for_text(r#"nop-sensor-state tr[data-sensor="s-1"] .nop-command-status"#, |t| t == "mute: done", WAIT)
        .await?;
    let row = browser
        .wait_for_text(r#"nop-sensor-state tr[data-sensor="s-1"]"#, |t| t.contains(" muted ") && t.contains("unmute"), WAIT)
        .await?;
    assert!(row.contains("mute: done"), "{row}");
    // the acknowledgement is stored in the command's chain
    let (muted_1, going_2) = (readings(projector, "s-1").await?, readings(projector, "s-2").await?);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(readings(projector, "s-1").await? <= muted_1 + 1, "s-1 went on sending readings");
    assert!(readings(projector, "s-2").await? > going_2 + 3, "s-2 stopped sending readings");
    let chain: Value = reqwest::Client::new()
        .get(format!("{}/events/query", gateway.base))
        .query(&[("q", r#"events | where type startswith "nop.sensor.mute" | project type, source, causationid"#)])
        .send()
        .await?
        .json()
        .await?;
    let rows = chain["rows"].as_array().ok_or("no rows")?;
    assert_eq!(rows.len(), 2, "{chain}");
    assert_eq!((rows[0][0].as_str(), rows[0][1].as_str()), (Some("nop.sensor.mute"), Some("/mfe/nop-sensor-state")));
    assert_eq!((rows[1][0].as_str(), rows[1][1].as_str()), (Some("nop.sensor.muted"), Some("urn:nop:simulator")));

    // a sensor no producer has: the command gets no acknowledgement and times out
    gateway.post(&noise_reading("cq-orphan-1", "cq-orphan", 45.0)).await?;
    client
        .execute("document.querySelector('nop-sensor-state').setAttribute('ack-timeout-ms', '1500')", vec![])
        .await?;
    let orphan = r#"nop-sensor-state tr[data-sensor="cq-orphan"]"#;
    browser.wait_for_text(&format!("{orphan} .nop-command"), |t| t == "mute", WAIT).await?;
    click(browser, &format!("{orphan} .nop-command")).await?;
    browser.wait_for_text(&format!("{orphan} .nop-command-status"), |t| t == "mute: pending…", WAIT).await?;
    browser
        .wait_for_text(&format!("{orphan} .nop-command-status"), |t| t == "mute: no acknowledgement within 1.5 s", WAIT)
        .await?;

    // unmute s-1: its readings come back
    click(browser, r#"nop-sensor-state tr[data-sensor="s-1"] .nop-command"#).await?;
    browser
        .wait_for_text(r#"nop-sensor-state tr[data-sensor="s-1"] .nop-command-status"#, |t| t == "unmute: done", WAIT)
        .await?;
    let unmuted = readings(projector, "s-1").await?;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(readings(projector, "s-1").await? > unmuted, "s-1 did not send readings again");
    Ok(())
}

/// Clicks the element `css` names as it is now (the table is drawn again on every change,
/// so a WebDriver element found earlier may be gone).
async fn click(browser: &Browser, css: &str) -> Result<(), Error> {
    let clicked = browser
        .client
        .execute("const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e;", vec![json!(css)])
        .await?;
    if clicked != json!(true) {
        return Err(format!("nothing to click at `{css}`").into());
    }
    Ok(())
}
