//! Service identities, mTLS modes and service-to-service authorization: the
//! language and the analyses (MESH0042-0046), each asserting the code, the
//! place and the explanation.

use crate::support;

use meshc::diag::Code;
use meshc::model::identity::MtlsMode;
use support::fixture::check;
use support::{codes, compile_mesh as compile, human, only, span_text as text};

const HEALTHY: &str = "traffic { outlier-detection consecutive-5xx=5 }";

/// `orders` calls `payments` (with `call`), whose block is `payments`; `mtls` is the mesh's block.
fn mesh(mtls: &str, call: &str, payments: &str) -> String {
    format!(
        r#"{mtls}
service "orders" {{
    owner "t"
    address "orders.shop.svc.cluster.local" port=8080
    calls "payments" timeout="2s" {call}
}}
service "billing" {{
    owner "t"
    address "billing.shop.svc.cluster.local" port=8080
}}
service "payments" {{
    owner "t"
    address "payments.shop.svc.cluster.local" port=8080
    {HEALTHY}
    {payments}
}}
gateway "public" {{
    listener "http" port=8080
    route "pay" {{ match path-prefix="/pay"; to "payments" }}
}}
"#
    )
}

const STRICT: &str = "mtls { mode \"strict\"; trust-domain \"shop.example\" }";

#[test]
fn identities_and_modes_come_from_the_address_the_namespace_and_the_service() {
    let c = check(
        r#"
        mtls {
            mode "strict"
            trust-domain "shop.example"
            namespace "legacy" mode="permissive"
            certificates lifetime="12h" renew-before="4h"
        }
        service "a" { owner "t"; address "a.shop.svc.cluster.local" port=80; }
        service "b" { owner "t"; address "b.legacy.svc.cluster.local" port=80; }
        service "c" { owner "t"; address "c.example.com" port=80; mtls "disabled"; identity service-account="c-runner" namespace="ops"; }
        "#,
    );
    let model = c.model.as_ref().unwrap();
    let modes: Vec<MtlsMode> = model.services.iter().map(|s| model.mtls_mode(s)).collect();
    assert_eq!(modes, [MtlsMode::Strict, MtlsMode::Permissive, MtlsMode::Disabled]);
    let ids: Vec<String> = model.services.iter().map(|s| s.identity().spiffe_id("shop.example")).collect();
    assert_eq!(
        ids,
        [
            "spiffe://shop.example/ns/shop/sa/a",
            "spiffe://shop.example/ns/legacy/sa/b",
            "spiffe://shop.example/ns/ops/sa/c-runner"
        ]
    );
    assert_eq!(model.mtls.as_ref().unwrap().certificate_lifetime.as_millis(), 12 * 3600 * 1000);
}

#[test]
fn mtls_settings_reject_what_cannot_work() {
    let cases = [
        ("mtls { mode \"strictly\" }", Code::InvalidValue),
        ("mtls { certificates lifetime=\"1h\" renew-before=\"2h\" }", Code::InvalidValue),
        ("mtls { cert-dir \"certs\" }", Code::InvalidValue),
        ("mtls { trust-domain \"not a domain\" }", Code::InvalidValue),
        ("mtls { namespace \"x\" mode=\"strict\"; namespace \"x\" mode=\"disabled\" }", Code::DuplicateName),
        ("mtls { mode \"strict\" }\nmtls { mode \"strict\" }", Code::DuplicateName),
        ("mtls { mode \"strict\"; modes \"x\" }", Code::UnknownNode),
    ];
    for (spec, code) in cases {
        let (_dir, c) = compile(spec);
        assert_eq!(codes(&c), [code], "{spec}: {}", human(&c));
    }
}

#[test]
fn authorization_rules_resolve_their_callers_and_operations() {
    let cases = [
        ("authorization { allow \"ordrs\" }", Code::UnknownService),
        ("authorization { allow gateway=\"pubic\" }", Code::UnknownGateway),
        ("authorization { allow }", Code::MissingRequired),
        ("authorization { }", Code::MissingRequired),
        ("authorization { allow \"orders\" \"orders\" }", Code::DuplicateName),
        ("authorization { permit \"orders\" }", Code::UnknownNode),
        ("authorization { allow \"orders\" { operation \"Query.orders\" } }", Code::InvalidValue),
    ];
    for (block, code) in cases {
        let (_dir, c) = compile(&mesh(STRICT, "", block));
        assert!(codes(&c).contains(&code), "{block}: {}", human(&c));
    }
    let (_dir, c) = compile(&mesh(STRICT, "", "authorization { allow gateway=\"pubic\" }"));
    let d = c.diagnostics.iter().find(|d| d.code == Code::UnknownGateway).unwrap();
    assert_eq!(d.help.as_deref(), Some("did you mean `public`?"));
}

