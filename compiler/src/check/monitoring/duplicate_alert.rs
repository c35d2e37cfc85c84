//! Two alerts at one place that Prometheus cannot tell apart: the same
//! kind (alert name) with the same severity and labels make the same
//! `ALERTS` series, so both firing is a duplicate sample and Alertmanager
//! sees one alert.

use std::collections::HashMap;

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::monitoring::Alert;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        check(&service.objectives.alerts, sink);
        for call in &service.calls {
            check(&call.alerts, sink);
        }
    }
    for route in model.gateways.iter().flat_map(|g| &g.routes) {
        if let Some(forward) = route.forward() {
            check(&forward.objectives.alerts, sink);
        }
    }
    for consumer in &model.events.consumers {
        check(&consumer.alerts, sink);
    }
}

/// What names an alert's series: its kind, severity and labels (sorted).
fn identity(alert: &Alert) -> (&'static str, &'static str, Vec<(&str, &str)>) {
    let mut labels: Vec<(&str, &str)> = alert.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    labels.sort_unstable();
    (alert.kind.name(), alert.severity.value.as_str(), labels)
}

fn check(alerts: &[Alert], sink: &mut Sink) {
    let mut first: HashMap<_, &Alert> = HashMap::new();
    for alert in alerts {
        let Some(earlier) = first.get(&identity(alert)) else {
            first.insert(identity(alert), alert);
            continue;
        };
        sink.push(
            Diagnostic::new(
                Code::DuplicateAlert,
                format!(
                    "this `{}` alert has the same severity and labels as an earlier one here",
                    alert.kind.name()
                ),
            )
            .at(alert.span, "indistinguishable from the earlier alert")
            .with_label(earlier.span, "the earlier alert")
            .help("give one of them another severity or a label that tells them apart (`{ labels NAME=\"VALUE\" }`), or remove one"),
        );
    }
}
