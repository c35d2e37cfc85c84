//! `meshc diff` as users run it, on the fixture pairs in
//! `tests/fixtures/diff/<format>/<case>/{previous,current}/`: per case and
//! category (protobuf) or compatibility mode (Avro, JSON Schema), the
//! exact (severity, file:range, rule id) list and the exit status, as insta
//! snapshots (`tests/snapshots/diff_cli__<case>.snap` for protobuf,
//! `diff_cli__<format>_<case>.snap` for the others); plus the exit statuses
//! of `--fail-on`, a version that does not load, mismatched formats,
//! `--format sarif` and `--list-rules`.

use std::path::{Path, PathBuf};
use std::process::Command;

use meshc::schema::breaking::rules;

fn fixtures() -> PathBuf {
    crate::support::repo_root().join("tests/fixtures/diff/protobuf")
}

/// Runs `meshc diff previous current ARGS --format json` in `dir`: (exit status, stdout).
fn diff(dir: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    diff_paths(dir, "previous", "current", args)
}

/// Runs `meshc diff OLD NEW ARGS --format json` in `dir`: (exit status, stdout).
fn diff_paths(dir: &Path, old: &str, new: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["diff", old, new, "--format", "json"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("meshc runs");
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)));
    (output.status.code().unwrap_or(-1), report)
}

/// One line per change: `error FIELD_SAME_NAME current/shop/order.proto:8:10-8:18`.
fn lines(report: &serde_json::Value) -> String {
    let mut out = String::new();
    for d in report["diagnostics"].as_array().into_iter().flatten() {
        let l = &d["location"];
        out.push_str(&format!(
            "{} {} {}:{}:{}-{}:{}\n",
            d["severity"].as_str().unwrap_or_default(),
            d["rule"].as_str().unwrap_or("-"),
            l["file"].as_str().unwrap_or("-"),
            l["start_line"],
            l["start_column"],
            l["end_line"],
            l["end_column"],
        ));
    }
    out
}

fn snapshot(name: &str, value: String) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(format!("diff_cli__{name}"), value));
}

#[test]
fn every_fixture_case_reports_its_changes_per_category() {
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(fixtures()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 3, "the fixture cases are missing");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let mut text = String::new();
        for category in ["file", "package", "wire-json", "wire"] {
            let (status, report) = diff(&case, &["--category", category]);
            text.push_str(&format!("## --category {category}: exit {status}\n{}", lines(&report)));
        }
        snapshot(&name, text);
    }
}

