//! End-user security at the gateway against the real Envoy: JWT validation
//! (inline and fetched JWKS), claim and role checks, claim-to-header,
//! local rate limits per route, per claim and per client address, and the
//! audit log. The test mints its own ES256 tokens with its own keys.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use support::{envoy_validate, free_port, http_request, repo_root, write_files, EnvoyProcess, Upstream};

/// An ES256 signing key and its JWKS.
struct Signer {
    key: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl Signer {
    fn new(kid: &str) -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        Signer { key, kid: kid.to_string(), rng }
    }

    /// The public key as a JWKS: x and y from the uncompressed point (0x04 || x || y).
    fn jwks(&self) -> String {
        let point = self.key.public_key().as_ref();
        assert_eq!((point.len(), point[0]), (65, 4), "an uncompressed P-256 point");
        json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        }]})
        .to_string()
    }

    /// A signed JWT with `claims`; `exp` one hour ahead unless given.
    fn token(&self, claims: Value) -> String {
        let mut claims = claims;
        if claims.get("exp").is_none() {
            claims["exp"] = json!(now() + 3600);
        }
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        // The fixed encoding is JWS's r || s.
        let signature = self.key.sign(&self.rng, input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Builds `workspace` and writes its artifacts under `out`.
fn build(workspace: &Path, out: &Path) -> Vec<PathBuf> {
    let compilation = meshc::driver::compile(workspace);
    assert!(compilation.diagnostics.is_empty(), "{:?}", compilation.diagnostics);
    support::build_workspace(workspace, out)
}

fn spec(listener: u16, upstream: u16, jwks_port: u16, audit: &Path) -> String {
    format!(
        r#"
mesh "secure"

jwt-issuer "shop-users" {{
    issuer "https://auth.shop.test"
    audiences "shop-api"
    jwks "keys/shop-users.jwks.json"
    claim "email" type="string"
    claim "roles" type="string-list"
    claim "scope" type="space-delimited"
}}
jwt-issuer "partners" {{
    issuer "https://partners.test"
    jwks-uri "http://127.0.0.1:{jwks_port}/jwks.json"
}}
role "admin" {{
    require-claim "roles" contains="admin"
}}

service "orders" {{
    owner "team-orders"
    address "127.0.0.1" port={upstream}
}}

gateway "edge" {{
    listener "http" address="127.0.0.1" port={listener}
    audit-log path="{audit}"
    route "place-order" {{
        match path="/orders" method="POST"
        to "orders"
        auth "shop-users" {{
            require-claim "scope" contains="orders:write"
            claim-to-header "sub" "x-user-id"
        }}
        audit fields="method path status principal claim:email"
    }}
    route "admin" {{
        match path-prefix="/admin/"
        to "orders"
        auth "shop-users" forward=#true {{
            require-role "admin"
        }}
    }}
    route "limited" {{
        match path="/limited"
        to "orders"
        auth "shop-users"
        rate-limit 3 per="minute" key="claim:sub"
    }}
    route "products" {{
        match path-prefix="/products"
        to "orders"
        public reason="the catalogue is open to everyone"
        rate-limit 2 per="minute" key="client-ip"
    }}
    route "partner" {{
        match path="/partner"
        to "orders"
        auth "partners"
    }}
    route "health" {{
        match path="/healthz"
        to "orders"
    }}
}}
"#,
        audit = audit.display()
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn the_gateway_authenticates_authorizes_limits_and_audits_requests() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Signer::new("shop-1");
    let partner = Signer::new("partner-1");
    let partner_jwks = partner.jwks();
    let jwks_server = Upstream::start_responding("jwks", move |_| (200, "application/json", partner_jwks.clone()));
    let upstream = Upstream::start("orders");
    let port = free_port();
    let audit = dir.path().join("audit.log");
    write_files(
        dir.path(),
        &[
            ("mesh.kdl", &spec(port, upstream.port(), jwks_server.port(), &audit)),
            ("keys/shop-users.jwks.json", &shop.jwks()),
        ],
    );
    let configs = build(dir.path(), &dir.path().join("out"));
    let gateway = configs.iter().find(|p| p.ends_with("envoy/gateway-edge.yaml")).unwrap();
    envoy_validate(gateway).unwrap_or_else(|e| panic!("rejected by Envoy:\n{e}"));
    let envoy = EnvoyProcess::start(gateway);
    envoy.wait_ready(port);

    let claims = |sub: &str, scope: &str, roles: &[&str]| {
        json!({
            "iss": "https://auth.shop.test", "aud": "shop-api", "sub": sub,
            "email": format!("{sub}@shop.test"), "scope": scope, "roles": roles
        })
    };
    let writer = shop.token(claims("alice", "orders:read orders:write", &["customer"]));
    let post = |token: Option<&str>| {
        let auth = token.map(bearer);
        let mut headers = vec![("x-user-id", "forged")];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        http_request(port, "POST", "/orders", &headers)
    };

    // No token: 401 with the gateway's error body.
    let response = post(None);
    assert_eq!(response.status, 401, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "a valid access token is required");
    assert_eq!(body["gateway"], "edge");
    // Wrong audience, expired, signed by another key: 401.
    let wrong_audience =
        shop.token(json!({ "iss": "https://auth.shop.test", "aud": "other", "sub": "alice", "scope": "orders:write" }));
    assert_eq!(post(Some(&wrong_audience)).status, 401);
    let expired = shop.token(json!({ "iss": "https://auth.shop.test", "aud": "shop-api", "sub": "alice", "scope": "orders:write", "exp": now() - 600 }));
    assert_eq!(post(Some(&expired)).status, 401);
    let foreign = partner.token(claims("mallory", "orders:write", &[]));
    assert_eq!(post(Some(&foreign)).status, 401);
    assert_eq!(upstream.hits(), 0, "refused requests never reach the service");

    // A valid token with the required claim: 200; the claim header reaches
    // the service (the client's forged value is replaced), the token does not.
    let response = post(Some(&writer));
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(seen.header("x-user-id"), Some("alice"));
    assert_eq!(seen.header("authorization"), None, "forward is off: the token stays at the gateway");
    // Without the required scope: 403 with the gateway's body.
    let reader = shop.token(claims("bob", "orders:read", &["customer"]));
    let response = post(Some(&reader));
    assert_eq!(response.status, 403, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "the access token does not allow this request");

    // A role: 403 without it, 200 with it, and this route forwards the token.
    let admin = shop.token(claims("root", "", &["customer", "admin"]));
    let get = |path: &str, token: &str| http_request(port, "GET", path, &[("authorization", &bearer(token))]);
    assert_eq!(get("/admin/users", &writer).status, 403);
    let hits = upstream.hits();
    assert_eq!(get("/admin/users", &admin).status, 200);
    assert_eq!(upstream.hits(), hits + 1);
    assert_eq!(upstream.requests().pop().unwrap().header("authorization"), Some(bearer(&admin).as_str()));

    // A local limit per `sub`: the 4th request of alice in the minute is 429; bob has his own bucket.
    for i in 1..=3 {
        assert_eq!(get("/limited", &writer).status, 200, "request {i} of 3");
    }
    let response = get("/limited", &writer);
    assert_eq!(response.status, 429, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["error"], "too many requests; slow down and retry later");
    assert_eq!(get("/limited", &reader).status, 200, "another user's bucket is full");

    // A public route limited per client address: the 3rd request is 429.
    for _ in 0..2 {
        assert_eq!(http_request(port, "GET", "/products/1", &[]).status, 200);
    }
    assert_eq!(http_request(port, "GET", "/products/1", &[]).status, 429);

    // Keys fetched from the issuer's JWKS URI.
    let partner_token = partner.token(json!({ "iss": "https://partners.test", "sub": "acme" }));
    let response = wait_for_status(port, "/partner", &partner_token, 200);
    assert_eq!(response, 200);
    assert_eq!(get("/partner", &shop.token(json!({ "iss": "https://partners.test", "sub": "acme" }))).status, 401);
    assert!(jwks_server.hits() >= 1);

    // Not audited.
    assert_eq!(http_request(port, "GET", "/healthz", &[]).status, 200);

    // The audit log: every request of the audited route, refused or not, with its fields; nothing else.
    let records = audit_records(&audit, 6);
    let statuses: Vec<i64> = records.iter().map(|r| r["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 200, 403], "{records:#?}");
    for record in &records {
        assert_eq!(record["method"], "POST");
        assert_eq!(record["path"], "/orders");
        let keys: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4 + usize::from(record.get("claim:email").is_some()), "{record}");
    }
    assert_eq!(records[4]["principal"], "alice");
    assert_eq!(records[4]["claim:email"], "alice@shop.test");
    assert_eq!(records[5]["principal"], "bob");
    assert!(records[0]["principal"].is_null(), "no token, no principal: {}", records[0]);
    drop(envoy);
}

/// The partner route needs its JWKS fetched first (at startup, asynchronously).
fn wait_for_status(port: u16, path: &str, token: &str, status: u16) -> u16 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = http_request(port, "GET", path, &[("authorization", &bearer(token))]).status;
        if got == status || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The audit log's JSON records once `expected` are there (and a flush later), or what is there after 10 s.
fn audit_records(path: &Path, expected: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> =
            text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
        if std::time::Instant::now() > deadline {
            return lines;
        }
        if lines.len() >= expected {
            // Past Envoy's flush interval (1 s), so a record that should not be there would be.
            std::thread::sleep(Duration::from_millis(2500));
            let text = std::fs::read_to_string(path).unwrap_or_default();
            return text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_emitted_gateway_of_the_shop_passes_envoy_validate() {
    let out = tempfile::tempdir().unwrap();
    let configs = build(&repo_root().join("examples/shop"), out.path());
    let mut validated = 0;
    for path in configs.iter().filter(|p| p.to_string_lossy().contains("/envoy/gateway-")) {
        envoy_validate(path).unwrap_or_else(|e| panic!("{} is rejected by Envoy:\n{e}", path.display()));
        validated += 1;
    }
    assert!(validated >= 1);
    let ratelimit =
        configs.iter().find(|p| p.ends_with("ratelimit/gateway-public.yaml")).expect("the shop has global limits");
    let config: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(ratelimit).unwrap()).unwrap();
    assert_eq!(config["domain"], "gateway-public");
    assert!(!config["descriptors"].as_array().unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// The language and the analyses: codes, places and help
// ---------------------------------------------------------------------------

const ISSUER: &str = r#"
jwt-issuer "users" {
    issuer "https://auth.test"
    jwks-uri "https://auth.test/jwks.json"
    claim "roles" type="string-list"
    claim "tier" type="string"
}
role "admin" {
    require-claim "role" contains="admin"
}
service "api" {
    owner "team"
    address "api.svc" port=8080
}
"#;

/// Compiles `ISSUER` plus a gateway with one route whose body is `route`,
/// after `top` at the top level; also writes `files`.
fn diagnose(top: &str, route: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, meshc::driver::Compilation) {
    let dir = tempfile::tempdir().unwrap();
    let mesh = format!(
        "{top}\n{ISSUER}\ngateway \"edge\" {{\n    listener \"http\" port=8080\n    route \"r\" {{\n        match path-prefix=\"/\"\n        to \"api\"\n        {route}\n    }}\n}}\n"
    );
    write_files(dir.path(), &[("mesh.kdl", &mesh)]);
    write_files(dir.path(), files);
    let c = meshc::driver::compile(dir.path());
    (dir, c)
}

/// (code, severity, the text the primary label points at, help) of each diagnostic.
fn findings(c: &meshc::driver::Compilation) -> Vec<(String, &'static str, String, String)> {
    c.diagnostics
        .iter()
        .map(|d| {
            let span = d.primary.as_ref().unwrap().span;
            let text = c.sources.get(span.file).text[span.start as usize..span.end as usize].to_string();
            (d.code.id().to_string(), d.severity.as_str(), text, d.help.clone().unwrap_or_default())
        })
        .collect()
}

#[test]
fn unknown_issuers_roles_and_claims_are_reported_where_written_with_suggestions() {
    let (_d, c) = diagnose("", "auth \"user\"", &[]);
    let f = findings(&c);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].0.as_str(), f[0].2.as_str(), f[0].3.as_str()), ("MESH0047", "\"user\"", "did you mean `users`?"));

    let (_d, c) = diagnose("", "auth \"users\" { require-role \"admn\" }", &[]);
    let f = findings(&c);
    assert_eq!((f[0].0.as_str(), f[0].3.as_str()), ("MESH0048", "did you mean `admin`?"), "{f:?}");

    // The role's misspelt claim is reported in the role, once however many routes use it.
    let (_d, c) = diagnose("", "auth \"users\" { require-role \"admin\" }", &[]);
    let f = findings(&c);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].0.as_str(), f[0].2.as_str(), f[0].3.as_str()), ("MESH0049", "\"role\"", "did you mean `roles`?"));

    // A claim on a route that verifies no token.
    let (_d, c) = diagnose("", "rate-limit 5 per=\"minute\" key=\"claim:sub\"", &[]);
    let f = findings(&c);
    assert_eq!((f[0].0.as_str(), f[0].2.as_str()), ("MESH0049", "key=\"claim:sub\""), "{f:?}");

    // Types: a list claim as a rate limit key and in a header; equals on a list.
    let (_d, c) = diagnose(
        "",
        "auth \"users\" { require-claim \"roles\" equals=\"x\"; claim-to-header \"roles\" \"x-roles\" }\n        rate-limit 5 per=\"minute\" key=\"claim:tier\"",
        &[],
    );
    let codes: Vec<String> = findings(&c).into_iter().map(|f| f.0).collect();
    assert_eq!(codes, ["MESH0050", "MESH0050"], "{:?}", findings(&c));
}

