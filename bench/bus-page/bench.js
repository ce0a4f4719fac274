// `cargo xtask bench bus`: the same payload through raw DOM events, mitt, and herald's bus
// (across two wasm modules, and within one), measured in one page and one run.
import mitt from "./mitt.mjs";
import initA, * as a from "./publisher/herald_bench_bus_publisher.js";
import initB, * as b from "./subscriber/herald_bench_bus_subscriber.js";

const params = new URLSearchParams(location.search);
const N = Number(params.get("n") ?? 20000);
const ROUNDS = Number(params.get("rounds") ?? 11);

function reading(i) {
  return { sensor: "s-1", db: 60 + (i % 30) / 4, at: 1796000000000 + i };
}

/** The median of `values` (sorted in place). */
const middle = (values) => values.sort((x, y) => x - y)[Math.floor(values.length / 2)];

/** Median milliseconds of `run()` over ROUNDS, after one warm-up round. */
function measure(run) {
  run();
  const times = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  return middle(times);
}

function check(name, got) {
  if (got !== N) throw new Error(`${name}: the handler saw ${got} of ${N} events`);
}

const cases = {
  "raw JS dispatchEvent + addEventListener": () => {
    let seen = 0;
    const listener = (e) => { if (e.detail.db > 0) seen++; };
    window.addEventListener("raw:reading", listener);
    for (let i = 0; i < N; i++) {
      window.dispatchEvent(new CustomEvent("raw:reading", { detail: reading(i) }));
    }
    window.removeEventListener("raw:reading", listener);
    check("raw", seen);
  },
  "raw JS dispatchEvent, no listener": () => {
    for (let i = 0; i < N; i++) {
      window.dispatchEvent(new CustomEvent("raw:unheard", { detail: reading(i) }));
    }
  },
  "mitt emit + on": () => {
    let seen = 0;
    const emitter = mitt();
    emitter.on("reading", (d) => { if (d.db > 0) seen++; });
    for (let i = 0; i < N; i++) emitter.emit("reading", reading(i));
    check("mitt", seen);
  },
  "herald typed, module A -> module B": () => {
    b.bench_subscribe();
    a.bench_publish(N);
    check("herald cross-module", b.bench_unsubscribe());
  },
  "herald typed, same module": () => {
    check("herald same module", a.bench_same_module(N));
  },
  "herald publish, no subscriber": () => {
    a.bench_publish_unheard(N);
  },
  // herald's transport alone: an envelope written once, its bytes dispatched N times
  "herald transport only, A -> B": () => {
    b.bench_listen("bench.transport");
    a.bench_transport("bench.transport", N);
    check("herald transport", b.bench_unsubscribe());
  },
  "herald transport only, no listener": () => {
    a.bench_transport("bench.transport-unheard", N);
  },
  "herald typed B, envelope written once in A": () => {
    b.bench_subscribe();
    a.bench_transport("nop.noise.reading", N);
    check("herald receive", b.bench_unsubscribe());
  },
};

// What the Rust side costs in place: one case's time less another's, per round.
const IN_PLACE = [
  ["transport, over raw JS", "herald transport only, A -> B", "raw JS dispatchEvent + addEventListener"],
  ["publish: envelope + serialise", "herald publish, no subscriber", "herald transport only, no listener"],
  ["receive: read, check, decode, handler", "herald typed B, envelope written once in A", "herald transport only, A -> B"],
];

try {
  await initA();
  await initB();
  // Every case once to warm up, then ROUNDS rounds that each run every case once, raw JS
  // first: a case's ratio is the median over rounds of its time over raw JS's time in the
  // same round, so drift in the machine's speed between rounds cancels out.
  const names = Object.keys(cases);
  for (const run of Object.values(cases)) run();
  const times = Object.fromEntries(names.map((name) => [name, []]));
  const ratios = Object.fromEntries(names.map((name) => [name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    let raw;
    for (const [name, run] of Object.entries(cases)) {
      const t0 = performance.now();
      run();
      const ms = performance.now() - t0;
      raw ??= ms;
      times[name].push(ms);
      ratios[name].push(ms / raw);
    }
  }
  const inPlace = IN_PLACE.map(([name, of, less]) => ({
    name,
    ms: middle(times[of].map((ms, r) => ms - times[less][r])),
    events: N,
  }));
  const results = names.map((name) => ({
    name,
    ms: middle(times[name]),
    ratio: middle(ratios[name]),
    events: N,
  }));
  // where a herald event's time goes (medians over ROUNDS, N events each)
  const sample = a.bench_sample_json();
  const parts = [];
  for (let r = 0; r < ROUNDS; r++) parts.push(JSON.parse(a.bench_parts(N)));
  const median = (key) => middle(parts.map((p) => p[key]));
  const bytes = new TextEncoder().encode(sample);
  let length = 0;
  const crossing = measure(() => {
    for (let i = 0; i < N; i++) length += a.bench_bytes_len(bytes);
  });
  if (length === 0) throw new Error("no bytes crossed");
  const breakdown = [
    { name: "envelope (id, time, sequence, correlation)", ms: median("envelope"), events: N },
    { name: "serialise (herald_bus::json)", ms: median("serialize"), events: N },
    // herald-bus's own dispatch, from the case above
    { name: "bytes into a chunk, CustomEvent + dispatch", ms: middle(times["herald transport only, no listener"]), events: N },
    { name: "envelope bytes into the subscriber's wasm", ms: crossing, events: N },
    { name: "read envelope (herald_bus::json::envelope)", ms: median("read"), events: N },
    { name: "validate envelope (CloudEvent::validate)", ms: median("validate"), events: N },
    { name: "decode payload (herald_bus::json)", ms: median("payload"), events: N },
  ];
  document.getElementById("result").textContent = JSON.stringify({ n: N, rounds: ROUNDS, results, inPlace, breakdown });
} catch (error) {
  document.getElementById("result").textContent = JSON.stringify({ error: String(error?.stack ?? error) });
}
