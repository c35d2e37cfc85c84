//! Service roles and per-caller limits.
//!
//! Service roles (`service-role`): groups of callers by name, owner,
//! label, namespace, identity or SPIFFE ID that authorization rules name with
//! `role=`. The language (MESH0141, MESH0142), the analyses naming the role
//! and the member, the Envoy RBAC principals (validated by Envoy) and Istio
//! `AuthorizationPolicy` principals (validated against Istio's CRDs), and a
//! live pair of sidecars admitting members and refusing the rest.
//!
//! Per-caller limits (`caller-limit`): the load check (MESH0143, retries
//! included) and, live, one caller throttled with 429 and `retry-after`
//! while another is served.

use crate::support;

use std::path::Path;
use std::process::Command;

use expect_test::expect;
use meshc::model::identity::{IdentityPattern, Principal};
use support::fixture::{check, check_rendered};
use support::istio_crds::{validate, yaml_documents};
use support::{envoy_validate, free_port, write_files, EnvoyProcess, Upstream};

#[test]
fn a_role_takes_in_services_by_name_and_owner_and_identities_by_namespace_and_spiffe_id() {
    let c = check(
        r#"
        mtls { mode "strict"; trust-domain "shop.example" }
        service-role "backends" {
            member "orders"
            owner "team-store"
            namespace "partners"
            identity namespace="ops" service-account="runner"
            spiffe "spiffe://partner.example/ns/billing/sa/api"
        }
        service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=80; calls "payments" timeout="1s"; }
        service "cart" { owner "team-store"; address "cart.shop.svc.cluster.local" port=80; calls "payments" timeout="1s"; }
        service "feed" { owner "team-partners"; address "feed.partners.svc.cluster.local" port=80; calls "payments" timeout="1s"; }
        service "web" { owner "team-web"; address "web.shop.svc.cluster.local" port=80; }
        service "payments" {
            owner "team-payments"
            address "payments.shop.svc.cluster.local" port=80
            traffic { outlier-detection }
            authorization { allow role="backends" }
        }
        "#,
    );
    let model = c.model.as_ref().unwrap();
    let role = &model.service_roles[0];
    let member = |name: &str| {
        let id = model.service_ids().find(|&id| model.service(id).name.value == name).unwrap();
        role.admits(&Principal::Service(id)).map(|s| s.value.describe(model))
    };
    assert_eq!(member("orders").as_deref(), Some("member `orders`"));
    assert_eq!(member("cart").as_deref(), Some("owner `team-store`"));
    assert_eq!(member("feed").as_deref(), Some("namespace `partners`"));
    assert_eq!(member("web"), None);
    // What a proxy matches: members by name and owner exactly, the rest as written.
    let patterns = role.patterns(model, "shop.example");
    assert_eq!(
        patterns,
        [
            IdentityPattern::Exact("spiffe://partner.example/ns/billing/sa/api".into()),
            IdentityPattern::Exact("spiffe://shop.example/ns/ops/sa/runner".into()),
            IdentityPattern::Exact("spiffe://shop.example/ns/shop/sa/cart".into()),
            IdentityPattern::Exact("spiffe://shop.example/ns/shop/sa/orders".into()),
            IdentityPattern::Prefix("spiffe://shop.example/ns/partners/sa/".into()),
        ]
    );
}