#[test]
fn public_exposure_follows_the_selected_compliance_level() {
    let require_auth = "security { public-routes \"require-auth\" }";
    let (_d, c) = diagnose(require_auth, "", &[]);
    let f = findings(&c);
    assert_eq!((f[0].0.as_str(), f[0].1, f[0].2.as_str()), ("MESH0051", "error", "\"r\""), "{f:?}");
    assert!(f[0].3.contains("auth \"users\""), "{f:?}");
    let (_d, c) = diagnose(require_auth, "public reason=\"open data\"", &[]);
    let f = findings(&c);
    assert_eq!((f[0].0.as_str(), f[0].1), ("MESH0052", "warning"), "{f:?}");
    let (_d, c) = diagnose(
        require_auth,
        "public reason=\"open data\"\n        rate-limit 9 per=\"second\" key=\"client-ip\"",
        &[],
    );
    assert!(c.diagnostics.is_empty(), "{:?}", findings(&c));

    let require_limit = "security { public-routes \"require-rate-limit\" }";
    let (_d, c) = diagnose(require_limit, "", &[]);
    let f = findings(&c);
    assert_eq!((f.len(), f[0].0.as_str(), f[0].1), (1, "MESH0052", "error"), "{f:?}");
    let (_d, c) = diagnose(require_limit, "auth \"users\"", &[]);
    assert!(c.diagnostics.is_empty(), "{:?}", findings(&c));
    // The stdlib baseline is require-auth.
    let (_d, c) = diagnose("import \"std:security\"", "", &[]);
    assert_eq!(findings(&c)[0].0, "MESH0051");
    // No level selected: anything goes.
    let (_d, c) = diagnose("", "", &[]);
    assert!(c.diagnostics.is_empty(), "{:?}", findings(&c));
}

