//! Compliance rules (docs/language.md, "Compliance"): violations at the
//! offending declaration with the rule's severity, message and reference;
//! typed predicates (unknown kinds, properties, classes); data classes
//! followed through calls and events; suppressions with their expiry judged
//! on a given day; the standard rule sets, imported or applied with
//! `--rules`; SARIF and JSON carrying the rule and its control.

use meshc::diag::render::{render, Format};
use meshc::driver::Date;

use crate::support::fixture::{check, check_with, compile_fixture_with};

fn day(text: &str) -> Option<Date> {
    Some(Date::parse(text).unwrap())
}

const RULES: &str = r#"
        compliance-rule "services-health-checked" {
            applies-to "service"
            when { not { external } }
            require { health-check }
            message "every service needs an active health check"
            reference "SOC 2 A1.1"
        }
        compliance-rule "public-routes-rate-limited" {
            applies-to "route"
            when { public }
            require { rate-limit }
            severity "warning"
            message "a public route needs a rate limit"
            reference "OWASP API4:2023"
        }
"#;

#[test]
fn a_failing_subject_is_reported_at_its_declaration_with_the_rules_severity_and_reference() {
    let c = check(&format!(
        r#"
        //- mesh.kdl
        {RULES}
        service "orders" {{
        //      ^^^^^^^^ MESH0128 error: fails `services-health-checked`
            owner "t"
            address "orders.svc" port=80
            api "orders-http" kind="rest" schema="orders.yaml"
        }}
        service "bank" {{
            owner "t"
            address "bank.example" port=443
            external
        }}
        gateway "edge" {{
            listener "http" port=8080
            route "products" {{
            //    ^^^^^^^^^^ MESH0128 warning: fails `public-routes-rate-limited`
                match path-prefix="/products"
                to "orders"
                timeout "1s"
                public reason="the catalogue is open"
            }}
            route "limited" {{
                match path-prefix="/limited"
                to "orders"
                timeout "1s"
                public reason="the catalogue is open"
                rate-limit 60 per="minute" key="client-ip"
            }}
        }}

        //- orders.yaml
        openapi: 3.0.3
        info: {{title: Orders, version: '1'}}
        paths:
          /products:
            get: {{responses: {{'200': {{description: ok}}}}}}
        "#
    ));
    let violation = c.diagnostics.iter().find(|d| d.severity == meshc::diag::Severity::Error).unwrap();
    assert_eq!(violation.rule.as_deref(), Some("services-health-checked"));
    assert_eq!(violation.reference.as_deref(), Some("SOC 2 A1.1"));
    assert!(violation.message.contains("every service needs an active health check"), "{}", violation.message);
    assert!(violation.message.contains("(SOC 2 A1.1)"), "{}", violation.message);
    // The rule is a secondary label, so the report shows which rule and where.
    assert_eq!(violation.secondary[0].message, "the rule");
}

