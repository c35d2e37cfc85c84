//! The shop's emitted contract plans run by the runtime's
//! `ContractTestRunner` against providers built here from the plans' own
//! examples: one that honours them passes; variants that drop a field a
//! consumer reads, change its type or answer another status fail, naming
//! the interaction, the spec line and the difference.

use std::path::Path;

use meshc_runtime::contracts::{report, ContractTestRunner, Outcome, Plan, PlanResult, RunnerOptions};
use meshc_runtime::GrpcMock;
use serde_json::{json, Value};

use crate::support::{self, Answer, Upstream, UpstreamRequest};

/// The shop built into a temporary directory.
fn shop() -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    support::build_workspace(&support::repo_root().join("examples/shop"), out.path());
    out
}

fn plan(out: &Path, path: &str) -> Plan {
    Plan::read(&out.join("contracts").join(path)).unwrap()
}

/// How the test catalog answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Catalog {
    Honest,
    /// Leaves out `price_cents`, which `orders` reads.
    DropsPrice,
    /// `price_cents` as a string.
    PriceAsText,
    /// 404 for product 42.
    LostProduct42,
}

/// The catalog's answers, from the shop's examples: product 42, the list,
/// 404 for anything else.
fn catalog(variant: Catalog) -> impl Fn(&UpstreamRequest) -> Answer + Send + Sync + 'static {
    move |request| {
        let mut product = json!({"id": "42", "name": "Espresso cup", "price_cents": 1250, "stock": 3});
        match variant {
            Catalog::DropsPrice => drop(product.as_object_mut().unwrap().remove("price_cents")),
            Catalog::PriceAsText => product["price_cents"] = json!("12.50"),
            Catalog::Honest | Catalog::LostProduct42 => {}
        }
        let not_found = Answer::json(404, r#"{"error": "no such product"}"#);
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/products/42") if variant == Catalog::LostProduct42 => not_found,
            ("GET", "/products/42") => Answer::json(200, product.to_string()),
            ("GET", "/products") => Answer::json(200, json!([product]).to_string()),
            _ => not_found,
        }
    }
}

fn run(plan: &Plan, provider: u16, states: Option<&Upstream>) -> PlanResult {
    let options = RunnerOptions {
        provider: Some(format!("127.0.0.1:{provider}")),
        states: states.map(|s| format!("http://127.0.0.1:{}/states", s.port())),
        ..RunnerOptions::default()
    };
    ContractTestRunner::new(options).run(plan)
}

/// The failure lines of the case whose id ends with `suffix`.
fn failures(result: &PlanResult, suffix: &str) -> Vec<String> {
    let case = result.cases.iter().find(|c| c.id.ends_with(suffix)).unwrap_or_else(|| panic!("no case {suffix}"));
    match &case.outcome {
        Outcome::Failed(mismatches) => mismatches.iter().map(ToString::to_string).collect(),
        other => panic!("{} {other:?}, expected a failure", case.id),
    }
}

#[test]
fn the_shops_catalog_plan_passes_against_a_catalog_that_honours_it() {
    let out = shop();
    let plan = plan(out.path(), "providers/catalog.json");
    let provider = Upstream::start_responding("catalog", catalog(Catalog::Honest));
    let states = Upstream::start_json("states", |_| (200, "{}".into(), std::time::Duration::ZERO));
    let result = run(&plan, provider.port(), Some(&states));
    assert_eq!(result.counts(), (plan.interactions.len(), 0, 0), "{}", report::summary(std::slice::from_ref(&result)));
    // Every request went to the provider; the implicit contracts of
    // `GET /products/{productId}` borrowed the example's product 42.
    let paths: Vec<String> = provider.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.iter().filter(|p| *p == "/products/42").count(), 3, "{paths:?}");
    assert!(!paths.iter().any(|p| p.contains('{')), "{paths:?}");
    // The states, in Pact's shape, before the interactions that need them.
    let posted: Vec<Value> = states.requests().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert!(posted.contains(&json!({"consumer": "orders", "state": "product 42 exists"})), "{posted:?}");
    assert!(
        posted.contains(&json!({"consumer": "gateway:public", "state": "the catalogue holds products"})),
        "{posted:?}"
    );
    let xml = report::junit_xml(&[result]);
    assert!(
        xml.contains(r#"<testsuite name="shop provider catalog" tests="7" failures="0" errors="0" skipped="0""#),
        "{xml}"
    );
}

