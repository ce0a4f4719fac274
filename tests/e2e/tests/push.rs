//! The page's push stream against the real gateway in real Chromium: exactly once into
//! the bus across a SIGKILL of the gateway, one connection for three tabs, one connection
//! for independently compiled MFEs, reset, backoff and upstream publish.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_e2e::{noise_reading, Browser, Error, Gateway};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// The text of one counter of `<nop-stream-status>` (`.nop-events`, …) as a number.
fn counter(class: &str) -> String {
    format!("return document.querySelector('nop-stream-status {class}')?.textContent ?? ''")
}

async fn open_page(browser: &Browser, gateway: &Gateway) -> Result<(), Error> {
    browser.client.goto(&format!("{}/", gateway.base)).await?;
    browser.wait_for_script(&counter(".nop-conn"), |t| t == "open", WAIT).await?;
    Ok(())
}

async fn connections(gateway: &Gateway, expected: f64) -> Result<(), Error> {
    let mut last = -1.0;
    for _ in 0..100 {
        last = gateway.metric("herald_stream_connections").await?;
        if last == expected {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the gateway has {last} stream connections, not {expected}").into())
}

fn quiet_reading(id: &str, sensor: &str) -> Value {
    let mut event = noise_reading(id, sensor, 50.0);
    event["source"] = json!("urn:nop:e2e-producer");
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_of_the_gateway_loses_nothing_and_repeats_nothing_on_the_page() -> Result<(), Error> {
    let mut gateway = Gateway::start()?;
    Browser::session(async |browser| sigkill_scenario(&mut gateway, browser).await).await
}

async fn sigkill_scenario(gateway: &mut Gateway, browser: &Browser) -> Result<(), Error> {
    open_page(browser, gateway).await?;
    const EVENTS: usize = 2000;
    let accepted = Arc::new(Mutex::new(0usize));
    let base = gateway.base.clone();
    let count = accepted.clone();
    // The producer retries a post that got no 2xx with the same id until it gets one
    // (at least once); the gateway's (source, id) dedupe makes it exactly once.
    let producer = tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        for i in 0..EVENTS {
            let event = quiet_reading(&format!("k-{i:04}"), &format!("k-{}", i % 4));
            loop {
                let sent = client
                    .post(format!("{base}/events"))
                    .header("content-type", "application/cloudevents+json")
                    .body(event.to_string())
                    .send()
                    .await;
                if matches!(&sent, Ok(r) if r.status() == 202) {
                    *count.lock().unwrap() += 1;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    while *accepted.lock().unwrap() < 700 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gateway.kill()?;
    let killed_at = *accepted.lock().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    gateway.restart(false)?;
    tokio::time::timeout(Duration::from_secs(120), producer).await??;
    assert!(killed_at < EVENTS);

    browser.wait_for_script(&counter(".nop-events"), |t| t == "2000", Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await; // anything extra would show now
    for (class, expected) in [(".nop-events", "2000"), (".nop-distinct", "2000"), (".nop-repeats", "0"), (".nop-disorder", "0")] {
        let value = browser.wait_for_script(&counter(class), |_| true, WAIT).await?;
        assert_eq!(value, expected, "{class}");
    }
    connections(gateway, 1.0).await
}

#[tokio::test(flavor = "multi_thread")]
async fn events_stored_while_the_gateway_restarts_reach_a_page_that_had_none_yet() -> Result<(), Error> {
    let mut gateway = Gateway::start()?;
    Browser::session(async |browser| restart_before_any_event(&mut gateway, browser, "sse").await).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_over_a_websocket_socket_io_and_signalr() -> Result<(), Error> {
    over_each(&["websocket", "socketio", "signalr"], restart_before_any_event).await
}

/// Runs `scenario` once per transport, each with a gateway and a browser session of its own;
/// a failure names its transport.
async fn over_each(
    transports: &[&str],
    scenario: impl AsyncFn(&mut Gateway, &Browser, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    for &transport in transports {
        let mut gateway = Gateway::start()?;
        Browser::session(async |browser| scenario(&mut gateway, browser, transport).await)
            .await
            .map_err(|error| format!("{transport}: {error}"))?;
    }
    Ok(())
}

/// A page whose connection has delivered nothing yet still resumes from where it started
/// (the `head` its gateway named, docs/protocol.md §3.2), not from the next event stored
/// when it reconnects: what was stored while it was away reaches it.
async fn restart_before_any_event(gateway: &mut Gateway, browser: &Browser, transport: &str) -> Result<(), Error> {
    open_page(browser, gateway).await?;
    only_transport(browser, transport).await?;
    slow_backoff(browser, 4000).await?;
    browser.wait_for_script(TRANSPORT_NOW, |t| t == format!("{transport} open"), WAIT).await?;
    assert_eq!(browser.wait_for_script(&counter(".nop-events"), |_| true, WAIT).await?, "0");

    stored_while_away_reach_the_page(gateway, browser, "gap", "the page reconnected").await
}

/// Restarts the killed gateway on its data and stores 20 events (ids `PREFIX-00`…) while the
/// page still waits out its backoff (`too_soon` if it had connected already: the test
/// would prove nothing); all of them reach the page once, in order, over one connection.
async fn stored_while_away_reach_the_page(
    gateway: &mut Gateway,
    browser: &Browser,
    prefix: &str,
    too_soon: &str,
) -> Result<(), Error> {
    gateway.restart(false)?;
    const EVENTS: usize = 20;
    for i in 0..EVENTS {
        gateway.post(&quiet_reading(&format!("{prefix}-{i:02}"), &format!("{prefix}-1"))).await?;
    }
    let state = browser.wait_for_script(&counter(".nop-conn"), |_| true, WAIT).await?;
    assert_ne!(state, "open", "{too_soon} before the events were stored: the test proves nothing");
    browser.wait_for_script(&counter(".nop-events"), |t| t == EVENTS.to_string(), Duration::from_secs(30)).await?;
    for (class, expected) in [(".nop-repeats", "0"), (".nop-disorder", "0")] {
        assert_eq!(browser.wait_for_script(&counter(class), |_| true, WAIT).await?, expected, "{class}");
    }
    connections(gateway, 1.0).await
}

/// The transport and state of the page's stream connection: `socketio open`.
const TRANSPORT_NOW: &str = "for (const st of globalThis[Symbol.for('herald.runtime.v1')].streams()) \
    if (st.interests) return `${st.transport} ${st.state}`; return '';";

/// Leaves the page one stream status element, stating `transport` (the Rust MFEs state
/// none: this one alone decides it, as in websocket_scenario); for `sse`, the page as it is.
async fn only_transport(browser: &Browser, transport: &str) -> Result<(), Error> {
    if transport == "sse" {
        return Ok(());
    }
    let only = format!(
        "for (const tag of ['nop-sensor-list', 'nop-noise-meter', 'nop-noise-chart', 'nop-stream-status']) \
           document.querySelector(tag)?.remove(); \
         const el = document.createElement('nop-stream-status'); \
         el.setAttribute('stream', 'events/stream'); el.setAttribute('transport', '{transport}'); \
         document.querySelector('main').append(el);"
    );
    browser.client.execute(&only, vec![]).await?;
    Ok(())
}

/// A backoff of `ms` on every reconnect, so that what a test stores meanwhile is stored
/// before the page reconnects (the first interest to state an option decides it: the
/// page's modules state none).
async fn slow_backoff(browser: &Browser, ms: u32) -> Result<(), Error> {
    let slow = format!(
        "const rt = globalThis[Symbol.for('herald.runtime.v1')]; \
         const url = rt.streams().find((s) => s.interests).url; \
         window.e2eSlow = rt.interest(url, ['nop.noise.reading'], {{ backoffBaseMs: {ms}, backoffMaxMs: {ms} }});"
    );
    browser.client.execute(&slow, vec![]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tab_taking_over_before_any_event_resumes_from_where_the_leader_started() -> Result<(), Error> {
    over_each(&["sse", "websocket", "socketio", "signalr"], takeover_before_any_event).await
}

/// The leader tab's connection has delivered nothing yet when it closes; the follower that
/// takes over resumes from the head the leader's gateway named (relayed to it as every
/// message is, docs/protocol.md §2.10), so what was stored in between reaches it.
async fn takeover_before_any_event(gateway: &mut Gateway, browser: &Browser, transport: &str) -> Result<(), Error> {
    let client = &browser.client;
    open_page(browser, gateway).await?;
    only_transport(browser, transport).await?;
    browser.wait_for_script(TRANSPORT_NOW, |t| t == format!("{transport} open"), WAIT).await?;
    let leader = client.window().await?;

    let tab = client.new_window(true).await?;
    client.switch_to_window(tab.handle.clone()).await?;
    client.goto(&format!("{}/", gateway.base)).await?;
    browser.wait_for_script(&counter(".nop-conn"), |t| t == "following", WAIT).await?;
    only_transport(browser, transport).await?;
    slow_backoff(browser, 8000).await?;
    browser.wait_for_script(&counter(".nop-conn"), |t| t == "following", WAIT).await?;
    assert_eq!(browser.wait_for_script(&counter(".nop-events"), |_| true, WAIT).await?, "0");

    // the gateway goes down, the leader closes: the follower takes over, cannot connect,
    // and waits out its backoff while the gateway comes back and stores events
    gateway.kill()?;
    client.switch_to_window(leader).await?;
    client.close_window().await?;
    client.switch_to_window(tab.handle.clone()).await?;
    browser.wait_for_script(IS_LEADER, |t| t == "leader", WAIT).await?;
    stored_while_away_reach_the_page(gateway, browser, "take", "the tab connected").await
}

#[tokio::test(flavor = "multi_thread")]
async fn three_tabs_share_one_connection_and_survive_the_leader_closing() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    Browser::session(async |browser| tabs_scenario(&gateway, browser).await).await
}

const IS_LEADER: &str = "const rt = globalThis[Symbol.for('herald.runtime.v1')]; \
    for (const st of rt?.streams() ?? []) { if (st.interests) return st.leader ? 'leader' : 'follower'; } return 'none';";

async fn tabs_scenario(gateway: &Gateway, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    open_page(browser, gateway).await?;
    let mut tabs = vec![client.window().await?];
    for _ in 0..2 {
        let tab = client.new_window(true).await?;
        client.switch_to_window(tab.handle.clone()).await?;
        client.goto(&format!("{}/", gateway.base)).await?;
        browser.wait_for_script(&counter(".nop-conn"), |t| t == "following", WAIT).await?;
        tabs.push(client.window().await?);
    }
    connections(gateway, 1.0).await?;

    let send = |from: usize, to: usize| {
        let base = gateway.base.clone();
        async move {
            for i in from..to {
                herald_e2e::post(&base, &quiet_reading(&format!("t-{i:03}"), "t-1")).await?;
            }
            Ok::<(), Error>(())
        }
    };
    send(0, 50).await?;
    for tab in &tabs {
        client.switch_to_window(tab.clone()).await?;
        browser.wait_for_script(&counter(".nop-events"), |t| t == "50", WAIT).await?;
    }

    // close the leader tab: another takes over the connection from the last position
    let mut leader = None;
    for tab in &tabs {
        client.switch_to_window(tab.clone()).await?;
        if browser.wait_for_script(IS_LEADER, |_| true, WAIT).await? == "leader" {
            leader = Some(tab.clone());
        }
    }
    let leader = leader.ok_or("no tab leads")?;
    client.switch_to_window(leader.clone()).await?;
    client.close_window().await?;
    let rest: Vec<_> = tabs.into_iter().filter(|t| *t != leader).collect();
    send(50, 100).await?;
    for tab in &rest {
        client.switch_to_window(tab.clone()).await?;
        browser.wait_for_script(&counter(".nop-events"), |t| t == "100", WAIT).await?;
        assert_eq!(browser.wait_for_script(&counter(".nop-distinct"), |_| true, WAIT).await?, "100");
        assert_eq!(browser.wait_for_script(&counter(".nop-repeats"), |_| true, WAIT).await?, "0");
    }
    connections(gateway, 1.0).await
}

#[tokio::test(flavor = "multi_thread")]
async fn independently_compiled_mfes_with_different_topics_share_one_connection() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    Browser::session(async |browser| topics_scenario(&gateway, browser).await).await
}

async fn topics_scenario(gateway: &Gateway, browser: &Browser) -> Result<(), Error> {
    open_page(browser, gateway).await?;
    // replace the status element by one counting another topic (nop-stream-status is its
    // own wasm module; nop-sensor-list, another, needs nop.noise.reading)
    browser
        .client
        .execute(
            "document.querySelector('nop-stream-status').remove(); \
             const el = document.createElement('nop-stream-status'); \
             el.setAttribute('stream', 'events/stream'); el.setAttribute('topics', 'nop.ops.*'); \
             document.querySelector('main').append(el);",
            vec![],
        )
        .await?;
    browser
        .wait_for_script(
            "for (const st of globalThis[Symbol.for('herald.runtime.v1')].streams()) if (st.href) return st.href; return '';",
            |url| url.contains("topic=nop.ops.*") && url.contains("topic=nop.noise.reading"),
            WAIT,
        )
        .await?;
    browser.wait_for_script(&counter(".nop-conn"), |t| t == "open", WAIT).await?;
    for i in 0..5 {
        gateway.post(&quiet_reading(&format!("o-r-{i}"), "o-1")).await?;
        let mut ops = quiet_reading(&format!("o-d-{i}"), "o-1");
        ops["type"] = json!("nop.ops.deploy");
        gateway.post(&ops).await?;
    }
    browser.wait_for_text(r#"nop-sensor-list li[data-sensor="o-1"] .nop-db"#, |t| t == "50.0 dB", WAIT).await?;
    browser.wait_for_script(&counter(".nop-events"), |t| t == "5", WAIT).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(browser.wait_for_script(&counter(".nop-events"), |_| true, WAIT).await?, "5", "only its topic");
    connections(gateway, 1.0).await
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_backoff_and_upstream_publish_against_the_gateway() -> Result<(), Error> {
    let mut gateway = Gateway::start()?;
    Browser::session(async |browser| behaviour_scenario(&mut gateway, browser).await).await
}

async fn behaviour_scenario(gateway: &mut Gateway, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    open_page(browser, gateway).await?;
    client
        .execute(
            "window.__states = []; window.__resets = []; \
             addEventListener('herald:herald.connection', (e) => __states.push(e.detail.data)); \
             addEventListener('herald:herald.reset', (e) => __resets.push(e.detail.data));",
            vec![],
        )
        .await?;

    // Upstream: four loud readings of one chain make <nop-alerts> (plain JS) raise an
    // alert; <nop-stream-status> (Rust) logs it to the gateway in the same chain.
    let logged = alert_logged(gateway, browser, "u-1", 95.0, "e2e-chain-1").await?;
    assert_eq!(logged["correlationid"], "e2e-chain-1", "{logged}");
    assert_eq!(logged["data"]["sensor"], "u-1");
    assert!(logged["causationid"].is_string(), "names the page's alert as its cause: {logged}");

    // Backoff: with the gateway down, the page retries with growing, jittered delays.
    gateway.kill()?;
    browser
        .wait_for_script(
            "return String(__states.filter((s) => s.state === 'reconnecting').length)",
            |n| n.parse::<u32>().unwrap_or(0) >= 3,
            WAIT,
        )
        .await?;
    let states = client.execute("return __states", vec![]).await?;
    let retries: Vec<(u64, u64)> = states
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "reconnecting")
        .map(|s| (s["attempt"].as_u64().unwrap(), s["retry_ms"].as_u64().unwrap()))
        .collect();
    for (attempt, retry) in &retries {
        // attempt n (counted after the failure) waits within [d/2, d], d = min(30 s, 500 ms × 2^(n-1))
        let ceiling = (500u64 << (attempt - 1).min(6)).min(30_000);
        assert!(*retry >= ceiling / 2 && *retry <= ceiling, "attempt {attempt}: {retry} ms of {ceiling}");
    }

    // Reset: the gateway comes back with a new, empty store (another epoch).
    gateway.restart(true)?;
    browser.wait_for_script("return String(__resets.length)", |n| n == "1", WAIT).await?;
    let reset = client.execute("return __resets[0]", vec![]).await?;
    assert!(reset["reason"].as_str().unwrap().contains("epoch"), "{reset}");
    // and the page goes on with the new log
    gateway.post(&quiet_reading("after-reset", "u-2")).await?;
    browser.wait_for_text(r#"nop-sensor-list li[data-sensor="u-2"] .nop-db"#, |t| t == "50.0 dB", WAIT).await?;
    Ok(())
}

/// Posts four loud readings of `sensor` in the correlation chain `chain`, so that
/// <nop-alerts> (plain JS) raises an alert and <nop-stream-status> (Rust) logs it to the
/// gateway; waits for that and returns the alert as the gateway stored it.
async fn alert_logged(gateway: &Gateway, browser: &Browser, sensor: &str, db: f64, chain: &str) -> Result<Value, Error> {
    for i in 0..4 {
        let mut event = noise_reading(&format!("{sensor}-loud-{i}"), sensor, db);
        event["correlationid"] = json!(chain);
        gateway.post(&event).await?;
    }
    browser.wait_for_script(&counter(".nop-forwarded"), |t| t == "1", WAIT).await?;
    first_stored(gateway, "nop.noise.alert").await
}

/// The first stored event of `ty`, read from the gateway's stream from the start.
async fn first_stored(gateway: &Gateway, ty: &str) -> Result<Value, Error> {
    let epoch = gateway.post(&quiet_reading("probe", "probe")).await?;
    let epoch = epoch.split_once('-').ok_or("no epoch")?.0.to_owned();
    let response = reqwest::Client::new()
        .get(format!("{}/events/stream?topic={ty}&lastEventId={epoch}-0", gateway.base))
        .send()
        .await?;
    let mut body = response.bytes_stream();
    use futures_util::StreamExt;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(line) = text.lines().find_map(|l| l.strip_prefix("data: ")) {
            return Ok(serde_json::from_str(line)?);
        }
        let chunk = tokio::time::timeout_at(deadline, body.next()).await?.ok_or("the stream ended")??;
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_websocket_transport_resumes_after_a_restart_and_publishes_upstream() -> Result<(), Error> {
    let mut gateway = Gateway::start()?;
    Browser::session(async |browser| websocket_scenario(&mut gateway, browser).await).await
}

async fn websocket_scenario(gateway: &mut Gateway, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    open_page(browser, gateway).await?;
    // only <nop-alerts> (plain JS, no connection of its own) and a status element that
    // asks for the WebSocket transport stay: it owns the page's connection
    client
        .execute(
            "for (const tag of ['nop-sensor-list', 'nop-noise-meter', 'nop-noise-chart', 'nop-stream-status']) \
               document.querySelector(tag)?.remove(); \
             const el = document.createElement('nop-stream-status'); \
             el.setAttribute('stream', 'events/stream'); el.setAttribute('transport', 'websocket'); \
             document.querySelector('main').append(el);",
            vec![],
        )
        .await?;
    browser
        .wait_for_script(
            "for (const st of globalThis[Symbol.for('herald.runtime.v1')].streams()) \
               if (st.transport) return st.transport + ' ' + st.readyState; return '';",
            |t| t == "websocket 1",
            WAIT,
        )
        .await?;
    browser.wait_for_script(&counter(".nop-conn"), |t| t == "open", WAIT).await?;
    connections(gateway, 1.0).await?;
    for i in 0..30 {
        gateway.post(&quiet_reading(&format!("w-{i:02}"), "w-1")).await?;
    }
    browser.wait_for_script(&counter(".nop-events"), |t| t == "30", WAIT).await?;

    // SIGKILL, events posted while the gateway is down are retried by the producer,
    // the page resumes over a new socket from its last position
    gateway.kill()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    gateway.restart(false)?;
    for i in 30..60 {
        gateway.post(&quiet_reading(&format!("w-{i:02}"), "w-1")).await?;
    }
    browser.wait_for_script(&counter(".nop-events"), |t| t == "60", WAIT).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (class, expected) in [(".nop-events", "60"), (".nop-distinct", "60"), (".nop-repeats", "0"), (".nop-disorder", "0")] {
        assert_eq!(browser.wait_for_script(&counter(class), |_| true, WAIT).await?, expected, "{class}");
    }

    // upstream over the socket: an alert of the page, logged in the reading's chain
    client
        .execute(
            "window.__sent = []; const send = WebSocket.prototype.send; \
             WebSocket.prototype.send = function (data) { __sent.push(String(data)); return send.call(this, data); };",
            vec![],
        )
        .await?;
    let logged = alert_logged(gateway, browser, "w-2", 96.0, "e2e-ws-chain").await?;
    assert_eq!(logged["correlationid"], "e2e-ws-chain", "{logged}");
    let sent = client.execute("return __sent.filter((m) => m.includes('nop.noise.alert')).length", vec![]).await?;
    assert_eq!(sent, json!(1), "the alert went over the page's socket, not by POST");
    Ok(())
}