#[test]
fn unknown_kinds_properties_and_classes_are_errors_with_did_you_mean() {
    let c = check(
        r#"
        compliance-rule "a" {
            applies-to "servise"
            //         ^^^^^^^^^ MESH0129 error: unknown kind
            require { owner }
            message "m"
        }
        compliance-rule "b" {
            applies-to "call"
            require { timout }
            //        ^^^^^^ MESH0130 error: unknown property
            message "m"
        }
        compliance-rule "c" {
            applies-to "call"
            require { rate-limit }
            //        ^^^^^^^^^^ MESH0130 error: unknown property
            message "m"
        }
        compliance-rule "d" {
            applies-to "service"
            require { owner "yes" }
            //        ^^^^^^^^^^^ MESH0130 error: wrong arguments
            message "m"
        }
        compliance-rule "e" {
            applies-to "topic"
            require { data-class "pji" }
            //                   ^^^^^ MESH0131 error: unknown data class
            message "m"
        }
        data-class "pii"
        service "s" {
            owner "t"
            data-class "pi"
            //         ^^^^ MESH0131 error: unknown data class
        }
        "#,
    );
    let help = |code: &str| {
        c.diagnostics
            .iter()
            .filter(|d| d.code.id() == code)
            .map(|d| d.help.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert!(help("MESH0129")[0].contains("`service`"), "{:?}", help("MESH0129"));
    let properties = help("MESH0130");
    assert!(properties[0].contains("`timeout`"), "{properties:?}");
    assert!(properties[1].contains("a route, not of a call"), "{properties:?}");
    assert!(help("MESH0131").iter().all(|h| h.contains("`pii`")), "{:?}", help("MESH0131"));
    // Nothing half-read reaches the model.
    assert!(c.model.unwrap().compliance.rules.is_empty());
}

const FLOWS: &str = r#"
        data-class "pii" { holders "accounts" "orders" }
        data-class "card" { holders "payments" }
        service "accounts" {
            owner "t"
            address "accounts.svc" port=80
            data-class "pii"
            traffic { outlier-detection }
        }
        service "payments" {
            owner "t"
            address "payments.svc" port=80
            api "payments-http" kind="rest" schema="payments.yaml"
            data-class "card" operation="POST /charges"
            traffic { outlier-detection }
        }
"#;

#[test]
fn classified_data_is_followed_through_calls_and_events_to_its_holders() {
    check_with(
        &format!(
            r#"
        //- mesh.kdl
        import "std:compliance/baseline"
        {FLOWS}
        mtls {{ mode "strict" }}
        service "orders" {{
            owner "t"
            address "orders.svc" port=80
            calls "accounts" timeout="1s"
            calls "payments" operation="POST /charges" timeout="1s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0128 error: fails `classified-calls-to-holders`
            calls "payments" operation="GET /charges" timeout="1s"
        }}
        service "reports" {{
            owner "t"
            address "reports.svc" port=80
            calls "accounts" timeout="1s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0128 error: fails `classified-calls-to-holders`
        }}

        //- payments.yaml
        openapi: 3.0.3
        info: {{title: P, version: '1'}}
        paths:
          /charges:
            get: {{responses: {{'200': {{description: ok}}}}}}
            post: {{responses: {{'200': {{description: ok}}}}}}
        "#
        ),
        None,
        &[],
    );
}

#[test]
fn classified_calls_need_mtls_and_classified_events_their_holders() {
    check_with(
        &format!(
            r#"
        //- mesh.kdl
        {FLOWS}
        mtls {{ mode "strict" }}
        service "orders" {{
            owner "t"
            address "orders.svc" port=80
            mtls "disabled"
            calls "accounts" timeout="1s"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0128 error: fails `classified-calls-over-mtls`
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0046 error
            publishes "placed"
        }}
        service "mailer" {{
            owner "t"
            subscribes "placed" group="mailer"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0128 error: fails `classified-events-to-holders`
        }}
        topic "placed" {{
            schema "placed.avsc"
            data-class "pii"
        }}

        //- placed.avsc
        {{"type": "record", "name": "Placed", "fields": [{{"name": "id", "type": "string"}}]}}

        //- payments.yaml
        openapi: 3.0.3
        info: {{title: P, version: '1'}}
        paths:
          /charges:
            post: {{responses: {{'200': {{description: ok}}}}}}
        "#
        ),
        None,
        &["baseline"],
    );
}

const SUPPRESSED: &str = r#"
        //- mesh.kdl
        compliance-rule "services-health-checked" {
            applies-to "service"
            require { health-check }
            message "every service needs an active health check"
        }
        service "orders" {
            owner "t"
            address "orders.svc" port=80
        }
        suppress "services-health-checked" subject="orders" reason="probed by the platform's own checker" until="2027-06-30"
"#;

#[test]
fn a_suppression_silences_its_subject_until_its_day_included() {
    let c = check_with(SUPPRESSED, day("2027-06-30"), &[]);
    assert!(c.diagnostics.is_empty());
}

#[test]
fn past_its_day_a_suppression_is_an_error_and_silences_nothing() {
    check_with(
        r#"
        //- mesh.kdl
        compliance-rule "services-health-checked" {
            applies-to "service"
            require { health-check }
            message "every service needs an active health check"
        }
        service "orders" {
        //      ^^^^^^^^ MESH0128 error
            owner "t"
            address "orders.svc" port=80
        }
        suppress "services-health-checked" subject="orders" reason="probed by the platform's own checker" until="2027-06-30"
        //                                                                                                ^^^^^^^^^^^^^^^^^^ MESH0133 error: expired
        "#,
        day("2027-07-01"),
        &[],
    );
}

#[test]
fn a_suppression_that_silences_nothing_is_a_warning_and_a_close_subject_is_suggested() {
    let c = check_with(
        r#"
        //- mesh.kdl
        compliance-rule "services-owned" {
            applies-to "service"
            require { owner }
            message "every service has an owner"
        }
        service "orders" { owner "t"; }
        service "billing" { }
        //      ^^^^^^^^^ MESH0128 error
        //      ^^^^^^^^^ MESH0016 warning
        suppress "services-owned" subject="orders" reason="r" until="2099-01-01"
        //                        ^^^^^^^^^^^^^^^^ MESH0134 warning: nothing to silence
        suppress "services-owned" subject="biling" reason="r" until="2099-01-01"
        //                        ^^^^^^^^^^^^^^^^ MESH0134 warning: nothing to silence
        suppress "service-owned" subject="billing" reason="r" until="2099-01-01"
        //       ^^^^^^^^^^^^^^^ MESH0132 error: unknown compliance rule
        suppress "services-owned" subject="billing" until="2099-01-01"
        ^^^^^^^^ MESH0005 error
        "#,
        day("2026-12-05"),
        &[],
    );
    let unused: Vec<_> = c.diagnostics.iter().filter(|d| d.code.id() == "MESH0134").collect();
    assert!(unused[0].message.contains("it passes the rule"), "{}", unused[0].message);
    assert_eq!(unused[1].help.as_deref(), Some("did you mean `billing`?"));
}

#[test]
fn the_std_rule_sets_load_by_import_and_by_rules_and_flag_a_non_compliant_mesh() {
    // Non-compliant on purpose: no owner, a public route without a rate
    // limit, a retried POST, no health check, no SLO, no mTLS.
    let fixture = r#"
        //- mesh.kdl
        service "orders" {
        //      ^^^^^^^^ MESH0128 warning: fails `services-owned`
        //      ^^^^^^^^ MESH0016 warning
            address "orders.svc" port=80
            api "orders-http" kind="rest" schema="orders.yaml"
            traffic { outlier-detection }
        }
        service "web" {
            owner "t"
            address "web.svc" port=80
            calls "orders" operation="POST /orders" timeout="1s" { retries 2; }
        //                           ^^^^^^^^^^^^^^ MESH0034 error
        }
        gateway "edge" {
            listener "http" port=8080
            route "orders" {
            //    ^^^^^^^^ MESH0128 warning: fails `public-routes-rate-limited`
                match path-prefix="/orders"
                to "orders"
                timeout "1s"
                public reason="open"
            }
        }

        //- orders.yaml
        openapi: 3.0.3
        info: {title: Orders, version: '1'}
        paths:
          /orders:
            post: {responses: {'200': {description: ok}}}
        "#;
    let baseline = |c: &meshc::driver::Compilation| {
        let mut rules: Vec<String> =
            c.diagnostics.iter().filter_map(|d| d.rule.as_deref()).map(str::to_string).collect();
        rules.sort();
        rules
    };
    let with_rules = compile_fixture_with(fixture, None, &["baseline"]).1;
    let rules = baseline(&with_rules);
    assert!(rules.contains(&"no-retries-on-non-idempotent-calls".to_string()), "{rules:?}");
    assert!(rules.contains(&"services-owned".to_string()), "{rules:?}");
    assert!(rules.contains(&"public-routes-rate-limited".to_string()), "{rules:?}");
    // Imported, the same rules apply.
    let imported = compile_fixture_with(
        &fixture.replace("//- mesh.kdl\n", "//- mesh.kdl\nimport \"std:compliance/baseline\"\n"),
        None,
        &[],
    )
    .1;
    assert_eq!(baseline(&imported), rules);
    // Strict holds the baseline and more: health checks, SLOs, strict mTLS.
    let strict = baseline(&compile_fixture_with(fixture, None, &["strict"]).1);
    for rule in ["services-strict-mtls", "services-health-checked", "services-have-slo", "services-owned"] {
        assert!(strict.contains(&rule.to_string()), "{rule} missing from {strict:?}");
    }
    // A rule set applied twice (imported and by --rules) loads once.
    let twice = compile_fixture_with(
        &fixture.replace("//- mesh.kdl\n", "//- mesh.kdl\nimport \"std:compliance/baseline\"\n"),
        None,
        &["baseline", "compliance/baseline"],
    )
    .1;
    assert_eq!(baseline(&twice), rules);
}

#[test]
fn rules_may_come_from_a_workspace_file_and_an_unknown_set_is_an_error() {
    let fixture = r#"
        //- mesh.kdl
        service "orders" { owner "t"; }

        //- rules/ours.kdl
        compliance-rule "services-listen" {
            applies-to "service"
            require { authorization }
            message "m"
        }
        "#;
    let c = compile_fixture_with(fixture, None, &["rules/ours.kdl"]).1;
    let codes: Vec<_> = c.diagnostics.iter().map(|d| (d.code.id(), d.rule.as_deref())).collect();
    assert_eq!(codes, [("MESH0128", Some("services-listen"))]);
    let c = compile_fixture_with(fixture, None, &["baselin"]).1;
    let unknown = c.diagnostics.iter().find(|d| d.code.id() == "MESH0135").expect("MESH0135");
    assert!(unknown.help.as_deref().unwrap().contains("did you mean `baseline`?"), "{:?}", unknown.help);
}

#[test]
fn sarif_and_json_carry_the_rule_and_its_control_reference() {
    let c = check_with(
        r#"
        //- mesh.kdl
        service "orders" { address "orders.svc" port=80; traffic { outlier-detection; }; }
        //      ^^^^^^^^ MESH0128 warning
        //      ^^^^^^^^ MESH0016 warning
        "#,
        None,
        &["baseline"],
    );
    let sarif: serde_json::Value =
        serde_json::from_str(&render(Format::Sarif, &c.diagnostics, &c.sources, false)).unwrap();
    let result =
        sarif["runs"][0]["results"].as_array().unwrap().iter().find(|r| r["ruleId"] == "MESH0128").unwrap().clone();
    assert_eq!(result["properties"]["rule"], "services-owned");
    assert_eq!(result["properties"]["reference"], "ISO/IEC 27001:2022 A.5.9");
    assert_eq!(result["properties"]["tags"], serde_json::json!(["compliance", "ISO/IEC 27001:2022 A.5.9"]));
    assert_eq!(result["level"], "warning");
    let json: serde_json::Value =
        serde_json::from_str(&render(Format::Json, &c.diagnostics, &c.sources, false)).unwrap();
    let d = json["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "MESH0128").unwrap().clone();
    assert_eq!(
        (d["rule"].clone(), d["reference"].clone()),
        ("services-owned".into(), "ISO/IEC 27001:2022 A.5.9".into())
    );
}

#[test]
fn the_shop_report_lists_every_rule_its_subjects_and_the_suppression() {
    let shop = crate::support::repo_root().join("examples/shop");
    let c = meshc::driver::compile(&shop);
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let artifacts = c.emit().unwrap();
    let report = artifacts.iter().find(|a| a.path == "compliance/report.json").expect("the report");
    let report: serde_json::Value = serde_json::from_str(&report.contents).unwrap();
    let rules = report["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["rule"] == "routes-authenticated" && r["reference"] == "SOC 2 CC6.1"));
    let own = rules.iter().find(|r| r["rule"] == "card-services-hardened").unwrap();
    assert_eq!(own["declared"]["file"], "compliance.kdl");
    let suppressed = rules.iter().find(|r| r["rule"] == "classified-calls-over-mtls").unwrap();
    let subject = &suppressed["subjects"][0];
    assert_eq!((subject["subject"].as_str(), subject["status"].as_str()), (Some("payments->bank"), Some("suppressed")));
    assert_eq!(subject["suppression"]["until"], "2099-12-31");
    assert_eq!(report["summary"]["subjects_suppressed"], 1);
}
