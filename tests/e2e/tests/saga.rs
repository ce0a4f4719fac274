//! The recalibration saga with compensation, in both styles: `<nop-sagas>` on the NOP page
//! requests it, `nop-recalibration` (process manager and calibration service) and
//! `nop-simulator` (the sensors' producer) carry it out through the real gateway. A saga
//! succeeds, one fails at each step and shows its compensations, a step nobody answers
//! times out; every event is in the request's correlation chain in the store, and a
//! reverted calibration is the replaced document again.

use std::time::Duration;

use fantoccini::Locator;
use herald_e2e::{start_binary, Browser, ChildGuard, Error, Gateway};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);
/// `nop-recalibration --step-timeout-ms`.
const STEP_TIMEOUT_MS: &str = "2500";

#[tokio::test(flavor = "multi_thread")]
async fn sagas_succeed_and_compensate_each_failed_step_in_both_styles() -> Result<(), Error> {
    let gateway = Gateway::start()?;
    let services = start_services(&gateway)?;
    Browser::session(async |browser| scenario(&gateway, browser).await).await?;
    drop(services);
    Ok(())
}

/// The producer of two sensors and the saga's services.
fn start_services(gateway: &Gateway) -> Result<[ChildGuard; 2], Error> {
    Ok([
        start_binary("nop-simulator", &["--gateway", &gateway.base, "--sensors", "2", "--interval-ms", "300"])?,
        start_binary("nop-recalibration", &["--gateway", &gateway.base, "--step-timeout-ms", STEP_TIMEOUT_MS])?,
    ])
}