#[test]
fn a_misspelt_role_gets_a_did_you_mean_and_bad_selectors_are_refused() {
    check_rendered(
        r#"
        mtls { mode "strict" }
        service-role "backends" {
            member "orderz"
        //         ^^^^^^^^ MESH0007 error: unknown service
        }
        service-role "partners" {
            spiffe "partner.example/ns/x/sa/y"
        //         ^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0004 error
            colour "red"
        //  ^^^^^^ MESH0002 error
        }
        service-role "empty" {}
        //           ^^^^^^^ MESH0005 error: empty
        service-role "ok" { member "orders"; }
        service "orders" { owner "t"; address "orders.svc" port=80; calls "payments" timeout="1s"; }
        service "payments" {
            owner "t"
            address "payments.svc" port=80
            traffic { outlier-detection }
            authorization { allow role="oks" }
        //                        ^^^^^^^^^^ MESH0141 error: unknown service-role
        }
        "#,
        expect![[r#"
            MESH0007

              × no service named `orderz`
               ╭─[mesh.kdl:3:12]
             2 │ service-role "backends" {
             3 │     member "orderz"
               ·            ────┬───
               ·                ╰── unknown service
             4 │ }
               ╰────
              help: did you mean `orders`?
            MESH0004

              × `partner.example/ns/x/sa/y` is not a SPIFFE ID: write spiffe://TRUST-DOMAIN/PATH, e.g.
              │ spiffe://partner.example/ns/billing/sa/api
               ╭─[mesh.kdl:6:12]
             5 │ service-role "partners" {
             6 │     spiffe "partner.example/ns/x/sa/y"
               ·            ─────────────┬─────────────
               ·                         ╰── invalid value
             7 │     colour "red"
               ╰────
              help: see docs/language.md for the accepted forms
            MESH0002

              × `service-role` has no child node `colour`
               ╭─[mesh.kdl:7:5]
             6 │     spiffe "partner.example/ns/x/sa/y"
             7 │     colour "red"
               ·     ───┬──
               ·        ╰── unknown node
             8 │ }
               ╰────
              help: `service-role` takes: `identity`, `label`, `member`, `namespace`, `owner`, `spiffe`
            MESH0005

              × service-role `empty` has no member
                ╭─[mesh.kdl:9:14]
              8 │ }
              9 │ service-role "empty" {}
                ·              ───┬───
                ·                 ╰── empty
             10 │ service-role "ok" { member "orders"; }
                ╰────
              help: say who belongs to it: service-role "backends" { member "orders" "cart"; owner "team-x";
                    namespace "partners" }
            MESH0141

              × no service-role named `oks`
                ╭─[mesh.kdl:16:27]
             15 │     traffic { outlier-detection }
             16 │     authorization { allow role="oks" }
                ·                           ─────┬────
                ·                                ╰── unknown service-role
             17 │ }
                ╰────
              help: did you mean `ok`?
            5 error(s), 0 warning(s)
        "#]],
    );
}

#[test]
fn a_selector_taking_in_no_caller_is_a_warning() {
    check(
        r#"
        mtls { mode "strict" }
        service-role "backends" {
            owner "team-order"
        //        ^^^^^^^^^^^^ MESH0142 warning: selects nothing
            member "bank"
        //         ^^^^^^ MESH0142 warning: selects nothing
            member "orders"
            namespace "elsewhere"
        }
        service "bank" { owner "t"; address "api.bank.example" port=443; external; }
        service "orders" { owner "team-orders"; address "orders.svc" port=80; calls "payments" timeout="1s"; }
        service "payments" {
            owner "t"
            address "payments.svc" port=80
            traffic { outlier-detection }
            authorization { allow role="backends" }
        }
        "#,
    );
}

#[test]
fn a_role_takes_in_the_services_carrying_all_the_labels_of_one_label_selector() {
    let c = check(
        r#"
        mtls { mode "strict" }
        service-role "backends" {
            label tier="backend" zone="eu"
            label tier="batch"
            label tier="frontend"
        //  ^^^^^^^^^^^^^^^^^^^^^ MESH0142 warning: selects nothing
        }
        service "orders" { owner "t"; address "orders.svc" port=80; labels tier="backend" zone="eu"; calls "payments" timeout="1s"; }
        service "cart" { owner "t"; address "cart.svc" port=80; labels tier="backend" zone="us"; }
        service "jobs" { owner "t"; labels tier="batch"; calls "payments" timeout="1s"; }
        service "payments" {
            owner "t"
            address "payments.svc" port=80
            traffic { outlier-detection }
            authorization { allow role="backends" }
        }
        "#,
    );
    let model = c.model.as_ref().unwrap();
    let role = &model.service_roles[0];
    let member = |name: &str| {
        let id = model.service_ids().find(|&id| model.service(id).name.value == name).unwrap();
        role.admits(&Principal::Service(id)).map(|s| s.value.describe(model))
    };
    assert_eq!(member("orders").as_deref(), Some("label `tier=backend, zone=eu`"));
    assert_eq!(member("jobs").as_deref(), Some("label `tier=batch`"));
    assert_eq!(member("cart"), None, "a label selector needs all of its labels");
}

