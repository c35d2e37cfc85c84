//! API versions (docs/language.md, "API versions"): the language's
//! diagnostics as fixtures, the compatibility report, and the gateway's
//! version routing on the real Envoy (versions side by side, deprecation
//! headers, weighted migration) and in Istio's schemas.

use crate::support;
use crate::support::fixture::{check, check_rendered};
use expect_test::expect;

use support::{envoy_validate, free_port, http_request, write_files, EnvoyProcess, Upstream};

const ORDERS_V1: &str = r#"openapi: 3.0.3
info: { title: orders, version: "1" }
paths:
  /orders:
    post: { responses: { "201": { description: created } } }
  /orders/{id}:
    get:
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: an order } }
"#;

const ORDERS_V2: &str = r#"openapi: 3.0.3
info: { title: orders, version: "2" }
paths:
  /orders:
    post: { responses: { "201": { description: created } } }
  /orders/{id}/items:
    get:
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: its items } }
"#;

/// A fixture: `mesh` as mesh.kdl beside both orders schemas.
fn fixture(mesh: &str) -> String {
    let indent = |text: &str| text.lines().map(|l| format!("        {l}\n")).collect::<String>();
    format!(
        "\n        //- mesh.kdl\n{mesh}\n        //- orders.v1.yaml\n{}\n        //- orders.v2.yaml\n{}",
        indent(ORDERS_V1),
        indent(ORDERS_V2)
    )
}

#[test]
fn versioned_apis_resolve_each_use_against_its_own_versions_schema() {
    let c = check(&fixture(
        r#"
        service "web" { owner "t"; address "web.svc" port=80
            calls "orders" operation="GET /orders/{id}" api-version="v1" timeout="1s"
            calls "orders" operation="GET /orders/{id}/items" api-version="v2" timeout="1s"
            calls "orders" operation="GET /orders/{id}/items" api-version="v1" timeout="1s"
            //             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0008 error: unknown operation
        }
        service "orders" { owner "t"; address "orders.svc" port=80
            api "orders-http" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/v1"
                version "v2" schema="orders.v2.yaml" path-prefix="/v2"
            }
            traffic { outlier-detection }
        }
        "#,
    ));
    let model = c.model.as_ref().unwrap();
    let api = &model.services[1].apis[0];
    assert_eq!(api.versions.len(), 2);
    assert_eq!(api.current_version().map(|v| api.version(v).name.value.as_str()), Some("v2"));
    assert_eq!(api.schema, api.versions[1].schema, "a use naming no version resolves against the current one");
}

#[test]
fn an_unknown_version_gets_a_did_you_mean() {
    check_rendered(
        &fixture(
            r#"
        service "web" { owner "t"; address "web.svc" port=80
            calls "orders" operation="POST /orders" api-version="v3" timeout="1s"
            //                                      ^^^^^^^^^^^^^^^^ MESH0094 error: unknown version
        }
        service "orders" { owner "t"; address "orders.svc" port=80
            api "orders-http" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/v1"
                version "v2" schema="orders.v2.yaml" path-prefix="/v2"
            }
            traffic { outlier-detection }
        }
        service "billing" { owner "t"; address "billing.svc" port=80
            api "legacy" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/l1" deprecated="2026-01-01" replaced-by="v22"
                //                                                                             ^^^^^^^^^^^^^^^^^ MESH0094 error: unknown version
                version "v2" schema="orders.v2.yaml" path-prefix="/l2"
            }
        }
        gateway "edge" {
            listener "http" port=8080
            route "orders" { match path-prefix="/orders"; to "orders" api-version="v2x"; }
            //                                                        ^^^^^^^^^^^^^^^^^ MESH0094 error: unknown version
        }
        "#,
        ),
        expect![[r#"
            MESH0094

              × service `web` uses API version `v3` of service `orders`, which has none of that name
               ╭─[mesh.kdl:3:45]
             2 │ service "web" { owner "t"; address "web.svc" port=80
             3 │     calls "orders" operation="POST /orders" api-version="v3" timeout="1s"
               ·                                             ────────┬───────
               ·                                                     ╰── unknown version
             4 │ }
               ╰────
              help: did you mean `v1`?
            MESH0094

              × the API has no version `v22`
                ╭─[mesh.kdl:14:88]
             13 │     api "legacy" kind="rest" {
             14 │         version "v1" schema="orders.v1.yaml" path-prefix="/l1" deprecated="2026-01-01" replaced-by="v22"
                ·                                                                                        ────────┬────────
                ·                                                                                                ╰── unknown version
             15 │         version "v2" schema="orders.v2.yaml" path-prefix="/l2"
                ╰────
              help: did you mean `v2`?
            MESH0094

              × route `orders` uses API version `v2x` of service `orders`, which has none of that name
                ╭─[mesh.kdl:20:63]
             19 │     listener "http" port=8080
             20 │     route "orders" { match path-prefix="/orders"; to "orders" api-version="v2x"; }
                ·                                                               ────────┬────────
                ·                                                                       ╰── unknown version
             21 │ }
                ╰────
              help: did you mean `v2`?
            3 error(s), 0 warning(s)
        "#]],
    );
}

