//! herald-alloc as a wasm module's global allocator, in headless Chromium.
#![cfg(target_arch = "wasm32")]

use std::alloc::{alloc, dealloc, realloc, Layout};

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[global_allocator]
static ALLOCATOR: herald_alloc::Allocator = herald_alloc::Allocator::new();

/// A small deterministic generator, so that a failure repeats.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

struct Block {
    ptr: *mut u8,
    layout: Layout,
    fill: u8,
}

fn check(block: &Block) {
    // SAFETY: the block is live and `layout.size()` bytes long.
    let bytes = unsafe { std::slice::from_raw_parts(block.ptr, block.layout.size()) };
    assert!(
        bytes.iter().all(|b| *b == block.fill),
        "a live block of {:?} was overwritten",
        block.layout
    );
}

#[wasm_bindgen_test]
fn blocks_of_every_size_are_aligned_and_never_overlap() {
    let mut rng = Lcg(7);
    let mut live: Vec<Block> = Vec::new();
    for round in 0..20_000u32 {
        if live.len() > 300 || (!live.is_empty() && rng.below(3) == 0) {
            let block = live.swap_remove(rng.below(live.len()));
            check(&block);
            // SAFETY: allocated below with this layout.
            unsafe { dealloc(block.ptr, block.layout) };
            continue;
        }
        let size = match rng.below(10) {
            0 => 1 + rng.below(200_000),
            1..=3 => 1 + rng.below(4096),
            _ => 1 + rng.below(256),
        };
        let align = [1, 2, 8, 16, 64, 4096, 65536][rng.below(7)];
        let layout = Layout::from_size_align(size, align).unwrap();
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc(layout) };
        assert!(!ptr.is_null(), "allocating {layout:?} failed");
        assert_eq!(ptr as usize % align, 0, "{layout:?} at {ptr:?}");
        let fill = round as u8;
        // SAFETY: the new block is `size` bytes long.
        unsafe { ptr.write_bytes(fill, size) };
        live.push(Block { ptr, layout, fill });
    }
    for block in live {
        check(&block);
        // SAFETY: allocated above with this layout.
        unsafe { dealloc(block.ptr, block.layout) };
    }
}

#[wasm_bindgen_test]
fn a_freed_block_is_used_again_for_its_size() {
    let layout = Layout::from_size_align(48, 8).unwrap();
    // SAFETY: non-zero sizes; each block is freed with its layout.
    unsafe {
        let first = alloc(layout);
        dealloc(first, layout);
        let second = alloc(Layout::from_size_align(64, 8).unwrap());
        assert_eq!(first, second, "48 and 64 bytes share the 64-byte class");
        dealloc(second, Layout::from_size_align(64, 8).unwrap());
    }
}

#[wasm_bindgen_test]
fn a_freed_run_of_pages_serves_a_smaller_request_without_growing_memory() {
    let three = Layout::from_size_align(3 * 65536, 8).unwrap();
    let one = Layout::from_size_align(65536, 8).unwrap();
    // SAFETY: non-zero sizes; each block is freed with its layout.
    unsafe {
        let run = alloc(three);
        dealloc(run, three);
        let pages = core::arch::wasm32::memory_size(0);
        let part = alloc(one);
        assert!(
            part >= run && part < run.add(3 * 65536),
            "the request came from the freed run"
        );
        assert_eq!(core::arch::wasm32::memory_size(0), pages);
        let rest = alloc(Layout::from_size_align(2 * 65536, 8).unwrap());
        assert!(
            rest >= run && rest < run.add(3 * 65536),
            "so did the rest of it"
        );
        dealloc(part, one);
        dealloc(rest, Layout::from_size_align(2 * 65536, 8).unwrap());
    }
}

#[wasm_bindgen_test]
fn realloc_keeps_the_contents_across_classes_and_into_pages() {
    let mut layout = Layout::from_size_align(10, 1).unwrap();
    // SAFETY: non-zero sizes; each pointer is the latest one `realloc` returned.
    unsafe {
        let mut ptr = alloc(layout);
        for i in 0..10 {
            *ptr.add(i) = i as u8;
        }
        for new_size in [12, 16, 17, 1000, 40_000, 70_000, 300_000, 20, 10] {
            ptr = realloc(ptr, layout, new_size);
            assert!(!ptr.is_null());
            layout = Layout::from_size_align(new_size, 1).unwrap();
            for i in 0..10 {
                assert_eq!(*ptr.add(i), i as u8, "after growing to {new_size}");
            }
        }
        dealloc(ptr, layout);
    }
}

#[wasm_bindgen_test]
fn collections_grow_and_shrink_as_usual() {
    let mut v: Vec<u32> = Vec::new();
    for i in 0..250_000 {
        v.push(i);
    }
    assert!(v.iter().enumerate().all(|(i, x)| *x == i as u32));
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(v, (0..10).collect::<Vec<_>>());
    let text: String = (0..10_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    assert_eq!(text.len(), 10_000);
    assert!(text.starts_with("abc"));
}
