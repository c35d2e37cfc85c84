//! The spec's `compliance-rule`s (its own and the imported rule sets'),
//! judged by `model::compliance::evaluate` against every subject of their
//! kind: a failure is a `MESH0128` at the offending declaration, at the
//! rule's severity, labelled with the rule, its message and its control.
//! Suppressions silence one rule for one subject until their `until` day
//! (the compilation's day: `--today`, `SOURCE_DATE_EPOCH`, the clock);
//! past it they are errors, and one that silences nothing is a warning.

use crate::diag::{Code, Diagnostic, Sink};
use crate::model::compliance::{evaluate, Evaluation, Verdict};
use crate::model::{Call, Model};
use crate::schema::SchemaIndex;

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    let compliance = &model.compliance;
    if compliance.rules.is_empty() && compliance.suppressions.is_empty() {
        return;
    }
    let idempotent = |call: &Call| schemas.call_idempotent(model, call);
    let Evaluation { results, used, expired } = evaluate(model, &idempotent);
    for result in &results {
        let rule = compliance.rule(result.rule);
        for outcome in result.outcomes.iter().filter(|o| o.verdict == Verdict::Failed) {
            let reference = rule.reference.as_ref().map_or(String::new(), |r| format!(" ({r})"));
            let mut d = Diagnostic::new(
                Code::ComplianceViolation,
                format!(
                    "{} `{}` fails compliance rule `{}`{reference}: {}",
                    rule.applies_to.as_str(),
                    outcome.subject,
                    rule.name.value,
                    rule.message
                ),
            )
            .rule(rule.name.value.clone())
            .at(outcome.span, format!("fails `{}`", rule.name.value))
            .with_label(rule.name.span, "the rule")
            .help(format!(
                "change the {} so the rule's `require` holds; or, if it does not apply here, suppress it with a reason and an expiry: suppress \"{}\" subject=\"{}\" reason=\"...\" until=\"YYYY-MM-DD\"",
                rule.applies_to.as_str(),
                rule.name.value,
                outcome.subject
            ));
            d.severity = rule.severity;
            d.reference = rule.reference.clone();
            sink.push(d);
        }
    }
    for (i, suppression) in compliance.suppressions.iter().enumerate() {
        let rule = compliance.rule(suppression.rule.value);
        if expired[i] {
            let today = model.today.map_or(String::new(), |t| format!(" (today is {t})"));
            sink.push(
                Diagnostic::new(
                    Code::ExpiredSuppression,
                    format!(
                        "the suppression of `{}` for `{}` expired on {}{today}",
                        rule.name.value, suppression.subject.value, suppression.until.value
                    ),
                )
                .at(suppression.until.span, "expired")
                .with_label(suppression.reason.span, "the reason it was granted")
                .help("fix the subject so the rule holds and remove the suppression, or renew it with a later `until` and a reason that still holds"),
            );
        } else if !used[i] {
            let judged = results[suppression.rule.value.index()]
                .outcomes
                .iter()
                .find(|o| o.subject == suppression.subject.value);
            let why = match judged {
                Some(o) if o.verdict == Verdict::Passed => "it passes the rule".to_string(),
                Some(_) => "another suppression of the same rule and subject comes first".to_string(),
                None => format!(
                    "the rule judges no {} named `{}` (none exists, or its `when` leaves it out; a {} is named {})",
                    rule.applies_to.as_str(),
                    suppression.subject.value,
                    rule.applies_to.as_str(),
                    rule.applies_to.naming()
                ),
            };
            let names: Vec<&str> =
                results[suppression.rule.value.index()].outcomes.iter().map(|o| o.subject.as_str()).collect();
            let help = match (judged, crate::diag::did_you_mean(&suppression.subject.value, names.iter().copied())) {
                (None, Some(close)) => format!("did you mean `{close}`?"),
                _ => "remove the suppression".to_string(),
            };
            sink.push(
                Diagnostic::new(
                    Code::UnusedSuppression,
                    format!(
                        "the suppression of `{}` for `{}` silences nothing: {why}",
                        rule.name.value, suppression.subject.value
                    ),
                )
                .at(suppression.subject.span, "nothing to silence")
                .help(help),
            );
        }
    }
}
