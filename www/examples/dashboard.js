// An application's own element that renders the NOP micro-frontends in its shadow root.
customElements.define("my-dashboard", class extends HTMLElement {
  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = "<section><nop-sensor-list></nop-sensor-list><nop-noise-meter></nop-noise-meter></section>";
  }
});
