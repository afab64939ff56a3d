//! Reading what the sipp peers leave behind: the statistics CSV (`-trace_stat`) and the members'
//! call logs (`-trace_logs`, one `INVITE <Call-ID>` / `BYE <Call-ID>` line per request taken).

use std::collections::BTreeMap;

/// Why a sipp statistics file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// The file is empty: sipp never wrote its header line.
    #[error("no header line")]
    NoHeader,
    /// The header is there but no complete data line follows it.
    #[error("no complete data line after the header")]
    NoData,
    /// The header lacks a column the harness reads.
    #[error("no column {0:?} in the header")]
    MissingColumn(&'static str),
}

/// Call counters from sipp's statistics file: the cumulative values of the last complete line
/// (sipp appends one line every `-fd` period and one more when it exits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// `TotalCallCreated`: calls placed (UAC) or taken (UAS; an auto-answered OPTIONS counts).
    pub created: u64,
    /// `CurrentCall`: calls still open when the line was written.
    pub current: u64,
    /// `SuccessfulCall(C)`: calls that ran their scenario to the end.
    pub successful: u64,
    /// `FailedCall(C)`: calls that failed for any reason.
    pub failed: u64,
    /// `FailedMaxUDPRetrans(C)`: failed because a request or response was never answered.
    pub failed_max_retrans: u64,
    /// `FailedUnexpectedMessage(C)`: failed on a message the scenario did not expect (e.g. a
    /// 503 where a 200 was expected).
    pub failed_unexpected: u64,
    /// `FailedTimeoutOnRecv(C)`: failed waiting for a message (`timeout` on a recv).
    pub failed_timeout_on_recv: u64,
    /// `Retransmissions(C)`: messages sipp had to send again.
    pub retransmissions: u64,
    /// `AutoAnswered(C)`: requests answered by `-aa` (the proxy's OPTIONS probes).
    pub auto_answered: u64,
    /// `OutOfCallMsgs(C)`: messages that matched no call.
    pub out_of_call: u64,
}

/// The columns read, in [`CallStats`] field order.
const COLUMNS: [&str; 10] = [
    "TotalCallCreated",
    "CurrentCall",
    "SuccessfulCall(C)",
    "FailedCall(C)",
    "FailedMaxUDPRetrans(C)",
    "FailedUnexpectedMessage(C)",
    "FailedTimeoutOnRecv(C)",
    "Retransmissions(C)",
    "AutoAnswered(C)",
    "OutOfCallMsgs(C)",
];

/// Parses sipp's `-trace_stat` CSV (default `;` delimiter). The last data line that holds a
/// number in every column read wins, so a line cut short by a killed sipp is skipped.
pub fn parse_stat_csv(text: &str) -> Result<CallStats, StatsError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or(StatsError::NoHeader)?
        .split(';')
        .map(str::trim)
        .collect();
    let mut index = [0usize; COLUMNS.len()];
    for (slot, name) in index.iter_mut().zip(COLUMNS) {
        *slot = header
            .iter()
            .position(|h| *h == name)
            .ok_or(StatsError::MissingColumn(name))?;
    }
    let rows: Vec<&str> = lines.collect();
    rows.iter()
        .rev()
        .find_map(|row| {
            let fields: Vec<&str> = row.split(';').collect();
            let mut v = [0u64; COLUMNS.len()];
            for (value, &i) in v.iter_mut().zip(&index) {
                *value = fields.get(i)?.trim().parse().ok()?;
            }
            Some(CallStats {
                created: v[0],
                current: v[1],
                successful: v[2],
                failed: v[3],
                failed_max_retrans: v[4],
                failed_unexpected: v[5],
                failed_timeout_on_recv: v[6],
                retransmissions: v[7],
                auto_answered: v[8],
                out_of_call: v[9],
            })
        })
        .ok_or(StatsError::NoData)
}

/// The requests one member logged, in order, by Call-ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberCalls {
    /// Call-IDs of the INVITEs it took (a retransmission is not logged again).
    pub invites: Vec<String>,
    /// Call-IDs of the BYEs it took.
    pub byes: Vec<String>,
    /// Call-IDs of the calls it answered and got the ACK for (scenarios that log `ACK`).
    pub acks: Vec<String>,
}

impl MemberCalls {
    /// Adds the lines of another log of the same member (after a restart).
    pub fn extend(&mut self, other: MemberCalls) {
        self.invites.extend(other.invites);
        self.byes.extend(other.byes);
        self.acks.extend(other.acks);
    }
}

/// Parses a member's call log: `INVITE <Call-ID>`, `ACK <Call-ID>` and `BYE <Call-ID>` lines;
/// every other line (sipp writes nothing else there, but an `UNSUPPORTED ...` note from
/// `uas_reject.xml`) is ignored. A last line without its newline (a member killed mid-write) still counts when it
/// holds a Call-ID.
pub fn parse_member_log(text: &str) -> MemberCalls {
    let mut calls = MemberCalls::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(method), Some(call_id), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        match method {
            "INVITE" => calls.invites.push(call_id.to_owned()),
            "BYE" => calls.byes.push(call_id.to_owned()),
            "ACK" => calls.acks.push(call_id.to_owned()),
            _ => {}
        }
    }
    calls
}

/// What every member of a pool logged, member by member (index = position in the pool).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolCalls {
    /// One entry per member.
    pub members: Vec<MemberCalls>,
}

impl PoolCalls {
    /// INVITEs taken per member.
    pub fn invites_per_member(&self) -> Vec<usize> {
        self.members.iter().map(|m| m.invites.len()).collect()
    }

    /// BYEs taken per member.
    pub fn byes_per_member(&self) -> Vec<usize> {
        self.members.iter().map(|m| m.byes.len()).collect()
    }

    /// The members that took an INVITE with `call_id` (more than one after a failover).
    pub fn invite_members(&self, call_id: &str) -> Vec<usize> {
        self.members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.invites.iter().any(|c| c == call_id))
            .map(|(i, _)| i)
            .collect()
    }

    /// The members that took a BYE with `call_id`.
    pub fn bye_members(&self, call_id: &str) -> Vec<usize> {
        self.members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.byes.iter().any(|c| c == call_id))
            .map(|(i, _)| i)
            .collect()
    }

    /// Call-IDs whose BYE reached a member that never took their INVITE, with that member:
    /// a dialog that was not pinned to the member that answered it.
    pub fn misrouted_byes(&self) -> Vec<(String, usize)> {
        let mut invited: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, m) in self.members.iter().enumerate() {
            for c in &m.invites {
                invited.entry(c.as_str()).or_default().push(i);
            }
        }
        let mut out = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            for c in &m.byes {
                if !invited.get(c.as_str()).is_some_and(|ms| ms.contains(&i)) {
                    out.push((c.clone(), i));
                }
            }
        }
        out
    }
}
