//! Schema compatibility across a topic's versions and between its
//! producers and consumers (`consumer-compatibility`, MESH0086;
//! `subject-compatibility`, MESH0087), as fixtures: Avro, JSON Schema and
//! Protobuf topics, each compatibility mode, the spans and the rendered
//! diagnostics. The rules themselves are unit-tested in
//! `compiler/src/schema/compat/` and held against Apache Avro in
//! `avro_reference.rs`.

use expect_test::expect;

use crate::support::fixture::{check, check_rendered};

#[test]
fn a_consumer_on_an_old_version_breaks_on_a_deleted_field_backward_allows() {
    // Version 1's `coupon` has no default; version 2 deletes it.
    let c = check_rendered(
        r#"
        //- mesh.kdl
        topic "placed" {
            schema "v1.avsc" version=1
            schema "v2.avsc" version=2
        }
        service "orders" { owner "t"; publishes "placed"; }
        service "payments" {
            owner "t"
            subscribes "placed" version=1
        //             ^^^^^^^^ MESH0086 error: `payments` reads with version 1
        }
        service "audit" { owner "t"; subscribes "placed" version=2; }

        //- v1.avsc
        {"type": "record", "name": "OrderPlaced", "namespace": "shop",
         "fields": [{"name": "id", "type": "string"}, {"name": "coupon", "type": "string"}]}

        //- v2.avsc
        {"type": "record", "name": "OrderPlaced", "namespace": "shop",
         "fields": [{"name": "id", "type": "string"}]}
        "#,
        expect![[r#"
            MESH0086

              × `payments` reads topic `placed` with version 1, which cannot read the version 2 events
              │ `orders` publishes: at `coupon`, the reader's field `coupon` has no `default`, and the
              │ writer's record `shop.OrderPlaced` has no field `coupon`: add a default to the reader's field
               ╭─[mesh.kdl:8:16]
             4 │ }
             5 │ service "orders" { owner "t"; publishes "placed"; }
               ·                                         ────┬───
               ·                                             ╰── `orders` publishes version 2
             6 │ service "payments" {
             7 │     owner "t"
             8 │     subscribes "placed" version=1
               ·                ────┬───
               ·                    ╰── `payments` reads with version 1
             9 │ }
               ╰────
              help: move `payments` to a version that reads version 2 (`subscribes "placed" version=2`), have
                    `orders` publish version 1, or change version 2 so version 1 reads it

            Advice: MESH0086

              ☞ version 2, which `orders` writes
               ╭─[v2.avsc:1:28]
             1 │ {"type": "record", "name": "OrderPlaced", "namespace": "shop",
               ·                            ──────┬──────
               ·                                  ╰── version 2, which `orders` writes
             2 │  "fields": [{"name": "id", "type": "string"}]}
               ╰────

            Advice: MESH0086

              ☞ version 1, which `payments` reads with
               ╭─[v1.avsc:2:56]
             1 │ {"type": "record", "name": "OrderPlaced", "namespace": "shop",
             2 │  "fields": [{"name": "id", "type": "string"}, {"name": "coupon", "type": "string"}]}
               ·                                                        ────┬───
               ·                                                            ╰── version 1, which `payments` reads with
               ╰────
            1 error(s), 0 warning(s)
        "#]],
    );
    assert_eq!(c.diagnostics.len(), 1);
}

#[test]
fn a_new_version_without_a_default_breaks_backward_compatibility() {
    check(
        r#"
        //- mesh.kdl
        topic "placed" {
            schema "v1.avsc" version=1
            schema "v2.avsc" version=2
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0087 error: version 2
            schema "v3.avsc" version=3
        }
        service "orders" { owner "t"; publishes "placed"; }

        //- v1.avsc
        {"type": "record", "name": "OrderPlaced", "fields": [{"name": "id", "type": "string"}]}

        //- v2.avsc
        {"type": "record", "name": "OrderPlaced", "fields": [{"name": "id", "type": "string"}, {"name": "currency", "type": "string"}]}

        //- v3.avsc
        {"type": "record", "name": "OrderPlaced", "fields": [{"name": "id", "type": "string"}, {"name": "currency", "type": "string"}]}
        "#,
    );
}

/// v1 {id}, v2 {id, note = ""}, v3 {note = ""}: each step is backward and
/// forward compatible with the one before, but v3 drops `id`, which v1
/// requires: only the transitive forward modes see it.
fn history(mode: &str, annotation: &str) -> String {
    format!(
        r#"
        //- mesh.kdl
        topic "placed" {{
            schema "v1.avsc" version=1
            schema "v2.avsc" version=2
            schema "v3.avsc" version=3
        {annotation}
            compatibility "{mode}"
        }}
        service "orders" {{ owner "t"; publishes "placed"; }}

        //- v1.avsc
        {{"type": "record", "name": "E", "fields": [{{"name": "id", "type": "string"}}]}}

        //- v2.avsc
        {{"type": "record", "name": "E", "fields": [{{"name": "id", "type": "string", "default": ""}}, {{"name": "note", "type": "string", "default": ""}}]}}

        //- v3.avsc
        {{"type": "record", "name": "E", "fields": [{{"name": "note", "type": "string", "default": ""}}]}}
        "#
    )
}

#[test]
fn transitive_modes_hold_each_version_against_every_earlier_one() {
    let v3 = "//  ^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0087 error: version 3";
    for mode in ["none", "backward", "forward", "full", "backward-transitive"] {
        check(&history(mode, ""));
    }
    for mode in ["forward-transitive", "full-transitive"] {
        let c = check(&history(mode, v3));
        let message = &c.diagnostics[0].message;
        assert!(
            message.contains("version 1 cannot read its events: at `id`, the reader's field `id` has no `default`"),
            "{mode}: {message}"
        );
    }
}

#[test]
fn json_schema_consumers_with_closed_content_models() {
    check(
        r#"
        //- mesh.kdl
        topic "reviews" {
            schema "v1.json" version=1
            schema "v2.json" version=2
        }
        service "reviews" { owner "t"; publishes "reviews"; }
        service "search" {
            owner "t"
            subscribes "reviews" version=1
        //             ^^^^^^^^^ MESH0086 error
        }

        //- v1.json
        {"type": "object", "additionalProperties": false, "required": ["id"],
         "properties": {"id": {"type": "string"}}}

        //- v2.json
        {"type": "object", "additionalProperties": false, "required": ["id"],
         "properties": {"id": {"type": "string"}, "rating": {"type": "integer"}}}
        "#,
    );
}

#[test]
fn protobuf_breaks_say_whether_the_wire_or_json_breaks() {
    let c = check(
        r#"
        //- mesh.kdl
        topic "placed" {
            schema "v1.proto" message="shop.Placed" version=1
            schema "v2.proto" message="shop.Placed" version=2
            compatibility "none"
        }
        service "orders" { owner "t"; publishes "placed"; }
        service "payments" {
            owner "t"
            subscribes "placed" version=1
        //             ^^^^^^^^ MESH0086 error
        }

        //- v1.proto
        syntax = "proto3";
        package shop;
        message Placed { string id = 1; int32 quantity = 2; }

        //- v2.proto
        syntax = "proto3";
        package shop;
        message Placed { string id = 1; sint64 quantity = 2; }
        "#,
    );
    let message = &c.diagnostics[0].message;
    assert!(
        message.contains("at `quantity`, field 2 is sint64 in the writer, int32 in the reader; wire: breaks"),
        "{message}"
    );
}

mod evolution_exceptions {
    use crate::support::fixture::check;

    const FILES: &str = r#"
        //- placed.v1.avsc
        {"type": "record", "name": "Placed", "fields": [{"name": "id", "type": "string"}]}
        //- placed.v2.avsc
        {"type": "record", "name": "Placed", "fields": [{"name": "id", "type": "string"}, {"name": "total", "type": "long"}]}
    "#;

    fn fixture(evolution: &str) -> String {
        fixture_breaking(evolution, "")
    }

    /// `breaks` annotates version 2's line.
    fn fixture_breaking(evolution: &str, breaks: &str) -> String {
        format!(
            r#"
        //- mesh.kdl
        service "orders" {{ owner "t"; publishes "orders-placed" }}
        topic "orders-placed" {{
            schema "placed.v1.avsc" version=1
            schema "placed.v2.avsc" version=2
{breaks}
            compatibility "backward"
{evolution}
        }}
{FILES}"#
        )
    }

    #[test]
    fn an_exception_allows_a_version_to_break_the_mode_until_its_day() {
        check(&fixture(
            r#"            evolution {
                allow version=2 reason="no producer writes version 1 any more" until="2099-01-01"
            }"#,
        ));
    }

    #[test]
    fn an_expired_exception_is_an_error_and_the_break_is_reported_again() {
        check(&fixture_breaking(
            r#"            evolution {
                allow version=2 reason="no producer writes version 1 any more" until="2020-01-01"
                //                                                             ^^^^^^^^^^^^^^^^^^ MESH0105 error: expired
            }"#,
            "         // ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0087 error: version 2",
        ));
    }

    #[test]
    fn exceptions_name_declared_versions() {
        check(&fixture(
            r#"            evolution {
                allow version=2 reason="no producer writes version 1 any more" until="2099-01-01"
                allow version=3 reason="typo" until="2099-01-01"
                //    ^^^^^^^^^ MESH0106 error: no such version
            }"#,
        ));
    }

    #[test]
    fn an_exception_needs_a_reason_and_without_one_allows_nothing() {
        check(&fixture_breaking(
            r#"            evolution {
                allow version=2 until="2099-01-01"
                ^^^^^ MESH0005 error: property `reason` missing
            }"#,
            "         // ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0087 error: version 2",
        ));
    }
}