/// Starts a saga from the form; its id (the request's).
async fn start_from_form(browser: &Browser, sensor: &str, style: &str, fail_at: &str) -> Result<String, Error> {
    let client = &browser.client;
    let column = format!(r#"nop-sagas [data-style="{style}"] .nop-saga-list"#);
    let before = client
        .execute(&format!("return document.querySelector('{column}').firstElementChild?.dataset.saga ?? ''"), vec![])
        .await?;
    client
        .execute(
            "const [sensor, style, fail] = arguments;
             document.querySelector('nop-sagas .nop-saga-sensor').value = sensor;
             document.querySelector('nop-sagas .nop-saga-style').value = style;
             document.querySelector('nop-sagas .nop-saga-fail').value = fail;",
            vec![json!(sensor), json!(style), json!(fail_at)],
        )
        .await?;
    client.find(Locator::Css("nop-sagas .nop-saga-start")).await?.click().await?;
    let script = format!("return document.querySelector('{column}').firstElementChild?.dataset.saga ?? ''");
    let before = before.as_str().unwrap_or_default().to_owned();
    browser.wait_for_script(&script, |id| !id.is_empty() && id != before, WAIT).await
}

/// Waits for the saga `id` to be over on the page; its step lines (revision numbers as
/// `N`) and its outcome.
async fn ended(browser: &Browser, id: &str) -> Result<(Vec<String>, String), Error> {
    let item = format!(r#"nop-sagas li[data-saga="{id}"]"#);
    let outcome = browser
        .wait_for_script(
            &format!(r#"const li = document.querySelector('{item}'); return li?.dataset.over === "true" ? li.querySelector('.nop-saga-outcome').textContent : ''"#),
            |t| !t.is_empty(),
            WAIT,
        )
        .await?;
    let lines = browser
        .client
        .execute(&format!("return [...document.querySelectorAll('{item} .nop-saga-steps > li')].map((li) => li.textContent)"), vec![])
        .await?;
    let lines = lines
        .as_array()
        .ok_or("no step lines")?
        .iter()
        .map(|line| numbers_as_n(line.as_str().unwrap_or_default()))
        .collect();
    Ok((lines, outcome))
}

/// `text` with every run of digits written `N`.
fn numbers_as_n(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('N') {
                out.push('N');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The answer of the gateway's query endpoint to `q`.
async fn query(gateway: &Gateway, q: &str) -> Result<Value, Error> {
    let response = reqwest::Client::new().get(format!("{}/events/query", gateway.base)).query(&[("q", q)]).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("the query {q} answered {status}: {body}").into());
    }
    Ok(body)
}

/// How many stored events are in the chain of `saga`: its request (which starts the chain,
/// so has no `correlationid` of its own) and the events it correlates.
async fn chain_length(gateway: &Gateway, saga: &str) -> Result<u64, Error> {
    let answer = query(gateway, &format!("events | where id == \"{saga}\" or correlationid == \"{saga}\" | summarize count()")).await?;
    answer["rows"][0][0].as_u64().ok_or_else(|| format!("no count: {answer}").into())
}

async fn scenario(gateway: &Gateway, browser: &Browser) -> Result<(), Error> {
    let client = &browser.client;
    client.goto(&format!("{}/", gateway.base)).await?;
    // the page's stream is up once a reading of the simulator reaches the list
    browser.wait_for_text(r#"nop-sensor-list li[data-sensor="s-1"] .nop-db"#, |t| t.ends_with(" dB"), WAIT).await?;
    browser.wait_for_text("nop-sagas h2", |t| t == "Recalibration sagas", WAIT).await?;

    let s = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let cases = [
        ("orchestrated", "", s(&["command: offline", "offline", "command: calibrate", "calibrated (revision N)", "command: online", "online"]), "completed"),
        ("orchestrated", "offline", s(&["command: offline", "failed at offline: injected failure"]), "compensated (failed at offline; undone: nothing)"),
        (
            "orchestrated",
            "calibrate",
            s(&["command: offline", "offline", "command: calibrate", "failed at calibrate: injected failure", "command: undo offline", "compensated: back online"]),
            "compensated (failed at calibrate; undone: offline)",
        ),
        (
            "orchestrated",
            "online",
            s(&[
                "command: offline", "offline", "command: calibrate", "calibrated (revision N)", "command: online",
                "failed at online: injected failure", "command: undo calibrate", "compensated: revision N restored (as revision N)",
                "command: undo offline", "compensated: back online",
            ]),
            "compensated (failed at online; undone: calibrate, offline)",
        ),
        ("choreographed", "", s(&["offline", "calibrated (revision N)", "online"]), "completed (inferred from the facts)"),
        ("choreographed", "offline", s(&["failed at offline: injected failure"]), "compensated: nothing was done (inferred from the facts)"),
        (
            "choreographed",
            "calibrate",
            s(&["offline", "failed at calibrate: injected failure", "compensated: back online"]),
            "compensated (inferred from the facts)",
        ),
        (
            "choreographed",
            "online",
            s(&["offline", "calibrated (revision N)", "failed at online: injected failure", "compensated: revision N restored (as revision N)", "compensated: back online"]),
            "compensated (inferred from the facts)",
        ),
    ];
    // the first saga also shows that both services follow the stream: until one of them
    // is subscribed, a request goes unanswered (they follow live), so it is asked again
    let mut first = None;
    for _ in 0..10 {
        let id = start_from_form(browser, "s-1", "orchestrated", "").await?;
        let outcome = browser
            .wait_for_text(&format!(r#"nop-sagas li[data-saga="{id}"] .nop-saga-outcome"#), |t| t == "completed", Duration::from_secs(3))
            .await;
        if outcome.is_ok() {
            first = Some(id);
            break;
        }
    }
    first.ok_or("no orchestrated saga completed: are nop-recalibration and nop-simulator following the gateway?")?;

    for (style, fail_at, want_lines, want_outcome) in cases {
        let id = start_from_form(browser, "s-1", style, fail_at).await?;
        let (lines, outcome) = ended(browser, &id).await?;
        assert_eq!(lines, want_lines, "{style} saga failing at {fail_at:?}");
        assert_eq!(outcome, want_outcome, "{style} saga failing at {fail_at:?}");
        // every event of the saga is in its request's chain in the store: the request, each
        // line, and (orchestrated) the end
        let stored = chain_length(gateway, &id).await?;
        let expected = 1 + lines.len() as u64 + u64::from(style == "orchestrated");
        assert_eq!(stored, expected, "{style} saga failing at {fail_at:?}: events in the chain of {id}");
        if fail_at == "online" {
            // compensated: the latest calibration is the one the saga's replaced
            let reverted = query(gateway, &format!("events | where correlationid == \"{id}\" and type == \"nop.calibration.reverted\" | project data")).await?;
            let restored = reverted["rows"][0][0]["restored"].as_u64().ok_or_else(|| format!("no restored revision: {reverted}"))?;
            let record = |revision: Option<u64>| {
                let url = match revision {
                    Some(n) => format!("{}/records/nop.calibration.s-1?revision={n}", gateway.base),
                    None => format!("{}/records/nop.calibration.s-1", gateway.base),
                };
                async move { reqwest::get(url).await?.json::<Value>().await.map_err(Error::from) }
            };
            assert_eq!(record(None).await?, record(Some(restored)).await?, "{style}: the calibration was reverted");
        }
    }

    // a step nobody answers (no producer has s-9): it times out, its compensation too,
    // and the process manager says the saga is stuck
    let id = start_from_form(browser, "s-9", "orchestrated", "").await?;
    let (lines, outcome) = ended(browser, &id).await?;
    assert_eq!(lines, ["command: offline", "failed at offline: no answer within N.N s", "command: undo offline"]);
    assert_eq!(outcome, "stuck (failed at offline; undone: nothing): a person has to look");

    // hostile text in a request is text on the page; a request that is not one is a dead
    // letter in its chain
    let hostile = r#"<img src=x onerror="window.__nopXss = 1">"#;
    let request = |id: &str, data: Value| {
        json!({"specversion": "1.0", "id": id, "source": "urn:nop:e2e", "type": "nop.recalibration.requested", "data": data})
    };
    gateway.post(&request("saga-hostile", json!({"sensor": hostile, "style": "choreographed"}))).await?;
    browser
        .wait_for_text(r#"nop-sagas li[data-saga="saga-hostile"] .nop-saga-title"#, |t| t == format!("{hostile} · no failure"), WAIT)
        .await?;
    let markup = client
        .execute("return [document.querySelectorAll('nop-sagas img').length, String(window.__nopXss)]", vec![])
        .await?;
    assert_eq!(markup, json!([0, "undefined"]));
    gateway.post(&request("saga-bad", json!({"sensor": "s-1", "style": "sideways"}))).await?;
    let q = "events | where correlationid == \"saga-bad\" and type == \"herald.deadletter\" | project data";
    let mut letter = Value::Null;
    for _ in 0..100 {
        letter = query(gateway, q).await?["rows"][0][0].clone();
        if !letter.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(letter["subscriber"], "nop.recalibration.requested", "{letter}");
    assert!(letter["reason"].as_str().unwrap_or_default().contains("sideways"), "{letter}");
    assert_eq!(letter["event"]["id"], "saga-bad");
    // the form refuses what is not a saga before anything is sent
    client
        .execute("document.querySelector('nop-sagas .nop-saga-sensor').value = '  '", vec![])
        .await?;
    client.find(Locator::Css("nop-sagas .nop-saga-start")).await?.click().await?;
    browser.wait_for_text("nop-sagas .nop-saga-said", |t| t == "a sensor to recalibrate is needed", WAIT).await?;
    Ok(())
}
