//! The contract mock on 127.0.0.1 from a hand-written mock config: REST,
//! GraphQL and gRPC on one port, answers chosen by request body, a schema
//! the generator cannot satisfy, and `meshc-runtime mock` as a process.
//! (The shop's emitted mocks are served in the compiler's
//! tests/it/contract_mocks.rs, which can build the shop.)

use crate::support;

use base64::Engine as _;
use meshc_runtime::call_unary;
use meshc_runtime::contracts::{AnswerUsed, ContractMock, MockPlan, PlanError};
use meshc_runtime::prost_reflect::DescriptorPool;
use serde_json::{json, Value};
use support::{compile_proto, http_request, http_request_with_body, localhost, meshc_runtime, Serving};

const GET_STOCK: &str = "/stock.v1.Stock/Get";

/// A mock with one operation of each protocol; the pool of its gRPC API.
fn config() -> (Value, DescriptorPool) {
    let compiler = compile_proto(
        "stock.proto",
        "syntax = \"proto3\"; package stock.v1;\n\
         service Stock { rpc Get(Query) returns (Level); }\n\
         message Query { string sku = 1; }\n\
         message Level { string sku = 1; int64 count = 2; repeated string depots = 3; Kind kind = 4; }\n\
         enum Kind { KIND_UNSPECIFIED = 0; KIND_SHELF = 1; }\n",
    );
    let config = json!({
        "descriptors": ["../descriptors/stock.b64"],
        "format": "meshc-contracts/2",
        "listen": { "host": "stock", "port": 8080 },
        "mesh": "test",
        "service": "stock",
        "operations": [
            {
                "answers": [{
                    "given": [], "interaction": "web->stock Query.reviews #five stars",
                    "request": { "body": { "query": "{ reviews(sku: \"a\") { stars } }" }, "headers": [], "method": "POST", "path": "/", "query": [] },
                    "response": { "body": { "data": { "reviews": { "stars": 5 } } }, "headers": [], "matchers": [], "status": 200 }
                }],
                "method": "POST", "operation": "Query.reviews", "path": "/", "protocol": "graphql",
                "reads": [{ "guaranteed": true, "path": "stars", "type": "integer" }]
            },
            {
                "answers": [{
                    "given": [], "interaction": "web->stock stock.v1.Stock/Get #sku a",
                    "request": { "body": { "sku": "a" }, "headers": [], "method": "POST", "path": GET_STOCK, "query": [] },
                    "response": { "body": { "sku": "a", "count": 3 }, "headers": [], "matchers": [], "status": 0 }
                }, {
                    "given": [], "interaction": "web->stock stock.v1.Stock/Get #sku gone",
                    "request": { "body": { "sku": "gone" }, "headers": [], "method": "POST", "path": GET_STOCK, "query": [] },
                    "response": { "headers": [], "matchers": [], "status": 5 }
                }],
                "method": "POST", "operation": "stock.v1.Stock/Get", "path": GET_STOCK, "protocol": "grpc",
                "reads": [{ "guaranteed": true, "path": "count", "type": "string" }]
            },
            {
                "answers": [], "method": "GET", "operation": "GET /codes/{sku}", "path": "/codes/{sku}", "protocol": "http",
                "reads": [],
                "response_schema": { "type": "object", "required": ["code"], "properties": { "code": { "type": "string", "pattern": "^[0-9]{6}$" } } },
                "status": 200
            },
            {
                "answers": [], "method": "DELETE", "operation": "DELETE /codes/{sku}", "path": "/codes/{sku}",
                "protocol": "http", "reads": [], "status": 204
            }
        ]
    });
    (config, compiler.descriptor_pool())
}