#[test]
fn contradictions_and_bad_key_files_are_errors() {
    let (_d, c) = diagnose("", "auth \"users\"\n        public reason=\"x\"", &[]);
    assert_eq!(findings(&c)[0].0, "MESH0004", "{:?}", findings(&c));
    let (_d, c) = diagnose("", "rate-limit 5 per=\"minute\"\n        rate-limit 9 per=\"hour\" key=\"client-ip\"", &[]);
    assert_eq!(findings(&c)[0].0, "MESH0006", "{:?}", findings(&c));
    let (_d, c) = diagnose("", "rate-limit 5 per=\"week\"", &[]);
    assert_eq!((findings(&c)[0].0.as_str(), findings(&c)[0].2.as_str()), ("MESH0004", "per=\"week\""));

    // A JWKS file holding a private key: refused at the reference, never quoted.
    let issuer = "jwt-issuer \"staff\" {\n    issuer \"https://sso.test\"\n    jwks \"staff.json\"\n}";
    let private = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"BB","d":"CC"}]}"#;
    let (_d, c) = diagnose(issuer, "auth \"staff\"", &[("staff.json", private)]);
    let f = findings(&c);
    assert_eq!((f[0].0.as_str(), f[0].2.as_str()), ("MESH0062", "\"staff.json\""), "{f:?}");
    assert!(!f[0].3.contains("CC"), "{f:?}");
    let (_d, c) = diagnose(issuer, "auth \"staff\"", &[]);
    assert_eq!(findings(&c)[0].0, "MESH0009", "{:?}", findings(&c));
}

