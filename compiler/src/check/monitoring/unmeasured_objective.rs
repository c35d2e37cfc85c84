//! An SLO or alert on a metric no emitted config produces: no `monitoring`
//! block (no proxy is scraped), an external service or caller (no sidecar
//! of ours), plain TCP (no HTTP statuses or durations), a certificate
//! alert without mTLS (no certificate). It could never fire. gRPC is
//! measured: HTTP durations, and its statuses by the proxies' `grpc_stats`
//! filters (`emit::stats::GRPC_RESPONSES`).

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::monitoring::{Alert, AlertKind, Slo};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        let what = format!("service `{}`", service.name.value);
        let http = service.ports().any(|(_, p)| p.protocol.is_http());
        let why = if service.external().is_some() {
            Some("it is external: no sidecar of ours measures its requests")
        } else if !http {
            Some("it serves plain TCP: Envoy counts no HTTP statuses or durations for it")
        } else {
            None
        };
        place(model, &what, &service.objectives.slos, &service.objectives.alerts, why, sink);
        for call in &service.calls {
            let why = if service.external().is_some() {
                Some("its caller is external: no sidecar of ours measures the call")
            } else if call.tcp {
                Some("the call is plain TCP: Envoy counts no HTTP statuses or durations for it")
            } else {
                None
            };
            place(model, &format!("this call of `{}`", service.name.value), &[], &call.alerts, why, sink);
        }
    }
    for gateway in &model.gateways {
        for route in &gateway.routes {
            if let Some(forward) = route.forward() {
                let what = format!("route `{}`", route.name.value);
                place(model, &what, &forward.objectives.slos, &forward.objectives.alerts, None, sink);
            }
        }
    }
}

fn place(model: &Model, what: &str, slos: &[Slo], alerts: &[Alert], why: Option<&str>, sink: &mut Sink) {
    let spans = slos.iter().map(|s| s.span).chain(alerts.iter().map(|a| a.span));
    if model.monitoring.is_none() {
        if let Some(first) = spans.clone().next() {
            warn(
                sink,
                first,
                what,
                "the mesh declares no `monitoring` block: no proxy runs an admin endpoint and nothing is scraped",
                "add `monitoring { receiver \"oncall\" webhook=\"http://...\" }` to the root spec",
            );
        }
        return;
    }
    if let Some(why) = why {
        let measured = |a: &&Alert| matches!(a.kind, AlertKind::CertExpiry { .. }) && !why.contains("external");
        for span in slos.iter().map(|s| s.span).chain(alerts.iter().filter(|a| !measured(a)).map(|a| a.span)) {
            warn(
                sink,
                span,
                what,
                why,
                "watch it where it is measured: on the gateway route, or on the callers' calls",
            );
        }
    }
    if model.mtls.is_none() {
        for alert in alerts.iter().filter(|a| matches!(a.kind, AlertKind::CertExpiry { .. })) {
            warn(
                sink,
                alert.span,
                what,
                "the mesh has no `mtls`: the proxies hold no certificate to expire",
                "remove the alert, or turn on mTLS with an `mtls` block",
            );
        }
    }
}

fn warn(sink: &mut Sink, span: Span, what: &str, why: &str, help: &str) {
    sink.push(
        Diagnostic::new(Code::UnmeasuredObjective, format!("nothing measures this objective of {what}: {why}"))
            .at(span, "can never fire")
            .help(help.to_string()),
    );
}
