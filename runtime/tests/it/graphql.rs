//! The GraphQL gateway over real sockets: a REST upstream (a small hyper
//! server that records what arrives), a gRPC upstream (`GrpcMock` over a
//! descriptor set compiled here by protox), and the gateway between them
//! and a plain HTTP/1.1 client.

use crate::support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use meshc_runtime::prost_reflect::DescriptorPool;
use meshc_runtime::{serve_graphql, GraphqlGateway, GraphqlHandle, GrpcMock, MockHandle};
use serde_json::{json, Value};
use support::{
    compile_proto, free_port, http_request_with_body as http, localhost, meshc_runtime, static_cluster, EnvoyProcess,
    HttpResponse, Serving, Upstream, UpstreamRequest,
};
// The gateway's REST backends.

const GET_STOCK: &str = "/shop.inventory.v1.Inventory/GetStock";

const PROTO: &str = r#"
syntax = "proto3";
package shop.inventory.v1;

service Inventory {
  rpc GetStock(GetStockRequest) returns (Stock);
}

message GetStockRequest {
  string sku = 1;
  int32 min_quantity = 2;
}

enum Availability {
  AVAILABILITY_UNSPECIFIED = 0;
  IN_STOCK = 1;
  BACKORDER = 2;
}

message Stock {
  string sku = 1;
  int64 quantity = 2;
  Availability availability = 3;
  bool discontinued = 4;
  repeated string warehouses = 5;
  int64 reserved_units = 6;
}
"#;

const SDL: &str = r#"
type Query {
  product(productId: ID!, currency: String): Product
  stock(sku: String!, minQuantity: Int): Stock!
  search(q: String!): [SearchResult!]
  products(tags: [String!], limit: Int, traceId: String): [Product!]
}

type Mutation {
  createOrder(input: OrderInput!, requestId: String): Order
  addNote(orderId: ID!, text: String!): Order
}

input OrderInput {
  sku: String!
  quantity: Int!
}

type Product {
  id: ID!
  name: String!
  price: Float
  tags: [String!]
}

type Brand {
  name: String!
}

union SearchResult = Product | Brand

enum Availability {
  AVAILABILITY_UNSPECIFIED
  IN_STOCK
  BACKORDER
}

type Stock {
  sku: String!
  quantity: Int!
  availability: Availability!
  discontinued: Boolean!
  warehouses: [String!]!
  reservedUnits: String!
}

type Order {
  id: ID!
  status: String!
  note: String
}
"#;

// ---------------------------------------------------------------------------
// The REST upstream.

/// The catalogue's answers: more fields than the schema asks for.
fn catalogue(hit: &UpstreamRequest) -> (u16, String, Duration) {
    let path = hit.path.split('?').next().unwrap();
    let reply = match path {
        "/products/p1" => json!({ "id": "p1", "name": "Teapot", "price": 12, "tags": ["kitchen"], "internal": "x" }),
        "/products/nameless" => json!({ "id": "nameless", "price": 1.5 }),
        "/products" => json!([{ "id": "p1", "name": "Teapot" }, { "id": "p2", "name": "Cup", "price": 3.25 }]),
        "/search" => json!([
            { "__typename": "Product", "id": "p1", "name": "Teapot" },
            { "__typename": "Brand", "name": "Acme", "founded": 1901 }
        ]),
        "/search-untyped" => json!([{ "name": "Acme" }]),
        "/orders" => json!({ "id": "o1", "status": "placed", "sku": "ignored" }),
        "/orders/o1/notes" => json!({ "id": "o1", "status": "noted", "note": "ring twice" }),
        _ => return (404, json!({ "error": "no such thing", "path": path }).to_string(), Duration::ZERO),
    };
    (200, reply.to_string(), Duration::ZERO)
}

// ---------------------------------------------------------------------------
// The gRPC upstream and the gateway config.

fn descriptor_set() -> (Vec<u8>, DescriptorPool) {
    let compiler = compile_proto("inventory.proto", PROTO);
    (compiler.encode_file_descriptor_set(), compiler.descriptor_pool())
}

fn grpc_mock(delay: Duration) -> MockHandle {
    let (_, pool) = descriptor_set();
    GrpcMock::new(pool)
        .respond(GET_STOCK, json!({ "sku": "{{sku}}", "quantity": 7, "reservedUnits": "9000000000" }))
        .delay(delay)
        .spawn(localhost())
        .unwrap()
}