#[test]
fn a_deny_rule_refusing_a_declared_call_is_named() {
    let c = check(
        r#"
        mtls { mode "strict"; trust-domain "shop.example"; }
        service "orders" {
            owner "t"
            address "orders.shop.svc.cluster.local" port=8080
            calls "payments" timeout="2s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0043 error
        }
        service "payments" {
            owner "t"
            address "payments.shop.svc.cluster.local" port=8080
            traffic { outlier-detection consecutive-5xx=5; }
            authorization { deny "orders"; allow gateway="public"; }
        }
        gateway "public" {
            listener "http" port=8080
            route "pay" { match path-prefix="/pay"; to "payments"; }
        }
        "#,
    );
    let d = &c.diagnostics[0];
    assert_eq!(d.message, "the call from `orders` is refused by `payments`'s authorization");
    assert_eq!(d.secondary[0].message, "denied by this rule");
    assert_eq!(text(&c, d.secondary[0].span), "deny \"orders\"");
}

#[test]
fn a_call_no_allow_rule_admits_gets_the_rule_to_add() {
    let c = check(
        r#"
        mtls { mode "strict"; trust-domain "shop.example"; }
        service "orders" {
            owner "t"
            address "orders.shop.svc.cluster.local" port=8080
            calls "payments" timeout="2s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0043 error
        }
        service "payments" {
            owner "t"
            address "payments.shop.svc.cluster.local" port=8080
            traffic { outlier-detection consecutive-5xx=5; }
            authorization { allow gateway="public"; }
        }
        gateway "public" {
            listener "http" port=8080
            route "pay" { match path-prefix="/pay"; to "payments"; }
        }
        "#,
    );
    assert_eq!(c.diagnostics[0].help.as_deref(), Some("allow it: allow \"orders\""));
    // A gateway route is a caller too.
    let c = check(
        r#"
        mtls { mode "strict"; trust-domain "shop.example"; }
        service "orders" {
            owner "t"
            address "orders.shop.svc.cluster.local" port=8080
            calls "payments" timeout="2s"
        }
        service "payments" {
            owner "t"
            address "payments.shop.svc.cluster.local" port=8080
            traffic { outlier-detection consecutive-5xx=5; }
            authorization { allow "orders"; }
        }
        gateway "public" {
            listener "http" port=8080
            route "pay" { match path-prefix="/pay"; to "payments"; }
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0043 error: refused
        }
        "#,
    );
    let d = &c.diagnostics[0];
    assert_eq!(d.message, "the route `pay` of gateway `public` is refused by `payments`'s authorization");
    assert_eq!(d.help.as_deref(), Some("allow it: allow gateway=\"public\""));
}

#[test]
fn a_plaintext_caller_has_no_identity_to_allow() {
    check(
        r#"
        mtls { mode "strict"; trust-domain "shop.example"; }
        service "orders" {
            owner "t"
            address "orders.shop.svc.cluster.local" port=8080
            mtls "disabled"
            calls "payments" timeout="2s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0043 error: sent in plaintext: the caller has no identity
        }
        service "payments" {
            owner "t"
            address "payments.shop.svc.cluster.local" port=8080
            traffic { outlier-detection consecutive-5xx=5; }
            mtls "permissive"
            authorization { allow "orders"; allow gateway="public"; }
        }
        gateway "public" {
            listener "http" port=8080
            route "pay" { match path-prefix="/pay"; to "payments"; }
        }
        "#,
    );
    // Without mTLS at all, nobody is identified.
    check(
        r#"
        service "orders" {
            owner "t"
            address "orders.shop.svc.cluster.local" port=8080
            calls "payments" timeout="2s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0043 error
        }
        service "payments" {
            owner "t"
            address "payments.shop.svc.cluster.local" port=8080
            traffic { outlier-detection consecutive-5xx=5; }
            authorization { allow "orders"; allow gateway="public"; }
        }
        gateway "public" {
            listener "http" port=8080
            route "pay" { match path-prefix="/pay"; to "payments"; }
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0043 error: sent in plaintext: the caller has no identity
        }
        "#,
    );
}

