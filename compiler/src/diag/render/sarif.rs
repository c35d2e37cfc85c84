//! `--format sarif`: SARIF 2.1.0 as GitHub code scanning loads it. The codes
//! the results carry are listed as rules in the driver (in code order), so
//! results can reference them by index; a log does not carry the whole table
//! (with its documentation, about 150 KB) when it reports one diagnostic.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::region;
use crate::base::Sources;
use crate::diag::{Code, Diagnostic, Severity};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

pub(super) fn render(diagnostics: &[Diagnostic], sources: &Sources) -> String {
    let used: BTreeSet<Code> = diagnostics.iter().map(|d| d.code).collect();
    let rules: Vec<Value> = used
        .iter()
        .map(|code| {
            let c = code.info();
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
    let index = |code: Code| used.range(..code).count();
    let results: Vec<Value> = diagnostics.iter().map(|d| result(d, index(d.code), sources)).collect();
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

fn result(d: &Diagnostic, rule_index: usize, sources: &Sources) -> Value {
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let mut result = json!({
        "ruleId": d.code.id(),
        "ruleIndex": rule_index,
        "level": level(d.severity),
        "message": { "text": message },
    });
    if let Some(rule) = &d.rule {
        result["properties"] = json!({ "rule": rule });
    }
    // A compliance rule's control: where auditors look it up, also as a tag
    // code scanning filters on.
    if let Some(reference) = &d.reference {
        result["properties"]["reference"] = json!(reference);
        result["properties"]["tags"] = json!(["compliance", reference]);
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
