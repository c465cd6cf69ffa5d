//! Handing freed heap back to the operating system.
//!
//! glibc keeps what other threads freed in their own arenas and returns it only when the top
//! of an arena is free: at 10 000 resources (debug build) two arenas held about 83 MiB
//! resident, and `malloc_trim` took the anonymous memory from 115 to 78 MiB (BENCHMARKS.md,
//! "Footprint"). The snapshot calls
//! [`release_free_heap`] once per publish, after the previous collection's buffers are gone.

/// Caps glibc at one malloc arena unless the operator set `MALLOC_ARENA_MAX`. Call it first
/// thing in `main`, before any thread exists. Measured at 10 000 resources: 147 MiB resident
/// with glibc's default of 8 arenas per core, 81 MiB with one (BENCHMARKS.md, "Footprint");
/// per-thread caches keep the allocation paths of the few busy threads apart anyway.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: mallopt only sets a parameter of glibc's allocator; it is called before any
    // other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

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