#[test]
fn allow_rules_nobody_needs_and_wider_than_the_calls_are_warned() {
    let c = check(
        r#"
        mtls { mode "strict"; trust-domain "shop.example"; }
        service "orders" {
            owner "t"
            address "orders.shop.svc.cluster.local" port=8080
            calls "payments" timeout="2s"
        }
        service "billing" { owner "t"; address "billing.shop.svc.cluster.local" port=8080; }
        service "payments" {
            owner "t"
            address "payments.shop.svc.cluster.local" port=8080
            traffic { outlier-detection consecutive-5xx=5; }
            authorization { allow "orders" "billing"; allow gateway="public"; }
        //                                 ^^^^^^^^^ MESH0044 warning
        }
        gateway "public" {
            listener "http" port=8080
            route "pay" { match path-prefix="/pay"; to "payments"; }
        }
        "#,
    );
    assert_eq!(c.diagnostics[0].message, "`billing` may call `payments`, but declares no call to it");

    let c = check(
        r#"
        //- mesh.kdl
        mtls { mode "strict"; trust-domain "shop.example"; }
        service "orders" {
            owner "t"
            address "orders.shop.svc.cluster.local" port=8080
            calls "payments" operation="p.v1.P/Charge" timeout="2s"
        }
        service "billing" { owner "t"; address "billing.shop.svc.cluster.local" port=8080; }
        service "payments" {
            owner "t"
            address "payments.shop.svc.cluster.local" port=8080
            traffic { outlier-detection consecutive-5xx=5; }
            api "p" kind="grpc" schema="p.proto"
            authorization { allow "orders"; allow gateway="public"; }
        //                        ^^^^^^^^ MESH0045 warning: allowed every operation
        }
        gateway "public" {
            listener "http" port=8080
            route "pay" { match path-prefix="/pay"; to "payments"; }
        }

        //- p.proto
        syntax = "proto3";
        package p.v1;
        service P { rpc Charge(R) returns (R); rpc Refund(R) returns (R); }
        message R { string id = 1; }
        "#,
    );
    let d = &c.diagnostics[0];
    assert_eq!(d.message, "`orders` may call every operation of `payments`, but calls only 1");
    assert_eq!(d.help.as_deref(), Some("allow only what it calls: { operation \"p.v1.P/Charge\" }"));
}

#[test]
fn a_plaintext_caller_of_a_strict_service_is_a_mismatch_naming_where_its_mode_comes_from() {
    let c = check(
        r#"
        mtls { mode "strict"; trust-domain "shop.example"; }
        service "orders" {
            owner "t"
            address "orders.shop.svc.cluster.local" port=8080
            mtls "disabled"
            calls "payments" timeout="2s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0046 error
        }
        service "payments" {
            owner "t"
            address "payments.shop.svc.cluster.local" port=8080
            traffic { outlier-detection consecutive-5xx=5; }
        }
        gateway "public" {
            listener "http" port=8080
            route "pay" { match path-prefix="/pay"; to "payments"; }
        }
        "#,
    );
    let d = &c.diagnostics[0];
    assert_eq!(d.message, "`orders` calls `payments` in plaintext, but `payments` accepts only mutual TLS");
    assert_eq!(d.secondary[0].message, "`orders` turns mTLS off");
    // A permissive callee accepts it.
    check(
        r#"
        mtls { mode "strict"; trust-domain "shop.example"; }
        service "orders" {
            owner "t"
            address "orders.shop.svc.cluster.local" port=8080
            mtls "disabled"
            calls "payments" timeout="2s"
        }
        service "payments" {
            owner "t"
            address "payments.shop.svc.cluster.local" port=8080
            traffic { outlier-detection consecutive-5xx=5; }
            mtls "permissive"
        }
        gateway "public" {
            listener "http" port=8080
            route "pay" { match path-prefix="/pay"; to "payments"; }
        }
        "#,
    );
}

#[test]
fn the_shop_checks_clean_with_its_identities() {
    let c = meshc::driver::compile(&support::repo_root().join("examples/shop"));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let model = c.model.as_ref().unwrap();
    let payments = model.services.iter().find(|s| s.name.value == "payments").unwrap();
    assert_eq!(payments.authorization().unwrap().rules().len(), 2);
    assert_eq!(model.mtls.as_ref().unwrap().trust_domain, "shop.example");
}

