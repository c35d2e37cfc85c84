//! What meshc reads and what it never echoes (issue 11): files outside the
//! workspace or under /proc, /sys, /dev are refused unread; literal secrets
//! are refused without printing them; header fields, durations, globs and
//! schema references that would be accepted silently are reported.

use crate::support;

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
        assert!(out.contains("MESH0061"), "{format}: {out}");
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
        assert!(out.contains("MESH0061") && out.contains("outside the workspace"), "{format}: {out}");
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

/// A spec with `top` (top-level nodes), a service `orders` and a gateway
/// whose one route to it holds `route` besides `to "orders"`.
fn orders_gateway(top: &str, route: &str) -> String {
    format!(
        r#"mesh "shop"
{top}
service "orders" {{
    owner "team-orders"
    address "orders.svc" port=8080
}}
gateway "public" {{
    listener "http" port=8080
    route "orders" {{
        to "orders"
        {route}
    }}
}}
"#
    )
}

/// A spec whose gateway verifies tokens of an issuer with `jwks` (a line).
fn issuer_with(jwks: &str) -> String {
    let issuer = format!(
        "jwt-issuer \"shop-users\" {{\n    issuer \"https://auth.shop.example\"\n    audiences \"shop-api\"\n    {jwks}\n}}"
    );
    orders_gateway(&issuer, "match path-prefix=\"/orders/\"\n        auth \"shop-users\"")
}

#[test]
fn literal_secrets_in_a_spec_are_refused_by_kind_without_their_value() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2VjcmV0LXNpZ25hdHVyZQ";
    let pem = "-----BEGIN PRIVATE KEY-----\nTUlHSEFnRUFNQk1HQnlxR1NNNDk=\n-----END PRIVATE KEY-----";
    let cases = [
        (
            "jwks-uri \"https://ops:pa55word@auth.shop.example/jwks.json\"".to_string(),
            "pa55word",
            "a password in a URL",
        ),
        (
            format!("jwks-uri \"https://auth.shop.example/jwks.json\"\n    claim \"{jwt}\" type=\"string\""),
            "c2VjcmV0LXNpZ25hdHVyZQ",
            "a JWT",
        ),
        (
            format!(
                "jwks-uri \"https://auth.shop.example/jwks.json\"\n    claim \"\"\"\n{pem}\n\"\"\" type=\"string\""
            ),
            "TUlHSEFn",
            "a PEM private key",
        ),
    ];
    for (line, secret, kind) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[("mesh.kdl", &issuer_with(&line))]);
        let c = meshc::driver::compile(dir.path());
        let d = c.diagnostics.iter().find(|d| d.code == Code::LiteralSecret).unwrap_or_else(|| panic!("{}", human(&c)));
        assert!(d.message.contains(kind), "{}", d.message);
        for format in ["human", "json", "sarif"] {
            let out = check_output(dir.path(), format);
            assert!(out.contains("MESH0062"), "{format}: {out}");
            assert!(!out.contains(secret), "{format} prints the secret: {out}");
        }
    }
}

#[test]
fn a_jwks_file_with_a_private_or_symmetric_key_is_refused_without_quoting_it() {
    let private = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"BBBB","d":"PRIVATE-D-VALUE"}]}"#;
    let symmetric = r#"{"keys":[{"kty":"oct","k":"SYMMETRIC-K-VALUE"}]}"#;
    for (jwks, secret, pointer) in
        [(private, "PRIVATE-D-VALUE", "/keys/0/d"), (symmetric, "SYMMETRIC-K-VALUE", "/keys/0/k")]
    {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[("mesh.kdl", &issuer_with("jwks \"keys.jwks.json\"")), ("keys.jwks.json", jwks)]);
        let c = meshc::driver::compile(dir.path());
        assert_eq!(codes(&c), [Code::LiteralSecret], "{}", human(&c));
        assert!(c.diagnostics[0].message.contains(pointer), "{}", human(&c));
        for format in ["human", "json", "sarif"] {
            let out = check_output(dir.path(), format);
            assert!(!out.contains(secret), "{format} prints the key: {out}");
        }
    }
}

#[test]
fn the_examples_hold_no_literal_secrets() {
    for example in ["shop", "online-boutique", "sock-shop"] {
        let c = meshc::driver::compile(&support::repo_root().join("examples").join(example));
        assert!(!codes(&c).contains(&Code::LiteralSecret), "{}", human(&c));
    }
}

