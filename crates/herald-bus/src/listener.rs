use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::EventTarget;

use std::cell::Cell;

use crate::js;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
}

/// How many DOM listeners herald holds in this wasm module right now: bus subscriptions,
/// responders, pending requests, push streams. An element that releases its
/// subscriptions on disconnect brings this back to where it was.
pub fn live_listeners() -> usize {
    LIVE.with(Cell::get)
}

/// Counts one live listener for as long as it lives (for listeners herald makes outside
/// this crate, such as herald-push's `EventSource` handlers).
#[derive(Debug)]
pub struct LiveListener(());

impl LiveListener {
    /// Counts one more live listener until dropped.
    pub fn new() -> Self {
        LIVE.with(|live| live.set(live.get() + 1));
        LiveListener(())
    }
}

impl Default for LiveListener {
    fn default() -> Self {
        LiveListener::new()
    }
}

impl Drop for LiveListener {
    fn drop(&mut self) {
        LIVE.with(|live| live.set(live.get().saturating_sub(1)));
    }
}

type Callback = Closure<dyn Fn(Option<Vec<u8>>, Option<String>, web_sys::Event)>;

/// A DOM event listener removed when dropped. Its callback receives the event's envelope
/// as JSON text (`None` when its `detail` is not a JSON object, or the bytes it carries
/// are not UTF-8), why it is not a valid CloudEvent when it is not (checked in
/// JavaScript, unless herald's publisher checked it where it made it, docs/protocol.md
/// §2.1), and the event.
///
/// Unlike a `FnMut` listener, its `Fn` callback may be re-entered: a handler that
/// publishes an event its own subscription hears runs into its own listener again, and
/// the subscription queues that delivery instead of failing.
pub(crate) struct Listener {
    target: EventTarget,
    name: String,
    listener: js_sys::Function,
    closure: Option<Callback>,
    live: Option<LiveListener>,
}

impl Listener {
    pub(crate) fn new(
        target: &EventTarget,
        name: String,
        callback: impl Fn(Option<String>, Option<String>, web_sys::Event) + 'static,
    ) -> Self {
        // the envelope arrives as UTF-8 bytes
        let closure: Callback = Closure::new(move |utf8: Option<Vec<u8>>, invalid, event| {
            callback(crate::codec::text(utf8), invalid, event)
        });
        let listener = js::herald_listen(target, &name, closure.as_ref().unchecked_ref(), &crate::bus::module_id());
        Listener {
            target: target.clone(),
            name,
            listener,
            closure: Some(closure),
            live: Some(LiveListener::new()),
        }
    }

    /// Leaves the listener registered for the rest of the page's life.
    pub(crate) fn forget(mut self) {
        if let Some(closure) = self.closure.take() {
            closure.forget();
        }
        // still live, for good: it stays counted
        std::mem::forget(self.live.take());
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if self.closure.is_some() {
            js::herald_unlisten(&self.target, &self.name, &self.listener, &crate::bus::module_id());
        }
    }
}
