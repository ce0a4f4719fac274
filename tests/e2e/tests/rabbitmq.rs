//! NOP as the lecture's case study runs it (`cargo xtask serve --broker rabbitmq`): the
//! simulator publishes readings to a real RabbitMQ, the gateway bridges the broker, and
//! the page shows readings that came through it; the alert the page logs back goes out to
//! the broker. The central log follows one correlation id through all of it: found in a
//! real OpenSearch-compatible store (osmem-server, searched with opensearch-py). Commands
//! go through the broker as well: a mute acknowledged, recalibration sagas carried out.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herald_brokers::{OpenSearch, Rabbit};
use herald_e2e::{start_binary, workspace_root, Browser, ChildGuard, Error, Gateway};

const WAIT: Duration = Duration::from_secs(30);

async fn metric_reaches(gateway: &Gateway, name: &str, at_least: f64, limit: Duration) -> Result<f64, Error> {
    let deadline = Instant::now() + limit;
    loop {
        let value = gateway.metric(name).await.unwrap_or(0.0);
        if value >= at_least {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("{name} is {value}, not yet {at_least}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nop_page_shows_readings_that_came_through_rabbitmq() -> Result<(), Error> {
    let rabbit = tokio::task::spawn_blocking(Rabbit::start).await??;
    let search = tokio::task::spawn_blocking(OpenSearch::start).await??;
    let config = workspace_root().join("www/nop-rabbitmq.toml").display().to_string();
    let gateway = Gateway::start_with(&[
        "--config", &config, "--amqp-url", &rabbit.url(),
        "--central-log-level", "debug", "--central-log-ship", &search.url(),
    ])?;
    metric_reaches(&gateway, r#"herald_bridge_up{bridge="amqp-in:nop"}"#, 1.0, WAIT).await?;
    let bin = workspace_root().join("target/debug/nop-simulator");
    // the simulator knows only the broker: nothing is posted to the gateway over HTTP
    let _simulator = ChildGuard(
        Command::new(&bin)
            .args(["--amqp", &rabbit.url(), "--interval-ms", "300"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?,
    );
    Browser::session(async |browser| {
        browser.client.goto(&format!("{}/", gateway.base)).await?;
        browser.wait_for_text("nop-sensor-list ul", |t| t.contains("s-4") && t.contains("dB"), WAIT).await?;
        browser.wait_for_text("nop-noise-meter .nop-meter-level", |t| t.ends_with(" dB"), WAIT).await?;
        // what the page shows came through the bridge
        let bridged = gateway.metric(r#"herald_bridge_messages_total{bridge="amqp-in:nop"}"#).await?;
        assert!(bridged >= 4.0, "{bridged} messages through RabbitMQ");
        // the busy road's alert, logged back by <nop-stream-status>, goes out to RabbitMQ
        browser.wait_for_text("nop-alerts li", |t| t.contains("loud readings"), Duration::from_secs(60)).await?;
        browser.wait_for_text("nop-stream-status .nop-forwarded", |t| t != "0", WAIT).await?;
        metric_reaches(&gateway, r#"herald_bridge_published_total{bridge="amqp-out:alerts"}"#, 1.0, WAIT).await?;
        trace_of_an_alert(&gateway, &search).await?;
        commands_through_rabbitmq(&gateway, &search, browser).await
    })
    .await
}

/// Commands travel through the broker: a mute acknowledged by the simulator, which takes
/// it from RabbitMQ and answers there; recalibration sagas whose sensor steps it carries
/// out the same way.
async fn commands_through_rabbitmq(gateway: &Gateway, search: &OpenSearch, browser: &Browser) -> Result<(), Error> {
    let mute = serde_json::json!({
        "specversion": "1.0", "id": "rabbit-mute-1", "source": "urn:nop:e2e", "type": "nop.sensor.mute",
        "time": herald_protocol::rfc3339_from_unix_millis(now_millis()), "data": {"sensor": "s-2", "muted": true}
    });
    gateway.post(&mute).await?;
    let deadline = Instant::now() + WAIT;
    let ack = loop {
        let (url, chain) = (search.url(), "rabbit-mute-1".to_owned());
        let lines = tokio::task::spawn_blocking(move || herald_brokers::search_term(&url, "herald-logs", "trace.id", &chain)).await??;
        let came_back = lines.iter().find(|l| l["herald"]["event"]["type"] == "nop.sensor.muted" && l["herald"]["via"] == "amqp-in:nop");
        let went_out = lines.iter().any(|l| l["herald"]["event"]["type"] == "nop.sensor.mute" && l["herald"]["via"] == "amqp-out:commands");
        if let (Some(ack), true) = (came_back, went_out) {
            break ack.clone();
        }
        if Instant::now() > deadline {
            return Err(format!("no acknowledgement through RabbitMQ: {lines:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(ack["herald"]["event"]["source"], "urn:nop:simulator");
    assert_eq!(ack["herald"]["causationid"], "rabbit-mute-1");

    // the saga's services on the gateway, the sensors' steps through the broker
    let _sagas = start_binary("nop-recalibration", &["--gateway", &gateway.base, "--step-timeout-ms", "5000"])?;
    let client = &browser.client;
    for (style, fail_at, outcome) in [
        ("orchestrated", serde_json::json!("online"), "compensated (failed at online; undone: calibrate, offline)"),
        ("choreographed", serde_json::Value::Null, "completed (inferred from the facts)"),
    ] {
        let mut done = None;
        // the service follows the gateway live: until it is subscribed a request goes unanswered
        for _ in 0..10 {
            let id = client
                .execute("return await document.querySelector('nop-sagas').start('s-1', arguments[0], arguments[1])", vec![serde_json::json!(style), fail_at.clone()])
                .await?;
            let id = id.as_str().ok_or("the saga was not sent")?.to_owned();
            let said = browser
                .wait_for_text(&format!(r#"nop-sagas li[data-saga="{id}"][data-over="true"] .nop-saga-outcome"#), |t| !t.is_empty(), Duration::from_secs(6))
                .await;
            if let Ok(said) = said {
                done = Some(said);
                break;
            }
        }
        assert_eq!(done.as_deref(), Some(outcome), "{style} saga on RabbitMQ");
    }
    Ok(())
}

fn now_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// One alert's correlation id, followed in the central log: the reading that came in
/// through RabbitMQ, the modules that handled the chain on the page, the alert logged back
/// to the gateway and published out to RabbitMQ.
async fn trace_of_an_alert(gateway: &Gateway, search: &OpenSearch) -> Result<(), Error> {
    let q = r#"events | where type == "nop.noise.alert" | project correlationid | take 1"#;
    let answer: serde_json::Value =
        reqwest::Client::new().get(format!("{}/events/query", gateway.base)).query(&[("q", q)]).send().await?.json().await?;
    let chain = answer["rows"][0][0].as_str().ok_or_else(|| format!("no stored alert: {answer}"))?.to_owned();
    // each hop, as (service, what its line says)
    let hop = |line: &serde_json::Value| {
        let service = line["service"]["name"].as_str().unwrap_or_default().to_owned();
        let what = match line["event"]["action"].as_str() {
            Some(action) => format!(
                "{action} {} via {}",
                line["herald"]["event"]["type"].as_str().unwrap_or_default(),
                line["herald"]["via"].as_str().unwrap_or_default()
            ),
            None => line["message"].as_str().unwrap_or_default().to_owned(),
        };
        (service, what)
    };
    let expected = [
        ("herald-server", "accepted nop.noise.reading via amqp-in:nop"),
        ("nop-alerts", "alert raised: 4 readings above 85 dB within 60 s"),
        ("nop-stream-status", "alert logged to the gateway"),
        ("herald-server", "accepted nop.noise.alert via http"),
        ("herald-server", "published nop.noise.alert via amqp-out:alerts"),
    ];
    let deadline = Instant::now() + WAIT;
    let mut hops = Vec::new();
    while Instant::now() < deadline {
        let (url, value) = (search.url(), chain.clone());
        let lines = tokio::task::spawn_blocking(move || herald_brokers::search_term(&url, "herald-logs", "trace.id", &value)).await??;
        hops = lines.iter().map(hop).collect::<Vec<_>>();
        if expected.iter().all(|(service, what)| hops.iter().any(|(s, w)| s == service && w == what)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (service, what) in expected {
        assert!(hops.iter().any(|(s, w)| s == service && w == what), "no `{service}: {what}` in the trace of {chain}: {hops:?}");
    }
    // the reading is first: the producer's event, as the broker delivered it
    assert_eq!(hops.first().map(|(s, w)| (s.as_str(), w.as_str())), Some(expected[0]), "{hops:?}");
    Ok(())
}
