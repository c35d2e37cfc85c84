//! A consumer's expectations must be a subset of what the provider's
//! schema guarantees: reading or matching a field the provider marks
//! optional or nullable is a warning for that consumer.

use crate::base::Span;
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::contracts::{FieldPath, Segment};
use crate::model::Model;
use crate::schema::{shape, SchemaIndex};

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for used in model.contract_uses() {
        let Some(response) = schemas.bodies_of(model, &used).and_then(|b| b.response) else { continue };
        let reads = used.contract.reads.iter().map(|r| (&r.value, r.span, "reads"));
        let matchers = used.contract.examples.iter().flat_map(|e| &e.response.matchers);
        let matched = matchers.map(|m| (&m.path.value, m.path.span, "expects"));
        for (path, span, verb) in reads.chain(matched) {
            let Ok(resolved) = shape::lookup(&response, path) else { continue };
            let Some(at) = resolved.optional_at else { continue };
            // An item of a list is there when the list has items: only fields may be left out.
            if matches!(path.segments()[at], Segment::Each) {
                continue;
            }
            let optional = FieldPath::from_segments(&path.segments()[..=at]);
            warn(model, &used, path, &optional, span, verb, sink);
        }
    }
}

fn warn(
    model: &Model,
    used: &crate::model::contracts::ContractUse<'_>,
    path: &FieldPath,
    optional: &FieldPath,
    span: Span,
    verb: &str,
    sink: &mut Sink,
) {
    let provider = &model.service(used.provider).name.value;
    sink.push(
        Diagnostic::new(
            Code::UnguaranteedRead,
            format!(
                "`{}` {verb} `{path}`, but `{provider}` `{}` may leave `{optional}` out or null",
                model.consumer_name(used.consumer),
                used.operation.value
            ),
        )
        .at(span, "not guaranteed by the provider's schema")
        .help(format!(
            "handle its absence in `{}` and drop it here, or have `{provider}` declare `{optional}` required (and not nullable)",
            model.consumer_name(used.consumer)
        )),
    );
}
