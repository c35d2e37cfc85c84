//! Traffic and resilience: the language (retries, call-defaults, traffic,
//! limits, named policies, the stdlib) and the call-graph analyses, each
//! asserting the code, the place and the numbers it explains.

use crate::support;

use meshc::diag::Code;
use support::fixture::check;
use support::{codes, compile_mesh as compile, human, only, span_text, write_files};

/// Appended to every callee so the health-policy warning stays out of the way.
const HEALTHY: &str = "traffic { outlier-detection consecutive-5xx=5 }";

/// A chain `edge → a → b → c` with the given retries on each hop's call
/// (`None`: no retries) and a gateway route with `route_retries`.
fn chain(route_retries: Option<u32>, hops: [Option<u32>; 3], limits: &str) -> String {
    let retries = |r: Option<u32>| r.map_or(String::new(), |n| format!("{{ retries {n} }}"));
    let names = ["a", "b", "c", "d"];
    let mut mesh = limits.to_string();
    for (i, name) in names.iter().enumerate() {
        let call = match hops.get(i) {
            Some(r) => format!("calls \"{}\" timeout=\"10s\" {}", names[i + 1], retries(*r)),
            None => String::new(),
        };
        mesh.push_str(&format!(
            "service \"{name}\" {{ owner \"t\"; address \"{name}.svc\" port=80\n    {call}\n    {HEALTHY}\n}}\n"
        ));
    }
    mesh.push_str(&format!(
        "gateway \"edge\" {{ listener \"http\" port=8080\n route \"r\" {{ match path-prefix=\"/\"; to \"a\"; {} }} }}\n",
        route_retries.map_or(String::new(), |n| format!("retries {n}"))
    ));
    mesh
}

#[test]
fn retry_amplification_is_reported_where_the_product_first_crosses_the_limit() {
    // 2 (route) × 3 (a→b) × 3 (b→c) = 18 at c, over 10; b gets 6, under it.
    // `d`, behind the crossing, gets 18 too and is not reported again.
    let c = check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80
            calls "b" timeout="10s" { retries 2; }
            traffic { outlier-detection; }
        }
        service "b" { owner "t"; address "b.svc" port=80
            calls "c" timeout="10s" { retries 2; }
        //                            ^^^^^^^^^ MESH0031 error
            traffic { outlier-detection; }
        }
        service "c" { owner "t"; address "c.svc" port=80
            calls "d" timeout="10s"
            traffic { outlier-detection; }
        }
        service "d" { owner "t"; address "d.svc" port=80; traffic { outlier-detection; }; }
        gateway "edge" { listener "http" port=8080
            route "r" { match path-prefix="/"; to "a"; retries 1; }
        }
        "#,
    );
    assert_eq!(
        c.diagnostics[0].message,
        "one gateway request can cause 18 requests to `c` (limit 10): gateway `edge` route `r` (×2) → `a` (×3) → `b` (×3) → `c`"
    );
    // Nor when they retry as well.
    check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80
            calls "b" timeout="10s" { retries 2; }
            traffic { outlier-detection; }
        }
        service "b" { owner "t"; address "b.svc" port=80
            calls "c" timeout="10s" { retries 2; }
        //                            ^^^^^^^^^ MESH0031 error
            traffic { outlier-detection; }
        }
        service "c" { owner "t"; address "c.svc" port=80
            calls "d" timeout="10s" { retries 2; }
            traffic { outlier-detection; }
        }
        service "d" { owner "t"; address "d.svc" port=80; traffic { outlier-detection; }; }
        gateway "edge" { listener "http" port=8080
            route "r" { match path-prefix="/"; to "a"; retries 1; }
        }
        "#,
    );
}

#[test]
fn the_limit_comes_from_the_workspace_then_the_stdlib() {
    // 3 × 3 = 9 at c.
    let mesh = chain(None, [Some(2), Some(2), None], "");
    assert!(compile(&mesh).1.diagnostics.is_empty());
    let (_dir, c) = compile(&chain(None, [Some(2), Some(2), None], "limits { max-retry-amplification 8 }\n"));
    assert_eq!(codes(&c), [Code::RetryAmplification]);
    assert!(c.diagnostics[0].message.contains("(limit 8)"));
    // The stdlib's limits apply through the import; the workspace's win over them.
    let (_dir, c) = compile(&chain(None, [Some(2), Some(2), None], "import \"std:resilience\"\n"));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let own = "import \"std:resilience\"\nlimits { max-retry-amplification 4 }\n";
    let (_dir, c) = compile(&chain(None, [Some(2), Some(2), None], own));
    assert_eq!(codes(&c), [Code::RetryAmplification]);
}