#[test]
fn one_port_serves_graphql_and_grpc_from_answers_or_generated() {
    let (config, pool) = config();
    let mock = mock(&config).unwrap().spawn(localhost()).unwrap();

    // GraphQL over HTTP/1.1: the answer whose body matches, else the reads.
    let ask = |query: &str| {
        let body = json!({ "query": query }).to_string();
        http_request_with_body(
            mock.port(),
            "POST",
            "/graphql",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    };
    assert_eq!(ask("{ reviews(sku: \"a\") { stars } }").json(), json!({ "data": { "reviews": { "stars": 5 } } }));
    assert_eq!(ask("{ reviews(sku: \"b\") { stars } }").json(), json!({ "data": { "reviews": { "stars": 1 } } }));

    // gRPC over HTTP/2 on the same port: the int64 in the request normalized before comparing.
    assert_eq!(
        call_unary(&pool, mock.addr(), GET_STOCK, &json!({ "sku": "a" })).unwrap(),
        json!({ "sku": "a", "count": "3" })
    );
    let gone = call_unary(&pool, mock.addr(), GET_STOCK, &json!({ "sku": "gone" })).unwrap_err();
    assert_eq!(gone.code(), meshc_runtime::Code::NotFound, "{gone:?}");
    assert!(gone.message().contains("#sku gone"), "{gone:?}");
    let generated = call_unary(&pool, mock.addr(), GET_STOCK, &json!({ "sku": "z" })).unwrap();
    assert_eq!(generated, json!({ "sku": "sku", "count": "1", "depots": ["depots"], "kind": "KIND_SHELF" }));

    let answers: Vec<(Option<String>, AnswerUsed, u16)> =
        mock.requests().into_iter().map(|r| (r.operation, r.answer, r.status)).collect();
    let op = |name: &str| Some(name.to_string());
    assert_eq!(
        answers,
        [
            (op("Query.reviews"), AnswerUsed::Canned("web->stock Query.reviews #five stars".into()), 200),
            (op("Query.reviews"), AnswerUsed::Generated, 200),
            (op("stock.v1.Stock/Get"), AnswerUsed::Canned("web->stock stock.v1.Stock/Get #sku a".into()), 0),
            (op("stock.v1.Stock/Get"), AnswerUsed::Canned("web->stock stock.v1.Stock/Get #sku gone".into()), 5),
            (op("stock.v1.Stock/Get"), AnswerUsed::Generated, 0),
        ]
    );
}

/// The mock of a config, its descriptor `stock.proto` served beside it.
fn mock(config: &Value) -> Result<ContractMock, PlanError> {
    let descriptor = stock_descriptor();
    ContractMock::new(MockPlan::from_json(&config.to_string())?.with_descriptors(|_| Ok(descriptor.clone()))?)
}

/// `stock.proto`'s descriptor as `meshc build` writes it (`descriptors/HASH.b64`).
fn stock_descriptor() -> String {
    let (_, pool) = config();
    let file = pool.get_file_by_name("stock.proto").unwrap();
    base64::engine::general_purpose::STANDARD.encode(file.encode_to_vec()) + "\n"
}

#[test]
fn a_schema_the_generator_cannot_satisfy_is_answered_500_saying_why() {
    let (config, _) = config();
    let mock = mock(&config).unwrap().spawn(localhost()).unwrap();
    let got = http_request(mock.port(), "GET", "/codes/a1", &[]);
    assert_eq!(got.status, 500, "{}", got.body);
    assert!(got.body.contains("GET /codes/{sku}") && got.body.contains("does not validate"), "{}", got.body);
}

#[test]
fn an_operation_without_a_json_body_answers_its_status_empty() {
    let (config, _) = config();
    let mock = mock(&config).unwrap().spawn(localhost()).unwrap();
    let got = http_request(mock.port(), "DELETE", "/codes/a1", &[]);
    assert_eq!((got.status, got.body.as_str()), (204, ""));
    assert_eq!(mock.requests()[0].answer, AnswerUsed::Generated);
}

#[test]
fn the_services_health_check_is_answered_with_its_status_and_not_recorded() {
    let (mut config, _) = config();
    config["health"] = json!({ "path": "/healthz", "status": 204 });
    let mock = mock(&config).unwrap().spawn(localhost()).unwrap();
    let got = http_request(mock.port(), "GET", "/healthz", &[]);
    assert_eq!((got.status, got.body.as_str()), (204, ""));
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
    // Only a GET of the path is the check: anything else is an unknown operation.
    assert_eq!(http_request(mock.port(), "POST", "/healthz", &[]).status, 404);
    assert_eq!(http_request(mock.port(), "GET", "/healthz/x", &[]).status, 404);
}

#[test]
fn a_health_check_status_that_is_not_http_is_refused() {
    let (mut config, _) = config();
    config["health"] = json!({ "path": "/healthz", "status": 42 });
    let error = mock(&config).unwrap_err().to_string();
    assert!(error.contains("`health`: status 42"), "{error}");
}

#[test]
fn a_canned_grpc_body_that_is_not_its_message_is_refused_naming_it() {
    let (mut config, _) = config();
    config["operations"][1]["answers"][0]["response"]["body"] = json!({ "count": "many" });
    let error = mock(&config).unwrap_err().to_string();
    assert!(error.contains("`operations[1]`: `answers[0]`: `response.body`"), "{error}");
    assert!(error.contains("stock.v1.Level"), "{error}");
}

#[test]
fn mock_command_serves_a_config_and_prints_each_request() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config();
    std::fs::create_dir_all(dir.path().join("mocks")).unwrap();
    std::fs::create_dir_all(dir.path().join("descriptors")).unwrap();
    std::fs::write(dir.path().join("descriptors/stock.b64"), stock_descriptor()).unwrap();
    let path = dir.path().join("mocks/stock.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let mut server = Serving::start(meshc_runtime().args(["mock", "--config"]).arg(&path));
    assert!(server.addr.ip().is_loopback() && server.addr.port() != 0, "listening on {}", server.addr);

    let got = http_request(server.addr.port(), "GET", "/missing?x=1", &[]);
    assert_eq!(got.status, 404);
    assert!(got.body.contains("it serves POST /, GET /codes/{sku}, DELETE /codes/{sku}"), "{}", got.body);
    let line = server.next_json();
    assert_eq!(
        (&line["protocol"], &line["method"], &line["path"], &line["query"], &line["answer"], &line["status"]),
        (
            &json!("http"),
            &json!("GET"),
            &json!("/missing"),
            &json!([{ "name": "x", "value": "1" }]),
            &Value::Null,
            &json!(404)
        )
    );

    std::fs::write(&path, config.to_string().replace("\"mesh\"", "\"mseh\"")).unwrap();
    let out = meshc_runtime().args(["mock", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`mseh`"), "{stderr}");
}

#[test]
fn a_grpc_request_that_is_not_the_input_message_is_refused_and_recorded() {
    let (config, _) = config();
    let mock = mock(&config).unwrap().spawn(localhost()).unwrap();
    // Same method, but `sku` as a varint where the mock's `Query` has a string.
    let wrong = compile_proto(
        "wrong.proto",
        "syntax = \"proto3\"; package stock.v1;\n\
         service Stock { rpc Get(Query) returns (Query); }\nmessage Query { int32 sku = 1; }\n",
    )
    .descriptor_pool();
    let error = call_unary(&wrong, mock.addr(), GET_STOCK, &json!({ "sku": 7 })).unwrap_err();
    assert_eq!(error.code(), meshc_runtime::Code::InvalidArgument, "{error:?}");
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].operation.as_deref(), &recorded[0].answer, recorded[0].status),
        (Some("stock.v1.Stock/Get"), &AnswerUsed::Refused, meshc_runtime::Code::InvalidArgument as u16)
    );
    assert!(recorded[0].headers.iter().any(|(name, _)| name == "content-type"), "{:?}", recorded[0].headers);
}
