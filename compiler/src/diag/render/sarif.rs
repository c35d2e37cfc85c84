//! `--format sarif`: SARIF 2.1.0 as GitHub code scanning loads it. Every code
//! is listed as a rule in the driver so results can reference it by index.

use serde_json::{json, Value};

use super::region;
use crate::base::Sources;
use crate::diag::{Diagnostic, Severity, CODES};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

pub(super) fn render(diagnostics: &[Diagnostic], sources: &Sources) -> String {
    let rules: Vec<Value> = CODES
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": kebab_to_pascal(c.name),
                "shortDescription": { "text": c.summary },
                "fullDescription": { "text": c.summary },
                "help": { "text": format!("Run `meshc explain {}` for examples.", c.id), "markdown": c.doc },
                "defaultConfiguration": { "level": level(c.severity) },
                "properties": { "tags": [c.category.as_str()] }
            })
        })
        .collect();
    let results: Vec<Value> = diagnostics.iter().map(|d| result(d, sources)).collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "meshc",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/meshc",
                "rules": rules
            }},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": { "SRCROOT": { "description": { "text": "The spec workspace root." } } },
            "results": results
        }]
    });
    let mut text = serde_json::to_string_pretty(&log).expect("SARIF serializes");
    text.push('\n');
    text
}

fn result(d: &Diagnostic, sources: &Sources) -> Value {
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let mut result = json!({
        "ruleId": d.code.id(),
        "ruleIndex": d.code as usize,
        "level": level(d.severity),
        "message": { "text": message },
    });
    if let Some(rule) = d.rule {
        result["properties"] = json!({ "rule": rule });
    }
    if let Some(primary) = &d.primary {
        result["locations"] = json!([location(sources, primary, None)]);
    }
    if !d.secondary.is_empty() {
        let related: Vec<Value> = d.secondary.iter().enumerate().map(|(i, l)| location(sources, l, Some(i))).collect();
        result["relatedLocations"] = Value::Array(related);
    }
    result
}

fn location(sources: &Sources, label: &crate::diag::Label, id: Option<usize>) -> Value {
    let r = region(sources, label.span);
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": r.file, "uriBaseId": "SRCROOT" },
            "region": {
                "startLine": r.start_line,
                "startColumn": r.start_column,
                "endLine": r.end_line,
                "endColumn": r.end_column
            }
        },
        "message": { "text": label.message }
    });
    if let Some(id) = id {
        loc["id"] = json!(id);
    }
    loc
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn kebab_to_pascal(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}