#[test]
fn the_built_in_limit_is_the_stdlibs() {
    let c = check(r#"import "std:resilience""#);
    let model = c.model.as_ref().unwrap();
    assert_eq!(model.limits.max_retry_amplification, meshc::model::traffic::Limits::default().max_retry_amplification);
    assert!(model.limits.span.is_some(), "read from the stdlib file");
}

#[test]
fn named_policies_resolve_with_a_did_you_mean_and_point_at_the_reference() {
    let c = check(
        r#"
        import "std:resilience"
        service "a" { owner "t"; address "a.svc" port=80
            calls "b" timeout="1s" { retries policy="std-idempotent"; }
        }
        service "b" { owner "t"; address "b.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
    let model = c.model.as_ref().unwrap();
    let policy = model.services[0].calls[0].retries.as_ref().unwrap();
    assert_eq!(policy.retries, 2);
    assert!(c.sources.get(policy.span.file).path.ends_with("mesh.kdl"), "the span is the reference");

    let c = check(
        r#"
        import "std:resilience"
        service "a" { owner "t"; address "a.svc" port=80
            calls "b" timeout="1s" { retries policy="std-idempotnt"; }
        //                                   ^^^^^^^^^^^^^^^^^^^^^^ MESH0039 error
        }
        service "b" { owner "t"; address "b.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
    assert_eq!(c.diagnostics[0].help.as_deref(), Some("did you mean `std-idempotent`?"));

    let c = check(
        r#"
        import "std:resilence"
        //     ^^^^^^^^^^^^^^^ MESH0009 error
        "#,
    );
    assert_eq!(c.diagnostics[0].help.as_deref(), Some("did you mean `resilience`?"));
}

#[test]
fn timeout_budgets_compare_the_callers_timeout_with_the_callees_longest_wait() {
    // b waits up to 3 × 400ms + (25 + 50)ms = 1275ms on c; a gives b 1s.
    let c = check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80
            calls "b" timeout="1s"
        //            ^^^^^^^^^^^^ MESH0032 error
            traffic { outlier-detection; }
        }
        service "b" { owner "t"; address "b.svc" port=80
            calls "c" timeout="5s" { retries 2 per-try-timeout="400ms" backoff="25ms" max-backoff="250ms"; }
            traffic { outlier-detection; }
        }
        service "c" { owner "t"; address "c.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
    let d = &c.diagnostics[0];
    assert_eq!(
        d.message,
        "a gives `b` 1s, but `b` may wait 1s 275ms on its own call (to `c`: 3 attempts × 400ms + 75ms back-off)"
    );
    assert_eq!(
        span_text(&c, d.secondary[0].span),
        "retries 2 per-try-timeout=\"400ms\" backoff=\"25ms\" max-backoff=\"250ms\""
    );

    // The overall timeout bounds the wait: with timeout 900ms, b waits at most 900ms.
    check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80
            calls "b" timeout="1s"
            traffic { outlier-detection; }
        }
        service "b" { owner "t"; address "b.svc" port=80
            calls "c" timeout="900ms" { retries 2 per-try-timeout="400ms" backoff="25ms" max-backoff="250ms"; }
            traffic { outlier-detection; }
        }
        service "c" { owner "t"; address "c.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
}

#[test]
fn timeout_budgets_are_per_operation_with_for() {
    let openapi = "openapi: 3.0.3\ninfo: {title: B, version: '1'}\npaths:\n  /fast:\n    get: {responses: {'200': {description: ok}}}\n  /slow:\n    get: {responses: {'200': {description: ok}}}\n";
    let mesh = |for_: &str| {
        format!(
            r#"
service "a" {{ owner "t"; address "a.svc" port=80
    calls "b" operation="GET /fast" timeout="1s"
    {HEALTHY}
}}
service "b" {{ owner "t"; address "b.svc" port=80
    api "b-http" kind="rest" schema="b.yaml"
    calls "c" timeout="3s" {for_}
    {HEALTHY}
}}
service "c" {{ owner "t"; address "c.svc" port=80; {HEALTHY} }}
"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    for (for_, expected) in [
        ("", vec![Code::TimeoutBudget]),
        ("for=\"GET /slow\"", vec![]),
        ("for=\"GET /fast\"", vec![Code::TimeoutBudget]),
        ("for=\"GET /slwo\"", vec![Code::UnknownOperation]),
    ] {
        write_files(dir.path(), &[("mesh.kdl", &mesh(for_)), ("b.yaml", openapi)]);
        let c = meshc::driver::compile(dir.path());
        assert_eq!(codes(&c), expected, "{for_}: {}", human(&c));
    }
}

#[test]
fn a_per_try_timeout_not_shorter_than_the_timeout_is_reported_with_a_suggestion() {
    let c = check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80
         calls "b" timeout="900ms" { retries 2 per-try-timeout="900ms" }
        //                                     ^^^^^^^^^^^^^^^^^^^^^^^ MESH0033 error: per-try timeout
        }
        service "b" { owner "t"; address "b.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
    assert_eq!(
        c.diagnostics[0].help.as_deref(),
        Some("make the per-try timeout a fraction of the timeout (at most 300ms for 3 attempts), or drop it")
    );
}

#[test]
fn retrying_a_post_needs_an_idempotency_declaration_or_unsent_only_conditions() {
    let openapi = "openapi: 3.0.3\ninfo: {title: B, version: '1'}\npaths:\n  /orders:\n    post: {responses: {'201': {description: ok}}}\n";
    let mesh = |call: &str, defaults: &str| {
        format!(
            "import \"std:resilience\"\nservice \"a\" {{ owner \"t\"; address \"a.svc\" port=80\n {defaults}\n {call}\n}}\nservice \"b\" {{ owner \"t\"; address \"b.svc\" port=80; api \"b-http\" kind=\"rest\" schema=\"b.yaml\"; {HEALTHY} }}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("calls \"b\" operation=\"POST /orders\" { retries 2 }", "", vec![Code::RetryNonIdempotent]),
        ("calls \"b\" operation=\"POST /orders\" idempotent=#true { retries 2 }", "", vec![]),
        ("calls \"b\" operation=\"POST /orders\" { retries policy=\"std-unsent-only\" }", "", vec![]),
        ("calls \"b\" operation=\"POST /orders\" { retries 0 }", "", vec![]),
        // Retries inherited from call-defaults count too.
        ("calls \"b\" operation=\"POST /orders\"", "call-defaults { retries 1 }", vec![Code::RetryNonIdempotent]),
    ];
    for (call, defaults, expected) in cases {
        write_files(dir.path(), &[("mesh.kdl", &mesh(call, defaults)), ("b.yaml", openapi)]);
        let c = meshc::driver::compile(dir.path());
        assert_eq!(codes(&c), expected, "{call} / {defaults}: {}", human(&c));
        if let Some(d) = c.diagnostics.first() {
            let label = &d.secondary[0].message;
            assert_eq!(label, if defaults.is_empty() { "retried here" } else { "retries from call-defaults" });
        }
    }
}

#[test]
fn retrying_a_grpc_method_needs_its_protos_idempotency_level() {
    let c = check(
        r#"
        //- mesh.kdl
        service "a" { owner "t"; address "a.svc" port=80
         calls "b" operation="p.S/Charge" { retries 2 on="unavailable" }
        //         ^^^^^^^^^^^^^^^^^^^^^^ MESH0034 error: a gRPC method without `option idempotency_level`
         calls "b" operation="p.S/Get" { retries 2 on="unavailable" }
         calls "b" operation="p.S/Put" { retries 2 on="unavailable" }
        }
        service "b" { owner "t"; address "b.svc" port=80; api "b-grpc" kind="grpc" schema="b.proto"; traffic { outlier-detection; }; }

        //- b.proto
        syntax = "proto3";
        package p;
        message M {}
        service S {
          rpc Charge(M) returns (M);
          rpc Get(M) returns (M) { option idempotency_level = NO_SIDE_EFFECTS; }
          rpc Put(M) returns (M) { option idempotency_level = IDEMPOTENT; }
        }
        "#,
    );
    let help = c.diagnostics[0].help.as_deref().unwrap();
    assert!(help.starts_with("if the method is safe to repeat, say so in its .proto"), "{help}");
    assert_eq!(c.diagnostics[0].secondary[0].message, "retried here");
}

#[test]
fn a_call_cycle_is_reported_once_with_its_path() {
    let c = check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80; calls "b" timeout="1s"; traffic { outlier-detection; }; }
        service "b" { owner "t"; address "b.svc" port=80; calls "c" timeout="1s"; traffic { outlier-detection; }; }
        service "c" { owner "t"; address "c.svc" port=80; calls "a" timeout="1s"; traffic { outlier-detection; }; }
        //                                                ^^^^^^^^^^^^^^^^^^^^^^ MESH0030 error
        "#,
    );
    assert_eq!(c.diagnostics[0].message, "synchronous call cycle: a → b → c → a");
    assert_eq!(c.diagnostics[0].secondary.len(), 2);
    // A service calling itself is a cycle too.
    check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80; calls "a"; traffic { outlier-detection; }; }
        //                                                ^^^^^^^^^ MESH0030
        "#,
    );
}

#[test]
fn a_called_service_without_health_policy_is_warned_once() {
    check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80; calls "c"; calls "d"; calls "e"; }
        service "b" { owner "t"; address "b.svc" port=80; calls "c"; }
        service "c" { owner "t"; address "c.svc" port=80; }
        //      ^^^ MESH0035 warning
        service "d" { owner "t"; address "d.svc" port=80; traffic { health-check "tcp"; }; }
        service "e" { owner "t"; address "e.svc" port=80; traffic { outlier-detection; }; }
        "#,
    );
}

