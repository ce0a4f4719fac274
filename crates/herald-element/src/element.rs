use std::any::Any;
use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use web_sys::{Element, HtmlElement, Node};

use crate::Error;

/// Whether an element renders into a shadow root, and of which mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shadow {
    /// No shadow root: the element renders into itself (light DOM); page CSS applies.
    None,
    /// An open shadow root (`element.shadowRoot` is visible to page scripts).
    Open,
    /// A closed shadow root (`element.shadowRoot` is `null`; only the element reaches it).
    Closed,
}

impl Shadow {
    fn mode(self) -> &'static str {
        match self {
            Shadow::None => "",
            Shadow::Open => "open",
            Shadow::Closed => "closed",
        }
    }
}

/// A Rust type that backs a custom element.
///
/// One value is created per element, in the element's constructor, and dropped when the
/// element is garbage-collected. Every callback receives the element's [`Host`]: the
/// element, the root it renders into, and a place to keep what must live only while the
/// element is connected.
pub trait CustomElement: 'static {
    /// Whether the element renders into a shadow root.
    const SHADOW: Shadow = Shadow::None;

    /// CSS for the element's shadow root, applied as one constructable stylesheet
    /// (`adoptedStyleSheets`) shared by every instance: page CSS does not reach in, and
    /// this CSS does not leak out. Ignored without a shadow root.
    fn styles() -> &'static str {
        ""
    }

    /// JavaScript properties of the element (`el.threshold = 85`): reading one calls
    /// [`CustomElement::property`], assigning one calls [`CustomElement::set_property`].
    fn properties() -> &'static [&'static str] {
        &[]
    }

    /// The value of property `name` for JavaScript (`undefined` by default). Typed values
    /// convert with [`to_js`].
    fn property(&self, _host: &Host, _name: &str) -> JsValue {
        JsValue::UNDEFINED
    }

    /// JavaScript assigned `value` to property `name`. Decode it with [`from_js`]; an
    /// `Err` is thrown to the assigning script as a `TypeError` with that message, and the
    /// element keeps its state.
    fn set_property(&mut self, _host: &mut Host, name: &str, _value: JsValue) -> Result<(), String> {
        Err(format!("property `{name}` is read-only"))
    }

    /// Attributes whose changes call [`CustomElement::attribute_changed`].
    fn observed_attributes() -> &'static [&'static str] {
        &[]
    }

    /// Creates the value for a new element. The element may not be in the document yet,
    /// and must not be given children or attributes here (the HTML spec forbids it).
    fn create(host: &Host) -> Self
    where
        Self: Sized;

    /// The element was inserted into a document. Whatever is given to [`Host::keep`]
    /// here is dropped when the element is disconnected.
    fn connected(&mut self, _host: &mut Host) {}

    /// The element was removed from its document. Everything kept with [`Host::keep`] is
    /// dropped right after this returns.
    fn disconnected(&mut self, _host: &mut Host) {}

    /// The element was moved into a new document.
    fn adopted(&mut self, _host: &mut Host) {}

    /// An observed attribute was added, changed or removed.
    fn attribute_changed(&mut self, _host: &mut Host, _name: &str, _old: Option<String>, _new: Option<String>) {}
}

/// What a callback gets to work with: the element, the root it renders into (its shadow
/// root, or itself), and the handles it keeps while connected.
pub struct Host<'a> {
    element: &'a HtmlElement,
    root: &'a Node,
    kept: &'a mut Vec<Box<dyn Any>>,
}

