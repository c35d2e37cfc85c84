//! The Envoy gateway backend against the real Envoy: every emitted bootstrap
//! passes `envoy --mode validate`, and live Envoys built from a spec route
//! requests to the right upstreams and answer with the spec's error bodies.

use crate::support;

use std::path::{Path, PathBuf};

use support::{dead_port, envoy_validate, free_port, http_request, repo_root, write_files, EnvoyProcess, Upstream};

/// Builds `workspace` in memory and writes its artifacts under `out`.
fn build(workspace: &Path, out: &Path) -> Vec<PathBuf> {
    support::build_workspace(workspace, out)
}

/// The gateway bootstrap among a build's files (other backends' files sort before it).
fn gateway_config(configs: &[PathBuf]) -> &Path {
    configs.iter().find(|p| p.to_string_lossy().contains("envoy/gateway-")).expect("a gateway bootstrap")
}

/// Writes `files` and the spec `spec(grpc_port)` into `dir`, compiles once
/// for the descriptors of the first schema, serves them from a gRPC mock
/// answering `responses`, then builds the spec for the mock's port and
/// starts Envoy with the validated gateway bootstrap, ready on `port`.
fn start_grpc_behind_gateway(
    dir: &Path,
    port: u16,
    spec: impl Fn(u16) -> String,
    files: &[(&str, &str)],
    responses: &[(&str, serde_json::Value)],
) -> (meshc_runtime::MockHandle, EnvoyProcess) {
    write_files(dir, files);
    write_files(dir, &[("mesh.kdl", &spec(1))]);
    let compilation = meshc::driver::compile(dir);
    assert!(compilation.diagnostics.is_empty(), "{:?}", compilation.diagnostics);
    let model = compilation.model.as_ref().expect("the spec loads");
    let schema = model.schema_ids().next().expect("the spec names a schema");
    let mut mock =
        meshc_runtime::GrpcMock::from_descriptor_set(&compilation.schemas.descriptor_set(&[schema])).unwrap();
    for (method, template) in responses {
        mock = mock.respond(method, template.clone());
    }
    let grpc = mock.spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    write_files(dir, &[("mesh.kdl", &spec(grpc.port()))]);
    let configs = build(dir, &dir.join("out"));
    envoy_validate(gateway_config(&configs)).unwrap();
    let envoy = EnvoyProcess::start(gateway_config(&configs));
    envoy.wait_ready(port);
    (grpc, envoy)
}

#[test]
fn every_example_gateway_passes_envoy_validate() {
    let out = tempfile::tempdir().unwrap();
    let mut validated = 0;
    for example in ["examples/shop", "examples/online-boutique", "tests/fixtures/cli/unowned"] {
        let dir = out.path().join(example.replace('/', "_"));
        for path in build(&repo_root().join(example), &dir) {
            if path.to_string_lossy().contains("/envoy/") {
                envoy_validate(&path).unwrap_or_else(|e| panic!("{} is rejected by Envoy:\n{e}", path.display()));
                validated += 1;
            }
        }
    }
    // shop: public; online-boutique: frontend gateway.
    assert!(validated >= 2, "validated only {validated} bootstraps");
}

/// A shop-like spec whose services listen on the given local ports.
fn live_spec(listener: u16, catalog: u16, orders: u16, dead: u16, text_listener: u16) -> String {
    format!(
        r#"
mesh "live"

service "catalog" {{
    owner "team-catalog"
    address "127.0.0.1" port={catalog}
    api "catalog-http" kind="rest" schema="catalog.yaml"
}}
service "orders" {{
    owner "team-orders"
    address "127.0.0.1" port={orders}
}}
service "billing" {{
    owner "team-billing"
    address "127.0.0.1" port={dead}
}}

gateway "edge" {{
    listener "http" address="127.0.0.1" port={listener}
    error-format "json" {{
        status 404 message="no such endpoint"
        status 503 message="the shop is temporarily unavailable"
    }}
    route "list-products" {{
        match path="/products" method="GET"
        to "catalog" operation="GET /products"
        timeout "2s"
    }}
    route "place-order" {{
        match path="/orders" method="POST" {{
            header "content-type" prefix="application/json"
        }}
        to "orders"
        timeout "2s"
    }}
    route "invoices" {{
        match path-prefix="/invoices/"
        to "billing"
        error-format {{
            status 503 message="billing is down; try again later"
        }}
    }}
    route "legacy" {{
        match path-prefix="/legacy/"
        to "billing"
    }}
}}

gateway "internal" {{
    listener "http" address="127.0.0.1" port={text_listener}
    error-format "text" {{
        status 404 message="nothing here"
    }}
    route "catalog" {{
        match path-prefix="/products"
        to "catalog"
    }}
}}
"#
    )
}

