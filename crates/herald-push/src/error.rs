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
    /// A pointer event's document is not of the type asked for ([`Push::resolve`]).
    ///
    /// [`Push::resolve`]: crate::Push::resolve
    #[error("the document at {url}: {reason}")]
    Document {
        /// The document's URL.
        url: String,
        /// Why it could not be read.
        reason: String,
    },
}

impl From<JsValue> for Error {
    fn from(value: JsValue) -> Self {
        Error::Js(value.into())
    }
}