fn rest(upstream: &str, method: &str, path: &str, path_params: &[&str], query: &[&str]) -> Value {
    json!({
        "upstream": upstream, "method": method, "path": path,
        "path_params": path_params, "query_params": query, "header_params": [], "body": null
    })
}

/// The storefront config: REST fields on `rest`, `stock` on `grpc`.
fn config(rest_upstream: &str, grpc_upstream: &str) -> Value {
    let (bytes, _) = descriptor_set();
    let mut create_order = rest(rest_upstream, "POST", "/orders", &[], &[]);
    create_order["header_params"] = json!(["requestId"]);
    create_order["body"] = json!("input");
    let mut products = rest(rest_upstream, "GET", "/products", &[], &["tags", "limit"]);
    products["header_params"] = json!(["traceId"]);
    json!({
        "service": "storefront",
        "api": "storefront-graphql",
        "sdl": SDL,
        "descriptor_set": base64::engine::general_purpose::STANDARD.encode(bytes),
        "resolvers": {
            "Query.product": { "timeout_ms": 2000, "rest": rest(rest_upstream, "GET", "/products/{productId}", &["productId"], &["currency"]) },
            "Query.stock": { "timeout_ms": 2000, "grpc": { "upstream": grpc_upstream, "method": GET_STOCK } },
            "Query.search": { "rest": rest(rest_upstream, "GET", "/search", &[], &["q"]) },
            "Query.products": { "rest": products },
            "Mutation.createOrder": { "rest": create_order },
            "Mutation.addNote": { "rest": {
                "upstream": rest_upstream, "method": "POST", "path": "/orders/{orderId}/notes",
                "path_params": ["orderId"], "query_params": [], "header_params": [], "body": "text"
            } }
        }
    })
}

fn gateway(config: &Value) -> GraphqlHandle {
    let gateway = GraphqlGateway::from_json(&config.to_string()).unwrap();
    serve_graphql(gateway, localhost()).unwrap()
}

// ---------------------------------------------------------------------------
// Requests.

fn post(port: u16, request: Value) -> HttpResponse {
    http(port, "POST", "/graphql", &[("content-type", "application/json")], request.to_string().as_bytes())
}

fn query(port: u16, query: &str) -> HttpResponse {
    post(port, json!({ "query": query }))
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

// ---------------------------------------------------------------------------

#[test]
fn a_query_joins_rest_and_grpc_data_in_the_selected_shape() {
    let rest = Upstream::start_json("rest", catalogue);
    let mock = grpc_mock(Duration::ZERO);
    let gateway = gateway(&config(&rest.address(), &mock.addr().to_string()));

    let reply = query(
        gateway.port(),
        r#"{
            __typename
            item: product(productId: "p1", currency: "EUR") { __typename id name price }
            stock(sku: "tea-1") { sku quantity availability discontinued warehouses reservedUnits }
        }"#,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({ "data": {
            "__typename": "Query",
            // `tags` and `internal` are not selected; the integer price is a Float.
            "item": { "__typename": "Product", "id": "p1", "name": "Teapot", "price": 12.0 },
            // Default values included; int64 as a string, coerced where the schema says Int.
            "stock": {
                "sku": "tea-1", "quantity": 7, "availability": "AVAILABILITY_UNSPECIFIED",
                "discontinued": false, "warehouses": [], "reservedUnits": "9000000000"
            }
        } })
    );

    let hits = rest.requests();
    assert_eq!(hits.len(), 1);
    assert_eq!((hits[0].method.as_str(), hits[0].path.as_str()), ("GET", "/products/p1?currency=EUR"));
    assert_eq!(hits[0].header("accept"), Some("application/json"));
    assert_eq!(hits[0].text(), "");
    assert_eq!(mock.calls(), vec![(GET_STOCK.to_string(), json!({ "sku": "tea-1" }))]);

    let served = gateway.take_requests();
    assert_eq!(served.len(), 1);
    assert_eq!(served[0].operation.as_deref(), Some("query"));
    assert_eq!(served[0].root_fields, ["product", "stock"]);
    let calls: Vec<_> = served[0]
        .calls
        .iter()
        .map(|c| (c.field.as_str(), c.method.as_str(), c.path.as_str(), c.status.as_deref()))
        .collect();
    assert_eq!(
        calls,
        [
            ("Query.product", "GET", "/products/p1?currency=EUR", Some("200")),
            ("Query.stock", "POST", GET_STOCK, Some("OK"))
        ]
    );
    assert!(gateway.take_requests().is_empty());
}