#[test]
fn a_catalog_that_breaks_a_read_field_or_the_status_fails_naming_the_consumer_and_the_line() {
    let out = shop();
    let plan = plan(out.path(), "providers/catalog.json");
    let example = "#a product in stock";
    let source = plan.interactions.iter().find(|i| i.id.ends_with(example)).unwrap().source.clone();
    assert!(source.starts_with("services/orders.kdl:"), "{source}");

    let provider = Upstream::start_responding("catalog", catalog(Catalog::DropsPrice));
    let dropped = run(&plan, provider.port(), None);
    assert_eq!(
        failures(&dropped, example),
        [
            "$.price_cents: missing, expected integer 1250 (example)",
            "$.price_cents: missing, expected integer (read by orders)",
        ]
    );
    // The implicit contract (orders reads `price_cents`) fails too, the gateway's (it reads nothing) does not.
    assert_eq!(
        failures(&dropped, "orders->catalog GET /products/{productId}"),
        ["$.price_cents: missing, expected integer (read by orders)"]
    );
    assert_eq!(
        dropped
            .cases
            .iter()
            .find(|c| c.id == "gateway:public/get-product->catalog GET /products/{productId}")
            .unwrap()
            .outcome,
        Outcome::Passed
    );

    let provider = Upstream::start_responding("catalog", catalog(Catalog::PriceAsText));
    let retyped = run(&plan, provider.port(), None);
    assert_eq!(
        failures(&retyped, example),
        [
            r#"$.price_cents: expected a number in [0, ], got string "12.50" (matcher range)"#,
            r#"$.price_cents: expected integer, got string "12.50" (read by orders)"#,
        ]
    );

    let provider = Upstream::start_responding("catalog", catalog(Catalog::LostProduct42));
    let lost = run(&plan, provider.port(), None);
    assert_eq!(
        failures(&lost, example),
        [r#"status: expected 200, got 404 with object {"error":"no such product"} (example)"#]
    );

    // JUnit: the failure names the interaction, its spec line and the diff.
    let xml = report::junit_xml(&[retyped]);
    let expected = format!(
        "<failure message=\"$.price_cents: expected a number in [0, ], got string &quot;12.50&quot; (matcher range)\" \
         type=\"contract\">orders-&gt;catalog GET /products/{{productId}} #a product in stock ({source}): orders -&gt; catalog\n  \
         $.price_cents: expected a number in [0, ], got string &quot;12.50&quot; (matcher range)\n  \
         $.price_cents: expected integer, got string &quot;12.50&quot; (read by orders)\n</failure>"
    );
    assert!(xml.contains(&expected), "{xml}");
}

#[test]
fn the_shops_inventory_plan_runs_over_grpc_with_the_plans_descriptor_set() {
    let out = shop();
    let plan = plan(out.path(), "providers/inventory.json");
    let pool = plan.descriptor_pool().unwrap().unwrap();
    let get_stock = "/shop.inventory.v1.Inventory/GetStock";
    let reserve = "/shop.inventory.v1.Inventory/Reserve";
    let honest = GrpcMock::new(pool.clone())
        .respond(get_stock, json!({"productId": "{{productId}}", "available": 7}))
        .respond(reserve, json!({"reservationId": "r-1"}))
        .spawn("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let result = run(&plan, honest.port(), None);
    assert_eq!(result.counts(), (plan.interactions.len(), 0, 0), "{}", report::summary(std::slice::from_ref(&result)));
    // The example's request, in protobuf's JSON mapping, reached the provider.
    assert!(honest.calls().contains(&(get_stock.to_string(), json!({"productId": "42"}))), "{:?}", honest.calls());

    let example = "#stock of a product";
    let wrong = GrpcMock::new(pool.clone())
        .respond(get_stock, json!({"productId": "43", "available": 7}))
        .spawn("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let result = run(&plan, wrong.port(), None);
    assert_eq!(failures(&result, example), [r#"$.productId: expected "42", got string "43" (example)"#]);
    // Reserve has no answer: UNIMPLEMENTED, where the implicit contract wants OK.
    let reserve_failure = failures(&result, "orders->inventory shop.inventory.v1.Inventory/Reserve");
    assert_eq!(reserve_failure.len(), 1);
    assert!(
        reserve_failure[0]
            .starts_with("status: expected 0 (OK), got 12 (Unimplemented: grpc-mock: no response configured"),
        "{reserve_failure:?}"
    );
}
