//! An SLO or alert on a metric no emitted config produces: no `monitoring`
//! block (no proxy is scraped), an external service or caller (no sidecar
//! of ours), plain TCP (no HTTP statuses or durations), a certificate
//! alert without mTLS (no certificate), a consumer-lag alert on a consumer
//! its broker's exporter reports no lag for (an ephemeral consumer, a
//! topic kept on no broker, a RabbitMQ stream queue). It could never fire.
//! gRPC is measured: HTTP durations, and its statuses by the proxies'
//! `grpc_stats` filters (`emit::stats::GRPC_RESPONSES`).

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::events::{Consumer, QueueType, StreamSettings};
use crate::model::monitoring::{Alert, AlertKind, Slo};
use crate::model::Model;

const WHERE_MEASURED: &str = "watch it where it is measured: on the gateway route, or on the callers' calls";
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        let what = || format!("service `{}`", service.name.value);
        let http = service.ports().any(|(_, p)| p.protocol.is_http());
        let why = if service.external().is_some() {
            Some(("it is external: no sidecar of ours measures its requests", WHERE_MEASURED))
        } else if !http {
            Some(("it serves plain TCP: Envoy counts no HTTP statuses or durations for it", WHERE_MEASURED))
        } else {
            None
        };
        place(model, what, &service.objectives.slos, &service.objectives.alerts, why, sink);
        for call in &service.calls {
            let why = if service.external().is_some() {
                Some(("its caller is external: no sidecar of ours measures the call", WHERE_MEASURED))
            } else if call.tcp {
                Some(("the call is plain TCP: Envoy counts no HTTP statuses or durations for it", WHERE_MEASURED))
            } else {
                None
            };
            let what = || format!("this call of `{}`", service.name.value);
            place(model, what, &[], &call.alerts, why, sink);
        }
    }
    for consumer in &model.events.consumers {
        let what = || format!("this consumer of `{}`", model.service(consumer.service).name.value);
        place(model, what, &[], &consumer.alerts, unmeasured_lag(model, consumer), sink);
    }
    for gateway in &model.gateways {
        for route in &gateway.routes {
            if let Some(forward) = route.forward() {
                let what = || format!("route `{}`", route.name.value);
                place(model, what, &forward.objectives.slos, &forward.objectives.alerts, None, sink);
            }
        }
    }
}

/// Why the broker's exporter reports no lag for `consumer`, and what to do.
fn unmeasured_lag(model: &Model, consumer: &Consumer) -> Option<(&'static str, &'static str)> {
    let Some(stream) = model.topic(consumer.topic.value).stream.map(|id| model.events.stream(id)) else {
        return Some((
            "its topic is kept on no broker: no exporter counts its events",
            "give the topic a `stream` on a broker",
        ));
    };
    if consumer.group().is_none() {
        return Some((
            "it is ephemeral: its broker names its queue or consumer at random, so no rule can select its lag",
            "give it a consumer group: subscribes \"orders\" group=\"billing\"",
        ));
    }
    match stream.settings {
        StreamSettings::Rabbitmq { queue_type: QueueType::Stream, .. } => Some((
            "a RabbitMQ stream queue keeps events after they are read: its message counts are no lag",
            "use queue-type \"quorum\" (or \"classic\") for a consumer whose lag is watched",
        )),
        _ => None,
    }
}

/// Warns of each objective and alert of `slos` and `alerts` that nothing
/// measures; `what` names their owner (formatted only for a warning: most
/// services, calls, consumers and routes watch nothing).
fn place(
    model: &Model,
    what: impl FnOnce() -> String,
    slos: &[Slo],
    alerts: &[Alert],
    why: Option<(&str, &str)>,
    sink: &mut Sink,
) {
    if slos.is_empty() && alerts.is_empty() {
        return;
    }
    let what = &what();
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
    if let Some((why, help)) = why {
        let measured = |a: &&Alert| matches!(a.kind, AlertKind::CertExpiry { .. }) && !why.contains("external");
        for span in slos.iter().map(|s| s.span).chain(alerts.iter().filter(|a| !measured(a)).map(|a| a.span)) {
            warn(sink, span, what, why, help);
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