#[test]
fn service_labels_are_kubernetes_labels_given_once_and_not_meshcs_own() {
    check(
        r#"
        service "orders" {
            owner "t"
            address "orders.svc" port=80
            labels tier="back end" "example.com/team"="orders" app="x" "-x"="y"
        //         ^^^^^^^^^^^^^^^ MESH0004 error: not a Kubernetes label
        //                                                             ^^^^^^^^ MESH0004 error: not a Kubernetes label
        }
        service "cart" {
            owner "t"
            address "cart.svc" port=80
            labels app="cart"
        //         ^^^^^^^^^^ MESH0004 error: reserved
        }
        service "jobs" {
            owner "t"
            labels "batch" tier="a" tier="b"
        //         ^^^^^^^ MESH0004 error: not a key="value" property
        //                          ^^^^^^^^ MESH0006 error
        }
        service "web" { owner "t"; labels; }
        //                         ^^^^^^ MESH0005 error: empty
        service-role "r" { label; }
        //                 ^^^^^ MESH0005 error: empty
        "#,
    );
}

#[test]
fn a_call_denied_through_a_role_names_the_role_and_the_member() {
    check_rendered(
        r#"
        mtls { mode "strict" }
        service-role "storefront" { owner "team-store"; }
        service "cart" {
            owner "team-store"
            address "cart.svc" port=80
            calls "payments" timeout="1s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0043 error: refused
        }
        service "payments" {
            owner "t"
            address "payments.svc" port=80
            traffic { outlier-detection }
            authorization { deny role="storefront"; }
        }
        "#,
        expect![[r#"
            MESH0043

              × the call from `cart` is refused by `payments`'s authorization
               ╭─[mesh.kdl:2:35]
             1 │ mtls { mode "strict" }
             2 │ service-role "storefront" { owner "team-store"; }
               ·                                   ──────┬─────
               ·                                         ╰── a member through owner `team-store`
             3 │ service "cart" {
               ╰────
               ╭─[mesh.kdl:6:5]
             5 │     address "cart.svc" port=80
             6 │     calls "payments" timeout="1s"
               ·     ──────────────┬──────────────
               ·                   ╰── refused
             7 │ }
               ╰────
                ╭─[mesh.kdl:12:21]
             11 │     traffic { outlier-detection }
             12 │     authorization { deny role="storefront"; }
                ·                     ───────────┬──────────
                ·                                ╰── denied by this rule: `cart` is a member of service-role `storefront`
             13 │ }
                ╰────
              help: take `cart` out of service-role `storefront`, deny the role only the operations it must
                    not call, or remove the call
            1 error(s), 0 warning(s)
        "#]],
    );
}

#[test]
fn an_allowed_role_no_member_needs_or_needs_only_in_part_is_a_warning() {
    check_rendered(
        r#"
        //- mesh.kdl
        mtls { mode "strict" }
        service-role "readers" { member "web" "cart"; }
        service-role "idle" { member "feed"; }
        service "web" {
            owner "t"
            address "web.svc" port=80
            calls "payments" operation="GET /balance" timeout="1s"
        }
        service "cart" { owner "t"; address "cart.svc" port=80; }
        service "feed" { owner "t"; address "feed.svc" port=80; }
        service "payments" {
            owner "t"
            address "payments.svc" port=80
            api "rest" kind="rest" schema="payments.yaml"
            traffic { outlier-detection }
            authorization {
                allow role="readers"
        //            ^^^^^^^^^^^^^^ MESH0045 warning: allowed every operation
                allow role="idle"
        //            ^^^^^^^^^^^ MESH0044 warning: allowed without a declared call
            }
        }

        //- payments.yaml
        openapi: 3.0.3
        info: {title: Payments, version: '1'}
        paths:
          /balance:
            get: {responses: {'200': {description: ok}}}
          /charges:
            post: {responses: {'200': {description: ok}}}
        "#,
        expect![[r#"
            MESH0045

              ⚠ service-role `readers` may call every operation of `payments`, but its members (`web`, `cart`)
              │ call only 1
                ╭─[mesh.kdl:17:15]
             16 │     authorization {
             17 │         allow role="readers"
                ·         ──────────┬─────────┬
                ·                   │         ╰── allowed every operation
                ·                   ╰── no `operation` in this rule
             18 │         allow role="idle"
                ╰────
              help: allow only what they call: { operation "GET /balance" }
            MESH0044

              ⚠ service-role `idle` may call `payments`, but none of them declares a call to it (members:
              │ `feed`)
                ╭─[mesh.kdl:18:15]
             17 │         allow role="readers"
             18 │         allow role="idle"
                ·               ─────┬─────
                ·                    ╰── allowed without a declared call
             19 │     }
                ╰────
              help: remove the role from the rule, or declare the calls it is meant for

            Advice: MESH0044

              ☞ the role
               ╭─[mesh.kdl:3:14]
             2 │ service-role "readers" { member "web" "cart"; }
             3 │ service-role "idle" { member "feed"; }
               ·              ───┬──
               ·                 ╰── the role
             4 │ service "web" {
               ╰────
            0 error(s), 2 warning(s)
        "#]],
    );
}

#[test]
fn a_callers_load_with_its_retries_above_the_per_caller_limit_is_an_error_naming_both() {
    check_rendered(
        r#"
        service "orders" {
            owner "t"
            address "orders.svc" port=80
            calls "payments" timeout="2s" {
                load rps=30 latency="50ms"
        //      ^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0143 error: expected load, retries included
                retries 2 per-try-timeout="500ms" on="5xx"
            }
            calls "payments" timeout="2s" { load rps=5 latency="50ms"; }
        }
        service "web" {
            owner "t"
            address "web.svc" port=80
            // 40 rps, alone within the limit: each caller has its own bucket.
            calls "payments" timeout="2s" { load rps=40 latency="50ms"; }
        }
        service "payments" {
            owner "t"
            address "payments.svc" port=80
            traffic { outlier-detection }
            caller-limit 50 per="second"
        }
        "#,
        expect![[r#"
            MESH0143

              × `orders` expects to send `payments` 95.0 requests per second (30 rps × 3 attempts + 5 rps),
              │ above its caller-limit of 50 per second
               ╭─[mesh.kdl:5:9]
             4 │     calls "payments" timeout="2s" {
             5 │         load rps=30 latency="50ms"
               ·         ─────────────┬────────────
               ·                      ╰── expected load, retries included
             6 │         retries 2 per-try-timeout="500ms" on="5xx"
             7 │     }
             8 │     calls "payments" timeout="2s" { load rps=5 latency="50ms"; }
               ·                                     ────────────┬────────────
               ·                                                 ╰── adds to it
             9 │ }
               ╰────
              help: raise the limit to at least 95 per second per instance, lower `orders`'s expected load or
                    its retries, or declare more instances of `payments`

            Advice: MESH0143

              ☞ `payments`'s limit per caller
                ╭─[mesh.kdl:20:5]
             19 │     traffic { outlier-detection }
             20 │     caller-limit 50 per="second"
                ·     ──────────────┬─────────────
                ·                   ╰── `payments`'s limit per caller
             21 │ }
                ╰────
            1 error(s), 0 warning(s)
        "#]],
    );
    // Spread over declared instances, each proxy counts its share.
    check(
        r#"
        service "orders" {
            owner "t"
            address "orders.svc" port=80
            calls "payments" timeout="2s" { load rps=90 latency="50ms"; }
        }
        service "payments" {
            owner "t"
            address "payments.svc" port=80
            endpoints { endpoint "10.0.0.1"; endpoint "10.0.0.2"; }
            traffic { outlier-detection }
            caller-limit 3000 per="minute"
        }
        "#,
    );
}

#[test]
fn a_caller_limit_needs_http_and_a_proxy() {
    check(
        r#"
        service "cache" {
            owner "t"
            address "cache.svc" port=6379 protocol="redis"
            caller-limit 10 per="second"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0004 error: no HTTP port
        }
        service "bank" {
            owner "t"
            address "api.bank.example" port=443
            external
            caller-limit 10 per="second"
        //  ^^^^^^^^^^^^ MESH0002 error
        }
        service "web" {
            owner "t"
            address "web.svc" port=80
            caller-limit 0 per="fortnight"
        //               ^ MESH0004 error
        //                 ^^^^^^^^^^^^^^^ MESH0004 error
        }
        "#,
    );
}

#[test]
fn a_service_audit_needs_http_and_a_proxy_and_known_fields() {
    check(
        r#"
        service "cache" {
            owner "t"
            address "cache.svc" port=6379 protocol="redis"
            audit
        //  ^^^^^ MESH0004 error: no HTTP port
        }
        service "bank" {
            owner "t"
            address "api.bank.example" port=443
            external
            audit
        //  ^^^^^ MESH0002 error
        }
        service "web" {
            owner "t"
            address "web.svc" port=80
            audit fields="time caller verdit"
        //        ^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0004 error: invalid value
        }
        service "api" {
            owner "t"
            address "api.svc" port=80
            audit fields="caller verdict trace-id header:x-request-id"
        }
        "#,
    );
}

/// The mesh of the emission tests: `payments` admits the role `backends`
/// (`orders` by name, `team-store`'s services, the namespace `partners`).
const EMITTED: &str = r#"
mtls { mode "strict"; trust-domain "shop.example" }
service-role "backends" {
    member "orders"
    owner "team-store"
    label tier="backend"
    namespace "partners"
}
service "orders" { owner "team-orders"; address "orders.shop.svc.cluster.local" port=80; calls "payments" timeout="1s"; }
service "search" {
    owner "team-search"
    address "search.shop.svc.cluster.local" port=80
    labels tier="backend" "example.com/cost-centre"="cc-7"
    calls "payments" timeout="1s"
}
service "cart" { owner "team-store"; address "cart.shop.svc.cluster.local" port=80; calls "payments" timeout="1s"; }
service "payments" {
    owner "team-payments"
    address "payments.shop.svc.cluster.local" port=80
    traffic { outlier-detection }
    authorization { allow role="backends" }
}
"#;

#[test]
fn envoy_rbac_and_istio_authorization_policies_expand_the_role() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("ws"), &[("mesh.kdl", EMITTED)]);
    let paths = support::build_workspace(&dir.path().join("ws"), &dir.path().join("out"));
    let sidecar = dir.path().join("out/envoy/sidecar-payments.yaml");
    envoy_validate(&sidecar).unwrap();
    let config: serde_json::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    let text = serde_json::to_string(&config).unwrap();
    let rbac = text.find("envoy.filters.http.rbac.allow").expect("an allow RBAC filter");
    let principals = &text[rbac..];
    for matcher in [
        r#"{"exact":"spiffe://shop.example/ns/shop/sa/cart"}"#,
        r#"{"exact":"spiffe://shop.example/ns/shop/sa/orders"}"#,
        r#"{"exact":"spiffe://shop.example/ns/shop/sa/search"}"#,
        r#"{"prefix":"spiffe://shop.example/ns/partners/sa/"}"#,
    ] {
        assert!(principals.contains(matcher), "{matcher} in {principals}");
    }

    let istio: Vec<serde_json::Value> = paths
        .iter()
        .filter(|p| p.to_string_lossy().contains("/istio/"))
        .flat_map(|p| yaml_documents(&std::fs::read_to_string(p).unwrap()))
        .collect();
    let policy = istio
        .iter()
        .find(|r| r["kind"] == "AuthorizationPolicy" && r["metadata"]["name"] == "payments-allow")
        .expect("payments' allow policy");
    validate(policy).unwrap();
    assert_eq!(
        policy["spec"]["rules"][0]["from"][0]["source"]["principals"],
        serde_json::json!([
            "shop.example/ns/shop/sa/cart",
            "shop.example/ns/shop/sa/orders",
            "shop.example/ns/shop/sa/search",
            "shop.example/ns/partners/sa/*"
        ])
    );
    // The labels go on the service's Kubernetes Service, not into its selector.
    let search: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.path().join("out/kubernetes/search.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        search["metadata"]["labels"],
        serde_json::json!({"app": "search", "example.com/cost-centre": "cc-7", "tier": "backend"})
    );
    assert_eq!(search["spec"]["selector"], serde_json::json!({"app": "search"}));
}

// ---------------------------------------------------------------------------
// Live: two sidecars, certificates from `meshc certs`, curl as each identity
// ---------------------------------------------------------------------------

/// `web` calls `orders` through its sidecar; orders admits the role
/// `storefront`: team-store's services (web, cart) and the namespace
/// `partners` (feed). `intruder` is a workload of the mesh outside the role.
fn live_spec(certs: &Path, app: u16, web_outbound: u16, orders_inbound: u16, orders_extra: &str) -> String {
    let port = |_| free_port();
    format!(
        r#"
mtls {{
    mode "strict"
    trust-domain "test.local"
    cert-dir "{certs}"
}}
service-role "storefront" {{
    owner "team-store"
    namespace "partners"
}}
service "web" {{
    owner "team-store"
    address "127.0.0.1" port={web_app}
    sidecar inbound-port={web_inbound} outbound-port={web_outbound}
    calls "orders" timeout="2s"
}}
service "cart" {{
    owner "team-store"
    address "127.0.0.1" port={cart}
    calls "orders" timeout="2s"
}}
service "feed" {{
    owner "team-partners"
    address "127.0.0.1" port={feed}
    identity namespace="partners"
    calls "orders" timeout="2s"
}}
service "orders" {{
    owner "team-orders"
    address "orders.internal" port={app}
    endpoints {{
        endpoint "127.0.0.1" port={orders_inbound}
    }}
    sidecar inbound-port={orders_inbound} outbound-port={orders_outbound}
    traffic {{ outlier-detection consecutive-5xx=100 }}
    authorization {{
        allow role="storefront"
        deny "cart" {{
            header "x-debug" exact="1"
        }}
    }}
    {orders_extra}
}}
service "intruder" {{
    owner "team-intruders"
    address "127.0.0.1" port={intruder}
}}
"#,
        certs = certs.display(),
        web_app = port(()),
        web_inbound = port(()),
        cart = port(()),
        feed = port(()),
        orders_outbound = port(()),
        intruder = port(()),
    )
}

fn meshc(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_meshc")).args(args).output().expect("meshc runs");
    assert!(output.status.success(), "meshc {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// An HTTPS request to orders' sidecar as a client holding `identity`'s certificate: the status.
fn curl_orders(certs: &Path, port: u16, identity: &str) -> u16 {
    curl_orders_with(certs, port, identity, &[])
}

/// [`curl_orders`] with more request headers (`NAME: VALUE`): the status.
fn curl_orders_with(certs: &Path, port: u16, identity: &str, headers: &[&str]) -> u16 {
    let (status, _) = curl_orders_headers(certs, port, identity, headers);
    status
}

/// The same, with the response's headers (lowercase names).
fn curl_orders_headers(certs: &Path, port: u16, identity: &str, headers: &[&str]) -> (u16, String) {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "5", "--output", "/dev/null", "--dump-header", "-"])
        .args(["--write-out", "\n%{http_code}"])
        .arg("--cacert")
        .arg(certs.join("ca.pem"))
        .arg("--cert")
        .arg(certs.join(format!("{identity}.pem")))
        .arg("--key")
        .arg(certs.join(format!("{identity}-key.pem")))
        .args(headers.iter().flat_map(|header| ["--header", header]))
        .args(["--resolve", &format!("orders.internal:{port}:127.0.0.1")])
        .arg(format!("https://orders.internal:{port}/orders/1"))
        .output()
        .expect("curl runs (Debian package curl)");
    assert!(output.status.success(), "curl as {identity}: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).to_lowercase();
    let (headers, status) = text.trim_end().rsplit_once('\n').expect("headers, then the status");
    (status.trim().parse().expect("a status"), headers.to_string())
}

/// Builds the live spec with `orders_extra` in orders, issues certificates,
/// starts both sidecars: (the temp dir, the certs dir, orders' app, web's outbound port, orders' inbound port, the proxies).
fn live(orders_extra: &str) -> (tempfile::TempDir, std::path::PathBuf, Upstream, u16, u16, Vec<EnvoyProcess>) {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let app = Upstream::start("orders-app");
    let (web_outbound, orders_inbound) = (free_port(), free_port());
    let ws = dir.path().join("ws");
    let spec = live_spec(&certs.canonicalize().unwrap(), app.port(), web_outbound, orders_inbound, orders_extra);
    write_files(&ws, &[("mesh.kdl", &spec)]);
    meshc(&["certs", ws.to_str().unwrap(), "-o", certs.to_str().unwrap()]);
    let out = dir.path().join("out");
    meshc(&["build", ws.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let start = |name: &str| {
        let path = out.join(format!("envoy/sidecar-{name}.yaml"));
        envoy_validate(&path).unwrap();
        EnvoyProcess::start(&path)
    };
    let (orders, web) = (start("orders"), start("web"));
    orders.wait_ready(orders_inbound);
    web.wait_ready(web_outbound);
    (dir, certs, app, web_outbound, orders_inbound, vec![orders, web])
}

#[test]
fn a_role_member_is_admitted_and_a_non_member_refused_by_the_real_envoy() {
    let (_dir, certs, app, web_outbound, orders_inbound, _proxies) = live("");

    // web's app calls through its sidecar: a member by owner, over mTLS.
    let response = support::http_request(web_outbound, "GET", "/orders/1", &[("host", "orders")]);
    assert_eq!(response.status, 200, "{}", response.body);
    let hits = app.hits();
    // cart (owner team-store) and feed (namespace partners) are members too.
    assert_eq!(curl_orders(&certs, orders_inbound, "cart"), 200);
    assert_eq!(curl_orders(&certs, orders_inbound, "feed"), 200);
    // A certificate of the mesh outside the role: 403 from orders' RBAC, the app never sees it.
    assert_eq!(curl_orders(&certs, orders_inbound, "intruder"), 403);
    assert_eq!(app.hits(), hits + 2, "only the members' requests reached the app");
}

#[test]
fn past_its_quota_a_caller_gets_429_with_retry_after_while_another_caller_is_served() {
    let (_dir, certs, app, web_outbound, orders_inbound, _proxies) = live("caller-limit 2 per=\"hour\"");
    // cart's two requests of the hour, then 429 telling it to come back in an hour.
    assert_eq!(curl_orders(&certs, orders_inbound, "cart"), 200);
    assert_eq!(curl_orders(&certs, orders_inbound, "cart"), 200);
    let hits = app.hits();
    let (status, headers) = curl_orders_headers(&certs, orders_inbound, "cart", &[]);
    assert_eq!(status, 429, "{headers}");
    assert!(headers.contains("retry-after: 3600"), "{headers}");
    assert_eq!(app.hits(), hits, "the throttled request never reached the app");
    // Other callers have buckets of their own: feed directly, web through its sidecar.
    assert_eq!(curl_orders(&certs, orders_inbound, "feed"), 200);
    let response = support::http_request(web_outbound, "GET", "/orders/1", &[("host", "orders")]);
    assert_eq!(response.status, 200, "{}", response.body);
    // A forged caller header changes nothing: the proxy writes the certificate's identity over it.
    let forged = ["x-meshc-caller: spiffe://test.local/ns/default/sa/someone-else"];
    assert_eq!(curl_orders_with(&certs, orders_inbound, "cart", &forged), 429);
}

/// orders' audit records (JSON lines on its proxy's stdout), as (caller, verdict, status).
fn audit_records(proxy: &EnvoyProcess) -> Vec<(String, String, String)> {
    proxy
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line.trim()).ok())
        .filter(|record| record.get("verdict").is_some())
        .map(|record| {
            let field = |key: &str| record[key].as_str().map_or_else(|| record[key].to_string(), str::to_string);
            (field("caller"), field("verdict"), field("status"))
        })
        .collect()
}

#[test]
fn the_audit_record_names_each_callers_identity_and_what_the_proxy_decided() {
    let (_dir, certs, _app, _web, orders_inbound, proxies) = live("audit\n    caller-limit 1 per=\"hour\"");
    assert_eq!(curl_orders(&certs, orders_inbound, "cart"), 200);
    assert_eq!(curl_orders(&certs, orders_inbound, "cart"), 429);
    assert_eq!(curl_orders(&certs, orders_inbound, "intruder"), 403);
    // feed with the header cart's deny rule names is still served; cart with it is refused by that rule.
    assert_eq!(curl_orders_with(&certs, orders_inbound, "feed", &["x-debug: 1"]), 200);
    assert_eq!(curl_orders_with(&certs, orders_inbound, "cart", &["x-debug: 1"]), 403);
    let spiffe = |name: &str| format!("spiffe://test.local/ns/default/sa/{name}");
    let expected = [
        (spiffe("cart"), "via_upstream".to_string(), "200".to_string()),
        (spiffe("cart"), "local_rate_limited".to_string(), "429".to_string()),
        // No allow rule admits it: the allow filter's policies matched none.
        (spiffe("intruder"), "rbac_access_denied_matched_policy[none]".to_string(), "403".to_string()),
        ("spiffe://test.local/ns/partners/sa/feed".to_string(), "via_upstream".to_string(), "200".to_string()),
        // The first (0th) deny rule of orders' authorization.
        (spiffe("cart"), "rbac_access_denied_matched_policy[deny-0]".to_string(), "403".to_string()),
    ];
    // Envoy flushes access logs on a timer: wait for the three records.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut records = audit_records(&proxies[0]);
    while records.len() < expected.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        records = audit_records(&proxies[0]);
    }
    assert_eq!(records, expected);
}
