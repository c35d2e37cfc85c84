//! A per-try timeout at or above the call's timeout means the first attempt
//! uses up the whole budget: the proxy never retries after a slow attempt,
//! silently (Envoy: envoyproxy/envoy#10082; Istio: istio/istio#55748).

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::traffic::RetryPolicy;
use crate::model::values::Duration;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        for call in &service.calls {
            if let (Some(timeout), Some(policy)) = (service.call_timeout(call), service.call_retries(call)) {
                check(sink, policy, timeout.value, timeout.span);
            }
        }
    }
    for route in model.gateways.iter().flat_map(|g| &g.routes) {
        let Some(forward) = route.forward() else { continue };
        if let (Some(timeout), Some(policy)) = (forward.timeout.and_then(|t| t.duration()), &forward.retries) {
            check(sink, policy, timeout, route.span);
        }
    }
}

fn check(sink: &mut Sink, policy: &RetryPolicy, timeout: Duration, timeout_at: Span) {
    let Some(per_try) = &policy.per_try_timeout else { return };
    if policy.retries == 0 || per_try.value < timeout {
        return;
    }
    sink.push(
        Diagnostic::new(
            Code::IneffectivePerTryTimeout,
            format!(
                "per-try timeout {} is not shorter than the timeout {timeout}: a slow attempt is never retried",
                per_try.value
            ),
        )
        .at(per_try.span, "per-try timeout")
        .with_label(timeout_at, "overall timeout")
        .help(format!(
            "make the per-try timeout a fraction of the timeout (at most {} for {} attempts), or drop it",
            Duration::from_millis((timeout.as_millis() / u128::from(policy.attempts())).max(1) as u64),
            policy.attempts()
        )),
    );
}
