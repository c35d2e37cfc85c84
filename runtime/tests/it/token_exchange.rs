//! The token exchanger over real sockets: a fake STS (a small hyper server
//! that records every form it gets), the exchanger, and a plain HTTP/1.1
//! client standing in for Envoy's ext_authz filter.

use crate::support;

use std::collections::HashMap;
use std::time::Duration;

use meshc_runtime::{serve_token_exchange, Outcome, TokenExchange, TokenExchangeHandle};
use serde_json::{json, Value};
use support::{
    free_port, http_request_with_body as http, localhost, meshc_runtime, HttpResponse, Serving, Upstream,
    UpstreamRequest,
};

/// One request as it reached the STS.
#[derive(Debug, Clone)]
struct StsHit {
    method: String,
    target: String,
    content_type: String,
    /// The form, decoded.
    form: HashMap<String, String>,
}

/// A fake STS on 127.0.0.1 answering each decoded form through a handler
/// (status, body, delay) and recording each request.
struct FakeSts(Upstream);

impl FakeSts {
    fn start(answer: impl Fn(&HashMap<String, String>) -> (u16, String, Duration) + Send + Sync + 'static) -> FakeSts {
        FakeSts(Upstream::start_json("sts", move |hit| answer(&decode_form(&hit.text()))))
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/oauth2/token", self.0.port())
    }

    fn hits(&self) -> Vec<StsHit> {
        let hit = |h: UpstreamRequest| StsHit {
            // Borrowed first: `method` and `target` move out of `h`.
            content_type: h.header("content-type").unwrap_or_default().to_string(),
            form: decode_form(&h.text()),
            method: h.method,
            target: h.path,
        };
        self.0.requests().into_iter().map(hit).collect()
    }
}

/// `application/x-www-form-urlencoded`, decoded (`+` is a space).
fn decode_form(body: &str) -> HashMap<String, String> {
    let decode = |text: &str| {
        let text = text.replace('+', " ");
        percent_encoding::percent_decode_str(&text).decode_utf8().unwrap().into_owned()
    };
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// The STS's usual answer: `x-` + the subject token + `@` + the audience.
fn issue(form: &HashMap<String, String>) -> (u16, String, Duration) {
    let token = format!("x-{}@{}", form["subject_token"], form["audience"]);
    (200, json!({ "access_token": token, "token_type": "Bearer", "expires_in": 300 }).to_string(), Duration::ZERO)
}

fn config(sts_url: &str, timeout_ms: u64) -> Value {
    json!({
        "listen": "127.0.0.1:9292",
        "sts": { "url": sts_url },
        "audiences": ["payments", "loyalty"],
        "timeout_ms": timeout_ms,
    })
}

fn exchanger(sts_url: &str, timeout_ms: u64) -> TokenExchangeHandle {
    let exchanger = TokenExchange::from_json(&config(sts_url, timeout_ms).to_string()).unwrap();
    serve_token_exchange(exchanger, localhost()).unwrap()
}

/// What Envoy's ext_authz filter sends: the prefix, the original path, the
/// original `authorization`.
fn check(port: u16, path: &str, authorization: Option<&str>) -> HttpResponse {
    let headers: Vec<(&str, &str)> = authorization.map(|a| ("authorization", a)).into_iter().collect();
    http(port, "GET", path, &headers, b"")
}

#[test]
fn a_bearer_token_is_exchanged_for_the_audience_of_the_path() {
    let sts = FakeSts::start(issue);
    let exchange = exchanger(&sts.url(), 2000);
    let token = "eyJhbGciOi.a+b/c=d&e";
    let reply = check(exchange.port(), "/exchange/payments/orders/17?x=1", Some(&format!("Bearer {token}")));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("authorization"), Some(format!("Bearer x-{token}@payments").as_str()));
    assert!(reply.body.is_empty());

    let hits = sts.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!((hit.method.as_str(), hit.target.as_str()), ("POST", "/oauth2/token"));
    assert_eq!(hit.content_type, "application/x-www-form-urlencoded");
    let expected: HashMap<String, String> = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", token),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("audience", "payments"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(hit.form, expected);

    let records = exchange.requests();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].path, "/exchange/payments/orders/17");
    assert_eq!(records[0].audience.as_deref(), Some("payments"));
    assert_eq!((records[0].outcome, records[0].status, records[0].sts_status), (Outcome::Exchanged, 200, Some(200)));
    // The scheme in any case; the second audience is its own exchange.
    let reply = check(exchange.port(), "/exchange/loyalty", Some("bearer T2"));
    assert_eq!(reply.header("authorization"), Some("Bearer x-T2@loyalty"));
}

