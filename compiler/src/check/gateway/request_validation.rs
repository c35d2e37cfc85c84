//! Routes that validate requests: the gateway can only check a request
//! against a REST operation (whether the OpenAPI document defines it is the
//! unknown-operation pass's business), and only if it has a validator to ask
//! (`meshc-runtime validator`, reached through Envoy's ext_authz).

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::values::ApiKind;
use crate::model::Model;
use crate::schema::SchemaIndex;

pub fn run(model: &Model, _: &SchemaIndex, sink: &mut Sink) {
    for gateway in &model.gateways {
        let mut first_validating = None;
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let Some(validate) = forward.validate else { continue };
            first_validating.get_or_insert(validate);
            if forward.operation.as_ref().is_none_or(|op| op.value.kind() != ApiKind::Rest) {
                sink.push(
                    Diagnostic::new(
                        Code::UnvalidatableRoute,
                        format!("route `{}` validates requests but names no REST operation", route.name.value),
                    )
                    .at(validate, "nothing to validate against")
                    .help("name the OpenAPI operation: to \"orders\" operation=\"POST /orders\""),
                );
            }
        }
        if let (Some(span), None) = (first_validating, &gateway.validator) {
            sink.push(
                Diagnostic::new(
                    Code::MissingValidator,
                    format!("gateway `{}` validates requests but has no `validator`", gateway.name.value),
                )
                .at(span, "needs a request validator")
                .with_label(gateway.name.span, "declares none")
                .help("run `meshc-runtime validator` beside the gateway and declare it: validator address=\"127.0.0.1\" port=9191"),
            );
        }
    }
}
