//! Contract mocks: the shop's mock configs (`contracts/mocks/NAME.json`)
//! served by the runtime's `ContractMock` on 127.0.0.1. A consumer's
//! interactions get the examples' answers; requests no example covers get
//! answers generated from the schema, which hold the consumers' reads and
//! validate (with the `jsonschema` crate) against the emitted response
//! schema; gRPC likewise; every request is recorded.

use crate::support;

use std::collections::BTreeMap;

use meshc_runtime::contracts::{AnswerUsed, ContractMock, ContractMockHandle, MockPlan, Plan};
use meshc_runtime::{call_unary, Code};
use serde_json::{json, Value};
use support::{http_request, http_request_with_body, localhost, repo_root};

/// The shop's contract artifacts by path (`contracts/...`), built in memory.
fn shop_contracts() -> BTreeMap<String, String> {
    let compilation = meshc::driver::compile(&repo_root().join("examples/shop"));
    let built = compilation.build(&meshc::emit::Options::default()).expect("the shop builds");
    built.artifacts.into_iter().filter(|a| a.path.starts_with("contracts/")).map(|a| (a.path, a.contents)).collect()
}

fn mock_config(contracts: &BTreeMap<String, String>, service: &str) -> MockPlan {
    let path = format!("contracts/mocks/{service}.json");
    MockPlan::from_json(&contracts[&path])
        .and_then(|mock| mock.with_descriptors(|relative| support::artifact_beside(contracts, &path, relative)))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn serve(plan: MockPlan) -> ContractMockHandle {
    ContractMock::new(plan).unwrap().spawn(localhost()).unwrap()
}

/// The JSON value at a read path (`a.b`, `items[].sku`: each item's), as a list.
fn at_path<'v>(value: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut found = vec![value];
    for segment in path.split('.') {
        let (key, list) = segment.strip_suffix("[]").map_or((segment, false), |k| (k, true));
        found = found
            .into_iter()
            .filter_map(|v| if key.is_empty() { Some(v) } else { v.get(key) })
            .flat_map(|v| if list { v.as_array().map(|a| a.iter().collect()).unwrap_or_default() } else { vec![v] })
            .collect();
    }
    found
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => !value.is_null(),
    }
}

/// Every read of `reads` (`[{path, type}]`) is in `body` with its type, and not null.
fn assert_reads_hold(body: &Value, reads: &[Value]) {
    for read in reads {
        let (path, ty) = (read["path"].as_str().unwrap(), read["type"].as_str().unwrap());
        let values = at_path(body, path);
        assert!(!values.is_empty(), "read `{path}` missing from {body}");
        for value in values {
            assert!(has_type(value, ty), "read `{path}` is {value}, not a {ty}, in {body}");
        }
    }
}

#[test]
fn the_orders_consumer_interactions_with_catalog_run_against_its_mock() {
    let contracts = shop_contracts();
    let mock = serve(mock_config(&contracts, "catalog"));
    // The consumer's own plan: what orders sends to catalog and expects back.
    let orders = Plan::from_json(&contracts["contracts/consumers/orders.json"]).unwrap();
    let to_catalog: Vec<_> = orders.interactions.iter().filter(|i| i.provider == "catalog").collect();
    assert!(to_catalog.len() >= 3, "orders' implicit contract and two examples: {to_catalog:#?}");
    for interaction in &to_catalog {
        let request = &interaction.request;
        // The implicit contract's path is the template: a concrete product no example names.
        let path = request.path.replace("{productId}", "5");
        let headers: Vec<(&str, &str)> = request.headers.iter().map(|h| (h.name.as_str(), h.value.as_str())).collect();
        let got = http_request(mock.port(), &request.method, &path, &headers);
        match &interaction.response {
            Some(expected) => {
                assert_eq!(got.status, expected.status, "{}: {}", interaction.id, got.body);
                if let Some(body) = &expected.body {
                    assert_eq!(&got.json(), body, "{}", interaction.id);
                }
            }
            None => {
                assert_eq!(got.status, 200, "{}: {}", interaction.id, got.body);
                let reads: Vec<Value> =
                    interaction.reads.iter().map(|r| json!({ "path": r.path, "type": r.ty.name() })).collect();
                assert_reads_hold(&got.json(), &reads);
            }
        }
    }
    // Recorded as received, with the operation and the answer each got.
    let seen = mock.requests();
    assert_eq!(seen.len(), to_catalog.len());
    let in_stock = seen.iter().find(|r| r.path == "/products/42").expect("the example's request was recorded");
    assert_eq!(in_stock.method, "GET");
    assert_eq!(in_stock.operation.as_deref(), Some("GET /products/{productId}"));
    assert_eq!(
        in_stock.answer,
        AnswerUsed::Canned("orders->catalog GET /products/{productId} #a product in stock".into())
    );
    assert!(in_stock.headers.contains(&("accept".into(), "application/json".into())), "{:?}", in_stock.headers);
    let unknown = seen.iter().find(|r| r.path == "/products/0").unwrap();
    assert_eq!(
        (unknown.status, unknown.answer.clone()),
        (404, AnswerUsed::Canned("orders->catalog GET /products/{productId} #an unknown product".into()))
    );
    // No spec example names product 5: the provider's OpenAPI example answers.
    let other = seen.iter().find(|r| r.path == "/products/5").unwrap();
    assert_eq!(other.answer, AnswerUsed::Canned("catalog GET /products/{productId} #openapi:example".into()));
}