#[test]
fn the_cache_answers_a_second_identical_request() {
    let sts = FakeSts::start(issue);
    let exchange = exchanger(&sts.url(), 2000);
    for path in ["/exchange/payments/a", "/exchange/payments/b"] {
        let reply = check(exchange.port(), path, Some("Bearer T"));
        assert_eq!(reply.header("authorization"), Some("Bearer x-T@payments"));
    }
    assert_eq!(sts.hits().len(), 1);
    let outcomes: Vec<_> = exchange.requests().iter().map(|r| (r.outcome, r.sts_status)).collect();
    assert_eq!(outcomes, [(Outcome::Exchanged, Some(200)), (Outcome::Cached, None)]);
    // Another subject token or audience is another key.
    check(exchange.port(), "/exchange/payments/a", Some("Bearer U"));
    check(exchange.port(), "/exchange/loyalty/a", Some("Bearer T"));
    assert_eq!(sts.hits().len(), 3);
}

#[test]
fn tokens_expiring_at_once_are_not_cached() {
    let sts = FakeSts::start(|form| {
        let token = format!("t{}", form["subject_token"]);
        (200, json!({ "access_token": token, "expires_in": 0 }).to_string(), Duration::ZERO)
    });
    let exchange = exchanger(&sts.url(), 2000);
    for _ in 0..2 {
        assert_eq!(check(exchange.port(), "/exchange/payments/", Some("Bearer T")).status, 200);
    }
    assert_eq!(sts.hits().len(), 2);
}

#[test]
fn no_bearer_token_is_401() {
    let sts = FakeSts::start(issue);
    let exchange = exchanger(&sts.url(), 2000);
    for authorization in [None, Some("Basic dTpw"), Some("Bearer"), Some("Bearer   ")] {
        let reply = check(exchange.port(), "/exchange/payments/orders", authorization);
        assert_eq!(reply.status, 401, "{authorization:?}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(reply.json()["error"].as_str().unwrap().contains("Bearer"));
        assert!(reply.header("authorization").is_none());
    }
    assert!(sts.hits().is_empty());
    assert!(exchange.requests().iter().all(|r| r.outcome == Outcome::NoToken));
}

#[test]
fn an_unknown_audience_is_403() {
    let sts = FakeSts::start(issue);
    let exchange = exchanger(&sts.url(), 2000);
    for path in ["/exchange/shipping/orders", "/exchange//orders", "/exchange/", "/orders", "/exchange"] {
        let reply = check(exchange.port(), path, Some("Bearer T"));
        assert_eq!(reply.status, 403, "{path}");
        assert!(reply.json()["error"].is_string(), "{path}");
    }
    let reply = check(exchange.port(), "/exchange/shipping/orders", Some("Bearer T"));
    assert!(reply.json()["error"].as_str().unwrap().contains("\"shipping\""));
    assert!(sts.hits().is_empty());
}

#[test]
fn an_sts_refusal_is_403_with_its_error() {
    let sts = FakeSts::start(|form| match form["audience"].as_str() {
        "payments" => (400, json!({ "error": "invalid_target" }).to_string(), Duration::ZERO),
        _ => {
            (401, json!({ "error": "invalid_client", "error_description": "who are you" }).to_string(), Duration::ZERO)
        }
    });
    let exchange = exchanger(&sts.url(), 2000);
    let reply = check(exchange.port(), "/exchange/payments/x", Some("Bearer T"));
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json(), json!({ "error": "invalid_target" }));
    let reply = check(exchange.port(), "/exchange/loyalty/x", Some("Bearer T"));
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json(), json!({ "error": "invalid_client", "error_description": "who are you" }));
    let records = exchange.requests();
    assert_eq!((records[0].outcome, records[0].sts_status), (Outcome::Refused, Some(400)));
    assert_eq!(records[0].detail.as_deref(), Some("invalid_target"));
    assert_eq!(records[1].detail.as_deref(), Some("invalid_client: who are you"));
    // Refusals are not cached.
    check(exchange.port(), "/exchange/payments/x", Some("Bearer T"));
    assert_eq!(sts.hits().len(), 3);
}

