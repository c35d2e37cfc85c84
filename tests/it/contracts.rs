//! Contracts: `reads` and `example` on calls, routes and topics; the checks
//! that hold them against the schemas (MESH0118–MESH0125, MESH0127); the plans the
//! `contracts-plan` backend emits, whose examples are validated here with
//! other validators than meshc's own (jsonschema, prost-reflect).

use crate::support;
use crate::support::fixture::check;

/// A workspace: `web` calls catalog's `GET /products/{id}` with `call` as
/// the call's block.
fn workspace(call: &str) -> String {
    format!(
        r#"
        //- mesh.kdl
        service "web" {{
            owner "team-web"
            address "web.svc" port=8080
            calls "catalog" operation="GET /products/{{id}}" timeout="1s" {{
{call}
            }}
        }}
        service "catalog" {{
            owner "team-catalog"
            address "catalog.svc" port=8080
            api "catalog-http" kind="rest" schema="catalog.yaml"
            traffic {{ outlier-detection; }}
        }}

        //- catalog.yaml
        openapi: 3.0.3
        info: {{ title: catalog, version: "1" }}
        paths:
          /products/{{id}}:
            get:
              operationId: getProduct
              parameters:
                - {{ name: id, in: path, required: true, schema: {{ type: string }} }}
                - {{ name: currency, in: query, schema: {{ type: string, enum: [EUR, USD] }} }}
              responses:
                "200":
                  description: one product
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [id, name, price_cents, tags]
                        properties:
                          id: {{ type: string }}
                          name: {{ type: string }}
                          price_cents: {{ type: integer }}
                          tags: {{ type: array, items: {{ type: string }} }}
                          discount: {{ type: integer, nullable: true }}
        "#
    )
}

