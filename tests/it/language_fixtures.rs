//! Language tests in the fixture style (tests/it/support/fixture.rs): each
//! test is one workspace written inline, compiled in memory, with the
//! diagnostics it must produce annotated under the lines they point at.
//! The second half tests the fixture helper itself.

use crate::support::fixture::{check, check_rendered, compare, extract_annotations, reported, Annotation};
use expect_test::expect;

#[test]
fn a_workspace_with_a_proto_and_an_openapi_file_compiles_clean() {
    let c = check(
        r#"
        //- mesh.kdl
        import "services/*.kdl"
        gateway "edge" {
            listener "http" port=8080
            route "orders" { match path-prefix="/orders"; to "orders"; timeout "2s" }
        }

        //- services/orders.kdl
        service "orders" {
            owner "shop"
            address "orders.svc" port=80
            api "orders-http" kind="rest" schema="../schemas/orders.yaml"
            calls "payments" operation="payments.Payments/Charge" timeout="1s"
            traffic { outlier-detection }
        }

        //- services/payments.kdl
        service "payments" {
            owner "shop"
            address "payments.svc" port=80
            api "payments-grpc" kind="grpc" schema="../schemas/payments.proto"
            traffic { outlier-detection }
        }

        //- schemas/orders.yaml
        openapi: 3.0.3
        info: {title: Orders, version: '1'}
        paths:
          /orders:
            get: {responses: {'200': {description: ok}}}

        //- schemas/payments.proto
        syntax = "proto3";
        package payments;
        import "money.proto";
        message ChargeRequest { Money amount = 1; }
        service Payments {
          rpc Charge(ChargeRequest) returns (Money);
        }

        //- schemas/money.proto
        syntax = "proto3";
        package payments;
        message Money { int64 cents = 1; }
        "#,
    );
    let model = c.model.as_ref().unwrap();
    assert_eq!(model.services.len(), 2);
    assert!(c.emit().is_ok(), "a clean workspace builds");
}

#[test]
fn a_misspelt_grpc_method_gets_a_did_you_mean() {
    check_rendered(
        r#"
        //- mesh.kdl
        service "web" {
            owner "shop"
            address "web.svc" port=80
            calls "payments" operation="payments.Payments/Charg" timeout="1s"
            //               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0008 error: unknown operation
        }
        service "payments" {
            owner "shop"
            address "payments.svc" port=80
            api "payments-grpc" kind="grpc" schema="payments.proto"
            traffic { outlier-detection }
        }

        //- payments.proto
        syntax = "proto3";
        package payments;
        message M {}
        service Payments {
          rpc Charge(M) returns (M);
        }
        "#,
        expect![[r#"
            MESH0008

              × service `payments` has no operation `payments.Payments/Charg`
               ╭─[mesh.kdl:4:22]
             3 │     address "web.svc" port=80
             4 │     calls "payments" operation="payments.Payments/Charg" timeout="1s"
               ·                      ─────────────────┬─────────────────
               ·                                       ╰── unknown operation
             5 │ }
               ╰────
              help: did you mean `payments.Payments/Charge`?

            Advice: MESH0008

              ☞ the closest operation is defined here
               ╭─[payments.proto:5:3]
             4 │ service Payments {
             5 │   rpc Charge(M) returns (M);
               ·   ─────────────┬────────────
               ·                ╰── the closest operation is defined here
             6 │ }
               ╰────
            1 error(s), 0 warning(s)
        "#]],
    );
}

#[test]
fn a_called_service_without_a_health_policy_is_a_warning() {
    check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80; calls "b"; }
        service "b" { owner "t"; address "b.svc" port=80; }
        //      ^^^ MESH0035 warning
        "#,
    );
}

