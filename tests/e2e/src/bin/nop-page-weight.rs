//! `nop-page-weight URL`: what the NOP page costs on a first load, as headless Chromium
//! reports it (Resource Timing, a new profile: the cache is empty, and Chromium asks for
//! whatever encodings it takes). Waits until every micro-frontend of the page has drawn,
//! then prints one JSON object: the document and every resource with its
//! `transferSize` (headers and body on the wire), `encodedBodySize` and `decodedBodySize`,
//! and the totals. Run by `cargo xtask bench size` against the page as `cargo xtask
//! serve` serves it.

use std::time::Duration;

use herald_e2e::{Browser, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::args().nth(1).ok_or("usage: nop-page-weight URL")?;
    let browser = Browser::start().await?;
    let result = weigh(&browser, &url).await;
    browser.close().await?;
    println!("{}", serde_json::to_string_pretty(&result?)?);
    Ok(())
}

async fn weigh(browser: &Browser, url: &str) -> Result<serde_json::Value, Error> {
    browser.client.goto(url).await?;
    let wait = Duration::from_secs(30);
    // every element of the page is defined and has drawn (each MFE loaded)
    browser
        .wait_for_script(
            "const tags = [...document.querySelectorAll('main > *')].map((e) => e.localName); \
             const drawn = tags.filter((t) => customElements.get(t) \
               && (document.querySelector(t).shadowRoot ?? document.querySelector(t)).childElementCount > 0); \
             return `${drawn.length}/${tags.length}`;",
            |t| t.split_once('/').is_some_and(|(a, b)| a == b && a != "0"),
            wait,
        )
        .await?;
    // what was fetched after that (the stream excepted: it never ends) counts too
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let value = browser
        .client
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0]; \
             const rows = [nav, ...performance.getEntriesByType('resource')] \
               .filter((e) => !e.name.includes('/events/')) \
               .map((e) => ({ name: new URL(e.name).pathname, transferSize: e.transferSize, \
                              encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize })); \
             const sum = (k) => rows.reduce((n, r) => n + r[k], 0); \
             return { resources: rows, transferSize: sum('transferSize'), \
                      encodedBodySize: sum('encodedBodySize'), decodedBodySize: sum('decodedBodySize') };",
            vec![],
        )
        .await?;
    Ok(value)
}