#[test]
fn traffic_settings_reject_what_cannot_work() {
    let service = |body: &str| format!("service \"a\" {{ owner \"t\"; address \"a.svc\" port=80\n {body}\n}}\n");
    let cases = [
        ("traffic { load-balancing \"ring-hash\" }", Code::MissingRequired),
        ("traffic { load-balancing \"least-requests\" }", Code::InvalidValue),
        ("traffic { load-balancing \"random\" hash-header=\"x\" }", Code::UnknownProperty),
        ("traffic { circuit-breaker }", Code::MissingRequired),
        ("traffic { outlier-detection max-ejection-percent=101 }", Code::InvalidValue),
        ("traffic { health-check \"grpc\" path=\"/x\" }", Code::UnknownProperty),
        ("traffic { health-check \"udp\" }", Code::InvalidValue),
        ("traffic { outlier-detection; outlier-detection }", Code::DuplicateName),
        ("call-defaults { retries 11 }", Code::InvalidValue),
        ("call-defaults { retries 1 on=\"5xx teapot\" }", Code::InvalidValue),
        ("call-defaults { retries 1 backoff=\"1s\" max-backoff=\"100ms\" }", Code::InvalidValue),
        ("sidecar inbound-port=15001 outbound-port=15001", Code::InvalidValue),
        ("call-defaults { retries 1 budget=\"120%\" }", Code::InvalidValue),
        ("call-defaults { retries 1 budget=\"20\" }", Code::InvalidValue),
        ("call-defaults { retries 1 min-retry-concurrency=2 }", Code::MissingRequired),
        // Versions: reachable, named once, each with instances; rules name them.
        ("versions { version \"v2\" }", Code::MissingRequired),
        ("versions { version \"v2\" address=\"a-v2.svc\"; version \"v2\" address=\"b.svc\" }", Code::DuplicateName),
        ("versions { version \"V2\" address=\"a-v2.svc\" }", Code::InvalidValue),
        ("versions { version \"v1\" }\n endpoints { endpoint \"10.0.0.1\" }", Code::MissingRequired),
        ("versions { version \"v1\" address=\"a1.svc\" }\n endpoints { endpoint \"10.0.0.1\" version=\"v1\" }", Code::UnknownProperty),
        ("endpoints { endpoint \"10.0.0.1\" version=\"v1\" }", Code::UnknownVersion),
        ("traffic { mirror \"v1\" }", Code::UnknownVersion),
        ("versions { version \"v1\" address=\"a1.svc\" }\n traffic { match-header \"x\" exact=\"1\" to=\"v2\" }", Code::UnknownVersion),
        ("versions { version \"v1\" address=\"a1.svc\" }\n traffic { match-header \"x\" to=\"v1\" }", Code::MissingRequired),
        ("versions { version \"v1\" address=\"a1.svc\" }\n traffic { mirror \"v1\" percent=0 }", Code::InvalidValue),
        ("versions { version \"v1\" address=\"a1.svc\" }\n traffic { split { to \"v1\" weight=60; to \"v1\" weight=40 } }", Code::InvalidSplit),
        ("versions { version \"v1\" address=\"a1.svc\" }\n traffic { split { to \"v1\" weight=60 } }", Code::InvalidSplit),
        ("versions { version \"v1\" address=\"a1.svc\" }\n traffic { split { to \"v1\" weight=100 }; split { to \"v1\" weight=100 } }", Code::DuplicateName),
    ];
    for (body, code) in cases {
        let (_dir, c) = compile(&service(body));
        assert_eq!(codes(&c), [code], "{body}: {}", human(&c));
    }
}

