//! A latency objective or alert at or past the timeout of the route or
//! call it watches: the proxy ends every request by then (504), so no
//! response is measured slower and it can never burn or fire.

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::monitoring::{Alert, AlertKind, Slo, SloKind};
use crate::model::values::Duration;
use crate::model::{Model, RouteTimeout};
use crate::schema::SchemaIndex;

/// Envoy's route timeout when none is set.
const ENVOY_DEFAULT: Duration = Duration::from_millis(15_000);

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let timeout = match forward.timeout {
                Some(RouteTimeout::Never) => continue,
                Some(RouteTimeout::After(d)) => d,
                None => ENVOY_DEFAULT,
            };
            let what = format!("route `{}`", route.name.value);
            check(&what, timeout, &forward.objectives.slos, &forward.objectives.alerts, sink);
        }
    }
    for service in &model.services {
        for call in &service.calls {
            if let Some(timeout) = service.call_timeout(call) {
                let what = format!("this call of `{}`", service.name.value);
                check(&what, timeout.value, &[], &call.alerts, sink);
            }
        }
    }
}

fn check(what: &str, timeout: Duration, slos: &[Slo], alerts: &[Alert], sink: &mut Sink) {
    let thresholds = slos
        .iter()
        .filter_map(|s| match &s.kind {
            SloKind::Latency { under } => Some((under.value, under.span, "objective")),
            SloKind::Availability => None,
        })
        .chain(alerts.iter().filter_map(|a| match &a.kind {
            AlertKind::Latency { above, .. } => Some((above.value, above.span, "alert")),
            _ => None,
        }));
    for (threshold, span, kind) in thresholds {
        if threshold >= timeout {
            warn(sink, span, what, kind, threshold, timeout);
        }
    }
}

fn warn(sink: &mut Sink, span: Span, what: &str, kind: &str, threshold: Duration, timeout: Duration) {
    sink.push(
        Diagnostic::new(
            Code::LatencyObjectiveBeyondTimeout,
            format!("this latency {kind} of {what} is at {threshold}, but requests are cut at {timeout}"),
        )
        .at(span, format!("not below the {timeout} timeout"))
        .help(
            "lower the threshold below the timeout (slow requests already count as 504 errors), or raise the timeout",
        ),
    );
}
