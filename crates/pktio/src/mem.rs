//! Large zero-copy tables backed by 2 MiB-aligned anonymous memory with transparent huge pages
//! requested (`MADV_HUGEPAGE`), so that random per-packet lookups over millions of records do not
//! pay a TLB miss each. Falls back to the global allocator when `mmap` fails.
#![allow(unsafe_code)]

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

const HUGE: usize = 2 << 20;

/// A fixed-size slice of `T`, every element initialised, in huge-page-friendly memory.
pub struct HugeSlice<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    /// The whole mapping (base, length) when mmap'd; None when on the global heap.
    map: Option<(*mut libc::c_void, usize)>,
    /// Owns the memory when it is on the global heap (`ptr` points into it).
    _heap: Option<Box<[T]>>,
}

// SAFETY: a HugeSlice owns its memory exclusively, like a Box<[T]>.
unsafe impl<T: Copy + Send> Send for HugeSlice<T> {}
// SAFETY: shared access only hands out &[T], like a Box<[T]>.
unsafe impl<T: Copy + Sync> Sync for HugeSlice<T> {}

impl<T: Copy> std::fmt::Debug for HugeSlice<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeSlice")
            .field("len", &self.len)
            .field("mapped", &self.map.is_some())
            .finish()
    }
}

impl<T: Copy> HugeSlice<T> {
    /// `len` copies of `fill`.
    pub fn filled(len: usize, fill: T) -> Self {
        let bytes = len.saturating_mul(std::mem::size_of::<T>());
        if bytes == 0 || std::mem::align_of::<T>() > 4096 {
            return Self::on_heap(len, fill);
        }
        let map_len = bytes.div_ceil(HUGE) * HUGE + HUGE;
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Self::on_heap(len, fill);
        }
        let aligned = (base as usize).div_ceil(HUGE) * HUGE;
        // SAFETY: `aligned` lies within the mapping: at most HUGE - 1 bytes past `base`, and the
        // mapping has HUGE bytes of slack; the advice is only a hint (its failure is harmless).
        unsafe {
            libc::madvise(
                aligned as *mut libc::c_void,
                map_len - (aligned - base as usize),
                libc::MADV_HUGEPAGE,
            )
        };
        let ptr = aligned as *mut T;
        for i in 0..len {
            // SAFETY: `i < len` and the mapping holds `bytes` bytes from `aligned`, which is
            // 2 MiB-aligned and so aligned for T (align <= 4096, checked above).
            unsafe { ptr.add(i).write(fill) };
        }
        match NonNull::new(ptr) {
            Some(ptr) => Self {
                ptr,
                len,
                map: Some((base, map_len)),
                _heap: None,
            },
            None => Self::on_heap(len, fill),
        }
    }

    fn on_heap(len: usize, fill: T) -> Self {
        let mut b = vec![fill; len].into_boxed_slice();
        let ptr = NonNull::new(b.as_mut_ptr()).unwrap_or(NonNull::dangling());
        Self {
            ptr,
            len,
            map: None,
            _heap: Some(b),
        }
    }
}

impl<T: Copy> Deref for HugeSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points at `len` initialised elements owned by this value (in the mapping,
        // or in `heap`, whose allocation does not move when the Box does).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> DerefMut for HugeSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeSlice<T> {
    fn drop(&mut self) {
        if let Some((base, len)) = self.map.take() {
            // SAFETY: unmaps exactly the mapping made in `filled`; T is Copy, so nothing to drop.
            unsafe { libc::munmap(base, len) };
        }
    }
}

/// Session records in [`HugeSlice`]s, with a prefetch hint before each read: the record
/// memory of every backend here.
#[derive(Debug, Clone, Copy, Default)]
pub struct HugePages;

impl dataplane::io::RecordMemory for HugePages {
    type Chunk = HugeSlice<dataplane::record::Stream>;
    fn chunk(len: usize) -> Self::Chunk {
        HugeSlice::filled(len, dataplane::record::Stream::EMPTY)
    }
    #[inline(always)]
    fn prefetch(r: &dataplane::record::Stream) {
        crate::prefetch::prefetch_first_line(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_reads_back_and_writes() {
        let mut s = HugeSlice::filled(100_000, 7u64);
        assert_eq!(s.len(), 100_000);
        assert!(s.iter().all(|&v| v == 7));
        s[99_999] = 9;
        assert_eq!(s[99_999], 9);
        assert_eq!(s.as_ptr() as usize % HUGE, 0, "mapped and 2 MiB-aligned");
        let empty = HugeSlice::filled(0, 1u8);
        assert!(empty.is_empty());
    }
}
