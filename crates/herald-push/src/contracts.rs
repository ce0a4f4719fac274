//! The events the page runtime publishes on the bus, typed: their one home is
//! `herald_protocol::control`, which the gateway shares.

pub use herald_protocol::control::{ConnectionState, StreamReset};
