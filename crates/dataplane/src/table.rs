//! The per-worker session table: records directly indexed by [`crate::layout`] slot number,
//! stored in 6 MiB chunks (huge pages where the host gives them) that are allocated when a
//! command first installs into them (never on the packet path), so memory follows the installed
//! sessions and random lookups over millions of records do not miss the TLB on every packet.

use crate::io::{HeapMemory, RecordMemory};
use crate::record::Stream;

/// 32,768 records of 192 bytes: three 2 MiB huge pages.
const CHUNK_SHIFT: u32 = 15;
const CHUNK: usize = 1 << CHUNK_SHIFT;

/// Records of one worker, in memory of kind `M` (the backend's choice).
#[derive(Debug)]
pub struct Table<M: RecordMemory = HeapMemory> {
    chunks: Vec<Option<M::Chunk>>,
    records: usize,
    installed: usize,
}

impl<M: RecordMemory> Table<M> {
    /// A table for `records` slots (nothing allocated yet but the chunk index).
    pub fn new(records: usize) -> Self {
        Self {
            chunks: (0..records.div_ceil(CHUNK)).map(|_| None).collect(),
            records,
            installed: 0,
        }
    }

    /// Grows the table to `records` slots (never shrinks it); installed records keep their
    /// slots, and no record memory is allocated here.
    pub fn grow(&mut self, records: usize) {
        if records > self.records {
            self.records = records;
            self.chunks.resize_with(records.div_ceil(CHUNK), || None);
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.records
    }

    /// Installed records.
    pub fn installed(&self) -> usize {
        self.installed
    }

    /// Bytes of record memory allocated.
    pub fn bytes_allocated(&self) -> usize {
        self.chunks.iter().flatten().count() * CHUNK * std::mem::size_of::<Stream>()
    }

    /// The record at `idx`, if its chunk exists.
    #[inline]
    pub fn get(&self, idx: u32) -> Option<&Stream> {
        let c = self.chunks.get((idx >> CHUNK_SHIFT) as usize)?.as_ref()?;
        c.get(idx as usize & (CHUNK - 1))
    }

    /// The record at `idx` for writing, if its chunk exists.
    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut Stream> {
        let c = self
            .chunks
            .get_mut((idx >> CHUNK_SHIFT) as usize)?
            .as_mut()?;
        c.get_mut(idx as usize & (CHUNK - 1))
    }

    /// Hints the CPU to load the first (hot) cache line of the record at `idx` (no effect if
    /// its chunk does not exist).
    #[inline]
    pub fn prefetch(&self, idx: u32) {
        if let Some(r) = self.get(idx) {
            M::prefetch(r);
        }
    }

    /// Installs `rec` at `idx`, allocating its chunk if needed. False if `idx` is out of range.
    pub fn install(&mut self, idx: u32, rec: Stream) -> bool {
        if idx as usize >= self.records {
            return false;
        }
        let Some(chunk) = self.chunks.get_mut((idx >> CHUNK_SHIFT) as usize) else {
            return false;
        };
        let c = chunk.get_or_insert_with(|| M::chunk(CHUNK));
        let Some(slot) = c.get_mut(idx as usize & (CHUNK - 1)) else {
            return false;
        };
        if !slot.in_use() {
            self.installed += 1;
        }
        *slot = rec;
        true
    }

    /// Empties the record at `idx`; returns what it held if it was installed.
    pub fn remove(&mut self, idx: u32) -> Option<Stream> {
        let slot = self.get_mut(idx)?;
        if !slot.in_use() {
            return None;
        }
        let old = std::mem::replace(slot, Stream::EMPTY);
        self.installed -= 1;
        Some(old)
    }
}
