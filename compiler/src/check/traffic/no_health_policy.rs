//! A called service should have a way to take failing instances out of
//! rotation: an active `health-check` or passive `outlier-detection` in its
//! `traffic` block. Without one, a crashed or hung instance keeps receiving
//! its share of every caller's requests until the platform replaces it, and
//! retries land on it again.

use std::collections::HashSet;

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::{Model, ServiceId};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    let mut reported: HashSet<ServiceId> = HashSet::new();
    for service in &model.services {
        for call in &service.calls {
            let target = call.target.value;
            let callee = model.service(target);
            let traffic = &callee.traffic;
            if traffic.health_check.is_some() || traffic.outlier_detection.is_some() || !reported.insert(target) {
                continue;
            }
            sink.push(
                Diagnostic::new(
                    Code::NoHealthPolicy,
                    format!("`{}` is called, but nothing takes its failing instances out of rotation", callee.name.value),
                )
                .at(callee.name.span, "no health-check or outlier-detection")
                .with_label(call.span, "called here")
                .help("add to the service: traffic { outlier-detection consecutive-5xx=5 interval=\"10s\" base-ejection=\"30s\" } (or a health-check)"),
            );
        }
    }
}
