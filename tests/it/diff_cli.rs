//! `meshc diff` as users run it, on the fixture pairs in
//! `tests/fixtures/diff/protobuf/<case>/{previous,current}/`: per case and
//! category, the exact (severity, file:range, rule id) list and the exit
//! status, as insta snapshots (`tests/snapshots/diff_cli__<case>.snap`);
//! plus the exit statuses of `--fail-on`, a version that does not load,
//! `--format sarif` and `--list-rules`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    crate::support::repo_root().join("tests/fixtures/diff/protobuf")
}

/// Runs `meshc diff previous current ARGS --format json` in `dir`: (exit status, stdout).
fn diff(dir: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["diff", "previous", "current", "--format", "json"])
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
    assert_eq!(text.lines().count(), meshc::schema::breaking::all_rules().count());
    for rule in meshc::schema::breaking::all_rules() {
        assert!(text.lines().any(|l| l.starts_with(&format!("{} ", rule.id))), "{} is not listed", rule.id);
    }
}