/// The cases of a format's fixtures: (name, the one file's name in both versions).
fn file_cases(format: &str) -> Vec<(PathBuf, String)> {
    let dir = crate::support::repo_root().join("tests/fixtures/diff").join(format);
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    cases
        .into_iter()
        .map(|case| {
            let file = std::fs::read_dir(case.join("previous")).unwrap().next().expect("a file").unwrap();
            (case, file.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

#[test]
fn openapi_and_graphql_fixture_cases_report_their_changes() {
    for format in ["openapi", "graphql"] {
        let cases = file_cases(format);
        assert!(!cases.is_empty(), "the {format} fixture cases are missing");
        for (case, file) in cases {
            let (old, new) = (format!("previous/{file}"), format!("current/{file}"));
            let mut text = String::new();
            for args in [&[][..], &["--fail-on", "warning"][..]] {
                let (status, report) = diff_paths(&case, &old, &new, args);
                text.push_str(&format!("## {}: exit {status}\n{}", args.join(" "), lines(&report)));
            }
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            snapshot(&format!("{format}_{name}"), text);
        }
    }
}

#[test]
fn event_schema_fixture_cases_report_their_changes_per_compatibility_mode() {
    for format in ["avro", "json_schema"] {
        let cases = file_cases(format);
        assert!(!cases.is_empty(), "the {format} fixture cases are missing");
        for (case, file) in cases {
            let (old, new) = (format!("previous/{file}"), format!("current/{file}"));
            let mut text = String::new();
            for mode in ["backward", "forward", "full", "none"] {
                let (status, report) = diff_paths(&case, &old, &new, &["--compatibility", mode]);
                text.push_str(&format!("## --compatibility {mode}: exit {status}\n{}", lines(&report)));
            }
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            snapshot(&format!("{format}_{name}"), text);
        }
    }
}

#[test]
fn the_shops_declared_event_schema_versions_diff_clean_under_their_mode() {
    // examples/shop/topics/orders-placed.kdl declares v1 then v2 under
    // `full-transitive`: `meshc diff` judges the pair with the code `meshc
    // check` uses, and full compatibility holds both ways round.
    let schemas = crate::support::repo_root().join("examples/shop/schemas");
    for (old, new) in [("order-placed.v1.avsc", "order-placed.avsc"), ("order-placed.avsc", "order-placed.v1.avsc")] {
        let (status, report) = diff_paths(&schemas, old, new, &["--compatibility", "full"]);
        assert_eq!((status, lines(&report)), (0, String::new()), "{old} -> {new}: {report}");
    }
    // Without v2's defaults, a consumer on v2 cannot read v1's events.
    let dir = tempfile::tempdir().unwrap();
    let v2 = std::fs::read_to_string(schemas.join("order-placed.avsc")).unwrap();
    let without_defaults: String = v2.lines().map(strip_default).collect::<Vec<_>>().join("\n");
    assert_ne!(without_defaults, v2.trim_end(), "v2 has defaults to strip");
    std::fs::copy(schemas.join("order-placed.v1.avsc"), dir.path().join("v1.avsc")).unwrap();
    std::fs::write(dir.path().join("v2.avsc"), without_defaults).unwrap();
    let (status, report) = diff_paths(dir.path(), "v1.avsc", "v2.avsc", &[]);
    assert_eq!(status, 1, "{report}");
    assert!(lines(&report).lines().all(|l| l.starts_with("error AVRO_BACKWARD ")), "{}", lines(&report));
}

/// An Avro field line without its `"default": ...` member.
fn strip_default(line: &str) -> String {
    match line.find(", \"default\"") {
        Some(at) => format!("{}}}{}", &line[..at], if line.trim_end().ends_with(',') { "," } else { "" }),
        None => line.to_string(),
    }
}

/// The examples' API and event schemas and the shared corpora's OpenAPI,
/// GraphQL and Avro files.
fn real_schemas() -> Vec<PathBuf> {
    let root = crate::support::repo_root();
    let corpora = crate::support::corpora();
    let mut dirs: Vec<PathBuf> = ["openapi", "graphql", "avro"].iter().map(|d| corpora.join(d)).collect();
    for example in std::fs::read_dir(root.join("examples")).unwrap() {
        let example = example.unwrap().path();
        dirs.extend(["apis", "schemas"].iter().map(|d| example.join(d)));
    }
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| ["yaml", "yml", "json", "graphql", "avsc"].contains(&&*e.to_string_lossy()))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_real_schema_diffs_clean_against_itself() {
    let files = real_schemas();
    assert!(files.len() >= 20, "the examples' and corpora's schemas are missing: {files:?}");
    let policy = meshc::schema::breaking::Policy {
        category: meshc::schema::breaking::Category::File,
        compatibility: meshc::schema::breaking::Compatibility::Full,
    };
    for file in files {
        let diffed = meshc::driver::diff(&file, &file, &policy);
        assert!(diffed.loaded, "{} does not load: {:?}", file.display(), diffed.diagnostics);
        assert!(diffed.diagnostics.is_empty(), "{} differs from itself: {:?}", file.display(), diffed.diagnostics);
    }
}

#[test]
fn a_field_deleted_deep_in_githubs_schema_is_found_where_it_was() {
    let github = crate::support::corpora().join("graphql/github-schema.graphql");
    let text = std::fs::read_to_string(&github).unwrap();
    // The first field without a description that is not its type's only one.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let simple = |l: &str| l.starts_with("  ") && !l.starts_with("   ") && l.contains(": ") && !l.contains('(');
    let index = (1..lines.len() - 1)
        .find(|&i| simple(lines[i]) && lines[i - 1].trim_end().ends_with('{') && simple(lines[i + 1]))
        .expect("a field to delete");
    let line = lines[index];
    let at: usize = lines[..index].iter().map(|l| l.len()).sum();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.graphql"), &text).unwrap();
    std::fs::write(dir.path().join("new.graphql"), format!("{}{}", &text[..at], &text[at + line.len()..])).unwrap();
    let (status, report) = diff_paths(dir.path(), "old.graphql", "new.graphql", &[]);
    assert_eq!(status, 1, "{report}");
    let errors: Vec<&serde_json::Value> = report["diagnostics"].as_array().unwrap().iter().collect();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0]["rule"], "GRAPHQL_FIELD_NO_DELETE");
    let old_line = text[..at].lines().count() + 1;
    let labels = errors[0]["related"].to_string();
    assert!(labels.contains(&format!("\"start_line\":{old_line}")), "the old field at line {old_line}: {labels}");
}

#[test]
fn versions_of_two_formats_are_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.graphql"), "type Query { a: Int }\n").unwrap();
    std::fs::write(dir.path().join("b.avsc"), "{\"type\": \"string\"}\n").unwrap();
    std::fs::write(dir.path().join("c.txt"), "").unwrap();
    let (status, report) = diff_paths(dir.path(), "a.graphql", "b.avsc", &[]);
    assert_eq!(status, 2, "{report}");
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "MESH0015", "{report}");
    assert_eq!(d["message"], "the old version is a GraphQL schema, the new one `b.avsc` an Avro schema");
    let (status, report) = diff_paths(dir.path(), "c.txt", "a.graphql", &[]);
    assert_eq!(status, 2, "{report}");
    assert_eq!(report["diagnostics"][0]["message"], "`c.txt` is no schema `meshc diff` compares");
}