const CATALOG_OPENAPI: &str = r#"openapi: 3.0.3
info: { title: Catalog, version: "1" }
paths:
  /products:
    get:
      responses:
        "200": { description: All products. }
"#;

struct LiveMesh {
    _dir: tempfile::TempDir,
    catalog: Upstream,
    orders: Upstream,
    edge_port: u16,
    internal_port: u16,
    _edge: EnvoyProcess,
    _internal: EnvoyProcess,
}

fn start_live_mesh() -> LiveMesh {
    let catalog = Upstream::start("catalog");
    let orders = Upstream::start("orders");
    let (edge_port, internal_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let spec = live_spec(edge_port, catalog.port(), orders.port(), dead_port(), internal_port);
    write_files(dir.path(), &[("mesh.kdl", &spec), ("catalog.yaml", CATALOG_OPENAPI)]);
    let configs = build(dir.path(), &dir.path().join("out"));
    let config = |name: &str| configs.iter().find(|p| p.ends_with(name)).unwrap().clone();
    let edge = EnvoyProcess::start(&config("gateway-edge.yaml"));
    let internal = EnvoyProcess::start(&config("gateway-internal.yaml"));
    edge.wait_ready(edge_port);
    internal.wait_ready(internal_port);
    LiveMesh { _dir: dir, catalog, orders, edge_port, internal_port, _edge: edge, _internal: internal }
}

fn json_body(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"))
}

#[test]
fn live_gateway_routes_requests_and_renders_declared_error_bodies() {
    let mesh = start_live_mesh();

    // Each route reaches its upstream, with the path intact.
    let products = http_request(mesh.edge_port, "GET", "/products", &[]);
    assert_eq!(products.status, 200, "{}", products.body);
    assert_eq!(products.header("x-upstream"), Some("catalog"));
    assert_eq!(products.body, "catalog GET /products");

    let order = http_request(mesh.edge_port, "POST", "/orders", &[("content-type", "application/json")]);
    assert_eq!(order.status, 200, "{}", order.body);
    assert_eq!(order.header("x-upstream"), Some("orders"));
    assert_eq!(mesh.catalog.hits(), 1);
    assert_eq!(mesh.orders.hits(), 1);

    // Method and header matchers are enforced: these match no route.
    for (method, path, headers) in [
        ("DELETE", "/products", vec![]),
        ("POST", "/orders", vec![("content-type", "text/plain")]),
        ("GET", "/nowhere", vec![]),
    ] {
        let miss = http_request(mesh.edge_port, method, path, &headers);
        assert_eq!(miss.status, 404, "{method} {path}");
        assert_eq!(miss.header("content-type"), Some("application/json"));
        let body = json_body(&miss.body);
        assert_eq!(body["status"], 404);
        assert_eq!(body["error"], "no such endpoint");
        assert_eq!(body["gateway"], "edge");
        assert!(body.get("route").is_none());
    }
    assert_eq!(mesh.catalog.hits(), 1, "unmatched requests never reach an upstream");
    assert_eq!(mesh.orders.hits(), 1);

    // A dead upstream gets the gateway's 503 body...
    let legacy = http_request(mesh.edge_port, "GET", "/legacy/report", &[]);
    assert_eq!(legacy.status, 503);
    let body = json_body(&legacy.body);
    assert_eq!(body["status"], 503);
    assert_eq!(body["error"], "the shop is temporarily unavailable");
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{body}");

    // ...unless its route declares its own.
    let invoice = http_request(mesh.edge_port, "GET", "/invoices/42", &[]);
    assert_eq!(invoice.status, 503);
    let body = json_body(&invoice.body);
    assert_eq!(body["error"], "billing is down; try again later");
    assert_eq!(body["route"], "invoices");
}

#[test]
fn live_gateway_with_text_error_format_answers_in_plain_text() {
    let mesh = start_live_mesh();
    let ok = http_request(mesh.internal_port, "GET", "/products", &[]);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-upstream"), Some("catalog"));
    let miss = http_request(mesh.internal_port, "GET", "/admin", &[]);
    assert_eq!(miss.status, 404);
    assert!(miss.header("content-type").is_some_and(|c| c.starts_with("text/plain")), "{:?}", miss.headers);
    assert_eq!(miss.body, "404 nothing here\n");
    // The default 503 message, in the gateway's text format, once the upstream is gone.
    drop(mesh.catalog);
    let down = http_request(mesh.internal_port, "GET", "/products", &[]);
    assert_eq!(down.status, 503);
    assert!(down.header("content-type").is_some_and(|c| c.starts_with("text/plain")), "{:?}", down.headers);
    assert_eq!(down.body, "503 the upstream service is unavailable\n");
}

/// A gateway with a cached route and a route that rewrites response headers.
fn transform_spec(listener: u16, catalog: u16) -> String {
    format!(
        r#"
service "catalog" {{
    owner "team-catalog"
    address "127.0.0.1" port={catalog}
}}
gateway "edge" {{
    listener "http" address="127.0.0.1" port={listener}
    route "cached" {{
        match path-prefix="/cached/" method="GET"
        to "catalog"
        cache ttl="60s"
    }}
    route "rewritten" {{
        match path-prefix="/rewritten/"
        to "catalog"
        response {{
            remove-header "server"
            rename-header "x-upstream" to="x-backend"
            set-header "x-served-by" "edge 100%"
        }}
    }}
    route "plain" {{
        match path-prefix="/plain/"
        to "catalog"
    }}
}}
"#
    )
}

fn start_transform_mesh() -> (tempfile::TempDir, Upstream, u16, EnvoyProcess) {
    // An origin that sends no `date`: the gateway must still cache by the spec's TTL.
    let catalog = Upstream::start_without_date("catalog");
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", &transform_spec(port, catalog.port()))]);
    let configs = build(dir.path(), &dir.path().join("out"));
    envoy_validate(gateway_config(&configs)).unwrap();
    let envoy = EnvoyProcess::start(gateway_config(&configs));
    envoy.wait_ready(port);
    (dir, catalog, port, envoy)
}

#[test]
fn live_gateway_serves_the_second_request_of_a_cached_route_from_its_cache() {
    let (_dir, catalog, port, _envoy) = start_transform_mesh();
    let first = http_request(port, "GET", "/cached/item", &[]);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("cache-control"), Some("public, max-age=60"), "{:?}", first.headers);
    let second = http_request(port, "GET", "/cached/item", &[]);
    assert_eq!(second.status, 200);
    assert_eq!(second.body, first.body);
    assert_eq!(catalog.hits(), 1, "the second request must not reach the upstream");
    assert!(second.header("age").is_some(), "a cache hit carries an age header: {:?}", second.headers);

    // Routes without `cache` are never cached.
    http_request(port, "GET", "/plain/item", &[]);
    http_request(port, "GET", "/plain/item", &[]);
    assert_eq!(catalog.hits(), 3);
}