#[test]
fn reads_and_examples_that_fit_the_schema_compile_clean() {
    let c = check(&workspace(
        r##"
                reads "id" "name" "tags[]"
                example "a product" {
                    given "product 42 exists"
                    request path="/products/42" {
                        query "currency" "EUR"
                        header "accept" "application/json"
                    }
                    response status=200 {
                        header "content-type" "application/json"
                        body #"""
                            {"id": "42", "name": "Mug", "price_cents": 900,
                             "tags": ["kitchen"], "discount": null}
                            """#
                        match "name" type
                        match "id" regex "^[0-9]+$"
                        match "tags" each-like min=1
                        match "price_cents" range min=0 max=100000
                        match "$" type
                    }
                }
                example "not found" {
                    request path="/products/0"
                    response status=404 {
                        body #"{"error": "no such product"}"#
                    }
                }"##,
    ));
    let model = c.model.as_ref().unwrap();
    let contract = model.services[0].calls[0].contract.as_ref().unwrap();
    assert_eq!(contract.reads.iter().map(|r| r.value.to_string()).collect::<Vec<_>>(), ["id", "name", "tags[]"]);
    assert_eq!(contract.examples.len(), 2);
    assert_eq!(contract.examples[0].response.matchers.len(), 5);
    assert_eq!(contract.location.to_string(), "mesh.kdl:4");
}

#[test]
fn json_that_does_not_parse_is_reported_where_the_parser_stopped() {
    check(&workspace(
        r##"
                example "a product" {
                    request path="/products/42"
                    response status=200 {
                        body #"{"id": "42",}"#
        //                                 ^ MESH0118
                    }
                }"##,
    ));
}

#[test]
fn an_invalid_regex_is_reported_on_its_pattern() {
    check(&workspace(
        r##"
                example "a product" {
                    request path="/products/42"
                    response status=200 {
                        match "id" regex "[0-9+"
        //                               ^^^^^^^ MESH0119
                    }
                }"##,
    ));
}

#[test]
fn reads_without_an_operation_are_refused() {
    check(
        r##"
        //- mesh.kdl
        service "web" {
            owner "team-web"
            address "web.svc" port=8080
            calls "catalog" timeout="1s" {
                reads "name"
        //      ^^^^^ MESH0120
            }
        }
        service "catalog" {
            owner "team-catalog"
            address "catalog.svc" port=8080
            traffic { outlier-detection; }
        }
        "##,
    );
}

#[test]
fn a_misspelt_read_field_is_an_error_with_a_did_you_mean() {
    let c = check(&workspace(
        r##"
                reads "name" "prize_cents" "tags[].x" "name[]"
        //                   ^^^^^^^^^^^^^ MESH0121
        //                                 ^^^^^^^^^^ MESH0121
        //                                            ^^^^^^^^ MESH0121"##,
    ));
    let rendered = support::unwrapped(&support::human(&c));
    assert!(rendered.contains("did you mean `price_cents`?"), "{rendered}");
    assert!(rendered.contains("`web` reads `prize_cents` from `catalog` `GET /products/{id}`"), "{rendered}");
    assert!(rendered.contains("`tags[]` is string, which has no fields"), "{rendered}");
    assert!(rendered.contains("`name` is string, not a list"), "{rendered}");
}

#[test]
fn an_example_that_does_not_match_its_schema_points_inside_the_json() {
    let c = check(&workspace(
        r##"
                example "a product" {
                    request path="/products/42"
                    response status=200 {
                        body #"""
                            {"id": 42, "name": "Mug",
        //                  ^ MESH0122
        //                         ^^ MESH0122
                             "price_cents": 900, "colour": "red"}
        //                                       ^^^^^^^^ MESH0122
                            """#
                    }
                }"##,
    ));
    let rendered = support::unwrapped(&support::human(&c));
    assert!(rendered.contains("at `id`: expected string, found an integer"), "{rendered}");
    assert!(rendered.contains("at `colour`: object has no field `colour`"), "{rendered}");
    assert!(rendered.contains("the required field `tags` of object is missing"), "{rendered}");
}

#[test]
fn matchers_must_point_at_paths_of_the_response_and_fit_their_type() {
    check(&workspace(
        r##"
                example "a product" {
                    request path="/products/42"
                    response status=200 {
                        body #"{"id": "42", "name": "Mug", "price_cents": 900, "tags": []}"#
                        match "tag" each-like
        //                    ^^^^^ MESH0123
                        match "price_cents" regex "[0-9]+"
        //                                  ^^^^^ MESH0124
                        match "name" range min=0
        //                           ^^^^^ MESH0124
                        match "id" each-like
        //                         ^^^^^^^^^ MESH0124
                    }
                }"##,
    ));
}

#[test]
fn reading_a_field_the_provider_may_leave_out_is_a_warning_for_that_consumer() {
    check(&workspace(
        r##"
                reads "discount"
        //            ^^^^^^^^^^ MESH0125 warning
                example "a product" {
                    request path="/products/42"
                    response status=200 {
                        body #"{"id": "42", "name": "Mug", "price_cents": 900, "tags": [], "discount": 5}"#
                        match "discount" range min=0
        //                    ^^^^^^^^^^ MESH0125 warning
                    }
                }"##,
    ));
}

#[test]
fn grpc_examples_are_checked_in_protobufs_json_mapping() {
    check(
        r##"
        //- mesh.kdl
        service "web" {
            owner "team-web"
            address "web.svc" port=8080
            calls "inventory" operation="inv.Inventory/GetStock" timeout="1s" {
                reads "productId" "available" "warehouse"
        //                                    ^^^^^^^^^^^ MESH0121
                example "stock" {
                    request {
                        body #"{"product_id": "42", "count": 1}"#
        //                                          ^^^^^^^ MESH0122
                    }
                    response status=0 {
                        body #"{"productId": "42", "available": "seven"}"#
        //                                                      ^^^^^^^ MESH0122
                    }
                }
            }
        }
        service "inventory" {
            owner "team-inventory"
            address "inventory.svc" port=50051
            api "inventory-grpc" kind="grpc" schema="inventory.proto"
            traffic { outlier-detection; }
        }

        //- inventory.proto
        syntax = "proto3";
        package inv;
        message GetStockRequest { string product_id = 1; }
        message Stock { string product_id = 1; int32 available = 2; }
        service Inventory { rpc GetStock(GetStockRequest) returns (Stock); }
        "##,
    );
}

#[test]
fn topic_examples_are_checked_against_the_schema_version_they_name() {
    check(
        r##"
        //- mesh.kdl
        service "reviews" {
            owner "team-reviews"
            publishes "reviews-posted"
        }
        topic "reviews-posted" {
            schema "v1.json" format="json-schema" version=1
            schema "v2.json" format="json-schema" version=2
            compatibility "none"
            example "version one" version=1 {
                message #"{"reviewId": "r-1"}"#
            }
            example "current" {
                given "product 42 exists"
                message #"{"reviewId": "r-1", "rating": "five"}"#
        //                                              ^^^^^^ MESH0122
            }
            example "no such version" version=3 {
        //                            ^^^^^^^^^ MESH0122
                message #"{}"#
            }
        }

        //- v1.json
        {"type": "object", "required": ["reviewId"], "properties": {"reviewId": {"type": "string"}}}

        //- v2.json
        {"type": "object", "required": ["reviewId", "rating"], "properties": {"reviewId": {"type": "string"}, "rating": {"type": "integer"}}}
        "##,
    );
}

/// Avro events are checked in the plain JSON the event bus sends: a
/// `long` is a JSON integer, a union with null the other branch or null,
/// fields without a default are required, and unknown fields are refused.
#[test]
fn avro_topic_examples_are_checked_in_the_event_buss_json() {
    check(
        r##"
        //- mesh.kdl
        service "orders" {
            owner "team-orders"
            publishes "orders-placed"
        }
        topic "orders-placed" {
            schema "order.avsc"
            example "fine" {
                message #"{"orderId": "o-1", "totalCents": 2500, "coupon": null, "status": "PLACED", "items": [{"sku": "a"}]}"#
            }
            example "with a default left out and a coupon" {
                message #"{"orderId": "o-1", "coupon": "XMAS", "items": []}"#
            }
            example "broken" {
                message #"{"totalCents": "25.00", "coupon": 7, "status": "LOST", "items": [{"sku": 1}], "colour": "red"}"#
        //                ^ MESH0122
        //                               ^^^^^^^ MESH0122
        //                                                  ^ MESH0122
        //                                                               ^^^^^^ MESH0122
        //                                                                                         ^ MESH0122
        //                                                                                              ^^^^^^^^ MESH0122
            }
        }

        //- order.avsc
        {"type": "record", "name": "Order", "namespace": "shop", "fields": [
          {"name": "orderId", "type": "string"},
          {"name": "totalCents", "type": "long", "default": 0},
          {"name": "coupon", "type": ["null", "string"], "default": null},
          {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["PLACED", "PAID"]}, "default": "PLACED"},
          {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [{"name": "sku", "type": "string"}]}}}
        ]}
        "##,
    );
}

/// The shop's plans: one per provider and consumer, versioned, and every
/// example in them valid for its schema by other validators than meshc's.
#[test]
fn the_shops_plans_carry_examples_their_schemas_accept() {
    let root = support::repo_root().join("examples/shop");
    let out = tempfile::tempdir().unwrap();
    support::build_workspace(&root, out.path());
    let plans = out.path().join("contracts");
    let read = |path: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(plans.join(path)).unwrap()).unwrap()
    };
    let catalog = read("providers/catalog.json");
    assert_eq!(catalog["format"], "meshc-contracts/2");
    assert_eq!(catalog["role"], "provider");
    let mut checked = 0;
    for name in ["catalog", "inventory", "loyalty"] {
        let plan = read(&format!("providers/{name}.json"));
        for interaction in plan["interactions"].as_array().unwrap() {
            let Some(response) = interaction.get("response") else { continue };
            let Some(body) = response.get("body") else { continue };
            match interaction["protocol"].as_str().unwrap() {
                "http" => {
                    validate_openapi_response(&root, interaction["operation"].as_str().unwrap(), body);
                }
                "grpc" => validate_grpc(&root, interaction, body),
                other => panic!("unexpected protocol {other}"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} examples with bodies in the shop's plans ({})", root.display());
    // The message contract, against the topic's JSON Schema.
    let reviews = read("providers/reviews.json");
    let message = &reviews["messages"][0];
    assert_eq!(message["topic"], "reviews-posted");
    assert_eq!(message["subscribers"], serde_json::json!(["catalog"]));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("schemas/review-posted.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&message["message"]), "{}", message["message"]);
    // Consumers get their own plans, the gateway under its name.
    let gateway = read("consumers/gateway-public.json");
    assert_eq!(gateway["subject"], "gateway:public");
    let mock = read("mocks/catalog.json");
    assert!(mock["operations"].as_array().unwrap().iter().any(|o| !o["answers"].as_array().unwrap().is_empty()));
    // Ids are unique per plan, also where two routes take one operation.
    for entry in
        std::fs::read_dir(plans.join("consumers")).unwrap().chain(std::fs::read_dir(plans.join("providers")).unwrap())
    {
        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let ids: Vec<&str> =
            plan["interactions"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
        let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{}: {ids:?}", plan["subject"]);
    }
    // A route to a versioned API names its version as the selector says.
    let orders = gateway["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "gateway:public/place-order->orders POST /orders")
        .unwrap_or_else(|| panic!("{gateway:#}"));
    assert_eq!(orders["api_version"], "v2");
    assert_eq!(orders["request"]["headers"], serde_json::json!([{ "name": "api-version", "value": "2" }]));
}

/// What a use needs to get into the mesh: the end user's token a route's
/// `auth` (roles expanded to their claim conditions) or a call's passed-on
/// token requires, the headers the provider's authorization requires of
/// the consumer, and a route's request as its gateway takes it (a prefix
/// rewrite undone, the host of its `host` block); a transcoding route has
/// no gateway entry (the gateway takes another request).
#[test]
fn plans_name_the_token_and_the_gateway_request_each_use_needs() {
    use serde_json::json;
    let root = support::repo_root().join("examples/shop");
    let out = tempfile::tempdir().unwrap();
    support::build_workspace(&root, out.path());
    let read = |path: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.path().join("contracts").join(path)).unwrap()).unwrap()
    };
    let gateway = read("consumers/gateway-public.json");
    let interaction = |plan: &serde_json::Value, id: &str| -> serde_json::Value {
        let found = plan["interactions"].as_array().unwrap().iter().find(|i| i["id"] == id);
        found.unwrap_or_else(|| panic!("no {id} in {plan:#}")).clone()
    };
    let checkout = interaction(&gateway, "gateway:public/app-checkout->orders POST /orders");
    assert_eq!(
        checkout["auth"],
        json!({"audiences": ["shop-api"], "issuer": "https://auth.shop.example",
               "claims": [{"claim": "scope", "test": "contains", "type": "space-delimited", "value": "orders:write"}]})
    );
    assert_eq!(
        checkout["gateway"],
        json!({"headers": [], "name": "public", "path_prefix": {"from": "/app/orders", "to": "/orders"}})
    );
    let admin = interaction(&gateway, "gateway:public/admin-orders->orders GET /orders/{orderId}");
    assert_eq!(
        admin["auth"]["claims"],
        json!([{"claim": "roles", "test": "contains", "type": "string-list", "value": "admin"}])
    );
    assert_eq!(admin["gateway"]["path_prefix"], json!({"from": "/admin/orders/", "to": "/orders/"}));
    let products = interaction(&gateway, "gateway:public/list-products->catalog GET /products");
    assert!(products.get("auth").is_none(), "a public route needs no token: {products:#}");
    assert_eq!(products["gateway"], json!({"headers": [], "name": "public"}));
    let charge = interaction(&gateway, "gateway:public/charge-rest->payments shop.payments.v1.Payments/Charge");
    assert!(charge.get("gateway").is_none(), "a transcoding route: {charge:#}");
    // accounts exchanges the customer's token it received for loyalty's.
    let accounts = read("consumers/accounts.json");
    let points = interaction(&accounts, "accounts->loyalty GET /points");
    assert_eq!(points["auth"]["issuer"], "https://auth.shop.example");
    assert!(points.get("gateway").is_none());
    // loyalty admits accounts only with `x-customer-id`: the implicit request carries it.
    assert_eq!(points["request"]["headers"], json!([{"name": "x-customer-id", "value": "contract"}]));
    // A call passing no token needs none.
    let orders = read("consumers/orders.json");
    assert!(orders["interactions"].as_array().unwrap().iter().all(|i| i.get("auth").is_none()));
}

/// `body` against the 200 response schema of `operation` in the shop's
/// catalog API, components included.
fn validate_openapi_response(root: &std::path::Path, operation: &str, body: &serde_json::Value) {
    let text = std::fs::read_to_string(root.join("apis/catalog.yaml")).unwrap();
    let doc: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    let (method, path) = operation.split_once(' ').unwrap();
    let schema =
        &doc["paths"][path][method.to_lowercase()]["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "no 200 JSON response for {operation}");
    let mut schema = schema.clone();
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{operation}: {body} does not validate: {errors:?}");
}

/// `body` as the response message of a gRPC interaction, parsed by
/// prost-reflect's JSON mapping (unknown fields refused).
fn validate_grpc(root: &std::path::Path, interaction: &serde_json::Value, body: &serde_json::Value) {
    let files = protox::compile(["inventory.proto"], [root.join("protos")]).unwrap();
    let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(files).unwrap();
    let (service, method) = interaction["operation"].as_str().unwrap().split_once('/').unwrap();
    let method = pool.get_service_by_name(service).unwrap().methods().find(|m| m.name() == method).unwrap();
    let text = body.to_string();
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    let parsed = prost_reflect::DynamicMessage::deserialize(method.output(), &mut deserializer);
    assert!(parsed.is_ok(), "{body} is not a {}: {parsed:?}", method.output().full_name());
}

/// The runner sends an example's request as it is, and a mock answers
/// requests matching it: each must be a request the operation takes.
#[test]
fn an_examples_path_and_query_must_fit_the_operations_template_and_parameters() {
    let c = check(
        r##"
        //- mesh.kdl
        service "web" {
            owner "team-web"
            address "web.svc" port=8080
            calls "catalog" operation="GET /products/{id}" timeout="1s" {
                example "misspelt path" {
                    request path="/product/42"
        //                  ^^^^^^^^^^^^^^^^^^ MESH0127
                    response status=200
                }
                example "query in the path" {
                    request path="/products/7?currency=EUR"
        //                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0127
                    response status=200
                }
                example "no path" {
        //              ^^^^^^^^^ MESH0127
                    response status=200
                }
                example "a word for an id" {
                    request path="/products/mug" { query "currency" "EUR"; }
        //                  ^^^^^^^^^^^^^^^^^^^^ MESH0127
                    response status=200
                }
                example "query trouble" {
        //              ^^^^^^^^^^^^^^^ MESH0127
                    request path="/products/7" {
                        query "curency" "EUR"
        //                    ^^^^^^^^^ MESH0127
                        query "limit" "ten"
        //                            ^^^^^ MESH0127
                    }
                    response status=200
                }
                example "all fine" {
                    request path="/products/7" {
                        query "currency" "EUR"
                        query "limit" "10"
                    }
                    response status=200
                }
            }
        }
        service "catalog" {
            owner "team-catalog"
            address "catalog.svc" port=8080
            api "catalog-http" kind="rest" schema="catalog.yaml"
            traffic { outlier-detection; }
        }

        //- catalog.yaml
        openapi: 3.0.3
        info: { title: catalog, version: "1" }
        paths:
          /products/{id}:
            get:
              parameters:
                - { name: id, in: path, required: true, schema: { type: integer } }
                - { name: currency, in: query, required: true, schema: { type: string } }
                - { name: limit, in: query, schema: { type: integer } }
              responses:
                "200": { description: one product }
        "##,
    );
    let rendered = support::unwrapped(&support::human(&c));
    for expected in [
        "the path of example `misspelt path` does not match `GET /products/{id}`: `product` where the template has `products`",
        "the path of example `query in the path` does not match `GET /products/{id}`: it carries `?`",
        "example `no path` gives no path, and `GET /products/{id}` has path parameters",
        "path parameter `id` of example `a word for an id` is `mug`",
        "`GET /products/{id}` declares no query parameter `curency`",
        "did you mean `currency`?",
        "query parameter `limit` of example `query trouble`",
        "example `query trouble` lacks the required query parameter `currency`",
    ] {
        assert!(rendered.contains(expected), "missing {expected:?} in:\n{rendered}");
    }
}

/// An implicit contract of a GraphQL query field sends a query selecting
/// what the consumer reads, valid for the provider's schema; a field that
/// needs arguments gets none (only an example can give their values).
#[test]
fn a_graphql_implicit_contract_queries_the_fields_its_consumer_reads() {
    let sdl = r#"
type Query {
  products(first: Int = 10): [Product!]!
  product(id: ID!): Product
}
type Product { id: ID! name: String! price: Money tags: [String!]! }
type Money { cents: Int! currency: String! }
"#;
    let spec = r#"
service "web" {
    owner "team-web"
    address "web.svc" port=8080
    calls "catalog" operation="Query.products" timeout="1s" {
        reads "[].id" "[].price.cents" "[].tags"
    }
    calls "catalog" operation="Query.product" timeout="1s" {
        reads "name"
    }
}
service "catalog" {
    owner "team-catalog"
    address "catalog.svc" port=8080
    api "catalog-graphql" kind="graphql" schema="catalog.graphql"
    traffic { outlier-detection; }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    support::write_files(dir.path(), &[("mesh.kdl", spec), ("catalog.graphql", sdl)]);
    let out = tempfile::tempdir().unwrap();
    support::build_workspace(dir.path(), out.path());
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("contracts/providers/catalog.json")).unwrap())
            .unwrap();
    let request = |id: &str| {
        let interactions = plan["interactions"].as_array().unwrap();
        interactions.iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("{plan:#}"))["request"].clone()
    };
    let products = request("web->catalog Query.products");
    let query = products["body"]["query"].as_str().unwrap();
    assert_eq!(query, "query { products { id price { cents } tags } }");
    let schema = apollo_compiler::Schema::parse_and_validate(sdl, "catalog.graphql").unwrap();
    apollo_compiler::ExecutableDocument::parse_and_validate(&schema, query, "query.graphql")
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    assert!(request("web->catalog Query.product").get("body").is_none(), "{plan:#}");
}

/// A GraphQL example's request is a query valid for the provider's SDL that
/// selects the operation's root field.
#[test]
fn graphql_examples_send_a_valid_query_for_their_operation_and_answers_of_its_types() {
    let c = check(
        r##"
        //- mesh.kdl
        service "web" {
            owner "team-web"
            address "web.svc" port=8080
            calls "catalog" operation="Query.product" timeout="1s" {
                example "fine" {
                    request { body #"{"query": "query($id: ID!) { product(id: $id) { name } }", "variables": {"id": "42"}}"#; }
                    response status=200 { body #"{"data": {"product": {"name": "Mug"}}}"#; }
                }
                example "no such product" {
                    request { body #"{"query": "{ product(id: \"0\") { name } }"}"#; }
                    response status=200 { body #"{"data": {"product": null}}"#; }
                }
                example "by fragment" {
                    request { body #"{"query": "{ product(id: \"1\") { ... on Product { name } } }"}"#; }
                    response status=200 { body #"{"data": {"product": {}}}"#; }
                }
                example "wrong type" {
                    request { body #"{"query": "{ product(id: \"1\") { n: name } }"}"#; }
                    response status=200 { body #"{"data": {"product": {"n": 7}}}"#; }
        //                                                                  ^ MESH0122
                }
                example "missing non-null" {
                    request { body #"{"query": "{ product(id: \"1\") { id name } }"}"#; }
                    response status=200 { body #"{"data": {"product": {"id": "1"}}}"#; }
        //                                                 ^^^^^^^^^ MESH0122
                }
                example "unknown field" {
                    request { body #"{"query": "{ product(id: \"42\") { colour } }"}"#; }
        //                         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0122
                    response status=200
                }
                example "another field" {
                    request { body #"{"query": "{ products { name } }"}"#; }
        //                         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0122
                    response status=200
                }
                example "no query" {
                    request { body #"{"q": "{ product(id: \"1\") { name } }"}"#; }
        //                         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0122
                    response status=200
                }
            }
        }
        service "catalog" {
            owner "team-catalog"
            address "catalog.svc" port=8080
            api "catalog-graphql" kind="graphql" schema="catalog.graphql"
            traffic { outlier-detection; }
        }

        //- catalog.graphql
        type Query { product(id: ID!): Product  products: [Product!]! }
        type Product { id: ID! name: String! }
        "##,
    );
    let rendered = support::unwrapped(&support::human(&c));
    for expected in [
        "the request of example `unknown field` is not a query for `Query.product`",
        "the request of example `another field` is not a query for `Query.product`: it selects no `product` in a query operation",
        "the request of example `no query` is not a query for `Query.product`: a GraphQL request is an object with a `query` string",
        "the response of example `wrong type` for `Query.product` does not match its schema: at `data.product.n`: expected string, found an integer",
        "the response of example `missing non-null` for `Query.product` does not match its schema: at `data.product`: the required field `name` of Product is missing",
    ] {
        assert!(rendered.contains(expected), "missing {expected:?} in:\n{rendered}");
    }
}

/// The probe plan (`contracts-probes`) of a service whose authorization
/// allows `web` and denies `cart`: the probes that try callers the allow
/// rule does not name sit at the allow rule's line, the one from `cart` at
/// the deny rule's; a route that takes one method is asked for another
/// through each method-override header, at its `match` line.
#[test]
fn authorization_probes_name_the_rule_they_test_and_method_overrides_the_route() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"mtls {
    mode "strict"
    trust-domain "test.local"
}
service "web" {
    owner "t"
    address "web.svc" port=8080
    sidecar
    calls "orders" timeout="1s"
}
service "cart" {
    owner "t"
    address "cart.svc" port=8080
    sidecar
}
service "orders" {
    owner "t"
    address "orders.svc" port=8080
    sidecar
    traffic { outlier-detection; }
    authorization {
        allow "web"
        allow gateway="edge"
        deny "cart"
    }
}
gateway "edge" {
    listener "http" port=8000
    route "read-order" {
        match path-prefix="/orders/" method="GET"
        to "orders"
        timeout "1s"
        public reason="a test"
    }
    route "delete-order" {
        match path-prefix="/orders/" method="DELETE"
        to "orders"
        timeout "1s"
        public reason="a test"
    }
}
"#;
    support::write_files(dir.path(), &[("mesh.kdl", spec)]);
    let compilation = meshc::driver::compile(dir.path());
    let options = meshc::emit::Options::default().with_backends(["contracts-probes"]).unwrap();
    let built = compilation.build(&options).unwrap_or_else(|e| panic!("{e:?}"));
    let plan: serde_json::Value = serde_json::from_str(&built.artifacts[0].contents).unwrap();
    let probes = plan["probes"].as_array().unwrap();
    let source = |id: &str| {
        let probe = probes.iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("no probe {id}: {plan:#}"));
        (probe["source"].as_str().unwrap().to_string(), probe["from"].clone(), probe["control"].clone())
    };
    let from = |name: &str| serde_json::json!(name);
    assert_eq!(source("service:orders no-certificate"), ("mesh.kdl:22".into(), from("none"), from("web")));
    assert_eq!(source("service:orders plaintext"), ("mesh.kdl:22".into(), from("plaintext"), from("web")));
    assert_eq!(source("service:orders other-workload:cart"), ("mesh.kdl:22".into(), from("cart"), from("web")));
    assert_eq!(source("service:orders denied:cart"), ("mesh.kdl:24".into(), from("cart"), from("web")));
    for header in ["x-http-method-override", "x-http-method", "x-method-override"] {
        let id = format!("gateway:edge/read-order method-override:{header}");
        let probe = probes.iter().find(|p| p["id"] == id.as_str()).unwrap_or_else(|| panic!("no probe {id}"));
        assert_eq!(probe["source"], "mesh.kdl:30");
        assert_eq!(probe["request"]["method"], "GET");
        // The method of the other route on the same path: the one it must not reach.
        assert_eq!(probe["request"]["headers"], serde_json::json!([{ "name": header, "value": "DELETE" }]));
    }
}