impl Host<'_> {
    /// The custom element itself.
    pub fn element(&self) -> &HtmlElement {
        self.element
    }

    /// Where the element renders: its shadow root, or the element itself without one.
    pub fn root(&self) -> &Node {
        self.root
    }

    /// A bus scoped to this element: its publishes are dispatched on the element (bubbling
    /// and `composed`, so they leave the shadow root and reach the page-wide bus), and its
    /// subscribers hear only events from inside the element.
    pub fn bus(&self) -> herald_bus::Bus {
        herald_bus::Bus::scoped(self.element)
    }

    /// Replaces the root's content with `html`.
    pub fn set_html(&self, html: &str) {
        if let Some(shadow) = self.root.dyn_ref::<web_sys::ShadowRoot>() {
            shadow.set_inner_html(html);
        } else if let Some(element) = self.root.dyn_ref::<Element>() {
            element.set_inner_html(html);
        }
    }

    /// The first element in the root matching `selector`.
    pub fn query(&self, selector: &str) -> Option<Element> {
        if let Some(shadow) = self.root.dyn_ref::<web_sys::ShadowRoot>() {
            shadow.query_selector(selector).ok().flatten()
        } else {
            self.root.dyn_ref::<Element>()?.query_selector(selector).ok().flatten()
        }
    }

    /// Keeps `handle` (a bus subscription, a push stream, an event listener, …) until the
    /// element is disconnected, then drops it: subscriptions made in `connected` are
    /// released on `disconnected` and made again on the next `connected`.
    pub fn keep<T: 'static>(&mut self, handle: T) {
        self.kept.push(Box::new(handle));
    }

    /// How many handles the element keeps right now.
    pub fn kept(&self) -> usize {
        self.kept.len()
    }
}

/// How many element values this module holds right now: one per element of its tags that
/// has been constructed and not yet garbage-collected. With [`herald_bus::live_listeners`]
/// it is how a page (or the devtools) sees that removed elements leave nothing behind.
pub fn live_elements() -> usize {
    LIVE_ELEMENTS.with(std::cell::Cell::get)
}

// The per-element value as JavaScript holds it; created by `define`'s shim, not by you.
// JavaScript's garbage collector frees it with its element (wasm-bindgen registers every
// instance with a `FinalizationRegistry`). (Not a doc comment: wasm-bindgen would copy it
// into every module's JavaScript.)
#[doc(hidden)]
#[wasm_bindgen]
pub struct ElementInstance {
    inner: Box<dyn CustomElementDyn>,
    kept: Vec<Box<dyn Any>>,
}

impl Drop for ElementInstance {
    fn drop(&mut self) {
        LIVE_ELEMENTS.with(|live| live.set(live.get().saturating_sub(1)));
    }
}

impl ElementInstance {
    fn host<'a>(kept: &'a mut Vec<Box<dyn Any>>, element: &'a HtmlElement, root: &'a Node) -> Host<'a> {
        Host { element, root, kept }
    }
}

// One exported entry point for all six callbacks, not one each: every export costs a
// wasm shim and a JavaScript wrapper in each module that defines an element. `kind` is
// the callback (the shim in `herald_define` numbers them); `a`, `b` and `c` are its
// arguments.
#[wasm_bindgen]
impl ElementInstance {
    #[doc(hidden)]
    pub fn call(&mut self, kind: u32, element: HtmlElement, root: Node, a: JsValue, b: JsValue, c: JsValue) -> JsValue {
        let mut host = Self::host(&mut self.kept, &element, &root);
        let text = |value: &JsValue| value.as_string();
        match kind {
            CONNECTED => self.inner.connected(&mut host),
            DISCONNECTED => {
                self.inner.disconnected(&mut host);
                // release the handles, and the memory that held them
                self.kept = Vec::new();
            }
            ADOPTED => self.inner.adopted(&mut host),
            ATTRIBUTE_CHANGED => {
                let name = text(&a).unwrap_or_default();
                self.inner.attribute_changed(&mut host, &name, text(&b), text(&c));
            }
            PROPERTY => return self.inner.property(&host, &text(&a).unwrap_or_default()),
            SET_PROPERTY => {
                let name = text(&a).unwrap_or_default();
                if let Err(error) = self.inner.set_property(&mut host, &name, b) {
                    return JsValue::from_str(&error);
                }
            }
            _ => {}
        }
        JsValue::UNDEFINED
    }
}

// The callbacks, as `ElementInstance::call` and the shim number them.
const CONNECTED: u32 = 0;
const DISCONNECTED: u32 = 1;
const ADOPTED: u32 = 2;
const ATTRIBUTE_CHANGED: u32 = 3;
const PROPERTY: u32 = 4;
const SET_PROPERTY: u32 = 5;

/// A typed value as a JavaScript value, for [`CustomElement::property`]: its JSON (by
/// herald-bus's codec, which every MFE carries anyway) parsed by the browser;
/// `undefined` if it has no JSON form.
pub fn to_js<T: serde::Serialize>(value: &T) -> JsValue {
    herald_bus::json::to_string(value)
        .ok()
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .unwrap_or(JsValue::UNDEFINED)
}

