//! A streaming gRPC method (a `stream` request or response in its .proto)
//! is one long exchange, not a request: the proxy can replay it only while
//! it still buffers everything sent and nothing was answered, and a
//! per-try timeout would cut a healthy stream that simply lasts. Retries
//! and per-try timeouts on such a call or route promise a resilience the
//! proxy does not give; the application resumes a broken stream itself.

use crate::base::Spanned;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::traffic::RetryPolicy;
use crate::model::values::Operation;
use crate::model::{Model, ServiceId};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    let streaming = |target: ServiceId, op: &Operation| {
        let apis = model.service(target).apis.iter().filter(|a| a.serves(op));
        apis.filter_map(|a| schemas.get(a.schema)?.grpc_streaming(op)).next() == Some(true)
    };
    for service in &model.services {
        for call in &service.calls {
            let (Some(op), Some(policy)) = (&call.operation, service.call_retries(call)) else { continue };
            if replays(policy) && streaming(call.target.value, &op.value) {
                sink.push(diagnostic(op, policy, call.retries.is_none()));
            }
        }
    }
    for route in model.gateways.iter().flat_map(|g| &g.routes) {
        let Some(forward) = route.forward() else { continue };
        let (Some(op), Some(policy)) = (&forward.operation, &forward.retries) else { continue };
        if replays(policy) && streaming(forward.target.value, &op.value) {
            sink.push(diagnostic(op, policy, false));
        }
    }
}

/// Whether the policy retries or times attempts out at all.
fn replays(policy: &RetryPolicy) -> bool {
    policy.retries > 0 || policy.per_try_timeout.is_some()
}

fn diagnostic(op: &Spanned<Operation>, policy: &RetryPolicy, from_defaults: bool) -> Diagnostic {
    let what = if policy.retries > 0 { "retries" } else { "a per-try timeout" };
    let fix = if from_defaults { "set `retries 0` on this call" } else { "remove them" };
    Diagnostic::new(Code::RetriesOnStream, format!("`{}` is a streaming method, but it gets {what}", op.value))
        .at(op.span, "streams requests or responses")
        .with_label(policy.span, if from_defaults { "retries from call-defaults" } else { "retried here" })
        .help(format!(
            "the proxy cannot replay a stream that has started, and a per-try timeout cuts one that lasts: {fix}, let the client resume the stream, and set `idle-timeout` on the call to close streams that go silent"
        ))
}
