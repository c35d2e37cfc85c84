//! A proxy fails a call over to its fallback service when the callee has no
//! healthy instance (Envoy's aggregate cluster: priority failover on
//! health). Health comes from an active `health-check` or from
//! `outlier-detection` ejecting instances that keep failing; a callee with
//! neither is never unhealthy to the proxy, so its fallback service never
//! takes a request.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::traffic::FallbackKind;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    for used in model.fallback_uses() {
        let FallbackKind::Service { target, .. } = &used.fallback.kind else { continue };
        let primary = model.service(used.primary);
        if primary.traffic.health_check.is_some() || primary.traffic.outlier_detection.is_some() {
            continue;
        }
        sink.push(
            Diagnostic::new(
                Code::FallbackNeverEngaged,
                format!(
                    "fallback service `{}` is never used: nothing marks `{}`'s instances unhealthy",
                    model.service(target.value).name.value,
                    primary.name.value
                ),
            )
            .at(used.fallback.span, "fails over on the callee's health")
            .with_label(primary.name.span, "no health-check or outlier-detection")
            .help(format!(
                "add to `{}`: traffic {{ outlier-detection consecutive-5xx=5 }} (or a health-check), so its proxies notice when it fails",
                primary.name.value
            )),
        );
    }
}