/// `accounts` (behind `route`) calls `loyalty` with `call`; both blocks are given.
fn token_mesh(route_auth: &str, accounts: &str, call: &str) -> String {
    format!(
        r#"
jwt-issuer "customers" {{ issuer "https://a.example"; jwks-uri "https://a.example/jwks.json"; }}
jwt-issuer "partners" {{ issuer "https://p.example"; jwks-uri "https://p.example/jwks.json"; }}
service "accounts" {{
    owner "t"
    address "accounts.svc" port=80
    {accounts}
    calls "loyalty" timeout="1s" {call}
    {HEALTHY}
}}
service "loyalty" {{
    owner "t"
    address "loyalty.svc" port=80
    require-token "customers"
    {HEALTHY}
}}
gateway "public" {{
    listener "http" port=8080
    route "account" {{ match path="/account"; to "accounts"; {route_auth} }}
}}
"#
    )
}

#[test]
fn a_required_token_must_reach_the_service_on_every_path() {
    let good = token_mesh("auth \"customers\" forward=#true", "require-token \"customers\"", "forward-token=#true");
    let (_dir, c) = compile(&good);
    assert!(c.diagnostics.is_empty(), "{}", human(&c));

    let cases = [
        // The call does not pass the token on.
        (
            token_mesh("auth \"customers\" forward=#true", "require-token \"customers\"", ""),
            "`accounts` calls `loyalty`, which requires a `customers` token, but the call does not pass it on",
        ),
        // accounts never receives one (so its route is fine, but it has nothing to forward).
        (
            token_mesh("auth \"customers\" forward=#true", "", "forward-token=#true"),
            "`accounts` calls `loyalty`, which requires a `customers` token, but `accounts` receives no such token to pass on",
        ),
    ];
    for (spec, message) in cases {
        let (_dir, c) = compile(&spec);
        let d = only(&c);
        assert_eq!((d.code, d.message.as_str()), (Code::TokenNotPropagated, message), "{}", human(&c));
        assert_eq!(d.secondary[0].message, "required here");
    }
    // The gateway route must verify and forward a token of the issuer.
    for (auth, problem) in [
        ("", "verifies no token"),
        ("auth \"partners\" forward=#true", "verifies a `partners` token instead"),
        ("auth \"customers\"", "verifies the token but does not forward it"),
    ] {
        let (_dir, c) = compile(&token_mesh(auth, "require-token \"customers\"", "forward-token=#true"));
        let d = only(&c);
        assert_eq!(d.code, Code::TokenNotPropagated, "{}", human(&c));
        assert!(d.message.ends_with(problem), "{}", d.message);
    }
    // An unknown issuer gets a did-you-mean.
    let (_dir, c) =
        compile(&good.replace("require-token \"customers\"\n    calls", "require-token \"custmers\"\n    calls"));
    let d = c.diagnostics.iter().find(|d| d.code == Code::UnknownIssuer).expect("unknown issuer");
    assert_eq!(d.help.as_deref(), Some("did you mean `customers`?"));
}

#[test]
fn an_external_service_runs_no_proxy_of_ours() {
    let spec = |extra: &str| {
        format!(
            "{STRICT}\nservice \"bank\" {{ owner \"t\"; address \"api.bank.example\" port=443; external; {extra} }}\n"
        )
    };
    let (_dir, c) = compile(&spec(""));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let model = c.model.as_ref().unwrap();
    assert_eq!(model.mtls_mode(&model.services[0]), MtlsMode::Disabled, "callers reach it without mTLS");
    let artifacts = c.emit().unwrap();
    assert!(
        !artifacts
            .iter()
            .any(|a| a.path.contains("bank") && !a.path.starts_with("istio/") && !a.path.starts_with("site/")),
        "no sidecar, certificate or Service (its ServiceEntry and its docs page only)"
    );
    for setting in [
        "mtls \"strict\"",
        "identity service-account=\"b\"",
        "sidecar inbound-port=1 outbound-port=2",
        "authorization { deny \"bank\" }",
    ] {
        let (_dir, c) = compile(&spec(setting));
        let d = only(&c);
        assert_eq!(d.code, Code::UnknownNode, "{setting}: {}", human(&c));
        assert_eq!(d.secondary[0].message, "declared external here");
    }
}

