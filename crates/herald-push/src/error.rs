use thiserror::Error;
use wasm_bindgen::JsValue;

/// What can go wrong with the push stream.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A topic pattern was rejected before any connection was made.
    #[error(transparent)]
    Protocol(#[from] herald_protocol::Error),
    /// A JavaScript exception, caught at the boundary (e.g. an invalid URL).
    #[error("{name}: {message}")]
    Js {
        /// The exception's `name`.
        name: String,
        /// The exception's `message`.
        message: String,
    },
}

impl From<JsValue> for Error {
    fn from(value: JsValue) -> Self {
        let field = |key: &str| {
            js_sys::Reflect::get(&value, &JsValue::from_str(key))
                .ok()
                .and_then(|v| v.as_string())
        };
        Error::Js {
            name: field("name").unwrap_or_else(|| "Error".to_owned()),
            message: field("message")
                .or_else(|| value.as_string())
                .unwrap_or_else(|| format!("{value:?}")),
        }
    }
}
