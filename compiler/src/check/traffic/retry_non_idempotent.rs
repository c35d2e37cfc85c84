//! Retrying a request that reached the service repeats its effect when the
//! first attempt succeeded but its answer was lost (a reset, a 503 from a
//! proxy after the write). For a POST that means a second order or a second
//! charge. Retries that only fire when the request never left
//! (`connect-failure`, `refused-stream`) are safe for any operation; any
//! other condition needs an idempotent operation: GET, HEAD, OPTIONS, PUT,
//! DELETE, a gRPC method whose .proto says `option idempotency_level =
//! IDEMPOTENT` (or `NO_SIDE_EFFECTS`), or a call that declares
//! `idempotent=#true` (an idempotency key).

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::values::Operation;
use crate::model::{Model, ServiceId};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        for call in &service.calls {
            let (Some(op), Some(policy)) = (&call.operation, service.call_retries(call)) else { continue };
            if call.idempotent || !policy.repeats_delivered_requests() {
                continue;
            }
            let Some(kind) = not_idempotent(model, schemas, call.target.value, &op.value) else { continue };
            let from_defaults = call.retries.is_none();
            sink.push(
                Diagnostic::new(
                    Code::RetryNonIdempotent,
                    format!("`{}` retries `{}`, which is not idempotent", service.name.value, op.value),
                )
                .at(op.span, kind)
                .with_label(policy.span, if from_defaults { "retries from call-defaults" } else { "retried here" })
                .help(help(&op.value)),
            );
        }
    }
}

/// What makes the operation unsafe to repeat, if it is: a POST or PATCH,
/// or a gRPC method whose .proto does not declare it idempotent. A method
/// whose schema did not load is not judged.
fn not_idempotent(model: &Model, schemas: &SchemaIndex, target: ServiceId, op: &Operation) -> Option<String> {
    if schemas.idempotent(model, target, op)? {
        return None;
    }
    Some(match op {
        Operation::Rest { method, .. } => format!("a {method} request"),
        _ => "a gRPC method without `option idempotency_level`".to_string(),
    })
}

fn help(op: &Operation) -> String {
    let proto = match op {
        Operation::Grpc { .. } => {
            "if the method is safe to repeat, say so in its .proto (`option idempotency_level = IDEMPOTENT;`); else "
        }
        _ => "",
    };
    format!("{proto}declare the call idempotent=#true if it sends an idempotency key, retry only unsent requests (on=\"connect-failure refused-stream\", or policy=\"std-unsent-only\"), or turn retries off with `retries 0`")
}