#[test]
fn sts_failures_are_503() {
    let sts = FakeSts::start(|form| match form["subject_token"].as_str() {
        "down" => (500, "{}".into(), Duration::ZERO),
        "slow" => (200, json!({ "access_token": "late" }).to_string(), Duration::from_millis(1500)),
        "garbled" => (200, "<html>".into(), Duration::ZERO),
        _ => (200, json!({ "access_token": "t", "token_type": "N_A" }).to_string(), Duration::ZERO),
    });
    let exchange = exchanger(&sts.url(), 300);
    for (token, detail) in
        [("down", "HTTP 500"), ("slow", "within 300 ms"), ("garbled", "not JSON"), ("other", "not Bearer")]
    {
        let reply = check(exchange.port(), "/exchange/payments/x", Some(&format!("Bearer {token}")));
        assert_eq!(reply.status, 503, "{token}");
        let error = reply.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(detail), "{token}: {error}");
        assert!(!error.contains(token) || token == "other", "{token}: {error}");
    }
    let statuses: Vec<_> = exchange.requests().iter().map(|r| (r.outcome, r.sts_status)).collect();
    assert_eq!(
        statuses,
        [
            (Outcome::Unavailable, Some(500)),
            (Outcome::Unavailable, None),
            (Outcome::Unavailable, Some(200)),
            (Outcome::Unavailable, Some(200))
        ]
    );
}

#[test]
fn an_unreachable_sts_is_503() {
    let port = free_port();
    let exchange = exchanger(&format!("http://127.0.0.1:{port}/token"), 2000);
    let reply = check(exchange.port(), "/exchange/payments/x", Some("Bearer T"));
    assert_eq!(reply.status, 503);
    assert!(reply.json()["error"].as_str().unwrap().contains("calling the STS"), "{}", reply.body);
}

#[test]
fn the_command_serves_a_config_file_and_prints_decisions_without_tokens() {
    let sts = FakeSts::start(issue);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token-exchange.json");
    let mut config = config(&sts.url(), 2000);
    config["listen"] = "127.0.0.1:0".into();
    std::fs::write(&path, config.to_string()).unwrap();
    let mut server = Serving::start(meshc_runtime().args(["token-exchange", "--config"]).arg(&path));
    let port = server.addr.port();

    let reply = check(port, "/exchange/payments/orders/17", Some("Bearer SECRET-SUBJECT"));
    assert_eq!(reply.header("authorization"), Some("Bearer x-SECRET-SUBJECT@payments"));
    let line = server.next_json();
    assert!(!line.to_string().contains("SECRET"), "{line}");
    assert_eq!(line["path"], "/exchange/payments/orders/17");
    assert_eq!(line["audience"], "payments");
    assert_eq!(line["outcome"], "exchanged");
    assert_eq!((line["status"].as_u64(), line["sts_status"].as_u64()), (Some(200), Some(200)));
    check(port, "/exchange/loyalty", None);
    let line = server.next_json();
    assert_eq!((line["outcome"].as_str(), line["status"].as_u64()), (Some("no_token"), Some(401)));
}

#[test]
fn the_command_rejects_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token-exchange.json");
    let mut config = config("https://sts.internal/token", 2000);
    std::fs::write(&path, config.to_string()).unwrap();
    let out = meshc_runtime().args(["token-exchange", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("token-exchange.json") && stderr.contains("`sts.url`") && stderr.contains("TLS"),
        "{stderr}"
    );

    config["sts"]["url"] = "http://sts.internal/token".into();
    config["audience"] = json!(["x"]);
    std::fs::write(&path, config.to_string()).unwrap();
    let out = meshc_runtime().args(["token-exchange", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `audience`"));
}
