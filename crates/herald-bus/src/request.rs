//! Request/response on top of events ("synchronous EDA").

use std::cell::RefCell;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use gloo::timers::callback::Timeout;
use herald_protocol::{Event, ExtensionValue, Request, EXT_REPLYTO};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use wasm_bindgen::{JsValue, UnwrapThrowExt};

use crate::bus::{dispatch_json, dispatch_named, dom_event_name, HandlingGuard};
use crate::json::{self, RawJson};
use crate::listener::Listener;
use crate::subscribe::Subscription;
use crate::{codec, Bus, Error, Received};

/// The type of a successful reply envelope.
pub const REPLY_TYPE: &str = "herald.reply";
/// The type of a reply envelope reporting the responder's error; `data` is
/// `{"message": string}`.
pub const REPLY_ERROR_TYPE: &str = "herald.reply.error";
/// The type of the event a requester publishes when it stops waiting; `data` is
/// `{"id": the request's id}`.
pub const CANCEL_TYPE: &str = "herald.request.cancel";
/// How long a request waits for its reply unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request got no reply.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No reply arrived in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// No responder claimed the request.
    #[error("no responder for this request")]
    NoResponder,
    /// The responder answered with an error.
    #[error("the responder failed: {0}")]
    Responder(String),
    /// The reply did not decode as the request's reply type.
    #[error("the reply could not be decoded: {0}")]
    Decode(String),
    /// The request could not be published.
    #[error(transparent)]
    Bus(#[from] Error),
}

/// A request waiting to be sent; set a timeout, then `.await` it.
#[must_use = "a request is sent when it is awaited"]
pub struct RequestBuilder<Q: Request> {
    bus: Bus,
    /// The request's id and its envelope as JSON text, made when the request was (inside
    /// the handler it continues the chain of, if any).
    envelope: Result<(String, String), Error>,
    timeout: Duration,
    _request: std::marker::PhantomData<Q>,
}

impl<Q: Request> RequestBuilder<Q> {
    /// Waits at most `timeout` for the reply (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Bus {
    /// Asks whoever responds to `Q` on this page, and returns its typed reply:
    /// `bus.request::<Q>(&q).timeout(d).await`.
    ///
    /// Dropping the future before it completes cancels the request: the reply, if any, is
    /// ignored, and responders hear `herald.request.cancel`.
    pub fn request<Q: Request>(&self, data: &Q::Data) -> RequestBuilder<Q> {
        let mut envelope = self
            .envelope::<&Q::Data>(Q::TYPE, Q::VERSION)
            .with_data(data);
        envelope
            .extensions
            .insert(EXT_REPLYTO, reply_name(&envelope.id));
        let envelope = codec::encode(&envelope).map(|json| (envelope.id, json));
        RequestBuilder {
            bus: self.clone(),
            envelope,
            timeout: DEFAULT_TIMEOUT,
            _request: std::marker::PhantomData,
        }
    }

    /// Answers requests of type `Q` with `responder`, until the returned subscription is
    /// dropped. A request is claimed by the first responder that hears it; an `Err` is
    /// sent back as [`RequestError::Responder`].
    pub fn respond<Q: Request>(
        &self,
        responder: impl FnMut(&Received<Q>) -> Result<Q::Reply, String> + 'static,
    ) -> Subscription {
        let responder = Rc::new(RefCell::new(responder));
        let bus = self.clone();
        let listener = Listener::new(
            self.as_raw(),
            dom_event_name(Q::TYPE),
            move |json, _invalid, event| {
                answer::<Q>(&bus, json.as_deref(), &event, &responder);
            },
        );
        Subscription::from_listener(listener)
    }
}

fn answer<Q: Request>(
    bus: &Bus,
    json: Option<&str>,
    event: &web_sys::Event,
    responder: &RefCell<impl FnMut(&Received<Q>) -> Result<Q::Reply, String>>,
) {
    if event.default_prevented() {
        return; // another responder claimed it
    }
    let Some(Ok(request)) = json.map(codec::decode) else {
        return; // not an envelope: the subscribers' dead-letter path reports it
    };
    let Some(reply_to) = request
        .extensions
        .get(EXT_REPLYTO)
        .and_then(ExtensionValue::as_str)
        .map(str::to_owned)
    else {
        return; // a plain event of this type, not a request
    };
    let Ok(mut responder) = responder.try_borrow_mut() else {
        return; // busy with an outer request: leave it to another responder
    };
    event.prevent_default();
    let _cause = HandlingGuard::enter(&request, false);
    let version = request.data_version();
    let mut data = None;
    let envelope = request.map_data(|d| data = Some(d));
    let outcome = if version != Q::VERSION {
        Err(format!(
            "request version {version} is not understood (version {})",
            Q::VERSION
        ))
    } else {
        match json::from_str::<Q::Data>(data.as_ref().map_or("null", RawJson::get)) {
            Ok(data) => responder(&Received::new(data, envelope)),
            Err(e) => Err(format!("the request did not decode: {e}")),
        }
    };
    let target = window_target();
    let sent = match outcome {
        Ok(reply) => {
            let reply = bus.envelope::<&Q::Reply>(REPLY_TYPE, 1).with_data(&reply);
            match dispatch_named(&target, &reply_to, &reply, false) {
                // a reply that cannot be written as JSON is the responder's error
                Err(Error::Encode(message)) => send_error(bus, &target, &reply_to, message),
                sent => sent,
            }
        }
        Err(message) => send_error(bus, &target, &reply_to, message),
    };
    if let Err(error) = sent {
        web_sys::console::error_1(&JsValue::from_str(&format!(
            "herald-bus: could not send a reply: {error}"
        )));
    }
}

