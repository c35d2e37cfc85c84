//! Hostile sizes and shapes of input (issue 11, items 10-12): every one ends
//! in a coded diagnostic and a bounded amount of output, never a panic
//! (exit 101) or a stack overflow (exit 134). Each test runs the real binary.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn meshc_check(target: &Path, format: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["check", target.to_str().unwrap(), "--format", format])
        .env("NO_COLOR", "1")
        .output()
        .expect("meshc runs")
}

/// The diagnostics' codes of a `--format json` run that exited 1.
fn json_codes(out: &Output) -> Vec<String> {
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    report["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap().to_string()).collect()
}

/// Bytes of diagnostics printed: stderr, plus stdout's diagnostics (SARIF's
/// results, without the fixed table of rules every SARIF log carries).
fn printed(out: &Output, format: &str) -> usize {
    let stdout = match format {
        "sarif" => {
            let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF");
            log["runs"][0]["results"].to_string().len()
        }
        _ => out.stdout.len(),
    };
    out.stderr.len() + stdout
}

const SERVICE: &str = "service \"a\" {\n    owner \"t\"\n    address \"a.svc\" port=80\n    api \"h\" kind=\"rest\" schema=\"api.json\"\n}\n";

#[test]
fn a_diagnostic_past_column_65535_renders_a_window_of_its_line() {
    let dir = tempfile::tempdir().unwrap();
    // A syntax error at column 80,003 of a single line: miette panicked
    // formatting columns past u16::MAX.
    let spec = format!("mesh \"x\"\na {}=}}\n", "b ".repeat(40_000));
    fs::write(dir.path().join("mesh.kdl"), &spec).unwrap();
    let out = meshc_check(dir.path(), "human");
    let human = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{human}");
    assert!(human.contains("MESH0001") && human.contains("mesh.kdl:2:80004"), "{human}");
    assert!(human.len() < 2_000, "the excerpt is a window, not the 80 KB line: {} bytes", human.len());
}

#[test]
fn a_minified_schema_error_quotes_only_a_window_around_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mesh.kdl"), format!("mesh \"x\"\n{SERVICE}")).unwrap();
    // 200 KB of minified JSON with an error at its very end.
    let filler: String = (0..20_000).map(|i| format!("\"k{i}\":1,")).collect();
    fs::write(dir.path().join("api.json"), format!("{{\"openapi\":\"3.0.0\",{filler}\"x\":}}")).unwrap();
    for format in ["human", "json", "sarif"] {
        let out = meshc_check(dir.path(), format);
        assert_eq!(out.status.code(), Some(1), "{format}");
        let printed = printed(&out, format);
        assert!(printed < 8_000, "{format}: {printed} bytes printed");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("\"k100\""), "{format} quotes far from the error");
    }
}

#[test]
fn identical_diagnostics_past_the_limit_are_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("mesh \"x\"\n{}", "bogus 1\n".repeat(5_000));
    fs::write(dir.path().join("mesh.kdl"), spec).unwrap();
    let out = meshc_check(dir.path(), "json");
    let codes = json_codes(&out);
    assert_eq!(codes.len(), meshc::diag::MAX_REPEATS, "{codes:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = &report["diagnostics"][meshc::diag::MAX_REPEATS - 1];
    assert_eq!(
        last["notes"][0],
        format!("{} more diagnostic(s) with this code and message are not shown", 5_000 - meshc::diag::MAX_REPEATS)
    );
}

#[test]
fn a_huge_name_is_not_echoed_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let name = "n".repeat(10 * 1024 * 1024);
    fs::write(dir.path().join("mesh.kdl"), format!("mesh \"x\"\n{name} 1\n")).unwrap();
    for format in ["human", "json", "sarif"] {
        let out = meshc_check(dir.path(), format);
        assert_eq!(out.status.code(), Some(1), "{format}");
        let printed = printed(&out, format);
        assert!(printed < 16_000, "{format}: {printed} bytes printed for a 10 MB name (was 55 MB)");
    }
}

