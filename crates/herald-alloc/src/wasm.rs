//! The allocator on single-threaded wasm.
//!
//! Small blocks are powers of two from 16 bytes to 32 KiB, each aligned to its own size
//! (so any request whose alignment is at most its size fits any block of its class). They
//! come from their class's free list, else from the end of the current region, whose
//! alignment padding is cut into smaller aligned blocks for the other lists. A region is
//! a run of pages from `memory.grow`, extended in place while nothing else grew memory.
//! Larger requests are whole pages; freed runs go on a first-fit list, a run larger than
//! a request gives its last pages.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::Cell;
use core::ptr;

const PAGE: usize = 65536;
const MIN_SHIFT: u32 = 4;
const MAX_SHIFT: u32 = 15;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
const MAX_SMALL: usize = 1 << MAX_SHIFT;

/// herald's allocator for single-threaded wasm: size classes, no splitting or merging.
pub struct Allocator {
    /// The first free block of each class (0: none); a free block holds the next one's
    /// address in its first word.
    free: [Cell<usize>; CLASSES],
    /// The first free run of pages (0: none); a free run holds the next run's address and
    /// its own page count in its first two words.
    runs: Cell<usize>,
    /// The current region's unused part.
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: without the `atomics` target feature a wasm module has one thread.
unsafe impl Sync for Allocator {}

impl Allocator {
    /// The allocator, for a `#[global_allocator]` static.
    pub const fn new() -> Self {
        Allocator {
            free: [const { Cell::new(0) }; CLASSES],
            runs: Cell::new(0),
            next: Cell::new(0),
            end: Cell::new(0),
        }
    }

    /// Puts the block at `at` on the free list of `class`.
    ///
    /// # Safety
    /// `at` is a block of that class that nothing uses.
    unsafe fn push(&self, class: usize, at: usize) {
        // SAFETY: the block is unused and word-aligned (at least 16).
        unsafe { (at as *mut usize).write(self.free[class].get()) };
        self.free[class].set(at);
    }

    /// Puts `[from, to)` (multiples of 16) on the free lists, as the largest blocks aligned
    /// to their size that it holds.
    ///
    /// # Safety
    /// Nothing uses that memory.
    unsafe fn carve(&self, mut from: usize, to: usize) {
        while from < to {
            let mut shift = from.trailing_zeros().min(MAX_SHIFT);
            while from + (1 << shift) > to {
                shift -= 1;
            }
            // SAFETY: the caller gives up the whole range; the block is aligned to its size.
            unsafe { self.push((shift - MIN_SHIFT) as usize, from) };
            from += 1 << shift;
        }
    }

    /// A new block of `size` (a power of two, at most `MAX_SMALL`) from the region.
    fn bump(&self, size: usize) -> *mut u8 {
        let next = self.next.get();
        let mut at = (next + size - 1) & !(size - 1);
        if at + size > self.end.get() {
            let Some(start) = grow((at + size - self.end.get()).max(size).div_ceil(PAGE)) else {
                return ptr::null_mut();
            };
            if start != self.end.get() {
                // memory grew elsewhere: the old region's rest goes to the lists
                // SAFETY: the region's unused part is no one's.
                unsafe { self.carve(next, self.end.get()) };
                self.next.set(start);
                at = start;
            }
            self.end.set(wasm32::memory_size(0) * PAGE);
        }
        // SAFETY: the padding before the block is unused.
        unsafe { self.carve(self.next.get(), at) };
        self.next.set(at + size);
        at as *mut u8
    }

    /// `pages` whole pages, from the free runs or `memory.grow`.
    fn pages(&self, pages: usize) -> *mut u8 {
        let mut link = self.runs.as_ptr();
        // SAFETY: `link` is the list head or the first word of a free run, which the list owns.
        unsafe {
            while *link != 0 {
                let run = *link;
                let count = *(run as *const usize).add(1);
                if count == pages {
                    *link = *(run as *const usize);
                    return run as *mut u8;
                }
                if count > pages {
                    *(run as *mut usize).add(1) = count - pages;
                    return (run + (count - pages) * PAGE) as *mut u8;
                }
                link = run as *mut usize;
            }
        }
        grow(pages).map_or(ptr::null_mut(), |start| start as *mut u8)
    }
}

impl Default for Allocator {
    fn default() -> Self {
        Self::new()
    }
}

/// Grows memory by `pages`; the address of the first new byte.
fn grow(pages: usize) -> Option<usize> {
    let previous = wasm32::memory_grow(0, pages);
    (previous != usize::MAX).then(|| previous * PAGE)
}

/// A small request's class (its block is `16 << class` bytes), `None` for a large one.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align());
    (size <= MAX_SMALL).then(|| {
        (size
            .max(1 << MIN_SHIFT)
            .next_power_of_two()
            .trailing_zeros()
            - MIN_SHIFT) as usize
    })
}

unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class(layout) {
            Some(class) => {
                let head = self.free[class].get();
                if head == 0 {
                    return self.bump(16 << class);
                }
                // SAFETY: a free block holds the next one's address.
                self.free[class].set(unsafe { *(head as *const usize) });
                head as *mut u8
            }
            None if layout.align() <= PAGE => self.pages(layout.size().div_ceil(PAGE)),
            None => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class(layout) {
            // SAFETY: the caller gives the block back; it came from this class.
            Some(class) => unsafe { self.push(class, ptr as usize) },
            None => {
                let run = ptr as *mut usize;
                // SAFETY: the caller gives the run back; it is whole pages.
                unsafe {
                    run.write(self.runs.get());
                    run.add(1).write(layout.size().div_ceil(PAGE));
                }
                self.runs.set(ptr as usize);
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout of that alignment and size.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let same = match (class(layout), class(new)) {
            (Some(old), Some(new)) => old == new,
            (None, None) => layout.size().div_ceil(PAGE) == new_size.div_ceil(PAGE),
            _ => false,
        };
        if same {
            return ptr;
        }
        // SAFETY: as for `alloc`, and the old block is valid for `layout.size()` bytes.
        unsafe {
            let moved = self.alloc(new);
            if !moved.is_null() {
                ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            moved
        }
    }
}
