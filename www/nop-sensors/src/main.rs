//! `nop-sensors`: NOP's query side. It follows the herald gateway's event stream (`nop.>`,
//! from position zero: the log is the event store) into a [`Projection`] of every sensor,
//! and serves it over REST:
//!
//! - `GET /sensors`: `{"position", "events", "skipped", "sensors": [{sensor, level_db,
//!   readings, last_reading, muted, last_calibration, alerts_last_hour}]}`;
//! - `GET /sensors/{id}`: one sensor, `404` if the log never named it;
//! - `POST /rebuild`: a new projection from position zero up to the live one's position,
//!   compared with it and put in its place: `{"position", "events", "equal"}`.
//!
//! It is also a server-side responder (request/response over events): a
//! `nop.sensor.latest` request in the stream, sent in the last 30 s, is answered with a
//! `herald.reply` event posted to the gateway, `causationid` the request's id, `data` the
//! sensor's latest reading (or `null`).
//!
//! Errors are RFC 9457 problem documents. The gateway's `herald.reset` (another store, or
//! a position it cannot honour) makes it start again from zero; `herald.slow` and
//! `herald.drain`, or a lost connection, make it resume from its position.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use herald_client::Client;
use herald_protocol::{CloudEvent, Event, Position, EXT_REPLYTO};
use nop_events::LatestReading;
use nop_sensors::Projection;
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// Projects every NOP sensor's state from a herald gateway's event log and serves it.
#[derive(Debug, Parser)]
#[command(name = "nop-sensors", version)]
struct Cli {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    gateway: String,
    /// Address to listen on; port 0 picks a free port. The bound address is printed on
    /// standard output as `nop-sensors listening on http://ADDR/`.
    #[arg(long, default_value = "127.0.0.1:8788")]
    listen: SocketAddr,
    /// A page origin allowed to read the REST API from a browser (CORS); repeatable.
    #[arg(long)]
    cors_origin: Vec<String>,
    /// A bearer token for the gateway's stream (with `herald.subscribe` of `nop.>`).
    #[arg(long, env = "NOP_SENSORS_TOKEN")]
    token: Option<String>,
}

/// How long a rebuild may take before it is given up (the live projection stays).
const REBUILD_TIME: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct AppState {
    live: Arc<Mutex<Projection>>,
    gateway: Client,
    cors: Arc<Vec<HeaderValue>>,
}

/// What a `herald.reset` asks of a follower: the position to start again from, zero of
/// the gateway's log; or `None` when it reset from zero already (retention removed the
/// oldest events: the projection starts at what is left).
fn after_reset(event: &CloudEvent) -> Result<Option<Position>, String> {
    let data = event.data.as_ref().ok_or("a herald.reset without data")?;
    let field = |name: &str| -> Result<Position, String> {
        data[name].as_str().ok_or(format!("a herald.reset without `{name}`"))?.parse().map_err(|e| format!("herald.reset `{name}`: {e}"))
    };
    let (requested, head) = (field("requested")?, field("head")?);
    let zero = Position::new(head.epoch, 0);
    Ok((requested != zero).then_some(zero))
}

