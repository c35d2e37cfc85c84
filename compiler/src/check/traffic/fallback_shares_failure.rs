//! A fallback service stands in for a callee that is failing. If it calls
//! that callee itself (directly or through other services, on a request
//! path), it fails together with it, and the fallback helps nobody. A
//! search over the call graph from each fallback service, with the path
//! that leads back.

use std::collections::VecDeque;

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::contracts::Consumer;
use crate::model::traffic::FallbackKind;
use crate::model::{Model, ServiceId};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    for used in model.fallback_uses() {
        let FallbackKind::Service { target, .. } = &used.fallback.kind else { continue };
        let primary = model.service(used.primary);
        let who = match used.consumer {
            Consumer::Service(id) => format!("`{}`", model.service(id).name.value),
            Consumer::Gateway(id) => format!("gateway `{}`", model.gateway(id).name.value),
        };
        let Some(path) = path_to(model, target.value, used.primary) else { continue };
        let message = if path.len() == 1 {
            format!("{who} falls back from `{}` to itself", primary.name.value)
        } else {
            let names: Vec<&str> = path.iter().map(|id| model.service(*id).name.value.as_str()).collect();
            format!(
                "fallback service `{}` depends on `{}`, which it stands in for: {}",
                model.service(target.value).name.value,
                primary.name.value,
                names.join(" → ")
            )
        };
        sink.push(
            Diagnostic::new(Code::FallbackSharesFailure, message)
                .at(target.span, "fails when the primary fails")
                .with_label(primary.name.span, "the service it stands in for")
                .help("fall back to a service that does not call the primary (a static or cached implementation), or to a static response"),
        );
    }
}

/// The shortest request path from `from` to `to` (both included), if any.
fn path_to(model: &Model, from: ServiceId, to: ServiceId) -> Option<Vec<ServiceId>> {
    let mut previous: Vec<Option<ServiceId>> = vec![None; model.services.len()];
    let mut seen = vec![false; model.services.len()];
    let mut queue = VecDeque::from([from]);
    seen[from.index()] = true;
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut path = vec![at];
            while let Some(back) = previous[path[path.len() - 1].index()] {
                path.push(back);
            }
            path.reverse();
            return Some(path);
        }
        for next in model.service(at).calls.iter().filter(|c| c.on_request_path()).flat_map(|c| c.reached()) {
            if !seen[next.index()] {
                seen[next.index()] = true;
                previous[next.index()] = Some(at);
                queue.push_back(next);
            }
        }
    }
    None
}
