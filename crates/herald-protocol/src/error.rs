use thiserror::Error;

/// Everything that can be wrong with herald's wire data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The input was not valid JSON, or not a JSON object of the expected shape.
    #[error("malformed event JSON: {0}")]
    Json(String),
    /// A required CloudEvents attribute is absent.
    #[error("required attribute `{0}` is missing")]
    MissingAttribute(&'static str),
    /// An attribute is present but its value breaks the CloudEvents rules.
    #[error("attribute `{name}` is invalid: {reason}")]
    InvalidAttribute {
        /// The attribute's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The event names a `specversion` other than `1.0`.
    #[error("specversion `{0}` is not supported; herald speaks CloudEvents 1.0")]
    UnsupportedSpecVersion(String),
    /// A topic pattern is not well formed.
    #[error("invalid topic pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A stream position is not of the form `EPOCH-SEQ`.
    #[error("invalid stream position `{0}`: expected EPOCH-SEQ, two decimal numbers")]
    InvalidPosition(String),
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e.to_string())
    }
}