#[test]
fn arguments_reach_the_rest_upstream_exactly() {
    let rest = Upstream::start_json("rest", catalogue);
    let gateway = gateway(&config(&rest.address(), "127.0.0.1:1"));

    let reply = query(
        gateway.port(),
        r#"{
            a: product(productId: "a b/c?d") { id }
            products(tags: ["tea & co", "x/y"], limit: 2, traceId: "t-1") { id price }
        }"#,
    );
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["data"]["products"], json!([{ "id": "p1", "price": null }, { "id": "p2", "price": 3.25 }]));
    // The product path is unknown upstream: a 404 field error.
    assert_eq!(body["data"]["a"], Value::Null);

    let mut targets: Vec<_> = rest
        .requests()
        .into_iter()
        .map(|h| (h.method.clone(), h.path.clone(), h.header("traceid").map(str::to_string)))
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            ("GET".to_string(), "/products/a%20b%2Fc%3Fd".to_string(), None),
            (
                "GET".to_string(),
                "/products?tags=tea%20%26%20co&tags=x%2Fy&limit=2".to_string(),
                Some("t-1".to_string())
            ),
        ]
    );

    let reply = post(
        gateway.port(),
        json!({
            "query": r#"mutation { createOrder(input: { sku: "tea-1", quantity: 3 }, requestId: "r-9") { id status } }"#
        }),
    );
    assert_eq!(reply.json(), json!({ "data": { "createOrder": { "id": "o1", "status": "placed" } } }));
    let hit = rest.requests().pop().unwrap();
    assert_eq!((hit.method.as_str(), hit.path.as_str()), ("POST", "/orders"));
    assert_eq!(serde_json::from_slice::<Value>(&hit.body).unwrap(), json!({ "sku": "tea-1", "quantity": 3 }));
    assert_eq!(hit.text(), r#"{"sku":"tea-1","quantity":3}"#);
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert_eq!(hit.header("requestid"), Some("r-9"));
    assert_eq!(hit.header("host"), Some(rest.address().as_str()));
    assert_eq!(hit.header("accept"), Some("application/json"));
}

#[test]
fn empty_answers_are_null_and_non_json_answers_are_errors() {
    let rest = Upstream::start_json("rest", |hit| match hit.path.as_str() {
        "/orders" => (204, String::new(), Duration::ZERO),
        _ => (200, "<html>ok</html>".to_string(), Duration::ZERO),
    });
    let gateway = gateway(&config(&rest.address(), "127.0.0.1:1"));
    let body = post(
        gateway.port(),
        json!({ "query": r#"mutation {
            createOrder(input: { sku: "s", quantity: 1 }) { id }
            addNote(orderId: "o1", text: "t") { id }
        }"# }),
    )
    .json();
    assert_eq!(body["data"], json!({ "createOrder": null, "addNote": null }));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], json!(["addNote"]));
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("POST /orders/o1/notes: HTTP 200 OK: the body is not JSON")
            && message.contains("<html>ok</html>"),
        "{message}"
    );
}

