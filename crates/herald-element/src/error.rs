use herald_bus::JsError;
use thiserror::Error;
use wasm_bindgen::JsValue;

/// What can go wrong when defining an element.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The tag is already defined on this page (by this module or another).
    #[error("custom element <{0}> is already defined")]
    AlreadyDefined(String),
    /// A JavaScript exception (e.g. a `SyntaxError` for an invalid tag name).
    #[error(transparent)]
    Js(#[from] JsError),
}

impl From<JsValue> for Error {
    fn from(value: JsValue) -> Self {
        Error::Js(value.into())
    }
}