/// Follows the gateway's stream into the live projection, for ever.
async fn follow(state: AppState) {
    let mut cursor: Option<Position> = None;
    let mut backoff = Duration::from_millis(250);
    loop {
        let from = cursor.map_or("0-0".to_owned(), |p| p.to_string());
        let mut restart: Option<Position> = None;
        let result = state
            .gateway
            .stream(&["nop.>"], Some(&from), |frame| {
                // the lock is taken per event, so that REST readers and rebuilds interleave
                let Ok(mut model) = state.live.try_lock() else {
                    // a rebuild holds it: start again from where the model is once it is done
                    return ControlFlow::Break(());
                };
                match (frame.position, frame.event.ty.as_str()) {
                    (Some(head), "herald.reset") => match after_reset(&frame.event) {
                        Ok(Some(zero)) => {
                            *model = Projection::default();
                            restart = Some(zero);
                            ControlFlow::Break(())
                        }
                        Ok(None) => {
                            eprintln!("nop-sensors: the oldest events were removed by retention; projecting from {head}");
                            *model = Projection::default();
                            cursor = Some(head);
                            ControlFlow::Continue(())
                        }
                        Err(e) => {
                            eprintln!("nop-sensors: {e}");
                            ControlFlow::Break(())
                        }
                    },
                    (Some(position), ty) => {
                        if model.position().is_none_or(|p| p.epoch != position.epoch || p.seq < position.seq) {
                            model.apply(position, &frame.event);
                            if ty == LatestReading::TYPE {
                                answer(&state.gateway, &frame.event, &model);
                            }
                        }
                        cursor = Some(position);
                        ControlFlow::Continue(())
                    }
                    // herald.slow, herald.drain: resume from the position
                    (None, _) => ControlFlow::Break(()),
                }
            })
            .await;
        let position = state.live.lock().await.position();
        cursor = restart.or(position).or(cursor);
        match result {
            Ok(_) => backoff = Duration::from_millis(250),
            Err(e) => {
                eprintln!("nop-sensors: the stream of {}: {e}", state.gateway.base());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// How old a request may be and still be answered: a replay of the log (a restart, a
/// new epoch) does not answer requests whose senders stopped waiting long ago.
const ANSWER_WITHIN_MS: u64 = 30_000;

/// Answers the `nop.sensor.latest` request `request` from `model`, if it is a request
/// (it has `replyto`) sent in the last [`ANSWER_WITHIN_MS`]: a `herald.reply` posted to
/// the gateway in the request's chain.
fn answer(gateway: &Client, request: &CloudEvent, model: &Projection) {
    if !request.extensions.contains_key(EXT_REPLYTO) {
        return;
    }
    let sent = request.time.as_deref().and_then(herald_protocol::unix_millis_from_rfc3339).unwrap_or(0);
    if now_ms().saturating_sub(sent) > ANSWER_WITHIN_MS {
        return;
    }
    let asked = request.data.clone().map(serde_json::from_value::<LatestReading>);
    let (ty, data) = match asked {
        Some(Ok(asked)) => ("herald.reply", json!(model.latest(&asked.sensor))),
        _ => ("herald.reply.error", json!({"message": "the request is not a nop.sensor.latest request ({\"sensor\": ID})"})),
    };
    let reply: CloudEvent = CloudEvent::new(format!("{}-reply", request.id), "urn:nop:sensors", ty)
        .with_time_millis(now_ms())
        .with_data(data)
        .caused_by(request);
    let gateway = gateway.clone();
    tokio::spawn(async move {
        if let Err(error) = gateway.publish(&reply).await {
            eprintln!("nop-sensors: the reply {} did not go: {error}", reply.id);
        }
    });
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    (status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
}

async fn sensors(State(state): State<AppState>) -> Json<Value> {
    Json(state.live.lock().await.view(now_ms()))
}

async fn sensor(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.live.lock().await.sensor_view(&id, now_ms()) {
        Some(view) => Json(view).into_response(),
        None => problem(StatusCode::NOT_FOUND, &format!("no sensor `{id}` in the log")),
    }
}

/// Builds a projection from position zero up to the live one's position, with the live
/// one held still meanwhile, compares the two and keeps the new one.
async fn rebuild(State(state): State<AppState>) -> Response {
    let mut live = state.live.lock().await;
    let Some(target) = live.position() else {
        return Json(json!({"position": null, "events": 0, "equal": *live == Projection::default()})).into_response();
    };
    let mut fresh = Projection::default();
    let from = Position::new(target.epoch, 0).to_string();
    let replay = state.gateway.stream(&["nop.>"], Some(&from), |frame| {
        match frame.position {
            Some(position) if frame.event.ty != "herald.reset" => fresh.apply(position, &frame.event),
            // the log is not the one the live projection read
            _ => return ControlFlow::Break(()),
        }
        if fresh.position() == Some(target) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    match tokio::time::timeout(REBUILD_TIME, replay).await {
        Ok(Ok(_)) if fresh.position() == Some(target) => {
            let equal = fresh == *live;
            let events = fresh.events();
            *live = fresh;
            Json(json!({"position": target.to_string(), "events": events, "equal": equal})).into_response()
        }
        Ok(Ok(_)) => problem(
            StatusCode::CONFLICT,
            &format!("the log from zero did not reach the live position {target}: it is another log, or retention removed events"),
        ),
        Ok(Err(e)) => problem(StatusCode::BAD_GATEWAY, &format!("the gateway's stream: {e}")),
        Err(_) => problem(StatusCode::SERVICE_UNAVAILABLE, "the rebuild took longer than 60 s; the live projection stays"),
    }
}

/// CORS for the configured origins only (simple requests: GET and an empty POST).
async fn cors(State(state): State<AppState>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = next.run(request).await;
    let headers: &mut HeaderMap = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin.filter(|o| state.cors.contains(o)) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/sensors", get(sensors))
        .route("/sensors/{id}", get(sensor))
        .route("/rebuild", post(rebuild))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "no such resource: see GET /sensors, GET /sensors/{id}, POST /rebuild") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut cors = Vec::new();
    for origin in &cli.cors_origin {
        match HeaderValue::from_str(origin.trim_end_matches('/')) {
            Ok(value) => cors.push(value),
            Err(_) => {
                eprintln!("nop-sensors: --cors-origin `{origin}` is not an origin");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let state = AppState {
        live: Arc::default(),
        gateway: Client::new(&cli.gateway).with_token(cli.token),
        cors: Arc::new(cors),
    };
    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("nop-sensors: cannot listen on {}: {e}", cli.listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    let address = listener.local_addr().map_or_else(|_| cli.listen.to_string(), |a| a.to_string());
    println!("nop-sensors listening on http://{address}/");
    tokio::spawn(follow(state.clone()));
    match axum::serve(listener, app(state)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nop-sensors: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
