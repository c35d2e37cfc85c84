//! Fallbacks on calls and routes (`fallback`): the language's checks as
//! fixtures, and the Envoy sidecar against the real Envoy: a stopped callee's
//! requests go to the fallback service and come back when it returns; a
//! tripped circuit breaker answers with the static fallback without
//! reaching the callee; a gateway route to an unreachable service answers
//! with its static fallback; a gateway route fails over to its fallback
//! service and back, while other routes to the same service do not.

use crate::support;

use std::time::{Duration, Instant};

use crate::envoy_sidecar::start_sidecar;
use support::fixture::check;
use support::{envoy_validate, free_port, http_request, write_files, Upstream};

const RECS_YAML: &str = r#"
//- recs.yaml
openapi: 3.0.3
info: { title: recommendations, version: "1" }
paths:
  /recommendations/{customerId}:
    get:
      operationId: recommend
      parameters:
        - { name: customerId, in: path, required: true, schema: { type: string } }
      responses:
        "200":
          description: recommended products
          content:
            application/json:
              schema:
                type: object
                required: [items]
                properties:
                  items: { type: array, items: { type: string } }
"#;

fn with_schema(mesh: &str) -> String {
    let yaml: Vec<String> = RECS_YAML.lines().map(|l| format!("        {l}")).collect();
    format!("{mesh}\n{}", yaml.join("\n"))
}