/// Validates and starts the built sidecar of `name`, ready on `port`.
fn start_sidecar(configs: &[PathBuf], name: &str, port: u16) -> EnvoyProcess {
    let path = configs.iter().find(|p| p.ends_with(format!("envoy/sidecar-{name}.yaml"))).unwrap();
    envoy_validate(path).unwrap_or_else(|e| panic!("rejected by Envoy:\n{e}"));
    let envoy = EnvoyProcess::start(path);
    envoy.wait_ready(port);
    envoy
}

/// A call to `orders` through web's outbound port, as web's app, with the token if any.
fn call_orders(web_outbound: u16, token: Option<&str>) -> support::HttpResponse {
    let auth = token.map(bearer);
    let mut headers = vec![("host", "orders")];
    if let Some(value) = &auth {
        headers.push(("authorization", value.as_str()));
    }
    http_request(web_outbound, "GET", "/orders/1", &headers)
}

/// `web` (holding a `web_token` token) calls `orders` (requiring an
/// `orders_token` token) with `call` settings; both sidecars' listeners on
/// the given ports, orders' app on `app`.
fn web_calls_orders(
    web_outbound: u16,
    orders_inbound: u16,
    app: u16,
    web_token: &str,
    call: &str,
    orders_token: &str,
) -> String {
    format!(
        r#"
service "web" {{
    owner "t"
    address "127.0.0.1" port={web_app}
    sidecar inbound-port={web_inbound} outbound-port={web_outbound}
    require-token "{web_token}"
    calls "orders" timeout="2s" {call}
}}
service "orders" {{
    owner "t"
    address "orders.internal" port={app}
    endpoints {{
        endpoint "127.0.0.1" port={orders_inbound}
    }}
    sidecar inbound-port={orders_inbound} outbound-port={orders_outbound}
    require-token "{orders_token}"
    traffic {{ outlier-detection consecutive-5xx=100 }}
}}
"#,
        web_app = free_port(),
        web_inbound = free_port(),
        orders_outbound = free_port(),
    )
}

