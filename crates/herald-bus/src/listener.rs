use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::EventTarget;

use crate::js;

type Callback = Closure<dyn Fn(Option<String>, web_sys::Event)>;

/// A DOM event listener removed when dropped. Its callback receives the event's `detail`
/// as JSON text (`None` when the detail is not a JSON object) and the event.
///
/// Unlike a `FnMut` listener, its `Fn` callback may be re-entered: a handler that
/// publishes an event its own subscription hears runs into its own listener again, and
/// the subscription queues that delivery instead of failing.
pub(crate) struct Listener {
    target: EventTarget,
    name: String,
    listener: js_sys::Function,
    closure: Option<Callback>,
}

impl Listener {
    pub(crate) fn new(
        target: &EventTarget,
        name: String,
        callback: impl Fn(Option<String>, web_sys::Event) + 'static,
    ) -> Self {
        let closure: Callback = Closure::new(callback);
        let listener = js::herald_listen(target, &name, closure.as_ref().unchecked_ref());
        Listener {
            target: target.clone(),
            name,
            listener,
            closure: Some(closure),
        }
    }

    /// Leaves the listener registered for the rest of the page's life.
    pub(crate) fn forget(mut self) {
        if let Some(closure) = self.closure.take() {
            closure.forget();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if self.closure.is_some() {
            js::herald_unlisten(&self.target, &self.name, &self.listener);
        }
    }
}
