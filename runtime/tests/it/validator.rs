//! The request validator: rules through `Validator::check`, the HTTP
//! service, the `validator` command, and the real Envoy calling it through
//! `envoy.filters.http.ext_authz` (HTTP service mode).

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use meshc_runtime::{serve_validator, Validator, Verdict};
use serde_json::{json, Value};
use support::{
    free_port, http_request_with_body as http, localhost, meshc_runtime, static_cluster, EnvoyProcess, Serving,
};

// ---------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------

fn rules() -> Value {
    json!({
        "gateway": "public",
        "error": { "format": "json", "message": "the request does not match the API" },
        "routes": [
            {
                "route": "get-order",
                "match": { "prefix": "/orders/" },
                "method": "GET",
                "headers": [],
                "operation": "GET /orders/{orderId}",
                "path_template": "/orders/{orderId}",
                "parameters": [
                    { "name": "orderId", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } },
                    { "name": "verbose", "in": "query", "required": false, "schema": { "type": "boolean" } }
                ],
                "body": null
            },
            {
                "route": "list-orders",
                "match": { "path": "/orders" },
                "method": "GET",
                "headers": [],
                "operation": "GET /orders",
                "path_template": "/orders",
                "parameters": [
                    { "name": "limit", "in": "query", "required": false,
                      "schema": { "type": "integer", "minimum": 1, "maximum": 100 } },
                    { "name": "status", "in": "query", "schema": { "$ref": "#/components/schemas/Status" } },
                    { "name": "ids", "in": "query", "schema": { "type": "array", "items": { "type": "integer" } } },
                    { "name": "price", "in": "query", "schema": { "type": "number", "exclusiveMinimum": 0 } },
                    { "name": "X-API-Key", "in": "header", "required": true, "schema": { "type": "string", "minLength": 3 } },
                    { "name": "x-trace", "in": "header", "schema": { "type": "array", "items": { "type": "integer" } } },
                    { "name": "session", "in": "cookie", "schema": { "type": "string", "pattern": "^s-" } }
                ],
                "body": null
            },
            {
                "route": "place-order-v2",
                "match": { "path": "/orders" },
                "method": "POST",
                "headers": [ { "name": "x-version", "exact": "2" } ],
                "operation": "POST /orders",
                "path_template": "/orders",
                "parameters": [],
                "body": { "required": true, "content": {
                    "application/json": { "schema": { "$ref": "#/components/schemas/NewOrderV2" } }
                } }
            },
            {
                "route": "place-order",
                "match": { "path": "/orders" },
                "method": "POST",
                "headers": [ { "name": "content-type", "prefix": "application/" } ],
                "operation": "POST /orders",
                "path_template": "/orders",
                "parameters": [],
                "body": { "required": true, "content": {
                    "application/json": { "schema": { "$ref": "#/components/schemas/NewOrder" } },
                    "application/xml": { "schema": { "$ref": "#/components/schemas/NewOrder" } }
                } }
            },
            {
                "route": "place-order-other",
                "match": { "path": "/orders" },
                "method": "POST",
                "headers": [],
                "operation": "POST /orders",
                "path_template": "/orders",
                "parameters": [],
                "body": { "required": true, "content": {
                    "application/json": { "schema": { "$ref": "#/components/schemas/NewOrder" } },
                    "application/xml": { "schema": { "$ref": "#/components/schemas/NewOrder" } }
                } }
            },
            {
                "route": "put-blob",
                "match": { "prefix": "/blobs/" },
                "method": null,
                "headers": [ { "name": "x-blob", "present": true } ],
                "operation": "PUT /blobs/{name}.{ext}",
                "path_template": "/blobs/{name}.{ext}",
                "parameters": [
                    { "name": "name", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[a-z]+$" } },
                    { "name": "ext", "in": "path", "required": true, "schema": { "type": "string", "enum": ["bin", "txt"] } }
                ],
                "body": { "required": false, "content": { "application/octet-stream": {}, "text/*": {} } }
            }
        ],
        "components": { "schemas": {
            "Status": { "type": "string", "enum": ["open", "closed"] },
            "NewOrder": {
                "type": "object",
                "required": ["sku", "quantity"],
                "additionalProperties": false,
                "properties": {
                    "sku": { "type": "string", "minLength": 1 },
                    "quantity": { "type": "integer", "minimum": 1, "xml": { "name": "qty" } },
                    "note": { "type": "string", "nullable": true },
                    "shipTo": { "$ref": "#/components/schemas/Address" }
                }
            },
            "NewOrderV2": {
                "allOf": [ { "$ref": "#/components/schemas/NewOrder" } ],
                "required": ["customer"]
            },
            "Address": { "type": "object", "required": ["city"], "properties": { "city": { "type": "string" } } }
        } }
    })
}