/// A JavaScript value as a typed value, for [`CustomElement::set_property`]: the value's
/// JSON (`JSON.stringify`) read by herald-bus's codec; the error says what was expected.
///
/// Going through JSON text rather than reading the JavaScript value field by field keeps a
/// second serde format, and the float printer its errors use, out of the module.
pub fn from_js<T: serde::de::DeserializeOwned>(value: JsValue) -> Result<T, String> {
    let text = js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|text| JsValue::from(text).as_string())
        .ok_or_else(|| "expected a value JSON can express".to_owned())?;
    herald_bus::json::from_str(&text).map_err(|e| e.to_string())
}

/// The object-safe face of [`CustomElement`].
trait CustomElementDyn {
    fn property(&self, host: &Host, name: &str) -> JsValue;
    fn set_property(&mut self, host: &mut Host, name: &str, value: JsValue) -> Result<(), String>;
    fn connected(&mut self, host: &mut Host);
    fn disconnected(&mut self, host: &mut Host);
    fn adopted(&mut self, host: &mut Host);
    fn attribute_changed(&mut self, host: &mut Host, name: &str, old: Option<String>, new: Option<String>);
}

impl<T: CustomElement> CustomElementDyn for T {
    fn property(&self, host: &Host, name: &str) -> JsValue {
        CustomElement::property(self, host, name)
    }
    fn set_property(&mut self, host: &mut Host, name: &str, value: JsValue) -> Result<(), String> {
        CustomElement::set_property(self, host, name, value)
    }
    fn connected(&mut self, host: &mut Host) {
        CustomElement::connected(self, host)
    }
    fn disconnected(&mut self, host: &mut Host) {
        CustomElement::disconnected(self, host)
    }
    fn adopted(&mut self, host: &mut Host) {
        CustomElement::adopted(self, host)
    }
    fn attribute_changed(&mut self, host: &mut Host, name: &str, old: Option<String>, new: Option<String>) {
        CustomElement::attribute_changed(self, host, name, old, new)
    }
}

type Factory = Closure<dyn Fn(HtmlElement, Node) -> ElementInstance>;

thread_local! {
    /// How many element values of this module are alive.
    static LIVE_ELEMENTS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The constructors of the elements this module defined. A custom element definition
    /// cannot be removed from a page, so these live as long as the module.
    static DEFINITIONS: RefCell<Vec<Factory>> = const { RefCell::new(Vec::new()) };
}

