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
    /// A JavaScript exception (e.g. an invalid URL).
    #[error(transparent)]
    Js(#[from] JsError),
}

impl From<JsValue> for Error {
    fn from(value: JsValue) -> Self {
        Error::Js(value.into())
    }
}