#[test]
fn versions_on_cluster_dns_are_reached_by_their_own_service_and_rules_resolve() {
    let c = check(
        r#"
        service "reviews" {
            owner "t"
            address "reviews.shop.svc.cluster.local" port=80
            versions {
                version "v1"
                version "v2" address="reviews-canary.example.com"
            }
            traffic {
                outlier-detection consecutive-5xx=5
                match-header "x-canary" present=#true to="v2"
                split { to "v1" weight=90; to "v2" weight=10; }
                mirror "v2" percent=5
            }
        }
        "#,
    );
    let reviews = &c.model.as_ref().unwrap().services[0];
    let hosts: Vec<&str> = reviews.versions.iter().map(|v| v.host.as_ref().unwrap().as_str()).collect();
    assert_eq!(hosts, ["reviews-v1.shop.svc.cluster.local", "reviews-canary.example.com"]);
    let rules = &reviews.traffic.rules;
    let names = |ids: Vec<_>| ids.into_iter().map(|v| reviews.version(v).name.value.clone()).collect::<Vec<_>>();
    assert_eq!(names(rules.split.iter().map(|w| w.version).collect()), ["v1", "v2"]);
    assert_eq!(rules.split.iter().map(|w| w.weight).collect::<Vec<_>>(), [90, 10]);
    assert_eq!(names(vec![rules.header_routes[0].to, rules.mirror.as_ref().unwrap().to]), ["v2", "v2"]);
    assert_eq!(rules.mirror.as_ref().unwrap().percent, 5);

    // A misspelt version gets a did-you-mean.
    let c = check(
        r#"
        service "reviews" {
            owner "t"
            address "reviews.shop.svc.cluster.local" port=80
            versions {
                version "v1"
                version "v2" address="reviews-canary.example.com"
            }
            traffic {
                outlier-detection consecutive-5xx=5
                match-header "x-canary" present=#true to="v3"
        //                                            ^^^^^^^ MESH0040 error
                split { to "v1" weight=90; to "v2" weight=10; }
                mirror "v2" percent=5
            }
        }
        "#,
    );
    assert_eq!(c.diagnostics[0].help.as_deref(), Some("did you mean `v1`?"));
    // Weights are percentages: the label shows the sum.
    let c = check(
        r#"
        service "reviews" {
            owner "t"
            address "reviews.shop.svc.cluster.local" port=80
            versions {
                version "v1"
                version "v2" address="reviews-canary.example.com"
            }
            traffic {
                outlier-detection consecutive-5xx=5
                match-header "x-canary" present=#true to="v2"
                split { to "v1" weight=90; to "v2" weight=20; }
        //      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0041 error: 90 + 20 = 110
                mirror "v2" percent=5
            }
        }
        "#,
    );
    assert_eq!(c.diagnostics[0].message, "the split's weights total 110%, not 100%");
}

