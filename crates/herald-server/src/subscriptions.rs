//! Outbound webhook subscriptions: those of the configuration file and those made through
//! the REST API (`/webhook-subscriptions`, protocol §3.11), each running as a task that
//! delivers from its own cursor. API-made subscriptions are kept in
//! `webhook-subscriptions.json` in the data directory, so they outlive a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::Access;
use crate::bridge::webhook::{self, WebhookOut};
use crate::bridge::BridgeStatus;
use crate::{AppError, AppState};

/// The file API-made subscriptions are kept in, in the data directory.
pub const SUBSCRIPTIONS_FILE: &str = "webhook-subscriptions.json";

struct Running {
    hook: WebhookOut,
    from_config: bool,
    task: Option<tokio::task::AbortHandle>,
    status: Arc<BridgeStatus>,
}

/// Every subscription, by name.
#[derive(Default)]
pub(crate) struct Subscriptions {
    /// Where API-made subscriptions are kept (`None`: in memory only).
    file: Option<PathBuf>,
    running: Mutex<BTreeMap<String, Running>>,
}

impl Subscriptions {
    /// Subscriptions whose API-made part is kept in `file`.
    pub fn in_file(file: PathBuf) -> Self {
        Subscriptions { file: Some(file), running: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The API-made subscriptions of the file.
    pub fn load(&self) -> Result<BTreeMap<String, WebhookOut>, String> {
        let Some(file) = &self.file else { return Ok(BTreeMap::new()) };
        match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(format!("{}: {e}", file.display())),
        }
    }

    /// Writes the API-made subscriptions, durably (a new file, flushed, renamed over).
    fn save(&self) -> Result<(), AppError> {
        let Some(file) = &self.file else { return Ok(()) };
        let text = {
            let running = self.lock();
            let api: BTreeMap<&String, &WebhookOut> =
                running.iter().filter(|(_, r)| !r.from_config).map(|(n, r)| (n, &r.hook)).collect();
            serde_json::to_vec_pretty(&api).expect("subscriptions serialise")
        };
        let temporary = file.with_extension("json.new");
        let written = std::fs::File::create(&temporary)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &text).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&temporary, file));
        written.map_err(|e| AppError::Internal(format!("cannot write {}: {e}", file.display())))
    }
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions").field("names", &self.lock().keys().collect::<Vec<_>>()).finish()
    }
}

/// Starts subscription `name`: a new one delivers the events stored from now on (its
/// cursor starts at the head), one that ran before goes on from its cursor.
pub(crate) async fn start(state: &AppState, name: String, hook: WebhookOut, from_config: bool) -> Result<(), String> {
    let cursor = format!("webhook-out:{name}");
    let log = state.log.clone();
    let key = cursor.clone();
    crate::bridge::blocking(move || match log.cursor(&key)? {
        Some(_) => Ok(()),
        None => log.set_cursor(&key, log.head().seq),
    })
    .await?;
    let status = state.bridges.status(&cursor);
    let task = tokio::spawn(webhook::run(
        name.clone(),
        hook.clone(),
        state.webhook_origin.clone(),
        state.clone(),
        status.clone(),
    ));
    let old = state.subscriptions.lock().insert(
        name,
        Running { hook, from_config, task: Some(task.abort_handle()), status },
    );
    if let Some(task) = old.and_then(|o| o.task) {
        task.abort();
    }
    Ok(())
}

fn listing(name: &str, running: &Running) -> Value {
    json!({
        "name": name,
        "url": running.hook.url,
        "types": running.hook.types,
        "max_attempts": running.hook.max_attempts,
        "pause_on_dead_letter": running.hook.pause_on_dead_letter,
        "from_config": running.from_config,
        "state": if running.status.is_paused() { "paused" } else if running.status.is_up() { "up" } else { "down" },
        "lag": running.status.lag(),
        "error": running.status.last_error(),
    })
}

/// `GET /webhook-subscriptions`: every subscription, without secrets.
pub(crate) async fn list(State(state): State<AppState>, access: Access) -> Result<Json<Value>, AppError> {
    access.check_admin()?;
    let all: Vec<Value> = state.subscriptions.lock().iter().map(|(name, r)| listing(name, r)).collect();
    Ok(Json(json!({ "subscriptions": all })))
}

/// `POST /webhook-subscriptions`: a new subscription; `201` with it, its secret included
/// (made when none is given: the only time it is shown).
pub(crate) async fn create(
    State(state): State<AppState>,
    access: Access,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, AppError> {
    access.check_admin()?;
    let Json(mut body) = body.map_err(|e| AppError::BadRequest(format!("a subscription is a JSON object: {e}")))?;
    let object = body.as_object_mut().ok_or_else(|| AppError::BadRequest("a subscription is a JSON object".into()))?;
    let name = match object.remove("name") {
        Some(Value::String(name)) if valid_name(&name) => name,
        Some(_) => return Err(AppError::BadRequest("`name` is 1 to 64 letters, digits, `-`, `_` or `.`".into())),
        None => format!("sub-{:016x}", crate::stream::random_u64()),
    };
    if !object.contains_key("secret") {
        object.insert("secret".into(), Value::String(webhook::new_secret().map_err(AppError::Internal)?));
    }
    let hook: WebhookOut =
        serde_json::from_value(body).map_err(|e| AppError::BadRequest(format!("not a subscription: {e}")))?;
    hook.validate(state.allow_private_webhook_targets).await.map_err(AppError::BadRequest)?;
    if state.subscriptions.lock().contains_key(&name) {
        return Err(AppError::Conflict(format!("a subscription `{name}` exists")));
    }
    start(&state, name.clone(), hook.clone(), false).await.map_err(AppError::Internal)?;
    if let Err(error) = state.subscriptions.save() {
        if let Some(task) = state.subscriptions.lock().remove(&name).and_then(|r| r.task) {
            task.abort();
        }
        return Err(error);
    }
    let mut answer = listing(&name, &state.subscriptions.lock()[&name]);
    answer["secret"] = Value::String(hook.secret);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /webhook-subscriptions/{name}`: ends an API-made subscription (`204`).
pub(crate) async fn delete(
    State(state): State<AppState>,
    access: Access,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    access.check_admin()?;
    let removed = {
        let mut running = state.subscriptions.lock();
        match running.get(&name) {
            None => return Err(AppError::NotFound),
            Some(r) if r.from_config => {
                return Err(AppError::Conflict(format!("`{name}` is set in the configuration file")))
            }
            Some(_) => running.remove(&name),
        }
    };
    if let Some(task) = removed.and_then(|r| r.task) {
        task.abort();
    }
    state.subscriptions.save()?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /webhook-subscriptions/{name}/resume`: a paused subscription goes on.
pub(crate) async fn resume(
    State(state): State<AppState>,
    access: Access,
    Path(name): Path<String>,
) -> Result<Json<Value>, AppError> {
    access.check_admin()?;
    let running = state.subscriptions.lock();
    let subscription = running.get(&name).ok_or(AppError::NotFound)?;
    Ok(Json(json!({ "name": name, "resumed": subscription.status.resume() })))
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}
