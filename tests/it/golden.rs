//! Golden snapshots (insta) of what meshc emits and prints for fixed inputs.
//! Re-bless with `INSTA_UPDATE=always cargo test --test it golden::` and review the diff.

use std::path::{Path, PathBuf};

use meshc::diag::render::{render, Format};

/// `insta::assert_snapshot!` into `tests/snapshots/golden__NAME.snap`: insta
/// would name it after the module path (`it__golden__NAME`, beside this
/// file); the snapshots keep the names they had when this file was a test
/// binary of its own.
macro_rules! assert_golden {
    ($name:expr, $value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!(format!("golden__{}", $name), $value));
    }};
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn shop_envoy_gateway_bootstrap() {
    let compilation = meshc::driver::compile(&repo().join("examples/shop"));
    assert!(compilation.diagnostics.is_empty());
    let artifacts = compilation.emit().expect("the shop builds");
    let gateway = artifacts.iter().find(|a| a.path == "envoy/gateway-public.yaml").unwrap();
    assert_golden!("shop_gateway_public", gateway.contents);
}

#[test]
fn broken_fixture_human_diagnostics() {
    let compilation = meshc::driver::compile(&repo().join("tests/fixtures/cli/broken"));
    let text = render(Format::Human, &compilation.diagnostics, &compilation.sources, false);
    assert_golden!("broken_human", text);
}

#[test]
fn broken_fixture_json_diagnostics() {
    let compilation = meshc::driver::compile(&repo().join("tests/fixtures/cli/broken"));
    let text = render(Format::Json, &compilation.diagnostics, &compilation.sources, false);
    assert_golden!("broken_json", text);
}

#[test]
fn shop_orders_envoy_sidecar_bootstrap() {
    let compilation = meshc::driver::compile(&repo().join("examples/shop"));
    let artifacts = compilation.emit().expect("the shop builds");
    let sidecar = artifacts.iter().find(|a| a.path == "envoy/sidecar-orders.yaml").unwrap();
    assert_golden!("shop_sidecar_orders", sidecar.contents);
}

/// The orders sidecar in the reloadable form (`--xds-dir /etc/meshc/xds`):
/// its bootstrap, then its clusters and listeners files.
#[test]
fn shop_orders_envoy_sidecar_reloadable() {
    let compilation = meshc::driver::compile(&repo().join("examples/shop"));
    let options = meshc::emit::Options::default().with_xds_dir("/etc/meshc/xds/").unwrap();
    let artifacts = compilation.build(&options).expect("the shop builds").artifacts;
    let files: Vec<String> =
        ["envoy/sidecar-orders.yaml", "envoy/sidecar-orders/cds.yaml", "envoy/sidecar-orders/lds.yaml"]
            .iter()
            .map(|path| {
                let file = artifacts.iter().find(|a| a.path == *path).unwrap_or_else(|| panic!("{path}"));
                format!("### {path}\n{}", file.contents)
            })
            .collect();
    assert_golden!("shop_sidecar_orders_reloadable", files.join("\n"));
}

#[test]
fn shop_storefront_graphql_config() {
    let compilation = meshc::driver::compile(&repo().join("examples/shop"));
    let artifacts = compilation.emit().expect("the shop builds");
    let config = artifacts.iter().find(|a| a.path.starts_with("graphql/")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&config.contents).unwrap();
    // The SDL is the example's file and the descriptors are binary; both are checked elsewhere.
    config["sdl"] = serde_json::json!(format!("<{} bytes>", config["sdl"].as_str().unwrap().len()));
    config["descriptor_set"] = serde_json::json!("<descriptors>");
    assert_golden!("shop_graphql_storefront", serde_json::to_string_pretty(&config).unwrap());
}

#[test]
fn shop_istio_and_kubernetes_resources_for_orders() {
    let compilation = meshc::driver::compile(&repo().join("examples/shop"));
    let artifacts = compilation.emit().expect("the shop builds");
    for (path, name) in
        [("istio/service-orders.yaml", "shop_istio_orders"), ("kubernetes/orders.yaml", "shop_kubernetes_orders")]
    {
        let artifact = artifacts.iter().find(|a| a.path == path).unwrap();
        assert_golden!(name, artifact.contents);
    }
}

/// The shop's contract plans and mocks, every file (docs/contracts.md).
#[test]
fn shop_contract_plans() {
    let compilation = meshc::driver::compile(&repo().join("examples/shop"));
    let artifacts = compilation.emit().expect("the shop builds");
    let plans: Vec<String> = artifacts
        .iter()
        .filter(|a| a.path.starts_with("contracts/"))
        .map(|a| {
            // The descriptors are base64 of binary files, pinned by the hash
            // in their names; runtime_configs.rs decodes them.
            if a.path.starts_with("contracts/descriptors/") {
                return format!("==> {} <==\n", a.path);
            }
            let plan: serde_json::Value = serde_json::from_str(&a.contents).unwrap();
            format!("==> {} <==\n{}\n", a.path, serde_json::to_string_pretty(&plan).unwrap())
        })
        .collect();
    assert!(plans.len() >= 3, "{plans:?}");
    assert_golden!("shop_contracts", plans.join("\n"));
}

