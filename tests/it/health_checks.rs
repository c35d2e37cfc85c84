//! Health checks: the language (start period, jitter, expected statuses),
//! the checks on them (timeout against interval, the HTTP path against the
//! OpenAPI, the gRPC health service name against the protos), and what reaches
//! Envoy and `runtime/health.json`.

use crate::support;

use meshc::diag::Code;
use support::fixture::{check, check_rendered};
use support::{codes, compile_mesh as compile};

const OPENAPI: &str = r#"
        //- catalog.yaml
        openapi: 3.0.3
        info: { title: catalog, version: "1" }
        paths:
          /healthz:
            get:
              operationId: health
              responses: { "204": { description: ok } }
          /health/{check}:
            get:
              operationId: healthCheck
              parameters:
                - { name: check, in: path, required: true, schema: { type: string } }
              responses: { "200": { description: ok } }
          /products:
            post:
              operationId: addProduct
              responses: { "201": { description: ok } }
"#;

const PROTO: &str = r#"
        //- pay.proto
        syntax = "proto3";
        package pay;
        message M {}
        service Pay { rpc Charge(M) returns (M); }
"#;

const PROTO_WITH_HEALTH: &str = r#"
        //- pay.proto
        syntax = "proto3";
        package pay;
        import "grpc/health/v1/health.proto";
        message M {}
        service Pay { rpc Charge(M) returns (M); }

        //- grpc/health/v1/health.proto
        syntax = "proto3";
        package grpc.health.v1;
        message HealthCheckRequest { string service = 1; }
        message HealthCheckResponse { int32 status = 1; }
        service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
"#;

