//! A warning alert whose threshold is not before the critical one of the
//! same kind at the same place: it never comes first.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::monitoring::{Alert, AlertKind, Severity};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for alerts in model.alert_places() {
        check(alerts, sink);
    }
}

/// What makes two alerts comparable: the kind, and a latency alert's percentile.
fn key(alert: &Alert) -> (&'static str, u32) {
    match &alert.kind {
        AlertKind::Latency { percentile, .. } => ("latency", percentile.ppm()),
        other => (other.name(), 0),
    }
}

fn check(alerts: &[Alert], sink: &mut Sink) {
    // Few alerts per place: the pairs are cheap.
    for warning in alerts.iter().filter(|a| a.severity.value == Severity::Warning) {
        let critical = alerts.iter().filter(|c| c.severity.value == Severity::Critical && key(c) == key(warning));
        for critical in critical {
            let (w, above) = warning.kind.threshold();
            let (c, _) = critical.kind.threshold();
            let late = if above { w >= c } else { w <= c };
            if late {
                let side = if above { "below" } else { "above" };
                sink.push(
                    Diagnostic::new(
                        Code::WarningNotBelowCritical,
                        format!("this `{}` warning fires no earlier than the critical alert", warning.kind.name()),
                    )
                    .at(warning.kind.threshold_span(), "the warning's threshold")
                    .with_label(critical.kind.threshold_span(), "the critical threshold")
                    .help(format!("put the warning's threshold {side} the critical one, so it comes first")),
                );
            }
        }
    }
}
