//! The contract runner: `meshc-runtime contracts` against a test provider
//! (exit status, summary, JUnit and JSON reports, per-provider addresses),
//! and message contracts on the shared NATS, provider side (the provider
//! publishes when its state is set up) and consumer side (the runner
//! publishes the example).

use std::sync::Arc;
use std::time::Duration;

use meshc_runtime::contracts::{ContractTestRunner, Outcome, Plan, PlanResult, RunnerOptions};
use meshc_runtime::event_bus::{EventBus, EventBusConfig};
use serde_json::{json, Value};

use crate::support::brokers::rabbitmq_addr;
use crate::support::{meshc_runtime, shared_nats, shared_rabbitmq, unique_name, Answer, StreamsGuard, Upstream};

/// A provider plan for `catalog` in the shop's shape: an example with a
/// matcher and a read, the implicit contract it lends its request to, and
/// an implicit contract with a template nothing fills.
fn catalog_plan() -> Value {
    let interaction = |id: &str, operation: &str, path: &str, response: Option<Value>| {
        let mut value = json!({
            "consumer": "orders", "given": [], "id": id, "operation": operation, "protocol": "http",
            "provider": "catalog", "provider_address": {"host": "catalog.shop.svc.cluster.local", "port": 8080},
            "reads": [{"guaranteed": true, "path": "price_cents", "type": "integer"}],
            "request": {"headers": [{"name": "accept", "value": "application/json"}], "method": "GET", "path": path, "query": []},
            "source": "services/orders.kdl:32",
        });
        if let Some(response) = response {
            value["response"] = response;
        }
        value
    };
    json!({
        "format": "meshc-contracts/2", "mesh": "shop", "role": "provider", "subject": "catalog", "messages": [],
        "interactions": [
            interaction("orders->catalog GET /products/{productId}", "GET /products/{productId}", "/products/{productId}", None),
            interaction("orders->catalog GET /products/{productId} #in stock", "GET /products/{productId}", "/products/42",
                Some(json!({"body": {"id": "42", "name": "Cup", "price_cents": 1250}, "headers": [],
                            "matchers": [{"path": "name", "rule": "type"}], "status": 200}))),
            interaction("orders->catalog GET /reviews/{reviewId}", "GET /reviews/{reviewId}", "/reviews/{reviewId}", None),
        ],
    })
}

fn catalog(price: Value) -> Upstream {
    Upstream::start_responding("catalog", move |request| match request.path.as_str() {
        "/products/42" => Answer::json(200, json!({"id": "42", "name": "Mug", "price_cents": price}).to_string()),
        _ => Answer::json(404, "{}"),
    })
}

