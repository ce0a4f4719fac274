//! `cargo xtask new NAME [--yew|--js]`: a working micro-frontend in one folder,
//! `www/NAME/`, registered in the page. A Rust MFE (herald-element; `--yew`: a yew
//! component through herald-yew) is a crate with `[package.metadata.herald]` and a browser
//! test; `--js` writes a plain-JS element and its `herald.json`. Each shows the latest NOP
//! noise reading from the gateway's stream and counts them. The xtask finds it from then
//! on (`mfes::discover`): `cargo xtask mfe`, `dist`, `bench size` and `test` take it with
//! no list to edit; `index.html` gets its element and its lazy-load entry, and the
//! workspace its member.

use std::path::Path;

use crate::run::cargo;
use crate::{root, say};

/// The kinds `new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Element,
    Yew,
    Js,
}

pub fn new_from_args(args: &[&str]) -> Result<(), String> {
    let mut template = Template::Element;
    let mut name = None;
    for arg in args {
        match *arg {
            "--yew" => template = Template::Yew,
            "--js" => template = Template::Js,
            flag if flag.starts_with("--") => return Err(format!("new: no option `{flag}` (there are --yew and --js)")),
            given if name.is_none() => name = Some(given.to_owned()),
            extra => return Err(format!("new: one NAME only, not also `{extra}`")),
        }
    }
    let name = name.ok_or("usage: cargo xtask new NAME [--yew|--js]")?;
    new(&root(), &name, template)
}

/// Whether `name` can be a custom element's tag and a crate's name: lowercase ASCII
/// letters, digits and `-`, starting with a letter, with a `-` in it (the HTML rule for
/// custom elements), not ending in `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.contains('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` cannot name an element: use lowercase letters, digits and `-`, start with a letter, \
             and have a `-` in it (e.g. `demo-widget`)"
        ))
    }
}

pub fn new(root: &Path, name: &str, template: Template) -> Result<(), String> {
    check_name(name)?;
    let dir = root.join("www").join(name);
    if dir.exists() {
        return Err(format!("{} exists already", dir.display()));
    }
    let files = match template {
        Template::Element => element_files(name),
        Template::Yew => yew_files(name),
        Template::Js => js_files(name),
    };
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if template != Template::Js {
        add_member(root, name)?;
    }
    register_in_page(root, name, template)?;
    if template != Template::Js {
        // the lock file learns the new crate, so that `--locked` builds take it
        cargo().args(["metadata", "--format-version", "1", "--offline"]).output_stdout(std::process::Stdio::inherit())?;
    }
    say(&format!(
        "new micro-frontend <{name}> in www/{name}/ ({}), on the NOP page; `cargo xtask test` runs its tests",
        match template {
            Template::Element => "Rust, herald-element",
            Template::Yew => "Rust, yew",
            Template::Js => "plain JavaScript",
        }
    ));
    Ok(())
}

/// Adds `www/NAME` to the workspace's members, after the last `www/` one.
fn add_member(root: &Path, name: &str) -> Result<(), String> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let updated = with_member(&text, name).ok_or("Cargo.toml: no `members = [` list to add the crate to")?;
    std::fs::write(&path, updated).map_err(|e| format!("{}: {e}", path.display()))
}

fn with_member(cargo_toml: &str, name: &str) -> Option<String> {
    let start = cargo_toml.find("members = [")?;
    let end = cargo_toml[start..].find(']')? + start;
    let list = &cargo_toml[start..end];
    let at = match list.rfind("\"www/") {
        Some(last) => start + last + list[last..].find('\n')? + 1,
        None => start + list.find('\n')? + 1,
    };
    let mut out = cargo_toml.to_owned();
    out.insert_str(at, &format!("    \"www/{name}\",\n"));
    Some(out)
}

/// Puts the element on the NOP page: its tag in `<main>`, and its module in the
/// lazy-load map (Rust: `mfe/NAME/loader.js`, built by `cargo xtask mfe`; JS: the
/// script, copied by trunk).
fn register_in_page(root: &Path, name: &str, template: Template) -> Result<(), String> {
    let path = root.join("index.html");
    let html = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let html = with_element(&html, name, template).ok_or("index.html: no data-herald-lazy map or no </main>")?;
    std::fs::write(&path, html).map_err(|e| format!("{}: {e}", path.display()))
}

