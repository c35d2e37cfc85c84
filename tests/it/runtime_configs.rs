//! Every config the compiler writes for `meshc-runtime` (request validator
//! rules, GraphQL gateway configs, token exchanger configs, the event bus,
//! the health monitor, contract plans and mocks)
//! loads with the runtime's own loader, the function its command calls at
//! start-up. The runtime denies unknown fields, so a backend that emits a
//! key the runtime does not know fails here.

use std::path::Path;

use meshc::diag::render::{render, Format};
use meshc_runtime::contracts::{MockPlan, Plan};
use meshc_runtime::event_bus::EventBusConfig;
use meshc_runtime::health::HealthMonitor;
use meshc_runtime::local_mesh::plan::Plan as LocalMeshPlan;
use meshc_runtime::{GraphqlGateway, TokenExchange, Validator};

/// A runtime start-up loader, its value dropped; it may read files beside
/// the config (by a path relative to it).
type Loader = fn(&str, &mut dyn FnMut(&str) -> std::io::Result<String>) -> Result<(), String>;

/// The runtime's start-up loaders by artifact folder.
const LOADERS: &[(&str, Loader)] = &[
    ("validation/", |text, _| Validator::from_json(text).map(drop)),
    ("graphql/", |text, _| GraphqlGateway::from_json(text).map(drop)),
    ("token-exchange/", |text, _| TokenExchange::from_json(text).map(drop)),
    ("runtime/event-bus", |text, _| EventBusConfig::from_json(text).map(drop)),
    ("runtime/health", |text, _| HealthMonitor::from_json(text).map(drop)),
    ("contracts/providers/", load_plan),
    ("contracts/consumers/", load_plan),
    ("contracts/mocks/", |text, beside| {
        let mock = MockPlan::from_json(text).and_then(|m| m.with_descriptors(beside)).map_err(|e| e.to_string())?;
        mock.descriptor_pool().map(drop).map_err(|e| e.to_string())
    }),
    ("runtime/local-mesh", |text, _| LocalMeshPlan::from_json(text).map(drop)),
    ("probes/", |text, _| meshc_runtime::probe::plan::ProbePlan::from_json(text).map(drop)),
    ("load/", |text, _| meshc_runtime::load::plan::LoadPlan::from_json(text).map(drop)),
];

/// A plan, with its descriptors read and decoded.
fn load_plan(text: &str, beside: &mut dyn FnMut(&str) -> std::io::Result<String>) -> Result<(), String> {
    let plan = Plan::from_json(text).and_then(|p| p.with_descriptors(beside)).map_err(|e| e.to_string())?;
    plan.descriptor_pool().map(drop).map_err(|e| e.to_string())
}

/// Loads every runtime config of an example; returns how many each loader took.
fn load_runtime_configs(example: &str) -> Vec<usize> {
    load_runtime_configs_of(&format!("examples/{example}"))
}

/// [`load_runtime_configs`] for the workspace at `folder` (from the repository's root).
fn load_runtime_configs_of(folder: &str) -> Vec<usize> {
    let example = folder;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join(folder);
    let compilation = meshc::driver::compile(&root);
    let artifacts = compilation.emit().unwrap_or_else(|collisions| {
        let diagnostics = if collisions.is_empty() { &compilation.diagnostics } else { &collisions };
        panic!("{example} does not build:\n{}", render(Format::Human, diagnostics, &compilation.sources, false))
    });
    let by_path: std::collections::BTreeMap<String, String> =
        artifacts.iter().map(|a| (a.path.clone(), a.contents.clone())).collect();
    let mut failures = Vec::new();
    let counts = LOADERS
        .iter()
        .map(|(folder, load)| {
            let configs: Vec<_> =
                artifacts.iter().filter(|a| a.path.starts_with(folder) && a.path.ends_with(".json")).collect();
            for config in &configs {
                let mut beside = |relative: &str| crate::support::artifact_beside(&by_path, &config.path, relative);
                if let Err(e) = load(&config.contents, &mut beside) {
                    failures.push(format!("{example}: {}: {e}", config.path));
                }
            }
            configs.len()
        })
        .collect();
    assert!(failures.is_empty(), "the runtime refuses configs meshc wrote:\n{}", failures.join("\n"));
    counts
}

#[test]
fn the_shops_runtime_configs_load() {
    let [validation, graphql, token_exchange, event_bus, health, providers, consumers, mocks, local_mesh, probes, load] =
        load_runtime_configs("shop")[..]
    else {
        unreachable!()
    };
    // The shop uses all of them, so none of the checks above is vacuous.
    assert!(
        validation > 0 && graphql > 0 && token_exchange > 0 && event_bus == 1 && health == 1,
        "{validation} {graphql} {token_exchange} {event_bus} {health}"
    );
    assert!(providers > 0 && consumers > 0 && mocks > 0, "{providers} {consumers} {mocks}");
    assert_eq!((local_mesh, probes, load), (1, 1, 1));
}

/// The boutique has no validating routes, GraphQL resolvers or token
/// exchanges today; this keeps whatever it gains covered.
#[test]
fn the_online_boutiques_runtime_configs_load() {
    load_runtime_configs("online-boutique");
}

/// The brokers fixture's event-bus.json has a protobuf topic on NATS (the
/// shop's protobuf topic is on Kafka, which the runtime does not drive):
/// its message and descriptor set load.
#[test]
fn the_brokers_fixtures_protobuf_topic_loads() {
    let [_, _, _, event_bus, ..] = load_runtime_configs_of("tests/fixtures/emit/brokers")[..] else { unreachable!() };
    assert_eq!(event_bus, 1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("tests/fixtures/emit/brokers");
    let options = meshc::emit::Options::default().with_backends(["event-bus"]).unwrap();
    let built = meshc::driver::compile(&root).build(&options).unwrap();
    let file: serde_json::Value = serde_json::from_str(&built.artifacts[0].contents).unwrap();
    let topics = file["topics"].as_array().unwrap();
    let stock = topics.iter().find(|t| t["name"] == "stock-changed").expect("the protobuf topic is in the config");
    assert_eq!(stock["versions"][0]["format"], "protobuf");
    assert_eq!(stock["versions"][0]["message"], "shop.stock.StockChanged");
}
