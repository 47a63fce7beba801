//! SQLite's memory from the process's global allocator (mimalloc, see `main.rs`) instead of the
//! C library's `malloc`.
//!
//! Why: sqlx copies every column of every row it reads (`sqlite3_value_dup`) on its SQLite worker
//! thread, and the rows are dropped — the copies freed — on a tokio thread. glibc's per-thread
//! caches do not survive that pattern: the worker's allocations miss its cache and the frees
//! overflow the other thread's, so both go to glibc's shared arenas. In the benchmark's page of 50
//! posts with their authors, glibc's malloc and free were ~15 % of all instructions of the server
//! (callgrind; bench/README.md, "What was measured"); mimalloc frees across threads cheaply.
//!
//! SQLite takes its allocator (`SQLITE_CONFIG_MALLOC`) only before it initialises itself, which
//! happens at the first connection: [`use_global_allocator`] runs before `db::connect` opens one.
//! If SQLite was initialised earlier by something else in the process, it keeps `malloc`, which
//! is only slower.

use std::alloc::{Layout, alloc, dealloc, realloc};
use std::ffi::{c_int, c_void};
use std::sync::Once;

use libsqlite3_sys as ffi;

/// Bytes in front of each block: its size (SQLite asks for it, and `dealloc` needs the layout).
/// Sixteen keeps the block as aligned as `malloc`'s (SQLite needs eight).
const HEADER: usize = 16;

/// Installs the bridge once per process; a no-op after the first call.
pub fn use_global_allocator() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(x_malloc),
            xFree: Some(x_free),
            xRealloc: Some(x_realloc),
            xSize: Some(x_size),
            xRoundup: Some(x_roundup),
            xInit: Some(x_init),
            xShutdown: Some(x_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLite copies the struct, whose functions uphold its contract (below). It
        // refuses (SQLITE_MISUSE) rather than switch allocators once it is initialised.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &methods) };
        if rc != ffi::SQLITE_OK {
            tracing::debug!(
                rc,
                "SQLite was already initialised: it keeps the C allocator"
            );
        }
    });
}

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

/// The block's base (header) and the size recorded in it.
///
/// # Safety
/// `block` was returned by [`x_malloc`] or [`x_realloc`] and not freed since.
unsafe fn base_of(block: *mut c_void) -> (*mut u8, usize) {
    // SAFETY: (caller) the header is the HEADER bytes in front of `block`, in the same allocation.
    unsafe {
        let base = block.cast::<u8>().sub(HEADER);
        (base, base.cast::<usize>().read())
    }
}

unsafe extern "C" fn x_malloc(size: c_int) -> *mut c_void {
    let Some(layout) = usize::try_from(size).ok().and_then(layout) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout is never zero-sized (HEADER > 0); the size fits in the header, which
    // is aligned for a usize.
    unsafe {
        let base = alloc(layout);
        if base.is_null() {
            return std::ptr::null_mut();
        }
        base.cast::<usize>().write(layout.size() - HEADER);
        base.add(HEADER).cast()
    }
}

unsafe extern "C" fn x_free(block: *mut c_void) {
    if block.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what its xMalloc/xRealloc returned, once; the layout is the one
    // it was allocated with.
    unsafe {
        let (base, size) = base_of(block);
        dealloc(
            base,
            Layout::from_size_align_unchecked(size + HEADER, HEADER),
        );
    }
}

/// SQLite never passes a null block or a size ≤ 0 here (it calls xMalloc / xFree for those), but
/// both are handled like C's `realloc` anyway.
unsafe extern "C" fn x_realloc(block: *mut c_void, size: c_int) -> *mut c_void {
    if block.is_null() {
        // SAFETY: as x_malloc.
        return unsafe { x_malloc(size) };
    }
    let Some(new_layout) = usize::try_from(size).ok().and_then(layout) else {
        return std::ptr::null_mut();
    };
    // SAFETY: `block` is live (SQLite's contract); its old layout is in the header; the new size
    // is non-zero and was checked not to overflow. On failure the old block stays valid, as C's
    // realloc leaves it.
    unsafe {
        let (base, old_size) = base_of(block);
        let old_layout = Layout::from_size_align_unchecked(old_size + HEADER, HEADER);
        let base = realloc(base, old_layout, new_layout.size());
        if base.is_null() {
            return std::ptr::null_mut();
        }
        base.cast::<usize>().write(new_layout.size() - HEADER);
        base.add(HEADER).cast()
    }
}

unsafe extern "C" fn x_size(block: *mut c_void) -> c_int {
    if block.is_null() {
        return 0;
    }
    // SAFETY: SQLite asks only about live blocks of this allocator; sizes came from a c_int.
    unsafe { base_of(block).1 as c_int }
}

/// What a request for `size` bytes will really get: SQLite uses it to size its buffers to what
/// it receives. Rounding to eight is what SQLite's own allocator does.
unsafe extern "C" fn x_roundup(size: c_int) -> c_int {
    size.checked_add(7).map_or(size, |size| size & !7)
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_size_and_content_through_realloc() {
        // SAFETY: the functions are used as SQLite would: sizes > 0, live blocks, freed once.
        unsafe {
            let block = x_malloc(x_roundup(13));
            assert!(!block.is_null());
            assert_eq!(block as usize % 8, 0);
            assert_eq!(x_size(block), 16);
            std::ptr::copy_nonoverlapping(b"sixteen bytes..!".as_ptr(), block.cast::<u8>(), 16);
            let block = x_realloc(block, 4096);
            assert_eq!(x_size(block), 4096);
            assert_eq!(
                std::slice::from_raw_parts(block.cast::<u8>(), 16),
                b"sixteen bytes..!"
            );
            x_free(block);
            x_free(std::ptr::null_mut());
            assert!(x_malloc(-1).is_null());
            assert_eq!(x_roundup(c_int::MAX), c_int::MAX);
        }
    }
}