fn validator() -> Validator {
    Validator::from_json(&rules().to_string()).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const KEY: (&str, &str) = ("x-api-key", "k-123");

/// The parsed JSON error body of a reject; panics on an allow.
fn rejected(verdict: Verdict) -> Value {
    match verdict {
        Verdict::Reject { status, content_type, body } => {
            assert_eq!(status, 400);
            assert_eq!(content_type, "application/json");
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"))
        }
        Verdict::Allow => panic!("allowed, expected a reject"),
    }
}

fn detail(verdict: Verdict) -> String {
    rejected(verdict)["detail"].as_str().unwrap().to_string()
}

fn get(v: &Validator, target: &str, extra: &[(&str, &str)]) -> Verdict {
    let mut pairs = vec![KEY];
    pairs.extend_from_slice(extra);
    v.check("GET", target, &headers(&pairs), b"")
}

fn post(v: &Validator, content_type: &str, body: &str) -> Verdict {
    v.check("POST", "/orders", &headers(&[("content-type", content_type)]), body.as_bytes())
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

#[test]
fn query_parameters_are_coerced_and_validated() {
    let v = validator();
    assert_eq!(get(&v, "/orders", &[]), Verdict::Allow);
    assert_eq!(get(&v, "/orders?limit=5&status=open&price=0.5", &[]), Verdict::Allow);
    assert_eq!(
        rejected(get(&v, "/orders?limit=0", &[])),
        json!({
            "status": 400,
            "error": "the request does not match the API",
            "detail": "query parameter `limit`: 0 is less than the minimum of 1",
            "gateway": "public",
            "route": "list-orders"
        })
    );
    // The reject body keeps the documented key order.
    let Verdict::Reject { body, .. } = get(&v, "/orders?limit=0", &[]) else { panic!() };
    assert!(body.starts_with(r#"{"status":400,"error":"#), "{body}");
    assert!(body.ends_with(r#","gateway":"public","route":"list-orders"}"#), "{body}");

    assert_eq!(
        detail(get(&v, "/orders?limit=101", &[])),
        "query parameter `limit`: 101 is greater than the maximum of 100"
    );
    assert_eq!(detail(get(&v, "/orders?limit=abc", &[])), r#"query parameter `limit`: "abc" is not of type "integer""#);
    assert_eq!(detail(get(&v, "/orders?limit=2.5", &[])), r#"query parameter `limit`: 2.5 is not of type "integer""#);
    assert_eq!(detail(get(&v, "/orders?limit=", &[])), r#"query parameter `limit`: "" is not of type "integer""#);
    // `exclusiveMinimum: 0` (the 3.1 form) is exclusive.
    assert!(detail(get(&v, "/orders?price=0", &[])).starts_with("query parameter `price`: 0 is less than or equal to"));
    // Percent-decoded before validation; `$ref` to a component.
    assert_eq!(get(&v, "/orders?status=%63losed", &[]), Verdict::Allow);
    assert!(
        detail(get(&v, "/orders?status=lost", &[])).starts_with(r#"query parameter `status`: "lost" is not one of"#)
    );
}

#[test]
fn known_formats_are_checked_unknown_ones_ignored() {
    let rules = json!({
        "gateway": "g",
        "routes": [ { "route": "r", "match": { "path": "/" }, "method": "GET", "path_template": "/", "parameters": [
            { "name": "since", "in": "query", "schema": { "type": "string", "format": "date-time" } },
            { "name": "n", "in": "query", "schema": { "type": "integer", "format": "int32" } }
        ] } ]
    });
    let v = Validator::from_json(&rules.to_string()).unwrap();
    assert_eq!(v.check("GET", "/?since=2024-05-01T10:00:00Z&n=5000000000", &[], b""), Verdict::Allow);
    assert!(detail(v.check("GET", "/?since=yesterday", &[], b""))
        .starts_with(r#"query parameter `since`: "yesterday" is not a "date-time""#));
}

#[test]
fn repeated_query_keys_make_arrays() {
    let v = validator();
    assert_eq!(get(&v, "/orders?ids=1&ids=2&ids=3", &[]), Verdict::Allow);
    assert_eq!(get(&v, "/orders?ids=7", &[]), Verdict::Allow);
    assert_eq!(detail(get(&v, "/orders?ids=1&ids=x", &[])), r#"query parameter `ids`: "x" is not of type "integer""#);
}

#[test]
fn path_parameters_bind_from_the_template() {
    let v = validator();
    let get = |target: &str| v.check("GET", target, &[], b"");
    assert_eq!(get("/orders/42"), Verdict::Allow);
    assert_eq!(get("/orders/42?verbose=true"), Verdict::Allow);
    let reject = rejected(get("/orders/0"));
    assert_eq!(reject["route"], "get-order");
    assert_eq!(reject["detail"], "path parameter `orderId`: 0 is less than the minimum of 1");
    assert_eq!(detail(get("/orders/abc")), r#"path parameter `orderId`: "abc" is not of type "integer""#);
    assert_eq!(detail(get("/orders/")), "path parameter `orderId` is required");
    assert_eq!(detail(get("/orders/3?verbose=yes")), r#"query parameter `verbose`: "yes" is not of type "boolean""#);

    // Captures inside a segment: `{name}.{ext}`.
    let put = |target: &str| v.check("PUT", target, &headers(&[("x-blob", "1")]), b"");
    assert_eq!(put("/blobs/photo.bin"), Verdict::Allow);
    assert!(detail(put("/blobs/photo.exe")).starts_with(r#"path parameter `ext`: "exe" is not one of"#));
    assert!(detail(put("/blobs/Photo.bin")).starts_with(r#"path parameter `name`: "Photo" does not match"#));
}

#[test]
fn header_and_cookie_parameters() {
    let v = validator();
    let check = |pairs: &[(&str, &str)]| v.check("GET", "/orders", &headers(pairs), b"");
    assert_eq!(detail(check(&[])), "header `x-api-key` is required");
    // Names are case-insensitive.
    assert_eq!(check(&[("X-Api-KEY", "abcd")]), Verdict::Allow);
    assert_eq!(detail(check(&[("x-api-key", "ab")])), r#"header `x-api-key`: "ab" is shorter than 3 characters"#);
    // Array headers split at commas; repeated headers join.
    assert_eq!(check(&[KEY, ("x-trace", "1, 2,3")]), Verdict::Allow);
    assert_eq!(check(&[KEY, ("x-trace", "1"), ("x-trace", "2")]), Verdict::Allow);
    assert_eq!(detail(check(&[KEY, ("x-trace", "1,b")])), r#"header `x-trace`: "b" is not of type "integer""#);
    assert_eq!(check(&[KEY, ("cookie", "a=1; session=s-9")]), Verdict::Allow);
    assert!(detail(check(&[KEY, ("cookie", "session=x")])).starts_with(r#"cookie `session`: "x" does not match"#));
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

#[test]
fn json_bodies_validate_against_component_schemas() {
    let v = validator();
    assert_eq!(post(&v, "application/json", r#"{"sku":"a","quantity":2}"#), Verdict::Allow);
    assert_eq!(post(&v, "application/json; charset=utf-8", r#"{"sku":"é","quantity":1,"note":null}"#), Verdict::Allow);
    assert_eq!(post(&v, "application/json", r#"{"sku":"a","quantity":1,"shipTo":{"city":"Oslo"}}"#), Verdict::Allow);

    let reject = rejected(post(&v, "application/json", r#"{"sku":"a","quantity":0}"#));
    assert_eq!(reject["route"], "place-order");
    assert_eq!(reject["detail"], "request body at `/quantity`: 0 is less than the minimum of 1");
    assert_eq!(
        detail(post(&v, "application/json", r#"{"sku":"a"}"#)),
        r#"request body: "quantity" is a required property"#
    );
    // Through a nested `$ref`.
    assert_eq!(
        detail(post(&v, "application/json", r#"{"sku":"a","quantity":1,"shipTo":{}}"#)),
        r#"request body at `/shipTo`: "city" is a required property"#
    );
    assert!(detail(post(&v, "application/json", r#"{"sku":"a","quantity":1,"x":1}"#)).contains("Additional properties"));
    assert!(detail(post(&v, "application/json", r#"{"sku":"a","quantity":1,"note":5}"#)).contains("is not of type"));
}

#[test]
fn malformed_missing_and_mistyped_bodies() {
    let v = validator();
    assert!(detail(post(&v, "application/json", r#"{"sku":"a","#)).starts_with("request body is not valid JSON: "));
    assert_eq!(detail(post(&v, "application/json", "")), "request body is required");
    assert_eq!(
        detail(post(&v, "application/yaml", "sku: a")),
        "content type `application/yaml` is not accepted; expected one of `application/json`, `application/xml`"
    );
    // No content type at all: the `place-order` header rule does not admit
    // it, the next route does.
    let reject = rejected(v.check("POST", "/orders", &[], b"{}"));
    assert_eq!(reject["route"], "place-order-other");
    assert_eq!(
        reject["detail"],
        "the request body has no content type; expected one of `application/json`, `application/xml`"
    );
    // Declared types other than JSON and XML are taken as they are, ranges too.
    let put = |ct: &str, body: &[u8]| {
        v.check("PUT", "/blobs/a.bin", &headers(&[("x-blob", "1"), ("content-type", ct)]), body)
    };
    assert_eq!(put("application/octet-stream", b"\x00\xff{<"), Verdict::Allow);
    assert_eq!(put("text/csv", b"a,b"), Verdict::Allow);
    assert!(detail(put("image/png", b"x")).starts_with("content type `image/png` is not accepted"));
}

#[test]
fn xml_bodies_must_be_well_formed_with_required_elements() {
    let v = validator();
    let xml = |body: &str| post(&v, "application/xml", body);
    assert_eq!(xml("<?xml version=\"1.0\"?><NewOrder><sku>a</sku><qty>1</qty></NewOrder>"), Verdict::Allow);
    // The property name works as well as its `xml.name`.
    assert_eq!(xml("<order><sku>a</sku><quantity>1</quantity></order>"), Verdict::Allow);
    let reject = rejected(xml("<NewOrder><sku>a</sku><qty>1</qty>"));
    assert_eq!(reject["route"], "place-order");
    assert!(reject["detail"].as_str().unwrap().starts_with("request body is not well-formed XML: "), "{reject}");
    assert!(detail(xml("<NewOrder><sku>a</sku></qty></NewOrder>")).starts_with("request body is not well-formed XML: "));
    assert_eq!(
        detail(xml("<NewOrder><sku>a</sku><note/></NewOrder>")),
        "request body: XML element `qty` (property `quantity`) is required in <NewOrder>"
    );
    // Only children of the root count.
    assert!(detail(xml("<NewOrder><sku>a</sku><x><qty>1</qty></x></NewOrder>")).contains("`qty`"));
    // text/xml and +xml are XML too, when declared.
    let rules = json!({
        "gateway": "g",
        "routes": [ { "route": "r", "match": { "prefix": "/" }, "method": null, "path_template": "/",
                      "body": { "required": true, "content": { "text/xml": {}, "application/atom+xml": {} } } } ]
    });
    let v = Validator::from_json(&rules.to_string()).unwrap();
    let check = |ct: &str, body: &str| v.check("POST", "/", &headers(&[("content-type", ct)]), body.as_bytes());
    assert_eq!(check("text/xml", "<a/>"), Verdict::Allow);
    assert!(detail(check("application/atom+xml", "<a>")).starts_with("request body is not well-formed XML"));
}

// ---------------------------------------------------------------------------
// Route matching and answers
// ---------------------------------------------------------------------------

#[test]
fn the_first_matching_route_decides() {
    let v = validator();
    // Header rule `x-version: 2` picks the v2 operation first.
    let body = br#"{"sku":"a","quantity":1}"#;
    let v2 = v.check("POST", "/orders", &headers(&[("content-type", "application/json"), ("x-version", "2")]), body);
    let reject = rejected(v2);
    assert_eq!(reject["route"], "place-order-v2");
    assert_eq!(reject["detail"], r#"request body: "customer" is a required property"#);
    // Any other value falls through to the next route.
    let v1 = v.check("POST", "/orders", &headers(&[("content-type", "application/json"), ("x-version", "1")]), body);
    assert_eq!(v1, Verdict::Allow);
    let decision = v.decide("POST", "/orders", &headers(&[("Content-Type", "application/json")]), body);
    assert_eq!(decision.route.as_deref(), Some("place-order"));
    // Method rules: DELETE /orders is no validated route, nor is an unknown path.
    assert_eq!(v.check("DELETE", "/orders", &[], b""), Verdict::Allow);
    assert_eq!(v.decide("GET", "/elsewhere?limit=0", &[], b"").route, None);
    // Exact path matches ignore the query string but not extra segments;
    // `method: null` admits any method; `present: true` needs the header.
    assert_eq!(v.decide("GET", "/orders/?x", &[], b"").route.as_deref(), Some("get-order"));
    assert_eq!(v.decide("POST", "/blobs/a.bin", &headers(&[("x-blob", "")]), b"").route.as_deref(), Some("put-blob"));
    assert_eq!(v.decide("POST", "/blobs/a.bin", &[], b"").route, None);
    assert_eq!(v.routes().collect::<Vec<_>>().len(), 6);
    assert_eq!(v.gateway(), "public");
}

#[test]
fn text_error_format() {
    let mut rules = rules();
    rules["error"] = json!({ "format": "text", "message": "bad request" });
    let v = Validator::from_json(&rules.to_string()).unwrap();
    assert_eq!(
        get(&v, "/orders?limit=0", &[]),
        Verdict::Reject {
            status: 400,
            content_type: "text/plain; charset=utf-8".into(),
            body: "400 bad request: query parameter `limit`: 0 is less than the minimum of 1\n".into(),
        }
    );
    // A route's own `error` wins over the gateway's.
    rules["routes"][1]["error"] = json!({ "format": "json", "message": "listing needs a valid limit" });
    let v = Validator::from_json(&rules.to_string()).unwrap();
    assert_eq!(rejected(get(&v, "/orders?limit=0", &[]))["error"], "listing needs a valid limit");
    let Verdict::Reject { content_type, .. } = v.check("GET", "/orders/0", &[], b"") else { panic!() };
    assert_eq!(content_type, "text/plain; charset=utf-8");
}

#[test]
fn bad_rules_fail_at_load_time() {
    let err = |rules: Value| Validator::from_json(&rules.to_string()).unwrap_err();
    assert!(Validator::from_json("{").unwrap_err().contains("not JSON"));
    let route = |param: Value| {
        json!({ "gateway": "g", "routes": [ { "route": "r", "match": { "path": "/x" }, "method": "GET",
                "path_template": "/x", "parameters": [param], "body": null } ] })
    };
    let e = err(route(json!({ "name": "a", "in": "query", "schema": { "type": 5 } })));
    assert!(e.contains("routes[0] (`r`): parameter `a`") && e.contains("does not compile"), "{e}");
    let e = err(route(json!({ "name": "a", "in": "query", "schema": { "$ref": "#/components/schemas/Missing" } })));
    assert!(e.contains("parameter `a`"), "{e}");
    let e = err(route(json!({ "name": "a", "in": "path", "schema": { "type": "string" } })));
    assert!(e.contains("path parameter `a` is not in `path_template`"), "{e}");
    let e = err(json!({ "routes": [ { "route": "r", "match": {}, "method": null } ] }));
    assert!(e.contains("exactly one of `path` and `prefix`"), "{e}");
    let e = err(json!({ "error": { "format": "yaml" }, "routes": [] }));
    assert!(e.starts_with("`error.format`: unknown variant `yaml`, expected `json` or `text`"), "{e}");
    // Unknown and mistyped keys are errors naming their path.
    let e = err(json!({ "routes": [ { "route": "r", "match": { "regex": "/x" } } ] }));
    assert!(e.starts_with("`routes[0].match.regex`: unknown field `regex`, expected `path` or `prefix`"), "{e}");
    let e = err(route(json!({ "name": "a", "in": "query", "style": "form" })));
    assert!(e.starts_with("`routes[0].parameters[0].style`: unknown field `style`"), "{e}");
    let e = err(route(json!({ "name": "a", "in": "body" })));
    assert!(e.starts_with("`routes[0].parameters[0].in`: unknown variant `body`"), "{e}");
    let e = err(json!({ "gateway": "g", "component": {} }));
    assert!(e.starts_with("`component`: unknown field `component`, expected one of"), "{e}");
    let e =
        err(json!({ "routes": [ { "match": { "path": "/" }, "headers": [ { "name": "x", "present": "yes" } ] } ] }));
    assert!(e.starts_with("`routes[0].headers[0].present`: invalid type: string \"yes\", expected a boolean"), "{e}");
}

// ---------------------------------------------------------------------------
// The HTTP service and the command
// ---------------------------------------------------------------------------

#[test]
fn the_service_answers_over_http() {
    let handle = serve_validator(validator(), localhost()).unwrap();
    let port = handle.port();
    let ok = http(port, "GET", "/orders?limit=3", &[KEY], b"");
    assert_eq!((ok.status, ok.body.len()), (200, 0));
    let bad = http(port, "POST", "/orders?x=1", &[("content-type", "application/json")], br#"{"sku":"","quantity":1}"#);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&bad.body).unwrap();
    assert_eq!(body["route"], "place-order");
    assert_eq!(body["detail"], "request body at `/sku`: \"\" is shorter than 1 character");

    let seen = handle.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[1].method.as_str(), seen[1].path_and_query.as_str()), ("POST", "/orders?x=1"));
    assert_eq!(seen[1].body, br#"{"sku":"","quantity":1}"#);
    assert!(seen[1].headers.contains(&("content-type".into(), "application/json".into())));
    assert_eq!(seen[1].route.as_deref(), Some("place-order"));
    assert!(!seen[1].verdict.is_allow());
    assert_eq!(handle.take_requests().len(), 2);
    assert!(handle.requests().is_empty());

    drop(handle);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "port still open after drop");
    let err = serve_validator(validator(), "0.0.0.0:0".parse().unwrap()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn the_command_serves_a_rules_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway-public.json");
    std::fs::write(&path, rules().to_string()).unwrap();
    let mut server =
        Serving::start(meshc_runtime().args(["validator", "--rules"]).arg(&path).args(["--listen", "127.0.0.1:0"]));
    let reply = http(server.addr.port(), "GET", "/orders?limit=0", &[KEY], b"");
    assert_eq!(reply.status, 400);
    assert_eq!(
        server.next_json(),
        json!({ "method": "GET", "path": "/orders?limit=0", "route": "list-orders", "verdict": "reject",
                "detail": "query parameter `limit`: 0 is less than the minimum of 1" })
    );

    std::fs::write(&path, r#"{"routes": 3}"#).unwrap();
    let out = meshc_runtime().args(["validator", "--rules"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`routes`: invalid type: integer `3`, expected a sequence"), "{stderr}");
}

// ---------------------------------------------------------------------------
// The real Envoy
// ---------------------------------------------------------------------------

/// (method, target, body) of each request an upstream received.
type Hits = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A tiny HTTP/1.1 upstream: answers every request `200 upstream ok` and
/// records (method, target, body). Keep-alive, one thread per connection.
struct Upstream {
    port: u16,
    hits: Hits,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits: Hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (Arc::clone(&hits), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let hits = Arc::clone(&h);
                thread::spawn(move || serve_upstream(stream, &hits));
            }
        });
        Upstream { port, hits, stop, thread: Some(thread) }
    }

    fn hits(&self) -> Vec<(String, String, Vec<u8>)> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_upstream(stream: TcpStream, hits: &Mutex<Vec<(String, String, Vec<u8>)>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let (mut length, mut chunked) = (0usize, false);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((&header, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            reader.read_exact(&mut body).unwrap();
        }
        hits.lock().unwrap().push((method, target, body));
        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\r\nupstream ok";
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

/// A minimal bootstrap: listener → ext_authz (HTTP service: the validator)
/// → router → upstream.
fn bootstrap(listen: u16, validator: u16, upstream: u16) -> String {
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
              - match: {{ prefix: "/" }}
                route: {{ cluster: upstream }}
          http_filters:
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              failure_mode_allow: false
              with_request_body: {{ max_request_bytes: 1048576, allow_partial_message: false, pack_as_bytes: true }}
              # `prefix: ""` is refused (StringMatcher.prefix needs 1+ characters) and
              # `http_service.authorization_request.allowed_headers` is deprecated.
              allowed_headers:
                patterns: [ {{ safe_regex: {{ regex: ".*" }} }} ]
              http_service:
                server_uri: {{ uri: "http://127.0.0.1:{validator}", cluster: validator, timeout: 5s }}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:{}{}
"#,
        static_cluster("upstream", upstream),
        static_cluster("validator", validator)
    )
}

#[test]
fn envoy_ext_authz_calls_the_validator() {
    let upstream = Upstream::start();
    let validator = serve_validator(validator(), localhost()).unwrap();
    let port = free_port();
    let envoy = EnvoyProcess::serve(&bootstrap(port, validator.port(), upstream.port), port);

    // A valid POST reaches the upstream; its body arrives at the validator
    // (and the upstream) byte for byte.
    let order = r#"{"sku":"thé-42","quantity":2,"note":null}"#;
    let json_ct = ("content-type", "application/json; charset=utf-8");
    let ok =
        http(port, "POST", "/orders?src=test&x=%20a", &[json_ct, ("x-multi", "a"), ("x-multi", "b")], order.as_bytes());
    assert_eq!((ok.status, ok.body.as_str()), (200, "upstream ok"), "{}", envoy.log());
    assert_eq!(upstream.hits(), vec![("POST".into(), "/orders?src=test&x=%20a".into(), order.as_bytes().to_vec())]);
    let seen = validator.take_requests();
    assert_eq!(seen.len(), 1);
    let check = &seen[0];
    assert_eq!((check.method.as_str(), check.path_and_query.as_str()), ("POST", "/orders?src=test&x=%20a"));
    assert_eq!(check.body, order.as_bytes());
    let header = |name: &str| check.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(header("content-length"), Some(order.len().to_string().as_str()));
    assert_eq!(header("host"), Some(format!("127.0.0.1:{port}").as_str()));
    // Envoy joins a repeated header into one value.
    assert_eq!(header("x-multi"), Some("a,b"));
    assert_eq!(header("x-envoy-auth-partial-body"), Some("false"));
    assert_eq!(check.route.as_deref(), Some("place-order"));

    // An invalid one gets the validator's 400 and error body; the upstream
    // is not hit.
    let bad = http(port, "POST", "/orders", &[json_ct], br#"{"sku":"a","quantity":0}"#);
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&bad.body).unwrap_or_else(|e| panic!("{}: {e}", bad.body));
    assert_eq!(
        body,
        json!({ "status": 400, "error": "the request does not match the API",
                "detail": "request body at `/quantity`: 0 is less than the minimum of 1",
                "gateway": "public", "route": "place-order" })
    );
    let malformed = http(port, "POST", "/orders", &[json_ct], br#"{"sku":"#);
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    assert_eq!(upstream.hits().len(), 1);

    // GET with a bad query parameter: rejected; with a good one: through.
    let key = ("X-Api-Key", "k-123");
    let bad_query = http(port, "GET", "/orders?limit=0", &[key], b"");
    assert_eq!(bad_query.status, 400);
    let body: Value = serde_json::from_str(&bad_query.body).unwrap();
    assert_eq!(body["detail"], "query parameter `limit`: 0 is less than the minimum of 1");
    assert_eq!(upstream.hits().len(), 1);
    assert_eq!(http(port, "GET", "/orders?limit=5&ids=1&ids=2", &[key], b"").status, 200);
    assert_eq!(http(port, "GET", "/orders/7", &[], b"").status, 200);
    assert_eq!(http(port, "DELETE", "/orders/7", &[], b"").status, 200, "no validated route: allowed");
    assert_eq!(upstream.hits().len(), 4);
    let seen = validator.take_requests();
    let methods: Vec<&str> = seen.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(methods, ["POST", "POST", "GET", "GET", "GET", "DELETE"], "Envoy sends the original method");
    assert!(seen.iter().filter(|c| c.method == "GET").all(|c| c.body.is_empty()));

    // Binary bodies (NUL, invalid UTF-8) arrive intact with pack_as_bytes.
    let blob: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let put =
        http(port, "PUT", "/blobs/raw.bin", &[("x-blob", "1"), ("content-type", "application/octet-stream")], &blob);
    assert_eq!(put.status, 200, "{}", put.body);
    let seen = validator.take_requests();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].body == blob, "the validator got {} bytes, not the 70000 sent", seen[0].body.len());
    assert_eq!(upstream.hits().last().unwrap().2, blob);

    // failure_mode_allow: false — with the validator gone, Envoy refuses
    // (403, its default status_on_error) and the upstream is not hit.
    drop(validator);
    let down = http(port, "GET", "/orders?limit=5", &[key], b"");
    assert_eq!(down.status, 403, "{}", down.body);
    assert_eq!(upstream.hits().len(), 5);

    drop(envoy);
}
