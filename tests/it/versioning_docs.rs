//! docs/versioning.md against the breaking-change rule table
//! (compiler/src/schema/breaking/): everything below the page's
//! marker line is generated from the tables (every rule id of every format
//! with how it is judged, purpose and before/after example), so the page cannot drift
//! from what `meshc diff` checks. `UPDATE_DOCS=1 cargo test -p meshc --test
//! it versioning_docs::` rewrites it; the hand-written strategy above the
//! marker is kept.

use std::fmt::Write as _;
use std::path::PathBuf;

use meshc::schema::breaking::{
    avro, example_files_of, graphql, json_schema, openapi, rules, spec, Category, Format, Rule, PROTOBUF_RULES,
};

const MARKER: &str = "<!-- GENERATED below by tests/it/versioning_docs.rs from compiler/src/schema/breaking/mod.rs. \
Do not edit below: edit the rule table, then run UPDATE_DOCS=1 cargo test -p meshc --test it versioning_docs:: -->\n";

fn page_path() -> PathBuf {
    crate::support::repo_root().join("docs/versioning.md")
}

/// The generated part: an index of every rule per format and a section per rule.
fn generated() -> String {
    let mut out = String::from(MARKER);
    out.push_str("\n## Rules\n\n### protobuf rules\n\n");
    out.push_str("Each rule's id is buf's; a ✓ marks the categories it belongs to (as buf v2 assigns them).\n\n");
    out.push_str("| Rule | FILE | PACKAGE | WIRE_JSON | WIRE | Purpose |\n|---|---|---|---|---|---|\n");
    for rule in PROTOBUF_RULES {
        let marks: Vec<&str> = Category::ALL.iter().map(|c| if rule.in_category(*c) { "✓" } else { "" }).collect();
        let _ = writeln!(
            out,
            "| [`{id}`](#{anchor}) | {} | {} | {} | {} | {} |",
            marks[0],
            marks[1],
            marks[2],
            marks[3],
            rule.purpose,
            id = rule.id,
            anchor = rule.id.to_lowercase()
        );
    }
    let tables: [(&str, &str, &[Rule]); 4] = [
        ("OpenAPI rules", "A breaking change is an error, a dangerous one a warning.", openapi::RULES),
        (
            "GraphQL rules",
            "A breaking change is an error, a dangerous one a warning; each rule is one of graphql-js's change types.",
            graphql::RULES,
        ),
        (
            "Avro and JSON Schema rules",
            "A rule of a direction the compatibility mode asks for is an error, of the other direction a warning.",
            &[],
        ),
        (
            "Spec rules",
            "Rules on the spec itself, judged when two workspaces are compared (`meshc diff OLD NEW` of two workspaces, \
             `--against REF`): each is breaking whatever the options. Their examples are workspaces.",
            spec::RULES,
        ),
    ];
    for (title, intro, rules) in tables {
        let _ = write!(out, "\n### {title}\n\n{intro}\n\n| Rule | Judged | Purpose |\n|---|---|---|\n");
        let rules: Vec<&Rule> = if rules.is_empty() {
            avro::RULES.iter().chain(json_schema::RULES.iter()).collect()
        } else {
            rules.iter().collect()
        };
        for rule in rules {
            let judged = match graphql::GRAPHQL_JS.iter().find(|(id, _)| *id == rule.id) {
                Some((_, reference)) => format!("{} (`{reference}`)", rule.judged.describe()),
                None => rule.judged.describe(),
            };
            let _ =
                writeln!(out, "| [`{id}`](#{}) | {judged} | {} |", rule.id.to_lowercase(), rule.purpose, id = rule.id);
        }
    }
    for rule in rules() {
        let judged = match rule.format {
            Format::Protobuf => format!("Categories: {}", rule.judged.describe().replace(',', ", ")),
            _ => format!("Format: {}; judged: {}", rule.format.as_str(), rule.judged.describe()),
        };
        let _ = write!(out, "\n#### {}\n\n{} {judged}.\n", rule.id, rule.purpose);
        for (label, example) in [("Before", rule.before), ("After", rule.after)] {
            let _ = write!(out, "\n{label}:\n\n");
            for (path, text) in example_files_of(rule.format, example) {
                let language = file_language(rule.format, &path);
                let comment = if language == "yaml" || language == "graphql" { "#" } else { "//" };
                if language == "json" {
                    let _ = write!(out, "`{path}`:\n\n```{language}\n{text}```\n");
                } else {
                    let _ = write!(out, "```{language}\n{comment} {path}\n{text}```\n");
                }
            }
        }
    }
    out
}

/// The code block language of one file of a rule example: the format's,
/// except in spec examples, which are workspaces of several kinds of file.
fn file_language(format: Format, path: &str) -> &'static str {
    if format != Format::Spec {
        return format.code_language();
    }
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("proto") => Format::Protobuf.code_language(),
        Some("yaml" | "yml") => Format::OpenApi.code_language(),
        Some("graphql" | "gql") => Format::Graphql.code_language(),
        Some("avsc" | "json") => Format::Avro.code_language(),
        _ => Format::Spec.code_language(),
    }
}

#[test]
fn docs_versioning_md_lists_every_rule_of_the_table() {
    let path = page_path();
    let page = std::fs::read_to_string(&path).expect("docs/versioning.md exists");
    let head = page.split(MARKER).next().unwrap_or_default().to_string();
    let fresh = format!("{head}{}", generated());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &fresh).expect("docs/versioning.md is writable");
        return;
    }
    assert!(page.contains(MARKER), "docs/versioning.md lacks its marker line:\n{MARKER}");
    assert!(
        page == fresh,
        "docs/versioning.md is stale: run UPDATE_DOCS=1 cargo test -p meshc --test it versioning_docs::"
    );
}
