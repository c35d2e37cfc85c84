//! Response matchers must point at paths the operation's response type
//! has, with a rule that fits the type there: a regex needs a string, a
//! range a number, each-like a list.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::contracts::MatchRule;
use crate::model::Model;
use crate::schema::shape::{self, Shape};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for used in model.contract_uses() {
        let Some(response) = schemas.bodies_of(model, &used).and_then(|b| b.response) else { continue };
        for matcher in used.contract.examples.iter().flat_map(|e| &e.response.matchers) {
            let resolved = match shape::lookup(&response, &matcher.path.value) {
                Ok(resolved) => resolved,
                Err(error) => {
                    let (why, help) = error.explain(&matcher.path.value);
                    sink.push(
                        Diagnostic::new(
                            Code::UnknownMatcherPath,
                            format!(
                                "this matcher's path `{}` is not in the response of `{}`: {why}",
                                matcher.path.value, used.operation.value
                            ),
                        )
                        .at(matcher.path.span, "no such path in the response")
                        .help(help.unwrap_or_else(|| "match a path the response type has".to_string())),
                    );
                    continue;
                }
            };
            let shape = &resolved.slot.shape;
            let needs = match &matcher.rule.value {
                // An open type: any rule may fit.
                _ if matches!(shape, Shape::Any) => continue,
                MatchRule::Regex(_) if !shape.is_string() => "a string",
                MatchRule::Range { .. } if !shape.is_number() => "a number",
                MatchRule::EachLike { .. } if !matches!(shape, Shape::List(_)) => "a list",
                _ => continue,
            };
            sink.push(
                Diagnostic::new(
                    Code::IncompatibleMatcher,
                    format!(
                        "a `{}` matcher needs {needs}, but `{}` is {}",
                        matcher.rule.value.name(),
                        matcher.path.value,
                        shape.describe()
                    ),
                )
                .at(matcher.rule.span, format!("needs {needs}"))
                .with_label(matcher.path.span, shape.describe())
                .help("use `type` to accept any value of the field's type, `exact` for this very value"),
            );
        }
    }
}
