//! Two listeners in one service's pod on the same port: the app's own
//! ports, its sidecar's inbound port for each of them, the sidecar's
//! outbound port (when it makes HTTP or gRPC calls) and the local port of
//! each TCP call. The second bind fails when the pod starts.

use std::collections::HashMap;

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::traffic::SidecarPorts;
use crate::model::{Model, Service};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    // An external service's pod is not ours.
    for (service, sidecar) in model.services.iter().filter_map(|s| Some((s, s.sidecar()?))) {
        let mut bound: HashMap<u16, (String, Span)> = HashMap::new();
        for (port, what, span) in listeners(model, service, sidecar) {
            match bound.get(&port) {
                // Two TCP calls to one callee port share its listener.
                Some((first, _)) if *first == what => {}
                Some((first, first_span)) => sink.push(
                    Diagnostic::new(
                        Code::PodPortConflict,
                        format!("{what} and {first} of service `{}` both bind port {port}", service.name.value),
                    )
                    .at(span, format!("binds {port}"))
                    .with_label(*first_span, format!("already bound here ({first})"))
                    .help("move one of them: a TCP call takes local-port=N; the sidecar takes inbound-port and outbound-port"),
                ),
                None => {
                    bound.insert(port, (what, span));
                }
            }
        }
    }
}

/// Every (port, what binds it, where it is declared) in the service's pod.
fn listeners(model: &Model, service: &Service, sidecar: &SidecarPorts) -> Vec<(u16, String, Span)> {
    let mut out = Vec::new();
    let inbound = sidecar.inbound_ports(service.ports().count()).unwrap_or_default();
    for ((_, port), inbound) in service.ports().zip(inbound) {
        out.push((port.number.get(), format!("the app's port `{}`", port.label()), port.span));
        let what = format!("the sidecar's inbound port for `{}`", port.label());
        out.push((inbound.get(), what, service.name.span));
    }
    let mut http_calls = false;
    for call in &service.calls {
        let callee = model.service(call.target.value);
        let port = callee.port(call.port);
        if port.protocol.is_http() {
            http_calls = true;
            continue;
        }
        let local = call.local_port.as_ref().map_or(port.number, |p| p.value);
        let span = call.local_port.as_ref().map_or(call.span, |p| p.span);
        out.push((local.get(), format!("the local port of the TCP call to `{}`", callee.name.value), span));
    }
    if http_calls {
        out.push((sidecar.outbound.get(), "the sidecar's outbound port".to_string(), service.name.span));
    }
    out
}
