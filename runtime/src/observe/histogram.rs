//! Lock-free histograms for the request path: each worker thread writes
//! its own [`HistogramShard`] (a few uncontended atomic adds per value) and
//! a scrape sums the shards into one Prometheus histogram. Bucket bounds
//! are in nanoseconds so that recording needs no float arithmetic.
//! Not for metric names (that is `metrics.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::proto;

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// Request durations: 100 us to 30 s.
pub const REQUEST_DURATION: &[u64] = &[
    100 * US,
    250 * US,
    500 * US,
    MS,
    2_500 * US,
    5 * MS,
    10 * MS,
    25 * MS,
    50 * MS,
    100 * MS,
    250 * MS,
    500 * MS,
    S,
    2_500 * MS,
    5 * S,
    10 * S,
    30 * S,
];

/// CPU time of a request: 25 us (a hello world) to the largest budgets.
pub const CPU_TIME: &[u64] = &[
    25 * US,
    50 * US,
    100 * US,
    250 * US,
    500 * US,
    MS,
    2_500 * US,
    5 * MS,
    10 * MS,
    25 * MS,
    50 * MS,
    100 * MS,
    250 * MS,
    500 * MS,
    S,
];

/// Isolate creation (cold start): fine steps around the 1 ms target.
pub const ISOLATE_STARTUP: &[u64] = &[
    250 * US,
    500 * US,
    750 * US,
    MS,
    1_250 * US,
    1_500 * US,
    2 * MS,
    3 * MS,
    5 * MS,
    7_500 * US,
    10 * MS,
    25 * MS,
    50 * MS,
    100 * MS,
    250 * MS,
];

/// Adds `n` to a counter that only the calling thread writes (a shard):
/// a plain load and store, without the locked read-modify-write of
/// `fetch_add`. Readers (a scrape) may see the value before or after.
pub fn add_own(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// One thread's share of a histogram; only that thread records into it.
pub struct HistogramShard {
    bounds: &'static [u64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

impl HistogramShard {
    /// An empty shard with `bounds` (ascending, nanoseconds).
    pub fn new(bounds: &'static [u64]) -> HistogramShard {
        HistogramShard {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records one value, in nanoseconds.
    pub fn observe_ns(&self, ns: u64) {
        // Bounds are inclusive upper bounds (Prometheus' `le`). A scan
        // from the bottom: most values fall in the first buckets, where it
        // stops after a compare or two, sooner than a binary search.
        let bucket = self.bounds.iter().position(|b| ns <= *b).unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(bucket) {
            add_own(c, 1);
        }
        add_own(&self.sum_ns, ns);
    }
}

/// The sum of several shards of one histogram, at a scrape.
pub struct HistogramTotal {
    bounds: &'static [u64],
    counts: Vec<u64>,
    sum_ns: u64,
}

impl HistogramTotal {
    /// An empty total with `bounds`.
    pub fn new(bounds: &'static [u64]) -> HistogramTotal {
        HistogramTotal {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum_ns: 0,
        }
    }

    /// Adds one shard (with the same bounds).
    pub fn add(&mut self, shard: &HistogramShard) {
        for (total, c) in self.counts.iter_mut().zip(shard.counts.iter()) {
            *total += c.load(Ordering::Relaxed);
        }
        self.sum_ns += shard.sum_ns.load(Ordering::Relaxed);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The Prometheus histogram, in seconds. The count is the sum of the
    /// buckets, so a scrape racing a write still reads a consistent one.
    pub fn to_proto(&self) -> proto::Histogram {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count;
            let mut b = proto::Bucket::new();
            b.set_upper_bound(*bound as f64 / S as f64);
            b.set_cumulative_count(cumulative);
            buckets.push(b);
        }
        let mut h = proto::Histogram::new();
        h.set_bucket(buckets);
        h.set_sample_count(self.count());
        h.set_sample_sum(self.sum_ns as f64 / S as f64);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_inclusive_buckets_and_shards_add_up() {
        let a = HistogramShard::new(CPU_TIME);
        let b = HistogramShard::new(CPU_TIME);
        a.observe_ns(25 * US); // on the first bound: first bucket
        a.observe_ns(26 * US);
        b.observe_ns(10 * S); // beyond the last bound: +Inf
        let mut total = HistogramTotal::new(CPU_TIME);
        total.add(&a);
        total.add(&b);
        assert_eq!(total.count(), 3);
        let h = total.to_proto();
        let buckets = h.get_bucket();
        assert_eq!(buckets.len(), CPU_TIME.len());
        assert_eq!(buckets[0].cumulative_count(), 1);
        assert_eq!(buckets[1].cumulative_count(), 2);
        assert_eq!(buckets.last().map(|b| b.cumulative_count()), Some(2));
        assert!((h.get_sample_sum() - (10.0 + 51e-6)).abs() < 1e-9);
    }

    #[test]
    fn bounds_are_ascending() {
        for bounds in [REQUEST_DURATION, CPU_TIME, ISOLATE_STARTUP] {
            assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