#[test]
fn live_gateway_applies_response_header_transforms_in_order() {
    let (_dir, catalog, port, _envoy) = start_transform_mesh();
    let rewritten = http_request(port, "GET", "/rewritten/x", &[]);
    assert_eq!(rewritten.status, 200);
    assert_eq!(rewritten.header("x-backend"), Some("catalog"), "renamed: {:?}", rewritten.headers);
    assert_eq!(rewritten.header("x-upstream"), None);
    assert_eq!(rewritten.header("x-served-by"), Some("edge 100%"));
    assert_eq!(rewritten.header("server"), None, "{:?}", rewritten.headers);

    let plain = http_request(port, "GET", "/plain/x", &[]);
    assert_eq!(plain.header("x-upstream"), Some("catalog"));
    assert_eq!(plain.header("x-served-by"), None);
    assert_eq!(catalog.hits(), 2);
}

const PAYMENTS_PROTO: &str = r#"syntax = "proto3";
package shop.payments.v1;
import "google/api/annotations.proto";
service Payments {
  rpc Charge(ChargeRequest) returns (ChargeResponse) {
    option (google.api.http) = { post: "/v1/charges" body: "*" };
  }
  rpc GetCharge(GetChargeRequest) returns (ChargeResponse) {
    option (google.api.http) = { get: "/v1/charges/{transaction_id}" };
  }
}
message ChargeRequest { string order_id = 1; int64 amount_cents = 2; }
message GetChargeRequest { string transaction_id = 1; }
message ChargeResponse { string transaction_id = 1; int64 amount_cents = 2; string status = 3; }
"#;

