//! The gateway on a real listener (127.0.0.1:0), driven by a real HTTP client.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use herald_server::{AppState, EventLog};
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

#[tokio::test]
async fn structured_event_is_accepted_with_its_position() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let first = gw.post_event(&reading("a", "nop.noise.reading", 60.0)).await;
    let second = gw.post_event(&reading("b", "nop.noise.reading", 61.0)).await;
    let (epoch, seq) = first.split_once('-').unwrap();
    assert_eq!(seq, "1");
    assert_eq!(second, format!("{epoch}-2"));
    // charset and other parameters of the media type are fine
    let (status, _, _) = gw
        .post(reading("c", "x.y", 1.0).to_string(), "application/cloudevents+json; charset=utf-8")
        .await;
    assert_eq!(status, 202);
}

impl Gateway {
    async fn post_binary(&self, headers: &[(&str, &str)], body: &'static [u8]) -> (u16, Value) {
        let mut request = self.client.post(format!("{}/events", self.base)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn binary_mode_events_are_accepted_and_streamed_as_structured_json() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let mut sse = gw.stream("topic=nop.>", None).await;
    let base = [
        ("ce-specversion", "1.0"),
        ("ce-source", "/test/binary"),
        ("ce-type", "nop.noise.reading"),
        ("ce-subject", "s%20one"),
        ("ce-correlationid", "c-9"),
        ("ce-dataversion", "2"),
    ];
    let with = |id: &'static str, content_type: &'static str| {
        let mut headers = base.to_vec();
        headers.push(("ce-id", id));
        headers.push(("content-type", content_type));
        headers
    };
    let (json_status, json_body) = gw.post_binary(&with("b-1", "application/json"), br#"{"sensor":"s-1","db":70}"#).await;
    let (text_status, _) = gw.post_binary(&with("b-2", "text/plain; charset=utf-8"), b"loud").await;
    let (bin_status, _) = gw.post_binary(&with("b-3", "application/octet-stream"), b"\x00\x01\x02").await;
    assert_eq!((json_status, text_status, bin_status), (202, 202, 202), "{json_body}");
    assert!(json_body["position"].is_string());

    let json = sse.next(WAIT).await.unwrap().data;
    assert_eq!(json["id"], "b-1");
    assert_eq!(json["subject"], "s one", "header values are percent-decoded");
    assert_eq!(json["data"]["db"], 70);
    assert_eq!(json["datacontenttype"], "application/json");
    assert_eq!(json["correlationid"], "c-9");
    assert_eq!(json["dataversion"], 2);
    let text = sse.next(WAIT).await.unwrap().data;
    assert_eq!(text["data"], "loud");
    let bin = sse.next(WAIT).await.unwrap().data;
    assert_eq!(bin["data_base64"], "AAEC");
    assert!(bin.get("data").is_none());
}

#[tokio::test]
async fn binary_mode_errors_name_the_problem() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    // (headers, body, what the error must name)
    type Case = (&'static [(&'static str, &'static str)], &'static [u8], &'static str);
    let cases: [Case; 4] = [
        (&[("ce-specversion", "1.0"), ("ce-source", "/s"), ("ce-type", "t.x")], b"", "`id`"),
        (&[("ce-specversion", "0.3"), ("ce-id", "1"), ("ce-source", "/s"), ("ce-type", "t.x")], b"", "specversion"),
        (
            &[("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "/s"), ("ce-type", "t.x"), ("content-type", "application/json")],
            b"{broken",
            "JSON",
        ),
        (&[("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "/s"), ("ce-type", "t.x"), ("ce-time", "soon")], b"", "time"),
    ];
    for (headers, body, needle) in cases {
        let (status, problem) = gw.post_binary(headers, body).await;
        assert_eq!(status, 400, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains(needle), "{problem}");
    }
}

#[tokio::test]
async fn a_batch_is_taken_whole_or_not_at_all() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let batch = json!([reading("x1", "nop.noise.reading", 1.0), reading("x2", "nop.noise.reading", 2.0)]);
    let (status, body, _) = gw.post(batch.to_string(), "application/cloudevents-batch+json").await;
    assert_eq!(status, 202, "{body}");
    let positions: Vec<&str> = body["positions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(positions.len(), 2);
    assert!(positions[0].ends_with("-1") && positions[1].ends_with("-2"));

    let mut bad = reading("x4", "nop.noise.reading", 4.0);
    bad.as_object_mut().unwrap().remove("source");
    let mixed = json!([reading("x3", "nop.noise.reading", 3.0), bad]);
    let (status, problem, _) = gw.post(mixed.to_string(), "application/cloudevents-batch+json").await;
    assert_eq!(status, 400);
    assert!(problem["detail"].as_str().unwrap().contains("batch item 1"), "{problem}");
    let (status, problem, _) = gw.post("{}", "application/cloudevents-batch+json").await;
    assert_eq!(status, 400, "{problem}");
    // nothing of the rejected batch was stored
    assert!(gw.post_event(&reading("x5", "t.u", 5.0)).await.ends_with("-3"));
}

#[tokio::test]
async fn malformed_input_gets_problem_json_that_says_what_is_wrong() {
    let gw = start(AppState::new(EventLog::in_memory()).with_max_body_bytes(1024)).await;
    let mut no_id = reading("a", "nop.noise.reading", 1.0);
    no_id.as_object_mut().unwrap().remove("id");
    let mut bad_version = reading("a", "nop.noise.reading", 1.0);
    bad_version["specversion"] = json!("0.3");
    let cases: Vec<(String, &str, u16, &str)> = vec![
        ("{not json".into(), CE_JSON, 400, "malformed"),
        (no_id.to_string(), CE_JSON, 400, "`id`"),
        (bad_version.to_string(), CE_JSON, 400, "specversion"),
        ("[]".into(), CE_JSON, 400, "malformed"),
        (reading("a", "t", 1.0).to_string(), "text/plain", 415, "application/cloudevents+json"),
        (reading("a", "t", 1.0).to_string(), "", 415, "(none)"),
        (reading("a", "t", 1.0).to_string(), "application/json", 415, "ce-specversion"),
        ("x".repeat(4096), CE_JSON, 413, "1024 bytes"),
    ];
    for (body, content_type, status, needle) in cases {
        let (got, problem, media) = gw.post(body, content_type).await;
        assert_eq!(got, status, "{problem}");
        assert_eq!(media, "application/problem+json");
        assert_eq!(problem["status"], status);
        assert!(problem["title"].is_string());
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(needle), "{detail:?} should mention {needle:?}");
    }
    // nothing of that was stored
    assert_eq!(gw.post_event(&reading("ok", "t.u", 1.0)).await.split_once('-').unwrap().1, "1");
}

#[tokio::test]
async fn every_error_is_a_problem_document_also_of_routing_and_static_files() {
    let dir = std::env::temp_dir().join(format!("herald-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
    let gw = start(AppState::new(EventLog::in_memory()).with_static_dir(&dir)).await;
    let cases = [
        // (method, path, status, Allow, a word of the detail)
        ("GET", "/events", 405, Some("POST"), "GET"),
        ("DELETE", "/events/stream", 405, Some("GET,HEAD"), "DELETE"),
        ("POST", "/index.html", 405, Some("GET,HEAD"), "POST"),
        ("GET", "/no-such-file.js", 404, None, "no such"),
        ("GET", "/events/ws", 400, None, "upgrade"),
    ];
    for (method, path, status, allow, needle) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = gw.client.request(method.clone(), format!("{}{path}", gw.base)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{method} {path}");
        assert_eq!(
            response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned()).as_deref(),
            allow,
            "{method} {path}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], status);
        assert_eq!(problem["type"], "about:blank");
        assert!(problem["title"].is_string());
        assert!(problem["detail"].as_str().unwrap().contains(needle), "{method} {path}: {problem}");
    }
    // and a file that is there is served as it is
    let page = gw.client.get(format!("{}/index.html", gw.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "<p>hi</p>");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn stream_delivers_matching_events_with_positions_as_ids() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let mut sse = gw.stream("topic=nop.noise.*&topic=nop.sensor.selected", None).await;

    let p1 = gw.post_event(&reading("r1", "nop.noise.reading", 70.5)).await;
    gw.post_event(&reading("x1", "other.noise.reading", 1.0)).await;
    gw.post_event(&reading("x2", "nop.noise.reading.deep", 1.0)).await;
    let p2 = gw.post_event(&reading("s1", "nop.sensor.selected", 0.0)).await;

    let a = sse.next(WAIT).await.unwrap();
    let b = sse.next(WAIT).await.unwrap();
    assert_eq!(a.id.as_deref(), Some(p1.as_str()));
    assert_eq!(a.data["id"], "r1");
    assert_eq!(a.data["type"], "nop.noise.reading");
    assert_eq!(a.data["specversion"], "1.0");
    assert_eq!(a.data["data"]["db"], 70.5);
    assert_eq!(b.id.as_deref(), Some(p2.as_str()));
    assert_eq!(b.data["id"], "s1");
    assert!(sse.next(QUIET).await.is_none(), "non-matching events must not be streamed");
}

#[tokio::test]
async fn stream_resumes_after_last_event_id_by_header_and_by_query() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let p1 = gw.post_event(&reading("a", "nop.noise.reading", 1.0)).await;
    let p2 = gw.post_event(&reading("b", "nop.noise.reading", 2.0)).await;
    gw.post_event(&reading("skip", "nop.other", 2.5)).await;
    let p3 = gw.post_event(&reading("c", "nop.noise.reading", 3.0)).await;

    let mut by_header = gw.stream("topic=nop.noise.reading", Some(&p1)).await;
    let mut by_query = gw.stream(&format!("topic=nop.noise.reading&lastEventId={p1}"), None).await;
    for sse in [&mut by_header, &mut by_query] {
        assert_eq!(sse.next(WAIT).await.unwrap().id.as_deref(), Some(p2.as_str()));
        assert_eq!(sse.next(WAIT).await.unwrap().id.as_deref(), Some(p3.as_str()));
    }
    // and go on live, without repeating anything
    let p4 = gw.post_event(&reading("d", "nop.noise.reading", 4.0)).await;
    for sse in [&mut by_header, &mut by_query] {
        let next = sse.next(WAIT).await.unwrap();
        assert_eq!(next.id.as_deref(), Some(p4.as_str()));
        assert!(sse.next(QUIET).await.is_none());
    }
}

#[tokio::test]
async fn with_head_the_stream_first_names_the_position_it_goes_on_from() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let p1 = gw.post_event(&reading("a", "nop.noise.reading", 1.0)).await;
    let p2 = gw.post_event(&reading("b", "nop.noise.reading", 2.0)).await;

    // without a resume position: the head, then the next event stored
    let mut fresh = gw.stream("topic=nop.noise.reading&topic=nop.sensor.*&head=true", None).await;
    let subscribed = fresh.next(WAIT).await.unwrap();
    assert_eq!(subscribed.data["type"], "herald.subscribed");
    assert_eq!(subscribed.data["source"], "urn:herald:gateway");
    assert_eq!(subscribed.data["specversion"], "1.0");
    assert_eq!(subscribed.data["data"], json!({"topic": "nop.noise.reading nop.sensor.*", "head": p2}));
    assert_eq!(subscribed.id, None, "the client's last event id stays its own");
    let p3 = gw.post_event(&reading("c", "nop.noise.reading", 3.0)).await;
    assert_eq!(fresh.next(WAIT).await.unwrap().id.as_deref(), Some(p3.as_str()));

    // resuming: the head first, then the replay from the resume position, then live
    let mut resumed = gw.stream(&format!("topic=nop.noise.reading&lastEventId={p1}&head=true"), None).await;
    let subscribed = resumed.next(WAIT).await.unwrap();
    assert_eq!(subscribed.data["data"]["head"], p3.as_str());
    for expected in [&p2, &p3] {
        assert_eq!(resumed.next(WAIT).await.unwrap().id.as_deref(), Some(expected.as_str()));
    }

    // `head=false`, or no `head`: no such message
    for query in ["topic=nop.noise.reading&head=false", "topic=nop.noise.reading"] {
        let mut plain = gw.stream(query, None).await;
        let p = gw.post_event(&reading(&format!("d-{query}"), "nop.noise.reading", 4.0)).await;
        let first = plain.next(WAIT).await.unwrap();
        assert_eq!(first.id.as_deref(), Some(p.as_str()), "{query}");
    }
}

#[tokio::test]
async fn a_position_from_another_epoch_gets_an_in_band_reset() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let head = gw.post_event(&reading("a", "nop.noise.reading", 1.0)).await;
    let mut sse = gw.stream("topic=nop.>", Some("1-99")).await;
    let reset = sse.next(WAIT).await.unwrap();
    assert_eq!(reset.data["type"], "herald.reset");
    assert_eq!(reset.data["data"]["requested"], "1-99");
    assert_eq!(reset.id.as_deref(), Some(head.as_str()));
    let p = gw.post_event(&reading("b", "nop.noise.reading", 2.0)).await;
    assert_eq!(sse.next(WAIT).await.unwrap().id.as_deref(), Some(p.as_str()));
}

#[tokio::test]
async fn stream_requests_are_validated() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    for (query, needle) in [
        ("", "topic"),
        ("topic=nop.>.x", "nop.>.x"),
        ("topic=a..b", "a..b"),
        ("topic=nop.>&lastEventId=yesterday", "yesterday"),
        ("topic=nop.>&head=yes", "`head` is `true` or `false`"),
    ] {
        let response = gw
            .client
            .get(format!("{}/events/stream?{query}", gw.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        let problem: Value = response.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains(needle), "{problem}");
    }
}

#[tokio::test]
async fn serves_the_page_and_answers_unknown_paths_with_404() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>NOP</h1>").unwrap();
    let gw = start(AppState::new(EventLog::in_memory()).with_static_dir(dir.path())).await;
    let page = gw.client.get(format!("{}/", gw.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "<h1>NOP</h1>");
    let missing = gw.client.get(format!("{}/nope.js", gw.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let health = gw.client.get(format!("{}/healthz", gw.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn events_survive_a_restart_on_the_same_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let posted = {
        let gw = start(AppState::new(EventLog::open(dir.path()).unwrap())).await;
        let p = gw.post_event(&reading("a", "nop.noise.reading", 1.0)).await;
        gw._server.abort();
        p
    };
    let gw = start(AppState::new(EventLog::open(dir.path()).unwrap())).await;
    let (epoch, _) = posted.split_once('-').unwrap();
    let mut sse = gw.stream(&format!("topic=nop.>&lastEventId={epoch}-0"), None).await;
    let frame = sse.next(WAIT).await.unwrap();
    assert_eq!(frame.id.as_deref(), Some(posted.as_str()));
    assert_eq!(frame.data["id"], "a");
}

#[tokio::test]
async fn streams_end_when_shutdown_is_signalled() {
    let (stop, signal) = tokio::sync::watch::channel(false);
    let gw = start(AppState::new(EventLog::in_memory()).with_shutdown(signal)).await;
    let mut sse = gw.stream("topic=nop.>", None).await;
    stop.send(true).unwrap();
    let drain = sse.next(WAIT).await.expect("a drain notice before the end");
    assert_eq!(drain.data["type"], "herald.drain");
    assert!(drain.id.is_none(), "a notice keeps the client's last position");
    let ended = tokio::time::timeout(WAIT, async {
        while sse.body.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream should end on shutdown");
}

#[tokio::test]
async fn a_repeated_source_and_id_is_accepted_once_not_twice() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let mut sse = gw.stream("topic=nop.>", None).await;
    let first = gw.post_event(&reading("dup-1", "nop.noise.reading", 1.0)).await;
    let again = gw.post_event(&reading("dup-1", "nop.noise.reading", 1.0)).await;
    let next = gw.post_event(&reading("dup-2", "nop.noise.reading", 2.0)).await;
    assert_eq!(again, first, "the repeat answers with the first position");
    assert_eq!(sse.next(WAIT).await.unwrap().data["id"], "dup-1");
    let second = sse.next(WAIT).await.unwrap();
    assert_eq!((second.data["id"].as_str(), second.id.as_deref()), (Some("dup-2"), Some(next.as_str())));
    assert!(sse.next(QUIET).await.is_none());
}

#[tokio::test]
async fn a_stream_starts_with_a_jittered_retry_delay() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let response = gw
        .client
        .get(format!("{}/events/stream?topic=nop.%3E", gw.base))
        .send()
        .await
        .unwrap();
    let mut body = Box::pin(response.bytes_stream());
    let first = tokio::time::timeout(WAIT, body.next()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8(first.to_vec()).unwrap();
    let retry: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("retry:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no retry field in {text:?}"));
    assert!((1_000..3_000).contains(&retry), "{retry}");
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_connections_events_and_replays() {
    let gw = start(AppState::new(EventLog::in_memory())).await;
    let first = gw.post_event(&reading("m1", "nop.noise.reading", 1.0)).await;
    let mut live = gw.stream("topic=nop.>", None).await;
    let replaying = gw.stream(&format!("topic=nop.>&lastEventId={}", first.split_once('-').unwrap().0.to_owned() + "-0"), None).await;
    gw.post_event(&reading("m2", "nop.noise.reading", 2.0)).await;
    live.next(WAIT).await.unwrap();
    let scrape = || async {
        let response = gw.client.get(format!("{}/metrics", gw.base)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        response.text().await.unwrap()
    };
    let text = scrape().await;
    assert_eq!(metric(&text, "herald_stream_connections"), 2.0);
    assert_eq!(metric(&text, "herald_events_ingested_total"), 2.0);
    assert_eq!(metric(&text, "herald_events_replayed_total"), 1.0);
    assert!(metric(&text, "herald_events_delivered_total") >= 1.0);
    assert_eq!(metric(&text, "herald_store_append_seconds_count"), 2.0);
    assert!(text.contains("# TYPE herald_events_ingested_total counter"));

    drop(live);
    drop(replaying);
    let mut connections = 2.0;
    for _ in 0..50 {
        connections = metric(&scrape().await, "herald_stream_connections");
        if connections == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(connections, 0.0, "closed streams are no longer counted");
}

#[tokio::test]
async fn retention_runs_in_the_background_and_a_resume_behind_it_gets_a_reset() {
    let rules = vec![herald_server::Retention {
        pattern: "nop.noise.*".parse().unwrap(),
        max_count: Some(2),
        max_age: None,
    }];
    let state = AppState::new(EventLog::in_memory()).with_retention(rules);
    tokio::spawn(herald_server::enforce_retention(state.clone(), Duration::from_millis(20)));
    let gw = start(state.clone()).await;
    let mut positions = Vec::new();
    for i in 0..5 {
        positions.push(gw.post_event(&reading(&format!("r{i}"), "nop.noise.reading", 1.0)).await);
    }
    gw.post_event(&reading("other", "nop.sensor.selected", 1.0)).await;
    for _ in 0..100 {
        if state.log().after(0).unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kept: Vec<String> = state.log().after(0).unwrap().iter().map(|s| s.event.id.clone()).collect();
    assert_eq!(kept, ["r3", "r4", "other"]);

    // behind the trim, for the trimmed topic: a reset, never a silent gap
    let mut sse = gw.stream("topic=nop.noise.*", Some(&positions[0])).await;
    let reset = sse.next(WAIT).await.unwrap();
    assert_eq!(reset.data["type"], "herald.reset");
    assert!(reset.data["data"]["reason"].as_str().unwrap().contains("retention"));
    // a topic that lost nothing resumes normally
    let mut other = gw.stream("topic=nop.sensor.*", Some(&positions[0])).await;
    assert_eq!(other.next(WAIT).await.unwrap().data["id"], "other");
    // and from after the trim, the rest is replayed
    let mut later = gw.stream("topic=nop.noise.*", Some(&positions[2])).await;
    assert_eq!(later.next(WAIT).await.unwrap().data["id"], "r3");
}