#[test]
fn host_names_are_resolved_when_called() {
    let rest = Upstream::start_json("rest", catalogue);
    let mock = grpc_mock(Duration::ZERO);
    let config = config(&format!("localhost:{}", rest.port()), &format!("localhost:{}", mock.port()));
    let gateway = gateway(&config);
    let reply = query(gateway.port(), r#"{ product(productId: "p1") { name } stock(sku: "s") { sku } }"#);
    assert_eq!(reply.json(), json!({ "data": { "product": { "name": "Teapot" }, "stock": { "sku": "s" } } }));
    assert_eq!(rest.requests()[0].header("host"), Some(&*format!("localhost:{}", rest.port())));
}

#[test]
fn a_query_calls_its_upstreams_concurrently() {
    const DELAY: Duration = Duration::from_millis(300);
    let rest = Upstream::start_json("rest", |hit| {
        let (status, body, _) = catalogue(hit);
        (status, body, DELAY)
    });
    let mock = grpc_mock(DELAY);
    let gateway = gateway(&config(&rest.address(), &mock.addr().to_string()));

    // The mock records a call when it arrives; note when that happens.
    let grpc_arrived = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if !mock.calls().is_empty() {
                    return Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            None
        });
        let reply = query(gateway.port(), r#"{ product(productId: "p1") { name } stock(sku: "s") { sku } }"#);
        assert_eq!(reply.json(), json!({ "data": { "product": { "name": "Teapot" }, "stock": { "sku": "s" } } }));
        watcher.join().unwrap().expect("the gRPC call arrived")
    });
    let hit = rest.requests().pop().unwrap();
    let rest_answered = hit.answered.unwrap();
    // Both arrived before either answered: each upstream answers DELAY after
    // its request arrived (the watcher notes the gRPC arrival late by at
    // most a few ms, which only makes this stricter on one side).
    assert!(grpc_arrived < rest_answered, "the gRPC call arrived after the REST call was answered");
    assert!(
        hit.arrived < grpc_arrived + DELAY - Duration::from_millis(20),
        "the REST call arrived {:?} after the gRPC call, which was answered by then",
        hit.arrived.saturating_duration_since(grpc_arrived)
    );

    // The gateway's own record agrees.
    let served = gateway.take_requests();
    let [a, b] = &served[0].calls[..] else { panic!("{:?}", served[0].calls) };
    assert!(a.started < b.started + b.duration && b.started < a.started + a.duration, "{a:?} {b:?}");
}

