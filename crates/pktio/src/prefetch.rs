//! Cache prefetch hints for the per-packet path.
#![allow(unsafe_code)]

/// Hints the CPU to bring the cache line holding `r` (and, for `lines > 1`, the following
/// lines of the same object) into cache. Never faults; a no-op on targets without a hint.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = (r as *const T).cast::<i8>();
        let lines = std::mem::size_of::<T>().div_ceil(64).clamp(1, 4);
        for l in 0..lines {
            // SAFETY: prefetch is a hint that never faults, whatever the address; the address is
            // inside (or one line past the start of) a live object anyway.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                    p.wrapping_add(l * 64),
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Hints the CPU to bring the first cache line of `r` into cache.
#[inline(always)]
pub fn prefetch_first_line<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint that never faults; the address is that of a live object.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Hints the CPU to bring the cache line holding `r` into cache in a writable state (x86
/// `PREFETCHW`), for data the caller is about to modify: a line last written by another core
/// then costs one transfer instead of a read followed by an ownership request.
#[inline(always)]
pub fn prefetch_write<T: ?Sized>(r: &T) {
    prefetch_write_ptr((r as *const T).cast::<u8>());
}

/// [`prefetch_write`] on an address that need not point at a live object (a prefetch never
/// faults), for addresses guessed ahead of the load that would give them.
#[inline(always)]
pub(crate) fn prefetch_write_ptr(p: *const u8) {
    // The instruction directly: `_mm_prefetch::<_MM_HINT_ET0>` becomes a plain read
    // prefetch unless the whole build targets CPUs with `prfchw`. CPUs without PREFETCHW
    // (Intel before Broadwell) execute this encoding as a no-op.
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address; it reads and
    // writes no register or memory the compiler knows about, and leaves the flags alone.
    unsafe {
        core::arch::asm!(
            "prefetchw [{0}]",
            in(reg) p,
            options(nostack, preserves_flags, readonly)
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Hints the CPU to bring the cache line at `p` into cache; any address (never faults).
#[cfg(feature = "dpdk")]
#[inline(always)]
pub(crate) fn prefetch_ptr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
