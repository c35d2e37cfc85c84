//! Retrying a request that reached the service repeats its effect when the
//! first attempt succeeded but its answer was lost (a reset, a 503 from a
//! proxy after the write). For a POST that means a second order or a second
//! charge. Retries that only fire when the request never left
//! (`connect-failure`, `refused-stream`) are safe for any operation; any
//! other condition needs an idempotent operation: GET, HEAD, OPTIONS, PUT,
//! DELETE, or a call that declares `idempotent=#true` (an idempotency key).

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::traffic::{RetryOn, RetryPolicy};
use crate::model::values::{HttpMethod, Operation};
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _schemas: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        for call in &service.calls {
            let (Some(op), Some(policy)) = (&call.operation, service.call_retries(call)) else { continue };
            if call.idempotent || !repeats_delivered_requests(policy) {
                continue;
            }
            let Operation::Rest { method: method @ (HttpMethod::Post | HttpMethod::Patch), .. } = &op.value else {
                continue;
            };
            let from_defaults = call.retries.is_none();
            sink.push(
                Diagnostic::new(
                    Code::RetryNonIdempotent,
                    format!("`{}` retries `{}`, which is not idempotent", service.name.value, op.value),
                )
                .at(op.span, format!("a {method} request"))
                .with_label(policy.span, if from_defaults { "retries from call-defaults" } else { "retried here" })
                .help("declare the call idempotent=#true if it sends an idempotency key, retry only unsent requests (on=\"connect-failure refused-stream\", or policy=\"std-unsent-only\"), or turn retries off with `retries 0`"),
            );
        }
    }
}

/// Whether some retry condition fires after the request may have reached the service.
fn repeats_delivered_requests(policy: &RetryPolicy) -> bool {
    policy.retries > 0
        && policy.conditions().iter().any(|c| !matches!(c, RetryOn::ConnectFailure | RetryOn::RefusedStream))
}