#[test]
fn live_gateway_transcodes_rest_json_to_a_real_grpc_server() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // The spec points at the real google/api protos of the corpora.
    let google_apis = repo_root().join("../shared/corpora/protos");
    assert!(google_apis.join("google/api/annotations.proto").exists(), "missing {}", google_apis.display());
    let spec = |grpc_port: u16| {
        format!(
            r#"
proto-include "{includes}"
service "payments" {{
    owner "team-payments"
    address "127.0.0.1" port={grpc_port}
    api "payments-grpc" kind="grpc" schema="payments.proto"
}}
gateway "edge" {{
    listener "http" address="127.0.0.1" port={port}
    route "charge" {{
        match path="/v1/charges" method="POST"
        to "payments" operation="shop.payments.v1.Payments/Charge"
        transcode
        timeout "5s"
    }}
    route "get-charge" {{
        match path-prefix="/v1/charges/" method="GET"
        to "payments" operation="shop.payments.v1.Payments/GetCharge"
        transcode
    }}
}}
"#,
            includes = google_apis.display()
        )
    };
    let (grpc, _envoy) = start_grpc_behind_gateway(
        dir.path(),
        port,
        spec,
        &[("payments.proto", PAYMENTS_PROTO)],
        &[
            (
                "/shop.payments.v1.Payments/Charge",
                serde_json::json!({ "transactionId": "tx-{{orderId}}", "amountCents": "{{amountCents}}", "status": "charged" }),
            ),
            (
                "/shop.payments.v1.Payments/GetCharge",
                serde_json::json!({ "transactionId": "{{transactionId}}", "status": "settled" }),
            ),
        ],
    );

    let body = r#"{"order_id": "o-17", "amount_cents": 2599}"#;
    let charged = support::http_request_with_body(
        port,
        "POST",
        "/v1/charges",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(charged.status, 200, "{}", charged.body);
    assert!(charged.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{:?}", charged.headers);
    let json = json_body(&charged.body);
    assert_eq!(json["transaction_id"], "tx-o-17");
    assert_eq!(json["status"], "charged");
    assert_eq!(json["amount_cents"], "2599", "int64 is a JSON string in the protobuf mapping");

    // A path variable binds a request field.
    let fetched = http_request(port, "GET", "/v1/charges/tx-9", &[]);
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(json_body(&fetched.body)["transaction_id"], "tx-9");

    let calls = grpc.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].0, "/shop.payments.v1.Payments/Charge");
    assert_eq!(calls[0].1["orderId"], "o-17");
    assert_eq!(calls[1].0, "/shop.payments.v1.Payments/GetCharge");
    assert_eq!(calls[1].1["transactionId"], "tx-9");
}

const ORDERS_OPENAPI: &str = r##"openapi: 3.0.3
info: { title: Orders, version: "1" }
paths:
  /orders:
    post:
      parameters:
        - { name: dry-run, in: query, required: false, schema: { type: boolean } }
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/NewOrder" }
      responses:
        "201": { description: Placed. }
components:
  schemas:
    NewOrder:
      type: object
      required: [items]
      properties:
        items:
          type: array
          minItems: 1
          items:
            type: object
            required: [product_id, quantity]
            properties:
              product_id: { type: string }
              quantity: { type: integer, minimum: 1 }
"##;

