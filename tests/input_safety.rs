//! What meshc reads and what it never echoes (issue 11): files outside the
//! workspace or under /proc, /sys, /dev are refused unread; literal secrets
//! are refused without printing them; header fields, durations, globs and
//! schema references that would be accepted silently are reported.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use meshc::diag::Code;
use support::{codes, compile_mesh as compile, human, span_text, write_files};

/// A service whose one REST API reads its schema from `schema`.
fn api_with_schema(schema: &str) -> String {
    format!(
        r#"mesh "shop"
service "catalog" {{
    owner "team-catalog"
    address "catalog.shop.svc.cluster.local" port=8080
    api "catalog-http" kind="rest" schema="{schema}"
}}
"#
    )
}

/// `meshc check --format FORMAT DIR` with `SECRET_FOR_TEST` set in its
/// environment: its stdout and stderr together.
fn check_output(dir: &Path, format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["check", "--format", format])
        .arg(dir)
        .env("NO_COLOR", "1")
        .env("SECRET_FOR_TEST", "hunter2-do-not-print")
        .output()
        .expect("meshc runs");
    assert_eq!(out.status.code(), Some(1), "check fails");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn a_schema_under_proc_is_refused_unread_in_every_output_format() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", &api_with_schema("/proc/self/environ"))]);
    for format in ["human", "json", "sarif"] {
        let out = check_output(dir.path(), format);
        assert!(out.contains("MESH0062"), "{format}: {out}");
        assert!(!out.contains("hunter2-do-not-print"), "{format} echoes the environment: {out}");
        assert!(!out.contains("SECRET_FOR_TEST"), "{format} echoes the environment: {out}");
    }
}

#[test]
fn a_schema_outside_the_workspace_is_refused_unread_even_when_its_directory_is_allowed() {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let first_line = passwd.lines().next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", &api_with_schema("/etc/passwd"))]);
    for format in ["human", "json", "sarif"] {
        let out = check_output(dir.path(), format);
        assert!(out.contains("MESH0062") && out.contains("outside the workspace"), "{format}: {out}");
        assert!(!out.contains(first_line), "{format} echoes /etc/passwd: {out}");
    }
    // An allowed directory does not open /proc: a symlink into it is still refused.
    std::os::unix::fs::symlink("/proc/self/environ", dir.path().join("api.yaml")).unwrap();
    write_files(dir.path(), &[("mesh.kdl", &format!("schema-root \"/proc\"\n{}", api_with_schema("api.yaml")))]);
    let c = meshc::driver::compile(dir.path());
    assert_eq!(codes(&c), [Code::FileOutsideWorkspace], "{}", human(&c));
}

#[test]
fn schema_root_allows_a_directory_beside_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let openapi = "openapi: 3.0.3\ninfo: {title: C, version: '1'}\npaths: {}\n";
    write_files(
        dir.path(),
        &[("shared/catalog.yaml", openapi), ("ws/mesh.kdl", &api_with_schema("../shared/catalog.yaml"))],
    );
    let refused = meshc::driver::compile(&dir.path().join("ws"));
    assert_eq!(codes(&refused), [Code::FileOutsideWorkspace], "{}", human(&refused));
    let d = &refused.diagnostics[0];
    assert_eq!(span_text(&refused, d.primary.as_ref().unwrap().span), "schema=\"../shared/catalog.yaml\"");

    let allowed = format!("schema-root \"../shared\"\n{}", api_with_schema("../shared/catalog.yaml"));
    write_files(dir.path(), &[("ws/mesh.kdl", &allowed)]);
    let c = meshc::driver::compile(&dir.path().join("ws"));
    assert_eq!(codes(&c), [], "{}", human(&c));
}

#[test]
fn a_fifo_schema_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", &api_with_schema("api.yaml"))]);
    assert!(Command::new("mkfifo").arg(dir.path().join("api.yaml")).status().unwrap().success());
    let c = meshc::driver::compile(dir.path());
    assert_eq!(codes(&c), [Code::UnreadableFile], "{}", human(&c));
    assert!(human(&c).contains("not a regular file"), "{}", human(&c));
}

#[test]
fn an_import_under_proc_leaves_the_workspace_and_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", "mesh \"shop\"\nimport \"/proc/self/environ\"\n")]);
    let out = check_output(dir.path(), "json");
    assert!(out.contains("MESH0011"), "{out}");
    assert!(!out.contains("hunter2-do-not-print"), "{out}");
}

#[test]
fn durations_in_undocumented_units_are_invalid_values_naming_the_units() {
    let spec = |timeout: &str| {
        format!(
            r#"mesh "shop"
service "orders" {{
    owner "team-orders"
    address "orders.shop.svc.cluster.local" port=8080
    calls "payments" timeout="{timeout}"
}}
service "payments" {{
    owner "team-payments"
    address "payments.shop.svc.cluster.local" port=8080
}}
"#
        )
    };
    for (timeout, says) in [("1M", "did you mean `1m` (minute)?"), ("1d", "the units are ms, s, m and h")] {
        let (_d, c) = compile(&spec(timeout));
        let d = c.diagnostics.iter().find(|d| d.code == Code::InvalidValue).unwrap_or_else(|| panic!("{}", human(&c)));
        assert!(d.message.contains(says), "{}", human(&c));
        assert_eq!(span_text(&c, d.primary.as_ref().unwrap().span), format!("timeout=\"{timeout}\""));
    }
}
