//! The key schema, version 1. Every key starts with [`PREFIX`]; a later schema gets a new
//! prefix, so nodes of two versions never read each other's records.
//!
//! | key | type | what |
//! |---|---|---|
//! | `fv:1:epoch` | string (integer) | the cluster epoch; `INCR` by a node that becomes active (never below an epoch it has seen: [`EPOCH_SCRIPT`]); restored by an active node after a Redis restart ([`EPOCH_FLOOR_SCRIPT`]) |
//! | `fv:1:call:<Call-ID>` | hash | one call: `epoch`, `node`, `seq` (its [`crate::Stamp`]) and `rec` (the [`crate::CallRecord`] JSON); or a tombstone (`dead` = 1, no `rec`) for a while after the call ended |
//! | `fv:1:load:<node>` | hash | with shared limits: the calls a node holds per member, field `<set> <member URI>`, value the count; replaced every second, expires after three |
//! | `fv:1:changes` | stream | one entry per write: `op` (`put` or `del`), `key`, `epoch`; a standby follows it with `XREAD` |
//!
//! A call's hash expires at its record's deadline (its media and dialog timeouts), so a node
//! that dies leaves nothing behind for longer than its calls could have lived. Writes go only
//! through [`PUT_SCRIPT`] and [`DEL_SCRIPT`], which apply the fencing rule of [`crate::fence`] on
//! the server, atomically with the change-stream entry. The scripts touch two keys, so they
//! need one Redis/Valkey primary (with replicas or Sentinel), not a sharded cluster.

/// The prefix of every key of this schema version.
pub const PREFIX: &str = "fv:1:";
/// The cluster epoch.
pub const EPOCH_KEY: &str = "fv:1:epoch";
/// The change stream a standby follows.
pub const CHANGES_KEY: &str = "fv:1:changes";
/// The prefix of the call keys (`SCAN MATCH fv:1:call:*` lists them).
pub const CALL_PREFIX: &str = "fv:1:call:";
/// The prefix of the per-node load keys (shared `max_calls`).
pub const LOAD_PREFIX: &str = "fv:1:load:";
/// The most members one node's load key may name (more are refused as hostile).
pub const MAX_LOAD_FIELDS: usize = 10_000;

/// The load key of node `node`.
pub fn load_key(node: &str) -> String {
    format!("{LOAD_PREFIX}{node}")
}

/// How long a tombstone keeps a late write of an ended call out, in milliseconds.
pub const TOMBSTONE_MS: u64 = 3_600_000;
/// The longest TTL a call key gets, in milliseconds (a week: longer than any call's timeouts;
/// `PEXPIRE` refuses absurd values, and a script that fails half-way is not rolled back).
pub const MAX_TTL_MS: u64 = 7 * 86_400_000;
/// The change stream's approximate length cap (`XADD MAXLEN ~`).
pub const CHANGES_MAXLEN: u64 = 1_000_000;

/// The key of one call.
pub fn call_key(call_id: &str) -> String {
    format!("{CALL_PREFIX}{call_id}")
}

/// The Call-ID of a call key, if it is one of this schema's.
pub fn call_id_of(key: &str) -> Option<&str> {
    key.strip_prefix(CALL_PREFIX).filter(|id| !id.is_empty())
}

/// The fencing rule of [`crate::fence`] as the scripts run it, on `KEYS[1]` and ARGV 1-3
/// (epoch, node, seq): returns 2 when this very stamp is stored (a retry of a write whose
/// reply was lost), 0 when a newer one is; falls through when the write may go ahead.
macro_rules! fenced {
    ($then:literal) => {
        concat!(
            r"
local e, n, s = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'node', 'seq')
local ce, cs = tonumber(cur[1]), tonumber(cur[3])
if ce == e and cur[2] == n and cs == s then return 2 end
if ce and (ce > e or (ce == e and (cur[2] ~= n or cs >= s))) then return 0 end
redis.call('DEL', KEYS[1])
",
            $then
        )
    };
}

/// Writes a call if its stamp supersedes the stored one (a record or a tombstone). KEYS: the
/// call key, [`CHANGES_KEY`]. ARGV: epoch, node, seq, TTL in ms, stream cap, record JSON.
/// Returns 1 when written, 2 when this very stamp is stored already, 0 when fenced off.
pub const PUT_SCRIPT: &str = fenced!(
    r"redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'node', n, 'seq', ARGV[3], 'rec', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'op', 'put', 'key', KEYS[1], 'epoch', ARGV[1])
return 1
"
);

/// Ends a call: replaces its record by a tombstone stamped like a write (so a late or stale
/// write of it is refused) that lives [`TOMBSTONE_MS`]. KEYS, ARGV 1-5 and the return as
/// [`PUT_SCRIPT`] (the TTL is the tombstone's).
pub const DEL_SCRIPT: &str = fenced!(
    r"redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'node', n, 'seq', ARGV[3], 'dead', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'op', 'del', 'key', KEYS[1], 'epoch', ARGV[1])
return 1
"
);

/// Takes a new epoch: `INCR` of `KEYS[1]` ([`EPOCH_KEY`]), and never one at or below ARGV[1]
/// (the highest epoch the node has seen in a record): a Redis that restarted empty lost the
/// counter, and an epoch taken from it would be fenced off by the records written since.
pub const EPOCH_SCRIPT: &str = r"
local e = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if e <= floor then
  e = floor + 1
  redis.call('SET', KEYS[1], e)
end
return e
";

/// Raises `KEYS[1]` ([`EPOCH_KEY`]) to at least ARGV[1]: an active node that reconnects
/// restores the counter a Redis restart lost, so the next node to become active takes a newer
/// epoch than its own.
pub const EPOCH_FLOOR_SCRIPT: &str = r"
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_key_round_trips_and_foreign_keys_are_not_calls() {
        let k = call_key("a84b4c76e66710@pc33.example");
        assert_eq!(k, "fv:1:call:a84b4c76e66710@pc33.example");
        assert_eq!(call_id_of(&k), Some("a84b4c76e66710@pc33.example"));
        assert_eq!(call_id_of("fv:1:call:"), None);
        assert_eq!(call_id_of("fv:2:call:x"), None);
        assert_eq!(call_id_of(EPOCH_KEY), None);
    }
}