fn with_element(html: &str, name: &str, template: Template) -> Option<String> {
    let mut html = html.to_owned();
    let module = match template {
        Template::Js => format!("{name}.js"),
        _ => format!("mfe/{name}/loader.js"),
    };
    // the map is a JSON object: add an entry before its closing brace
    let map = html.find("data-herald-lazy>")?;
    let close = map + html[map..].find("</script>")?;
    let brace = map + html[map..close].rfind('}')?;
    let before = html[..brace].trim_end().to_owned();
    let entry = if before.ends_with('{') { format!(" \"{name}\": \"{module}\" ") } else { format!(",\n      \"{name}\": \"{module}\" ") };
    html = format!("{before}{entry}{}", &html[brace..]);
    if template == Template::Js {
        let link = format!("  <link data-trunk rel=\"copy-file\" href=\"www/{name}/{name}.js\">\n");
        let at = html.find("  <script type=\"application/json\" data-herald-lazy>")?;
        html.insert_str(at, &link);
    }
    let main = html.find("</main>")?;
    html.insert_str(main, &format!("  <{name} stream=\"events/stream\"></{name}>\n  "));
    Some(html)
}

fn element_files(name: &str) -> Vec<(String, String)> {
    let krate = name.replace('-', "_");
    let title = title_of(name);
    vec![
        ("Cargo.toml".into(), cargo_toml(name, "herald-element", "\nherald-element.workspace = true\nweb-sys = { workspace = true, features = [\"Element\", \"console\"] }", "\nweb-sys = { workspace = true, features = [\"Document\", \"HtmlElement\", \"Window\"] }")),
        ("src/lib.rs".into(), format!(r#"//! `<{name}>`: the latest NOP noise reading and how many have arrived — a herald
//! micro-frontend of its own wasm module (scaffolded by `cargo xtask new`).
//!
//! Attributes: `stream` — the gateway's stream URL (default: the page's
//! `<meta name="herald-stream">`, else `/events/stream`).
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::rc::Rc;

use herald_bus::{{Bus, Event}};
use herald_element::{{define_once, CustomElement, Host}};
use herald_push::Push;
use nop_events::NoiseReading;
use wasm_bindgen::prelude::*;

const TAG: &str = "{name}";

/// The small allocator for single-threaded wasm (herald-alloc), instead of dlmalloc.
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

#[wasm_bindgen(start)]
fn start() {{
    if let Err(error) = register() {{
        web_sys::console::error_1(&format!("{{TAG}}: {{error}}").into());
    }}
}}

/// Defines `<{name}>` unless the page already has it.
pub fn register() -> Result<(), herald_element::Error> {{
    define_once::<{title}>(TAG)
}}

struct {title};

impl CustomElement for {title} {{
    fn create(_host: &Host) -> Self {{
        {title}
    }}

    fn connected(&mut self, host: &mut Host) {{
        host.set_html(
            "<section class=\"nop-card\"><h2>{name}</h2>\
             <p><span class=\"level\">–</span> · <span class=\"count\">0</span> readings</p></section>",
        );
        let (Some(level), Some(count)) = (host.query(".level"), host.query(".count")) else {{ return }};
        // the page runtime's one connection brings the readings onto the bus
        if let Ok(interest) = Push::new(&herald_push::stream_url_of(host.element()))
            .and_then(|push| push.subscribe(&[NoiseReading::TYPE]))
        {{
            host.keep(interest);
        }}
        let seen = Rc::new(Cell::new(0u32));
        host.keep(Bus::page().subscribe::<NoiseReading>(move |event| {{
            seen.set(seen.get() + 1);
            level.set_text_content(Some(&format!("{{}}: {{}}", event.data.sensor, nop_events::db_label(event.data.db))));
            count.set_text_content(Some(&seen.get().to_string()));
        }}));
    }}
}}
"#),
        ),
        ("tests/web.rs".into(), format!(r#"#![cfg(target_arch = "wasm32")]
//! `<{name}>` in the browser: it renders, hears readings on the bus, and lets go of them
//! when removed.

use herald_bus::Bus;
use nop_events::NoiseReading;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;

wasm_bindgen_test_configure!(run_in_browser);

fn text(host: &HtmlElement, selector: &str) -> String {{
    host.query_selector(selector).unwrap().unwrap().text_content().unwrap()
}}

fn reading(db: f64) -> NoiseReading {{
    NoiseReading {{ sensor: "s-1".into(), db, at: 1 }}
}}

#[wasm_bindgen_test]
fn it_shows_the_latest_reading_and_counts_them_while_connected() {{
    {krate}::register().unwrap();
    let document = web_sys::window().unwrap().document().unwrap();
    let element: HtmlElement = document.create_element("{name}").unwrap().unchecked_into();
    element.set_attribute("stream", "/no-gateway-here/events/stream").unwrap();
    document.body().unwrap().append_child(&element).unwrap();
    assert_eq!(text(&element, ".count"), "0");

    Bus::page().publish::<NoiseReading>(&reading(61.46)).unwrap();
    Bus::page().publish::<NoiseReading>(&reading(70.0)).unwrap();
    assert_eq!(text(&element, ".level"), "s-1: 70.0 dB");
    assert_eq!(text(&element, ".count"), "2");

    element.remove();
    Bus::page().publish::<NoiseReading>(&reading(80.0)).unwrap();
    assert_eq!(text(&element, ".count"), "2", "a removed element hears nothing");
}}
"#),
        ),
    ]
}

fn yew_files(name: &str) -> Vec<(String, String)> {
    let krate = name.replace('-', "_");
    let title = title_of(name);
    vec![
        ("Cargo.toml".into(), cargo_toml(name, "a yew component (herald-yew)", "\nherald-element.workspace = true\nherald-yew.workspace = true\nyew.workspace = true\nweb-sys = { workspace = true, features = [\"HtmlElement\", \"console\"] }", "\ngloo = { workspace = true, features = [\"timers\", \"futures\"] }\nweb-sys = { workspace = true, features = [\"Document\", \"HtmlElement\", \"ShadowRoot\", \"Window\"] }") + YEW_TRACING_OFF),
        ("src/lib.rs".into(), format!(r#"//! `<{name}>`: the latest NOP noise reading and how many have arrived — a yew function
//! component made a custom element by herald-yew (scaffolded by `cargo xtask new --yew`).
//!
//! Attributes: `stream` — the gateway's stream URL (default: the page's
//! `<meta name="herald-stream">`, else `/events/stream`).
#![forbid(unsafe_code)]

use herald_yew::{{define_component, use_stream, AttributeProps}};
use nop_events::NoiseReading;
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;
use yew::prelude::*;

const TAG: &str = "{name}";

/// The small allocator for single-threaded wasm (herald-alloc), instead of dlmalloc.
#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

#[wasm_bindgen(start)]
fn start() {{
    if let Err(error) = register() {{
        web_sys::console::error_1(&format!("{{TAG}}: {{error}}").into());
    }}
}}

/// Defines `<{name}>` unless the page already has it.
pub fn register() -> Result<(), herald_element::Error> {{
    if herald_element::is_defined(TAG) {{
        return Ok(());
    }}
    define_component::<{title}>(TAG)
}}

/// The element's attributes as props.
#[derive(Properties, PartialEq, Clone)]
pub struct Props {{
    /// The gateway's stream URL.
    pub stream: String,
}}

impl Default for Props {{
    fn default() -> Self {{
        Props {{ stream: "/events/stream".into() }}
    }}
}}

impl AttributeProps for Props {{
    fn observed() -> &'static [&'static str] {{
        &["stream"]
    }}
    fn from_element(element: &HtmlElement) -> Self {{
        Props {{ stream: herald_push::stream_url_of(element) }}
    }}
}}

#[function_component]
fn {title}(props: &Props) -> Html {{
    let latest = use_state(|| None::<NoiseReading>);
    let count = use_state(|| 0u32);
    {{
        let (latest, count) = (latest.clone(), count.clone());
        use_stream::<NoiseReading, _>(&props.stream, move |event| {{
            latest.set(Some(event.data.clone()));
            count.set(*count + 1);
        }});
    }}
    let level = latest
        .as_ref()
        .map(|r| format!("{{}}: {{}}", r.sensor, nop_events::db_label(r.db)))
        .unwrap_or_else(|| "–".into());
    html! {{
        <section>
            <h2>{{ TAG }}</h2>
            <p><span class="level">{{ level }}</span>{{ " · " }}<span class="count">{{ *count }}</span>{{ " readings" }}</p>
        </section>
    }}
}}
"#),
        ),
        ("tests/web.rs".into(), format!(r#"#![cfg(target_arch = "wasm32")]
//! `<{name}>` in the browser: the yew component renders in its shadow root and hears
//! readings on the bus.

use std::time::Duration;

use herald_bus::Bus;
use nop_events::NoiseReading;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;

wasm_bindgen_test_configure!(run_in_browser);

fn text(element: &HtmlElement, selector: &str) -> String {{
    element
        .shadow_root()
        .and_then(|root| root.query_selector(selector).ok().flatten())
        .and_then(|found| found.text_content())
        .unwrap_or_default()
}}

#[wasm_bindgen_test]
async fn it_renders_and_shows_the_latest_reading() {{
    {krate}::register().unwrap();
    let document = web_sys::window().unwrap().document().unwrap();
    let element: HtmlElement = document.create_element("{name}").unwrap().unchecked_into();
    element.set_attribute("stream", "/no-gateway-here/events/stream").unwrap();
    document.body().unwrap().append_child(&element).unwrap();
    gloo::timers::future::sleep(Duration::from_millis(20)).await;
    let before = text(&element, ".count");

    Bus::page().publish::<NoiseReading>(&NoiseReading {{ sensor: "s-1".into(), db: 70.0, at: 1 }}).unwrap();
    gloo::timers::future::sleep(Duration::from_millis(20)).await;
    let level = text(&element, ".level");
    let count = text(&element, ".count");
    element.remove();

    assert_eq!(before, "0");
    assert_eq!(level, "s-1: 70.0 dB");
    assert_eq!(count, "1");
}}
"#),
        ),
    ]
}

fn js_files(name: &str) -> Vec<(String, String)> {
    vec![
        ("herald.json".into(), format!(
            "{{\n  \"version\": \"0.1.0\",\n  \"tags\": [\"{name}\"],\n  \"publishes\": [],\n  \"subscribes\": [\"nop.noise.reading@1\"]\n}}\n"
        )),
        (format!("{name}.js"), format!(r#"// <{name}>: the latest NOP noise reading and how many have arrived — a micro-frontend
// in plain JavaScript (scaffolded by `cargo xtask new --js`), speaking herald's DOM
// protocol (docs/protocol.md §2) and asking the page runtime for the stream (§2.10).

const RUNTIME = Symbol.for("herald.runtime.v1");
const LOADING = Symbol.for("herald.runtime.loading");

/** The page runtime: the page's, or the copy beside this file (docs/protocol.md §2.10). */
function pageRuntime() {{
  if (globalThis[RUNTIME]) return Promise.resolve(globalThis[RUNTIME]);
  if (!globalThis[LOADING]) {{
    const loading = import(new URL("./herald-runtime.js", import.meta.url).href).then((m) => m.runtime());
    Object.defineProperty(globalThis, LOADING, {{ value: loading, configurable: true }});
  }}
  return globalThis[LOADING];
}}

class Element extends HTMLElement {{
  #count = 0;
  #interest = null;
  #onReading = (e) => {{
    const {{ data }} = e.detail ?? {{}};
    if (!data || typeof data.sensor !== "string" || typeof data.db !== "number") return;
    this.#count += 1;
    this.querySelector(".level").textContent = `${{data.sensor}}: ${{data.db.toFixed(1)}} dB`;
    this.querySelector(".count").textContent = String(this.#count);
  }};

  connectedCallback() {{
    this.innerHTML = `<section class="nop-card"><h2>{name}</h2>
      <p><span class="level">–</span> · <span class="count">0</span> readings</p></section>`;
    window.addEventListener("herald:nop.noise.reading", this.#onReading);
    const stream = this.getAttribute("stream")
      ?? document.querySelector('meta[name="herald-stream"]')?.getAttribute("content")
      ?? "/events/stream";
    const url = new URL(stream, document.baseURI);
    url.search = "";
    url.hash = "";
    this.#interest = pageRuntime().then((rt) => rt.interest(url.href, ["nop.noise.reading"]));
  }}

  disconnectedCallback() {{
    window.removeEventListener("herald:nop.noise.reading", this.#onReading);
    this.#interest?.then((interest) => interest.release());
    this.#interest = null;
  }}
}}

if (!customElements.get("{name}")) customElements.define("{name}", Element);
"#)),
    ]
}

/// The end of a yew MFE's Cargo.toml, as the NOP chart's.
const YEW_TRACING_OFF: &str = r#"
# yew logs through `tracing`; with no subscriber on the page its callsites only cost size
# (and pull std's thread machinery and dlmalloc back in), so release builds compile them out.
[target.'cfg(target_arch = "wasm32")'.dependencies]
tracing = { workspace = true, features = ["release_max_level_off"] }
"#;

fn cargo_toml(name: &str, what: &str, deps: &str, dev_deps: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
description = "Micro-frontend <{name}> ({what}): its own wasm module."
version.workspace = true
edition.workspace = true
rust-version.workspace = true
license.workspace = true
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
herald-alloc.workspace = true
herald-bus.workspace = true
herald-push.workspace = true
nop-events.workspace = true
wasm-bindgen.workspace = true{deps}

[dev-dependencies]
# browser tests: the page runtime in the glue (no herald-runtime.js served beside it)
herald-push = {{ workspace = true, features = ["embedded-runtime"] }}
wasm-bindgen-test.workspace = true{dev_deps}

[package.metadata.wasm-pack.profile.release]
# Debian's binaryen 108 corrupts wasm-bindgen 0.2.130 output; the xtask runs binaryen 132.
wasm-opt = false

# What `cargo xtask dist` writes into this MFE's manifest.json; the xtask finds MFEs by it.
[package.metadata.herald]
tags = ["{name}"]
publishes = []
subscribes = ["nop.noise.reading@1"]
"#
    )
}

/// `demo-widget` → `DemoWidget`.
fn title_of(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_custom_element_names() {
        assert!(check_name("demo-widget").is_ok());
        assert!(check_name("nop-meter2").is_ok());
        for bad in ["demo", "Demo-widget", "demo_widget", "-demo", "demo-", "2-demo", "demo--x", "demo widget"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(title_of("demo-widget"), "DemoWidget");
    }

    #[test]
    fn the_member_goes_after_the_last_www_one() {
        let toml = "[workspace]\nmembers = [\n    \"crates/*\",\n    \"www/a\",\n    \"www/b\",\n    \"tests/e2e\",\n]\n";
        let out = with_member(toml, "demo-widget").unwrap();
        assert!(out.contains("    \"www/b\",\n    \"www/demo-widget\",\n    \"tests/e2e\","), "{out}");
    }

    #[test]
    fn the_page_gets_the_element_and_its_lazy_entry() {
        let html = "<head>\n  <script type=\"application/json\" data-herald-lazy>\n    { \"a-b\": \"mfe/a-b/loader.js\" }\n  </script>\n</head><body><main>\n    <a-b></a-b>\n  </main></body>";
        let out = with_element(html, "demo-widget", Template::Element).unwrap();
        let map = &out[out.find("data-herald-lazy>").unwrap() + 17..out.find("</script>").unwrap()];
        let parsed: serde_json::Value = serde_json::from_str(map).unwrap();
        assert_eq!(parsed["demo-widget"], "mfe/demo-widget/loader.js");
        assert_eq!(parsed["a-b"], "mfe/a-b/loader.js");
        assert!(out.contains("<demo-widget stream=\"events/stream\"></demo-widget>\n  </main>"), "{out}");
        let js = with_element(html, "js-thing", Template::Js).unwrap();
        assert!(js.contains("<link data-trunk rel=\"copy-file\" href=\"www/js-thing/js-thing.js\">"));
        assert!(js.contains("\"js-thing\": \"js-thing.js\""));
    }
}