#[test]
fn the_shop_and_the_boutique_declare_their_traffic_policies_and_check_clean() {
    for example in ["examples/shop", "examples/online-boutique"] {
        let c = meshc::driver::compile(&support::repo_root().join(example));
        assert!(c.diagnostics.is_empty(), "{example}: {}", human(&c));
        let model = c.model.as_ref().unwrap();
        let called: std::collections::HashSet<_> =
            model.services.iter().flat_map(|s| &s.calls).map(|c| c.target.value).collect();
        for id in called {
            let traffic = &model.service(id).traffic;
            assert!(
                traffic.health_check.is_some() || traffic.outlier_detection.is_some(),
                "{example}: {}",
                model.service(id).name.value
            );
        }
    }
}

#[test]
fn a_circuit_breaker_below_the_declared_load_is_reported_with_the_sum() {
    // 100 × 0.05 + 200 × 0.03 = 11 in flight.
    let c = check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80
            calls "b" timeout="1s" { load rps=100 latency="50ms"; }
        //                           ^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0038 error: expected load
            calls "b" timeout="1s" { load rps=200 latency="30ms"; }
        }
        service "b" { owner "t"; address "b.svc" port=80
            traffic { circuit-breaker max-requests=10; outlier-detection; }
        }
        "#,
    );
    let d = &c.diagnostics[0];
    assert_eq!(
        d.message,
        "`a` expects 11 requests in flight to `b` (100 rps × 50ms + 200 rps × 30ms), above its circuit breaker's max-requests=10"
    );
    assert_eq!(
        d.help.as_deref(),
        Some("raise max-requests to at least 11 (with headroom for slow periods), or lower the expected load")
    );
    check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80
            calls "b" timeout="1s" { load rps=100 latency="50ms"; }
            calls "b" timeout="1s" { load rps=200 latency="30ms"; }
        }
        service "b" { owner "t"; address "b.svc" port=80
            traffic { circuit-breaker max-requests=11; outlier-detection; }
        }
        "#,
    );
}

