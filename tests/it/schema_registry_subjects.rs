//! Schema-registry subjects: no registry installs within the CI budget
//! (docs/backends/schema-registry.md), so each document is held against
//! the Confluent REST API's request shapes, every schema text goes through
//! its format's own parser (apache-avro, JSON Schema's meta-schema, protox),
//! and subject names against the naming strategies.

use crate::support;

use std::path::Path;

use serde_json::Value;
use support::events::{build, AVRO};

const LEVELS: &[&str] =
    &["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"];

/// One subject document, as `PUT /config` and `POST /subjects/.../versions` take its parts.
fn check_subject(path: &str, document: &Value) {
    let object = document.as_object().unwrap_or_else(|| panic!("{path}: not an object"));
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(keys, ["compatibility", "subject", "versions"], "{path}");
    assert!(LEVELS.contains(&document["compatibility"].as_str().unwrap()), "{path}: {}", document["compatibility"]);
    let subject = document["subject"].as_str().unwrap();
    let file = path.strip_prefix("schema-registry/subjects/").and_then(|f| f.strip_suffix(".json")).unwrap();
    let decoded = percent_decode(file);
    assert_eq!(decoded, subject, "{path}: the file is named after its subject");
    let versions = document["versions"].as_array().unwrap();
    assert!(!versions.is_empty(), "{path}");
    for version in versions {
        let keys: Vec<&str> = version.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["schema", "schemaType"], "{path}");
        let text = version["schema"].as_str().unwrap();
        match version["schemaType"].as_str().unwrap() {
            "AVRO" => {
                apache_avro::Schema::parse_str(text).unwrap_or_else(|e| panic!("{path}: not an Avro schema: {e}"));
            }
            "JSON" => {
                let schema: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
                jsonschema::meta::validate(&schema).unwrap_or_else(|e| panic!("{path}: not a JSON Schema: {e}"));
            }
            "PROTOBUF" => {
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("event.proto"), text).unwrap();
                protox::compile(["event.proto"], [dir.path()])
                    .unwrap_or_else(|e| panic!("{path}: the .proto does not compile on its own: {e}"));
            }
            other => panic!("{path}: schemaType {other}"),
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn the_shops_subjects_are_registry_requests_with_parsable_schemas() {
    let compilation = meshc::driver::compile(&support::repo_root().join("examples/shop"));
    let options = meshc::emit::Options::default().with_backends(["schema-registry"]).unwrap();
    let built = compilation.build(&options).expect("the shop builds");
    let subjects: Vec<&str> = built.artifacts.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "schema-registry/subjects/orders-placed-dlq-value.json",
            "schema-registry/subjects/orders-placed-value.json",
            "schema-registry/subjects/reviews-posted-dlq-value.json",
            "schema-registry/subjects/reviews-posted-value.json",
            "schema-registry/subjects/stock-changed-value.json",
        ]
    );
    for artifact in &built.artifacts {
        check_subject(&artifact.path, &serde_json::from_str(&artifact.contents).unwrap());
    }
    let orders: Value = serde_json::from_str(&built.artifacts[1].contents).unwrap();
    assert_eq!(orders["compatibility"], "FULL_TRANSITIVE");
    // Version 1, then version 2: the files' texts, oldest first.
    let shop = support::repo_root().join("examples/shop/schemas");
    let text = |f: &str| std::fs::read_to_string(Path::new(&shop).join(f)).unwrap();
    assert_eq!(orders["versions"][0]["schema"], text("order-placed.v1.avsc"));
    assert_eq!(orders["versions"][1]["schema"], text("order-placed.avsc"));
}

/// Record and topic-record naming: the subject is the record's full name,
/// versions naming other records go to other subjects, and a JSON Schema
/// without a title stays under the topic's subject with a warning.
#[test]
fn subjects_follow_the_topics_naming_strategy() {
    let json_schema = r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
 "properties": {"id": {"type": "string"}}}"#;
    let other = r#"{"type": "record", "name": "OrderShipped", "namespace": "shop.orders", "fields": [{"name": "orderId", "type": "string"}]}"#;
    let mesh = r#"mesh "shop"

topic "placed" {
    schema "schemas/event.avsc" version=1
    schema "schemas/shipped.avsc" version=2
    subject-naming "record"
    compatibility "none"
}

topic "shipped" {
    schema "schemas/event.avsc"
    subject-naming "topic-record"
}

topic "untitled" {
    schema "schemas/untitled.json" format="json-schema"
    subject-naming "record"
}

service "orders" {
    owner "team-orders"
    address "orders.shop.svc.cluster.local" port=8080
    publishes "placed"
    publishes "shipped"
    publishes "untitled"
}
"#;
    let files: Vec<(String, String)> = [
        ("mesh.kdl", mesh),
        ("schemas/event.avsc", AVRO),
        ("schemas/shipped.avsc", other),
        ("schemas/untitled.json", json_schema),
    ]
    .iter()
    .map(|(p, t)| (p.to_string(), t.to_string()))
    .collect();
    let built = build(&files, &["schema-registry"]);
    let paths: Vec<&str> = built.artifacts.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "schema-registry/subjects/shipped-shop.orders.OrderPlaced.json",
            "schema-registry/subjects/shop.orders.OrderPlaced.json",
            "schema-registry/subjects/shop.orders.OrderShipped.json",
            "schema-registry/subjects/untitled-value.json",
        ]
    );
    for artifact in &built.artifacts {
        check_subject(&artifact.path, &serde_json::from_str(&artifact.contents).unwrap());
    }
    assert_eq!(built.json("schema-registry/subjects/shop.orders.OrderPlaced.json")["compatibility"], "NONE");
    assert_eq!(built.warnings.len(), 1, "{}", built.diagnostics);
    assert!(built.warnings[0].contains("record name"), "{}", built.diagnostics);
}
