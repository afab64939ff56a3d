//! Fencing: which of two writes of the same call wins.
//!
//! Every record carries the [`Stamp`] of its writer. A node takes an epoch from Redis when it
//! becomes active (`INCR`), so epochs are unique per activation; within one epoch only one node
//! writes, and its sequence number orders its own writes. A write supersedes the stored one when
//! its epoch is higher, or when the epoch and node are the same and its sequence is higher.
//! Anything else (an older epoch, or another node claiming the same epoch) is refused. The same
//! rule runs on the server in [`crate::schema::PUT_SCRIPT`] and [`crate::schema::DEL_SCRIPT`].

use serde::{Deserialize, Serialize};

/// Who wrote a record, in which epoch, and the how-many-th change of the call it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The cluster epoch the writer was active in.
    pub epoch: u64,
    /// The writer's node id (`[ha] node`).
    pub node: String,
    /// The writer's change counter for this call (starts at 1).
    pub seq: u64,
}

impl Stamp {
    /// Whether a write stamped `self` replaces what is stored under `stored` (none stored:
    /// always).
    pub fn supersedes(&self, stored: Option<&Stamp>) -> bool {
        let Some(s) = stored else { return true };
        match self.epoch.cmp(&s.epoch) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => self.node == s.node && self.seq > s.seq,
        }
    }

    /// Whether a node holding a call under `self` must drop its copy because `seen` was written
    /// by another node in a newer epoch (split brain resolved: the newer activation owns it).
    pub fn loses_to(&self, seen: &Stamp) -> bool {
        seen.epoch > self.epoch && seen.node != self.node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(epoch: u64, node: &str, seq: u64) -> Stamp {
        Stamp {
            epoch,
            node: node.into(),
            seq,
        }
    }

    #[test]
    fn a_newer_epoch_wins_whatever_the_sequence() {
        assert!(st(3, "b", 1).supersedes(Some(&st(2, "a", 99))));
        assert!(!st(2, "a", 99).supersedes(Some(&st(3, "b", 1))));
        assert!(st(1, "a", 1).supersedes(None));
    }

    #[test]
    fn within_an_epoch_only_the_same_node_moves_forward() {
        assert!(st(2, "a", 5).supersedes(Some(&st(2, "a", 4))));
        assert!(!st(2, "a", 4).supersedes(Some(&st(2, "a", 4))), "a replay");
        assert!(
            !st(2, "a", 3).supersedes(Some(&st(2, "a", 4))),
            "out of order"
        );
        assert!(
            !st(2, "b", 9).supersedes(Some(&st(2, "a", 4))),
            "a second claimant"
        );
    }

    #[test]
    fn the_old_active_loses_to_the_new_one_and_not_to_itself() {
        assert!(st(2, "a", 7).loses_to(&st(3, "b", 1)));
        assert!(!st(3, "b", 1).loses_to(&st(2, "a", 7)));
        assert!(!st(2, "a", 7).loses_to(&st(3, "a", 1)));
    }
}