#[test]
fn graphql_resolvers_are_calls_for_the_analyses() {
    let sdl = "type Query { ping: String }\n";
    let openapi = "openapi: 3.0.3\ninfo: {title: B, version: '1'}\npaths:\n  /ping:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {type: string}\n";
    let mesh = |back_call: &str, route_timeout: &str| {
        format!(
            r#"
service "web" {{
    owner "t"
    address "web.svc" port=80
    api "web-graphql" kind="graphql" schema="web.graphql" {{
        resolve "Query.ping" service="b" operation="GET /ping" timeout="3s"
    }}
    {HEALTHY}
}}
service "b" {{
    owner "t"
    address "b.svc" port=80
    api "b-http" kind="rest" schema="b.yaml"
    {back_call}
    {HEALTHY}
}}
gateway "edge" {{
    listener "http" port=8080
    route "graphql" {{ match path="/graphql"; to "web"; timeout "{route_timeout}" }}
}}
"#
        )
    };
    let compile_with = |mesh: &str| {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &[("mesh.kdl", mesh), ("web.graphql", sdl), ("b.yaml", openapi)]);
        let c = meshc::driver::compile(dir.path());
        (dir, c)
    };
    let (_dir, c) = compile_with(&mesh("", "5s"));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));

    // The route gives web 1 s, but web's resolver may wait 3 s for b.
    let (_dir, c) = compile_with(&mesh("", "1s"));
    let d = only(&c);
    assert_eq!(d.code, Code::TimeoutBudget, "{}", human(&c));
    assert!(d.message.contains("3s"), "{}", d.message);

    // b calling back into web closes a cycle through the resolver.
    let (_dir, c) = compile_with(&mesh("calls \"web\" timeout=\"1s\"", "5s"));
    assert_eq!(codes(&c), [Code::SyncCallCycle], "{}", human(&c));
}