#[test]
fn a_provider_state_header_selects_the_answers_given_that_state() {
    let contracts = shop_contracts();
    let mock = serve(mock_config(&contracts, "catalog"));
    let given = |state: &str| {
        let headers = [("accept", "application/json"), ("x-meshc-given", state)];
        http_request(mock.port(), "GET", "/products/42", &headers).json()
    };
    assert_eq!(given("product 42 exists")["name"], "Espresso cup");
    // Another state: the example given "product 42 exists" is not eligible, the OpenAPI one answers.
    assert_eq!(given("the catalogue is empty")["name"], "Teapot");
}

#[test]
fn requests_no_example_covers_get_answers_generated_from_the_response_schema() {
    let contracts = shop_contracts();
    let mut checked = 0;
    for (service, method, path, body) in [
        ("loyalty", "GET", "/points", ""),
        ("accounts", "GET", "/account", ""),
        ("orders", "GET", "/orders/o-1", ""),
        ("orders", "POST", "/orders", r#"{"items": []}"#),
    ] {
        let config: Value = serde_json::from_str(&contracts[&format!("contracts/mocks/{service}.json")]).unwrap();
        let mock = serve(mock_config(&contracts, service));
        let got =
            http_request_with_body(mock.port(), method, path, &[("content-type", "application/json")], body.as_bytes());
        let operation = config["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| {
                o["method"] == method
                    && (o["path"] == path || path.starts_with("/orders/") && o["path"] == "/orders/{orderId}")
            })
            .unwrap_or_else(|| panic!("{service}: no {method} {path} in {config}"));
        assert_eq!(
            u64::from(got.status),
            operation["status"].as_u64().unwrap(),
            "{service} {method} {path}: {}",
            got.body
        );
        let answer = got.json();
        let schema = &operation["response_schema"];
        let validator = jsonschema::draft4::options().build(schema).unwrap_or_else(|e| panic!("{schema}: {e}"));
        let errors: Vec<String> = validator.iter_errors(&answer).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{service} {method} {path}: {answer} against {schema}: {errors:?}");
        assert_reads_hold(&answer, operation["reads"].as_array().unwrap());
        assert_eq!(mock.requests()[0].answer, AnswerUsed::Generated);
        checked += 1;
    }
    assert_eq!(checked, 4);
    // The loyalty consumer reads `points`: a generated answer holds it, typed.
    let mock = serve(mock_config(&contracts, "loyalty"));
    assert_eq!(http_request(mock.port(), "GET", "/points", &[]).json(), json!({ "points": 1 }));
}