#[test]
fn kdl_nested_200000_deep_is_refused_without_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("mesh \"x\"\n{}{}\n", "a {".repeat(200_000), "}".repeat(200_000));
    fs::write(dir.path().join("mesh.kdl"), spec).unwrap();
    assert_eq!(json_codes(&meshc_check(dir.path(), "json")), ["MESH0056"]);
}

#[test]
fn an_import_chain_of_thousands_of_files_stops_at_the_depth_limit() {
    let dir = tempfile::tempdir().unwrap();
    let files = 5_000;
    fs::write(dir.path().join("mesh.kdl"), "mesh \"x\"\nimport \"f0.kdl\"\n").unwrap();
    for i in 0..files {
        fs::write(dir.path().join(format!("f{i}.kdl")), format!("import \"f{}.kdl\"\n", i + 1)).unwrap();
    }
    let out = meshc_check(dir.path(), "json");
    assert_eq!(json_codes(&out), ["MESH0057"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let depth = meshc::load::MAX_IMPORT_DEPTH;
    assert_eq!(report["diagnostics"][0]["location"]["file"], format!("f{}.kdl", depth - 1));
}

#[test]
fn event_schemas_nested_past_the_limit_are_refused_at_the_level_too_many() {
    // JSON files are scanned only once they fail to load (serde_json stops
    // at the bound itself); the report is the scan's, as for other formats.
    let deep = 100_000;
    let cases = [
        ("e.avsc", format!("{}\"string\"{}", "{\"type\": \"array\", \"items\": ".repeat(deep), "}".repeat(deep))),
        ("e.json", format!("{}true{}", "{\"items\": ".repeat(deep), "}".repeat(deep))),
    ];
    for (file, schema) in cases {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("mesh.kdl"), format!("mesh \"x\"\ntopic \"t\" {{ schema \"{file}\" }}\n")).unwrap();
        fs::write(dir.path().join(file), &schema).unwrap();
        let out = meshc_check(dir.path(), "json");
        assert!(json_codes(&out).contains(&"MESH0056".to_string()), "{file}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let deep = report["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "MESH0056").unwrap().clone();
        assert!(deep["message"].as_str().unwrap().contains("deeper than 128 levels"), "{file}: {deep}");
        assert_eq!(deep["location"]["file"], file, "{deep}");
    }
}

#[test]
fn schemas_nested_past_the_limit_are_refused_before_parsing() {
    let deep = 100_000;
    let cases = [
        ("api.json", format!("{{\"openapi\":\"3.0.0\",\"x\":{}{}}}", "{\"a\":".repeat(deep), "}".repeat(deep))),
        ("api.yaml", format!("openapi: 3.0.0\nx: {}{}\n", "[".repeat(deep), "]".repeat(deep))),
    ];
    for (file, schema) in cases {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("mesh.kdl"), format!("mesh \"x\"\n{}", SERVICE.replace("api.json", file))).unwrap();
        fs::write(dir.path().join(file), schema).unwrap();
        let out = meshc_check(dir.path(), "json");
        assert!(json_codes(&out).contains(&"MESH0056".to_string()), "{file}");
    }
    // A proto of nested messages, through the same bound.
    let dir = tempfile::tempdir().unwrap();
    let mut proto = String::from("syntax = \"proto3\";\n");
    for i in 0..deep {
        let _ = write!(proto, "message M{i} {{ ");
    }
    proto.push_str(&"}".repeat(deep));
    fs::write(dir.path().join("a.proto"), proto).unwrap();
    let grpc = SERVICE.replace("kind=\"rest\" schema=\"api.json\"", "kind=\"grpc\" schema=\"a.proto\"");
    fs::write(dir.path().join("mesh.kdl"), format!("mesh \"x\"\n{grpc}")).unwrap();
    assert!(json_codes(&meshc_check(dir.path(), "json")).contains(&"MESH0056".to_string()));
}
