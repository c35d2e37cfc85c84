//! The `meshc` command line: exit codes, output formats, `explain`, and the
//! guarantees of `build` (atomic output, byte-for-byte determinism).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/cli").join(name)
}

fn shop() -> PathBuf {
    repo().join("examples/shop")
}

fn meshc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshc")).args(args).env("NO_COLOR", "1").output().expect("meshc runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn check_of_the_shop_is_clean_and_exits_zero() {
    let out = meshc(&["check", path(&shop())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "unexpected output: {}", stderr(&out));
}

#[test]
fn check_defaults_to_the_current_directory() {
    let out = Command::new(env!("CARGO_BIN_EXE_meshc")).arg("check").current_dir(shop()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn check_reports_every_error_across_files_and_exits_one() {
    let out = meshc(&["check", path(&fixture("broken")), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let mut codes: Vec<&str> =
        report["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    codes.sort();
    // unknown node `adress` (services.kdl; without an address `orders`
    // listens nowhere, which is no error by itself), unknown service,
    // invalid duration, listener port conflict (mesh.kdl).
    assert_eq!(codes, ["MESH0002", "MESH0004", "MESH0007", "MESH0012"]);
    let files: Vec<&str> =
        report["diagnostics"].as_array().unwrap().iter().map(|d| d["location"]["file"].as_str().unwrap()).collect();
    assert!(files.contains(&"services.kdl") && files.contains(&"mesh.kdl"), "{files:?}");
    assert_eq!(report["errors"], 4);
}

#[test]
fn json_diagnostics_carry_span_label_and_did_you_mean() {
    let report = json(&meshc(&["check", path(&fixture("broken")), "--format", "json"]));
    let unknown = report["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "MESH0007").unwrap();
    assert_eq!(unknown["location"]["file"], "mesh.kdl");
    assert_eq!(unknown["location"]["start_line"], 10);
    assert_eq!(unknown["location"]["start_column"], 12);
    assert_eq!(unknown["location"]["label"], "unknown service");
    assert_eq!(unknown["help"], "did you mean `orders`?");
    let typo = report["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "MESH0002").unwrap();
    assert_eq!(typo["location"]["file"], "services.kdl");
    assert_eq!(typo["help"], "did you mean `address`?");
}

#[test]
fn human_output_shows_code_snippet_label_and_help() {
    let out = meshc(&["check", path(&fixture("broken"))]);
    let text = stderr(&out);
    assert!(text.contains("MESH0007"), "{text}");
    assert!(text.contains("no service named `ordrs`"), "{text}");
    assert!(text.contains("╭─[mesh.kdl:10:12]"), "{text}");
    assert!(text.contains("did you mean `orders`?"), "{text}");
    assert!(text.contains("4 error(s), 0 warning(s)"), "{text}");
}

#[test]
fn sarif_output_is_a_sarif_2_1_0_log_with_rules_and_located_results() {
    let out = meshc(&["check", path(&fixture("broken")), "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let log = json(&out);
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "meshc");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    // The rules are the codes the results carry, each once, in code order.
    let mut used: Vec<&str> = results.iter().map(|r| r["ruleId"].as_str().unwrap()).collect();
    used.sort();
    used.dedup();
    let listed: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(listed, used);
    assert!(
        rules.iter().all(|r| r["help"]["markdown"].as_str().unwrap().contains("## ")),
        "each rule carries its page"
    );
    for result in results {
        let rule_index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[rule_index]["id"], result["ruleId"], "ruleIndex points at the rule");
        assert!(result["message"]["text"].as_str().unwrap().len() > 10);
        assert_eq!(result["level"], "error");
        let location = &result["locations"][0]["physicalLocation"];
        assert!(location["artifactLocation"]["uri"].as_str().unwrap().ends_with(".kdl"));
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(location["region"]["startColumn"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn warnings_pass_unless_denied() {
    let out = meshc(&["check", path(&fixture("unowned"))]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("MESH0016"), "{}", stderr(&out));
    let denied = meshc(&["check", path(&fixture("unowned")), "--deny", "warnings"]);
    assert_eq!(denied.status.code(), Some(1));
}

/// Settings a backend cannot express (the shop's health checks under
/// Istio) are build warnings: reported, and fatal only when denied.
#[test]
fn backend_warnings_of_a_build_pass_unless_denied() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let built = meshc(&["build", path(&shop()), "-o", path(&out_dir)]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    assert!(stderr(&built).contains("MESH0073"), "{}", stderr(&built));
    assert!(meshc(&["check", path(&shop())]).stderr.is_empty(), "check emits nothing, so it does not warn");
    let denied_dir = dir.path().join("denied");
    let denied = meshc(&["build", path(&shop()), "-o", path(&denied_dir), "--deny", "warnings"]);
    assert_eq!(denied.status.code(), Some(1), "{}", stderr(&denied));
    assert!(stderr(&denied).contains("left unchanged") && !denied_dir.exists());
}

#[test]
fn missing_workspace_is_a_diagnostic_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let out = meshc(&["check", path(dir.path()), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["diagnostics"][0]["code"], "MESH0009");
}

#[test]
fn explain_prints_the_code_page_by_id_or_name() {
    let out = meshc(&["explain", "MESH0007"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with("# MESH0007: unknown-service"), "{page}");
    let by_name = meshc(&["explain", "unknown-service"]);
    assert_eq!(String::from_utf8(by_name.stdout).unwrap(), page);
}

#[test]
fn explain_of_an_unknown_code_suggests_the_nearest() {
    let out = meshc(&["explain", "MESH00007"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("did you mean `MESH0007`?"), "{}", stderr(&out));
}

#[test]
fn explain_without_a_code_lists_every_code() {
    let out = meshc(&["explain"]);
    let list = String::from_utf8(out.stdout).unwrap();
    assert_eq!(list.lines().count(), meshc::diag::CODES.len());
    assert!(list.contains("MESH0010  error    workspace import-cycle"), "{list}");
}

#[test]
fn build_writes_every_backends_artifacts_for_the_shop() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = meshc(&["build", path(&shop()), "-o", path(&out_dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = read_tree(&out_dir);
    // Proto descriptors are named by their hash: each one some plan names, and no other.
    let (descriptors, written): (Vec<_>, Vec<_>) =
        written.iter().partition(|(p, _)| p.starts_with("contracts/descriptors/"));
    let named: std::collections::BTreeSet<String> = written
        .iter()
        .filter(|(p, _)| p.starts_with("contracts/"))
        .flat_map(|(_, bytes)| {
            let text = String::from_utf8_lossy(bytes);
            let paths: Vec<String> =
                text.split("\"../").skip(1).filter_map(|rest| rest.split('"').next()).map(String::from).collect();
            paths
        })
        .filter(|path| path.starts_with("descriptors/"))
        .collect();
    let descriptors: std::collections::BTreeSet<String> =
        descriptors.iter().map(|(p, _)| p.replacen("contracts/", "", 1)).collect();
    assert_eq!(descriptors.len(), 5, "the shop's gRPC protos and their imports: {descriptors:?}");
    assert_eq!(descriptors, named);
    assert_eq!(
        written.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [
            ".meshc-output",
            "alertmanager/alertmanager.yml",
            "cert-manager/accounts.yaml",
            "cert-manager/broker.yaml",
            "cert-manager/cache.yaml",
            "cert-manager/catalog-replica.yaml",
            "cert-manager/catalog.yaml",
            "cert-manager/gateway-public.yaml",
            "cert-manager/inventory.yaml",
            "cert-manager/issuer.yaml",
            "cert-manager/loyalty.yaml",
            "cert-manager/mailer.yaml",
            "cert-manager/orders.yaml",
            "cert-manager/payments.yaml",
            "cert-manager/reviews.yaml",
            "cert-manager/storefront.yaml",
            "compliance/report.json",
            "contracts/consumers/accounts.json",
            "contracts/consumers/catalog.json",
            "contracts/consumers/gateway-public.json",
            "contracts/consumers/inventory.json",
            "contracts/consumers/mailer.json",
            "contracts/consumers/orders.json",
            "contracts/consumers/payments.json",
            "contracts/consumers/reviews.json",
            "contracts/mocks/accounts.json",
            "contracts/mocks/catalog.json",
            "contracts/mocks/inventory.json",
            "contracts/mocks/loyalty.json",
            "contracts/mocks/orders.json",
            "contracts/mocks/payments.json",
            "contracts/mocks/reviews.json",
            "contracts/providers/accounts.json",
            "contracts/providers/catalog.json",
            "contracts/providers/inventory.json",
            "contracts/providers/loyalty.json",
            "contracts/providers/orders.json",
            "contracts/providers/payments.json",
            "contracts/providers/reviews.json",
            "envoy/gateway-public.yaml",
            "envoy/sidecar-accounts.yaml",
            "envoy/sidecar-broker.yaml",
            "envoy/sidecar-cache.yaml",
            "envoy/sidecar-catalog-replica.yaml",
            "envoy/sidecar-catalog.yaml",
            "envoy/sidecar-inventory.yaml",
            "envoy/sidecar-loyalty.yaml",
            "envoy/sidecar-mailer.yaml",
            "envoy/sidecar-orders.yaml",
            "envoy/sidecar-payments.yaml",
            "envoy/sidecar-reviews.yaml",
            "envoy/sidecar-storefront.yaml",
            "grafana/dashboards/gateway-public.json",
            "grafana/dashboards/overview.json",
            "grafana/dashboards/service-accounts.json",
            "grafana/dashboards/service-bank.json",
            "grafana/dashboards/service-broker.json",
            "grafana/dashboards/service-cache.json",
            "grafana/dashboards/service-catalog-replica.json",
            "grafana/dashboards/service-catalog.json",
            "grafana/dashboards/service-inventory.json",
            "grafana/dashboards/service-loyalty.json",
            "grafana/dashboards/service-orders.json",
            "grafana/dashboards/service-payments.json",
            "grafana/dashboards/service-reviews.json",
            "grafana/dashboards/service-storefront.json",
            "grafana/provisioning/dashboards/meshc.yaml",
            "grafana/provisioning/datasources/prometheus.yaml",
            "graphql/storefront-storefront-graphql.json",
            "istio/gateway-public.yaml",
            "istio/mesh-mtls.yaml",
            "istio/mesh-tracing.yaml",
            "istio/service-accounts.yaml",
            "istio/service-bank.yaml",
            "istio/service-cache.yaml",
            "istio/service-catalog-replica.yaml",
            "istio/service-catalog.yaml",
            "istio/service-inventory.yaml",
            "istio/service-loyalty.yaml",
            "istio/service-orders.yaml",
            "istio/service-payments.yaml",
            "istio/service-reviews.yaml",
            "kafka/analytics/acls.json",
            "kafka/analytics/topics.json",
            "kubernetes/accounts.yaml",
            "kubernetes/broker.yaml",
            "kubernetes/cache.yaml",
            "kubernetes/catalog-replica.yaml",
            "kubernetes/catalog-v1.yaml",
            "kubernetes/catalog-v2.yaml",
            "kubernetes/catalog-v3.yaml",
            "kubernetes/catalog.yaml",
            "kubernetes/inventory.yaml",
            "kubernetes/loyalty.yaml",
            "kubernetes/orders.yaml",
            "kubernetes/payments.yaml",
            "kubernetes/reviews.yaml",
            "kubernetes/storefront.yaml",
            "load/plan.json",
            "nats/bus/consumers/orders-placed-dlq/support-mail.json",
            "nats/bus/consumers/orders-placed/inventory.json",
            "nats/bus/consumers/orders-placed/mailer.json",
            "nats/bus/consumers/orders-placed/payments.json",
            "nats/bus/streams/orders-placed-dlq.json",
            "nats/bus/streams/orders-placed.json",
            "opentelemetry/collector.yaml",
            "probes/plan.json",
            "prometheus/prometheus.yml",
            "prometheus/rules/meshc-red.yml",
            "prometheus/rules/meshc.yml",
            "prometheus/tests/meshc-slow-burn.test.yml",
            "prometheus/tests/meshc.test.yml",
            "rabbitmq/events/definitions.json",
            "ratelimit/gateway-public.yaml",
            "runtime/event-bus.json",
            "runtime/health.json",
            "runtime/local-mesh.json",
            "schema-registry/subjects/orders-placed-dlq-value.json",
            "schema-registry/subjects/orders-placed-value.json",
            "schema-registry/subjects/reviews-posted-dlq-value.json",
            "schema-registry/subjects/reviews-posted-value.json",
            "schema-registry/subjects/stock-changed-value.json",
            "site/index.html",
            "site/runbooks/CallLatencyHigh-orders-payments-payments-shop-payments-v1-payments-charge-warning.html",
            "site/runbooks/ConsumerLagHigh-analytics-storefront-storefront-stock-changed-warning.html",
            "site/runbooks/ConsumerLagHigh-bus-payments-payments-orders-placed-critical.html",
            "site/runbooks/ConsumerLagHigh-bus-payments-payments-orders-placed-warning.html",
            "site/runbooks/ConsumerLagHigh-events-catalog-catalog-reviews-posted-warning.html",
            "site/runbooks/RouteErrorRateHigh-public-charge-critical.html",
            "site/runbooks/RouteLatencyHigh-public-place-order-critical.html",
            "site/runbooks/RouteLatencyHigh-public-place-order-warning.html",
            "site/runbooks/SLOErrorBudgetFastBurn-accounts-availability-critical.html",
            "site/runbooks/SLOErrorBudgetFastBurn-catalog-availability-critical.html",
            "site/runbooks/SLOErrorBudgetFastBurn-catalog-latency-critical.html",
            "site/runbooks/SLOErrorBudgetFastBurn-inventory-availability-critical.html",
            "site/runbooks/SLOErrorBudgetFastBurn-orders-availability-critical.html",
            "site/runbooks/SLOErrorBudgetFastBurn-payments-availability-critical.html",
            "site/runbooks/SLOErrorBudgetFastBurn-public-get-product-latency-critical.html",
            "site/runbooks/SLOErrorBudgetFastBurn-public-place-order-availability-critical.html",
            "site/runbooks/SLOErrorBudgetFastBurn-public-place-order-latency-critical.html",
            "site/runbooks/SLOErrorBudgetFastBurn-storefront-availability-critical.html",
            "site/runbooks/SLOErrorBudgetSlowBurn-accounts-availability-warning.html",
            "site/runbooks/SLOErrorBudgetSlowBurn-catalog-availability-warning.html",
            "site/runbooks/SLOErrorBudgetSlowBurn-catalog-latency-warning.html",
            "site/runbooks/SLOErrorBudgetSlowBurn-inventory-availability-warning.html",
            "site/runbooks/SLOErrorBudgetSlowBurn-orders-availability-warning.html",
            "site/runbooks/SLOErrorBudgetSlowBurn-payments-availability-warning.html",
            "site/runbooks/SLOErrorBudgetSlowBurn-public-place-order-availability-warning.html",
            "site/runbooks/SLOErrorBudgetSlowBurn-storefront-availability-warning.html",
            "site/runbooks/ServiceCertificateExpiring-payments-critical.html",
            "site/runbooks/ServiceCertificateExpiring-payments-warning.html",
            "site/runbooks/ServiceErrorRateHigh-orders-critical.html",
            "site/runbooks/ServiceErrorRateHigh-orders-warning.html",
            "site/runbooks/ServiceSaturationHigh-catalog-warning.html",
            "site/runbooks/index.html",
            "site/schemas/apis_2Faccounts_2Eyaml.html",
            "site/schemas/apis_2Fcatalog_2Eyaml.html",
            "site/schemas/apis_2Floyalty_2Eyaml.html",
            "site/schemas/apis_2Forders_2Eyaml.html",
            "site/schemas/apis_2Freviews_2Egraphql.html",
            "site/schemas/apis_2Fstorefront_2Egraphql.html",
            "site/schemas/protos_2Finventory_2Eproto.html",
            "site/schemas/protos_2Fpayments_2Eproto.html",
            "site/search-index.js",
            "site/search.js",
            "site/security.html",
            "site/services/accounts.html",
            "site/services/bank.html",
            "site/services/broker.html",
            "site/services/cache.html",
            "site/services/catalog-replica.html",
            "site/services/catalog.html",
            "site/services/inventory.html",
            "site/services/loyalty.html",
            "site/services/mailer.html",
            "site/services/orders.html",
            "site/services/payments.html",
            "site/services/reviews.html",
            "site/services/storefront.html",
            "site/style.css",
            "site/topology.html",
            "site/versions.html",
            "token-exchange/accounts-shop-sts.json",
            "validation/gateway-public.json",
            "versions/compatibility.json"
        ]
    );
}

#[test]
fn failed_build_leaves_the_previous_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    assert!(meshc(&["build", path(&shop()), "-o", path(&out_dir)]).status.success());
    std::fs::write(out_dir.join("marker"), "from the last good build").unwrap();
    let before = read_tree(&out_dir);

    let failed = meshc(&["build", path(&fixture("broken")), "-o", path(&out_dir)]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(stderr(&failed).contains("left unchanged"), "{}", stderr(&failed));
    assert_eq!(read_tree(&out_dir), before);
    // No staging directories are left beside the output.
    let siblings: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(siblings, ["out"]);
}

/// A rebuild of an unchanged spec rewrites nothing; one whose spec changed
/// rewrites what changed and removes what is no longer produced, leaving
/// files it never wrote alone.
#[test]
fn a_rebuild_writes_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (workspace, out_dir) = (dir.path().join("shop"), dir.path().join("out"));
    copy_tree(&shop(), &workspace);
    assert!(meshc(&["build", path(&workspace), "-o", path(&out_dir)]).status.success());
    std::fs::write(out_dir.join("notes.txt"), "mine").unwrap();
    let gateway = out_dir.join("envoy/gateway-public.yaml");
    let modified = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let (gateway_time, sidecar_time) = (modified(&gateway), modified(&out_dir.join("envoy/sidecar-catalog.yaml")));
    let again = meshc(&["build", path(&workspace), "-o", path(&out_dir)]);
    assert!(stderr(&again).contains(" changed, "), "{}", stderr(&again));
    assert!(stderr(&again).contains("(0 changed, "), "{}", stderr(&again));
    assert_eq!(modified(&gateway), gateway_time);
    // One service's timeout changes: its sidecar's config and the few artifacts naming it.
    let orders = workspace.join("services/orders.kdl");
    let text = std::fs::read_to_string(&orders).unwrap();
    std::fs::write(&orders, text.replacen(r#"timeout="400ms""#, r#"timeout="450ms""#, 1)).unwrap();
    let changed = meshc(&["build", path(&workspace), "-o", path(&out_dir)]);
    assert!(changed.status.success(), "{}", stderr(&changed));
    assert!(!stderr(&changed).contains("(0 changed"), "{}", stderr(&changed));
    assert_eq!(modified(&out_dir.join("envoy/sidecar-catalog.yaml")), sidecar_time);
    assert!(std::fs::read_to_string(out_dir.join("envoy/sidecar-orders.yaml")).unwrap().contains("0.450s"));
    assert_eq!(std::fs::read_to_string(out_dir.join("notes.txt")).unwrap(), "mine");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn build_output_is_identical_across_runs_and_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    for (i, threads) in ["1", "2", "1", "2"].iter().enumerate() {
        let out_dir = dir.path().join(format!("out{i}"));
        let out = Command::new(env!("CARGO_BIN_EXE_meshc"))
            .args(["build", path(&shop()), "-o", path(&out_dir)])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        trees.push(read_tree(&out_dir));
    }
    assert!(!trees[0].is_empty());
    for tree in &trees[1..] {
        assert_eq!(tree, &trees[0]);
    }
}

#[test]
fn diagnostics_are_identical_across_thread_counts() {
    // Lowering resolves each service's calls and authorization on the
    // thread pool, each with a sink of its own: the report must not depend
    // on how many threads there are.
    let mut spec = String::new();
    for i in 0..64 {
        let next = (i + 1) % 64;
        spec += &format!(
            "service \"s{i}\" {{\n    owner \"t\"\n    address \"s{i}.local\" port=8080\n    calls \"s{i}x\"\n    \
             calls \"s{next}\" timeout=\"soon{i}\"\n    authorization {{ allow \"ghost{i}\" }}\n}}\n"
        );
    }
    let dir = workspace(&[("mesh.kdl", &spec)]);
    let reports: Vec<String> = ["1", "2", "4", "1", "2"]
        .iter()
        .map(|threads| {
            let out = Command::new(env!("CARGO_BIN_EXE_meshc"))
                .args(["check", path(dir.path()), "--format", "json"])
                .env("RAYON_NUM_THREADS", threads)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
            String::from_utf8(out.stdout).unwrap()
        })
        .collect();
    let report: serde_json::Value = serde_json::from_str(&reports[0]).unwrap();
    let codes: Vec<&str> =
        report["diagnostics"].as_array().unwrap().iter().filter_map(|d| d["code"].as_str()).collect();
    for (code, what) in [("MESH0007", "unknown callees and callers"), ("MESH0004", "bad timeouts")] {
        assert!(codes.iter().filter(|c| **c == code).count() >= 64, "{what}: {codes:?}");
    }
    for other in &reports[1..] {
        assert_eq!(other, &reports[0]);
    }
}

/// Every file under `dir` as (relative path, bytes), sorted.
fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                files.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn an_import_glob_rooted_outside_the_workspace_is_refused_before_it_is_walked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mesh.kdl"), "import \"/**/*.kdl\"\n").unwrap();
    let out = meshc(&["check", path(dir.path()), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["diagnostics"][0]["code"], "MESH0011");
    assert_eq!(report["errors"], 1);
}

#[test]
fn a_schema_that_is_not_a_regular_file_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "service \"s\" {\n    owner \"t\"\n    address \"s.local\" port=80\n    api \"a\" kind=\"rest\" schema=\"/dev/zero\"\n}\n";
    std::fs::write(dir.path().join("mesh.kdl"), spec).unwrap();
    let report = json(&meshc(&["check", path(dir.path()), "--format", "json"]));
    // Refused for where it is (under /dev) before its kind is looked at; a
    // FIFO inside the workspace is tests/it/input_safety.rs's case.
    assert_eq!(report["diagnostics"][0]["code"], "MESH0061");
    assert!(report["diagnostics"][0]["message"].as_str().unwrap().contains("/proc, /sys or /dev"), "{report}");
}

/// A temporary workspace holding `files` (relative path, text).
fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

const EVENTS_SPEC: &str = r#"topic "orders-placed" {
    schema "schemas/order-placed.avsc"
}
service "orders" {
    owner "team-orders"
    address "orders.local" port=8080
    publishes "orders-placed"
}
service "payments" {
    owner "team-payments"
    address "payments.local" port=8080
    subscribes "order-placed"
}
"#;

#[test]
fn a_broken_avro_schema_is_invalid_schema_pointing_into_the_avsc() {
    let avsc = "{\n  \"type\": \"record\",\n  \"name\": \"OrderPlaced\",\n  \"fields\": [\n    {\"name\": \"items\", \"type\": {\"type\": \"array\", \"items\": \"LineItem\"}}\n  ]\n}\n";
    let spec = EVENTS_SPEC.replace("order-placed\"\n}\n", "orders-placed\"\n}\n");
    let dir = workspace(&[("mesh.kdl", &spec), ("schemas/order-placed.avsc", avsc)]);
    let out = meshc(&["check", path(dir.path()), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["errors"], 1, "{report}");
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "MESH0015");
    assert_eq!(
        d["message"],
        "invalid Avro schema: unknown type `LineItem`: not a primitive type, nor a named type defined before this use"
    );
    assert_eq!(d["location"]["file"], "schemas/order-placed.avsc");
    assert_eq!(d["location"]["start_line"], 5);
    assert_eq!(d["location"]["start_column"], 58, "at `\"LineItem\"`: {d}");
    assert_eq!(d["related"][0]["file"], "mesh.kdl");
    assert_eq!(d["related"][0]["label"], "referenced here");
    // The human output shows the schema file's line.
    let text = stderr(&meshc(&["check", path(dir.path())]));
    assert!(text.contains("╭─[schemas/order-placed.avsc:5:58]"), "{text}");
}

#[test]
fn an_unknown_topic_is_reported_with_the_closest_name() {
    let avsc = r#"{"type": "record", "name": "OrderPlaced", "fields": [{"name": "orderId", "type": "string"}]}"#;
    let dir = workspace(&[("mesh.kdl", EVENTS_SPEC), ("schemas/order-placed.avsc", avsc)]);
    let out = meshc(&["check", path(dir.path()), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["errors"], 1, "{report}");
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "MESH0036");
    assert_eq!(d["message"], "no topic named `order-placed`");
    assert_eq!(d["location"]["start_line"], 12);
    assert_eq!(d["location"]["start_column"], 16);
    assert_eq!(d["help"], "did you mean `orders-placed`?");
}

#[test]
fn the_shop_topics_index_their_event_schemas() {
    let compilation = meshc::driver::compile(&shop());
    assert_eq!(compilation.diagnostics.len(), 0);
    let model = compilation.model.as_ref().unwrap();
    let shape = |topic: &str| {
        let topic = model.topics.iter().find(|t| t.name.value == topic).unwrap();
        compilation
            .schemas
            .get(topic.current().schema)
            .and_then(|s| s.event_shape())
            .expect("the schema loaded")
            .clone()
    };
    let order = shape("orders-placed");
    assert_eq!(order.name.as_deref(), Some("shop.orders.v1.OrderPlaced"));
    assert_eq!(order.types, ["shop.orders.v1.OrderPlaced", "shop.orders.v1.LineItem"]);
    let fields: Vec<String> = order.fields.iter().map(|f| format!("{}: {}", f.name, f.ty)).collect();
    assert_eq!(
        fields,
        [
            "orderId: uuid",
            "customerId: string",
            "items: array<shop.orders.v1.LineItem>",
            "totalCents: long",
            "currency: string",
            "couponCode: union { null, string }",
            "placedAt: timestamp-millis",
        ]
    );
    let review = shape("reviews-posted");
    assert_eq!((review.name.as_deref(), review.kind.as_str()), (Some("ReviewPosted"), "object"));
    let required: Vec<&str> = review.fields.iter().filter(|f| f.required).map(|f| f.name.as_str()).collect();
    assert_eq!(required, ["reviewId", "productId", "author", "rating", "postedAt"]);
    let orders = model.services.iter().position(|s| s.name.value == "orders").unwrap();
    let published: Vec<&str> = model
        .events
        .producers
        .iter()
        .filter(|p| p.service.index() == orders)
        .map(|p| model.topic(p.topic.value).name.value.as_str())
        .collect();
    assert_eq!(published, ["orders-placed"]);
}

#[test]
fn topic_declarations_report_each_mistake() {
    let spec = r#"topic "orders-placed" {
    schema "order-placed.avsc"
}
topic "orders-placed" {
    schema "order-placed.avsc"
}
topic "no-format" {
    schema "order-placed.schema"
}
topic "bad-format" {
    schema "order-placed.avsc" format="avr"
}
topic "no-schema" {
    shema "order-placed.avsc"
}
topic "unused" {
    schema "order-placed.avsc"
}
service "orders" {
    owner "team-orders"
    address "orders.local" port=8080
    publishes "orders-placed"
    publishes "orders-placed"
    subscribes "orders-placed"
}
"#;
    let avsc = r#"{"type": "record", "name": "OrderPlaced", "fields": []}"#;
    let dir = workspace(&[("mesh.kdl", spec), ("order-placed.avsc", avsc)]);
    let report = json(&meshc(&["check", path(dir.path()), "--format", "json"]));
    let found: Vec<(String, String)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap().to_string(), d["message"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("MESH0006", "topic `orders-placed` is declared twice"),
        ("MESH0005", "the format of `order-placed.schema` is not known from its name"),
        ("MESH0004", "`avr` is not an event schema format (avro, json-schema, protobuf); did you mean `avro`?"),
        ("MESH0005", "topic `no-schema` has no `schema`"),
        ("MESH0002", "`topic` has no child node `shema`"),
        ("MESH0037", "no service publishes or subscribes to topic `unused`"),
        ("MESH0006", "service `orders` publishes `orders-placed` twice"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(c, m)| (c.to_string(), m.to_string())).collect();
    assert_eq!(found, expected, "{report}");
    // One schema file, loaded once for the two topics that name it.
    let compilation = meshc::driver::compile(dir.path());
    assert_eq!(compilation.model.as_ref().unwrap().schemas.len(), 1);
}

#[test]
fn an_unknown_command_lists_the_commands() {
    let out = meshc(&["fmt"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(text.contains("unrecognized subcommand 'fmt'"), "{text}");
    assert!(text.contains("meshc's commands: check, build, certs, backends, rules, diff, explain"), "{text}");
}

#[test]
fn backends_lists_every_backend_and_build_runs_only_those_selected() {
    let listed = meshc(&["backends"]);
    assert_eq!(listed.status.code(), Some(0));
    let text = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(text.lines().count(), meshc::emit::BACKENDS.len());
    assert!(text.lines().any(|l| l.starts_with("envoy-sidecar") && l.contains("envoy")), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let built = meshc(&["build", path(&shop()), "-o", path(&out_dir), "--backend", "kubernetes,cert-manager"]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let dirs: BTreeSet<String> =
        read_tree(&out_dir).into_iter().filter_map(|(p, _)| p.split_once('/').map(|(d, _)| d.to_string())).collect();
    assert_eq!(dirs, BTreeSet::from(["kubernetes".to_string(), "cert-manager".to_string()]));

    let unknown = meshc(&["build", path(&shop()), "-o", path(&out_dir), "--backend", "istoi"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("no backend named `istoi`"), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("did you mean `istio`?"), "{}", stderr(&unknown));

    // `--xds-dir` with no Envoy proxy backend selected would change nothing: refused, not ignored.
    let no_proxy =
        meshc(&["build", path(&shop()), "-o", path(&out_dir), "--backend", "istio", "--xds-dir", "/etc/xds"]);
    assert_eq!(no_proxy.status.code(), Some(2));
    assert!(stderr(&no_proxy).contains("`--xds-dir` has no effect"), "{}", stderr(&no_proxy));
    let proxy = ["--backend", "envoy-sidecar", "--xds-dir", "/etc/xds"];
    let split = meshc(&[&["build", path(&shop()), "-o", path(&out_dir)][..], &proxy[..]].concat());
    assert_eq!(split.status.code(), Some(0), "{}", stderr(&split));
}

#[test]
fn rules_lists_every_pass_with_its_category_and_codes() {
    let table = String::from_utf8(meshc(&["rules"]).stdout).unwrap();
    assert_eq!(table.lines().count(), meshc::check::PASSES.len());
    let cycle = table.lines().find(|l| l.starts_with("sync-call-cycle")).expect("a row per pass");
    assert!(cycle.contains("traffic") && cycle.contains("MESH0030"), "{cycle}");
    let json: serde_json::Value = serde_json::from_slice(&meshc(&["rules", "--json"]).stdout).unwrap();
    let rules = json.as_array().unwrap();
    assert_eq!(rules.len(), meshc::check::PASSES.len());
    let http = rules.iter().find(|r| r["name"] == "http-on-tcp").unwrap();
    assert_eq!(http["category"], "traffic");
    assert_eq!(http["codes"], serde_json::json!(["MESH0064", "MESH0065"]));
    assert!(http["purpose"].as_str().unwrap().len() > 20);
}

/// `--rules strict` applies the standard strict rule set to the shop (which
/// imports only the baseline): its failures are errors carrying their rule
/// and control in SARIF; without the flag the shop passes.
#[test]
fn rules_applies_a_rule_set_without_editing_the_spec() {
    assert_eq!(meshc(&["check", path(&shop())]).status.code(), Some(0));
    let out = meshc(&["check", path(&shop()), "--rules", "strict", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let log = json(&out);
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| r["ruleId"] == "MESH0128"), "{results:?}");
    let strict_rule =
        results.iter().find(|r| r["properties"]["rule"] == "services-health-checked").expect("a strict rule fails");
    assert_eq!(strict_rule["properties"]["reference"], "SOC 2 A1.1");
    let unknown = meshc(&["check", path(&shop()), "--rules", "strickt"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("MESH0135"), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("did you mean `strict`?"), "{}", stderr(&unknown));
}
