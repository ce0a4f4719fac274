//! Browser tests of herald's bus across independently compiled wasm modules.
//!
//! The tests in `tests/web.rs` are one wasm module; `peer/` is another, built on its own
//! into `peer-pkg/` by `cargo xtask peer` (which `cargo xtask test` runs first), and
//! loaded by the tests with a dynamic `import()`. The two share nothing but the DOM and
//! the event contracts in `contract.rs`.
