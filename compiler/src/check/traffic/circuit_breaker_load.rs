//! A callee's circuit breaker must admit the traffic its callers expect.
//! Envoy enforces `max-requests` (and, for HTTP/1.1 upstreams without a
//! request limit, `max-connections`) per caller proxy; a caller expecting
//! `rps` requests per second that take `latency` each keeps
//! `rps × latency` requests in flight (Little's law). When that exceeds the
//! limit, the breaker rejects normal traffic with 503 (flag `UO`) on a
//! healthy day. The expected load of a caller's calls to one callee adds up.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        for (target, calls) in service.loaded_calls_by_callee() {
            let callee = model.service(target);
            let Some(breaker) = &callee.traffic.circuit_breaker else { continue };
            let (limit, what) = match (breaker.value.max_requests, breaker.value.max_connections) {
                (Some(n), _) => (n, "max-requests"),
                (None, Some(n)) => (n, "max-connections"),
                (None, None) => continue,
            };
            let concurrency: f64 = calls.iter().filter_map(|c| c.load.as_ref()).map(|l| l.value.concurrency()).sum();
            if concurrency <= f64::from(limit) {
                continue;
            }
            let terms: Vec<String> = calls
                .iter()
                .filter_map(|c| c.load.as_ref())
                .map(|l| format!("{} rps × {}", l.value.rps, l.value.latency))
                .collect();
            let first = calls[0].load.as_ref().expect("filtered on load");
            let mut d = Diagnostic::new(
                Code::CircuitBreakerBelowLoad,
                format!(
                    "`{}` expects {concurrency:.0} requests in flight to `{}` ({}), above its circuit breaker's {what}={limit}",
                    service.name.value,
                    callee.name.value,
                    terms.join(" + ")
                ),
            )
            .at(first.span, "expected load")
            .with_label(breaker.span, "the limit")
            .help(format!(
                "raise {what} to at least {} (with headroom for slow periods), or lower the expected load",
                concurrency.ceil() as u64
            ));
            for call in &calls[1..] {
                if let Some(load) = &call.load {
                    d = d.with_label(load.span, "adds to it");
                }
            }
            sink.push(d);
        }
    }
}
