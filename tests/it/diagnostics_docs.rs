//! The diagnostic code pages (docs/diagnostics/MESHnnnn.md) against the code
//! table (compiler/src/diag/codes.rs) and the compiler itself:
//!
//! - every code has a page with the fixed layout, and the page's header
//!   agrees with the table;
//! - every page's failing example makes the compiler emit exactly that code,
//!   and its fixed example makes it emit nothing;
//! - every code is emitted somewhere in the compiler, and no page documents
//!   a code the table lacks;
//! - docs/diagnostics.md, generated from the table and the pages, is fresh
//!   (`UPDATE_DOCS=1 cargo test -p meshc --test it diagnostics_docs::` rewrites it).
//!
//! Example blocks are fenced as `kdl failing` / `kdl fixed`. A block is one
//! `mesh.kdl` unless it contains `//- relative/path` lines, each of which
//! starts a new file (specs, OpenAPI documents, .proto files). The workspace
//! is written to `<tempdir>/ws/`, so a path such as `//- ../outside.kdl`
//! lands in the temp dir, outside the workspace root but still sandboxed.

use crate::support;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path, PathBuf};

use meshc::diag::codes::{CodeInfo, Status};
use meshc::diag::render::{render, Format};
use meshc::diag::CODES;

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

fn pages_dir() -> PathBuf {
    support::repo_root().join("docs/diagnostics")
}

fn page_path(info: &CodeInfo) -> PathBuf {
    pages_dir().join(format!("{}.md", info.id))
}

fn generated_md_path() -> PathBuf {
    support::repo_root().join("docs/diagnostics.md")
}

// ---------------------------------------------------------------------------
// Page parsing
// ---------------------------------------------------------------------------

/// The sections every page has, in this order.
const SECTIONS: [&str; 4] = ["What it means", "Why it matters", "Failing example", "Fixed example"];

#[derive(Debug)]
struct Page {
    /// `# MESH0007: unknown-service`
    title: String,
    /// `**Severity:** error · **Category:** reference · **Since:** 0.1.0`
    facts: String,
    /// `##` headings in order, with the text below each.
    sections: Vec<(String, String)>,
    /// Fenced blocks: (info string, body, heading of the section holding it).
    blocks: Vec<(String, String, String)>,
}

fn parse_page(text: &str) -> Page {
    let mut lines = text.lines();
    let title = lines.next().unwrap_or_default().to_string();
    let facts = lines.by_ref().find(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut blocks = Vec::new();
    let mut fence: Option<(String, String)> = None;
    for line in lines {
        if let Some((info, body)) = fence.as_mut() {
            if line.trim_end() == "```" {
                let section = sections.last().map(|s| s.0.clone()).unwrap_or_default();
                blocks.push((info.clone(), std::mem::take(body), section));
                fence = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
        } else if let Some(info) = line.strip_prefix("```") {
            fence = Some((info.trim().to_string(), String::new()));
        } else if let Some(heading) = line.strip_prefix("## ") {
            sections.push((heading.trim().to_string(), String::new()));
            continue;
        }
        if let Some(section) = sections.last_mut() {
            section.1.push_str(line);
            section.1.push('\n');
        }
    }
    assert!(fence.is_none(), "a code block is never closed");
    Page { title, facts, sections, blocks }
}

fn expected_title(info: &CodeInfo) -> String {
    format!("# {}: {}", info.id, info.name)
}

fn expected_facts(info: &CodeInfo) -> String {
    let status = match info.status {
        Status::Stable { since } => format!("**Since:** {since}"),
        Status::Removed { since } => format!("**Removed in:** {since}"),
    };
    format!("**Severity:** {} · **Category:** {} · {status}", info.severity.as_str(), info.category.as_str())
}

fn read_page(info: &CodeInfo) -> Result<String, String> {
    let path = page_path(info);
    fs::read_to_string(&path).map_err(|e| format!("{}: cannot read {}: {e}", info.id, path.display()))
}

/// Everything wrong with one page's layout; empty when it is well formed.
fn layout_problems(info: &CodeInfo, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let page = parse_page(text);
    if page.title != expected_title(info) {
        problems.push(format!("first line is `{}`, expected `{}`", page.title, expected_title(info)));
    }
    if page.facts.trim() != expected_facts(info) {
        problems.push(format!(
            "facts line is `{}`, expected `{}` (from codes.rs)",
            page.facts.trim(),
            expected_facts(info)
        ));
    }
    let headings: Vec<&str> = page.sections.iter().map(|s| s.0.as_str()).collect();
    if headings != SECTIONS {
        problems.push(format!("sections are {headings:?}, expected exactly {SECTIONS:?} in that order"));
    }
    for (heading, body) in &page.sections {
        let prose: String = body.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" ");
        if prose.trim().is_empty() {
            problems.push(format!("section `{heading}` is empty"));
        }
    }
    for (kind, section) in [("failing", "Failing example"), ("fixed", "Fixed example")] {
        let info_string = format!("kdl {kind}");
        let found: Vec<&(String, String, String)> = page.blocks.iter().filter(|b| b.0 == info_string).collect();
        match found.as_slice() {
            [(_, body, in_section)] => {
                if in_section != section {
                    problems
                        .push(format!("the `{info_string}` block is under `## {in_section}`, expected `## {section}`"));
                }
                if body.trim().is_empty() {
                    problems.push(format!("the `{info_string}` block is empty"));
                }
            }
            blocks => problems.push(format!("{} `{info_string}` blocks, expected exactly one", blocks.len())),
        }
    }
    if text != info.doc {
        problems.push("the page on disk differs from CodeInfo::doc (codes.rs must include_str! this file)".into());
    }
    problems
}

// ---------------------------------------------------------------------------
// Example fixtures
// ---------------------------------------------------------------------------

/// Lexically resolves `rel` against `base`; `None` if it climbs above `limit`.
fn resolve_within(base: &Path, rel: &str, limit: &Path) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    for component in Path::new(rel).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    out.starts_with(limit).then_some(out)
}

