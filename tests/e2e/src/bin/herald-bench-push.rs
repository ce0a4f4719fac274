//! `herald-bench-push URL [EVENTS] [RATE]`: opens the NOP page served by the gateway at
//! URL in headless Chromium, publishes EVENTS readings (default 500) at RATE per second
//! (default 50) to the gateway, and measures for each the time from just before its POST
//! to its `CustomEvent` on the page's bus (a capturing listener on `window`, so before
//! any MFE handles it). Prints JSON: count, p50/p90/p99/max in milliseconds. Run by
//! `cargo xtask bench push`, with other stream clients connected to the same gateway.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herald_e2e::{Browser, Error};
use serde_json::json;

const RECORD: &str = "window.__lat = []; addEventListener('herald:nop.noise.reading', (e) => { \
    const sent = e.detail?.data?.sent_us; \
    if (typeof sent === 'number') __lat.push((performance.timeOrigin + performance.now()) * 1000 - sent); \
}, { capture: true }); return 'ok';";

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let base = args.next().ok_or("usage: herald-bench-push URL [EVENTS] [RATE]")?;
    let base = base.trim_end_matches('/').to_owned();
    let events: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(500);
    let rate: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50.0);
    let browser = Browser::start().await?;
    let result = measure(&browser, &base, events, rate).await;
    browser.close().await?;
    println!("{}", result?);
    Ok(())
}

async fn measure(browser: &Browser, base: &str, events: usize, rate: f64) -> Result<serde_json::Value, Error> {
    browser.client.goto(&format!("{base}/")).await?;
    browser
        .wait_for_script(
            "return document.querySelector('nop-stream-status .nop-conn')?.textContent ?? ''",
            |t| t == "open",
            Duration::from_secs(60),
        )
        .await?;
    browser.client.execute(RECORD, vec![]).await?;
    let client = reqwest::Client::new();
    let started = tokio::time::Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    for i in 0..events {
        tokio::time::sleep_until(started + interval * i as u32).await;
        let sent_us = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64() * 1e6;
        let event = json!({
            "specversion": "1.0", "id": format!("push-bench-{i}"), "source": "urn:nop:bench-push",
            "type": "nop.noise.reading", "datacontenttype": "application/json",
            "data": { "sensor": format!("b-{}", i % 8), "db": 50.0, "at": 0, "sent_us": sent_us },
        });
        let response = client
            .post(format!("{base}/events"))
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string())
            .send()
            .await?;
        if response.status() != 202 {
            return Err(format!("publish answered {}", response.status()).into());
        }
    }
    let count = "return String(__lat.length)";
    browser
        .wait_for_script(count, |n| n.parse::<usize>().unwrap_or(0) >= events, Duration::from_secs(60))
        .await?;
    let values = browser.client.execute("return __lat", vec![]).await?;
    let mut micros: Vec<f64> = values
        .as_array()
        .ok_or("no latencies")?
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    micros.sort_by(f64::total_cmp);
    let at = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize] / 1000.0;
    Ok(json!({ "events": micros.len(), "p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": at(1.0) }))
}