#[test]
fn live_gateway_rejects_requests_that_violate_the_openapi_operation() {
    let orders = Upstream::start("orders");
    let (port, validator_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        r#"
service "orders" {{
    owner "team-orders"
    address "127.0.0.1" port={orders}
    api "orders-http" kind="rest" schema="orders.yaml"
}}
gateway "edge" {{
    listener "http" address="127.0.0.1" port={port}
    validator address="127.0.0.1" port={validator_port}
    error-format "json" {{
        status 400 message="the order is malformed"
    }}
    route "place-order" {{
        match path="/orders" method="POST"
        to "orders" operation="POST /orders"
        validate
    }}
    route "unchecked" {{
        match path-prefix="/raw/"
        to "orders"
    }}
}}
"#,
        orders = orders.port()
    );
    write_files(dir.path(), &[("mesh.kdl", &spec), ("orders.yaml", ORDERS_OPENAPI)]);
    let artifacts = build(dir.path(), &dir.path().join("out"));
    let config = artifacts.iter().find(|p| p.ends_with("gateway-edge.yaml")).unwrap();
    let rules = artifacts.iter().find(|p| p.ends_with("validation/gateway-edge.json")).unwrap();
    let validator = meshc_runtime::Validator::from_json(&std::fs::read_to_string(rules).unwrap()).unwrap();
    let _validator =
        meshc_runtime::serve_validator(validator, format!("127.0.0.1:{validator_port}").parse().unwrap()).unwrap();
    envoy_validate(config).unwrap();
    let envoy = EnvoyProcess::start(config);
    envoy.wait_ready(port);
    let post = |path: &str, body: &str| {
        support::http_request_with_body(port, "POST", path, &[("content-type", "application/json")], body.as_bytes())
    };

    let valid = post("/orders?dry-run=true", r#"{"items": [{"product_id": "p1", "quantity": 2}]}"#);
    assert_eq!(valid.status, 200, "{}", valid.body);
    assert_eq!(orders.hits(), 1);

    for (path, body, detail) in [
        ("/orders", r#"{"items": [{"product_id": "p1", "quantity": 0}]}"#, "quantity"),
        ("/orders", r#"{"items": []}"#, "items"),
        ("/orders", r#"{"items": [{"product_id": "p1""#, "JSON"),
        ("/orders?dry-run=maybe", r#"{"items": [{"product_id": "p1", "quantity": 1}]}"#, "dry-run"),
    ] {
        let rejected = post(path, body);
        assert_eq!(rejected.status, 400, "{path} {body}: {}", rejected.body);
        let json = json_body(&rejected.body);
        assert_eq!(json["error"], "the order is malformed");
        assert_eq!(json["route"], "place-order");
        assert!(json["detail"].as_str().is_some_and(|d| d.contains(detail)), "{path} {body}: {json}");
    }
    assert_eq!(orders.hits(), 1, "rejected requests never reach the service");

    // Routes without `validate` are not checked.
    let raw = post("/raw/anything", "not json at all");
    assert_eq!(raw.status, 200);
    assert_eq!(orders.hits(), 2);
}

/// A gateway over the shop's inventory service (its .proto has no
/// google.api.http bindings) whose routes declare them.
fn declared_bindings_spec(port: u16, grpc_port: u16, stock_binding: &str) -> String {
    format!(
        r#"
service "inventory" {{
    owner "team-catalog"
    address "127.0.0.1" port={grpc_port}
    api "inventory-grpc" kind="grpc" schema="inventory.proto"
}}
gateway "edge" {{
    listener "http" address="127.0.0.1" port={port}
    route "stock" {{
        match path-prefix="/v1/stock/" method="GET"
        to "inventory" operation="shop.inventory.v1.Inventory/GetStock"
        transcode "{stock_binding}"
    }}
    route "reserve" {{
        match path="/v1/reservations" method="POST"
        to "inventory" operation="shop.inventory.v1.Inventory/Reserve"
        transcode "POST /v1/reservations" body="*"
    }}
}}
"#
    )
}

fn inventory_proto() -> String {
    std::fs::read_to_string(repo_root().join("examples/shop/protos/inventory.proto")).unwrap()
}

#[test]
fn declared_bindings_are_checked_against_the_request_message_and_the_route() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("GET /v1/stock/{product_id}", None),
        ("GET /v1/stock/{productid}", Some(meshc::diag::Code::HttpRuleUnknownField)),
        ("GET /v2/stock/{product_id}", Some(meshc::diag::Code::TranscodeRouteMismatch)),
    ];
    for (binding, expected) in cases {
        write_files(
            dir.path(),
            &[("mesh.kdl", &declared_bindings_spec(1, 2, binding)), ("inventory.proto", &inventory_proto())],
        );
        let c = meshc::driver::compile(dir.path());
        let codes: Vec<_> = c.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, expected.into_iter().collect::<Vec<_>>(), "{binding}: {:?}", c.diagnostics);
        if expected == Some(meshc::diag::Code::HttpRuleUnknownField) {
            let d = &c.diagnostics[0];
            assert_eq!(d.help.as_deref(), Some("did you mean `product_id`?"));
            let span = d.primary.as_ref().unwrap().span;
            let file = c.sources.get(span.file);
            assert!(file.path.ends_with("mesh.kdl"), "the declared binding is in the spec");
            assert!(file.text[span.start as usize..span.end as usize]
                .starts_with("transcode \"GET /v1/stock/{productid}\""));
        }
    }
    // Without a declared binding, a method without google.api.http cannot be transcoded.
    let spec = declared_bindings_spec(1, 2, "GET /v1/stock/{product_id}")
        .replace("transcode \"GET /v1/stock/{product_id}\"", "transcode");
    write_files(dir.path(), &[("mesh.kdl", &spec)]);
    let c = meshc::driver::compile(dir.path());
    assert_eq!(c.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), [meshc::diag::Code::MissingHttpRule]);
    assert!(c.diagnostics[0].help.as_deref().unwrap().starts_with("declare the binding on the route"));
}

#[test]
fn live_gateway_transcodes_by_bindings_the_spec_declares_for_a_proto_without_them() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let (grpc, envoy) = start_grpc_behind_gateway(
        dir.path(),
        port,
        |grpc_port| declared_bindings_spec(port, grpc_port, "GET /v1/stock/{product_id}"),
        &[("inventory.proto", &inventory_proto())],
        &[
            (
                "/shop.inventory.v1.Inventory/GetStock",
                serde_json::json!({ "productId": "{{productId}}", "available": 5 }),
            ),
            ("/shop.inventory.v1.Inventory/Reserve", serde_json::json!({ "reservationId": "r-{{orderId}}" })),
        ],
    );

    let stock = http_request(port, "GET", "/v1/stock/p-9", &[]);
    assert_eq!(stock.status, 200, "{}\n{}", stock.body, envoy.log());
    assert_eq!(json_body(&stock.body), serde_json::json!({ "product_id": "p-9", "available": 5 }));
    let reserved = support::http_request_with_body(
        port,
        "POST",
        "/v1/reservations",
        &[("content-type", "application/json")],
        br#"{"order_id": "o-1", "product_id": "p-9", "quantity": 2}"#,
    );
    assert_eq!(reserved.status, 200, "{}", reserved.body);
    assert_eq!(json_body(&reserved.body)["reservation_id"], "r-o-1");
    let calls = grpc.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].0.as_str(), &calls[0].1["productId"]),
        ("/shop.inventory.v1.Inventory/GetStock", &serde_json::json!("p-9"))
    );
    assert_eq!(calls[1].1["quantity"], 2);
}