#[test]
fn grpc_operations_answer_from_examples_or_generated_messages() {
    let contracts = shop_contracts();
    let plan = mock_config(&contracts, "inventory");
    let pool = plan.descriptor_pool().unwrap().expect("a descriptor set for gRPC");
    let reads: Vec<Value> = serde_json::from_str::<Value>(&contracts["contracts/mocks/inventory.json"]).unwrap()
        ["operations"][0]["reads"]
        .as_array()
        .unwrap()
        .clone();
    let mock = serve(plan);
    let get_stock = "/shop.inventory.v1.Inventory/GetStock";

    let example = call_unary(&pool, mock.addr(), get_stock, &json!({ "productId": "42" })).unwrap();
    assert_eq!(example, json!({ "available": 7, "productId": "42" }));

    // No example for product 5: every field set, none to its default.
    let generated = call_unary(&pool, mock.addr(), get_stock, &json!({ "productId": "5" })).unwrap();
    assert_reads_hold(&generated, &reads);
    assert_ne!(generated["available"], 0, "{generated}");

    let reserve = call_unary(&pool, mock.addr(), "/shop.inventory.v1.Inventory/Reserve", &json!({})).unwrap();
    assert!(reserve.as_object().is_some_and(|o| !o.is_empty()), "{reserve}");

    let recorded = mock.requests();
    assert_eq!(recorded[0].body, Some(json!({ "productId": "42" })));
    assert_eq!(
        recorded[0].answer,
        AnswerUsed::Canned("catalog->inventory shop.inventory.v1.Inventory/GetStock #stock of a product".into())
    );
    assert_eq!((recorded[1].answer.clone(), recorded[1].status), (AnswerUsed::Generated, 0));
    assert_eq!(recorded[2].operation.as_deref(), Some("shop.inventory.v1.Inventory/Reserve"));
}

#[test]
fn operations_the_mock_does_not_serve_are_refused_naming_what_it_serves() {
    let contracts = shop_contracts();
    let mock = serve(mock_config(&contracts, "catalog"));
    let got = http_request(mock.port(), "DELETE", "/products/42", &[]);
    assert_eq!(got.status, 404);
    assert!(got.body.contains("no operation for DELETE /products/42"), "{}", got.body);
    assert!(got.body.contains("GET /products/{productId}"), "{}", got.body);
    assert_eq!(mock.requests()[0].answer, AnswerUsed::Refused);

    // gRPC and HTTP/1.1 share the port: inventory's mock refuses strangers of both kinds.
    let inventory = serve(mock_config(&contracts, "inventory"));
    let unknown =
        call_unary(&restock_pool(), inventory.addr(), "/shop.inventory.v1.Inventory/Restock", &json!({})).unwrap_err();
    assert_eq!(unknown.code(), Code::Unimplemented, "{unknown:?}");
    assert!(unknown.message().contains("no gRPC method /shop.inventory.v1.Inventory/Restock"), "{unknown:?}");
    assert!(unknown.message().contains("/shop.inventory.v1.Inventory/GetStock"), "{unknown:?}");
    let http = http_request(inventory.port(), "GET", "/stock", &[]);
    assert_eq!(http.status, 404);
    assert!(http.body.contains("no operation for GET /stock"), "{}", http.body);
    assert_eq!(inventory.requests().len(), 2);
}

#[test]
fn the_catalog_mock_passes_its_http_health_check_and_only_http_checks_are_carried() {
    let contracts = shop_contracts();
    // catalog: `health-check "http" path="/healthz" expect-status="200-204"`.
    let catalog = mock_config(&contracts, "catalog");
    assert_eq!(catalog.health.as_ref().map(|h| (h.path.as_str(), h.status)), Some(("/healthz", 200)));
    let mock = serve(catalog);
    let got = http_request(mock.port(), "GET", "/healthz", &[]);
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
    // inventory's check is gRPC's health protocol: its mock carries none.
    assert_eq!(mock_config(&contracts, "inventory").health, None);
}

/// A pool whose Inventory service has a method the shop's does not.
fn restock_pool() -> meshc_runtime::prost_reflect::DescriptorPool {
    let dir = tempfile::tempdir().unwrap();
    let proto = "syntax = \"proto3\"; package shop.inventory.v1;\n\
                 service Inventory { rpc Restock(Empty) returns (Empty); }\nmessage Empty {}\n";
    std::fs::write(dir.path().join("restock.proto"), proto).unwrap();
    let mut compiler = protox::Compiler::new([dir.path()]).unwrap();
    compiler.open_file("restock.proto").unwrap();
    compiler.descriptor_pool()
}
