//! sipp peers for the load-balancing tests: pool members (sipp UAS processes that answer or
//! refuse calls and answer OPTIONS probes) and callers (a sipp UAC placing a bounded number of
//! calls at a given rate), with what they report read back.
//!
//! Every process runs in its own process group and is killed when its guard drops (see
//! [`crate::process`]). A member can be killed (SIGKILL, as a crashed FreeSWITCH) and started
//! again on the same port. Each member logs one line per INVITE and BYE it takes (the
//! scenarios' `<log>` actions; sipp writes each line at once, so the log is complete even for
//! a killed member), which gives the calls per member and which member got each BYE. The
//! caller's outcome comes from sipp's exit status and its statistics CSV.
//!
//! Scenarios (in `sipp/`): `uas_answer.xml` (100, 180, 200 with SDP, ACK, BYE),
//! `uas_reject.xml` (one final code, optionally with Retry-After), `uac_call.xml` (a call that
//! is answered) and `uac_expect_{404,486,500,503}.xml` (a call refused with that code).

mod member;
mod parse;
mod uac;

#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use member::{Member, MemberScenario, MemberSpec, Pool};
pub use parse::{parse_member_log, parse_stat_csv, CallStats, MemberCalls, PoolCalls, StatsError};
pub use uac::{exit_meaning, run_uac, CallScenario, Uac, UacReport, UacSpec};

/// The member scenario that answers every call.
pub const UAS_ANSWER: &str = include_str!("../sipp/uas_answer.xml");
/// The member scenario that refuses every call (`-set code`, `-set retry_after`).
pub const UAS_REJECT: &str = include_str!("../sipp/uas_reject.xml");
/// The caller scenario for calls that are answered.
pub const UAC_CALL: &str = include_str!("../sipp/uac_call.xml");

/// Final codes `uas_reject.xml` can send.
pub const REJECT_CODES: [u16; 6] = [404, 480, 486, 500, 503, 603];
/// Final codes a caller can expect (`uac_expect_<code>.xml`).
pub const EXPECT_CODES: [u16; 4] = [404, 486, 500, 503];

/// How long a member waits for its SIP port to be bound at start.
const LISTEN_LIMIT: Duration = Duration::from_secs(5);
/// How long a caller may take to write its statistics after it is killed.
const KILL_LIMIT: Duration = Duration::from_secs(5);

/// Why a sipp pool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Spawning, waiting for or writing the files of a process failed.
    #[error(transparent)]
    Harness(#[from] crate::Error),
    /// `uas_reject.xml` has no branch for this code.
    #[error("sipp pool: uas_reject.xml cannot send {0} (it sends one of {REJECT_CODES:?})")]
    UnsupportedRejectCode(u16),
    /// Retry-After was asked for with a code other than 503.
    #[error("sipp pool: uas_reject.xml adds Retry-After to 503 only, not to {0}")]
    RetryAfterNeeds503(u16),
    /// There is no `uac_expect_<code>.xml` for this code.
    #[error("sipp pool: no caller scenario expects {0} (there are {EXPECT_CODES:?})")]
    UnsupportedExpectCode(u16),
    /// A sipp statistics file is missing or holds no usable line.
    #[error("sipp pool: statistics {path}: {reason}")]
    Stats {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

/// Result type of this module.
pub type PoolResult<T> = std::result::Result<T, PoolError>;

/// Reads a statistics file.
fn read_stats(path: &Path) -> PoolResult<CallStats> {
    let text = fs::read_to_string(path).map_err(|e| PoolError::Stats {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    parse_stat_csv(&text).map_err(|e| PoolError::Stats {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}
