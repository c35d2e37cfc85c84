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
use crate::model::{Amplified, AmplifiedVia, Model, ServiceId};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    let limit = model.limits.max_retry_amplification;
    let worst = model.retry_amplification();
    for id in model.service_ids() {
        let Some(Amplified { amplification, via: AmplifiedVia::Call { caller, call } }) = worst[id.index()] else {
            continue;
        };
        // Report where the limit is first crossed, not at every service behind it.
        let caller_over = worst[caller.index()].is_some_and(|a| a.amplification > limit);
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

/// The worst path to `id` as text (`gateway public route r (×2) → a (×3) → b`)
/// and the spans of the retry policies that multiply along it.
fn explain(model: &Model, worst: &[Option<Amplified>], id: ServiceId) -> (String, Vec<Span>) {
    let mut steps = Vec::new();
    let mut spans = Vec::new();
    let mut current = id;
    // At most one step per service: the chain of `Via::Call`s follows strictly larger products.
    for _ in 0..=model.services.len() {
        let Some(Amplified { via, .. }) = worst[current.index()] else { break };
        match via {
            AmplifiedVia::Route { gateway, route } => {
                let gateway = model.gateway(gateway);
                let route = &gateway.routes[route];
                let retries = route.forward().and_then(|f| f.retries.as_ref());
                let attempts = retries.map_or(1, |p| p.attempts());
                if let Some(p) = retries {
                    spans.push(p.span);
                }
                steps.push(format!("gateway `{}` route `{}` (×{attempts})", gateway.name.value, route.name.value));
                break;
            }
            AmplifiedVia::Call { caller, call } => {
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
