//! The official KDL v2 test suite against `meshc::syntax::parse`.
//!
//! The suite lives outside the repository (it is never copied in), at
//! `../../shared/corpora/kdl` relative to the compiler crate. For every file
//! of `test_cases/input`:
//!
//! - `*_fail.kdl` must be rejected with a MESH0001 (kdl-syntax) diagnostic;
//! - every other file must parse without any diagnostic, and its AST must
//!   equal the AST of its `test_cases/expected_kdl` counterpart once spans are
//!   stripped and both sides are normalised the way the suite's README says
//!   the expected files are printed: arguments in order, properties
//!   deduplicated (the right-most wins) and in name order, empty child blocks
//!   dropped, numbers compared by value (hex/octal/binary → decimal; floats
//!   by value with NaN == NaN).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meshc::base::FileId;
use meshc::diag::Code;
use meshc::syntax::{self, Node, Value};

fn suite_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/kdl/test_cases");
    assert!(
        dir.join("input").is_dir() && dir.join("expected_kdl").is_dir(),
        "the KDL test suite is missing: expected `{}` with `input/` and `expected_kdl/` \
         (the official kdl-org test_cases folder; it is not vendored into this repository)",
        dir.display()
    );
    dir
}

/// A value as the suite compares it.
#[derive(Debug, Clone)]
enum Norm {
    String(String),
    Integer(i128),
    Float(f64),
    Bool(bool),
    Null,
}

impl PartialEq for Norm {
    fn eq(&self, other: &Norm) -> bool {
        match (self, other) {
            (Norm::String(a), Norm::String(b)) => a == b,
            (Norm::Integer(a), Norm::Integer(b)) => a == b,
            // NaN == NaN; otherwise by value (so 0.0 == -0.0 as well, which the
            // suite's printing rules do not distinguish reliably either).
            (Norm::Float(a), Norm::Float(b)) => (a.is_nan() && b.is_nan()) || a == b,
            (Norm::Bool(a), Norm::Bool(b)) => a == b,
            (Norm::Null, Norm::Null) => true,
            _ => false,
        }
    }
}

impl From<&Value> for Norm {
    fn from(v: &Value) -> Norm {
        match v {
            Value::String(s) => Norm::String(s.clone()),
            Value::Integer(i) => Norm::Integer(*i),
            Value::Float(f) => Norm::Float(*f),
            Value::Bool(b) => Norm::Bool(*b),
            Value::Null => Norm::Null,
        }
    }
}

/// (type annotation, value).
type TypedValue = (Option<String>, Norm);

/// A node without spans, normalised as the suite's expected files are printed.
#[derive(Debug, Clone, PartialEq)]
struct NormNode {
    name: String,
    type_annotation: Option<String>,
    arguments: Vec<TypedValue>,
    /// Right-most value per key, in key order.
    properties: BTreeMap<String, TypedValue>,
    /// Empty when the node has no block or an empty one (the printer drops both).
    children: Vec<NormNode>,
}

fn normalise(node: &Node) -> NormNode {
    let mut arguments = Vec::new();
    let mut properties = BTreeMap::new();
    for e in &node.entries {
        let v = (e.type_annotation.clone(), Norm::from(&e.value));
        match &e.name {
            None => arguments.push(v),
            Some(k) => {
                properties.insert(k.clone(), v); // later ones overwrite: last wins
            }
        }
    }
    NormNode {
        name: node.name.clone(),
        type_annotation: node.type_annotation.clone(),
        arguments,
        properties,
        children: node.children().iter().map(normalise).collect(),
    }
}

fn normalise_doc(nodes: &[Node]) -> Vec<NormNode> {
    nodes.iter().map(normalise).collect()
}

/// `text` as a string, or the reason it could not be read as UTF-8.
fn read(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))
}

