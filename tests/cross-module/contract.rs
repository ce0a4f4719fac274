// The event contracts the cross-module tests and their peer module share, as two teams
// would share a contract crate. Included by both with `#[path]`.

use herald_bus::{Event, Request};
use serde::{Deserialize, Serialize};

/// A retained reading-like event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub n: u32,
}
impl Event for Level {
    const TYPE: &'static str = "xmod.level";
    type Data = Self;
}

/// Retained by the peer, subscribed late by the test module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerLevel {
    pub n: u32,
}
impl Event for PeerLevel {
    const TYPE: &'static str = "xmod.peer.level";
    type Data = Self;
}

/// A request the peer answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Add {
    pub n: u32,
}
impl Event for Add {
    const TYPE: &'static str = "xmod.add";
    type Data = Self;
}
impl Request for Add {
    type Reply = u32;
}

/// A request the test module answers, or claims and never answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Double {
    pub n: u32,
}
impl Event for Double {
    const TYPE: &'static str = "xmod.double";
    type Data = Self;
}
impl Request for Double {
    type Reply = u32;
}

/// Hops of a correlation chain: test → peer → test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    pub hop: u32,
}
impl Event for Hop {
    const TYPE: &'static str = "xmod.hop";
    type Data = Self;
}
