//! The compliance report (`compliance/report.json`, format 1,
//! docs/backends/compliance.md): every `compliance-rule` (the spec's and
//! its rule sets') with its control reference, and every subject it judged:
//! passed, failed (a warning-severity rule: errors stop the build) or
//! suppressed, with where it is declared and the suppression's reason and
//! expiry; and the data classes with their holders and labels. Written only
//! when the spec has rules or data classes.

use serde::Serialize;

use crate::base::Span;
use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::compliance::{evaluate, Compliance, Verdict};
use crate::model::{Call, Model};
use crate::schema::SchemaIndex;

/// The report's format version; bumped on any incompatible change.
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct Report<'a> {
    format: u32,
    mesh: &'a str,
    summary: Summary,
    rules: Vec<RuleEntry<'a>>,
    data_classes: Vec<ClassEntry<'a>>,
}

#[derive(Default, Serialize)]
struct Summary {
    rules: usize,
    /// Rules every judged subject passes (suppressed failures included).
    rules_passing: usize,
    rules_failing: usize,
    subjects_passed: usize,
    subjects_failed: usize,
    subjects_suppressed: usize,
}

#[derive(Serialize)]
struct RuleEntry<'a> {
    rule: &'a str,
    applies_to: &'static str,
    severity: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    /// Where the rule is declared (`<std>/compliance/...` for a standard rule set).
    declared: Location<'a>,
    passed: usize,
    failed: usize,
    suppressed: usize,
    subjects: Vec<SubjectEntry<'a>>,
}

#[derive(Serialize)]
struct SubjectEntry<'a> {
    subject: &'a str,
    status: &'static str,
    at: Location<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppression: Option<SuppressionEntry<'a>>,
}

#[derive(Serialize)]
struct SuppressionEntry<'a> {
    reason: &'a str,
    until: String,
    at: Location<'a>,
}

#[derive(Serialize)]
struct Location<'a> {
    file: &'a str,
    line: usize,
}

#[derive(Serialize)]
struct ClassEntry<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    /// The services allowed to hold it; `null`: any.
    holders: Option<Vec<&'a str>>,
    /// Where it is labelled: `SERVICE`, `SERVICE OPERATION` or `topic TOPIC`, in spec order.
    labels: Vec<String>,
}

pub fn emit(model: &Model, schemas: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let compliance = &model.compliance;
    if compliance.rules.is_empty() && compliance.classes.is_empty() {
        return Vec::new();
    }
    let idempotent = |call: &Call| schemas.call_idempotent(model, call);
    let evaluation = evaluate(model, &idempotent);
    let mut summary = Summary { rules: compliance.rules.len(), ..Summary::default() };
    let mut rules = Vec::with_capacity(evaluation.results.len());
    for result in &evaluation.results {
        let rule = compliance.rule(result.rule);
        let count = |s: &str| result.outcomes.iter().filter(|o| o.verdict.as_str() == s).count();
        let (passed, failed, suppressed) = (count("passed"), count("failed"), count("suppressed"));
        summary.subjects_passed += passed;
        summary.subjects_failed += failed;
        summary.subjects_suppressed += suppressed;
        if failed == 0 {
            summary.rules_passing += 1;
        } else {
            summary.rules_failing += 1;
        }
        let subjects = result
            .outcomes
            .iter()
            .map(|o| SubjectEntry {
                subject: &o.subject,
                status: o.verdict.as_str(),
                at: location(compliance, o.span),
                suppression: match o.verdict {
                    Verdict::Suppressed(i) => {
                        let s = &compliance.suppressions[i];
                        Some(SuppressionEntry {
                            reason: &s.reason.value,
                            until: s.until.value.to_string(),
                            at: location(compliance, s.span),
                        })
                    }
                    Verdict::Passed | Verdict::Failed => None,
                },
            })
            .collect();
        rules.push(RuleEntry {
            rule: &rule.name.value,
            applies_to: rule.applies_to.as_str(),
            severity: rule.severity.as_str(),
            message: &rule.message,
            reference: rule.reference.as_deref(),
            declared: location(compliance, rule.name.span),
            passed,
            failed,
            suppressed,
            subjects,
        });
    }
    let data_classes = compliance
        .classes
        .iter()
        .enumerate()
        .map(|(i, class)| {
            let service_labels = compliance.service_labels.iter().filter(|l| l.class.value.index() == i).map(|l| {
                let service = &model.service(l.service).name.value;
                match &l.operation {
                    Some(op) => format!("{service} {}", op.value),
                    None => service.clone(),
                }
            });
            let topic_labels = compliance
                .topic_labels
                .iter()
                .filter(|(_, c)| c.value.index() == i)
                .map(|(t, _)| format!("topic {}", model.topic(*t).name.value));
            ClassEntry {
                name: &class.name.value,
                description: class.description.as_deref(),
                holders: class
                    .holders
                    .as_ref()
                    .map(|h| h.iter().map(|id| model.service(*id).name.value.as_str()).collect()),
                labels: service_labels.chain(topic_labels).collect(),
            }
        })
        .collect();
    let report = Report { format: FORMAT, mesh: &model.name, summary, rules, data_classes };
    let contents = crate::emit::pretty_json(&report);
    let origin = compliance.rules.first().map_or_else(|| compliance.classes[0].span, |r| r.span);
    vec![Artifact { path: "compliance/report.json".into(), contents, origin }]
}

fn location(compliance: &Compliance, span: Span) -> Location<'_> {
    let (file, line) = compliance.locate(span).unwrap_or(("", 0));
    Location { file, line }
}