#[test]
fn an_exchanged_token_must_come_from_the_callees_issuer_and_a_held_token() {
    let spec = |accounts: &str, call: &str, sts: &str| {
        format!(
            r#"
jwt-issuer "customers" {{ issuer "https://a.example"; jwks-uri "https://a.example/jwks.json"; }}
jwt-issuer "internal" {{ issuer "https://sts.example"; jwks-uri "http://sts.svc/jwks.json"; }}
token-exchange "sts" {{ sts "{sts}"; issues "internal"; }}
service "accounts" {{ owner "t"; address "accounts.svc" port=80; {accounts}
    calls "loyalty" timeout="1s" {call}
    {HEALTHY}
}}
service "loyalty" {{ owner "t"; address "loyalty.svc" port=80; require-token "internal"; {HEALTHY} }}
"#
        )
    };
    let good =
        spec("require-token \"customers\"", "exchange-token=\"sts\" audience=\"loyalty\"", "http://sts.svc/token");
    let (_dir, c) = compile(&good);
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let call = &c.model.as_ref().unwrap().services[0].calls[0];
    assert_eq!(call.token.exchange().unwrap().audience, "loyalty");

    // No token to exchange.
    let (_dir, c) = compile(&spec("", "exchange-token=\"sts\" audience=\"loyalty\"", "http://sts.svc/token"));
    let d = only(&c);
    assert_eq!(d.code, Code::TokenNotPropagated);
    assert!(d.message.ends_with("but `accounts` receives no token to exchange"), "{}", d.message);
    // The STS issues another issuer's tokens than the callee requires.
    let (_dir, c) =
        compile(&good.replace("require-token \"internal\"; traffic", "require-token \"customers\"; traffic"));
    let d = only(&c);
    assert!(d.message.ends_with("but `sts` hands out `internal` tokens"), "{}", d.message);

    let cases = [
        (
            spec("require-token \"customers\"", "exchange-token=\"stss\" audience=\"loyalty\"", "http://sts.svc/token"),
            Code::UnknownTokenExchange,
        ),
        (spec("require-token \"customers\"", "exchange-token=\"sts\"", "http://sts.svc/token"), Code::MissingRequired),
        (spec("require-token \"customers\"", "audience=\"loyalty\"", "http://sts.svc/token"), Code::UnknownProperty),
        (
            spec("require-token \"customers\"", "exchange-token=\"sts\" audience=\"a/b\"", "http://sts.svc/token"),
            Code::InvalidValue,
        ),
        (
            spec(
                "require-token \"customers\"",
                "exchange-token=\"sts\" audience=\"loyalty\" forward-token=#true",
                "http://sts.svc/token",
            ),
            Code::InvalidValue,
        ),
        (
            spec(
                "require-token \"customers\"",
                "exchange-token=\"sts\" audience=\"loyalty\"",
                "https://sts.example/token",
            ),
            Code::InvalidValue,
        ),
    ];
    for (mesh, code) in cases {
        let (_dir, c) = compile(&mesh);
        assert!(codes(&c).contains(&code), "{mesh}: {}", human(&c));
    }
}

#[test]
fn a_deny_rule_for_a_plaintext_caller_is_reported_as_ineffective() {
    let c = check(
        r#"
        service "web" { owner "t"; address "web.svc" port=80; calls "orders" timeout="1s"; }
        service "orders" { owner "t"; address "orders.svc" port=80
            traffic { outlier-detection consecutive-5xx=5; }
            authorization { deny "web"; }
        //                  ^^^^^^^^^^ MESH0058 warning
        }
        "#,
    );
    let help = c.diagnostics[0].help.as_deref().unwrap();
    assert!(help.contains("`mtls` is disabled for `orders`"), "{help}");
    // Over mutual TLS the same rule refuses the call: an error, not this warning.
    check(
        r#"
        mtls { mode "strict"; }
        service "web" { owner "t"; address "web.svc" port=80; calls "orders" timeout="1s"; }
        //                                                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0043 error: refused
        service "orders" { owner "t"; address "orders.svc" port=80
            traffic { outlier-detection consecutive-5xx=5; }
            authorization { deny "web"; }
        }
        "#,
    );
}
