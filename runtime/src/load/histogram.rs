//! A high-dynamic-range histogram of latencies in microseconds: log-linear
//! buckets (each power of two split into 256 linear steps), so every
//! recorded value is kept within 1/256 (0.4 %) of itself from 1 µs to hours,
//! in fixed memory, and percentiles are exact to that precision whatever
//! the count. The layout is HdrHistogram's with 2 significant digits and a
//! half; `merge` adds another one's counts.

/// Linear steps per power of two (its log2 is [`SUB_BITS`]).
const SUB_BITS: u32 = 8;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two above the first linear range: values up to 2^(SUB_BITS + 40) µs.
const RANGES: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    min: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { counts: vec![0; SUB * (RANGES + 1)], total: 0, max: 0, min: u64::MAX }
    }
}

/// The bucket of `value`: values below [`SUB`] each have their own; above,
/// the power of two picks the range and the next [`SUB_BITS`] bits the step.
fn index(value: u64) -> usize {
    if value < SUB as u64 {
        return value as usize;
    }
    let magnitude = 63 - value.leading_zeros() - SUB_BITS;
    let range = (magnitude as usize + 1).min(RANGES);
    let step = ((value >> magnitude) as usize - SUB).min(SUB - 1);
    range * SUB + step
}

/// The highest value bucket `i` holds (what a percentile reports: never
/// below the recorded value).
fn highest(i: usize) -> u64 {
    let (range, step) = (i / SUB, (i % SUB) as u64);
    if range == 0 {
        return step;
    }
    let magnitude = range as u32 - 1;
    ((SUB as u64 + step + 1) << magnitude) - 1
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
        self.min = self.min.min(micros);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.min = self.min.min(other.min);
    }

    /// The value at or below which `percentile` percent of the recorded
    /// values lie (0 when empty); 100 is the maximum.
    pub fn percentile(&self, percentile: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let wanted = ((percentile.clamp(0.0, 100.0) / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return highest(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::{highest, index, Histogram};

    #[test]
    fn every_value_lands_in_a_bucket_within_its_precision() {
        for value in (0..10_000_000u64).step_by(997).chain([u64::MAX / 4, 1 << 40]) {
            let top = highest(index(value));
            assert!(top >= value.min(highest(index(u64::MAX))), "{value} above its bucket's {top}");
            if value < 1 << 47 {
                assert!((top - value) as f64 <= value as f64 / 256.0 + 1.0, "{value} lands at {top}");
            }
        }
    }

    #[test]
    fn percentiles_of_a_uniform_run() {
        let mut h = Histogram::default();
        for micros in 1..=10_000 {
            h.record(micros);
        }
        assert_eq!(h.count(), 10_000);
        let near = |p: f64, want: u64| {
            let got = h.percentile(p);
            assert!(got >= want && got as f64 <= want as f64 * 1.004 + 1.0, "p{p}: {got}, want {want}");
        };
        near(50.0, 5_000);
        near(90.0, 9_000);
        near(99.0, 9_900);
        near(99.9, 9_990);
        assert_eq!(h.percentile(100.0), 10_000);
        assert_eq!(h.min(), 1);
    }

    #[test]
    fn one_slow_outlier_shows_at_the_top_only() {
        let mut h = Histogram::default();
        for _ in 0..999 {
            h.record(50_000);
        }
        h.record(3_000_000);
        assert!(h.percentile(99.0) < 50_300);
        assert_eq!(h.percentile(100.0), 3_000_000);
        let mut other = Histogram::default();
        other.record(10);
        h.merge(&other);
        assert_eq!((h.count(), h.min(), h.max()), (1001, 10, 3_000_000));
    }

    #[test]
    fn an_empty_histogram_reports_zeros() {
        let h = Histogram::default();
        assert_eq!((h.percentile(99.0), h.min(), h.max(), h.count()), (0, 0, 0, 0));
    }
}
