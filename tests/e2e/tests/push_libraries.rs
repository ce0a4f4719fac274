//! The push libraries' official browser clients (tests/clients: `@microsoft/signalr` 10,
//! `socket.io-client` 4) in headless Chromium against the gateway, from another origin
//! (CORS, with credentials for SignalR): each streams 1,000 posted events in order across
//! a SIGKILL and restart of the gateway, and publishes one, whose answer is its position.

use std::time::Duration;

use herald_e2e::{noise_reading, workspace_root, Browser, Error, Gateway, StaticServer};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// Posts readings `from..to` (ids `sig-N`, type `sig.reading`) as one batch.
async fn post_readings(base: &str, from: usize, to: usize) -> Result<(), Error> {
    let events: Vec<Value> = (from..to)
        .map(|n| {
            let mut event = noise_reading(&format!("sig-{n}"), "s-1", 50.0);
            event["type"] = json!("sig.reading");
            event
        })
        .collect();
    let response = reqwest::Client::new()
        .post(format!("{base}/events"))
        .header("content-type", "application/cloudevents-batch+json")
        .body(Value::Array(events).to_string())
        .send()
        .await?;
    if response.status() != 202 {
        return Err(format!("POST /events answered {}", response.status()).into());
    }
    Ok(())
}

/// The first line the page's client said with member `key`.
async fn line(browser: &Browser, key: &str) -> Result<Value, Error> {
    let script = "return JSON.stringify(window.heraldTest?.lines ?? [])";
    let text = browser
        .wait_for_script(script, |t| serde_json::from_str::<Vec<Value>>(t).is_ok_and(|l| l.iter().any(|v| v.get(key).is_some())), WAIT)
        .await?;
    let lines: Vec<Value> = serde_json::from_str(&text)?;
    Ok(lines.into_iter().find_map(|l| l.get(key).cloned()).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn signalr_in_chromium_streams_in_order_publishes_and_resumes_across_a_kill_9() -> Result<(), Error> {
    follow_in_chromium("signalr.html", "node_modules/@microsoft/signalr/dist/browser/signalr.min.js", "signalr-published-1").await
}

#[tokio::test(flavor = "multi_thread")]
async fn socketio_in_chromium_streams_in_order_publishes_and_resumes_across_a_kill_9() -> Result<(), Error> {
    follow_in_chromium("socketio.html", "node_modules/socket.io-client/dist/socket.io.min.js", "socketio-published-1").await
}

/// The client of `page` (loading `client`, the library's browser bundle) follows `sig.>`
/// from another origin across a SIGKILL; its own event has id `published_id`.
async fn follow_in_chromium(page_name: &str, client: &str, published_id: &str) -> Result<(), Error> {
    let clients = workspace_root().join("tests/clients");
    if !clients.join(client).is_file() {
        return Err(format!("no {client} in tests/clients: run `cargo xtask install`").into());
    }
    let page = StaticServer::start(&clients).await?;
    let mut gateway = Gateway::start_with(&["--cors-origin", &page.origin])?;
    let mut start = noise_reading("start-1", "s-1", 50.0);
    start["type"] = json!("start");
    let from = gateway.post(&start).await?;
    Browser::session(async |browser| {
        let url = format!(
            "{}/{page_name}?gateway={}&pattern=sig.%3E&from={from}&count=1001",
            page.base, gateway.base
        );
        browser.client.goto(&url).await?;
        let published = line(browser, "published").await?;
        let published = published.as_str().ok_or(format!("Publish did not complete with a position: {published}"))?.to_owned();
        for batch in (0..500).step_by(100) {
            post_readings(&gateway.base, batch, batch + 100).await?;
        }
        line(browser, "received").await?;
        gateway.restart(false)?; // SIGKILL, then the same port and data
        for batch in (500..1000).step_by(100) {
            post_readings(&gateway.base, batch, batch + 100).await?;
        }
        let done = line(browser, "done").await?;
        assert_eq!(done["repeated"], 0, "nothing repeated");
        assert_eq!(done["outOfOrder"], 0, "in log order");
        assert!(done["reconnects"].as_u64().unwrap_or(0) >= 1, "the client reconnected: {done}");
        let received = done["received"].as_array().ok_or("no items")?;
        assert_eq!(received.len(), 1001, "nothing lost");
        let posted: Vec<&str> =
            received.iter().filter_map(|r| r["id"].as_str()).filter(|id| id.starts_with("sig-")).collect();
        let expected: Vec<String> = (0..1000).map(|n| format!("sig-{n}")).collect();
        assert_eq!(posted, expected, "every posted reading, in the order posted");
        let mine = received.iter().find(|r| r["id"] == published_id).ok_or("its own event did not come back")?;
        assert_eq!(mine["position"], published.as_str(), "Publish's result is the event's position");
        Ok(())
    })
    .await
}
