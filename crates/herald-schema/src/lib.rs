//! # herald-schema
//!
//! Publishes herald event contracts for other languages: from a Rust event type (an
//! [`Event`] whose payload derives [`schemars::JsonSchema`]) it makes a JSON Schema of the
//! payload, and from a set of contracts one TypeScript declaration file that types the
//! bus's DOM events, so that a plain-JS or TypeScript micro-frontend gets
//! `window.addEventListener("herald:nop.noise.reading", e => e.detail.data.db)` checked.
//!
//! ```
//! use herald_protocol::Event;
//! use herald_schema::{typescript, Contract};
//!
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! struct SensorSelected { sensor: String }
//! impl Event for SensorSelected {
//!     const TYPE: &'static str = "nop.sensor.selected";
//!     type Data = Self;
//! }
//!
//! let contract = Contract::of::<SensorSelected>();
//! assert_eq!(contract.file_name(), "nop.sensor.selected.v1.schema.json");
//! assert!(typescript(&[contract]).contains("\"herald:nop.sensor.selected\": CustomEvent<CloudEvent<SensorSelected>>;"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod typescript;

use herald_protocol::Event;
use schemars::JsonSchema;
use serde_json::{json, Value};

pub use typescript::typescript;

/// One event contract: its type, version, payload name and payload schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Contract {
    /// The CloudEvents `type`.
    pub ty: &'static str,
    /// The payload contract's version.
    pub version: u32,
    /// The payload's Rust type name, used as the TypeScript interface name.
    pub name: String,
    /// The payload's JSON Schema (draft 2020-12).
    pub schema: Value,
}

impl Contract {
    /// The contract of event type `E`.
    pub fn of<E: Event>() -> Self
    where
        E::Data: JsonSchema,
    {
        let schema = schemars::schema_for!(E::Data);
        let mut schema = schema.to_value();
        let name = schema
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("Payload")
            .to_owned();
        if let Some(object) = schema.as_object_mut() {
            object.insert("$id".into(), json!(format!("urn:herald:schema:{}:v{}", E::TYPE, E::VERSION)));
            object.insert("x-herald-type".into(), json!(E::TYPE));
            object.insert("x-herald-version".into(), json!(E::VERSION));
            object.insert(
                "description".into(),
                json!(format!(
                    "The `data` of a `{}` event, payload version {} (herald DOM event `herald:{}`).",
                    E::TYPE,
                    E::VERSION,
                    E::TYPE
                )),
            );
        }
        Contract {
            ty: E::TYPE,
            version: E::VERSION,
            name,
            schema,
        }
    }

    /// The file name of its schema: `TYPE.vVERSION.schema.json`.
    pub fn file_name(&self) -> String {
        format!("{}.v{}.schema.json", self.ty, self.version)
    }

    /// The schema file's content: pretty JSON with a trailing newline.
    pub fn schema_file(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.schema).expect("a schema is JSON");
        text.push('\n');
        text
    }
}