// The shadow root lives on the JavaScript side (a private field), and is handed to every
// callback: the Rust value holds no reference to its element, so a detached element can be
// garbage-collected, and the Rust value with it.
//
// Every call into Rust goes through `call`: once this module has panicked (see
// `herald_crashed`, called by the panic hook) it is never called again, and its elements
// show a fallback. In `connectedCallback`, a property assigned before the element was
// upgraded shadows the accessor: it is replayed. (The snippet ships to every browser as it
// is written, so its notes are here.)
#[wasm_bindgen(inline_js = r#"
const state = { crashed: false, tags: [], live: new Map(), current: null };
function call(element, f) {
  if (state.crashed) return;
  const outer = state.current;
  state.current = element;
  try {
    f();
  } catch (error) {
    if (!state.crashed) throw error;
  } finally {
    state.current = outer;
  }
}
function fallback(root) {
  const note = document.createElement("p");
  note.className = "herald-fallback";
  note.setAttribute("part", "fallback");
  note.textContent = "This part of the page stopped working.";
  root.replaceChildren(note);
}
export function herald_crashed(message) {
  if (state.crashed) return;
  state.crashed = true;
  const element = state.current ? state.current.localName : null;
  console.error(`herald: the module of <${state.tags.join(">, <")}> panicked: ${message}`);
  for (const root of state.live.values()) fallback(root);
  const detail = {
    specversion: "1.0",
    id: `crash-${state.tags[0]}-${Date.now()}`,
    source: `urn:herald:module:${state.tags.join(",")}`,
    type: "herald.mfe.crashed",
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data: { module: state.tags.join(","), element, message },
  };
  const init = { bubbles: true, composed: true, detail };
  globalThis.dispatchEvent(new CustomEvent("herald:herald.mfe.crashed", init));
  if ((globalThis[Symbol.for("herald.bus.v1")]?.wildcards ?? 0) > 0) {
    globalThis.dispatchEvent(new CustomEvent("herald:*", init));
  }
}
export function herald_define(tag, observed, properties, mode, css, create) {
  let sheet = null;
  if (mode && css) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
  }
  state.tags.push(tag);
  const Element = class extends HTMLElement {
    #rust;
    #root;
    static get observedAttributes() { return observed; }
    getProperty(name) {
      let value;
      call(this, () => { value = this.#rust?.call(4, this, this.#root, name); });
      return value;
    }
    setProperty(name, value) {
      let error;
      call(this, () => { error = this.#rust?.call(5, this, this.#root, name, value); });
      if (error !== undefined) throw new TypeError(`<${tag}>.${name}: ${error}`);
    }
    constructor() {
      super();
      this.#root = mode ? this.attachShadow({ mode }) : this;
      if (sheet) this.#root.adoptedStyleSheets = [sheet];
      call(this, () => { this.#rust = create(this, this.#root); });
    }
    connectedCallback() {
      for (const name of properties) {
        if (Object.prototype.hasOwnProperty.call(this, name)) {
          const value = this[name];
          delete this[name];
          this[name] = value;
        }
      }
      state.live.set(this, this.#root);
      if (state.crashed) return fallback(this.#root);
      call(this, () => this.#rust?.call(0, this, this.#root));
    }
    disconnectedCallback() {
      state.live.delete(this);
      call(this, () => this.#rust?.call(1, this, this.#root));
    }
    adoptedCallback() { call(this, () => this.#rust?.call(2, this, this.#root)); }
    attributeChangedCallback(name, oldValue, newValue) {
      call(this, () => this.#rust?.call(3, this, this.#root, name, oldValue, newValue));
    }
  };
  for (const name of properties) {
    Object.defineProperty(Element.prototype, name, {
      get() { return this.getProperty(name); },
      set(value) { this.setProperty(name, value); },
      configurable: true,
      enumerable: true,
    });
  }
  customElements.define(tag, Element);
}
export function herald_is_defined(tag) {
  return globalThis.customElements?.get(tag) !== undefined;
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn herald_define(
        tag: &str,
        observed: js_sys::Array,
        properties: js_sys::Array,
        mode: &str,
        css: &str,
        create: &js_sys::Function,
    ) -> Result<(), JsValue>;
    fn herald_crashed(message: &str);
    fn herald_is_defined(tag: &str) -> bool;
}

/// Installs, once per module, the panic hook that contains a panic: the module is marked
/// crashed (never called again: its bus listeners fall silent, its elements show a
/// fallback), the panic's message goes to `console.error`, and `herald.mfe.crashed` is
/// published. It replaces the hook that was there: on `wasm32-unknown-unknown` std's
/// default hook writes to a stderr that goes nowhere, and keeping it to chain to would
/// bring std's backtrace and thread-name printing into every module's wasm.
fn contain_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            herald_bus::mark_crashed();
            herald_crashed(&info.to_string());
        }));
    });
}

/// Whether `tag` is defined on this page, by any module.
pub fn is_defined(tag: &str) -> bool {
    herald_is_defined(tag)
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
    contain_panics();
    let observed: js_sys::Array = E::observed_attributes()
        .iter()
        .map(|name| JsValue::from_str(name))
        .collect();
    let factory: Factory = Closure::new(|element: HtmlElement, root: Node| {
        let mut kept = Vec::new();
        let inner = E::create(&ElementInstance::host(&mut kept, &element, &root));
        LIVE_ELEMENTS.with(|live| live.set(live.get() + 1));
        ElementInstance {
            inner: Box::new(inner),
            kept,
        }
    });
    let properties: js_sys::Array = E::properties().iter().map(|name| JsValue::from_str(name)).collect();
    herald_define(
        tag,
        observed,
        properties,
        E::SHADOW.mode(),
        E::styles(),
        factory.as_ref().unchecked_ref(),
    )?;
    DEFINITIONS.with(|defs| defs.borrow_mut().push(factory));
    herald_bus::name_module(tag);
    Ok(())
}

/// Defines `<tag>` unless the page already has it: what a micro-frontend's start function
/// does, so that loading its module twice (two pages parts, two versions) is harmless.
pub fn define_once<E: CustomElement>(tag: &str) -> Result<(), Error> {
    match define::<E>(tag) {
        Err(Error::AlreadyDefined(_)) => Ok(()),
        other => other,
    }
}
