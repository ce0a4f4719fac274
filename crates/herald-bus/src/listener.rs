use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::EventTarget;

/// A DOM event listener removed when dropped.
///
/// Unlike a `FnMut` listener, its `Fn` callback may be re-entered: a handler that
/// publishes an event its own subscription hears runs into its own listener again, and
/// the subscription queues that delivery instead of failing.
pub(crate) struct Listener {
    target: EventTarget,
    name: String,
    closure: Option<Closure<dyn Fn(web_sys::Event)>>,
}

impl Listener {
    pub(crate) fn new(target: &EventTarget, name: String, callback: impl Fn(web_sys::Event) + 'static) -> Self {
        let closure = Closure::<dyn Fn(web_sys::Event)>::new(callback);
        // Adding a listener with a function callback cannot fail.
        let _ = target.add_event_listener_with_callback(&name, closure.as_ref().unchecked_ref());
        Listener {
            target: target.clone(),
            name,
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
        if let Some(closure) = &self.closure {
            let _ = self
                .target
                .remove_event_listener_with_callback(&self.name, closure.as_ref().unchecked_ref());
        }
    }
}