#[test]
fn an_unknown_child_without_a_close_match_lists_every_valid_child() {
    let c = check(
        r#"
        service "a" { owner "t"; address "a.svc" port=80; }
        gateway "edge" { listener "http" port=8080
            route "r" { match path-prefix="/"; to "a"; grpc-web #true; }
        //                                             ^^^^^^^^ MESH0002 error
        }
        "#,
    );
    let help = c.diagnostics[0].help.as_deref().unwrap();
    assert!(help.starts_with("`route` takes: "), "{help}");
    for child in ["match", "to", "timeout", "retries", "rate-limit", "auth"] {
        assert!(help.contains(&format!("`{child}`")), "{child} missing from: {help}");
    }
}

#[test]
fn background_calls_are_on_no_request_path() {
    // `c` warms `a`'s cache on its own schedule: a cycle a → b → c → a only
    // through that call, and a 10 ms timeout on it against a's 1 s waits.
    let mesh = |background: &str| {
        format!(
            "service \"a\" {{ owner \"t\"; address \"a.svc\" port=80; calls \"b\" timeout=\"1s\"; {HEALTHY} }}\n\
             service \"b\" {{ owner \"t\"; address \"b.svc\" port=80; calls \"c\" timeout=\"1s\"; {HEALTHY} }}\n\
             service \"c\" {{ owner \"t\"; address \"c.svc\" port=80; calls \"a\" timeout=\"10ms\" {background} {{ retries 3 }}; {HEALTHY} }}\n"
        )
    };
    let (_dir, c) = compile(&mesh("background=#true"));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    // Still a call: the sidecar proxies it.
    let artifacts = c.emit().unwrap();
    let sidecar = artifacts.iter().find(|a| a.path == "envoy/sidecar-c.yaml").unwrap();
    assert!(sidecar.contents.contains("a.svc"), "c's sidecar routes to a");
    let (_dir, c) = compile(&mesh(""));
    assert_eq!(codes(&c), [Code::SyncCallCycle], "{}", human(&c));

    // Outside a cycle: a background scrape may time out before its callee's own waits.
    let scrape = |background: &str| {
        format!(
            "service \"a\" {{ owner \"t\"; address \"a.svc\" port=80; calls \"b\" timeout=\"1s\"; {HEALTHY} }}\n\
             service \"b\" {{ owner \"t\"; address \"b.svc\" port=80; {HEALTHY} }}\n\
             service \"d\" {{ owner \"t\"; address \"d.svc\" port=80; calls \"a\" timeout=\"10ms\" {background} }}\n"
        )
    };
    let (_dir, c) = compile(&scrape("background=#true"));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let (_dir, c) = compile(&scrape(""));
    assert_eq!(codes(&c), [Code::TimeoutBudget], "{}", human(&c));
}

#[test]
fn retries_and_per_try_timeouts_on_streaming_methods_are_errors() {
    let c = check(
        r#"
        //- mesh.kdl
        service "a" { owner "t"; address "a.svc" port=80
         calls "b" operation="p.S/Watch" timeout="5s" { retries 2 on="unavailable"; }
        //         ^^^^^^^^^^^^^^^^^^^^^ MESH0059 error: streams requests or responses
         calls "b" operation="p.S/Upload" timeout="5s" { retries 0 per-try-timeout="1s"; }
        //         ^^^^^^^^^^^^^^^^^^^^^^ MESH0059
         calls "b" operation="p.S/Get" timeout="5s" { retries 2 on="unavailable"; }
        }
        service "c" { owner "t"; address "c.svc" port=80
         call-defaults { retries 1; }
         calls "b" operation="p.S/Watch" timeout="5s"
        //         ^^^^^^^^^^^^^^^^^^^^^ MESH0059
        }
        service "d" { owner "t"; address "d.svc" port=80
         call-defaults { retries 1; }
         calls "b" operation="p.S/Watch" timeout="5s" { retries 0; }
        }
        service "b" { owner "t"; address "b.svc" port=80; api "b-grpc" kind="grpc" schema="b.proto"; traffic { outlier-detection; }; }

        //- b.proto
        syntax = "proto3";
        package p;
        message M {}
        service S {
          rpc Get(M) returns (M) { option idempotency_level = NO_SIDE_EFFECTS; }
          rpc Watch(M) returns (stream M) { option idempotency_level = NO_SIDE_EFFECTS; }
          rpc Upload(stream M) returns (M) { option idempotency_level = IDEMPOTENT; }
        }
        "#,
    );
    // Where the retries come from: the call's own block, or its service's call-defaults.
    let labels: Vec<&str> = c.diagnostics.iter().map(|d| d.secondary[0].message.as_str()).collect();
    assert_eq!(labels, ["retried here", "retried here", "retries from call-defaults"]);
}
