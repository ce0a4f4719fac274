// The host: no framework, no herald code. It sets a typed property of a micro-frontend
// (`threshold` of <nop-noise-meter>) and listens to the events the micro-frontends
// publish (a herald event is a CustomEvent named `herald:<type>` whose detail is a
// CloudEvent; docs/protocol.md §2).
const input = document.getElementById("threshold");
const heard = document.getElementById("heard");

await customElements.whenDefined("nop-noise-meter");
const meter = document.querySelector("nop-noise-meter");
const apply = () => {
  try {
    meter.threshold = Number(input.value);
  } catch (error) {
    heard.textContent = `the meter refused ${input.value}: ${error.message}`;
  }
};
input.addEventListener("change", apply);
apply();

window.addEventListener("herald:nop.sensor.selected", (e) => {
  heard.textContent = `${e.detail.type}: sensor ${e.detail.data.sensor} (from ${e.detail.source})`;
});