#[test]
fn a_mutation_calls_its_upstreams_in_order() {
    let rest = Upstream::start_json("rest", |hit| {
        let (status, body, _) = catalogue(hit);
        // The first field is slow: the second must still wait for it.
        let delay = if hit.path == "/orders" { Duration::from_millis(200) } else { Duration::ZERO };
        (status, body, delay)
    });
    let gateway = gateway(&config(&rest.address(), "127.0.0.1:1"));
    let reply = post(
        gateway.port(),
        json!({ "query": r#"mutation Place {
            placed: createOrder(input: { sku: "s", quantity: 1 }) { id status }
            addNote(orderId: "o1", text: "ring twice") { status note }
        }"# }),
    );
    assert_eq!(
        reply.json(),
        json!({ "data": {
            "placed": { "id": "o1", "status": "placed" },
            "addNote": { "status": "noted", "note": "ring twice" }
        } })
    );
    let hits = rest.requests();
    assert_eq!(hits.iter().map(|h| h.path.as_str()).collect::<Vec<_>>(), ["/orders", "/orders/o1/notes"]);
    assert!(hits[1].arrived >= hits[0].answered.unwrap(), "addNote was called before createOrder was answered");
    assert_eq!(hits[1].text(), r#""ring twice""#);

    let served = gateway.take_requests();
    assert_eq!(served[0].operation.as_deref(), Some("mutation"));
    assert_eq!(served[0].operation_name.as_deref(), Some("Place"));
    assert_eq!(served[0].root_fields, ["createOrder", "addNote"]);
}

#[test]
fn an_upstream_error_is_a_field_error_and_other_fields_stay() {
    let rest = Upstream::start_json("rest", |hit| {
        if hit.path.starts_with("/products/p1") {
            (500, r#"{"error": "database on fire"}"#.to_string(), Duration::ZERO)
        } else {
            catalogue(hit)
        }
    });
    let mock = grpc_mock(Duration::ZERO);
    let gateway = gateway(&config(&rest.address(), &mock.addr().to_string()));
    let reply = query(gateway.port(), r#"{ product(productId: "p1") { name } stock(sku: "s") { sku } }"#);
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["data"], json!({ "product": null, "stock": { "sku": "s" } }));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], json!(["product"]));
    assert_eq!(errors[0]["locations"], json!([{ "line": 1, "column": 3 }]));
    let message = errors[0]["message"].as_str().unwrap();
    for part in [rest.address().as_str(), "GET", "/products/p1", "500", "database on fire"] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
    let served = gateway.take_requests();
    assert_eq!(served[0].calls[0].status.as_deref(), Some("500"));
    assert_eq!(served[0].calls[0].error.as_deref(), Some(message.trim_start_matches("resolver error: ")));
}

#[test]
fn field_errors_propagate_to_the_nearest_nullable_field() {
    let rest = Upstream::start_json("rest", catalogue);
    // No template for GetStock: the mock answers UNIMPLEMENTED.
    let (_, pool) = descriptor_set();
    let mock = GrpcMock::new(pool).spawn(localhost()).unwrap();
    let gateway = gateway(&config(&rest.address(), &mock.addr().to_string()));

    // `stock: Stock!` fails: null propagates to `data`.
    let body = query(gateway.port(), r#"{ product(productId: "p1") { name } stock(sku: "s") { sku } }"#).json();
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["errors"][0]["path"], json!(["stock"]));
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("UNIMPLEMENTED") && message.contains(GET_STOCK), "{message}");

    // `Product.name: String!` is missing: `product` (nullable) becomes null.
    let body = query(gateway.port(), r#"{ product(productId: "nameless") { id name } }"#).json();
    assert_eq!(body["data"], json!({ "product": null }));
    assert_eq!(body["errors"][0]["path"], json!(["product", "name"]));
}

#[test]
fn interfaces_and_unions_take_their_type_from_typename() {
    let rest = Upstream::start_json("rest", |hit| {
        if hit.path.starts_with("/search?q=untyped") {
            catalogue(&UpstreamRequest { path: "/search-untyped".into(), ..hit.clone() })
        } else {
            catalogue(hit)
        }
    });
    let gateway = gateway(&config(&rest.address(), "127.0.0.1:1"));
    let body =
        query(gateway.port(), r#"{ search(q: "tea") { __typename ... on Product { id } ... on Brand { name } } }"#)
            .json();
    assert_eq!(
        body,
        json!({ "data": { "search": [{ "__typename": "Product", "id": "p1" }, { "__typename": "Brand", "name": "Acme" }] } })
    );
    // No `__typename`: an error on a non-null item, which nulls the
    // (nullable) list.
    let body = query(gateway.port(), r#"{ search(q: "untyped") { __typename } }"#).json();
    assert_eq!(body["data"], json!({ "search": null }));
    assert_eq!(body["errors"][0]["path"], json!(["search", 0]));
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("__typename"), "{body}");
}

#[test]
fn a_field_selected_twice_with_the_same_arguments_calls_once() {
    let rest = Upstream::start_json("rest", catalogue);
    let gateway = gateway(&config(&rest.address(), "127.0.0.1:1"));
    let body = query(
        gateway.port(),
        r#"{
            a: product(productId: "p1") { name }
            b: product(productId: "p1") { price }
            c: product(productId: "p1", currency: "EUR") { id }
        }"#,
    )
    .json();
    assert_eq!(body, json!({ "data": { "a": { "name": "Teapot" }, "b": { "price": 12.0 }, "c": { "id": "p1" } } }));
    let mut targets: Vec<_> = rest.requests().into_iter().map(|h| h.path).collect();
    targets.sort();
    assert_eq!(targets, ["/products/p1", "/products/p1?currency=EUR"]);
    assert_eq!(gateway.take_requests()[0].root_fields, ["product", "product", "product"]);
}

#[test]
fn variables_in_post_and_get() {
    let rest = Upstream::start_json("rest", catalogue);
    let gateway = gateway(&config(&rest.address(), "127.0.0.1:1"));
    let document = "query Find($id: ID!, $withPrice: Boolean = false) { product(productId: $id) { name price @include(if: $withPrice) } }";

    let reply = post(gateway.port(), json!({ "query": document, "variables": { "id": "p1", "withPrice": true } }));
    assert_eq!(reply.json(), json!({ "data": { "product": { "name": "Teapot", "price": 12.0 } } }));

    let target =
        format!("/graphql?query={}&variables={}&operationName=Find", encode(document), encode(r#"{"id":"p1"}"#));
    let reply = http(gateway.port(), "GET", &target, &[], b"");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({ "data": { "product": { "name": "Teapot" } } }));

    // A required variable missing: a request error.
    let reply = post(gateway.port(), json!({ "query": document }));
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert!(body.get("data").is_none(), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("id"), "{body}");
}

#[test]
fn bad_requests_are_answered_with_graphql_errors() {
    let rest = Upstream::start_json("rest", catalogue);
    let gateway = gateway(&config(&rest.address(), "127.0.0.1:1"));
    let port = gateway.port();

    // Validation: an unknown field, with its location.
    let reply = query(port, "{\n  product(productId: \"p1\") { id nope }\n}");
    assert_eq!(reply.status, 400);
    let body = reply.json();
    assert!(body.get("data").is_none());
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("nope"), "{body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["errors"][0]["locations"], json!([{ "line": 2, "column": 33 }]));

    // Syntax.
    let reply = query(port, "{ product(productId: ");
    assert_eq!(reply.status, 400);
    assert!(reply.json()["errors"][0]["locations"].is_array());

    // Operation selection.
    let two = "query A { search(q: \"x\") { __typename } } query B { search(q: \"y\") { __typename } }";
    let reply = post(port, json!({ "query": two, "operationName": "C" }));
    assert_eq!(reply.status, 400);
    assert!(reply.json()["errors"][0]["message"].as_str().unwrap().contains('C'));
    assert_eq!(post(port, json!({ "query": two })).status, 400);

    // A mutation over GET.
    let target = format!("/graphql?query={}", encode("mutation { addNote(orderId: \"o1\", text: \"t\") { id } }"));
    let reply = http(port, "GET", &target, &[], b"");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    assert!(reply.json()["errors"][0]["message"].as_str().unwrap().contains("POST"));

    // Not JSON, not a request, the wrong media type, too big.
    let reply = http(port, "POST", "/graphql", &[("content-type", "application/json")], b"{ product }");
    assert_eq!(reply.status, 400);
    assert!(reply.json()["errors"][0]["message"].as_str().unwrap().contains("not JSON"));
    assert_eq!(post(port, json!({ "variables": {} })).status, 400);
    let reply = http(port, "POST", "/graphql", &[("content-type", "text/plain")], b"{}");
    assert_eq!(reply.status, 415);
    let big = json!({ "query": format!("{{ search(q: \"{}\") {{ __typename }} }}", "x".repeat(1 << 20)) });
    assert_eq!(post(port, big).status, 413);

    // Other methods and paths.
    assert_eq!(http(port, "PUT", "/graphql", &[], b"").status, 405);
    let reply = http(port, "GET", "/healthz", &[], b"");
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));
    assert_eq!(http(port, "GET", "/graphiql", &[], b"").status, 404);

    // Nothing reached the upstream.
    assert!(rest.requests().is_empty());
    let statuses: Vec<u16> = gateway.take_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 400, 400, 400, 405, 400, 400, 415, 413, 405]);
}

