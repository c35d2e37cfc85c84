//! A caller's timeout must leave its callee time for the callee's own
//! calls. A service waits on a call at most its timeout, or, with retries
//! and a per-try timeout, attempts × per-try timeout + back-off (whichever
//! is less). Its critical path is the longest such wait among its calls
//! (calls may run in parallel), among the calls made for the operation the
//! caller invokes (`for=`; calls without it count for every operation). A
//! caller that gives the service less time than that cuts it off while it
//! is still waiting, so the callee's retries and fallbacks never get to
//! help; the client sees a timeout either way. A call's or route's timeout
//! bounds its fallback service's waits too. Linear in services and calls:
//! each service's longest waits are computed once, per operation.

use std::collections::HashMap;

use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::values::{Duration, Operation};
use crate::model::{Call, Model, Service};
use crate::schema::SchemaIndex;

/// The longest a service waits on one of its calls, and why.
struct Wait {
    ms: u128,
    how: String,
    span: Span,
}

/// A service's longest waits: over calls made for any operation, and per
/// operation (by `Operation::key`) over those made for it.
#[derive(Default)]
struct Critical {
    any: Option<Wait>,
    by_operation: HashMap<String, Wait>,
}

impl Critical {
    /// The longest wait serving `operation` (unknown: any operation's).
    fn serving(&self, operation: Option<&Spanned<Operation>>) -> Option<&Wait> {
        let own = match operation {
            Some(op) => self.by_operation.get(&op.value.key()),
            None => self.by_operation.values().max_by_key(|w| w.ms),
        };
        [self.any.as_ref(), own].into_iter().flatten().max_by_key(|w| w.ms)
    }
}

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    let critical: Vec<Critical> = model.services.iter().map(|s| critical(model, s)).collect();
    // Inside a call cycle (MESH0030) there is no downstream to budget for.
    let mut component = vec![0; model.services.len()];
    for (i, members) in model.call_graph_components().into_iter().enumerate() {
        for id in members {
            component[id.index()] = i;
        }
    }
    for (id, service) in model.service_ids().zip(&model.services) {
        for call in service.calls.iter().filter(|c| c.on_request_path()) {
            let Some(timeout) = service.call_timeout(call) else { continue };
            // The call's timeout bounds its fallback service too.
            for target in call.reached() {
                if component[id.index()] == component[target.index()] {
                    continue;
                }
                let callee = model.service(target);
                if let Some(need) = critical[target.index()].serving(call.operation.as_ref()) {
                    check(sink, &service.name.value, timeout.value, timeout.span, &callee.name.value, need);
                }
            }
        }
    }
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let Some(timeout) = forward.timeout.and_then(|t| t.duration()) else { continue };
            let fallback = forward.fallback.as_ref().and_then(|f| f.service());
            for target in std::iter::once(forward.target.value).chain(fallback) {
                let callee = model.service(target);
                if let Some(need) = critical[target.index()].serving(forward.operation.as_ref()) {
                    let who = format!("route `{}` of gateway `{}`", route.name.value, gateway.name.value);
                    check(sink, &who, timeout, route.span, &callee.name.value, need);
                }
            }
        }
    }
}

fn critical(model: &Model, service: &Service) -> Critical {
    let mut out = Critical::default();
    for call in service.calls.iter().filter(|c| c.on_request_path()) {
        let Some(w) = wait(model, service, call) else { continue };
        let slot = match &call.serving {
            Some(op) => {
                out.by_operation.entry(op.value.key()).or_insert(Wait { ms: 0, how: String::new(), span: w.span })
            }
            None => out.any.get_or_insert(Wait { ms: 0, how: String::new(), span: w.span }),
        };
        if w.ms > slot.ms {
            *slot = w;
        }
    }
    out
}

fn check(sink: &mut Sink, caller: &str, timeout: Duration, at: Span, callee: &str, need: &Wait) {
    if need.ms <= timeout.as_millis() {
        return;
    }
    sink.push(
        Diagnostic::new(
            Code::TimeoutBudget,
            format!(
                "{caller} gives `{callee}` {timeout}, but `{callee}` may wait {} on its own call ({})",
                Duration::from_millis(need.ms as u64),
                need.how
            ),
        )
        .at(at, format!("{timeout} timeout"))
        .with_label(need.span, "the callee's longest wait")
        .help(format!(
            "raise this timeout above {}, or shorten the callee's timeout, retries or per-try timeout so its worst case fits",
            Duration::from_millis(need.ms as u64)
        )),
    );
}

/// How long `service` may wait on `call`; `None` when nothing bounds it.
fn wait(model: &Model, service: &Service, call: &Call) -> Option<Wait> {
    let timeout = service.call_timeout(call);
    let retries = service.call_retries(call);
    let callee = &model.service(call.target.value).name.value;
    let per_try = retries.and_then(|r| r.per_try_timeout.as_ref().map(|p| (r, p)));
    match (timeout, per_try) {
        (_, Some((policy, per_try))) => {
            let total = u128::from(policy.attempts()) * per_try.value.as_millis() + policy.worst_backoff_ms();
            let how = format!(
                "to `{callee}`: {} attempts × {} + {} back-off",
                policy.attempts(),
                per_try.value,
                Duration::from_millis(policy.worst_backoff_ms().max(1) as u64)
            );
            match timeout {
                Some(t) if t.value.as_millis() < total => {
                    Some(Wait { ms: t.value.as_millis(), how: format!("to `{callee}`: its timeout"), span: t.span })
                }
                _ => Some(Wait { ms: total, how, span: policy.span }),
            }
        }
        (Some(t), None) => {
            Some(Wait { ms: t.value.as_millis(), how: format!("to `{callee}`: its timeout"), span: t.span })
        }
        (None, None) => None,
    }
}