#[test]
fn an_invalid_openapi_version_exits_2_and_points_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let valid = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n";
    std::fs::write(dir.path().join("old.yaml"), valid).unwrap();
    std::fs::write(dir.path().join("new.yaml"), "openapi: 3.0.3\npaths: [\n").unwrap();
    let (status, report) = diff_paths(dir.path(), "old.yaml", "new.yaml", &[]);
    assert_eq!(status, 2, "{report}");
    let d = &report["diagnostics"][0];
    assert_eq!((d["code"].as_str(), d["location"]["file"].as_str()), (Some("MESH0015"), Some("new.yaml")), "{report}");
}

#[test]
fn fail_on_decides_whether_warnings_fail() {
    // A field deleted with its number and name reserved: only FILE/PACKAGE rules report it.
    let dir = tempfile::tempdir().unwrap();
    for (side, field) in [("previous", "int32 b = 2;"), ("current", "reserved 2; reserved \"b\";")] {
        std::fs::create_dir_all(dir.path().join(side)).unwrap();
        let text = format!("syntax = \"proto3\";\npackage p;\nmessage M {{ int32 a = 1; {field} }}\n");
        std::fs::write(dir.path().join(side).join("m.proto"), text).unwrap();
    }
    let (status, report) = diff(dir.path(), &[]);
    assert_eq!(status, 0, "{report}");
    assert_eq!(lines(&report), "warning FIELD_NO_DELETE current/m.proto:3:9-3:10\n");
    let (status, _) = diff(dir.path(), &["--fail-on", "warning"]);
    assert_eq!(status, 1);
    let (status, report) = diff(dir.path(), &["--category", "file"]);
    assert_eq!((status, lines(&report)), (1, "error FIELD_NO_DELETE current/m.proto:3:9-3:10\n".to_string()));
}

#[test]
fn a_version_that_does_not_load_exits_2_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    for (side, text) in
        [("previous", "syntax = \"proto3\";\nmessage M {}\n"), ("current", "syntax = \"proto3\";\nmessage M {\n")]
    {
        std::fs::create_dir_all(dir.path().join(side)).unwrap();
        std::fs::write(dir.path().join(side).join("m.proto"), text).unwrap();
    }
    let (status, report) = diff(dir.path(), &[]);
    assert_eq!(status, 2);
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "MESH0015", "{report}");
    assert_eq!(d["location"]["file"], "current/m.proto");
}

#[test]
fn sarif_output_carries_the_rule() {
    let case = fixtures().join("services");
    let output = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["diff", "previous", "current", "--format", "sarif"])
        .current_dir(&case)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules: Vec<&str> =
        log["runs"][0]["results"].as_array().unwrap().iter().filter_map(|r| r["properties"]["rule"].as_str()).collect();
    assert!(rules.contains(&"RPC_SAME_REQUEST_TYPE"), "{rules:?}");
}

#[test]
fn list_rules_prints_every_rule_of_the_table() {
    let output = Command::new(env!("CARGO_BIN_EXE_meshc")).args(["diff", "--list-rules"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), rules().count());
    for rule in rules() {
        assert!(text.lines().any(|l| l.starts_with(&format!("{} ", rule.id))), "{} is not listed", rule.id);
    }
}
