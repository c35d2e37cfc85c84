//! Retries multiply along a call path: a gateway route that tries 3 times,
//! calling a service that tries 3 times, calling another that tries 3
//! times, can send 27 requests to the last one for one client request,
//! exactly when it is already failing. The pass computes, for every
//! service, the worst product of attempts over all paths from gateway
//! routes (one pass in topological order, no path enumeration) and reports
//! the call where the product first exceeds the mesh's
//! `max-retry-amplification`.

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::{Model, ServiceId};
use crate::schema::SchemaIndex;

/// How a service's worst case is reached: from a route or through a call.
#[derive(Clone, Copy)]
enum Via {
    Route { gateway: usize, route: usize },
    Call { caller: ServiceId, call: usize },
}

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    let limit = model.limits.max_retry_amplification;
    let mut worst: Vec<Option<(u64, Via)>> = vec![None; model.services.len()];
    for (g, gateway) in model.gateways.iter().enumerate() {
        for (r, route) in gateway.routes.iter().enumerate() {
            let Some(forward) = route.forward() else { continue };
            let attempts = forward.retries.as_ref().map_or(1, |p| p.attempts());
            raise(&mut worst, forward.target.value, attempts, Via::Route { gateway: g, route: r });
        }
    }
    // Callers before callees; inside a cycle (reported by sync-call-cycle) one pass is enough.
    for component in model.call_graph_components() {
        for caller in component {
            let Some((amplification, _)) = worst[caller.index()] else { continue };
            let service = model.service(caller);
            for (i, call) in service.calls.iter().enumerate().filter(|(_, c)| c.on_request_path()) {
                let attempts = service.call_retries(call).map_or(1, |p| p.attempts());
                raise(
                    &mut worst,
                    call.target.value,
                    amplification.saturating_mul(attempts),
                    Via::Call { caller, call: i },
                );
            }
        }
    }
    for id in model.service_ids() {
        let Some((amplification, Via::Call { caller, call })) = worst[id.index()] else { continue };
        // Report where the limit is first crossed, not at every service behind it.
        let caller_over = worst[caller.index()].is_some_and(|(a, _)| a > limit);
        if amplification <= limit || caller_over {
            continue;
        }
        let (path, spans) = explain(model, &worst, id);
        let call = &model.service(caller).calls[call];
        let at = model.service(caller).call_retries(call).map_or(call.span, |p| p.span);
        let mut d = Diagnostic::new(
            Code::RetryAmplification,
            format!(
                "one gateway request can cause {amplification} requests to `{}` (limit {limit}): {path}",
                model.service(id).name.value
            ),
        )
        .at(at, format!("×{} here", model.service(caller).call_retries(call).map_or(1, |p| p.attempts())))
        .help("retry at one layer only (usually the edge or the caller closest to the failure), lower the retry counts, or raise `limits { max-retry-amplification }` deliberately");
        for span in spans.into_iter().filter(|s| *s != at) {
            d = d.with_label(span, "multiplies");
        }
        if let Some(limits) = model.limits.span {
            d = d.with_label(limits, "the limit is set here");
        }
        sink.push(d);
    }
}

fn raise(worst: &mut [Option<(u64, Via)>], target: ServiceId, amplification: u64, via: Via) {
    let slot = &mut worst[target.index()];
    if slot.is_none_or(|(a, _)| amplification > a) {
        *slot = Some((amplification, via));
    }
}

/// The worst path to `id` as text (`gateway public route r (×2) → a (×3) → b`)
/// and the spans of the retry policies that multiply along it.
fn explain(model: &Model, worst: &[Option<(u64, Via)>], id: ServiceId) -> (String, Vec<Span>) {
    let mut steps = Vec::new();
    let mut spans = Vec::new();
    let mut current = id;
    // At most one step per service: the chain of `Via::Call`s follows strictly larger products.
    for _ in 0..=model.services.len() {
        let Some((_, via)) = worst[current.index()] else { break };
        match via {
            Via::Route { gateway, route } => {
                let route = &model.gateways[gateway].routes[route];
                let retries = route.forward().and_then(|f| f.retries.as_ref());
                let attempts = retries.map_or(1, |p| p.attempts());
                if let Some(p) = retries {
                    spans.push(p.span);
                }
                steps.push(format!(
                    "gateway `{}` route `{}` (×{attempts})",
                    model.gateways[gateway].name.value, route.name.value
                ));
                break;
            }
            Via::Call { caller, call } => {
                let service = model.service(caller);
                let policy = service.call_retries(&service.calls[call]);
                if let Some(p) = policy {
                    spans.push(p.span);
                }
                steps.push(format!("`{}` (×{})", service.name.value, policy.map_or(1, |p| p.attempts())));
                current = caller;
            }
        }
    }
    steps.reverse();
    steps.push(format!("`{}`", model.service(id).name.value));
    spans.reverse();
    (steps.join(" → "), spans)
}
