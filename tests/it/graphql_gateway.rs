//! The GraphQL gateway: composed GraphQL APIs (`api kind="graphql"` with
//! `resolve` children) are type-checked against their resolvers' REST and
//! gRPC operations, and the emitted config, served by
//! `meshc-runtime graphql` behind a real Envoy, answers a query by fanning
//! out to a REST and a gRPC backend.

use crate::support;

use std::path::Path;

use meshc::diag::render::{render, Format};
use meshc::diag::{Code, Diagnostic};
use meshc::driver::Compilation;
use support::{envoy_validate, free_port, http_request_with_body, repo_root, write_files, EnvoyProcess, Upstream};

/// The shop's schema files, read from the example (not copied into tests).
fn shop_file(name: &str) -> String {
    let path = repo_root().join("examples/shop").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A storefront spec over the shop's catalog, inventory and orders schemas;
/// `resolvers` is the body of the storefront's GraphQL `api`.
fn spec(ports: [u16; 4], resolvers: &str) -> String {
    let [catalog, inventory, orders, storefront] = ports;
    format!(
        r#"
service "catalog" {{
    owner "team-catalog"
    address "127.0.0.1" port={catalog}
    api "catalog-http" kind="rest" schema="catalog.yaml"
    traffic {{ outlier-detection consecutive-5xx=5 }}
}}
service "inventory" {{
    owner "team-catalog"
    address "127.0.0.1" port={inventory}
    api "inventory-grpc" kind="grpc" schema="inventory.proto"
    traffic {{ outlier-detection consecutive-5xx=5 }}
}}
service "orders" {{
    owner "team-orders"
    address "127.0.0.1" port={orders}
    api "orders-http" kind="rest" schema="orders.yaml"
    traffic {{ outlier-detection consecutive-5xx=5 }}
}}
service "storefront" {{
    owner "team-web"
    address "127.0.0.1" port={storefront}
    api "storefront-graphql" kind="graphql" schema="storefront.graphql" {{
{resolvers}
    }}
}}
"#
    )
}

const SHOP_RESOLVERS: &str = r#"
        resolve "Query.products" service="catalog" operation="GET /products"
        resolve "Query.product" service="catalog" operation="GET /products/{productId}"
        resolve "Query.stock" service="inventory" operation="shop.inventory.v1.Inventory/GetStock"
        resolve "Query.order" service="orders" operation="GET /orders/{orderId}"
        resolve "Mutation.placeOrder" service="orders" operation="POST /orders" body="order" timeout="2s"
"#;

/// Writes a workspace with the shop's schemas (the storefront SDL replaced
/// when `sdl` is given) and compiles it.
fn compile_storefront(dir: &Path, mesh: &str, sdl: Option<&str>) -> Compilation {
    let storefront = sdl.map_or_else(|| shop_file("apis/storefront.graphql"), str::to_string);
    write_files(
        dir,
        &[
            ("mesh.kdl", mesh),
            ("catalog.yaml", &shop_file("apis/catalog.yaml")),
            ("orders.yaml", &shop_file("apis/orders.yaml")),
            ("inventory.proto", &shop_file("protos/inventory.proto")),
            ("storefront.graphql", &storefront),
        ],
    );
    meshc::driver::compile(dir)
}

fn human(c: &Compilation) -> String {
    render(Format::Human, &c.diagnostics, &c.sources, false)
}

fn text(c: &Compilation, span: meshc::base::Span) -> &str {
    &c.sources.get(span.file).text[span.start as usize..span.end as usize]
}

fn only(c: &Compilation) -> &Diagnostic {
    assert_eq!(c.diagnostics.len(), 1, "{}", human(c));
    &c.diagnostics[0]
}

/// The diagnostic for `sdl` (the shop's storefront SDL with `from` replaced
/// by `to`) with the shop's resolvers.
fn with_sdl_edit(from: &str, to: &str) -> (tempfile::TempDir, Compilation) {
    let sdl = shop_file("apis/storefront.graphql");
    assert!(sdl.contains(from), "{from}");
    let dir = tempfile::tempdir().unwrap();
    let c = compile_storefront(dir.path(), &spec([1, 2, 3, 4], SHOP_RESOLVERS), Some(&sdl.replacen(from, to, 1)));
    (dir, c)
}

fn with_resolvers(resolvers: &str) -> (tempfile::TempDir, Compilation) {
    let dir = tempfile::tempdir().unwrap();
    let c = compile_storefront(dir.path(), &spec([1, 2, 3, 4], resolvers), None);
    (dir, c)
}

#[test]
fn the_shop_storefront_checks_clean_and_emits_where_each_argument_goes() {
    let (_dir, c) = with_resolvers(SHOP_RESOLVERS);
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let artifacts = c.emit().unwrap();
    let config = artifacts.iter().find(|a| a.path == "graphql/storefront-storefront-graphql.json").expect("a config");
    let config: serde_json::Value = serde_json::from_str(&config.contents).unwrap();
    assert_eq!(config["sdl"], shop_file("apis/storefront.graphql"));
    let product = &config["resolvers"]["Query.product"]["rest"];
    assert_eq!(product["upstream"], "127.0.0.1:1");
    assert_eq!(product["path"], "/products/{productId}");
    assert_eq!(product["path_params"], serde_json::json!(["productId"]));
    let place = &config["resolvers"]["Mutation.placeOrder"];
    assert_eq!(place["rest"]["body"], "order");
    assert_eq!(place["rest"]["method"], "POST");
    assert_eq!(place["timeout_ms"], 2000);
    assert_eq!(config["resolvers"]["Query.stock"]["grpc"]["method"], "/shop.inventory.v1.Inventory/GetStock");
    assert!(config["descriptor_set"].as_str().is_some_and(|d| !d.is_empty()), "gRPC resolvers ship descriptors");
}

#[test]
fn a_root_field_without_a_resolver_is_reported_at_the_api_with_a_pointer_into_the_sdl() {
    let resolvers = SHOP_RESOLVERS.replace("resolve \"Query.order\"", "// resolve \"Query.order\"");
    let (_dir, c) = with_resolvers(&resolvers);
    let d = only(&c);
    assert_eq!(d.code, Code::UnresolvedGraphqlField, "{}", human(&c));
    assert!(d.message.contains("`Query.order`"), "{}", d.message);
    assert_eq!(text(&c, d.primary.as_ref().unwrap().span), "\"storefront-graphql\"");
    assert!(text(&c, d.secondary[0].span).starts_with("order(orderId: ID!): Order"));
}

#[test]
fn a_resolver_for_a_field_the_schema_lacks_gets_a_did_you_mean() {
    let (_dir, c) = with_resolvers(&format!(
        "{SHOP_RESOLVERS}\n resolve \"Query.prodcts\" service=\"catalog\" operation=\"GET /products\""
    ));
    let d = only(&c);
    assert_eq!(d.code, Code::UnknownOperation, "{}", human(&c));
    assert_eq!(text(&c, d.primary.as_ref().unwrap().span), "\"Query.prodcts\"");
    assert_eq!(d.help.as_deref(), Some("did you mean `Query.products`?"));
}

#[test]
fn a_resolver_naming_an_operation_the_service_lacks_is_an_unknown_operation() {
    let resolvers = SHOP_RESOLVERS.replace("GET /orders/{orderId}", "GET /order/{orderId}");
    let (_dir, c) = with_resolvers(&resolvers);
    let d = only(&c);
    assert_eq!(d.code, Code::UnknownOperation, "{}", human(&c));
    assert_eq!(d.help.as_deref(), Some("did you mean `GET /orders/{orderId}`?"));
}

#[test]
fn an_argument_that_is_no_parameter_is_an_argument_mismatch_with_a_did_you_mean() {
    let (_dir, c) = with_sdl_edit("product(productId: ID!): Product", "product(productID: ID!): Product");
    let d = only(&c);
    assert_eq!(d.code, Code::ResolverArgumentMismatch, "{}", human(&c));
    assert!(
        d.message.contains("argument `productID` is not a parameter of `GET /products/{productId}`"),
        "{}",
        d.message
    );
    assert!(d.notes.iter().any(|n| n.contains("requires path parameter `productId`")), "{:?}", d.notes);
    assert_eq!(text(&c, d.primary.as_ref().unwrap().span), "operation=\"GET /products/{productId}\"");
}

#[test]
fn an_input_object_missing_a_required_property_is_an_argument_mismatch() {
    let (_dir, c) = with_sdl_edit("  product_id: ID!\n  quantity: Int!", "  product_id: ID!");
    let d = only(&c);
    assert_eq!(d.code, Code::ResolverArgumentMismatch, "{}", human(&c));
    assert!(d.message.contains("requires `quantity`, which input `OrderItem` does not have"), "{}", d.message);
}

#[test]
fn a_grpc_argument_may_use_the_proto_name_or_the_json_name() {
    for argument in ["productId", "product_id"] {
        let (_dir, c) = with_sdl_edit("stock(productId: ID!)", &format!("stock({argument}: ID!)"));
        assert!(c.diagnostics.is_empty(), "{argument}: {}", human(&c));
    }
}

#[test]
fn a_result_field_the_backend_lacks_points_at_its_sdl_definition() {
    let (_dir, c) = with_sdl_edit("  price_cents: Int!", "  priceCents: Int!");
    // Both product resolvers return products, each is reported; the first is `Query.products`.
    let codes: Vec<Code> = c.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::ResolverResultMismatch, Code::ResolverResultMismatch], "{}", human(&c));
    let d = &c.diagnostics[0];
    assert!(d.message.contains("Query.products[].priceCents: `Product` has no field `priceCents`"), "{}", d.message);
    assert_eq!(d.help.as_deref(), Some("did you mean `price_cents`?"));
    assert_eq!(text(&c, d.secondary[0].span), "priceCents: Int!");
}

