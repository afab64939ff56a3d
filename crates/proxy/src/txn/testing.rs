//! The timer values the transaction tests run with: RFC 3261's defaults (table 4).

use super::Timing;
use std::time::Duration;

/// T1.
pub(crate) const T1: Duration = Duration::from_millis(500);
/// T2.
pub(crate) const T2: Duration = Duration::from_secs(4);
/// T4.
pub(crate) const T4: Duration = Duration::from_secs(5);
/// The three together.
pub(crate) const TIMING: Timing = Timing {
    t1: T1,
    t2: T2,
    t4: T4,
};

/// `n` milliseconds.
pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
