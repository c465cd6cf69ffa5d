//! glibc's allocator settings, and handing freed heap back to the operating system.
//!
//! glibc keeps what other threads freed in their own arenas and returns it only when the top
//! of an arena is free: at 10 000 resources (debug build) two arenas held about 83 MiB
//! resident, and `malloc_trim` took the anonymous memory from 115 to 78 MiB (BENCHMARKS.md,
//! "Footprint"). The collector calls [`release_free_heap`] once per publish, beside its task,
//! once the previous snapshot's buffers can be gone.

/// Caps glibc at one malloc arena unless the operator set `MALLOC_ARENA_MAX`. Call it first
/// thing in `main`, before any thread exists. Measured at 10 000 resources: 147 MiB resident
/// with glibc's default of 8 arenas per core, 81 MiB with one (BENCHMARKS.md, "Footprint");
/// per-thread caches keep the allocation paths of the few busy threads apart anyway.
///
/// Also fixes glibc's mmap threshold at [`MMAP_THRESHOLD`] unless `MALLOC_MMAP_THRESHOLD_` is
/// set. By default glibc raises the threshold to the size of each mmapped block it frees, so
/// after the first collection its large transient buffers (rendered parts, copied maps) come
/// from the heap, where they leave holes the heap keeps; fixed, they are mapped and unmapped
/// whole.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune_allocator() {
    let unset = |name: &str| std::env::var_os(name).is_none();
    // SAFETY: mallopt only sets parameters of glibc's allocator; it is called before any
    // other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        if unset("MALLOC_ARENA_MAX") {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
        if unset("MALLOC_MMAP_THRESHOLD_") {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

/// Allocations from this size up are mapped on their own (glibc's initial default).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 << 10;

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_allocator() {}

/// Returns free heap pages of every arena to the kernel (`malloc_trim(0)`); a no-op where
/// the C library is not glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_heap() {
    // SAFETY: malloc_trim has no preconditions; it takes each arena's lock itself and only
    // gives back pages that hold no allocation.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_heap() {}
