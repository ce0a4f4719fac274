use thiserror::Error;
use wasm_bindgen::JsValue;

/// What can go wrong on the bus.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A payload could not be turned into a JS value.
    #[error("could not encode the event: {0}")]
    Encode(String),
    /// The event type was declared retained before with another policy.
    #[error("`{ty}` is already retained with policy {existing}")]
    RetentionConflict {
        /// The event type.
        ty: String,
        /// The policy in force, as JSON.
        existing: String,
    },
    /// An envelope broke the CloudEvents rules.
    #[error(transparent)]
    Protocol(#[from] herald_protocol::Error),
    /// A JavaScript exception.
    #[error(transparent)]
    Js(#[from] JsError),
}

impl From<JsValue> for Error {
    fn from(value: JsValue) -> Self {
        Error::Js(value.into())
    }
}

/// A JavaScript exception, turned into Rust once, at the boundary.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{name}: {message}")]
pub struct JsError {
    /// The exception's `name`, e.g. `SyntaxError` (`Error` when it has none).
    pub name: String,
    /// The exception's `message` (or the thrown value as text).
    pub message: String,
}

impl From<JsValue> for JsError {
    fn from(value: JsValue) -> Self {
        let field = |key: &str| {
            js_sys::Reflect::get(&value, &JsValue::from_str(key))
                .ok()
                .and_then(|v| v.as_string())
        };
        JsError {
            name: field("name").unwrap_or_else(|| "Error".to_owned()),
            message: field("message")
                .or_else(|| value.as_string())
                .unwrap_or_else(|| crate::js::herald_text_of(&value)),
        }
    }
}
