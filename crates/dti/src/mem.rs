//! Hints to the kernel about large fresh buffers (Linux `madvise`); elsewhere, or when
//! the kernel refuses, they do nothing. They never change a buffer's contents.

/// Asks for transparent huge pages on the whole 2 MiB pages inside `addr..addr + len`
/// (`MADV_HUGEPAGE`), so that a large output buffer is faulted in 2 MiB at a time rather
/// than 4 KiB (hundreds of times fewer page faults). Call it before the buffer is written.
pub(crate) fn advise_huge_pages(addr: usize, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = addr.div_ceil(HUGE) * HUGE;
        let end = (addr + len) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside a live allocation owned by the caller;
            // MADV_HUGEPAGE only changes how its pages will be backed, not its contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (addr, len);
}

/// Faults in the pages of the fresh buffer at `addr..addr + len` (Linux
/// `MADV_POPULATE_WRITE`), from the end backwards in 4 MiB steps, so that the thread
/// filling it from the front finds them mapped. The kernel maps zero pages exactly as a
/// first write would; the contents are never read or written here. Anything else (an older
/// kernel, another OS) does nothing.
pub(crate) fn prefault_backwards(addr: usize, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const STEP: usize = 4 << 20;
        const PAGE: usize = 4096;
        let start = addr.div_ceil(PAGE) * PAGE;
        let end = (addr + len) / PAGE * PAGE;
        let mut hi = end;
        while hi > start {
            let lo = hi.saturating_sub(STEP).max(start);
            // SAFETY: the range lies inside a live allocation owned by the caller, which
            // outlives this call; MADV_POPULATE_WRITE only populates page tables (pages
            // already present are left alone) and never changes the memory's contents.
            let rc = unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_POPULATE_WRITE)
            };
            if rc != 0 {
                return;
            }
            hi = lo;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (addr, len);
}
