//! The process allocator: the system allocator, except that a single allocation of 1 GiB or more is
//! served by an anonymous `MAP_NORESERVE` mapping.
//!
//! Why: the Kafka message decoders (kafka-protocol 0.18) reserve `Vec` capacity for an array from the
//! element count read off the wire, before decoding a single element. A malformed 20-byte frame
//! claiming two billion elements asks for tens or hundreds of GiB; the system allocator refuses,
//! and Rust answers a refused allocation by aborting the process, so one bad frame would stop the
//! broker for every client. A `MAP_NORESERVE` mapping of that size only reserves address space:
//! the decoder writes the few elements the frame really holds, fails cleanly at its end, and the
//! mapping is returned. Real requests never come near the threshold (they are bounded by
//! `--max-request-bytes`), so everything else takes the usual path.
//!
//! Embedders of the `strikemq` library can opt in with
//! `#[global_allocator] static A: strikemq::GuardedAllocator = strikemq::GuardedAllocator;`.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// From this size on an allocation is a reserved mapping.
const HUGE: usize = 1 << 30;
/// mmap gives page-aligned memory; larger alignments go to the system allocator.
const PAGE: usize = 4096;

/// The allocator described in the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedAllocator;

fn is_huge(size: usize, align: usize) -> bool {
    size >= HUGE && align <= PAGE
}

fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping with no address hint touches no existing memory; the
    // result is checked against MAP_FAILED below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

// SAFETY: every pointer handed out is either the system allocator's (and goes back to it, since
// the same size/alignment test picks the path in `dealloc`) or a fresh mapping of at least the
// requested size, page-aligned (so aligned for any `align <= PAGE`), zero-filled, unmapped once.
unsafe impl GlobalAlloc for GuardedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout.size(), layout.align()) {
            map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees (non-zero size).
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout.size(), layout.align()) {
            // Anonymous mappings are zero-filled.
            map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(layout.size(), layout.align()) {
            // SAFETY: `ptr` came from `map` with this very size (the caller passes the layout it
            // allocated with); unmapping it once is what the caller asks for.
            unsafe {
                libc::munmap(ptr.cast(), layout.size());
            }
        } else {
            // SAFETY: `ptr` came from the system allocator with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let was_huge = is_huge(layout.size(), layout.align());
        let will_be_huge = is_huge(new_size, layout.align());
        if !was_huge && !will_be_huge {
            // SAFETY: both the old and new blocks belong to the system allocator.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size` with the old alignment is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a valid, non-zero-sized layout.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least `min(old, new)` bytes long.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_impossible_reservation_does_not_abort() {
        // 200 GiB of capacity, as a decoder would reserve for a bogus element count: with the
        // system allocator this aborts the test binary (which uses this allocator, see lib.rs).
        let mut v: Vec<[u8; 100]> = Vec::with_capacity(2_000_000_000);
        v.push([7; 100]);
        v.push([9; 100]);
        assert_eq!(v[1][99], 9);
        // Growing past a huge block and shrinking below it keep the contents.
        let mut bytes: Vec<u8> = Vec::with_capacity(super::HUGE);
        bytes.extend_from_slice(b"kept");
        bytes.reserve(super::HUGE * 2);
        bytes.shrink_to(16);
        assert_eq!(&bytes, b"kept");
        let zeroed = vec![0u8; super::HUGE + 1];
        assert!(zeroed[super::HUGE] == 0 && zeroed[12345] == 0);
    }
}
