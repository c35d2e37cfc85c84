//! `--format json`: one document, stable field names, 1-based positions.

use serde::Serialize;

use super::{region, Region};
use crate::base::Sources;
use crate::diag::Diagnostic;

#[derive(Serialize)]
struct Output<'a> {
    diagnostics: Vec<JsonDiagnostic<'a>>,
    errors: usize,
    warnings: usize,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'static str,
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    /// The control a compliance rule implements.
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    severity: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<JsonLabel>,
    related: Vec<JsonLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<String>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct JsonLabel {
    #[serde(flatten)]
    region: Region,
    label: String,
}

pub(super) fn render(diagnostics: &[Diagnostic], sources: &Sources) -> String {
    let label = |l: &crate::diag::Label| JsonLabel { region: region(sources, l.span), label: l.message.clone() };
    let list: Vec<JsonDiagnostic> = diagnostics
        .iter()
        .map(|d| JsonDiagnostic {
            code: d.code.id(),
            name: d.code.info().name,
            rule: d.rule.as_deref(),
            reference: d.reference.as_deref(),
            severity: d.severity.as_str(),
            message: d.message.clone(),
            location: d.primary.as_ref().map(label),
            related: d.secondary.iter().map(label).collect(),
            help: d.help.clone(),
            notes: d.notes.clone(),
        })
        .collect();
    let errors = diagnostics.iter().filter(|d| d.severity == crate::diag::Severity::Error).count();
    let output = Output { warnings: list.len() - errors, errors, diagnostics: list };
    let mut text = serde_json::to_string_pretty(&output).expect("diagnostics serialize to JSON");
    text.push('\n');
    text
}
