//! A static fallback answers in the callee's place, so its callers read its
//! body as they read the callee's: a success (2xx) body must match the
//! response schema of the operation the call or route names, checked as
//! contract examples are (`schema::shape`), the mismatch pointing inside the
//! JSON. A gRPC caller reads a protobuf message, which a JSON body is not:
//! its static fallback answers with a status and headers only.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::traffic::FallbackKind;
use crate::model::values::Operation;
use crate::model::Model;
use crate::schema::{shape, SchemaIndex};

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for used in model.fallback_uses() {
        let FallbackKind::Static(response) = &used.fallback.kind else { continue };
        let (Some(body), Some(op)) = (&response.body, used.operation) else { continue };
        match &op.value {
            Operation::Grpc { .. } => {
                sink.push(
                    Diagnostic::new(
                        Code::FallbackBodyMismatch,
                        format!("a static fallback for gRPC operation `{}` cannot carry a JSON body", op.value),
                    )
                    .at(body.span, "a gRPC caller reads a protobuf message")
                    .with_label(op.span, "a gRPC operation")
                    .help("remove `body` and answer with a status and a `grpc-status` header (e.g. header \"grpc-status\" \"14\"), or fall back to a service"),
                );
                continue;
            }
            // A GraphQL response is typed by the query, which a fallback does not know.
            Operation::Graphql { .. } => continue,
            Operation::Rest { .. } => {}
        }
        if !(200..300).contains(&response.status.value) {
            continue;
        }
        let Some(schema) = schemas.defining_in(model, used.primary, &op.value, used.api_version) else { continue };
        let Some(slot) = schema.operation_bodies(&op.value).and_then(|b| b.response) else { continue };
        for mismatch in shape::validate(&body.text, &slot) {
            let span = mismatch.range.map_or(body.span, |r| body.span_of(r));
            sink.push(
                Diagnostic::new(
                    Code::FallbackBodyMismatch,
                    format!(
                        "the static fallback for `{}` does not match its response schema: {}",
                        op.value, mismatch.message
                    ),
                )
                .at(span, "does not match the schema")
                .with_label(op.span, "the schema of this operation's response")
                .help("answer with a body the callers can read as the operation's response (an empty list, defaults), or fix the schema"),
            );
        }
    }
}
