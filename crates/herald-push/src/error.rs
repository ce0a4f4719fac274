use herald_bus::JsError;
use thiserror::Error;
use wasm_bindgen::JsValue;

/// What can go wrong with the push stream.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A topic pattern was rejected before any connection was made.
    #[error(transparent)]
    Protocol(#[from] herald_protocol::Error),
    /// A JavaScript exception (e.g. an invalid URL, or a failed `fetch`).
    #[error(transparent)]
    Js(#[from] JsError),
    /// The gateway did not accept a published event.
    #[error("the gateway refused the event ({status}): {detail}")]
    Rejected {
        /// The HTTP status (0: the request was not made).
        status: u16,
        /// The gateway's `detail`, or what went wrong.
        detail: String,
    },
}

impl From<JsValue> for Error {
    fn from(value: JsValue) -> Self {
        Error::Js(value.into())
    }
}