/// `web` calls `orders`, which requires a `shop-users` token; `web` holds
/// one too and passes it on. Both sidecars run; the test is web's app.
#[test]
fn a_service_requiring_the_token_verifies_it_and_callers_pass_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Signer::new("shop-1");
    let app = Upstream::start("orders-app");
    let (web_outbound, orders_inbound) = (free_port(), free_port());
    let issuer = r#"
jwt-issuer "shop-users" {
    issuer "https://auth.shop.test"
    audiences "shop-api"
    jwks "keys/shop-users.jwks.json"
}"#;
    let services =
        web_calls_orders(web_outbound, orders_inbound, app.port(), "shop-users", "forward-token=#true", "shop-users");
    let mesh = format!("{issuer}\n{services}");
    write_files(dir.path(), &[("mesh.kdl", &mesh), ("keys/shop-users.jwks.json", &shop.jwks())]);
    let configs = build(dir.path(), &dir.path().join("out"));
    let _orders = start_sidecar(&configs, "orders", orders_inbound);
    let _web = start_sidecar(&configs, "web", web_outbound);
    let token = shop.token(json!({ "iss": "https://auth.shop.test", "aud": "shop-api", "sub": "alice" }));
    let other = Signer::new("other").token(json!({ "iss": "https://auth.shop.test", "aud": "shop-api", "sub": "eve" }));

    let call = |token: Option<&str>| call_orders(web_outbound, token);
    // Without the token, or with one signed by another key: 401 at orders' sidecar.
    assert_eq!(call(None).status, 401);
    assert_eq!(call(Some(&other)).status, 401);
    assert_eq!(app.hits(), 0);
    // The token web passed on: verified, and still on the request for orders' app.
    let response = call(Some(&token));
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(app.requests()[0].header("authorization"), Some(bearer(&token).as_str()));
}

