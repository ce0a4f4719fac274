//! `nop-screenshot OUT.png [URL]`: saves a headless Chromium screenshot of the NOP demo once
//! both micro-frontends show live readings and a sensor is selected. Without URL it serves
//! the demo itself (gateway + simulator on a free port); with URL it shoots a running one,
//! such as `cargo xtask serve`'s. Run by `cargo xtask screenshot`.

use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::Locator;
use herald_e2e::{workspace_root, Browser, ChildGuard, Error, Gateway};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: nop-screenshot OUT.png [URL]")?;
    let (url, _demo) = match args.next() {
        Some(url) => (url, None),
        None => {
            let (gateway, simulator) = serve_demo()?;
            (format!("{}/", gateway.base), Some((gateway, simulator)))
        }
    };
    let browser = Browser::start().await?;
    browser.client.goto(&url).await?;
    let wait = Duration::from_secs(20);
    browser
        .wait_for_text("nop-sensor-list ul", |t| t.contains("s-4"), wait)
        .await?;
    browser
        .client
        .find(Locator::Css(r#"nop-sensor-list li[data-sensor="s-2"] button"#))
        .await?
        .click()
        .await?;
    browser
        .wait_for_text("nop-noise-meter .nop-meter-sensor", |t| t == "s-2", wait)
        .await?;
    // the plain-JS <nop-alerts> raises an alert for the busy-road sensor soon enough
    browser
        .wait_for_text("nop-alerts li", |t| t.contains("loud readings"), Duration::from_secs(60))
        .await?;
    // and <nop-stream-status> has logged it to the gateway
    browser
        .wait_for_text("nop-stream-status .nop-forwarded", |t| t != "0", wait)
        .await?;
    // tall enough for every card
    browser.client.set_window_size(1000, 960).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let png = browser.client.screenshot().await?;
    std::fs::write(&out, png)?;
    browser.close().await?;
    eprintln!("nop-screenshot: wrote {out}");
    Ok(())
}

fn serve_demo() -> Result<(Gateway, ChildGuard), Error> {
    let gateway = Gateway::start()?;
    let simulator = workspace_root().join("target/debug/nop-simulator");
    let simulator = ChildGuard(
        Command::new(&simulator)
            .args(["--gateway", &gateway.base, "--interval-ms", "400"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", simulator.display()))?,
    );
    Ok((gateway, simulator))
}
