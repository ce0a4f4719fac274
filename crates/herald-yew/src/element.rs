//! yew components as custom elements.

use std::marker::PhantomData;

use herald_element::{CustomElement, Host, Shadow};
use web_sys::HtmlElement;
use yew::html::BaseComponent;
use yew::{AppHandle, Renderer};

/// Props that a custom element's attributes map to.
///
/// ```
/// use herald_yew::AttributeProps;
/// use web_sys::HtmlElement;
/// use yew::Properties;
///
/// #[derive(Properties, PartialEq, Clone, Default)]
/// struct MeterProps { sensor: String }
///
/// impl AttributeProps for MeterProps {
///     fn observed() -> &'static [&'static str] { &["sensor"] }
///     fn from_element(element: &HtmlElement) -> Self {
///         MeterProps { sensor: element.get_attribute("sensor").unwrap_or_default() }
///     }
/// }
/// ```
pub trait AttributeProps: yew::Properties + Default + Clone {
    /// The attributes that map to props; a change to one re-renders.
    fn observed() -> &'static [&'static str];
    /// The props for the element's current attributes.
    fn from_element(element: &HtmlElement) -> Self;
}

/// The custom element of component `C`: mounted into its shadow root while connected.
struct ComponentElement<C: BaseComponent> {
    app: Option<AppHandle<C>>,
    _component: PhantomData<C>,
}

impl<C> CustomElement for ComponentElement<C>
where
    C: BaseComponent,
    C::Properties: AttributeProps,
{
    const SHADOW: Shadow = Shadow::Open;

    fn observed_attributes() -> &'static [&'static str] {
        C::Properties::observed()
    }

    fn create(_host: &Host) -> Self {
        ComponentElement {
            app: None,
            _component: PhantomData,
        }
    }

    fn connected(&mut self, host: &mut Host) {
        let Some(document) = host.element().owner_document() else {
            return;
        };
        let Ok(mount) = document.create_element("div") else {
            return;
        };
        if host.root().append_child(&mount).is_err() {
            return;
        }
        let props = C::Properties::from_element(host.element());
        self.app = Some(Renderer::<C>::with_root_and_props(mount, props).render());
    }

    fn disconnected(&mut self, host: &mut Host) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
        host.set_html("");
    }

    fn attribute_changed(&mut self, host: &mut Host, _name: &str, _old: Option<String>, _new: Option<String>) {
        if let Some(app) = &mut self.app {
            app.update(C::Properties::from_element(host.element()));
        }
    }
}

/// Defines `<tag>` as component `C`: attributes map to props (see [`AttributeProps`]), it
/// renders into the element's open shadow root, and it is destroyed — its hooks' effects
/// torn down, their subscriptions dropped — when the element is disconnected.
///
/// yew sets its own panic hook when it first renders; this keeps herald's instead (a panic
/// is contained to the module, see herald-element), chaining to what was there before.
pub fn define_component<C>(tag: &str) -> Result<(), herald_element::Error>
where
    C: BaseComponent,
    C::Properties: AttributeProps,
{
    herald_element::define::<ComponentElement<C>>(tag)?;
    let hook = std::panic::take_hook();
    yew::set_custom_panic_hook(hook);
    Ok(())
}