#[test]
fn a_declared_binding_adds_to_the_methods_own_bindings() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let google_apis = repo_root().join("../shared/corpora/protos");
    let spec = |grpc_port: u16| {
        format!(
            r#"
proto-include "{includes}"
service "payments" {{
    owner "team-payments"
    address "127.0.0.1" port={grpc_port}
    api "payments-grpc" kind="grpc" schema="payments.proto"
}}
gateway "edge" {{
    listener "http" address="127.0.0.1" port={port}
    route "charge-v1" {{
        match path="/v1/charges" method="POST"
        to "payments" operation="shop.payments.v1.Payments/Charge"
        transcode
    }}
    route "charge-v2" {{
        match path="/v2/payments" method="POST"
        to "payments" operation="shop.payments.v1.Payments/Charge"
        transcode "POST /v2/payments" body="*"
    }}
}}
"#,
            includes = google_apis.display()
        )
    };
    let (grpc, _envoy) = start_grpc_behind_gateway(
        dir.path(),
        port,
        spec,
        &[("payments.proto", PAYMENTS_PROTO)],
        &[(
            "/shop.payments.v1.Payments/Charge",
            serde_json::json!({ "transactionId": "tx-{{orderId}}", "status": "charged" }),
        )],
    );
    for (path, order) in [("/v1/charges", "a"), ("/v2/payments", "b")] {
        let body = format!(r#"{{"order_id": "{order}", "amount_cents": 1}}"#);
        let charged = support::http_request_with_body(
            port,
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(charged.status, 200, "{path}: {}", charged.body);
        assert_eq!(json_body(&charged.body)["transaction_id"], format!("tx-{order}"), "{path}");
    }
    assert_eq!(grpc.calls().len(), 2);
}