#[test]
fn header_values_with_control_characters_are_refused_where_they_are_declared() {
    let spec = |header: &str, set: &str| {
        orders_gateway(
            "",
            &format!("match path-prefix=\"/orders/\" {{ header {header}; }}\n        response {{ set-header {set}; }}"),
        )
    };
    let (_d, clean) = compile(&spec(r#""x-api-version" exact="2""#, r#""cache-status" "gateway""#));
    assert!(!codes(&clean).contains(&Code::InvalidValue), "{}", human(&clean));
    let cases = [
        (
            r#""x-api-version" exact="2\r\nx-admin: 1""#,
            r#""cache-status" "gateway""#,
            "exact=",
            "carriage return (CR) at byte 1",
        ),
        (r#""x-api-version" prefix=" 2""#, r#""cache-status" "gateway""#, "prefix=", "starts or ends with whitespace"),
        (
            r#""x-api-version" exact="2""#,
            r#""cache-status" "a\nset-cookie: x=1""#,
            "\"a\\n",
            "line feed (LF) at byte 1",
        ),
        (r#""x-api\nversion" exact="2""#, r#""cache-status" "gateway""#, "\"x-api", "not a valid HTTP header name"),
    ];
    for (header, set, at, says) in cases {
        let (_d, c) = compile(&spec(header, set));
        let invalid: Vec<_> = c.diagnostics.iter().filter(|d| d.code == Code::InvalidValue).collect();
        assert_eq!(invalid.len(), 1, "{}", human(&c));
        assert!(invalid[0].message.contains(says), "{}", human(&c));
        assert!(span_text(&c, invalid[0].primary.as_ref().unwrap().span).starts_with(at), "{}", human(&c));
    }
}

#[test]
fn an_openapi_document_over_16_mib_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let padding = "#".repeat((16 << 20) + 1);
    write_files(dir.path(), &[("mesh.kdl", &api_with_schema("api.yaml")), ("api.yaml", &padding)]);
    let c = meshc::driver::compile(dir.path());
    assert_eq!(codes(&c), [Code::UnreadableFile], "{}", human(&c));
    assert!(c.diagnostics[0].message.contains("larger than the 16 MiB limit"), "{}", human(&c));
}

#[test]
fn glob_imports_report_dangling_symlinks_loops_and_fifos_they_match() {
    let dir = tempfile::tempdir().unwrap();
    let service = "service \"orders\" {\n    owner \"t\"\n    address \"orders.svc\" port=80\n}\n";
    write_files(
        dir.path(),
        &[("mesh.kdl", "mesh \"shop\"\nimport \"services/*.kdl\"\n"), ("services/orders.kdl", service)],
    );
    let services = dir.path().join("services");
    std::os::unix::fs::symlink(services.join("gone.kdl"), services.join("dangling.kdl")).unwrap();
    std::os::unix::fs::symlink(services.join("loop-b.kdl"), services.join("loop-a.kdl")).unwrap();
    std::os::unix::fs::symlink(services.join("loop-a.kdl"), services.join("loop-b.kdl")).unwrap();
    assert!(Command::new("mkfifo").arg(services.join("pipe.kdl")).status().unwrap().success());
    let c = meshc::driver::compile(dir.path());
    let messages: Vec<&str> =
        c.diagnostics.iter().filter(|d| d.code == Code::UnreadableFile).map(|d| d.message.as_str()).collect();
    assert_eq!(messages.len(), 4, "{}", human(&c));
    let all = messages.join("\n");
    for says in [
        "`services/dangling.kdl`, a dangling symlink",
        "`services/loop-a.kdl`, a symlink loop",
        "`services/pipe.kdl`, which is not a regular file",
    ] {
        assert!(all.contains(says), "{says}: {}", human(&c));
    }
    let d = c.diagnostics.iter().find(|d| d.code == Code::UnreadableFile).unwrap();
    assert_eq!(span_text(&c, d.primary.as_ref().unwrap().span), "\"services/*.kdl\"");
}

#[test]
fn invalid_utf8_in_a_spec_is_reported_at_its_byte_offset_even_in_the_root_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mesh.kdl"), b"mesh \"shop\"\n// caf\xe9\n").unwrap();
    let c = meshc::driver::compile(dir.path());
    assert_eq!(codes(&c), [Code::UnreadableFile], "{}", human(&c));
    let d = &c.diagnostics[0];
    assert!(d.message.contains("invalid byte at offset 18"), "{}", human(&c));
    let span = d.primary.as_ref().unwrap().span;
    assert_eq!((span.start, c.sources.line_col(span.file, span.start)), (18, (2, 7)), "{}", human(&c));

    // A schema's bad byte is named by offset too.
    write_files(dir.path(), &[("mesh.kdl", &api_with_schema("api.yaml"))]);
    std::fs::write(dir.path().join("api.yaml"), b"openapi: 3.0.3\n\xff").unwrap();
    let c = meshc::driver::compile(dir.path());
    assert!(human(&c).contains("invalid byte at offset 15"), "{}", human(&c));
}

#[test]
fn a_proto_without_services_named_by_an_api_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let spec = api_with_schema("messages.proto").replace("kind=\"rest\"", "kind=\"grpc\"");
    let proto = "syntax = \"proto3\";\npackage shop.v1;\nmessage Item { string id = 1; }\n";
    write_files(dir.path(), &[("mesh.kdl", &spec), ("messages.proto", proto)]);
    let c = meshc::driver::compile(dir.path());
    assert_eq!(codes(&c), [Code::EmptySchema], "{}", human(&c));
    assert_eq!(span_text(&c, c.diagnostics[0].primary.as_ref().unwrap().span), "schema=\"messages.proto\"");
}

#[test]
fn a_dangling_ref_in_an_openapi_document_is_an_invalid_schema_at_the_ref() {
    let dir = tempfile::tempdir().unwrap();
    let openapi = "openapi: 3.0.3\ninfo: {title: C, version: '1'}\npaths:\n  /items:\n    post:\n      operationId: addItem\n      requestBody:\n        content:\n          application/json:\n            schema:\n              $ref: '#/components/schemas/Item'\n      responses:\n        '200': {description: ok}\ncomponents:\n  schemas: {}\n";
    write_files(dir.path(), &[("mesh.kdl", &api_with_schema("api.yaml")), ("api.yaml", openapi)]);
    let c = meshc::driver::compile(dir.path());
    assert_eq!(codes(&c), [Code::InvalidSchema], "{}", human(&c));
    assert!(c.diagnostics[0].message.contains("`#/components/schemas/Item`"), "{}", human(&c));
    assert!(c.diagnostics[0].message.contains("points at nothing"), "{}", human(&c));
    assert_eq!(span_text(&c, c.diagnostics[0].primary.as_ref().unwrap().span), "#/components/schemas/Item");
}
