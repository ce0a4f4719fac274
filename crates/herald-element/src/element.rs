use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

use crate::Error;

/// A Rust type that backs a custom element.
///
/// One value is created per element, in the element's constructor, and dropped when the
/// element is garbage-collected. Every callback receives the host element.
pub trait CustomElement: 'static {
    /// Attributes whose changes call [`CustomElement::attribute_changed`].
    fn observed_attributes() -> &'static [&'static str] {
        &[]
    }

    /// Creates the value for a new element. The element may not be in the document yet,
    /// and must not be given children or attributes here (the HTML spec forbids it).
    fn create(host: &HtmlElement) -> Self
    where
        Self: Sized;

    /// The element was inserted into a document.
    fn connected(&mut self, _host: &HtmlElement) {}

    /// The element was removed from its document; release listeners and subscriptions.
    fn disconnected(&mut self, _host: &HtmlElement) {}

    /// The element was moved into a new document.
    fn adopted(&mut self, _host: &HtmlElement) {}

    /// An observed attribute was added, changed or removed.
    fn attribute_changed(
        &mut self,
        _host: &HtmlElement,
        _name: &str,
        _old: Option<String>,
        _new: Option<String>,
    ) {
    }
}

/// The per-element value as JavaScript holds it; created by [`define`]'s shim, not by you.
#[wasm_bindgen]
pub struct ElementInstance {
    inner: Box<dyn CustomElementDyn>,
}

#[wasm_bindgen]
impl ElementInstance {
    /// Forwards `connectedCallback`.
    pub fn connected(&mut self, host: HtmlElement) {
        self.inner.connected(&host);
    }

    /// Forwards `disconnectedCallback`.
    pub fn disconnected(&mut self, host: HtmlElement) {
        self.inner.disconnected(&host);
    }

    /// Forwards `adoptedCallback`.
    pub fn adopted(&mut self, host: HtmlElement) {
        self.inner.adopted(&host);
    }

    /// Forwards `attributeChangedCallback`.
    pub fn attribute_changed(&mut self, host: HtmlElement, name: String, old: Option<String>, new: Option<String>) {
        self.inner.attribute_changed(&host, &name, old, new);
    }
}

/// The object-safe face of [`CustomElement`].
trait CustomElementDyn {
    fn connected(&mut self, host: &HtmlElement);
    fn disconnected(&mut self, host: &HtmlElement);
    fn adopted(&mut self, host: &HtmlElement);
    fn attribute_changed(&mut self, host: &HtmlElement, name: &str, old: Option<String>, new: Option<String>);
}

impl<T: CustomElement> CustomElementDyn for T {
    fn connected(&mut self, host: &HtmlElement) {
        CustomElement::connected(self, host)
    }
    fn disconnected(&mut self, host: &HtmlElement) {
        CustomElement::disconnected(self, host)
    }
    fn adopted(&mut self, host: &HtmlElement) {
        CustomElement::adopted(self, host)
    }
    fn attribute_changed(&mut self, host: &HtmlElement, name: &str, old: Option<String>, new: Option<String>) {
        CustomElement::attribute_changed(self, host, name, old, new)
    }
}

type Factory = Closure<dyn FnMut(HtmlElement) -> ElementInstance>;

thread_local! {
    /// The constructors of the elements this module defined. A custom element definition
    /// cannot be removed from a page, so these live as long as the module.
    static DEFINITIONS: RefCell<Vec<Factory>> = const { RefCell::new(Vec::new()) };
}

#[wasm_bindgen(inline_js = r#"
export function herald_define(tag, observed, create) {
  customElements.define(tag, class extends HTMLElement {
    #rust;
    static get observedAttributes() { return observed; }
    constructor() { super(); this.#rust = create(this); }
    connectedCallback() { this.#rust.connected(this); }
    disconnectedCallback() { this.#rust.disconnected(this); }
    adoptedCallback() { this.#rust.adopted(this); }
    attributeChangedCallback(name, oldValue, newValue) {
      this.#rust.attribute_changed(this, name, oldValue, newValue);
    }
  });
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn herald_define(tag: &str, observed: js_sys::Array, create: &js_sys::Function) -> Result<(), JsValue>;
}

/// Whether `tag` is defined on this page, by any module.
pub fn is_defined(tag: &str) -> bool {
    web_sys::window()
        .map(|w| w.custom_elements().get(tag))
        .is_some_and(|ctor| !ctor.is_undefined())
}

/// Defines `<tag>` as a custom element backed by `E`.
///
/// Elements already in the page are upgraded at once. Fails with
/// [`Error::AlreadyDefined`] if any module defined the tag before, and with [`Error::Js`]
/// if the tag is not a valid custom element name.
pub fn define<E: CustomElement>(tag: &str) -> Result<(), Error> {
    if is_defined(tag) {
        return Err(Error::AlreadyDefined(tag.to_owned()));
    }
    let observed: js_sys::Array = E::observed_attributes()
        .iter()
        .map(|name| JsValue::from_str(name))
        .collect();
    let factory: Factory = Closure::new(|host: HtmlElement| ElementInstance {
        inner: Box::new(E::create(&host)),
    });
    herald_define(tag, observed, factory.as_ref().unchecked_ref())?;
    DEFINITIONS.with(|defs| defs.borrow_mut().push(factory));
    Ok(())
}
