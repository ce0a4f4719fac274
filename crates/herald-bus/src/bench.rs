//! herald's DOM transport alone: envelope bytes dispatched and heard exactly as the bus
//! does it (`js`), with no envelope made, written, read or checked. `cargo xtask bench
//! bus` measures it beside the full bus, so the difference is what the Rust side costs.

use web_sys::EventTarget;

use crate::bus::{dom_event_name, interned_name};
use crate::listener::Listener;
use crate::Subscription;

/// Dispatches `utf8` (an envelope's JSON text) as an event of type `ty`, as
/// [`Bus::publish`] does once it has the bytes (and has checked the envelope: marked so,
/// listeners do not validate it).
///
/// [`Bus::publish`]: crate::Bus::publish
pub fn dispatch(target: &EventTarget, ty: &str, utf8: &[u8]) -> bool {
    crate::js::herald_dispatch(target, &interned_name(ty), utf8, false, true, true)
}

/// Listens for events of type `ty` as a subscription does, up to the envelope's text in
/// this module, and hands `f` its length in bytes (0 when there is none).
pub fn listen(target: &EventTarget, ty: &str, f: impl Fn(usize) + 'static) -> Subscription {
    Subscription::from_listener(Listener::new(target, dom_event_name(ty), move |json, _invalid, _event| {
        f(json.map_or(0, |json| json.len()))
    }))
}
