// herald-lazy.js: load a micro-frontend's module only when its tag first appears.
//
// Declare tag → module URL in the page, in one or more
//   <script type="application/json" data-herald-lazy>{"nop-sensor-list": "nop-sensor-list_loader.js"}</script>
// and load this file as a module (<script type="module" src="herald-lazy.js">). When an
// element with a declared tag is in the document — in the markup, or inserted later by
// any script — and the tag is not defined yet, the module is imported, once. Relative URLs
// resolve against the page. Elements inside shadow roots are seen when the root is passed
// to `observe(root)` (exported, and on the page state below).
//
// Page state, for the devtools and tests: globalThis[Symbol.for("herald.lazy.v1")] =
//   { modules: Map<tag, url>, loads: Map<tag, number>, observe(root), ready: Map<tag, Promise> }

const KEY = Symbol.for("herald.lazy.v1");

const state = globalThis[KEY] ?? (() => {
  const s = { modules: new Map(), loads: new Map(), ready: new Map(), observe };
  Object.defineProperty(globalThis, KEY, { value: s });
  return s;
})();

function declare(root) {
  for (const script of root.querySelectorAll("script[data-herald-lazy]")) {
    let map;
    try {
      map = JSON.parse(script.textContent);
    } catch (error) {
      console.error("herald-lazy: a data-herald-lazy script is not JSON:", error);
      continue;
    }
    for (const [tag, url] of Object.entries(map)) {
      if (!state.modules.has(tag)) state.modules.set(tag, new URL(url, document.baseURI).href);
    }
  }
}

function load(tag) {
  if (state.ready.has(tag) || customElements.get(tag)) return;
  const url = state.modules.get(tag);
  state.loads.set(tag, (state.loads.get(tag) ?? 0) + 1);
  const ready = import(url).catch((error) => {
    console.error(`herald-lazy: loading <${tag}> from ${url} failed:`, error);
    state.ready.delete(tag); // a later insertion may try again
  });
  state.ready.set(tag, ready);
}

function scan(node) {
  if (node.nodeType !== Node.ELEMENT_NODE && node.nodeType !== Node.DOCUMENT_NODE &&
      node.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) return;
  if (node.localName && state.modules.has(node.localName)) load(node.localName);
  for (const tag of state.modules.keys()) {
    if (!state.ready.has(tag) && node.querySelector?.(tag)) load(tag);
  }
}

/** Watches `root` (a document or a shadow root) for declared tags. */
export function observe(root) {
  scan(root);
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "childList") record.addedNodes.forEach(scan);
    }
  }).observe(root, { childList: true, subtree: true });
}

declare(document);
observe(document);
