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
