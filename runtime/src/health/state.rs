//! One instance's health state, moved by probe results: `starting` until
//! `healthy` passes in a row (healthy) or `unhealthy` failures in a row
//! (unhealthy), then flipping between the two at the same thresholds, the
//! counts starting over at each flip. During the start period failures do
//! not count, until the first pass ends it (Docker's `--start-period`).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub const ALL: [Health; 3] = [Health::Starting, Health::Healthy, Health::Unhealthy];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// A change of state, at the `probe`-th probe of the instance (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: Health,
    pub to: Health,
    pub probe: u64,
}

/// The counters of one instance.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    pub health: Health,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    pub consecutive_passes: u32,
    pub consecutive_failures: u32,
    /// A pass ended the start period early.
    started: bool,
    pub probes: u64,
    pub passes: u64,
    pub failures: u64,
    /// Failures during the start period, which did not count.
    pub forgiven: u64,
}

impl Tracker {
    pub fn new(healthy_threshold: u32, unhealthy_threshold: u32) -> Tracker {
        Tracker {
            health: Health::Starting,
            healthy_threshold,
            unhealthy_threshold,
            consecutive_passes: 0,
            consecutive_failures: 0,
            started: false,
            probes: 0,
            passes: 0,
            failures: 0,
            forgiven: 0,
        }
    }

    /// Counts one probe result; `in_start_period`: the start period has not
    /// elapsed yet. Returns the transition it caused, if any.
    pub fn record(&mut self, passed: bool, in_start_period: bool) -> Option<Transition> {
        self.probes += 1;
        let to = if passed {
            self.passes += 1;
            self.started = true;
            self.consecutive_failures = 0;
            self.consecutive_passes += 1;
            (self.health != Health::Healthy && self.consecutive_passes >= self.healthy_threshold)
                .then_some(Health::Healthy)
        } else {
            self.failures += 1;
            if in_start_period && !self.started {
                self.forgiven += 1;
                return None;
            }
            self.consecutive_passes = 0;
            self.consecutive_failures += 1;
            (self.health != Health::Unhealthy && self.consecutive_failures >= self.unhealthy_threshold)
                .then_some(Health::Unhealthy)
        }?;
        let transition = Transition { from: self.health, to, probe: self.probes };
        self.health = to;
        self.consecutive_passes = 0;
        self.consecutive_failures = 0;
        Some(transition)
    }
}

#[cfg(test)]
mod tests {
    use super::{Health::*, Tracker, Transition};

    /// The transitions a sequence of results (`+` pass, `-` fail) causes.
    fn run(tracker: &mut Tracker, results: &str, in_start_period: bool) -> Vec<Transition> {
        results.chars().filter_map(|c| tracker.record(c == '+', in_start_period)).collect()
    }

    #[test]
    fn thresholds_count_results_in_a_row_and_start_over_at_each_flip() {
        let mut t = Tracker::new(2, 3);
        let seen = run(&mut t, "+-++--+---+-++", false);
        assert_eq!(
            seen,
            vec![
                Transition { from: Starting, to: Healthy, probe: 4 },
                Transition { from: Healthy, to: Unhealthy, probe: 10 },
                Transition { from: Unhealthy, to: Healthy, probe: 14 },
            ]
        );
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_until_a_pass_ends_it() {
        let mut t = Tracker::new(1, 2);
        assert_eq!(run(&mut t, "-----", true), vec![]);
        assert_eq!((t.health, t.forgiven), (Starting, 5));
        assert_eq!(run(&mut t, "+", true), vec![Transition { from: Starting, to: Healthy, probe: 6 }]);
        // Started: failures count although the period has not elapsed.
        assert_eq!(run(&mut t, "--", true), vec![Transition { from: Healthy, to: Unhealthy, probe: 8 }]);
    }

    #[test]
    fn after_the_start_period_failures_make_a_starting_instance_unhealthy() {
        let mut t = Tracker::new(2, 2);
        assert_eq!(run(&mut t, "--", false), vec![Transition { from: Starting, to: Unhealthy, probe: 2 }]);
    }
}