#[test]
fn a_timeout_not_shorter_than_the_interval_is_warned_at_the_timeout() {
    check_rendered(
        r#"
        //- mesh.kdl
        service "a" { owner "t"; address "a.svc" port=80
            traffic { health-check "tcp" interval="2s" timeout="2s"; }
        //                                             ^^^^^^^^^^^^ MESH0100 warning: not shorter than the interval
        }
        service "b" { owner "t"; address "b.svc" port=80
            traffic { health-check "tcp" interval="2s" timeout="1999ms"; }
        }
        "#,
        expect_test::expect![[r#"
            MESH0100

              ⚠ the health check of `a` waits 2s for a probe but probes every 2s
               ╭─[mesh.kdl:2:48]
             1 │ service "a" { owner "t"; address "a.svc" port=80
             2 │     traffic { health-check "tcp" interval="2s" timeout="2s"; }
               ·                                  ──────┬────── ──────┬─────
               ·                                        │             ╰── not shorter than the interval
               ·                                        ╰── the interval
             3 │ }
               ╰────
              help: make the timeout a fraction of the interval, e.g. timeout="400ms"
            0 error(s), 1 warning(s)
        "#]],
    );
}

#[test]
fn a_default_timeout_against_a_short_interval_is_warned_at_the_check() {
    // The default timeout (1s) equals a 1s interval: the label falls on the node.
    let (_dir, c) = compile(
        r#"service "a" { owner "t"; address "a.svc" port=80; traffic { health-check "tcp" interval="1s"; }; }"#,
    );
    assert_eq!(codes(&c), vec![Code::HealthTimeoutNotBelowInterval]);
}

#[test]
fn an_http_health_path_must_be_a_get_of_the_openapi_with_templates_matching() {
    check(&format!(
        r#"
        //- mesh.kdl
        service "a" {{ owner "t"; address "a.svc" port=80
            api "a-http" kind="rest" schema="catalog.yaml"
            traffic {{ health-check "http" path="/health"; }}
        //                                ^^^^^^^^^^^^^^ MESH0101 warning: probed path
        }}
        service "b" {{ owner "t"; address "b.svc" port=80
            api "b-http" kind="rest" schema="catalog.yaml"
            traffic {{ health-check "http" path="/health/live?verbose=1"; }}
        }}
        service "c" {{ owner "t"; address "c.svc" port=80
            api "c-http" kind="rest" schema="catalog.yaml"
            traffic {{ health-check "http"; }}
        }}
        service "d" {{ owner "t"; address "d.svc" port=80
            api "d-http" kind="rest" schema="catalog.yaml"
            traffic {{ health-check "http" path="/products"; }}
        //                                ^^^^^^^^^^^^^^^^ MESH0101 warning
        }}
        service "e" {{ owner "t"; address "e.svc" port=80
            traffic {{ health-check "http" path="/anything"; }}
        }}
        {OPENAPI}"#
    ));
}

#[test]
fn the_unknown_health_path_help_suggests_the_closest_get_path() {
    check_rendered(
        &format!(
            r#"
        //- mesh.kdl
        service "a" {{ owner "t"; address "a.svc" port=80
            api "a-http" kind="rest" schema="catalog.yaml"
            traffic {{ health-check "http" path="/healthy"; }}
        //                                ^^^^^^^^^^^^^^^ MESH0101
        }}
        {OPENAPI}"#
        ),
        expect_test::expect![[r#"
            MESH0101

              ⚠ the OpenAPI of `a` defines no `GET /healthy` for its health check
               ╭─[mesh.kdl:3:35]
             2 │     api "a-http" kind="rest" schema="catalog.yaml"
             3 │     traffic { health-check "http" path="/healthy"; }
               ·                                   ───────┬───────
               ·                                          ╰── probed path
             4 │ }
               ╰────
              help: did you mean `/healthz`? Or add `GET /healthy` to the API's OpenAPI document
            0 error(s), 1 warning(s)
        "#]],
    );
}

#[test]
fn a_grpc_health_check_names_a_service_the_protos_define_or_none() {
    check(&format!(
        r#"
        //- mesh.kdl
        service "a" {{ owner "t"; address "a.svc" port=80
            api "a-grpc" kind="grpc" schema="pay.proto"
            // The whole server: its health service comes from its gRPC library.
            traffic {{ health-check "grpc"; }}
        }}
        service "b" {{ owner "t"; address "b.svc" port=80
            api "b-grpc" kind="grpc" schema="pay.proto"
            traffic {{ health-check "grpc" grpc-service="pay.Pay"; }}
        }}
        service "c" {{ owner "t"; address "c.svc" port=80
            api "c-grpc" kind="grpc" schema="pay.proto"
            traffic {{ health-check "grpc" grpc-service="pay.Pya"; }}
        //                                ^^^^^^^^^^^^^^^^^^^^^^ MESH0102 warning: not a service of its APIs
        }}
        service "d" {{ owner "t"; address "d.svc" port=80
            traffic {{ health-check "grpc"; }}
        }}
        {PROTO}"#
    ));
}

#[test]
fn a_check_may_ask_about_a_service_an_import_defines() {
    check(&format!(
        r#"
        //- mesh.kdl
        service "a" {{ owner "t"; address "a.svc" port=80
            api "a-grpc" kind="grpc" schema="pay.proto"
            traffic {{ health-check "grpc" grpc-service="grpc.health.v1.Health"; }}
        }}
        service "b" {{ owner "t"; address "b.svc" port=80
            api "b-grpc" kind="grpc" schema="pay.proto"
            traffic {{ health-check "grpc" grpc-service="grpc.health.v1.Helth"; }}
        //                                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0102 warning
        }}
        {PROTO_WITH_HEALTH}"#
    ));
}

#[test]
fn health_check_settings_reject_what_cannot_work() {
    let service = |body: &str| format!("service \"a\" {{ owner \"t\"; address \"a.svc\" port=80\n {body}\n}}\n");
    let cases = [
        ("traffic { health-check \"http\" expect-status=\"2xx\" }", Code::InvalidValue),
        ("traffic { health-check \"http\" expect-status=\"300-200\" }", Code::InvalidValue),
        ("traffic { health-check \"tcp\" expect-status=\"200\" }", Code::UnknownProperty),
        ("traffic { health-check \"grpc\" expect-status=\"200\" }", Code::UnknownProperty),
        ("traffic { health-check \"tcp\" start-period=\"0s\" }", Code::InvalidValue),
        ("traffic { health-check \"tcp\" jitter=\"soon\" }", Code::InvalidValue),
        ("traffic { health-check \"tcp\" start-periods=\"1s\" }", Code::UnknownProperty),
        ("traffic { health-check \"http\" path=\"healthz\" }", Code::InvalidValue),
    ];
    for (body, code) in cases {
        let (_dir, c) = compile(&service(body));
        assert!(codes(&c).contains(&code), "{body}: expected {code:?}, got {:?}", codes(&c));
    }
    let (_dir, c) = compile(&service(
        "traffic { health-check \"http\" path=\"/ready\" expect-status=\"200-399\" start-period=\"30s\" jitter=\"250ms\" }",
    ));
    assert_eq!(codes(&c), vec![]);
}

#[test]
fn envoy_gets_the_jitter_and_the_accepted_statuses() {
    let mesh = r#"
        service "web" { owner "t"; address "web.svc" port=80; calls "a" timeout="1s"; }
        service "a" { owner "t"; address "a.svc" port=80
            traffic { health-check "http" path="/ready" expect-status="200-204" jitter="250ms" start-period="30s"; }
        }
    "#;
    let options = meshc::emit::Options::default().with_backends(["envoy-sidecar"]).unwrap();
    let (_dir, c) = compile(mesh);
    let built = c.build(&options).unwrap_or_else(|d| panic!("{d:?}"));
    let web = built.artifacts.iter().find(|a| a.path.contains("web")).expect("web's sidecar");
    let yaml: serde_json::Value = serde_yaml_ng::from_str(&web.contents).unwrap();
    let clusters = yaml["static_resources"]["clusters"].as_array().unwrap();
    let a = clusters.iter().find(|c| c["health_checks"].is_array()).expect("a's cluster checks health");
    let check = &a["health_checks"][0];
    assert_eq!(check["interval_jitter"], "0.250s");
    assert_eq!(check["http_health_check"]["path"], "/ready");
    assert_eq!(check["http_health_check"]["expected_statuses"], serde_json::json!([{ "start": 200, "end": 205 }]));
}

#[test]
fn the_health_monitor_config_lists_each_instance_with_its_version() {
    let mesh = r#"
        service "a" { owner "t"; address "a.svc" port=80
            versions { version "v1" address="a-v1.svc"; version "v2" address="a-v2.svc"; }
            traffic { health-check "http" path="/ready" interval="2s" timeout="500ms" start-period="10s" healthy=1 unhealthy=4; }
        }
        service "b" { owner "t"; address "b.svc" port=9000
            endpoints { endpoint "10.0.0.1" zone="z1"; endpoint "::1" port=9001; }
            traffic { health-check "tcp"; }
        }
        service "c" { owner "t"; address "c.svc" port=80; }
    "#;
    let options = meshc::emit::Options::default().with_backends(["health-monitor"]).unwrap();
    let (_dir, c) = compile(mesh);
    let built = c.build(&options).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(built.artifacts.len(), 1);
    assert_eq!(built.artifacts[0].path, "runtime/health.json");
    let file: serde_json::Value = serde_json::from_str(&built.artifacts[0].contents).unwrap();
    assert_eq!(
        file,
        serde_json::json!({
            "version": 1,
            "checks": [
                {
                    "service": "a",
                    "probe": { "kind": "http", "path": "/ready", "expect_status": [200, 299] },
                    "interval_ms": 2000, "timeout_ms": 500, "start_period_ms": 10000,
                    "healthy_threshold": 1, "unhealthy_threshold": 4,
                    "instances": [
                        { "address": "a-v1.svc:80", "version": "v1" },
                        { "address": "a-v2.svc:80", "version": "v2" },
                    ],
                },
                {
                    "service": "b",
                    "probe": { "kind": "tcp" },
                    "interval_ms": 5000, "timeout_ms": 1000,
                    "healthy_threshold": 2, "unhealthy_threshold": 3,
                    "instances": [
                        { "address": "10.0.0.1:9000", "zone": "z1" },
                        { "address": "[::1]:9001" },
                    ],
                },
            ],
        })
    );
}

#[test]
fn no_health_check_means_no_health_monitor_config() {
    let options = meshc::emit::Options::default().with_backends(["health-monitor"]).unwrap();
    let (_dir, c) = compile(r#"service "a" { owner "t"; address "a.svc" port=80; }"#);
    let built = c.build(&options).unwrap();
    assert!(built.artifacts.is_empty());
}

/// End to end: what the compiler writes, the runtime's monitor runs against
/// real servers (an HTTP server answering 204, one answering 503, a
/// refused TCP port), each flipping at the spec's thresholds.
#[test]
fn the_compiled_config_drives_the_runtime_health_monitor() {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use meshc_runtime::health::{serve_health, Health, HealthMonitor};

    let ready = support::Upstream::start_with_status("ready", 204);
    let failing = support::Upstream::start_with_status("failing", 503);
    let dead = support::dead_port();
    let mesh = format!(
        r#"
        service "a" {{ owner "t"; address "a.svc" port=80
            endpoints {{ endpoint "127.0.0.1" port={}; endpoint "127.0.0.1" port={}; }}
            traffic {{ health-check "http" path="/ready" interval="50ms" timeout="40ms" healthy=2 unhealthy=2; }}
        }}
        service "b" {{ owner "t"; address "b.svc" port={dead}
            endpoints {{ endpoint "127.0.0.1"; }}
            traffic {{ health-check "tcp" interval="50ms" timeout="40ms" unhealthy=1; }}
        }}
        "#,
        ready.port(),
        failing.port()
    );
    let options = meshc::emit::Options::default().with_backends(["health-monitor"]).unwrap();
    let (_dir, c) = compile(&mesh);
    let built = c.build(&options).unwrap_or_else(|d| panic!("{d:?}"));
    let monitor = HealthMonitor::from_json(&built.artifacts[0].contents).unwrap();
    assert_eq!(monitor.targets().len(), 3);

    let seen: Arc<Mutex<Vec<(String, Health, u64)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let _handle = serve_health(monitor, "127.0.0.1:0".parse().unwrap(), move |target, t| {
        record.lock().unwrap().push((target.address.clone(), t.to, t.probe));
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "only {:?}", seen.lock().unwrap());
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut found = seen.lock().unwrap().clone();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut wanted = [
        (format!("127.0.0.1:{}", ready.port()), Health::Healthy, 2),
        (format!("127.0.0.1:{}", failing.port()), Health::Unhealthy, 2),
        (format!("127.0.0.1:{dead}"), Health::Unhealthy, 1),
    ];
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found[..3], wanted[..]);
    assert!(ready.requests().iter().all(|r| r.method == "GET" && r.path == "/ready"));
}