#[test]
fn subscriptions_are_refused() {
    let sdl = "type Query { a: Int } type Subscription { ticks: Int }";
    let config = json!({
        "service": "s", "api": "a", "sdl": sdl,
        "resolvers": { "Query.a": { "rest": rest("127.0.0.1:1", "GET", "/a", &[], &[]) } }
    });
    let gateway = gateway(&config);
    let reply = query(gateway.port(), "subscription { ticks }");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["errors"][0]["message"], "subscriptions are not served");
}

#[test]
fn introspection_is_on_unless_configured_off() {
    let mut config = config("127.0.0.1:1", "127.0.0.1:1");
    let handle = gateway(&config);
    let body = query(handle.port(), "{ __schema { queryType { name } } __type(name: \"Stock\") { kind } }").json();
    assert_eq!(
        body,
        json!({ "data": { "__schema": { "queryType": { "name": "Query" } }, "__type": { "kind": "OBJECT" } } })
    );
    drop(handle);

    config["introspection"] = json!(false);
    let handle = gateway(&config);
    let body = query(handle.port(), "{ __schema { queryType { name } } }").json();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("introspection is disabled"), "{body}");
}

#[test]
fn timeouts_and_unreachable_upstreams_are_field_errors() {
    let rest = Upstream::start_json("rest", |hit| {
        let (status, body, _) = catalogue(hit);
        (status, body, Duration::from_millis(1500))
    });
    let mock = grpc_mock(Duration::from_millis(1500));
    let mut config = config(&rest.address(), &mock.addr().to_string());
    config["resolvers"]["Query.product"]["timeout_ms"] = json!(100);
    config["resolvers"]["Query.stock"]["timeout_ms"] = json!(100);
    config["resolvers"]["Query.search"]["rest"]["upstream"] = json!("127.0.0.1:1");
    let gateway = gateway(&config);

    let body = query(gateway.port(), r#"{ product(productId: "p1") { id } search(q: "x") { __typename } }"#).json();
    assert_eq!(body["data"], json!({ "product": null, "search": null }));
    let messages: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert!(messages[0].contains("/products/p1: no answer within 100 ms"), "{messages:?}");
    assert!(messages[1].contains("127.0.0.1:1 GET /search?q=x") && messages[1].contains("onnect"), "{messages:?}");

    let body = query(gateway.port(), r#"{ stock(sku: "s") { sku } }"#).json();
    assert_eq!(body["data"], Value::Null);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("no answer within 100 ms"), "{body}");
}

#[test]
fn config_errors_say_what_is_wrong() {
    let good = config("127.0.0.1:8081", "127.0.0.1:50051");
    assert!(GraphqlGateway::from_json(&good.to_string()).is_ok());
    let gateway = GraphqlGateway::from_json(&good.to_string()).unwrap();
    assert_eq!((gateway.service(), gateway.api()), ("storefront", "storefront-graphql"));
    assert_eq!(
        gateway.fields(),
        ["Query.product", "Query.products", "Query.search", "Query.stock", "Mutation.addNote", "Mutation.createOrder"]
    );

    let error = |edit: &dyn Fn(&mut Value)| {
        let mut config = good.clone();
        edit(&mut config);
        GraphqlGateway::from_json(&config.to_string()).unwrap_err()
    };
    let has = |message: String, parts: &[&str]| {
        for part in parts {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
    };

    has(GraphqlGateway::from_json("{").unwrap_err(), &["not JSON"]);
    has(
        error(&|c| {
            let r = c["resolvers"]["Query.product"].clone();
            c["resolvers"]["Query.prodcut"] = r;
        }),
        &["Query.prodcut", "no field `prodcut`", "product"],
    );
    has(
        error(&|c| {
            c["resolvers"].as_object_mut().unwrap().remove("Query.stock");
            c["resolvers"].as_object_mut().unwrap().remove("Mutation.addNote");
        }),
        &["no resolver", "Query.stock", "Mutation.addNote"],
    );
    has(error(&|c| c["sdl"] = json!("type Query { a: Nope }")), &["not a valid GraphQL schema", "sdl:1:", "Nope"]);
    has(error(&|c| c["descriptor_set"] = json!("not base64!")), &["descriptor_set", "base64"]);
    has(
        error(&|c| c["descriptor_set"] = json!(base64::engine::general_purpose::STANDARD.encode(b"\xff\xff\xff"))),
        &["descriptor_set", "not a usable FileDescriptorSet"],
    );
    has(
        error(&|c| {
            c.as_object_mut().unwrap().remove("descriptor_set");
        }),
        &["Query.stock", "descriptor_set", "absent"],
    );
    has(
        error(&|c| c["resolvers"]["Query.stock"]["grpc"]["method"] = json!("/shop.inventory.v1.Inventory/GetStok")),
        &["Query.stock", "no method `GetStok`", "GetStock"],
    );
    has(
        error(&|c| c["resolvers"]["Query.product"]["rest"]["path"] = json!("/products/{id}")),
        &["Query.product", "productId", "/products/{id}"],
    );
    has(
        error(&|c| c["resolvers"]["Query.product"]["rest"]["query_params"] = json!(["currency", "sort"])),
        &["Query.product", "query parameter `sort` is no argument", "currency"],
    );
    has(
        error(&|c| c["resolvers"]["Query.product"]["rest"]["upstream"] = json!("localhost")),
        &["Query.product", "`upstream` \"localhost\" is not `host:port`"],
    );
    has(error(&|c| c["resolvers"]["Query.product"]["timeout_ms"] = json!(0)), &["timeout_ms"]);
    has(
        error(&|c| c["resolvers"]["Query.product"]["grpc"] = json!({ "upstream": "a:1", "method": GET_STOCK })),
        &["exactly one of `rest` and `grpc`"],
    );
    has(error(&|c| c["resolvers"]["Subscription.ticks"] = json!({})), &["subscriptions are not served"]);
    has(error(&|c| c["introspecton"] = json!(false)), &["unknown field `introspecton`", "`introspection`"]);
    has(
        error(&|c| c["resolvers"]["Query.product"]["rest"]["timeout"] = json!(5)),
        &["`resolvers.Query.product.rest.timeout`: unknown field `timeout`"],
    );
    has(
        error(&|c| c["resolvers"]["Query.stock"]["grpc"]["method"] = json!(7)),
        &["`resolvers.Query.stock.grpc.method`"],
    );
    has(error(&|c| c["resolvers"]["Query.stock"] = json!([])), &["expected an object with `rest` or `grpc`"]);
    has(
        error(&|c| {
            c["sdl"] =
                json!(SDL.replace("stock(sku: String!, minQuantity: Int)", "stock(sku: String!, warehouse: Int)"))
        }),
        &["Query.stock", "argument `warehouse`", "shop.inventory.v1.GetStockRequest", "minQuantity"],
    );
}

// ---------------------------------------------------------------------------
// The command.

#[test]
fn the_command_serves_a_config_file() {
    let rest = Upstream::start_json("rest", catalogue);
    let mock = grpc_mock(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("storefront-storefront-graphql.json");
    std::fs::write(&path, config(&rest.address(), &mock.addr().to_string()).to_string()).unwrap();

    let mut server =
        Serving::start(meshc_runtime().args(["graphql", "--config"]).arg(&path).args(["--listen", "127.0.0.1:0"]));

    let reply = query(server.addr.port(), r#"{ product(productId: "p1") { name } stock(sku: "s") { quantity } }"#);
    assert_eq!(reply.json(), json!({ "data": { "product": { "name": "Teapot" }, "stock": { "quantity": 7 } } }));
    let logged = server.next_json();
    assert_eq!(logged["method"], "POST");
    assert_eq!(logged["status"], 200);
    assert_eq!(logged["operation"], "query");
    assert_eq!(logged["fields"], json!(["product", "stock"]));
    assert_eq!(logged["errors"], json!([]));
    let calls = logged["calls"].as_array().unwrap();
    assert_eq!(calls[0]["path"], "/products/p1");
    assert_eq!(calls[0]["status"], "200");
    assert_eq!(calls[1]["method"], "POST");
    assert_eq!(calls[1]["path"], GET_STOCK);
    assert_eq!(calls[1]["status"], "OK");
    assert!(calls[1]["ms"].is_number());
    drop(server);

    // A bad config exits 1 with the reason.
    let mut bad = config(&rest.address(), &mock.addr().to_string());
    bad["resolvers"].as_object_mut().unwrap().remove("Query.search");
    std::fs::write(&path, bad.to_string()).unwrap();
    let out = meshc_runtime().args(["graphql", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Query.search") && stderr.contains(&*path.to_string_lossy()), "{stderr}");
}

// ---------------------------------------------------------------------------
// Behind the real Envoy.

/// listener → router → the gateway (HTTP/1.1), `/graphql` only.
fn bootstrap(listen: u16, gateway: u16) -> String {
    format!(
        r#"static_resources:
  listeners:
  - name: public
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {listen} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: public
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ path: "/graphql" }}
                route: {{ cluster: graphql, timeout: 5s }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:{}
"#,
        static_cluster("graphql", gateway)
    )
}

#[test]
fn envoy_routes_graphql_requests_to_the_gateway() {
    let rest = Upstream::start_json("rest", catalogue);
    let mock = grpc_mock(Duration::ZERO);
    let gateway = gateway(&config(&rest.address(), &mock.addr().to_string()));
    let port = free_port();
    let envoy = EnvoyProcess::serve(&bootstrap(port, gateway.port()), port);

    let reply = query(port, r#"{ product(productId: "p1") { name } stock(sku: "s") { sku quantity } }"#);
    assert_eq!(reply.status, 200, "{}", envoy.log());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({ "data": { "product": { "name": "Teapot" }, "stock": { "sku": "s", "quantity": 7 } } })
    );

    let target = format!("/graphql?query={}", encode(r#"{ search(q: "tea") { ... on Brand { name } } }"#));
    let reply = http(port, "GET", &target, &[], b"");
    assert_eq!(reply.json(), json!({ "data": { "search": [{}, { "name": "Acme" }] } }));

    // Request errors keep their status and body through Envoy.
    let reply = query(port, "{ nope }");
    assert_eq!(reply.status, 400);
    assert!(reply.json()["errors"][0]["locations"].is_array());
    let target = format!("/graphql?query={}", encode(r#"mutation { addNote(orderId: "o1", text: "t") { id } }"#));
    let reply = http(port, "GET", &target, &[], b"");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));

    let served = gateway.take_requests();
    assert_eq!(served.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 200, 400, 405]);
    assert_eq!(served[0].calls.len(), 2);
}
