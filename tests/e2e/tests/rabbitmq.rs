//! NOP as the lecture's case study runs it (`cargo xtask serve --broker rabbitmq`): the
//! simulator publishes readings to a real RabbitMQ, the gateway bridges the broker, and
//! the page shows readings that came through it; the alert the page logs back goes out to
//! the broker.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herald_brokers::Rabbit;
use herald_e2e::{workspace_root, Browser, ChildGuard, Error, Gateway};

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
    let config = workspace_root().join("www/nop-rabbitmq.toml").display().to_string();
    let gateway = Gateway::start_with(&["--config", &config, "--amqp-url", &rabbit.url()])?;
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
        Ok(())
    })
    .await
}