#[test]
fn an_error_in_an_imported_file_points_into_that_file() {
    check(
        r#"
        //- mesh.kdl
        import "services/*.kdl"

        //- services/a.kdl
        service "a" {
            owner "t"
            address "a.svc" port=80
            calls "bee" timeout="1s"
            //    ^^^^^ MESH0007 error
        }

        //- services/b.kdl
        service "b" { owner "t"; address "b.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
}

#[test]
fn a_missing_import_suggests_the_file_beside_it() {
    check(
        r#"
        //- mesh.kdl
        import "service.kdl"
        //     ^^^^^^^^^^^^^ MESH0009 error: imported here

        //- services.kdl
        service "a" { owner "t"; address "a.svc" port=80; }
        "#,
    );
}

#[test]
fn an_import_cycle_is_reported_at_the_import_that_closes_it() {
    check(
        r#"
        //- mesh.kdl
        import "a.kdl"

        //- a.kdl
        import "b.kdl"

        //- b.kdl
        import "a.kdl"
        //     ^^^^^^^ MESH0010 error: this import closes the cycle
        "#,
    );
}

#[test]
fn an_invalid_openapi_document_is_reported_in_the_document() {
    check(
        r#"
        //- mesh.kdl
        service "a" { owner "t"; address "a.svc" port=80; api "a-http" kind="rest" schema="a.yaml"; }

        //- a.yaml
        openapi: 3.0.3
        info: {title: A, version: '1'}
        paths:
          /x:
            get: {responses: {'200': {description: ok}}
          /y: {}
        # ^ MESH0015 error: error here
        "#,
    );
}

#[test]
fn a_proto_import_that_is_missing_is_reported_in_the_proto() {
    check(
        r#"
        //- mesh.kdl
        service "a" { owner "t"; address "a.svc" port=80; api "a-grpc" kind="grpc" schema="protos/a.proto"; }

        //- protos/a.proto
        syntax = "proto3";
        import "money.proto";
        ^^^^^^^^^^^^^^^^^^^^^ MESH0015 error: error here
        service A { rpc M(Money) returns (Money); }
        "#,
    );
}

#[test]
fn a_schema_beside_the_workspace_is_refused_unless_allowed() {
    check(
        r#"
        //- mesh.kdl
        service "a" { owner "t"; address "a.svc" port=80; api "a-http" kind="rest" schema="../shared/a.yaml"; }
        //                                                                         ^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0061 error

        //- ../shared/a.yaml
        openapi: 3.0.3
        info: {title: A, version: '1'}
        paths: {}
        "#,
    );
    check(
        r#"
        //- mesh.kdl
        schema-root "../shared"
        service "a" { owner "t"; address "a.svc" port=80; api "a-http" kind="rest" schema="../shared/a.yaml"; }

        //- ../shared/a.yaml
        openapi: 3.0.3
        info: {title: A, version: '1'}
        paths: {}
        "#,
    );
}

#[test]
fn a_misspelt_stdlib_file_gets_a_did_you_mean() {
    check_rendered(
        r#"
        import "std:resilence"
        //     ^^^^^^^^^^^^^^^ MESH0009 error: unknown stdlib file
        "#,
        expect![[r#"
            MESH0009

              × the standard library has no `resilence`
               ╭─[mesh.kdl:1:8]
             1 │ import "std:resilence"
               ·        ───────┬───────
               ·               ╰── unknown stdlib file
               ╰────
              help: did you mean `resilience`?
            1 error(s), 0 warning(s)
        "#]],
    );
}

// The helper itself.

fn annotation(line: usize, columns: std::ops::Range<usize>, code: &str) -> Annotation {
    Annotation { file: "mesh.kdl".into(), line, columns, code: code.into(), severity: None, label: None }
}

#[test]
fn annotations_mark_the_columns_of_the_line_above_and_are_removed() {
    let file = extract_annotations(
        "mesh.kdl",
        "service \"a\" { calls \"b\" }\n//                  ^^^ MESH0007 error: unknown service\n#    ^ MESH0035\nnext\n",
    )
    .unwrap();
    assert_eq!(file.text, "service \"a\" { calls \"b\" }\nnext\n");
    assert_eq!(
        file.expected,
        [
            Annotation {
                severity: Some("error".into()),
                label: Some("unknown service".into()),
                ..annotation(0, 20..23, "MESH0007")
            },
            annotation(0, 5..6, "MESH0035"),
        ]
    );
    let bare = extract_annotations("a.json", "{\"a\": 1}\n^^^^^^^^ MESH0015\n").unwrap();
    assert_eq!(bare.expected, [Annotation { file: "a.json".into(), ..annotation(0, 0..8, "MESH0015") }]);
}

#[test]
fn malformed_annotations_are_refused() {
    let err = |text: &str| extract_annotations("mesh.kdl", text).unwrap_err();
    assert_eq!(err("// ^^^ MESH0001\n"), "mesh.kdl:1: an annotation with no line above it");
    assert!(err("x\n// ^^^ oops\n").contains("expected `^^^ MESHnnnn"));
    assert!(err("x\n// ^^^ MESH0001 fatal\n").contains("expected `^^^ MESHnnnn"));
}

#[test]
fn the_matcher_compares_only_what_an_annotation_says() {
    let file = extract_annotations("mesh.kdl", "calls \"b\"\n//    ^^^ MESH0007\n").unwrap();
    let got = Annotation {
        severity: Some("error".into()),
        label: Some("not declared".into()),
        ..annotation(0, 6..9, "MESH0007")
    };
    assert_eq!(compare(&[file], std::slice::from_ref(&got)), Ok(()));
    let labelled = extract_annotations("mesh.kdl", "calls \"b\"\n//    ^^^ MESH0007 error: not declared\n");
    assert_eq!(compare(&[labelled.unwrap()], &[got]), Ok(()));
}

#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let file = extract_annotations("mesh.kdl", "calls \"b\"\n//    ^^^ MESH0007 warning\nnext\n").unwrap();
    let got = Annotation { severity: Some("error".into()), ..annotation(0, 6..9, "MESH0007") };
    let elsewhere = Annotation { file: "<std>/resilience.kdl".into(), ..annotation(2, 0..4, "MESH0004") };
    let diff = compare(&[file], &[got, elsewhere]).unwrap_err();
    assert_eq!(
        diff,
        "diagnostics differ from the annotations (- expected, not reported; + reported, not expected):\n\
         \x20 //- mesh.kdl\n\
         \x20 calls \"b\"\n\
         -       ^^^ MESH0007 warning\n\
         +       ^^^ MESH0007 error\n\
         \x20 next\n\
         + <std>/resilience.kdl:3: ^^^^ MESH0004\n"
    );
    // Wrong columns, a missing diagnostic and an unexpected one all fail.
    let file = || extract_annotations("mesh.kdl", "calls \"b\"\n//     ^^ MESH0007\n").unwrap();
    assert!(compare(&[file()], &[annotation(0, 6..9, "MESH0007")]).is_err());
    assert!(compare(&[file()], &[]).is_err());
    let clean = extract_annotations("mesh.kdl", "calls \"b\"\n").unwrap();
    assert!(compare(&[clean], &[annotation(0, 6..9, "MESH0007")]).is_err());
}

#[test]
#[should_panic(expected = "diagnostics differ from the annotations")]
fn check_panics_when_a_diagnostic_is_not_annotated() {
    check("service \"a\" { owner \"t\"; address \"a.svc\" port=80; calls \"b\"; }\n");
}

#[test]
fn reported_diagnostics_are_annotations_on_the_first_line_of_their_span() {
    let (_, c) = crate::support::fixture::compile_fixture("service \"a\" {\n  owner \"t\"\n  bogus 1\n}\n");
    let got = reported(&c);
    assert_eq!(got.len(), 1, "{}", crate::support::human(&c));
    assert_eq!((got[0].line, got[0].columns.clone(), got[0].code.as_str()), (2, 2..7, "MESH0002"));
}