/// Each backend alone on the shop: it writes something (the shop shows
/// every backend), its first artifact is a snapshot `backend_NAME`, and its
/// docs page exists. A new backend fails here until it has all three.
#[test]
fn every_backend_has_a_snapshot_and_a_docs_page() {
    let compilation = meshc::driver::compile(&repo().join("examples/shop"));
    for backend in meshc::emit::BACKENDS {
        let options = meshc::emit::Options::default().with_backends([backend.name]).unwrap();
        let built = compilation.build(&options).unwrap_or_else(|e| panic!("{}: {e:?}", backend.name));
        let first =
            built.artifacts.first().unwrap_or_else(|| panic!("backend `{}` writes nothing for the shop", backend.name));
        assert_golden!(format!("backend_{}", backend.name), format!("# {}\n{}", first.path, first.contents));
        let page = backend.page.split('#').next().unwrap();
        assert!(
            repo().join("docs/backends").join(page).is_file(),
            "backend `{}`: no docs/backends/{page}",
            backend.name
        );
    }
}

/// The text of docs/backends/README.md, from `emit::BACKENDS`.
fn backends_index() -> String {
    let mut out = String::from(
        "# Backends\n\n<!-- Generated from `emit::BACKENDS` by tests/it/golden.rs; regenerate with \
         `UPDATE_DOCS=1 cargo test --test it golden::`. -->\n\n`meshc build` runs every backend unless `--backend NAME[,NAME]` \
         selects some; `meshc backends` prints this list.\n\n| backend | engine | writes | docs |\n| --- | --- | --- | --- |\n",
    );
    for b in meshc::emit::BACKENDS {
        out.push_str(&format!(
            "| `{}` | {} | {} | [{}]({}) |\n",
            b.name,
            b.engine,
            b.description.replace('|', "\\|"),
            b.page,
            b.page
        ));
    }
    out
}

#[test]
fn the_backends_index_is_generated_from_the_backend_table() {
    let path = repo().join("docs/backends/README.md");
    let generated = backends_index();
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/backends/README.md is stale: regenerate with UPDATE_DOCS=1 cargo test --test it golden::"
    );
}

/// Every artifact of the broker backends on their fixture
/// (tests/fixtures/emit/brokers: a NATS, a RabbitMQ and a Kafka broker),
/// and the runtime's event-bus.json for them.
#[test]
fn brokers_fixture_artifacts() {
    let compilation = meshc::driver::compile(&repo().join("tests/fixtures/emit/brokers"));
    let options = meshc::emit::Options::default()
        .with_backends(["nats", "rabbitmq", "kafka", "schema-registry", "event-bus"])
        .unwrap();
    let built = compilation.build(&options).expect("the fixture builds");
    // What it cannot express, first: the Kafka consumer's client-side settings.
    let mut text = String::new();
    for warning in &built.warnings {
        text.push_str(&format!("# {}: {}\n", warning.code.id(), warning.message));
    }
    for artifact in &built.artifacts {
        text.push_str(&format!("# {}\n{}\n", artifact.path, artifact.contents));
    }
    assert_golden!("brokers_fixture", text);
}

/// The shop's Grafana dashboards of service `catalog` (inbound, two calls,
/// two SLOs, instance health) and gateway `public`, the overview and the
/// provisioning files.
#[test]
fn shop_grafana_dashboards_and_provisioning() {
    let compilation = meshc::driver::compile(&repo().join("examples/shop"));
    let artifacts = compilation.emit().expect("the shop builds");
    let mut text = String::new();
    for path in [
        "grafana/dashboards/overview.json",
        "grafana/dashboards/service-catalog.json",
        "grafana/provisioning/dashboards/meshc.yaml",
        "grafana/provisioning/datasources/prometheus.yaml",
    ] {
        let artifact = artifacts.iter().find(|a| a.path == path).unwrap_or_else(|| panic!("{path} is missing"));
        text.push_str(&format!("# {path}\n{}\n", artifact.contents));
    }
    assert_golden!("shop_grafana", text);
}

/// `meshc build` hands the output to its writer part by part as the backends
/// make it (`Compilation::build_each`): the parts, put in path order, are
/// exactly what `emit` collects, and so are the warnings.
#[test]
fn the_parts_a_build_streams_are_the_collected_output() {
    for example in ["shop", "sock-shop"] {
        let compilation = meshc::driver::compile(&repo().join("examples").join(example));
        let options = meshc::emit::Options::default();
        let built = compilation.build(&options).unwrap_or_else(|_| panic!("{example} builds"));
        let streamed = std::sync::Mutex::new(Vec::new());
        let warnings = compilation
            .build_each(&options, &|part| streamed.lock().unwrap().extend(part))
            .unwrap_or_else(|_| panic!("{example} builds"));
        let mut streamed = streamed.into_inner().unwrap();
        streamed.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(streamed, built.artifacts, "{example}");
        assert_eq!(format!("{warnings:?}"), format!("{:?}", built.warnings), "{example}");
    }
}
