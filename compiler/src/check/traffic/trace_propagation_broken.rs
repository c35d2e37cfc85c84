//! A service on a traced call path that does not forward the trace context
//! (`tracing propagates=#false`, or `external` without `propagates=#true`)
//! splits every request it serves into two traces: the calls it makes start
//! new ones. Reported once per such service that is called and calls on,
//! with one path from where its trace starts (a gateway route, else the
//! service that starts it) through it to a callee.
//!
//! Linear in services, routes and calls: one breadth-first walk over the
//! synchronous call graph from every gateway route (then from each service
//! nothing reached, as a root) keeps each service's first predecessor; a
//! path is read back along those, at most [`MAX_SHOWN`] hops per warning.

use std::collections::VecDeque;

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::{GatewayId, Model, ServiceId};
use crate::schema::SchemaIndex;

/// Hops of a path shown before the start is elided.
const MAX_SHOWN: usize = 8;

/// How the walk first reached a service.
#[derive(Clone, Copy)]
enum Reached {
    /// By gateway `.0`'s route `.1` (its index in the gateway's routes).
    Route(GatewayId, usize),
    /// By a call of this service.
    Call(ServiceId),
    /// Nothing calls it before the walk gets there: it starts its traces.
    Root,
}

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    if model.tracing.is_none() {
        return;
    }
    // Whether anything calls each service.
    let mut called = vec![false; model.services.len()];
    for service in &model.services {
        for call in service.calls.iter().filter(|c| c.on_request_path()) {
            called[call.target.value.index()] = true;
        }
    }
    for gateway in &model.gateways {
        for forward in gateway.routes.iter().filter_map(|r| r.forward()) {
            called[forward.target.value.index()] = true;
        }
    }
    // Gateway routes first, then the services nothing calls, then (only
    // call cycles are left) any service not reached yet.
    let mut reached: Vec<Option<Reached>> = vec![None; model.services.len()];
    let mut queue = VecDeque::new();
    for gateway in model.gateway_ids() {
        for (index, route) in model.gateway(gateway).routes.iter().enumerate() {
            let Some(forward) = route.forward() else { continue };
            let target = forward.target.value.index();
            if reached[target].is_none() {
                reached[target] = Some(Reached::Route(gateway, index));
                queue.push_back(forward.target.value);
            }
        }
    }
    for id in model.service_ids() {
        if !called[id.index()] && reached[id.index()].is_none() {
            reached[id.index()] = Some(Reached::Root);
            queue.push_back(id);
        }
    }
    walk(model, &mut reached, &mut queue);
    for id in model.service_ids() {
        if reached[id.index()].is_none() {
            reached[id.index()] = Some(Reached::Root);
            queue.push_back(id);
            walk(model, &mut reached, &mut queue);
        }
    }
    for id in model.service_ids() {
        let service = model.service(id);
        if service.propagates_traces() || !called[id.index()] {
            continue;
        }
        let Some(call) = service.calls.iter().find(|c| c.on_request_path() && c.target.value != id) else {
            continue;
        };
        let callee = model.service(call.target.value);
        let path = path_to(model, &reached, id);
        let why = match (service.tracing.propagates.as_ref(), service.external()) {
            (Some(declared), _) => (declared.span, "declared not to forward the trace context"),
            (None, Some(external)) => (external, "external: its code is not ours, assumed not to forward it"),
            (None, None) => (service.name.span, "does not forward the trace context"),
        };
        let fix = if service.external().is_some() {
            "if it does forward `traceparent`, say so: tracing propagates=#true; else expect its callees' spans in separate traces"
        } else {
            "forward the trace headers from each request to the calls made for it (an OpenTelemetry SDK's propagator does), then declare tracing propagates=#true"
        };
        sink.push(
            Diagnostic::new(
                Code::TracePropagationBroken,
                format!(
                    "traces break at `{}`: {path} → {} (does not propagate) → {}",
                    service.name.value, service.name.value, callee.name.value
                ),
            )
            .at(why.0, why.1)
            .with_label(call.target.span, format!("this call to `{}` starts a new trace", callee.name.value))
            .help(fix),
        );
    }
}

/// Breadth-first from the queued services, recording each newly reached
/// service's predecessor.
fn walk(model: &Model, reached: &mut [Option<Reached>], queue: &mut VecDeque<ServiceId>) {
    while let Some(id) = queue.pop_front() {
        for call in model.service(id).calls.iter().filter(|c| c.on_request_path()) {
            let target = call.target.value;
            if reached[target.index()].is_none() {
                reached[target.index()] = Some(Reached::Call(id));
                queue.push_back(target);
            }
        }
    }
}

/// The path the trace takes to `id`'s caller, read back along the
/// predecessors: from the gateway route (or the service) that starts it,
/// or from the nearest service upstream that itself starts new traces.
fn path_to(model: &Model, reached: &[Option<Reached>], id: ServiceId) -> String {
    let mut hops: Vec<String> = Vec::new();
    let mut at = reached[id.index()];
    let mut elided = false;
    loop {
        match at {
            Some(Reached::Call(caller)) => {
                let service = model.service(caller);
                if hops.len() == MAX_SHOWN {
                    elided = true;
                    break;
                }
                if !service.propagates_traces() {
                    hops.push(format!("{} (starts a new trace)", service.name.value));
                    break;
                }
                hops.push(service.name.value.clone());
                at = reached[caller.index()];
            }
            Some(Reached::Route(gateway, index)) => {
                let gateway = model.gateway(gateway);
                let route = &gateway.routes[index];
                hops.push(format!("route `{}` of gateway `{}`", route.name.value, gateway.name.value));
                break;
            }
            Some(Reached::Root) | None => break,
        }
    }
    if elided {
        hops.push("…".to_string());
    }
    hops.reverse();
    if hops.is_empty() {
        // A root of a call cycle: the cycle's member that calls it.
        return "a caller in its call cycle".to_string();
    }
    hops.join(" → ")
}
