//! Off single-threaded wasm: the system allocator.

extern crate std;

use core::alloc::{GlobalAlloc, Layout};

/// The system allocator, where herald-alloc's own does not apply.
pub struct Allocator(std::alloc::System);

impl Allocator {
    /// The allocator, for a `#[global_allocator]` static.
    pub const fn new() -> Self {
        Allocator(std::alloc::System)
    }
}

impl Default for Allocator {
    fn default() -> Self {
        Self::new()
    }
}

unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's own guarantees.
        unsafe { self.0.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's own guarantees.
        unsafe { self.0.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's own guarantees.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}
