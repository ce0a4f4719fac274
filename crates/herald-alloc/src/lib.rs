//! # herald-alloc
//!
//! A global allocator for wasm micro-frontends that is a few hundred bytes of code instead
//! of dlmalloc's several kilobytes (`cargo xtask bench size` shows the difference).
//!
//! Every request is rounded up to a power of two from 16 bytes to 32 KiB and served from
//! that size's free list, else from the end of the heap; a freed block goes back on its
//! list. Larger requests take whole 64 KiB wasm pages, kept on their own free list. No
//! block is split or merged, so allocation and free are a few instructions each; the
//! price is up to half of each block unused, and memory that a size once had stays
//! with that size. That suits a micro-frontend: small, short-lived event buffers of a few
//! sizes, over and over.
//!
//! Only for single-threaded wasm (`wasm32` without the `atomics` feature); elsewhere
//! [`Allocator`] forwards to the system allocator, so that native tests of a crate that
//! uses it still run.
//!
//! ```
//! #[global_allocator]
//! static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();
//!
//! let v: Vec<u8> = Vec::with_capacity(100);
//! assert!(v.capacity() >= 100);
//! ```
#![no_std]
#![deny(missing_docs)]

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod wasm;
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
pub use wasm::Allocator;

#[cfg(not(all(target_arch = "wasm32", not(target_feature = "atomics"))))]
mod system;
#[cfg(not(all(target_arch = "wasm32", not(target_feature = "atomics"))))]
pub use system::Allocator;
