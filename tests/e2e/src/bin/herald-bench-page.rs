//! `herald-bench-page URL`: opens a benchmark page in headless Chromium, waits for it to
//! write its JSON result into `#result`, and prints that JSON. Run by `cargo xtask bench`.

use std::time::Duration;

use herald_e2e::{Browser, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::args().nth(1).ok_or("usage: herald-bench-page URL")?;
    let browser = Browser::start().await?;
    browser.client.goto(&url).await?;
    let result = browser
        .wait_for_text("#result", |t| t.starts_with('{'), Duration::from_secs(300))
        .await;
    browser.close().await?;
    println!("{}", result?);
    Ok(())
}
