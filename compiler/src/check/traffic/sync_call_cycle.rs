//! Synchronous calls must not form a cycle: a request entering the cycle
//! holds a thread or connection at every service on it while waiting for
//! itself, and retries or timeouts multiply around it. A fallback service
//! is on the call's path too: a cycle through one is a cycle.

use std::collections::HashSet;

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::{Call, Model, ServiceId};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    for component in model.call_graph_components() {
        let members: HashSet<ServiceId> = component.iter().copied().collect();
        // A call's hop inside the component: its callee, else its fallback service.
        let hop = |call: &Call| call.reached().find(|t| members.contains(t));
        let inside = |call: &&Call| call.on_request_path() && hop(call).is_some();
        let start = component[0];
        let Some(first) = model.service(start).calls.iter().find(inside) else { continue };
        // Walk calls inside the component from its first service back to it.
        let mut path = vec![(start, first)];
        let mut seen = HashSet::from([start]);
        while path.last().is_some_and(|(_, call)| !call.reached().any(|t| t == start)) {
            let (_, call) = path[path.len() - 1];
            let Some(next) = hop(call) else { break };
            let service = model.service(next);
            // Prefer the call that closes the cycle, then one to an unvisited member.
            let step =
                service.calls.iter().filter(inside).find(|c| c.reached().any(|t| t == start)).or_else(|| {
                    service.calls.iter().filter(inside).find(|c| hop(c).is_some_and(|t| !seen.contains(&t)))
                });
            let Some(step) = step else { break };
            seen.insert(next);
            path.push((next, step));
        }
        let names: Vec<&str> = path.iter().map(|(s, _)| model.service(*s).name.value.as_str()).collect();
        let chain = format!("{} → {}", names.join(" → "), names[0]);
        let (_, closing) = path[path.len() - 1];
        let mut d = Diagnostic::new(Code::SyncCallCycle, format!("synchronous call cycle: {chain}"))
            .at(closing.span, "this call closes the cycle")
            .help("break the cycle: make one of these calls asynchronous (an event), or move the shared logic into a service both call");
        for (_, call) in &path[..path.len() - 1] {
            d = d.with_label(call.span, "part of the cycle");
        }
        sink.push(d);
    }
}
