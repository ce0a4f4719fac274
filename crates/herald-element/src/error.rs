use thiserror::Error;
use wasm_bindgen::JsValue;

/// What can go wrong when defining an element.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The tag is already defined on this page (by this module or another).
    #[error("custom element <{0}> is already defined")]
    AlreadyDefined(String),
    /// A JavaScript exception, caught at the boundary (e.g. an invalid tag name).
    #[error("{name}: {message}")]
    Js {
        /// The exception's `name`, e.g. `SyntaxError`.
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