#[test]
fn lifecycles_that_contradict_themselves_are_errors() {
    check(&fixture(
        r#"
        service "orders" { owner "t"; address "orders.svc" port=80
            api "a" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/v1" deprecated="2026-09-01" sunset="2026-03-01"
                //                                                                             ^^^^^^^^^^^^^^^^^^^ MESH0095 error: sunset
                version "v2" schema="orders.v2.yaml" path-prefix="/v2" sunset="2027-01-01"
                //                                                     ^^^^^^^^^^^^^^^^^^^ MESH0095 error: needs `deprecated=`
            }
            api "b" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/b1" deprecated="2026-09-01" replaced-by="v2"
                //                                                                             ^^^^^^^^^^^^^^^^ MESH0095 error: leads back here
                version "v2" schema="orders.v2.yaml" path-prefix="/b2" deprecated="2026-09-01" replaced-by="v1"
            }
            api "c" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/c1" deprecated="2026-09-01" replaced-by="v1"
                //                                                                             ^^^^^^^^^^^^^^^^ MESH0095 error: leads back here
            }
            api "d" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/d1" deprecated="2026-02-30"
                //                                                     ^^^^^^^^^^^^^^^^^^^^^^^ MESH0004 error: invalid value
            }
        }
        "#,
    ));
}

#[test]
fn versions_of_one_api_are_picked_one_way_each_by_its_own_selector() {
    check(&fixture(
        r#"
        service "orders" { owner "t"; address "orders.svc" port=80
            api "mixed" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/v1"
                version "v2" schema="orders.v2.yaml" header="api-version" equals="2"
                //                                   ^^^^^^^^^^^^^^^^^^^^ MESH0096 error
            }
            api "same" kind="rest" {
                version "v1" schema="orders.v1.yaml" media-type="application/vnd.orders+json"
                version "v2" schema="orders.v2.yaml" media-type="application/vnd.orders+json"
                //                                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0096 error: same selector
            }
            api "two" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/t1" header="x-v" equals="1"
                //                                                     ^^^^^^^^^^^^ MESH0096 error
            }
            api "none" kind="rest" {
                version "v1" schema="orders.v1.yaml"
              //^^^^^^^ MESH0005 error: no selector
            }
        }
        "#,
    ));
}

#[test]
fn a_grpc_version_names_a_package_of_its_schema() {
    check(
        r#"
        //- mesh.kdl
        service "payments" { owner "t"; address "payments.svc" port=80
            api "payments-grpc" kind="grpc" {
                version "v1" schema="v1.proto" grpc-package="shop.payments.v1"
                version "v2" schema="v2.proto" grpc-package="shop.payment.v2"
                //                             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0096 error: no such package in the schema
            }
        }

        //- v1.proto
        syntax = "proto3";
        package shop.payments.v1;
        message M {}
        service Payments { rpc Charge(M) returns (M); }

        //- v2.proto
        syntax = "proto3";
        package shop.payments.v2;
        message M {}
        service Payments { rpc Charge(M) returns (M); }
        "#,
    );
}

