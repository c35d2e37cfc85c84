//! Every field a consumer reads (`reads`) must exist in its provider
//! operation's response type: judged per consumer, so a provider may drop a
//! field no consumer reads, and the one consumer that reads it is named.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::Model;
use crate::schema::{shape, SchemaIndex};

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for used in model.contract_uses() {
        let Some(response) = schemas.bodies_of(model, &used).and_then(|b| b.response) else { continue };
        for read in &used.contract.reads {
            let Err(error) = shape::lookup(&response, &read.value) else { continue };
            let (why, help) = error.explain(&read.value);
            sink.push(
                Diagnostic::new(
                    Code::UnknownReadField,
                    format!(
                        "`{}` reads `{}` from `{}` `{}`, whose response does not have it: {why}",
                        model.consumer_name(used.consumer),
                        read.value,
                        model.service(used.provider).name.value,
                        used.operation.value
                    ),
                )
                .at(read.span, "not in the response type")
                .with_label(used.operation.span, "the operation read from")
                .help(help.unwrap_or_else(|| "read a path the provider's response type has".to_string())),
            );
        }
    }
}