/// The `data` of a `herald.reply.error`.
#[derive(Serialize, Deserialize)]
struct ErrorReply {
    message: String,
}

fn send_error(
    bus: &Bus,
    target: &web_sys::EventTarget,
    reply_to: &str,
    message: String,
) -> Result<bool, Error> {
    let reply = bus
        .envelope::<ErrorReply>(REPLY_ERROR_TYPE, 1)
        .with_data(ErrorReply { message });
    dispatch_named(target, reply_to, &reply, false)
}

/// The DOM event name of the reply to request `id`.
fn reply_name(id: &str) -> String {
    format!("herald:reply:{id}")
}

fn window_target() -> web_sys::EventTarget {
    crate::window()
        .expect_throw("herald-bus needs a window")
        .into()
}

type Outcome<R> = Option<Result<R, RequestError>>;

struct Shared<R> {
    outcome: Outcome<R>,
    waker: Option<Waker>,
}

impl<R> Shared<R> {
    fn settle(&mut self, outcome: Result<R, RequestError>) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
        }
    }
}

/// A request in flight: resolves to the reply, or the reason there is none.
#[must_use = "dropping a PendingRequest cancels it"]
pub struct PendingRequest<Q: Request> {
    shared: Rc<RefCell<Shared<Q::Reply>>>,
    bus: Bus,
    id: String,
    finished: bool,
    _listener: Option<Listener>,
    _timer: Option<Timeout>,
}

impl<Q: Request> IntoFuture for RequestBuilder<Q> {
    type Output = Result<Q::Reply, RequestError>;
    type IntoFuture = PendingRequest<Q>;

    fn into_future(self) -> PendingRequest<Q> {
        let shared = Rc::new(RefCell::new(Shared {
            outcome: None,
            waker: None,
        }));
        let mut pending = PendingRequest {
            shared: shared.clone(),
            bus: self.bus.clone(),
            id: String::new(),
            finished: false,
            _listener: None,
            _timer: None,
        };
        let (id, envelope) = match self.envelope {
            Ok(envelope) => envelope,
            Err(error) => {
                shared.borrow_mut().settle(Err(error.into()));
                return pending;
            }
        };
        let reply_to = reply_name(&id);
        pending.id = id;
        let on_reply = shared.clone();
        pending._listener = Some(Listener::new(
            &window_target(),
            reply_to,
            move |json, _invalid, _event| {
                on_reply
                    .borrow_mut()
                    .settle(read_reply::<Q::Reply>(json.as_deref()));
            },
        ));
        let on_timeout = shared.clone();
        let timeout = self.timeout;
        let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        pending._timer = Some(Timeout::new(millis, move || {
            on_timeout
                .borrow_mut()
                .settle(Err(RequestError::Timeout(timeout)));
        }));
        // not canceled: nobody called preventDefault, so nobody claimed it
        if dispatch_json(self.bus.as_raw(), &dom_event_name(Q::TYPE), &envelope, true) {
            shared.borrow_mut().settle(Err(RequestError::NoResponder));
        }
        pending
    }
}

fn read_reply<R: serde::de::DeserializeOwned>(json: Option<&str>) -> Result<R, RequestError> {
    let json = json
        .ok_or_else(|| RequestError::Decode("the reply's `detail` is not a JSON object".into()))?;
    let reply = codec::decode(json).map_err(RequestError::Decode)?;
    let data = reply.data.as_ref().map_or("null", RawJson::get);
    if reply.ty == REPLY_ERROR_TYPE {
        let message = json::from_str::<ErrorReply>(data)
            .map(|error| error.message)
            .unwrap_or_else(|_| "(no message)".to_owned());
        return Err(RequestError::Responder(message));
    }
    json::from_str(data).map_err(|e| RequestError::Decode(e.to_string()))
}

impl<Q: Request> Future for PendingRequest<Q> {
    type Output = Result<Q::Reply, RequestError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut shared = self.shared.borrow_mut();
        match shared.outcome.take() {
            Some(outcome) => {
                drop(shared);
                self.finished = true;
                self._listener = None;
                self._timer = None;
                Poll::Ready(outcome)
            }
            None => {
                shared.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<Q: Request> Drop for PendingRequest<Q> {
    fn drop(&mut self) {
        let answered = self.finished || self.shared.borrow().outcome.is_some();
        if !answered && !self.id.is_empty() {
            #[derive(Serialize)]
            struct Cancel<'a> {
                id: &'a str,
            }
            let cancel = self
                .bus
                .envelope::<Cancel>(CANCEL_TYPE, 1)
                .with_data(Cancel { id: &self.id });
            let _ = self.bus.dispatch(&cancel, false);
        }
    }
}

/// `herald.request.cancel`: a requester stopped waiting for the reply to request `id`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, Serialize)]
pub struct RequestCancelled {
    /// The id of the request.
    pub id: String,
}

impl Event for RequestCancelled {
    const TYPE: &'static str = CANCEL_TYPE;
    type Data = Self;
}