#[test]
fn a_deprecated_version_in_use_lists_its_migration_path() {
    check_rendered(
        &fixture(
            r#"
        service "web" { owner "t"; address "web.svc" port=80
            calls "orders" operation="POST /orders" api-version="v1" timeout="1s"
        }
        service "admin" { owner "t"; address "admin.svc" port=80
            calls "orders" operation="POST /orders" api-version="v2" timeout="1s"
        }
        service "orders" { owner "t"; address "orders.svc" port=80
            api "orders-http" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/v1" deprecated="2026-09-01" sunset="2099-03-01" replaced-by="v2" link="https://docs.shop.example/orders/v1-to-v2"
                //                                                     ^^^^^^^^^^^^^^^^^^^^^^^ MESH0097 warning: deprecated
                version "v2" schema="orders.v2.yaml" path-prefix="/v2"
            }
            traffic { outlier-detection }
        }
        gateway "edge" {
            listener "http" port=8080
            route "legacy" { match path-prefix="/legacy/orders"; to "orders" api-version="v1"; }
            route "migrating" {
                match path-prefix="/orders"
                to "orders" {
                    api-version "v1" weight=80
                    api-version "v2" weight=20
                }
            }
            route "moved" {
                match path-prefix="/done"
                to "orders" {
                    api-version "v1" weight=0
                    api-version "v2" weight=100
                }
            }
        }
        "#,
        ),
        expect![[r#"
            MESH0097

              ⚠ version `v1` of `orders`'s API `orders-http` is deprecated since 2026-09-01; 3 uses must move
              │ before it can go
               ╭─[mesh.kdl:3:45]
             2 │ service "web" { owner "t"; address "web.svc" port=80
             3 │     calls "orders" operation="POST /orders" api-version="v1" timeout="1s"
               ·                                             ────────┬───────
               ·                                                     ╰── service `web` uses it
             4 │ }
               ╰────
                ╭─[mesh.kdl:10:64]
              9 │     api "orders-http" kind="rest" {
             10 │         version "v1" schema="orders.v1.yaml" path-prefix="/v1" deprecated="2026-09-01" sunset="2099-03-01" replaced-by="v2" link="https://docs.shop.example/orders/v1-to-v2"
                ·                                                                ───────────┬───────────
                ·                                                                           ╰── deprecated
             11 │         version "v2" schema="orders.v2.yaml" path-prefix="/v2"
                ╰────
                ╭─[mesh.kdl:17:70]
             16 │     listener "http" port=8080
             17 │     route "legacy" { match path-prefix="/legacy/orders"; to "orders" api-version="v1"; }
                ·                                                                      ────────┬───────
                ·                                                                              ╰── route `legacy` of gateway `edge` uses it
             18 │     route "migrating" {
                ╰────
                ╭─[mesh.kdl:21:25]
             20 │         to "orders" {
             21 │             api-version "v1" weight=80
                ·                         ──┬─
                ·                           ╰── route `migrating` of gateway `edge` sends 80% of its requests to it
             22 │             api-version "v2" weight=20
                ╰────
              help: move each use to version `v2` (api-version="v2"), which replaces it
                    note: migration path: service `web`, route `legacy` of gateway `edge`, route `migrating`
                    of gateway `edge`
                    note: its sunset is 2099-03-01: uses from that day on are errors
                    note: how to move: https://docs.shop.example/orders/v1-to-v2
            0 error(s), 1 warning(s)
        "#]],
    );
}

#[test]
fn a_use_past_the_sunset_is_an_error_and_today_comes_from_the_build() {
    let spec = fixture(
        r#"
        service "web" { owner "t"; address "web.svc" port=80
            calls "orders" operation="POST /orders" api-version="v1" timeout="1s"
            //                                      ^^^^^^^^^^^^^^^^ MESH0098 error: past its sunset
        }
        service "orders" { owner "t"; address "orders.svc" port=80
            api "orders-http" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/v1" deprecated="2020-01-01" sunset="2020-06-01" replaced-by="v2"
                version "v2" schema="orders.v2.yaml" path-prefix="/v2"
            }
            traffic { outlier-detection }
        }
        "#,
    );
    check(&spec);
    // The day before the sunset, the same use is a warning.
    let annotation =
        "            //                                      ^^^^^^^^^^^^^^^^ MESH0098 error: past its sunset\n";
    let fs = meshc::base::fs::MemoryFs::from_fixture(&spec.replace(annotation, "")).unwrap();
    let before = meshc::model::api_versions::Date::parse("2020-05-31").unwrap();
    let c = meshc::driver::compile_in_on(&fs, std::path::Path::new(meshc::base::fs::FIXTURE_ROOT), Some(before));
    let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code.id()).collect();
    assert_eq!(codes, ["MESH0097"]);
}

#[test]
fn a_call_naming_no_version_of_a_versioned_api_is_warned() {
    check(&fixture(
        r#"
        service "web" { owner "t"; address "web.svc" port=80
            calls "orders" operation="POST /orders" timeout="1s"
            //             ^^^^^^^^^^^^^^^^^^^^^^^^ MESH0099 warning: resolved against the current version, `v2`
        }
        service "orders" { owner "t"; address "orders.svc" port=80
            api "orders-http" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/v1" deprecated="2026-01-01"
                version "v2" schema="orders.v2.yaml" path-prefix="/v2"
            }
            traffic { outlier-detection }
        }
        "#,
    ));
}

#[test]
fn route_weights_name_versions_of_one_api_and_total_100() {
    check(&fixture(
        r#"
        service "orders" { owner "t"; address "orders.svc" port=80
            api "orders-http" kind="rest" {
                version "v1" schema="orders.v1.yaml" path-prefix="/v1"
                version "v2" schema="orders.v2.yaml" path-prefix="/v2"
            }
        }
        gateway "edge" {
            listener "http" port=8080
            route "a" {
                match path-prefix="/a"
                to "orders" {
              //^^^^^^^^^^^^^ MESH0004 error
                    api-version "v1" weight=60
                    api-version "v2" weight=60
                }
            }
        }
        "#,
    ));
}

// ---------------------------------------------------------------------------
// The gateway, live: v1 and v2 side by side, deprecation headers, migration
// ---------------------------------------------------------------------------

/// Orders v1 and v2 on their own upstreams (deployment versions), a route
/// serving both side by side and a route migrating by `weights` (v1, v2).
fn live_spec(listener: u16, v1: u16, v2: u16, weights: (u32, u32)) -> String {
    format!(
        r#"
mesh "live"

service "orders" {{
    owner "team-orders"
    address "127.0.0.1" port={v1}
    api "orders-http" kind="rest" {{
        version "v1" schema="orders.v1.yaml" path-prefix="/v1" deployment="v1" deprecated="2026-09-01" sunset="2099-03-01" replaced-by="v2" link="https://docs.shop.example/orders/v1-to-v2"
        version "v2" schema="orders.v2.yaml" path-prefix="/v2" deployment="v2"
    }}
    versions {{
        version "v1"
        version "v2"
    }}
    endpoints {{
        endpoint "127.0.0.1" port={v1} version="v1"
        endpoint "127.0.0.1" port={v2} version="v2"
    }}
}}

gateway "edge" {{
    listener "http" address="127.0.0.1" port={listener}
    route "orders" {{
        match path-prefix="/orders"
        to "orders"
        timeout "2s"
    }}
    route "checkout" {{
        match path-prefix="/checkout"
        to "orders" {{
            api-version "v1" weight={}
            api-version "v2" weight={}
        }}
        timeout "2s"
    }}
}}
"#,
        weights.0, weights.1
    )
}

struct LiveVersions {
    _dir: tempfile::TempDir,
    port: u16,
    _envoy: EnvoyProcess,
}

fn start(v1: &Upstream, v2: &Upstream, weights: (u32, u32)) -> LiveVersions {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let spec = live_spec(port, v1.port(), v2.port(), weights);
    write_files(dir.path(), &[("mesh.kdl", &spec), ("orders.v1.yaml", ORDERS_V1), ("orders.v2.yaml", ORDERS_V2)]);
    let configs = support::build_workspace(dir.path(), &dir.path().join("out"));
    let config = configs.iter().find(|p| p.ends_with("gateway-edge.yaml")).unwrap().clone();
    envoy_validate(&config).unwrap();
    let envoy = EnvoyProcess::start(&config);
    envoy.wait_ready(port);
    LiveVersions { _dir: dir, port, _envoy: envoy }
}

#[test]
fn live_gateway_never_serves_one_header_selected_versions_cached_response_for_another() {
    let orders = Upstream::start("orders");
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        r#"
mesh "live"

service "orders" {{
    owner "team-orders"
    address "127.0.0.1" port={upstream}
    api "orders-http" kind="rest" {{
        version "v1" schema="orders.v1.yaml" header="api-version" equals="1"
        version "v2" schema="orders.v2.yaml" header="api-version" equals="2"
    }}
}}

gateway "edge" {{
    listener "http" address="127.0.0.1" port={port}
    route "orders" {{
        match path-prefix="/orders"
        to "orders"
        timeout "2s"
        cache ttl="60s"
    }}
}}
"#,
        upstream = orders.port()
    );
    write_files(dir.path(), &[("mesh.kdl", &spec), ("orders.v1.yaml", ORDERS_V1), ("orders.v2.yaml", ORDERS_V2)]);
    let built = meshc::driver::compile(dir.path()).build(&meshc::emit::Options::default()).unwrap();
    let warnings: Vec<(&str, &str)> = built.warnings.iter().map(|d| (d.code.id(), d.message.as_str())).collect();
    assert_eq!(
        warnings,
        [("MESH0073", "the envoy-gateway backend cannot express the cache of route `orders`")],
        "the setting Envoy cannot honour is a warning, never dropped silently"
    );
    let configs = support::build_workspace(dir.path(), &dir.path().join("out"));
    let config = configs.iter().find(|p| p.ends_with("gateway-edge.yaml")).unwrap().clone();
    envoy_validate(&config).unwrap();
    let envoy = EnvoyProcess::start(&config);
    envoy.wait_ready(port);

    // Envoy 1.40's cache crashes on responses keyed by a request header
    // (allowed_vary_headers), so they carry `vary` and are never stored:
    // each version's request reaches the upstream, none gets another's response.
    for (version, hits) in [("1", 1), ("1", 2), ("2", 3)] {
        let response = http_request(port, "GET", "/orders/7", &[("api-version", version)]);
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(response.header("vary"), Some("api-version"), "{:?}", response.headers);
        assert_eq!(response.header("age"), None, "not from the cache: {:?}", response.headers);
        assert_eq!(orders.hits(), hits);
    }
    let sent: Vec<Option<String>> =
        orders.requests().iter().map(|r| r.header("api-version").map(str::to_string)).collect();
    assert_eq!(sent, [Some("1".to_string()), Some("1".to_string()), Some("2".to_string())]);
    drop(envoy);
}