#[test]
fn the_command_exits_zero_only_when_nothing_failed_and_writes_both_reports() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("catalog.json");
    std::fs::write(&plan, catalog_plan().to_string()).unwrap();
    let (junit, report) = (dir.path().join("junit.xml"), dir.path().join("report.json"));
    let run = |flag: &str, target: String| {
        meshc_runtime()
            .args(["contracts", "--plan", plan.to_str().unwrap(), flag, &target])
            .args(["--junit", junit.to_str().unwrap(), "--json", report.to_str().unwrap()])
            .output()
            .unwrap()
    };

    let honest = catalog(json!(1250));
    let output = run("--provider", format!("127.0.0.1:{}", honest.port()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("shop provider catalog: 2 passed, 0 failed, 1 skipped\n"), "{stdout}");
    assert!(
        stdout.contains(
            "SKIP orders->catalog GET /reviews/{reviewId} (services/orders.kdl:32): not runnable: the implicit contract \
             needs values for the path template `/reviews/{reviewId}` and no example of `GET /reviews/{reviewId}` gives one"
        ),
        "{stdout}"
    );
    assert_eq!(honest.requests().iter().filter(|r| r.header("accept") == Some("application/json")).count(), 2);

    // `--address NAME=ADDR` routes by provider name.
    let broken = catalog(json!("12.50"));
    let output = run("--address", format!("catalog=127.0.0.1:{}", broken.port()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("2 of 3 contracts failed"));
    assert!(
        stdout.contains(
            "  FAIL orders->catalog GET /products/{productId} #in stock (services/orders.kdl:32): orders -> catalog\n       \
             $.price_cents: expected 1250, got string \"12.50\" (example)\n       \
             $.price_cents: expected integer, got string \"12.50\" (read by orders)\n"
        ),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testsuite name="shop provider catalog" tests="3" failures="2" errors="0" skipped="1""#),
        "{xml}"
    );
    assert!(
        xml.contains(
            r#"<failure message="$.price_cents: expected integer, got string &quot;12.50&quot; (read by orders)""#
        ),
        "{xml}"
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["format"], "meshc-contract-report/1");
    assert_eq!(json["counts"], json!({"passed": 0, "failed": 2, "skipped": 1}));
    let case = &json["plans"][0]["cases"][1];
    assert_eq!(case["mismatches"][1]["path"], "$.price_cents");
    assert_eq!(case["mismatches"][1]["why"], "read by orders");
}

#[test]
fn a_provider_without_an_address_is_skipped_and_a_failing_state_fails() {
    let plan = Plan::from_json(&catalog_plan().to_string()).unwrap();
    let result = ContractTestRunner::new(RunnerOptions::default()).run(&plan);
    assert_eq!(result.counts(), (0, 0, 3));
    let Outcome::Skipped(reason) = &result.cases[1].outcome else { panic!("{:?}", result.cases[1]) };
    assert_eq!(reason, "no address for provider `catalog`: give --provider HOST:PORT or --address catalog=HOST:PORT");

    let mut with_state = catalog_plan();
    with_state["interactions"][1]["given"] = json!(["product 42 exists"]);
    let plan = Plan::from_json(&with_state.to_string()).unwrap();
    let provider = catalog(json!(1250));
    let states = Upstream::start_json("states", |_| (500, r#"{"error": "no fixture"}"#.into(), Duration::ZERO));
    let options = RunnerOptions {
        provider: Some(format!("127.0.0.1:{}", provider.port())),
        states: Some(format!("http://127.0.0.1:{}/setup", states.port())),
        ..RunnerOptions::default()
    };
    let result = ContractTestRunner::new(options).run(&plan);
    let Outcome::Failed(mismatches) = &result.cases[1].outcome else { panic!("{:?}", result.cases[1]) };
    assert_eq!(
        mismatches[0].to_string(),
        format!(
            "given: expected provider state `product 42 exists` set up, got the states endpoint \
             http://127.0.0.1:{}/setup answered 500: {{\"error\": \"no fixture\"}} (provider state)",
            states.port()
        )
    );
    assert_eq!(states.requests()[0].path, "/setup");
}

/// A gateway route's interaction, given its gateway, goes there as the
/// route takes it (the prefix rewrite undone, its host, the header its
/// match needs) with the end user's token for its `auth`; without a token
/// it is skipped naming the issuer, and a route the plan cannot map back
/// is skipped; given no gateway, it goes to the provider without a token.
#[test]
fn a_routes_interaction_goes_through_its_gateway_with_the_token_its_auth_needs() {
    let plan = |gateway: Option<Value>| {
        let mut interaction = json!({
            "auth": {"audiences": ["shop-api"], "issuer": "https://auth.test",
                     "claims": [{"claim": "scope", "test": "contains", "type": "space-delimited", "value": "orders:read"}]},
            "consumer": "gateway:public", "given": [], "id": "gateway:public/admin->orders GET /orders/{orderId} #one",
            "operation": "GET /orders/{orderId}", "protocol": "http", "provider": "orders",
            "provider_address": {"host": "orders.shop", "port": 8080}, "reads": [],
            "request": {"headers": [], "method": "GET", "path": "/orders/7", "query": []},
            "response": {"headers": [], "matchers": [], "status": 200, "body": {"id": "7"}},
            "source": "gateway.kdl:3",
        });
        if let Some(gateway) = gateway {
            interaction["gateway"] = gateway;
        }
        let plan = json!({"format": "meshc-contracts/2", "mesh": "shop", "role": "consumer", "subject": "gateway:public",
                          "messages": [], "interactions": [interaction]});
        Plan::from_json(&plan.to_string()).unwrap()
    };
    let entry = json!({"headers": [{"name": "x-client", "value": "app"}], "host": "shop.test", "name": "public",
                       "path_prefix": {"from": "/admin/orders/", "to": "/orders/"}});
    let gateway = Upstream::start_responding("gateway", |request| match request.path.as_str() {
        "/admin/orders/7" => Answer::json(200, r#"{"id": "7"}"#),
        _ => Answer::json(404, "{}"),
    });
    let tokens = meshc_runtime::contracts::GivenTokens(
        [("https://auth.test".to_string(), "t-123".to_string())].into_iter().collect(),
    );
    let options = |tokens: Option<Arc<dyn meshc_runtime::contracts::TokenSource>>| RunnerOptions {
        gateways: [("public".to_string(), gateway.address())].into_iter().collect(),
        tokens,
        ..RunnerOptions::default()
    };
    let result = ContractTestRunner::new(options(Some(Arc::new(tokens)))).run(&plan(Some(entry.clone())));
    assert_eq!(result.cases[0].outcome, Outcome::Passed);
    let seen = gateway.requests();
    let header = |name: &str| seen[0].headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(seen[0].path, "/admin/orders/7");
    assert_eq!(header("host"), Some("shop.test"));
    assert_eq!(header("x-client"), Some("app"));
    assert_eq!(header("authorization"), Some("Bearer t-123"));

    let result = ContractTestRunner::new(options(None)).run(&plan(Some(entry)));
    let Outcome::Skipped(reason) = &result.cases[0].outcome else { panic!("{:?}", result.cases[0]) };
    assert!(reason.contains("token of issuer `https://auth.test`"), "{reason}");
    let result = ContractTestRunner::new(options(None)).run(&plan(None));
    let Outcome::Skipped(reason) = &result.cases[0].outcome else { panic!("{:?}", result.cases[0]) };
    assert!(reason.starts_with("not runnable through gateway `public`"), "{reason}");
    assert_eq!(gateway.requests().len(), 1, "skipped cases send nothing");

    // Against the provider alone (no gateway given): its own path, no token.
    let provider = Upstream::start_responding("orders", |_| Answer::json(200, r#"{"id": "7"}"#));
    let direct = RunnerOptions { provider: Some(provider.address()), ..RunnerOptions::default() };
    assert_eq!(ContractTestRunner::new(direct).run(&plan(None)).cases[0].outcome, Outcome::Passed);
    let seen = provider.requests();
    assert_eq!(seen[0].path, "/orders/7");
    assert!(!seen[0].headers.iter().any(|(n, _)| n == "authorization"));
}

// ---------------------------------------------------------------------------
// Message contracts on the shared NATS and RabbitMQ.

/// A topic of its own on a shared broker (`nats` or `rabbitmq`): `reviews`
/// publishes, `catalog` subscribes; its schema accepts any object, as a
/// provider's drifted schema might, so only the runner's comparison tells a
/// wrong event. Its stream (NATS) or vhost (RabbitMQ) is deleted on drop.
struct Topic {
    name: String,
    kind: &'static str,
    config: Arc<EventBusConfig>,
    _cleanup: Box<dyn std::any::Any>,
}

impl Topic {
    fn new(kind: &'static str) -> Topic {
        let name = unique_name("reviews-posted");
        let subject = name.replace('-', ".");
        let (broker, cleanup): (Value, Box<dyn std::any::Any>) = match kind {
            "nats" => {
                let streams = StreamsGuard::new(shared_nats());
                streams.track(&name);
                (json!({"name": "bus", "kind": "nats", "addresses": [shared_nats().to_string()]}), Box::new(streams))
            }
            "kafka" => {
                let broker = crate::support::kafka::KafkaBroker::start();
                (json!({"name": "bus", "kind": "kafka", "addresses": [broker.addr.to_string()]}), Box::new(broker))
            }
            _ => {
                let rabbit = shared_rabbitmq();
                let vhost = rabbit.vhost("contracts");
                rabbit.run(&["set_permissions", "-p", &vhost.name, "guest", ".*", ".*", ".*"]).unwrap();
                let broker =
                    json!({"name": "bus", "kind": "rabbitmq", "addresses": [rabbitmq_addr()], "vhost": vhost.name});
                (broker, Box::new(vhost))
            }
        };
        let config = json!({
            "brokers": [broker],
            "topics": [{"name": name, "broker": "bus", "subjects": [subject],
                        "versions": [{"version": 1, "format": "json-schema", "schema": r#"{"type": "object"}"#}]}],
            "producers": [{"service": "reviews", "topic": name, "version": 1, "subject": subject}],
            "consumers": [{"service": "catalog", "topic": name, "version": 1, "delivery": "at-most-once"}]
        });
        let config = Arc::new(EventBusConfig::from_json(&config.to_string()).unwrap());
        Topic { name, kind, config, _cleanup: cleanup }
    }

    fn plan(&self, role: &str, example: Value) -> Plan {
        let plan = json!({
            "format": "meshc-contracts/2", "mesh": "shop", "role": role, "subject": "reviews", "interactions": [],
            "messages": [{
                "broker": {"addresses": ["broker.shop:4222"], "kind": self.kind, "name": "bus"},
                "given": ["product 42 was reviewed"], "id": format!("{} #a five-star review", self.name),
                "message": example, "publishers": [{"service": "reviews", "subject": self.name.replace('-', ".")}],
                "schema": "schemas/review-posted.json", "schema_version": 1, "source": "topics/reviews-posted.kdl:6",
                "subscribers": ["catalog"], "topic": self.name,
            }],
        });
        Plan::from_json(&plan.to_string()).unwrap()
    }

    fn run(&self, plan: &Plan, states: Option<&Upstream>) -> PlanResult {
        let options = RunnerOptions {
            states: states.map(|s| format!("http://127.0.0.1:{}/", s.port())),
            event_bus: Some(Arc::clone(&self.config)),
            // A provider gets this long to publish; an unlike event fails only then.
            timeout: Duration::from_secs(2),
            ..RunnerOptions::default()
        };
        ContractTestRunner::new(options).run(plan)
    }

    /// A states endpoint that publishes `event` as `reviews` (its own
    /// runtime and connection) before it answers, as a provider's test
    /// harness would.
    fn publishing_provider(&self, event: Value) -> Upstream {
        let (config, topic) = (Arc::clone(&self.config), self.name.clone());
        Upstream::start_responding("reviews-states", move |_| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let bus = EventBus::connect(&config, "reviews").await.unwrap();
                bus.publish(&topic, &event).await.unwrap();
            });
            Answer::json(200, "{}")
        })
    }
}

fn review(rating: Value) -> Value {
    json!({"reviewId": "r-1", "productId": "42", "author": {"customerId": "c-7"}, "rating": rating})
}

#[test]
fn a_provider_passes_a_message_contract_by_publishing_an_event_like_the_example() {
    let topic = Topic::new("nats");
    let plan = topic.plan("provider", review(json!(5)));
    // Other values of the same types are like the example.
    let provider = topic.publishing_provider(
        json!({"reviewId": "r-9", "productId": "7", "author": {"customerId": "c-1"}, "rating": 3}),
    );
    let result = topic.run(&plan, Some(&provider));
    assert_eq!(result.cases[0].outcome, Outcome::Passed, "{:?}", result.cases[0]);
    let posted: Value = serde_json::from_slice(&provider.requests()[0].body).unwrap();
    assert_eq!(posted, json!({"consumer": "catalog", "state": "product 42 was reviewed"}));

    let retyped = topic.publishing_provider(review(json!("five")));
    let result = topic.run(&plan, Some(&retyped));
    let Outcome::Failed(mismatches) = &result.cases[0].outcome else { panic!("{:?}", result.cases[0]) };
    let lines: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
    assert_eq!(lines, [r#"$.rating: expected integer, got string "five" (matcher type)"#]);
}

#[test]
fn a_consumer_side_message_contract_publishes_the_example_through_the_schema() {
    let topic = Topic::new("nats");
    let result = topic.run(&topic.plan("consumer", review(json!(5))), None);
    assert_eq!(result.cases[0].outcome, Outcome::Passed, "{:?}", result.cases[0]);
    // The broker kept it: the stream holds one event.
    let mut js = crate::support::JetStream::connect(shared_nats()).unwrap();
    assert_eq!(js.stream_info(&topic.name).unwrap()["state"]["messages"], 1);

    // An example the publisher's schema refuses fails, and nothing is sent.
    let result = topic.run(&topic.plan("consumer", json!(["not", "an", "object"])), None);
    let Outcome::Failed(mismatches) = &result.cases[0].outcome else { panic!("{:?}", result.cases[0]) };
    assert!(mismatches[0].to_string().contains("does not match topic"), "{}", mismatches[0]);
    assert_eq!(js.stream_info(&topic.name).unwrap()["state"]["messages"], 1);
}

#[test]
fn a_message_contract_runs_on_rabbitmq_too() {
    message_contracts_on("rabbitmq");
}

#[test]
fn a_message_contract_runs_on_kafka_too() {
    message_contracts_on("kafka");
}

/// Provider side on a broker of `kind`: an event like the example passes,
/// a retyped one fails naming each difference.
fn message_contracts_on(kind: &'static str) {
    let topic = Topic::new(kind);
    let plan = topic.plan("provider", review(json!(5)));
    let provider = topic.publishing_provider(review(json!(4)));
    let result = topic.run(&plan, Some(&provider));
    assert_eq!(result.cases[0].outcome, Outcome::Passed, "{:?}", result.cases[0]);
    let retyped = topic.publishing_provider(json!({"reviewId": "r-1", "productId": 42, "author": {}, "rating": 5}));
    let result = topic.run(&plan, Some(&retyped));
    let Outcome::Failed(mismatches) = &result.cases[0].outcome else { panic!("{:?}", result.cases[0]) };
    let lines: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            r#"$.author.customerId: missing, expected string "c-7" (matcher type)"#,
            "$.productId: expected string, got integer 42 (matcher type)",
        ]
    );
}
