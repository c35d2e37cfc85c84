//! A latency objective or alert at or past the longest a request to the
//! route or call it watches can last: its timeout, or, when the retry
//! policy's per-try timeouts end it sooner, every attempt plus the
//! back-offs. The proxy answers every request by then (504), so no
//! response is measured slower and it can never burn or fire.

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::monitoring::{Alert, AlertKind, Slo, SloKind};
use crate::model::traffic::RetryPolicy;
use crate::model::values::Duration;
use crate::model::{Model, RouteTimeout};
use crate::schema::SchemaIndex;

/// Envoy's route timeout when none is set.
const ENVOY_DEFAULT: Duration = Duration::from_millis(15_000);

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            // Most routes set no latency objective: nothing to judge, no limit to describe.
            if forward.objectives.slos.is_empty() && forward.objectives.alerts.is_empty() {
                continue;
            }
            let timeout = match forward.timeout {
                Some(RouteTimeout::Never) => None,
                Some(RouteTimeout::After(d)) => Some(d),
                None => Some(ENVOY_DEFAULT),
            };
            let Some(limit) = Limit::of(timeout, forward.retries.as_ref()) else { continue };
            let what = format!("route `{}`", route.name.value);
            check(&what, &limit, &forward.objectives.slos, &forward.objectives.alerts, sink);
        }
    }
    for service in &model.services {
        for call in service.calls.iter().filter(|call| !call.alerts.is_empty()) {
            let timeout = service.call_timeout(call).map(|t| t.value);
            if let Some(limit) = Limit::of(timeout, service.call_retries(call)) {
                let what = format!("this call of `{}`", service.name.value);
                check(&what, &limit, &[], &call.alerts, sink);
            }
        }
    }
}

/// The longest a request can last, and what ends it then.
struct Limit {
    ms: u128,
    /// `the 2s timeout`.
    what: String,
    /// Why requests end then.
    why: String,
}

impl Limit {
    fn of(timeout: Option<Duration>, retries: Option<&RetryPolicy>) -> Option<Limit> {
        let by_timeout = timeout.map(|t| {
            let what = format!("the {t} timeout");
            Limit { ms: t.as_millis(), why: what.clone(), what }
        });
        let by_retries = retries.and_then(|r| {
            let ms = r.longest_ms()?;
            let per_try = r.per_try_timeout.as_ref()?.value;
            let why = format!("{} attempts of at most {per_try} and their back-offs ({ms}ms)", r.attempts());
            Some(Limit { ms, what: format!("the retries' {ms}ms"), why })
        });
        match (by_timeout, by_retries) {
            (Some(t), Some(r)) => Some(if r.ms < t.ms { r } else { t }),
            (t, r) => t.or(r),
        }
    }
}

fn check(what: &str, limit: &Limit, slos: &[Slo], alerts: &[Alert], sink: &mut Sink) {
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
        if threshold.as_millis() >= limit.ms {
            warn(sink, span, what, kind, threshold, limit);
        }
    }
}

fn warn(sink: &mut Sink, span: Span, what: &str, kind: &str, threshold: Duration, limit: &Limit) {
    sink.push(
        Diagnostic::new(
            Code::LatencyObjectiveBeyondTimeout,
            format!("this latency {kind} of {what} is at {threshold}, but requests end by {}", limit.why),
        )
        .at(span, format!("not below {}", limit.what))
        .help("lower the threshold below that (slow requests already count as 504 errors), or allow requests longer"),
    );
}