#[test]
fn a_non_null_field_over_an_optional_property_is_a_result_mismatch() {
    let (_dir, c) = with_sdl_edit("type Product {\n  id: ID!", "type Product {\n  id: ID!\n  description: String!");
    let catalog = shop_file("apis/catalog.yaml").replace(
        "        price_cents: { type: integer, minimum: 0 }",
        "        price_cents: { type: integer, minimum: 0 }\n        description: { type: string }",
    );
    std::fs::write(_dir.path().join("catalog.yaml"), catalog).unwrap();
    let c2 = meshc::driver::compile(_dir.path());
    drop(c);
    let codes: Vec<Code> = c2.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::ResolverResultMismatch, Code::ResolverResultMismatch], "{}", human(&c2));
    assert!(c2.diagnostics[0].message.contains("description is `String!`, but the backend may leave it null or out"));
}

#[test]
fn an_enum_lacking_a_value_the_backend_sends_is_a_result_mismatch() {
    let (_dir, c) = with_sdl_edit("  paid\n  shipped", "  paid");
    let codes: Vec<Code> = c.diagnostics.iter().map(|d| d.code).collect();
    // Both order resolvers return orders.
    assert_eq!(codes, [Code::ResolverResultMismatch, Code::ResolverResultMismatch], "{}", human(&c));
    assert!(
        c.diagnostics[0].message.contains("has values enum `OrderStatus` lacks: `shipped`"),
        "{}",
        c.diagnostics[0].message
    );
}

