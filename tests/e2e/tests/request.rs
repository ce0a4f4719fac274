//! Request/response, synchronously wrapped: `<nop-sensor-list>` (Rust) asks "the latest
//! reading of this sensor" with herald-bus's `request`; the page runtime forwards the
//! request to the gateway, `nop-sensors` answers it there with `herald.reply`, and the
//! typed reply reaches the awaiting module — or, with no responder, the request times out.

use std::time::Duration;

use fantoccini::Locator;
use herald_e2e::{noise_reading, Browser, Error, Gateway, Projector};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn the_sensor_list_awaits_the_servers_typed_reply_and_times_out_without_a_responder() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    let projector = Projector::start(&gateway)?;
    Browser::session(async |browser| scenario(&gateway, projector, browser).await).await
}

async fn scenario(gateway: &Gateway, projector: Projector, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    client.goto(&format!("{}/", gateway.base)).await?;
    let mut shown = Err::<String, Error>("never posted".into());
    for attempt in 0..20 {
        gateway.post(&noise_reading(&format!("rq-warm-{attempt}"), "rq-1", 61.5)).await?;
        shown = browser
            .wait_for_text(r#"nop-sensor-list li[data-sensor="rq-1"] .nop-db"#, |t| t == "61.5 dB", Duration::from_millis(500))
            .await;
        if shown.is_ok() {
            break;
        }
    }
    shown?;

    // select rq-1: the list asks the server and shows its typed reply
    let select = async |sensor: &str| -> Result<(), Error> {
        let button = client.find(Locator::Css(&format!(r#"nop-sensor-list li[data-sensor="{sensor}"] button"#))).await?;
        button.click().await?;
        Ok(())
    };
    select("rq-1").await?;
    browser.wait_for_text("nop-sensor-list .nop-latest", |t| t == "server: rq-1 61.5 dB", WAIT).await?;
    // a newer reading: the read model has it before it sees the next request (one log)
    gateway.post(&noise_reading("rq-newer", "rq-1", 70.25)).await?;
    browser.wait_for_text(r#"nop-sensor-list li[data-sensor="rq-1"] .nop-db"#, |t| t == "70.3 dB", WAIT).await?;
    gateway.post(&noise_reading("rq-other", "rq-2", 40.0)).await?;
    browser.wait_for_text(r#"nop-sensor-list li[data-sensor="rq-2"] .nop-db"#, |t| t == "40.0 dB", WAIT).await?;
    select("rq-2").await?;
    browser.wait_for_text("nop-sensor-list .nop-latest", |t| t == "server: rq-2 40.0 dB", WAIT).await?;
    select("rq-1").await?;
    browser.wait_for_text("nop-sensor-list .nop-latest", |t| t == "server: rq-1 70.3 dB", WAIT).await?;

    // request and reply are in the store, the reply caused by the request
    let answer: Value = reqwest::Client::new()
        .get(format!("{}/events/query", gateway.base))
        .query(&[("q", r#"events | where type in ("nop.sensor.latest", "herald.reply") | project type, id, causationid, source"#)])
        .send()
        .await?
        .json()
        .await?;
    let rows = answer["rows"].as_array().ok_or("no rows")?;
    assert_eq!(rows.len(), 6, "{answer}");
    for pair in rows.chunks(2) {
        assert_eq!(pair[0][0], "nop.sensor.latest", "{answer}");
        assert_eq!(pair[1][0], "herald.reply", "{answer}");
        assert_eq!(pair[1][2], pair[0][1], "the reply names its request: {answer}");
        assert_eq!(pair[1][3], "urn:nop:sensors", "{answer}");
    }

    // no responder: the request times out, and the list says so
    drop(projector);
    select("rq-2").await?;
    browser.wait_for_text("nop-sensor-list .nop-latest", |t| t.starts_with("asking the server"), WAIT).await?;
    browser.wait_for_text("nop-sensor-list .nop-latest", |t| t == "server: no answer within 3 s", WAIT).await?;
    Ok(())
}