#[test]
fn official_kdl_test_suite() {
    let dir = suite_dir();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir.join("input"))
        .expect("read the suite's input folder")
        .map(|e| e.expect("list the input folder").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    inputs.sort();
    assert!(inputs.len() > 300, "expected the full suite (336 inputs), found {} in {}", inputs.len(), dir.display());

    let mut accepted = 0;
    let mut rejected = 0;
    let mut compared = 0;
    let mut failures: Vec<String> = Vec::new();
    for input in &inputs {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let should_fail = name.ends_with("_fail.kdl");
        // Every suite file is UTF-8 except where the test is about that: a
        // file that is not UTF-8 can only be a failing case (the loader turns
        // such files into an unreadable-file error before parsing).
        let text = match read(input) {
            Ok(t) => t,
            Err(e) if should_fail => {
                rejected += 1;
                eprintln!("note: {name}: {e}; counted as rejected before parsing");
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let parsed = std::panic::catch_unwind(|| syntax::parse(FileId(0), &text));
        let Ok((doc, diags)) = parsed else {
            failures.push(format!("{name}: meshc::syntax::parse PANICKED on:\n{text}"));
            continue;
        };
        if should_fail {
            if diags.iter().any(|d| d.code == Code::KdlSyntax) {
                rejected += 1;
            } else {
                failures.push(format!(
                    "{name}: must be rejected with MESH0001, but parsed to {} node(s) with diagnostics {:?}\n--- input:\n{text}",
                    doc.nodes.len(),
                    diags.iter().map(|d| &d.message).collect::<Vec<_>>()
                ));
            }
            continue;
        }
        if !diags.is_empty() {
            failures.push(format!(
                "{name}: must parse cleanly, got {:?}\n--- input:\n{text}",
                diags.iter().map(|d| &d.message).collect::<Vec<_>>()
            ));
            continue;
        }
        accepted += 1;
        let expected_path = dir.join("expected_kdl").join(&name);
        if !expected_path.exists() {
            continue;
        }
        let expected_text = match read(&expected_path) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name} (expected): {e}"));
                continue;
            }
        };
        let (expected, expected_diags) = syntax::parse(FileId(1), &expected_text);
        if !expected_diags.is_empty() {
            failures.push(format!(
                "{name}: the expected_kdl file does not parse: {:?}\n--- expected:\n{expected_text}",
                expected_diags.iter().map(|d| &d.message).collect::<Vec<_>>()
            ));
            continue;
        }
        compared += 1;
        let (got, want) = (normalise_doc(&doc.nodes), normalise_doc(&expected.nodes));
        if got != want {
            failures.push(format!(
                "{name}: AST differs from expected_kdl\n--- input:\n{text}\n--- expected:\n{expected_text}\n--- got:  {got:#?}\n--- want: {want:#?}"
            ));
        }
    }

    let expected_count = inputs.iter().filter(|p| !p.to_string_lossy().ends_with("_fail.kdl")).count();
    println!(
        "{} inputs: {accepted} accepted ({compared} compared with expected_kdl), {rejected} rejected, {} unexpected",
        inputs.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} KDL suite cases did not behave as expected:\n\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n\n")
    );
    assert_eq!(accepted, expected_count, "every non-_fail input is accepted");
    assert_eq!(accepted + rejected, inputs.len());
    assert_eq!(compared, accepted, "every accepted input has an expected_kdl file");
}

/// The comparison is not vacuous: it tells apart what the suite tells apart
/// and equates what its printing rules equate.
#[test]
fn normalisation_equates_only_what_the_suite_does() {
    let norm = |text: &str| {
        let (doc, diags) = syntax::parse(FileId(0), text);
        assert!(diags.is_empty(), "{text}: {diags:?}");
        normalise_doc(&doc.nodes)
    };
    // Equal after normalisation.
    assert_eq!(norm("n 0x10 0o20 0b10000"), norm("n 16 16 16"));
    assert_eq!(norm("n b=1 a=2 b=3"), norm("n a=2 b=3"));
    assert_eq!(norm("n a=1 2"), norm("n 2 a=1"));
    assert_eq!(norm("n #\"x\"y\"#"), norm("n \"x\\\"y\""));
    assert_eq!(norm("n {}"), norm("n"));
    assert_eq!(norm("n #nan"), norm("n #nan"));
    assert_eq!(norm("\"n\" 1e10"), norm("n 1.0E+10"));
    // Different.
    assert_ne!(norm("n 1"), norm("n 2"));
    assert_ne!(norm("n 1"), norm("n 1.0"));
    assert_ne!(norm("n 1 2"), norm("n 2 1"));
    assert_ne!(norm("n a=1"), norm("n b=1"));
    assert_ne!(norm("(t)n"), norm("n"));
    assert_ne!(norm("n (t)1"), norm("n 1"));
    assert_ne!(norm("n \"1\""), norm("n 1"));
    assert_ne!(norm("n #null"), norm("n \"#null\""));
    assert_ne!(norm("n { a; }"), norm("n { b; }"));
    assert_ne!(norm("n; m"), norm("n { m; }"));
}

/// Every suite file (inputs and expected outputs) and every spec file of the
/// repository that parses without a diagnostic parses exactly as the general
/// KDL reader alone parses it, spans included: the plain reader
/// (`syntax/plain.rs`), which takes what it can read, is held to it.
#[test]
fn the_plain_reader_reads_what_it_reads_as_the_general_reader() {
    let dir = suite_dir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<PathBuf> = Vec::new();
    for folder in [dir.join("input"), dir.join("expected_kdl")] {
        files.extend(std::fs::read_dir(folder).expect("list the suite").map(|e| e.expect("list the suite").path()));
    }
    let mut pending = vec![root.join("examples"), root.join("stdlib"), root.join("tests"), root.join("docs")];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("list the repository") {
            let path = entry.expect("list the repository").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "kdl") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut clean = 0;
    for path in &files {
        let Ok(text) = read(path) else { continue };
        let (doc, diagnostics) = syntax::parse(FileId(0), &text);
        if !diagnostics.is_empty() {
            continue;
        }
        let (general, general_diagnostics) = syntax::parse_general(FileId(0), &text);
        assert!(general_diagnostics.is_empty(), "{}: only the plain reader reads it", path.display());
        // Compared as printed: `#nan` is not equal to itself.
        assert_eq!(
            format!("{doc:?}"),
            format!("{general:?}"),
            "{}: the plain and the general reader differ",
            path.display()
        );
        clean += 1;
    }
    assert!(clean > 400, "only {clean} of {} files parsed cleanly", files.len());
}
