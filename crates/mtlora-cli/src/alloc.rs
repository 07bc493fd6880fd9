//! Allocator tuning of the binaries.

/// Keep freed multi-megabyte buffers in the process instead of returning them to the kernel.
///
/// Every sample allocates and frees several 4–5 MB planes; with glibc's defaults these are
/// `mmap`ed and unmapped each time, and page faults + page zeroing then cost ~30 % of the
/// data pipeline (see `benches/RESULTS.md`). The binaries call this once at start-up (glibc
/// only; a no-op elsewhere); the libraries never do.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}