#[test]
fn a_fallback_takes_one_form() {
    check(
        r#"
        //- mesh.kdl
        service "web" { owner "t"; address "web.svc" port=80
            calls "recs" timeout="1s" {
                fallback "recs-static" stale="5m"
        //      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0136 error: one form per fallback
            }
            calls "other" timeout="1s" {
                fallback
        //      ^^^^^^^^ MESH0136 error: one form per fallback
            }
        }
        service "recs" { owner "t"; address "recs.svc" port=80; traffic { outlier-detection; }; }
        service "other" { owner "t"; address "other.svc" port=80; traffic { outlier-detection; }; }
        service "recs-static" { owner "t"; address "recs-static.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
}

#[test]
fn an_unknown_fallback_service_gets_a_did_you_mean_and_a_second_fallback_is_refused() {
    check(
        r#"
        //- mesh.kdl
        service "web" { owner "t"; address "web.svc" port=80
            calls "recs" timeout="1s" {
                fallback "recs-statc"
        //               ^^^^^^^^^^^^ MESH0007 error
                fallback status=200
        //      ^^^^^^^^ MESH0006 error: repeated here
            }
        }
        service "recs" { owner "t"; address "recs.svc" port=80; traffic { outlier-detection; }; }
        service "recs-static" { owner "t"; address "recs-static.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
}

#[test]
fn a_fallback_service_must_implement_the_operation() {
    check(&with_schema(
        r#"
        //- mesh.kdl
        service "web" { owner "t"; address "web.svc" port=80
            calls "recs" operation="GET /recommendations/{customerId}" timeout="1s" {
                fallback "bestsellers"
        //               ^^^^^^^^^^^^^ MESH0137 error: serves no rest API
            }
        }
        service "recs" { owner "t"; address "recs.svc" port=80
            api "recs-http" kind="rest" schema="recs.yaml"
            traffic { outlier-detection; }
        }
        service "bestsellers" { owner "t"; address "bestsellers.svc" port=80; traffic { outlier-detection; }; }
        service "recs-static" { owner "t"; address "recs-static.svc" port=80
            api "recs-http" kind="rest" schema="recs.yaml"
            traffic { outlier-detection; }
        }
        service "shop" { owner "t"; address "shop.svc" port=80
            calls "recs" operation="GET /recommendations/{customerId}" timeout="1s" {
                fallback "recs-static"
            }
        }
        "#,
    ));
}

#[test]
fn a_static_fallback_body_must_match_the_response_schema() {
    check(&with_schema(
        r##"
        //- mesh.kdl
        service "web" { owner "t"; address "web.svc" port=80
            calls "recs" operation="GET /recommendations/{customerId}" timeout="1s" {
                fallback status=200 {
                    body #"{"items": [1]}"#
        //                            ^ MESH0138 error: does not match the schema
                }
            }
        }
        service "shop" { owner "t"; address "shop.svc" port=80
            calls "recs" operation="GET /recommendations/{customerId}" timeout="1s" {
                fallback status=200 {
                    header "content-type" "application/json"
                    body #"{"items": []}"#
                }
            }
        }
        service "admin" { owner "t"; address "admin.svc" port=80
            calls "recs" operation="GET /recommendations/{customerId}" timeout="1s" {
                // Not JSON at all: the contracts' JSON check reports it.
                fallback status=200 { body #"{"items": ]"#; }
        //                                             ^ MESH0118 error
            }
        }
        service "recs" { owner "t"; address "recs.svc" port=80
            api "recs-http" kind="rest" schema="recs.yaml"
            traffic { outlier-detection; }
        }
        "##,
    ));
}

#[test]
fn a_fallback_that_calls_the_primary_fails_with_it() {
    check(
        r#"
        //- mesh.kdl
        service "web" { owner "t"; address "web.svc" port=80
            calls "recs" timeout="1s" {
                fallback "recs-cache"
        //               ^^^^^^^^^^^^ MESH0139 warning: fails when the primary fails
            }
            calls "search" timeout="1s" {
                fallback "search"
        //               ^^^^^^^^ MESH0139 warning
            }
        }
        service "recs" { owner "t"; address "recs.svc" port=80; traffic { outlier-detection; }; }
        service "search" { owner "t"; address "search.svc" port=80; traffic { outlier-detection; }; }
        service "recs-cache" { owner "t"; address "recs-cache.svc" port=80
            calls "catalog" timeout="500ms"
            traffic { outlier-detection; }
        }
        service "catalog" { owner "t"; address "catalog.svc" port=80
            calls "recs" timeout="200ms"
            traffic { outlier-detection; }
        }
        "#,
    );
}

#[test]
fn a_fallback_service_needs_the_callee_to_have_a_health_policy() {
    check(
        r#"
        //- mesh.kdl
        service "web" { owner "t"; address "web.svc" port=80
            calls "recs" timeout="1s" {
                fallback "recs-static"
        //      ^^^^^^^^^^^^^^^^^^^^^^ MESH0140 warning: fails over on the callee's health
            }
        }
        service "recs" { owner "t"; address "recs.svc" port=80; }
        //      ^^^^^^ MESH0035 warning
        service "recs-static" { owner "t"; address "recs-static.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
}

#[test]
fn fallbacks_count_in_the_timeout_budget_and_retry_amplification() {
    check(
        r#"
        //- mesh.kdl
        limits { max-retry-amplification 4; }
        gateway "public" {
            listener "http" port=8080
            route "r" {
                match path-prefix="/"
                to "web"
                retries 2
            }
        }
        service "web" { owner "t"; address "web.svc" port=80
            calls "recs" timeout="300ms" idempotent=#true {
        //               ^^^^^^^^^^^^^^^ MESH0032 error: 300ms timeout
                retries 2
        //      ^^^^^^^^^ MESH0031 error: ×3 here
        //      ^^^^^^^^^ MESH0031 error: ×3 here
                fallback "recs-static"
            }
            traffic { outlier-detection; }
        }
        service "recs" { owner "t"; address "recs.svc" port=80; traffic { outlier-detection; }; }
        service "recs-static" { owner "t"; address "recs-static.svc" port=80
            calls "store" timeout="2s"
            traffic { outlier-detection; }
        }
        service "store" { owner "t"; address "store.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
}

#[test]
fn a_cycle_through_a_fallback_service_is_a_call_cycle() {
    check(
        r#"
        //- mesh.kdl
        service "web" { owner "t"; address "web.svc" port=80
            calls "recs" timeout="1s" {
                fallback "recs-static"
        //               ^^^^^^^^^^^^^ MESH0139 warning: fails when the primary fails
            }
            traffic { outlier-detection; }
        }
        service "recs" { owner "t"; address "recs.svc" port=80; traffic { outlier-detection; }; }
        service "recs-static" { owner "t"; address "recs-static.svc" port=80
            calls "web" timeout="1s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^ MESH0030 error: this call closes the cycle
            traffic { outlier-detection; }
        }
        "#,
    );
}

#[test]
fn what_envoy_and_istio_cannot_express_is_a_warning() {
    let compilation = check(
        r#"
        //- mesh.kdl
        gateway "public" {
            listener "http" port=8080
            route "s" {
                match path-prefix="/s/"
                to "recs"
                fallback "recs-static"
            }
            route "r" {
                match path-prefix="/"
                to "recs"
                fallback stale="10m"
            }
        }
        service "web" { owner "t"; address "web.svc" port=80
            calls "recs" timeout="1s" {
                fallback stale="5m"
            }
        }
        service "recs" { owner "t"; address "recs.svc" port=80; traffic { outlier-detection; }; }
        service "recs-static" { owner "t"; address "recs-static.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
    let built = compilation.build(&meshc::emit::Options::default()).expect("no errors");
    let warnings: Vec<String> =
        (built.warnings.iter()).filter(|d| d.code.id() == "MESH0073").map(|d| d.message.clone()).collect();
    let about = |backend: &str| warnings.iter().filter(|w| w.contains(backend)).count();
    assert_eq!(about("envoy-sidecar"), 1, "{warnings:#?}");
    // The gateway fails route `s` over to its fallback service: only the stale one is unexpressed.
    assert_eq!(about("envoy-gateway"), 1, "{warnings:#?}");
    assert_eq!(about("istio"), 3, "{warnings:#?}");
}

// ---------------------------------------------------------------------------
// The sidecar against the real Envoy
// ---------------------------------------------------------------------------

fn get_recommendations(outbound: u16) -> support::HttpResponse {
    http_request(outbound, "GET", "/recommendations/c-7", &[("host", "recommendations")])
}

/// Sends requests until one is answered by `upstream` (the `x-upstream`
/// header), at most for ten seconds of health checking.
fn until_answered_by(outbound: u16, upstream: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = get_recommendations(outbound);
        if response.header("x-upstream") == Some(upstream) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never answered by {upstream}: last {} {:?}",
            response.status,
            response.headers
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_stopped_callees_requests_go_to_the_fallback_service_and_come_back_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let primary = Upstream::start("recommendations");
    let fallback = Upstream::start("recommendations-static");
    let port = primary.port();
    let spec = format!(
        r#"
service "web" {{
    owner "team-web"
    address "127.0.0.1" port={web}
    sidecar inbound-port={inbound} outbound-port={outbound}
    calls "recommendations" timeout="2s" {{
        fallback "recommendations-static"
    }}
}}
service "recommendations" {{
    owner "team-recs"
    address "127.0.0.1" port={port}
    traffic {{ health-check "tcp" interval="100ms" timeout="50ms" healthy=1 unhealthy=1; }}
}}
service "recommendations-static" {{
    owner "team-recs"
    address "127.0.0.1" port={fallback_port}
    traffic {{ outlier-detection; }}
}}
"#,
        web = free_port(),
        inbound = free_port(),
        fallback_port = fallback.port(),
    );
    let _envoy = start_sidecar(dir.path(), &spec, outbound);
    until_answered_by(outbound, "recommendations");
    assert_eq!(fallback.hits(), 0, "a healthy callee takes every request");
    drop(primary);
    until_answered_by(outbound, "recommendations-static");
    for _ in 0..5 {
        let response = get_recommendations(outbound);
        assert_eq!((response.status, response.header("x-upstream")), (200, Some("recommendations-static")));
    }
    let _primary = Upstream::restart_on("recommendations", port);
    until_answered_by(outbound, "recommendations");
    let after = fallback.hits();
    for _ in 0..5 {
        assert_eq!(get_recommendations(outbound).header("x-upstream"), Some("recommendations"));
    }
    assert_eq!(fallback.hits(), after, "traffic is back on the callee");
}

#[test]
fn a_tripped_circuit_breaker_answers_with_the_static_fallback_without_reaching_the_callee() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = free_port();
    let slow = Upstream::start_responding("recommendations", |_| {
        std::thread::sleep(Duration::from_millis(700));
        (200, "application/json", r#"{"items": ["p-1"]}"#.into())
    });
    let spec = format!(
        r##"
service "web" {{
    owner "team-web"
    address "127.0.0.1" port={web}
    sidecar inbound-port={inbound} outbound-port={outbound}
    calls "recommendations" timeout="3s" {{
        fallback status=200 {{
            header "content-type" "application/json"
            header "x-fallback" "static"
            body #"{{"items": []}}"#
        }}
    }}
}}
service "recommendations" {{
    owner "team-recs"
    address "127.0.0.1" port={port}
    traffic {{
        circuit-breaker max-connections=1 max-pending=1 max-requests=1
        outlier-detection consecutive-5xx=100
    }}
}}
"##,
        web = free_port(),
        inbound = free_port(),
        port = slow.port(),
    );
    let _envoy = start_sidecar(dir.path(), &spec, outbound);
    // One request in flight and one waiting; a third concurrent one trips the breaker.
    let responses: Vec<support::HttpResponse> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                scope.spawn(move || {
                    std::thread::sleep(Duration::from_millis(100 * i));
                    get_recommendations(outbound)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (fallbacks, served): (Vec<_>, Vec<_>) =
        responses.iter().partition(|r| r.header("x-fallback") == Some("static"));
    assert_eq!(fallbacks.len(), 1, "{:?}", responses.iter().map(|r| (r.status, &r.body)).collect::<Vec<_>>());
    assert_eq!(fallbacks[0].status, 200);
    assert_eq!(fallbacks[0].json(), serde_json::json!({"items": []}));
    assert_eq!(fallbacks[0].header("content-type"), Some("application/json"));
    assert!(served.iter().all(|r| r.status == 200 && r.header("x-upstream") == Some("recommendations")));
    assert_eq!(slow.hits(), 2, "the refused request never reached the callee");
    // A callee's own success passes through untouched.
    assert_eq!(get_recommendations(outbound).json(), serde_json::json!({"items": ["p-1"]}));
}

#[test]
fn gateways_and_sidecars_with_every_fallback_pass_envoy_validate() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = r##"
gateway "public" {
    listener "http" port=8080
    route "recommendations" {
        match path-prefix="/recommendations/"
        to "recommendations"
        fallback status=503 {
            header "content-type" "application/json"
            header "retry-after" "30"
            body #"{"error": "recommendations are unavailable"}"#
        }
    }
    route "suggestions" {
        match path-prefix="/suggestions/"
        to "recommendations"
        retries 1
        timeout "2s"
        fallback "recommendations-static"
    }
    route "catalog" {
        match path-prefix="/catalog/"
        to "catalog"
        fallback "recommendations-static"
    }
}
service "web" {
    owner "team-web"
    address "web.svc" port=8080
    calls "recommendations" timeout="1s" {
        fallback "recommendations-static"
    }
    calls "catalog" timeout="1s" {
        fallback status=200 { body #"[]"#; }
    }
}
service "recommendations" {
    owner "team-recs"
    address "recommendations.shop.svc.cluster.local" port=8080
    versions {
        version "v1"
        version "v2"
    }
    traffic {
        split {
            to "v1" weight=90
            to "v2" weight=10
        }
        outlier-detection
    }
}
service "recommendations-static" {
    owner "team-recs"
    address "recommendations-static.svc" port=8080
    traffic { outlier-detection; }
}
service "catalog" {
    owner "team-catalog"
    address "catalog.svc" port=8080
    traffic { outlier-detection; }
}
"##;
    write_files(dir.path(), &[("mesh.kdl", mesh)]);
    let compilation = meshc::driver::compile(dir.path());
    assert!(compilation.diagnostics.is_empty(), "{:?}", compilation.diagnostics);
    let artifacts = compilation.emit().unwrap();
    let envoy: Vec<_> =
        artifacts.iter().filter(|a| a.path.starts_with("envoy/") && a.path.ends_with(".yaml")).collect();
    let web = envoy.iter().find(|a| a.path == "envoy/sidecar-web.yaml").expect("web's sidecar");
    // A split callee fails over per version cluster.
    for cluster in [
        "outbound.recommendations|v1>outbound.recommendations-static",
        "outbound.recommendations|v2>outbound.recommendations-static",
    ] {
        assert!(web.contents.contains(cluster), "no aggregate cluster {cluster}");
    }
    let gateway = envoy.iter().find(|a| a.path == "envoy/gateway-public.yaml").expect("the gateway");
    for cluster in [
        "recommendations.http|v1>recommendations-static.http",
        "recommendations.http|v2>recommendations-static.http",
        "catalog.http>recommendations-static.http",
    ] {
        assert!(gateway.contents.contains(cluster), "no aggregate cluster {cluster}");
    }
    for artifact in envoy {
        let path = dir.path().join(artifact.path.replace('/', "-"));
        std::fs::write(&path, &artifact.contents).unwrap();
        envoy_validate(&path).unwrap_or_else(|e| panic!("{}: {e}", artifact.path));
    }
}

#[test]
fn a_gateway_route_to_an_unreachable_service_answers_with_its_static_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let listener = free_port();
    let catalog = Upstream::start("catalog");
    let mesh = format!(
        r##"
gateway "public" {{
    listener "http" port={listener} address="127.0.0.1"
    route "recommendations" {{
        match path-prefix="/recommendations/"
        to "recommendations"
        fallback status=200 {{
            header "content-type" "application/json"
            header "x-fallback" "static"
            body #"{{"items": []}}"#
        }}
    }}
    route "reviews" {{
        match path-prefix="/reviews/"
        to "recommendations"
    }}
    route "catalog" {{
        match path-prefix="/"
        to "catalog"
        fallback status=200 {{ body #"[]"#; }}
    }}
}}
service "recommendations" {{
    owner "team-recs"
    address "127.0.0.1" port={dead}
    traffic {{ outlier-detection; }}
}}
service "catalog" {{
    owner "team-catalog"
    address "127.0.0.1" port={catalog}
    traffic {{ outlier-detection; }}
}}
"##,
        dead = support::dead_port(),
        catalog = catalog.port(),
    );
    write_files(dir.path(), &[("mesh.kdl", &mesh)]);
    let configs = support::build_workspace(dir.path(), &dir.path().join("out"));
    let config = configs.iter().find(|p| p.to_string_lossy().contains("envoy/gateway-")).expect("a gateway bootstrap");
    envoy_validate(config).unwrap();
    let envoy = support::EnvoyProcess::start(config);
    envoy.wait_ready(listener);
    let fallback = http_request(listener, "GET", "/recommendations/c-7", &[]);
    assert_eq!((fallback.status, fallback.header("x-fallback")), (200, Some("static")), "{:?}", fallback.body);
    assert_eq!(fallback.json(), serde_json::json!({"items": []}));
    // The same service without a fallback: the gateway's own 503.
    assert_eq!(http_request(listener, "GET", "/reviews/p-1", &[]).status, 503);
    // A reachable service's answers pass untouched.
    let served = http_request(listener, "GET", "/products", &[]);
    assert_eq!((served.status, served.header("x-upstream")), (200, Some("catalog")));
}

fn gateway_get(listener: u16, path: &str) -> support::HttpResponse {
    http_request(listener, "GET", path, &[])
}

/// Sends requests through the gateway until one is answered by `upstream`,
/// at most for ten seconds of health checking.
fn until_the_gateway_is_answered_by(listener: u16, path: &str, upstream: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = gateway_get(listener, path);
        if response.header("x-upstream") == Some(upstream) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never answered by {upstream}: last {} {:?}",
            response.status,
            response.headers
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_gateway_route_fails_over_to_its_fallback_service_and_back_while_other_routes_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let listener = free_port();
    let primary = Upstream::start("recommendations");
    let fallback = Upstream::start("recommendations-static");
    let port = primary.port();
    let mesh = format!(
        r##"
gateway "public" {{
    listener "http" port={listener} address="127.0.0.1"
    route "recommendations" {{
        match path-prefix="/recommendations/"
        to "recommendations"
        timeout "2s"
        retries 1 on="connect-failure"
        fallback "recommendations-static"
    }}
    route "reviews" {{
        match path-prefix="/reviews/"
        to "recommendations"
    }}
}}
service "recommendations" {{
    owner "team-recs"
    address "127.0.0.1" port={port}
    traffic {{ health-check "tcp" interval="100ms" timeout="50ms" healthy=1 unhealthy=1; }}
}}
service "recommendations-static" {{
    owner "team-recs"
    address "127.0.0.1" port={fallback_port}
    traffic {{ outlier-detection; }}
}}
"##,
        fallback_port = fallback.port(),
    );
    write_files(dir.path(), &[("mesh.kdl", &mesh)]);
    let configs = support::build_workspace(dir.path(), &dir.path().join("out"));
    let config = configs.iter().find(|p| p.to_string_lossy().contains("envoy/gateway-")).expect("a gateway bootstrap");
    envoy_validate(config).unwrap();
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains("recommendations.http>recommendations-static.http"), "no aggregate cluster:\n{text}");
    let envoy = support::EnvoyProcess::start(config);
    envoy.wait_ready(listener);
    let path = "/recommendations/c-7";
    until_the_gateway_is_answered_by(listener, path, "recommendations");
    assert_eq!(fallback.hits(), 0, "a healthy primary takes every request");
    drop(primary);
    until_the_gateway_is_answered_by(listener, path, "recommendations-static");
    for _ in 0..5 {
        let response = gateway_get(listener, path);
        assert_eq!((response.status, response.header("x-upstream")), (200, Some("recommendations-static")));
    }
    // The route without a fallback shares the primary's cluster: the gateway's own 503.
    assert_eq!(gateway_get(listener, "/reviews/p-1").status, 503);
    let _primary = Upstream::restart_on("recommendations", port);
    until_the_gateway_is_answered_by(listener, path, "recommendations");
    let after = fallback.hits();
    for _ in 0..5 {
        assert_eq!(gateway_get(listener, path).header("x-upstream"), Some("recommendations"));
    }
    assert_eq!(fallback.hits(), after, "traffic is back on the primary");
    assert_eq!(gateway_get(listener, "/reviews/p-1").header("x-upstream"), Some("recommendations"));
}

#[test]
fn a_cached_route_with_a_fallback_service_still_caches() {
    let dir = tempfile::tempdir().unwrap();
    let listener = free_port();
    let primary = Upstream::start("catalog");
    let mesh = format!(
        r##"
gateway "public" {{
    listener "http" port={listener} address="127.0.0.1"
    route "products" {{
        match path-prefix="/"
        to "catalog"
        cache ttl="30s"
        fallback "catalog-replica"
    }}
}}
service "catalog" {{
    owner "team-catalog"
    address "127.0.0.1" port={port}
    traffic {{ outlier-detection; }}
}}
service "catalog-replica" {{
    owner "team-catalog"
    address "127.0.0.1" port={dead}
    traffic {{ outlier-detection; }}
}}
"##,
        port = primary.port(),
        dead = support::dead_port(),
    );
    write_files(dir.path(), &[("mesh.kdl", &mesh)]);
    let configs = support::build_workspace(dir.path(), &dir.path().join("out"));
    let config = configs.iter().find(|p| p.to_string_lossy().contains("envoy/gateway-")).expect("a gateway bootstrap");
    envoy_validate(config).unwrap();
    let envoy = support::EnvoyProcess::start(config);
    envoy.wait_ready(listener);
    // The route names the aggregate cluster, whose upstream filters stamp the TTL.
    let first = gateway_get(listener, "/products");
    assert_eq!((first.status, first.header("cache-control")), (200, Some("public, max-age=30")));
    let second = gateway_get(listener, "/products");
    assert!(second.header("age").is_some(), "served from the cache: {:?}", second.headers);
    assert_eq!(primary.hits(), 1);
}