/// `web` trades the customer's token at a token exchange for one scoped to
/// `orders`, which requires the exchange's tokens: web's sidecar asks
/// `meshc-runtime token-exchange`, which asks the STS (a test double that
/// signs real tokens), and orders' sidecar verifies what arrives.
#[test]
fn a_call_exchanges_the_users_token_for_one_the_callee_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let customers = Signer::new("customers-1");
    let internal = Signer::new("internal-1");
    let app = Upstream::start("orders-app");
    let scoped = internal.token(json!({ "iss": "https://sts.test", "aud": "orders", "sub": "alice" }));
    let handed_out = scoped.clone();
    let sts = Upstream::start_responding("sts", move |_| {
        (200, "application/json", json!({ "access_token": handed_out, "token_type": "Bearer" }).to_string())
    });
    let (web_outbound, orders_inbound, exchanger) = (free_port(), free_port(), free_port());
    let mesh = format!(
        r#"
jwt-issuer "customers" {{
    issuer "https://auth.test"
    jwks "keys/customers.json"
}}
jwt-issuer "internal" {{
    issuer "https://sts.test"
    audiences "orders"
    jwks "keys/internal.json"
}}
token-exchange "sts" {{
    sts "http://127.0.0.1:{sts}/token"
    issues "internal"
    exchanger-port {exchanger}
}}
"#,
        sts = sts.port(),
    ) + &web_calls_orders(
        web_outbound,
        orders_inbound,
        app.port(),
        "customers",
        "exchange-token=\"sts\" audience=\"orders\"",
        "internal",
    );
    write_files(
        dir.path(),
        &[("mesh.kdl", &mesh), ("keys/customers.json", &customers.jwks()), ("keys/internal.json", &internal.jwks())],
    );
    let configs = build(dir.path(), &dir.path().join("out"));
    let config = configs.iter().find(|p| p.ends_with("token-exchange/web-sts.json")).expect("web's exchanger config");
    let exchange = meshc_runtime::TokenExchange::from_json(&std::fs::read_to_string(config).unwrap()).unwrap();
    let _exchanger = meshc_runtime::serve_token_exchange(exchange, format!("127.0.0.1:{exchanger}").parse().unwrap())
        .expect("the exchanger starts");
    let _orders = start_sidecar(&configs, "orders", orders_inbound);
    let _web = start_sidecar(&configs, "web", web_outbound);

    let customer = customers.token(json!({ "iss": "https://auth.test", "sub": "alice" }));
    let call = |token: Option<&str>| call_orders(web_outbound, token);
    // Without a token there is nothing to exchange: the exchanger's 401 reaches web's app.
    assert_eq!(call(None).status, 401);
    assert_eq!((sts.hits(), app.hits()), (0, 0));

    let response = call(Some(&customer));
    assert_eq!(response.status, 200, "{}", response.body);
    // orders' app got the scoped token, verified by its sidecar, not the customer's.
    assert_eq!(app.requests()[0].header("authorization"), Some(bearer(&scoped).as_str()));
    let form = String::from_utf8(sts.requests()[0].body.clone()).unwrap();
    assert!(form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"), "{form}");
    assert!(form.contains(&format!("subject_token={customer}")), "{form}");
    assert!(form.contains("audience=orders"), "{form}");
}
