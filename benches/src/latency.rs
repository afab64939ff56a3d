//! A log-linear latency histogram: 8 buckets per power of two (about 9% resolution), fixed
//! size, no allocation per sample.

/// Sub-buckets per power of two (2^3).
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for any u64 nanosecond value.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Histogram of nanosecond samples.
#[derive(Debug, Clone)]
pub struct LatencyHist {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for LatencyHist {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let msb = 63 - ns.leading_zeros();
    let sub = (ns >> (msb - SUB_BITS)) & (SUB - 1);
    ((msb - SUB_BITS + 1) as usize) * SUB as usize + sub as usize
}

fn lower_bound_of(bucket: usize) -> u64 {
    let b = bucket as u64;
    if b < SUB {
        return b;
    }
    let octave = b / SUB; // = msb - SUB_BITS + 1
    let sub = b % SUB;
    (SUB + sub) << (octave - 1)
}

impl LatencyHist {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHist {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    /// Records one sample.
    pub fn record(&mut self, ns: u64) {
        if let Some(c) = self.counts.get_mut(bucket_of(ns)) {
            *c += 1;
        }
        self.total += 1;
        self.max = self.max.max(ns);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &LatencyHist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest sample (exact), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The lower edge of the bucket holding quantile `q` (0..=1), 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        if rank >= self.total {
            return self.max;
        }
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return lower_bound_of(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for ns in [0u64, 1, 7, 8, 9, 15, 16, 17, 100, 1_000, 123_456, u64::MAX] {
            let b = bucket_of(ns);
            assert!(b >= last);
            assert!(b < BUCKETS);
            let lo = lower_bound_of(b);
            assert!(lo <= ns, "{ns}: lower bound {lo}");
            // Within one sub-bucket width: 1/8 of the octave.
            assert!(ns - lo <= ns / 8 + 1, "{ns}: lower bound {lo}");
            last = b;
        }
    }

    #[test]
    fn quantiles() {
        let mut h = LatencyHist::new();
        assert_eq!(h.quantile(0.5), 0);
        for ns in 1..=1000u64 {
            h.record(ns * 1000);
        }
        let p50 = h.quantile(0.5);
        assert!((440_000..=500_000).contains(&p50), "p50 {p50}");
        let p99 = h.quantile(0.99);
        assert!((900_000..=990_000).contains(&p99), "p99 {p99}");
        assert_eq!(h.max(), 1_000_000);
        let mut other = LatencyHist::new();
        other.record(5_000_000);
        h.merge(&other);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.max(), 5_000_000);
        assert_eq!(h.quantile(1.0), 5_000_000);
    }
}
