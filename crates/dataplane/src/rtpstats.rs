//! RTP reception statistics of RFC 3550 Appendix A, kept in the stream record.

use crate::record::{flag, Stream};

/// RFC 3550 A.1: a jump of more than this many sequence numbers is a restart, not loss.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: packets this far behind the highest are late, not a restart.
const MAX_MISORDER: u16 = 100;

/// Updates sequence, loss and jitter state for an accepted RTP packet arriving at `now_us`.
#[inline]
pub fn update(s: &mut Stream, seq: u16, ts: u32, ssrc: u32, now_us: u64) {
    if !s.has(flag::SEQ_INIT) || ssrc != s.ssrc {
        if s.has(flag::SEQ_INIT) {
            s.ssrc_changes = s.ssrc_changes.saturating_add(1);
        }
        restart(s, seq);
        s.ssrc = ssrc;
        s.set(flag::SEQ_INIT, true);
        s.transit = transit(s, ts, now_us);
        s.jitter = 0;
        return;
    }
    s.ssrc_packets = s.ssrc_packets.wrapping_add(1);
    // RFC 3550 A.1 update_seq(), without the probation of new sources.
    let udelta = seq.wrapping_sub(s.max_seq);
    if udelta < MAX_DROPOUT {
        if seq < s.max_seq {
            s.cycles = s.cycles.wrapping_add(1);
        }
        s.max_seq = seq;
    } else if udelta <= u16::MAX - MAX_MISORDER {
        // A very large jump: the sender restarted its sequence.
        restart(s, seq);
    }
    // RFC 3550 A.8: J += (|D| - J) / 16, kept scaled by 16.
    let t = transit(s, ts, now_us);
    let d = t.wrapping_sub(s.transit) as i32;
    s.transit = t;
    let d = d.unsigned_abs();
    s.jitter = s.jitter.wrapping_add(d).wrapping_sub((s.jitter + 8) >> 4);
}

fn restart(s: &mut Stream, seq: u16) {
    s.base_seq = seq;
    s.max_seq = seq;
    s.cycles = 0;
    s.ssrc_packets = 1;
}

/// Arrival time in timestamp units minus the RTP timestamp (RFC 3550 A.8).
#[inline]
fn transit(s: &Stream, ts: u32, now_us: u64) -> u32 {
    let rate = u64::from(s.clock_div10) * 10;
    // Truncation to u32 is the RTP timestamp arithmetic (modulo 2^32).
    let arrival = (now_us.wrapping_mul(rate) / 1_000_000) as u32;
    arrival.wrapping_sub(ts)
}

/// RFC 3550 A.3: packets expected from the current source.
pub fn expected(s: &Stream) -> u64 {
    if !s.has(flag::SEQ_INIT) {
        return 0;
    }
    let ext_max = (u64::from(s.cycles) << 16) + u64::from(s.max_seq);
    (ext_max + 1).saturating_sub(u64::from(s.base_seq))
}

/// RFC 3550 A.3: packets lost from the current source (negative with duplicates).
pub fn lost(s: &Stream) -> i64 {
    expected(s) as i64 - i64::from(s.ssrc_packets)
}

/// Interarrival jitter in timestamp units (RFC 3550 A.8), unscaled.
pub fn jitter(s: &Stream) -> u32 {
    s.jitter >> 4
}