#[test]
fn live_gateway_serves_versions_side_by_side_with_deprecation_headers_on_v1_only() {
    let (v1, v2) = (Upstream::start("orders-v1"), Upstream::start("orders-v2"));
    let gateway = start(&v1, &v2, (50, 50));

    let old = http_request(gateway.port, "GET", "/v1/orders/7", &[]);
    assert_eq!(old.status, 200, "{}", old.body);
    assert_eq!(old.body, "orders-v1 GET /v1/orders/7");
    // 2026-09-01T00:00:00Z, RFC 9745's structured date.
    assert_eq!(old.header("deprecation"), Some("@1788220800"));
    assert_eq!(old.header("sunset"), Some("Sun, 01 Mar 2099 00:00:00 GMT"));
    let links = old.header_all("link").join(", ");
    assert!(links.contains(r#"<https://docs.shop.example/orders/v1-to-v2>; rel="deprecation""#), "{links}");
    assert!(links.contains(r#"</v2>; rel="successor-version""#), "{links}");

    let new = http_request(gateway.port, "GET", "/v2/orders/7/items", &[]);
    assert_eq!(new.status, 200, "{}", new.body);
    assert_eq!(new.body, "orders-v2 GET /v2/orders/7/items");
    for header in ["deprecation", "sunset", "link"] {
        assert_eq!(new.header(header), None, "v2 is current: no `{header}`");
    }

    // A request naming no version gets the current one, under its prefix.
    let unnamed = http_request(gateway.port, "GET", "/orders/7/items", &[]);
    assert_eq!(unnamed.body, "orders-v2 GET /v2/orders/7/items");
    assert_eq!(unnamed.header("deprecation"), None);
    assert_eq!((v1.hits(), v2.hits()), (1, 2));
}

#[test]
fn live_gateway_migrates_unnamed_requests_between_versions_by_weight() {
    let (v1, v2) = (Upstream::start("orders-v1"), Upstream::start("orders-v2"));
    for (weights, expected) in [((100, 0), "orders-v1 POST /v1/checkout"), ((0, 100), "orders-v2 POST /v2/checkout")] {
        let gateway = start(&v1, &v2, weights);
        for _ in 0..20 {
            let r = http_request(gateway.port, "POST", "/checkout", &[]);
            assert_eq!(r.body, expected, "weights {weights:?}");
            assert_eq!(r.header("deprecation").is_some(), weights.0 == 100);
        }
    }
    let (h1, h2) = (v1.hits(), v2.hits());
    let gateway = start(&v1, &v2, (30, 70));
    let total = 400;
    for _ in 0..total {
        let r = http_request(gateway.port, "POST", "/checkout", &[]);
        assert_eq!(r.status, 200);
    }
    let (to_v1, to_v2) = (v1.hits() - h1, v2.hits() - h2);
    assert_eq!(to_v1 + to_v2, total);
    // 30 % of 400 is 120; the binomial's standard deviation is about 9.
    assert!((80..=160).contains(&to_v1), "v1 took {to_v1} of {total} requests at weight 30");
    // A request naming its version is not migrated.
    assert_eq!(http_request(gateway.port, "POST", "/v1/checkout", &[]).body, "orders-v1 POST /v1/checkout");
}

// ---------------------------------------------------------------------------
// The report and Istio
// ---------------------------------------------------------------------------

fn built(spec: &str) -> std::collections::BTreeMap<String, String> {
    let fs = meshc::base::fs::MemoryFs::from_fixture(spec).unwrap();
    let c = meshc::driver::compile_in(&fs, std::path::Path::new(meshc::base::fs::FIXTURE_ROOT));
    assert_eq!(c.errors(), 0, "{}", support::human(&c));
    c.emit().unwrap().into_iter().map(|a| (a.path, a.contents)).collect()
}

#[test]
fn the_report_lists_each_versions_users_and_the_migration_path() {
    let spec = live_spec(8080, 8081, 8082, (80, 20)).replace("\n", "\n        ");
    let artifacts = built(&fixture(&format!("        {spec}\n        service \"web\" {{ owner \"t\"; address \"web.svc\" port=80\n            calls \"orders\" operation=\"POST /orders\" api-version=\"v1\" timeout=\"1s\"\n        }}\n")));
    let report: serde_json::Value = serde_json::from_str(&artifacts["versions/compatibility.json"]).unwrap();
    assert_eq!(report["format"], 1);
    let api = &report["apis"][0];
    assert_eq!(
        (api["service"].as_str(), api["api"].as_str(), api["current"].as_str()),
        (Some("orders"), Some("orders-http"), Some("v2"))
    );
    assert_eq!(api["strategy"], "path-prefix");
    let v1 = &api["versions"][0];
    assert_eq!(v1["status"], "deprecated");
    assert_eq!(v1["sunset"], "2099-03-01");
    assert_eq!(v1["deployment"], "v1");
    assert_eq!(v1["migration"]["removable"], false);
    assert_eq!(v1["migration"]["move_to"], "v2");
    let must_move: Vec<String> = v1["migration"]["must_move"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| format!("{} {}", u["kind"].as_str().unwrap(), u["service"].as_str().or(u["route"].as_str()).unwrap()))
        .collect();
    assert_eq!(must_move, ["call web", "route checkout"]);
    assert_eq!(v1["used_by"][1]["weight"], 80);
    let served: Vec<&str> = v1["served_by"].as_array().unwrap().iter().map(|r| r["route"].as_str().unwrap()).collect();
    assert_eq!(served, ["orders", "checkout"]);
    assert!(api["versions"][1].get("migration").is_none(), "only deprecated versions have a migration path");
    // The same spec built on another day writes the same bytes.
    let again = built(&fixture(&format!("        {spec}\n        service \"web\" {{ owner \"t\"; address \"web.svc\" port=80\n            calls \"orders\" operation=\"POST /orders\" api-version=\"v1\" timeout=\"1s\"\n        }}\n")));
    assert_eq!(artifacts, again);
}

#[test]
fn istio_routes_versions_side_by_side_and_weighs_header_picked_ones() {
    let spec = r#"
        service "orders" { owner "t"; address "orders.shop.svc.cluster.local" port=8080
            api "orders-http" kind="rest" {
                version "v1" schema="orders.v1.yaml" header="api-version" equals="1" deployment="v1" deprecated="2026-09-01" sunset="2099-03-01" replaced-by="v2" link="https://docs.shop.example/v1"
                version "v2" schema="orders.v2.yaml" header="api-version" equals="2" deployment="v2"
            }
            versions { version "v1"; version "v2"; }
        }
        gateway "edge" {
            listener "http" port=8080
            route "orders" { match path-prefix="/orders"; to "orders"; }
            route "checkout" {
                match path-prefix="/checkout"
                to "orders" {
                    api-version "v1" weight=30
                    api-version "v2" weight=70
                }
            }
        }
        "#;
    let artifacts = built(&fixture(spec));
    let resources = support::istio_crds::yaml_documents(&artifacts["istio/gateway-edge.yaml"]);
    for resource in &resources {
        support::istio_crds::validate(resource).unwrap_or_else(|e| panic!("{e:?}\n{resource:#}"));
    }
    let vs = resources.iter().find(|r| r["kind"] == "VirtualService").unwrap();
    let http = vs["spec"]["http"].as_array().unwrap();
    let names: Vec<&str> = http.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["orders@v1", "orders@v2", "orders", "checkout@v1", "checkout@v2", "checkout"]);
    assert_eq!(http[0]["match"][0]["headers"]["api-version"]["exact"], "1");
    assert_eq!(http[0]["route"][0]["destination"]["subset"], "v1");
    assert_eq!(http[0]["headers"]["response"]["add"]["deprecation"], "@1788220800");
    assert_eq!(http[0]["headers"]["response"]["add"]["sunset"], "Sun, 01 Mar 2099 00:00:00 GMT");
    assert_eq!(http[0]["headers"]["response"]["add"]["link"], "<https://docs.shop.example/v1>; rel=\"deprecation\"");
    assert!(http[1]["headers"].get("response").is_none());
    // Requests naming no version: the current one, told by its header.
    assert_eq!(http[2]["headers"]["request"]["set"]["api-version"], "2");
    assert_eq!(http[2]["route"][0]["destination"]["subset"], "v2");
    let weighted = http[5]["route"].as_array().unwrap();
    assert_eq!(weighted[0]["weight"], 30);
    assert_eq!(weighted[0]["destination"]["subset"], "v1");
    assert_eq!(weighted[0]["headers"]["request"]["set"]["api-version"], "1");
    assert_eq!(weighted[1]["headers"]["request"]["set"]["api-version"], "2");
}

#[test]
fn grpc_versions_are_routed_by_package_and_envoy_accepts_them() {
    let spec = r#"
        //- mesh.kdl
        service "payments" { owner "t"; address "payments.shop.svc.cluster.local" port=9000
            api "payments-grpc" kind="grpc" {
                version "v1" schema="v1.proto" grpc-package="shop.payments.v1" deployment="v1" deprecated="2026-09-01"
                version "v2" schema="v2.proto" grpc-package="shop.payments.v2" deployment="v2"
            }
            versions { version "v1"; version "v2"; }
        }
        gateway "edge" {
            listener "grpc" port=8080
            route "payments" { match path-prefix="/"; to "payments"; timeout "3s"; }
        }

        //- v1.proto
        syntax = "proto3";
        package shop.payments.v1;
        message M {}
        service Payments { rpc Charge(M) returns (M); }

        //- v2.proto
        syntax = "proto3";
        package shop.payments.v2;
        message M {}
        service Payments { rpc Charge(M) returns (M); }
        "#;
    let artifacts = built(spec);
    // Weights cannot move a request that names its package.
    let weighted = spec.replace(
        r#"to "payments"; timeout"#,
        r#"to "payments" { api-version "v1" weight=50; api-version "v2" weight=50; }; timeout"#,
    );
    let fs = meshc::base::fs::MemoryFs::from_fixture(&weighted).unwrap();
    let c = meshc::driver::compile_in(&fs, std::path::Path::new(meshc::base::fs::FIXTURE_ROOT));
    assert_eq!(support::codes(&c), [meshc::diag::Code::InvalidValue], "{}", support::human(&c));
    let gateway = &artifacts["envoy/gateway-edge.yaml"];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway-edge.yaml");
    std::fs::write(&path, gateway).unwrap();
    envoy_validate(&path).unwrap();
    let config: serde_json::Value = serde_yaml_ng::from_str(gateway).unwrap();
    let hcm = &config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    let routes = hcm["route_config"]["virtual_hosts"][0]["routes"].as_array().unwrap();
    let summary: Vec<String> = routes
        .iter()
        .map(|r| {
            let cluster = r["route"]["cluster"].as_str().unwrap_or("-");
            format!("{} {} {cluster}", r["name"].as_str().unwrap(), r["match"]["prefix"].as_str().unwrap())
        })
        .collect();
    // Each package to its deployment; other methods to the whole service, as before.
    assert_eq!(
        summary,
        [
            "payments@v1 /shop.payments.v1. payments.http|v1",
            "payments@v2 /shop.payments.v2. payments.http|v2",
            "payments / payments.http",
        ]
    );
    assert_eq!(routes[0]["response_headers_to_add"][0]["header"]["value"], "@1788220800");
    assert!(routes[1].get("response_headers_to_add").is_none());
}

#[test]
fn the_cli_judges_sunsets_on_today_then_source_date_epoch_then_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = r#"
service "web" { owner "t"; address "web.svc" port=80
    calls "orders" operation="POST /orders" api-version="v1" timeout="1s"
}
service "orders" { owner "t"; address "orders.svc" port=80
    api "orders-http" kind="rest" {
        version "v1" schema="orders.v1.yaml" path-prefix="/v1" deprecated="2030-01-01" sunset="2030-06-01" replaced-by="v2"
        version "v2" schema="orders.v2.yaml" path-prefix="/v2"
    }
    traffic { outlier-detection }
}
"#;
    write_files(dir.path(), &[("mesh.kdl", mesh), ("orders.v1.yaml", ORDERS_V1), ("orders.v2.yaml", ORDERS_V2)]);
    let check = |args: &[&str], epoch: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_meshc"));
        command.arg("check").arg(dir.path()).args(args).args(["--format", "json"]).env_remove("SOURCE_DATE_EPOCH");
        if let Some(epoch) = epoch {
            command.env("SOURCE_DATE_EPOCH", epoch);
        }
        let out = command.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), ["MESH0097", "MESH0098"].into_iter().filter(|c| text.contains(c)).collect::<Vec<_>>())
    };
    assert_eq!(check(&["--today", "2030-05-31"], None), (Some(0), vec!["MESH0097"]));
    assert_eq!(check(&["--today", "2030-06-01"], None), (Some(1), vec!["MESH0098"]));
    // 2030-06-01T00:00:00Z; --today wins over it.
    assert_eq!(check(&[], Some("1906502400")), (Some(1), vec!["MESH0098"]));
    assert_eq!(check(&["--today", "2030-05-31"], Some("1906502400")), (Some(0), vec!["MESH0097"]));
    // Else the clock.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expected = if now < 1_906_502_400 { (Some(0), vec!["MESH0097"]) } else { (Some(1), vec!["MESH0098"]) };
    assert_eq!(check(&[], None), expected);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_meshc"))
        .arg("check")
        .arg(dir.path())
        .args(["--today", "2030-02-30"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "clap refuses an invalid date");
}