#[test]
fn a_64_bit_proto_integer_into_int_is_a_result_mismatch_explaining_the_json_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let c = compile_storefront(dir.path(), &spec([1, 2, 3, 4], SHOP_RESOLVERS), None);
    assert!(c.diagnostics.is_empty());
    let proto = shop_file("protos/inventory.proto").replace("int32 available = 2;", "int64 available = 2;");
    std::fs::write(dir.path().join("inventory.proto"), proto).unwrap();
    let c = meshc::driver::compile(dir.path());
    let d = only(&c);
    assert_eq!(d.code, Code::ResolverResultMismatch, "{}", human(&c));
    assert!(d.message.contains("Query.stock.available is `Int!`, but the backend has 64-bit integer"), "{}", d.message);
    assert!(d.help.as_deref().is_some_and(|h| h.contains("JSON strings")), "{:?}", d.help);
}

#[test]
fn recursive_types_on_both_sides_are_compared_once() {
    let sdl = "type Query { node(id: ID!): Node }\ntype Node { id: ID! children: [Node!]! parent: Node }\n";
    let openapi = r##"openapi: 3.0.3
info: { title: Tree, version: "1" }
paths:
  /nodes/{id}:
    get:
      parameters: [ { name: id, in: path, required: true, schema: { type: string } } ]
      responses:
        "200": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/Node" } } } }
components:
  schemas:
    Node:
      type: object
      required: [id, children]
      properties:
        id: { type: string }
        children: { type: array, items: { $ref: "#/components/schemas/Node" } }
        parent: { $ref: "#/components/schemas/Node" }
"##;
    let mesh = r#"
service "tree" { owner "t"; address "127.0.0.1" port=1; api "tree-http" kind="rest" schema="tree.yaml"; traffic { outlier-detection; }; }
service "web" { owner "t"; address "127.0.0.1" port=2
    api "web" kind="graphql" schema="web.graphql" { resolve "Query.node" service="tree" operation="GET /nodes/{id}"; }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", mesh), ("tree.yaml", openapi), ("web.graphql", sdl)]);
    let c = meshc::driver::compile(dir.path());
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
}

#[test]
fn a_query_field_resolved_by_a_post_is_an_unsafe_query_warning() {
    let resolvers = SHOP_RESOLVERS.replace(
        "\"Query.order\" service=\"orders\" operation=\"GET /orders/{orderId}\"",
        "\"Query.order\" service=\"orders\" operation=\"POST /orders\"",
    );
    let (_dir, c) = with_resolvers(&resolvers);
    assert!(c.diagnostics.iter().any(|d| d.code == Code::UnsafeQueryResolver), "{}", human(&c));
}

#[test]
fn resolve_is_read_only_where_it_makes_sense() {
    let cases = [
        // Not a GraphQL API.
        (
            SHOP_RESOLVERS.to_string(),
            "kind=\"graphql\" schema=\"storefront.graphql\"",
            "kind=\"rest\" schema=\"catalog.yaml\"",
            Code::UnknownNode,
        ),
        // Subscriptions are not request/response.
        (
            format!("{SHOP_RESOLVERS}\n resolve \"Subscription.x\" service=\"catalog\" operation=\"GET /products\""),
            "",
            "",
            Code::InvalidValue,
        ),
        // `body` on a gRPC resolver.
        (SHOP_RESOLVERS.replace("Inventory/GetStock\"", "Inventory/GetStock\" body=\"x\""), "", "", Code::InvalidValue),
        // Twice the same field.
        (
            format!("{SHOP_RESOLVERS}\n resolve \"Query.products\" service=\"catalog\" operation=\"GET /products\""),
            "",
            "",
            Code::DuplicateName,
        ),
    ];
    for (resolvers, from, to, code) in cases {
        let mesh = spec([1, 2, 3, 4], &resolvers).replacen(from, to, usize::from(!from.is_empty()));
        let dir = tempfile::tempdir().unwrap();
        let c = compile_storefront(dir.path(), &mesh, None);
        assert!(c.diagnostics.iter().any(|d| d.code == code), "expected {code:?}:\n{}", human(&c));
    }
}

// ---------------------------------------------------------------------------
// Live: Envoy → meshc-runtime graphql → a REST and a gRPC backend
// ---------------------------------------------------------------------------

#[test]
fn live_graphql_query_through_envoy_fans_out_to_a_rest_and_a_grpc_backend() {
    let dir = tempfile::tempdir().unwrap();
    // Compile once for the descriptors the gRPC backend serves.
    let c = compile_storefront(dir.path(), &spec([1, 2, 3, 4], SHOP_RESOLVERS), None);
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let model = c.model.as_ref().unwrap();
    let inventory_schema = model.schema_ids().find(|id| model.schema(*id).path.ends_with("inventory.proto")).unwrap();
    let inventory = meshc_runtime::GrpcMock::from_descriptor_set(&c.schemas.descriptor_set(&[inventory_schema]))
        .unwrap()
        .respond(
            "/shop.inventory.v1.Inventory/GetStock",
            serde_json::json!({ "productId": "{{productId}}", "available": 7 }),
        )
        .spawn("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let catalog = Upstream::start_responding("catalog", |request| match request.path.strip_prefix("/products/") {
        Some(id) => {
            (200, "application/json", format!(r#"{{"id":"{id}","name":"Lamp","price_cents":2599,"sku":"internal"}}"#))
        }
        None => (404, "application/json", "{}".into()),
    });
    let orders = Upstream::start_responding("orders", |request| {
        (
            201,
            "application/json",
            format!(r#"{{"id":"o-1","status":"placed","echo":{}}}"#, String::from_utf8_lossy(&request.body)),
        )
    });
    let (storefront_port, gateway_port) = (free_port(), free_port());
    let mesh = spec([catalog.port(), inventory.port(), orders.port(), storefront_port], SHOP_RESOLVERS)
        + &format!(
            r#"
gateway "edge" {{
    listener "http" address="127.0.0.1" port={gateway_port}
    route "graphql" {{
        match path="/graphql" method="POST"
        to "storefront"
        // Above the resolvers' longest wait (the runtime's 10 s default), or MESH0032.
        timeout "12s"
    }}
}}
"#
        );
    let c = compile_storefront(dir.path(), &mesh, None);
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let artifacts = c.emit().unwrap();
    let config = artifacts.iter().find(|a| a.path.starts_with("graphql/")).unwrap();
    let gateway = meshc_runtime::GraphqlGateway::from_json(&config.contents).expect("the runtime loads the config");
    let _server =
        meshc_runtime::serve_graphql(gateway, format!("127.0.0.1:{storefront_port}").parse().unwrap()).unwrap();
    let bootstrap = dir.path().join("gateway-edge.yaml");
    let envoy_config = artifacts.iter().find(|a| a.path == "envoy/gateway-edge.yaml").unwrap();
    std::fs::write(&bootstrap, &envoy_config.contents).unwrap();
    envoy_validate(&bootstrap).unwrap();
    let envoy = EnvoyProcess::start(&bootstrap);
    envoy.wait_ready(gateway_port);

    let query = serde_json::json!({
        "query": "query($id: ID!) { product(productId: $id) { id name price: price_cents } stock(productId: $id) { productId available } }",
        "variables": { "id": "p-1" },
    });
    let response = http_request_with_body(
        gateway_port,
        "POST",
        "/graphql",
        &[("content-type", "application/json")],
        query.to_string().as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "data": {
            "product": { "id": "p-1", "name": "Lamp", "price": 2599 },
            "stock": { "productId": "p-1", "available": 7 },
        }}),
        "only the selected fields, from both backends"
    );
    let seen = catalog.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("GET", "/products/p-1"));
    let calls = inventory.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "/shop.inventory.v1.Inventory/GetStock");
    assert_eq!(calls[0].1["productId"], "p-1");

    // A mutation sends its input argument as the JSON body.
    let mutation = serde_json::json!({
        "query": "mutation { placeOrder(order: { items: [{ product_id: \"p-1\", quantity: 2 }] }) { id status } }",
    });
    let response = http_request_with_body(
        gateway_port,
        "POST",
        "/graphql",
        &[("content-type", "application/json")],
        mutation.to_string().as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body, serde_json::json!({ "data": { "placeOrder": { "id": "o-1", "status": "placed" } } }));
    let placed = orders.requests();
    assert_eq!((placed[0].method.as_str(), placed[0].path.as_str()), ("POST", "/orders"));
    let sent: serde_json::Value = serde_json::from_slice(&placed[0].body).unwrap();
    assert_eq!(sent, serde_json::json!({ "items": [{ "product_id": "p-1", "quantity": 2 }] }));
}