/// Writes an example into a fresh temp dir and compiles its `ws/` workspace.
fn compile_example(block: &str) -> Result<(BTreeSet<&'static str>, String, usize), String> {
    let files = support::fixture_files(block)?;
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let ws = tmp.path().join("ws");
    fs::create_dir_all(&ws).map_err(|e| format!("cannot create {}: {e}", ws.display()))?;
    for (rel, text) in &files {
        let path =
            resolve_within(&ws, rel, tmp.path()).ok_or_else(|| format!("`//- {rel}` leaves the example's temp dir"))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if let Some((_, args)) = files.iter().find(|(rel, _)| rel == COMMAND_FILE) {
        return run_example_command(tmp.path(), args);
    }
    let compilation = meshc::driver::compile(&ws);
    // As `meshc build` sees it: emitting adds its own diagnostics (path
    // collisions, settings a backend cannot express).
    let mut diagnostics = compilation.diagnostics.clone();
    diagnostics.extend(match compilation.build(&meshc::emit::Options::default()) {
        Ok(built) => built.warnings,
        Err(found) => found,
    });
    let codes = diagnostics.iter().map(|d| d.code.id()).collect();
    let rendered = render(Format::Human, &diagnostics, &compilation.sources, false);
    Ok((codes, rendered, diagnostics.len()))
}

/// An example file holding the `meshc` command line to run (in the
/// example's temp dir, with `--format json`) instead of compiling `ws/`:
/// for codes the command itself reports, such as a refused output directory.
const COMMAND_FILE: &str = "meshc-command";

/// Runs the meshc command an example gives and reads the codes it reports.
fn run_example_command(dir: &Path, args: &str) -> Result<(BTreeSet<&'static str>, String, usize), String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(args.split_whitespace())
        .args(["--format", "json"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run meshc {args}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report: serde_json::Value = match stdout.trim() {
        "" => serde_json::json!({ "diagnostics": [] }),
        text => serde_json::from_str(text).map_err(|e| format!("meshc {args}: not JSON ({e}): {text}"))?,
    };
    let diagnostics = report["diagnostics"].as_array().cloned().unwrap_or_default();
    let codes = diagnostics
        .iter()
        .filter_map(|d| d["code"].as_str())
        .map(|id| CODES.iter().find(|c| c.id == id).map_or("unknown code", |c| c.id))
        .collect();
    Ok((codes, stdout, diagnostics.len()))
}

/// The body of the page's only `kdl {kind}` block.
fn example(info: &CodeInfo, kind: &str) -> Result<String, String> {
    let text = read_page(info)?;
    let wanted = format!("kdl {kind}");
    let blocks: Vec<String> = parse_page(&text).blocks.into_iter().filter(|b| b.0 == wanted).map(|b| b.1).collect();
    match <[String; 1]>::try_from(blocks) {
        Ok([block]) => Ok(block),
        Err(blocks) => Err(format!("{}: {} `{wanted}` blocks, expected exactly one", info.id, blocks.len())),
    }
}

fn stable_codes() -> impl Iterator<Item = &'static CodeInfo> {
    CODES.iter().filter(|c| matches!(c.status, Status::Stable { .. }))
}

fn fail_with(what: &str, failures: Vec<String>) {
    if !failures.is_empty() {
        panic!("{} {what}:\n\n{}", failures.len(), failures.join("\n\n"));
    }
}

// ---------------------------------------------------------------------------
// Page layout
// ---------------------------------------------------------------------------

#[test]
fn every_code_has_a_page_whose_header_facts_and_sections_match_the_table() {
    let mut failures = Vec::new();
    for info in CODES {
        match read_page(info) {
            Err(e) => failures.push(e),
            Ok(text) => {
                let problems = layout_problems(info, &text);
                if !problems.is_empty() {
                    failures.push(format!("{}:\n  - {}", page_path(info).display(), problems.join("\n  - ")));
                }
            }
        }
    }
    fail_with("page(s) do not follow the layout", failures);
}

#[test]
fn every_page_in_docs_diagnostics_documents_a_code_in_the_table() {
    let ids: BTreeSet<String> = CODES.iter().map(|c| format!("{}.md", c.id)).collect();
    let mut strays = Vec::new();
    for entry in fs::read_dir(pages_dir()).expect("docs/diagnostics exists") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !ids.contains(&name) {
            strays.push(format!("docs/diagnostics/{name}: no such code in compiler/src/diag/codes.rs"));
        }
    }
    fail_with("file(s) document no code", strays);
}

// ---------------------------------------------------------------------------
// Examples against the compiler
// ---------------------------------------------------------------------------

#[test]
fn every_failing_example_emits_exactly_its_own_code_and_no_other() {
    let mut failures = Vec::new();
    for info in stable_codes() {
        let result = example(info, "failing").and_then(|block| compile_example(&block));
        match result {
            Err(e) => failures.push(format!("{}: {e}", info.id)),
            Ok((codes, rendered, _)) => {
                let expected = BTreeSet::from([info.id]);
                if codes != expected {
                    failures.push(format!(
                        "{} ({}): the failing example emitted {codes:?}, expected exactly {expected:?}\n{rendered}",
                        info.id, info.name
                    ));
                }
            }
        }
    }
    fail_with("failing example(s) are wrong", failures);
}

#[test]
fn every_fixed_example_emits_no_diagnostic() {
    let mut failures = Vec::new();
    for info in stable_codes() {
        let result = example(info, "fixed").and_then(|block| compile_example(&block));
        match result {
            Err(e) => failures.push(format!("{}: {e}", info.id)),
            Ok((_, rendered, count)) => {
                if count != 0 {
                    failures.push(format!(
                        "{} ({}): the fixed example emitted {count} diagnostic(s), expected none\n{rendered}",
                        info.id, info.name
                    ));
                }
            }
        }
    }
    fail_with("fixed example(s) are not clean", failures);
}

#[test]
fn fixture_format_splits_files_and_defaults_to_mesh_kdl() {
    assert_eq!(
        support::fixture_files("mesh \"shop\"\n").unwrap(),
        [("mesh.kdl".to_string(), "mesh \"shop\"\n".to_string())]
    );
    let files = support::fixture_files("//- mesh.kdl\nimport \"../x.kdl\"\n\n//- ../x.kdl\nmesh \"x\"\n\n").unwrap();
    assert_eq!(
        files,
        [
            ("mesh.kdl".to_string(), "import \"../x.kdl\"\n".to_string()),
            ("../x.kdl".to_string(), "mesh \"x\"\n".to_string()),
        ]
    );
    assert!(support::fixture_files("stray\n//- mesh.kdl\n").is_err());
    let base = Path::new("/t/ws");
    assert_eq!(resolve_within(base, "../x.kdl", Path::new("/t")), Some(PathBuf::from("/t/x.kdl")));
    assert_eq!(resolve_within(base, "../../x.kdl", Path::new("/t")), None);
}

// ---------------------------------------------------------------------------
// Tidy: the table, the compiler and the pages agree
// ---------------------------------------------------------------------------

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `text` contains `Code::{variant}` not followed by more identifier.
fn mentions_variant(text: &str, variant: &str) -> bool {
    let needle = format!("Code::{variant}");
    text.match_indices(&needle).any(|(i, _)| {
        let before_ok = text[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after_ok = text[i + needle.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        before_ok && after_ok
    })
}

#[test]
fn every_code_in_the_table_is_used_by_the_compiler_outside_codes_rs() {
    let src = support::repo_root().join("compiler/src");
    let table = src.join("diag/codes.rs");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let texts: Vec<String> = files.iter().filter(|p| **p != table).map(|p| fs::read_to_string(p).unwrap()).collect();
    assert!(texts.len() > 10, "found too few sources under {}", src.display());
    let mut unused = Vec::new();
    for info in stable_codes() {
        let variant = format!("{:?}", info.code);
        if !texts.iter().any(|t| mentions_variant(t, &variant)) {
            unused.push(format!(
                "{} ({}): `Code::{variant}` appears nowhere in compiler/src outside diag/codes.rs",
                info.id, info.name
            ));
        }
    }
    fail_with("code(s) are never emitted; emit them or mark them Removed", unused);
}

// ---------------------------------------------------------------------------
// docs/diagnostics.md
// ---------------------------------------------------------------------------

const INTRO: &str = "\
Every problem meshc reports carries a stable code, `MESH` and four digits,
and a kebab-case name, such as `MESH0007 unknown-service`. Codes are never
renumbered or reused: a code that is retired keeps its number and its page.
An **error** fails `meshc check` and `meshc build` (exit status 1, and
`build` leaves the output directory untouched); a **warning** is reported
but does not fail the run unless it is given `--deny warnings`, which treats
every warning as an error (recommended in CI).

`meshc explain MESH0007` (or `meshc explain unknown-service`) prints a code's
page in the terminal, and `meshc explain` lists every code. `check` and
`build` print diagnostics for people by default; `--format json` prints one
JSON document with the code, name, severity, message and 1-based locations
of each diagnostic, and `--format sarif` prints SARIF 2.1.0 for GitHub code
scanning and other CI annotators, with each code the results carry as a
rule (its page as the rule's help).

Each page below says what the code means, why it matters in production, and
gives a failing and a fixed example. Examples that span several files mark
each file with a `//- path` line, relative to the workspace root. Every
failing example is checked to produce exactly its code, and every fixed
example to produce no diagnostic at all, by `tests/it/diagnostics_docs.rs`.
";

/// A page's text with every Markdown heading one level deeper.
fn demote_headings(text: &str) -> String {
    let mut out = String::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && line.starts_with('#') {
            out.push('#');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn table_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The text of docs/diagnostics.md, from the table and the pages.
fn generate_diagnostics_md() -> String {
    let mut out = String::new();
    out.push_str(
        "<!-- GENERATED by tests/it/diagnostics_docs.rs from compiler/src/diag/codes.rs and\n     \
         docs/diagnostics/MESHnnnn.md. Do not edit: edit those, then run\n     \
         UPDATE_DOCS=1 cargo test -p meshc --test it diagnostics_docs:: -->\n\n",
    );
    out.push_str("# Diagnostics\n\n");
    out.push_str(INTRO);
    out.push_str("\n## Index\n\n");
    out.push_str("| Code | Name | Severity | Category | Summary |\n");
    out.push_str("|------|------|----------|----------|---------|\n");
    for info in CODES {
        let severity = match info.status {
            Status::Stable { .. } => info.severity.as_str().to_string(),
            Status::Removed { since } => format!("removed in {since}"),
        };
        let _ = writeln!(
            out,
            "| [{id}](diagnostics/{id}.md) | `{name}` | {severity} | {category} | {summary} |",
            id = info.id,
            name = info.name,
            category = info.category.as_str(),
            summary = table_cell(info.summary),
        );
    }
    for info in CODES {
        out.push('\n');
        out.push_str(demote_headings(info.doc).trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn diagnostics_md_is_fresh() {
    let generated = generate_diagnostics_md();
    let path = generated_md_path();
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        fs::write(&path, &generated).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let current = fs::read_to_string(&path).unwrap_or_default();
    if current != generated {
        let line = current
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| current.lines().count().min(generated.lines().count()));
        panic!(
            "docs/diagnostics.md is stale (first difference at line {}):\n  file:      {:?}\n  generated: {:?}\n\
             regenerate it with: UPDATE_DOCS=1 cargo test -p meshc --test it diagnostics_docs::",
            line + 1,
            current.lines().nth(line).unwrap_or("<end of file>"),
            generated.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn demoting_headings_leaves_code_blocks_alone() {
    let page = "# T\n\n## S\n\n```kdl failing\n//- apis/a.yaml\n# a YAML comment\n```\n";
    assert_eq!(demote_headings(page), "## T\n\n### S\n\n```kdl failing\n//- apis/a.yaml\n# a YAML comment\n```\n");
}
