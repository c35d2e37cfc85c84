//! docs/versioning.md against the breaking-change rule table
//! (compiler/src/schema/breaking/mod.rs): everything below the page's
//! marker line is generated from the table (every rule id with its
//! categories, purpose and before/after example), so the page cannot drift
//! from what `meshc diff` checks. `UPDATE_DOCS=1 cargo test -p meshc --test
//! it versioning_docs::` rewrites it; the hand-written strategy above the
//! marker is kept.

use std::fmt::Write as _;
use std::path::PathBuf;

use meshc::schema::breaking::{all_rules, example_files, Category, Format};

const MARKER: &str = "<!-- GENERATED below by tests/it/versioning_docs.rs from compiler/src/schema/breaking/mod.rs. \
Do not edit below: edit the rule table, then run UPDATE_DOCS=1 cargo test -p meshc --test it versioning_docs:: -->\n";

fn page_path() -> PathBuf {
    crate::support::repo_root().join("docs/versioning.md")
}

/// The generated part: an index of every rule and a section per rule.
fn generated() -> String {
    let mut out = String::from(MARKER);
    out.push_str("\n## Rules\n\n");
    out.push_str(
        "Protobuf rules have buf's ids; a ✓ marks the categories each belongs to (as buf v2 assigns them). \
         Spec rules (`SPEC_*`) judge the spec itself and belong to every category.\n\n",
    );
    out.push_str("| Rule | FILE | PACKAGE | WIRE_JSON | WIRE | Purpose |\n|---|---|---|---|---|---|\n");
    for rule in all_rules() {
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
    for rule in all_rules() {
        let categories: Vec<&str> = rule.categories.iter().map(|c| c.id()).collect();
        let _ = write!(out, "\n### {}\n\n{} Categories: {}.\n", rule.id, rule.purpose, categories.join(", "));
        for (label, example) in [("Before", rule.before), ("After", rule.after)] {
            let _ = write!(out, "\n{label}:\n\n");
            for (path, text) in example_files(example) {
                let _ = match (rule.format, path.rsplit_once('.').map(|(_, ext)| ext)) {
                    (Format::Protobuf, _) => write!(out, "```proto\n// {path}\n{text}```\n"),
                    (_, Some("kdl")) => write!(out, "```kdl\n// {path}\n{text}```\n"),
                    (_, Some("proto")) => write!(out, "```proto\n// {path}\n{text}```\n"),
                    (_, Some("avsc" | "json")) => write!(out, "`{path}`:\n\n```json\n{text}```\n"),
                    _ => write!(out, "`{path}`:\n\n```\n{text}```\n"),
                };
            }
        }
    }
    out
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
