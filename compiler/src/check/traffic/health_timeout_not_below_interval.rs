//! A health probe's timeout should be shorter than the time between probes.
//! Probes of one instance never overlap, so when an instance hangs each
//! probe holds for the whole timeout and the schedule slips to one probe
//! per timeout (`meshc-runtime health`) or per timeout plus interval
//! (Envoy, which waits the interval after each probe ends): the instance is
//! declared unhealthy after at least `unhealthy × timeout` instead of about
//! `unhealthy × interval`. A warning: the spec still works, it only
//! notices late.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        let Some(check) = &service.traffic.health_check else { continue };
        let (interval, timeout) = (&check.value.interval, &check.value.timeout);
        if timeout.value.as_millis() < interval.value.as_millis() {
            continue;
        }
        sink.push(
            Diagnostic::new(
                Code::HealthTimeoutNotBelowInterval,
                format!(
                    "the health check of `{}` waits {} for a probe but probes every {}",
                    service.name.value, timeout.value, interval.value
                ),
            )
            .at(timeout.span, "not shorter than the interval")
            .with_label(interval.span, "the interval")
            .help(format!(
                "make the timeout a fraction of the interval, e.g. timeout=\"{}\"",
                suggested_timeout(interval.value.as_millis())
            )),
        );
    }
}

/// A fifth of the interval, at least a millisecond, written in ms.
fn suggested_timeout(interval_ms: u128) -> String {
    format!("{}ms", (interval_ms / 5).max(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_suggested_timeout_is_a_fifth_of_the_interval() {
        assert_eq!(super::suggested_timeout(5_000), "1000ms");
        assert_eq!(super::suggested_timeout(3), "1ms");
    }
}
