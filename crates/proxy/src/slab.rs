//! Tables addressed by small `Copy` ids: a slab of slots, each id carrying the slot's
//! generation so that an id kept past its entry's removal (in a timer, a context, a
//! transaction) finds nothing instead of whatever reuses the slot.

use std::marker::PhantomData;

/// A slot index and the generation of the entry it held when the id was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RawId {
    index: u32,
    generation: u32,
}

/// A typed id of a [`Slab`] entry.
pub(crate) trait SlabId: Copy {
    /// The id for a raw slot id.
    fn from_raw(raw: RawId) -> Self;
    /// The raw slot id.
    fn raw(self) -> RawId;
}

/// Declares a `Copy` id type for one table.
macro_rules! slab_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) struct $name(RawId);

        impl SlabId for $name {
            fn from_raw(raw: RawId) -> Self {
                $name(raw)
            }
            fn raw(self) -> RawId {
                self.0
            }
        }
    };
}

slab_id!(
    /// A server transaction: a request this element received.
    ServerId
);
slab_id!(
    /// A client transaction: a request this element sent.
    ClientId
);
slab_id!(
    /// A proxy context: one forwarded request and its branches.
    CtxId
);

/// One slot: the generation of its current (or last) entry, and the entry.
#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    entry: Option<T>,
}

/// Entries addressed by ids of type `I`; freed slots are reused, with a new generation.
#[derive(Debug)]
pub(crate) struct Slab<I, T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    _id: PhantomData<fn() -> I>,
}

impl<I, T> Default for Slab<I, T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            _id: PhantomData,
        }
    }
}

impl<I: SlabId, T> Slab<I, T> {
    /// Stores `entry`; returns its id.
    pub(crate) fn insert(&mut self, entry: T) -> I {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            if let Some(slot) = self.slots.get_mut(index as usize) {
                slot.generation = slot.generation.wrapping_add(1);
                slot.entry = Some(entry);
                return I::from_raw(RawId {
                    index,
                    generation: slot.generation,
                });
            }
        }
        // More than u32::MAX live entries cannot be held in memory anyway.
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            generation: 0,
            entry: Some(entry),
        });
        I::from_raw(RawId {
            index,
            generation: 0,
        })
    }

    fn slot(&self, id: I) -> Option<&Slot<T>> {
        let raw = id.raw();
        self.slots
            .get(raw.index as usize)
            .filter(|s| s.generation == raw.generation)
    }

    fn slot_mut(&mut self, id: I) -> Option<&mut Slot<T>> {
        let raw = id.raw();
        self.slots
            .get_mut(raw.index as usize)
            .filter(|s| s.generation == raw.generation)
    }

    /// The entry `id` names, if it is still there.
    pub(crate) fn get(&self, id: I) -> Option<&T> {
        self.slot(id).and_then(|s| s.entry.as_ref())
    }

    /// The entry `id` names, if it is still there.
    pub(crate) fn get_mut(&mut self, id: I) -> Option<&mut T> {
        self.slot_mut(id).and_then(|s| s.entry.as_mut())
    }

    /// Takes the entry `id` names out; its slot is reused later.
    pub(crate) fn remove(&mut self, id: I) -> Option<T> {
        let entry = self.slot_mut(id)?.entry.take()?;
        self.free.push(id.raw().index);
        self.len -= 1;
        Some(entry)
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every entry with its id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (I, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let index = u32::try_from(i).ok()?;
            let raw = RawId {
                index,
                generation: s.generation,
            };
            s.entry.as_ref().map(|e| (I::from_raw(raw), e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_id_finds_nothing_even_when_its_slot_is_reused() {
        let mut s: Slab<CtxId, &str> = Slab::default();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!((s.get(a), s.get(b), s.len()), (Some(&"a"), Some(&"b"), 2));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.get(a), None);
        assert_eq!((s.remove(a), s.len()), (None, 1));
        let c = s.insert("c");
        assert_ne!(a, c, "same slot, new generation");
        assert_eq!((s.get(a), s.get(c)), (None, Some(&"c")));
        if let Some(e) = s.get_mut(c) {
            *e = "C";
        }
        assert!(s.get_mut(a).is_none());
        let all: Vec<&str> = s.iter().map(|(_, e)| *e).collect();
        assert_eq!(all, ["C", "b"]);
        assert!(s.iter().all(|(id, e)| s.get(id) == Some(e)));
    }
}
