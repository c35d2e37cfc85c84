//! The Grafana backends: every dashboard of the shop, of a live fixture and
//! of generated meshes validates against Grafana's dashboard schema (the
//! JSON Schema scripts/test generates from the `Dashboard` type Grafana
//! publishes in the npm package @grafana/schema, Apache-2.0; objects are
//! closed: no field Grafana does not define), every panel query
//! parses with the real Prometheus (`promtool check rules`), and every
//! metric a query reads is served by a live Envoy built from the spec, by
//! the live HealthMonitor, or recorded by the emitted rules. Grafana itself
//! is not packaged for Debian: no live Grafana loads them.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{envoy_validate, free_port, http_request, repo_root, write_files, EnvoyProcess, Upstream};

/// A built workspace's artifacts, by path.
fn artifacts(workspace: &Path) -> Vec<(String, String)> {
    let compilation = meshc::driver::compile(workspace);
    let built = compilation
        .build(&meshc::emit::Options::default())
        .unwrap_or_else(|e| panic!("{} does not build: {e:?}", workspace.display()));
    built.artifacts.into_iter().map(|a| (a.path, a.contents)).collect()
}

/// The dashboards among `artifacts`, parsed: (file, dashboard).
fn dashboards(artifacts: &[(String, String)]) -> Vec<(String, Value)> {
    artifacts
        .iter()
        .filter(|(path, _)| path.starts_with("grafana/dashboards/"))
        .map(|(path, text)| (path.clone(), serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"))))
        .collect()
}

/// Every panel query: (dashboard file, panel title, expr).
fn queries(dashboards: &[(String, Value)]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (file, dashboard) in dashboards {
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let title = panel["title"].as_str().unwrap().to_string();
                out.push((file.clone(), title, target["expr"].as_str().unwrap().to_string()));
            }
        }
    }
    out
}

/// Grafana's dashboard schema, from MESHC_GRAFANA_SCHEMA (scripts/test generates it).
fn schema() -> jsonschema::Validator {
    let path = std::env::var("MESHC_GRAFANA_SCHEMA").unwrap_or_else(|_| {
        panic!("MESHC_GRAFANA_SCHEMA is not set: run ./scripts/test, which generates Grafana's dashboard JSON schema from @grafana/schema into .tools/grafana-schema/")
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("MESHC_GRAFANA_SCHEMA={path}: {e}"));
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).expect("the schema compiles")
}

/// The schema's complaints about `dashboard`, one a line.
fn violations(schema: &jsonschema::Validator, dashboard: &Value) -> Vec<String> {
    schema.iter_errors(dashboard).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn assert_valid(dashboards: &[(String, Value)]) {
    let schema = schema();
    for (file, dashboard) in dashboards {
        let errors = violations(&schema, dashboard);
        assert!(errors.is_empty(), "{file} breaks Grafana's dashboard schema:\n{}", errors.join("\n"));
    }
}

/// promtool from MESHC_PROMTOOL or PATH; scripts/test installs it.
fn promtool() -> String {
    let tool = std::env::var("MESHC_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let runs = Command::new(&tool).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "promtool ({tool}) does not run: install Debian's prometheus (scripts/test does) or set MESHC_PROMTOOL"
    );
    tool
}

/// `promtool check rules` on the queries as recording rules: `Err` with its output.
fn check_as_rules(queries: &[&str]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| serde_json::json!({ "record": format!("grafana_panel_query_{i}"), "expr": q }))
        .collect();
    // JSON is YAML: no quoting of the queries to get wrong.
    let file = serde_json::json!({ "groups": [{ "name": "grafana-panels", "rules": rules }] });
    let path = dir.path().join("panels.yml");
    std::fs::write(&path, file.to_string()).unwrap();
    let out = Command::new(promtool()).args(["check", "rules"]).arg(&path).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// Every query parses with promtool: one run for all, and on a failure one
/// per query, to name the panels whose queries Prometheus refuses.
fn assert_queries_parse(queries: &[(String, String, String)]) {
    assert!(!queries.is_empty(), "no panel queries");
    let exprs: Vec<&str> = queries.iter().map(|(_, _, q)| q.as_str()).collect();
    if check_as_rules(&exprs).is_ok() {
        return;
    }
    let failures: Vec<String> = queries
        .iter()
        .filter_map(|(file, title, q)| {
            check_as_rules(&[q]).err().map(|e| format!("{file}, panel \"{title}\": {q}\n{e}"))
        })
        .collect();
    panic!("promtool refuses panel queries:\n{}", failures.join("\n"));
}

/// The metric names a PromQL expression selects: identifiers outside
/// strings, matchers, ranges and label lists that do not call a function,
/// nor are keywords.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] =
        &["by", "without", "on", "ignoring", "group_left", "group_right", "or", "and", "unless", "bool", "offset"];
    const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |from: usize, close: char| {
        let mut j = from + 1;
        let mut quoted = false;
        while j < chars.len() {
            match chars[j] {
                '\\' if quoted => j += 1,
                '"' => quoted = !quoted,
                c if c == close && !quoted => return j + 1,
                _ => {}
            }
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_to(i, '}');
        } else if c == '[' {
            i = skip_to(i, ']');
        } else if c == '"' {
            i = skip_to(i, '"');
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next] == ' ' {
                next += 1;
            }
            let rest: String = chars[next..].iter().collect();
            // `sum by (le) (...)`: an aggregation before its grouping.
            let grouped = ["by ", "by(", "without ", "without("].iter().any(|g| rest.starts_with(g));
            let calls = rest.starts_with('(') || grouped;
            if LABEL_LISTS.contains(&word.as_str()) && calls {
                i = skip_to(next, ')');
            } else if !calls && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The series the emitted rules record (every rule file), and whether they
/// alert (Prometheus then serves `ALERTS`).
fn rule_outputs(artifacts: &[(String, String)]) -> BTreeSet<String> {
    let files: Vec<&String> =
        artifacts.iter().filter(|(p, _)| p.starts_with("prometheus/rules/")).map(|(_, text)| text).collect();
    assert!(!files.is_empty(), "no rule file");
    let mut out = BTreeSet::new();
    for text in files {
        let file: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
        for group in file["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                if let Some(record) = rule["record"].as_str() {
                    out.insert(record.to_string());
                } else if rule["alert"].is_string() {
                    out.insert("ALERTS".to_string());
                }
            }
        }
    }
    out
}

/// Metric names of a Prometheus text exposition.
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

/// Every metric each query reads is among `produced` (plus what the spec's own rules record).
fn assert_metrics_produced(spec: &str, artifacts: &[(String, String)], live: &BTreeSet<String>) {
    let recorded = rule_outputs(artifacts);
    let mut missing = Vec::new();
    for (file, title, q) in queries(&dashboards(artifacts)) {
        for name in metric_names(&q) {
            if !recorded.contains(&name) && !live.contains(&name) {
                missing.push(format!("{file}, panel \"{title}\": `{name}` in {q}"));
            }
        }
    }
    assert!(missing.is_empty(), "{spec}: panels read metrics nothing produces:\n{}", missing.join("\n"));
}

/// A monitored mesh on local ports: gateway `edge` forwarding to `api`
/// (an SLO, a TCP health check), `web` calling `api`.
fn live_spec(listener: u16, api: u16, admin: u16, metrics: u16) -> String {
    format!(
        r#"mesh "live"
monitoring {{
    admin-port {admin}
    metrics-port {metrics}
    receiver "oncall" webhook="http://127.0.0.1:9/hook"
    default-receiver "oncall"
}}
service "api" {{
    owner "team-api"
    address "127.0.0.1" port={api}
    slo "availability" objective="99.9%" window="30d"
    slo "latency" objective="99%" under="250ms" window="7d"
    alert "error-rate" above="5%" for="5m" severity="critical"
    traffic {{ health-check "tcp" }}
}}
service "web" {{
    owner "team-web"
    address "127.0.0.1" port={web}
    calls "api"
}}
gateway "edge" {{
    listener "http" port={listener}
    route "api" {{
        match path-prefix="/"
        to "api"
        timeout "2s"
    }}
}}
"#,
        web = free_port()
    )
}

/// What a live Envoy (the fixture's gateway, after traffic) and a live
/// HealthMonitor (the fixture's runtime/health.json) serve, and the
/// fixture's artifacts.
fn live_names() -> (BTreeSet<String>, Vec<(String, String)>) {
    let upstream = Upstream::start("api");
    let (listener, admin, metrics) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", &live_spec(listener, upstream.port(), admin, metrics))]);
    let built = artifacts(dir.path());
    let gateway = &built.iter().find(|(p, _)| p == "envoy/gateway-edge.yaml").expect("the gateway bootstrap").1;
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, gateway).unwrap();
    envoy_validate(&config).unwrap();
    let envoy = EnvoyProcess::start(&config);
    envoy.wait_ready(listener);
    for _ in 0..5 {
        assert_eq!(http_request(listener, "GET", "/items", &[]).status, 200, "{}", envoy.log());
    }
    assert!(upstream.hits() >= 5);
    let mut names = exposed(&http_request(metrics, "GET", "/stats/prometheus", &[]).body);
    assert!(names.contains("envoy_vhost_route_upstream_rq_xx"), "Envoy serves no route stats: {names:?}");

    let health = &built.iter().find(|(p, _)| p == "runtime/health.json").expect("the health monitor config").1;
    let monitor = meshc_runtime::health::HealthMonitor::from_json(health).unwrap();
    let handle = meshc_runtime::health::serve_health(monitor, support::localhost(), |_: &_, _: &_| {}).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = http_request(handle.addr().port(), "GET", "/metrics", &[]).body;
        if text.contains("meshc_health_up{") {
            names.extend(exposed(&text));
            break;
        }
        assert!(Instant::now() < deadline, "the HealthMonitor serves no meshc_health_up:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (names, built)
}

#[test]
fn the_shop_builds_a_dashboard_per_service_and_gateway_an_overview_and_provisioning() {
    let built = artifacts(&repo_root().join("examples/shop"));
    assert!(built == artifacts(&repo_root().join("examples/shop")), "two builds of the shop differ");
    let files: BTreeSet<&str> = built.iter().map(|(p, _)| p.as_str()).filter(|p| p.starts_with("grafana/")).collect();
    for file in [
        "grafana/dashboards/overview.json",
        "grafana/dashboards/gateway-public.json",
        "grafana/dashboards/service-orders.json",
        "grafana/dashboards/service-catalog.json",
        "grafana/provisioning/dashboards/meshc.yaml",
        "grafana/provisioning/datasources/prometheus.yaml",
    ] {
        assert!(files.contains(file), "{file} is missing: {files:?}");
    }
    let dashboards = dashboards(&built);
    let uids: BTreeSet<&str> = dashboards.iter().map(|(_, d)| d["uid"].as_str().unwrap()).collect();
    assert_eq!(uids.len(), dashboards.len(), "uids repeat");
    assert!(uids.iter().all(|u| u.len() <= 40), "{uids:?}");
    let catalog = &dashboards.iter().find(|(f, _)| f.ends_with("service-catalog.json")).unwrap().1;
    let titles: Vec<&str> =
        catalog["panels"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
    for title in [
        "Request rate",
        "Error ratio (5xx)",
        "Latency p50 / p95 / p99",
        "SLO availability 99.9% over 30d: burn rate",
        "SLO latency under 300ms for 99% over 30d: error budget left",
        "Instance health (meshc-runtime health)",
    ] {
        assert!(titles.contains(&title), "no panel `{title}` for catalog: {titles:?}");
    }
    assert!(titles.iter().any(|t| t.starts_with("Call ") && t.ends_with("→ reviews")), "{titles:?}");
    let variable = &catalog["templating"]["list"][0];
    assert_eq!((variable["name"].as_str(), variable["type"].as_str()), (Some("datasource"), Some("datasource")));
    assert_eq!(variable["query"], "prometheus");
    let sources = &built.iter().find(|(p, _)| p == "grafana/provisioning/datasources/prometheus.yaml").unwrap().1;
    assert!(sources.contains("uid: meshc-prometheus") && sources.contains("url: http://prometheus:9090"), "{sources}");
    assert!(sources.contains("timeInterval: 15s"), "{sources}");
    let providers = &built.iter().find(|(p, _)| p == "grafana/provisioning/dashboards/meshc.yaml").unwrap().1;
    let providers: serde_yaml_ng::Value = serde_yaml_ng::from_str(providers).unwrap();
    assert_eq!(providers["providers"][0]["type"].as_str(), Some("file"));
    assert_eq!(providers["providers"][0]["options"]["path"].as_str(), Some("/var/lib/grafana/dashboards/meshc"));
}

#[test]
fn the_schema_refuses_what_grafana_refuses() {
    let schema = schema();
    let built = artifacts(&repo_root().join("examples/shop"));
    let (_, good) = dashboards(&built).into_iter().find(|(f, _)| f.ends_with("overview.json")).unwrap();
    assert!(violations(&schema, &good).is_empty());
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut dashboard = good.clone();
        change(&mut dashboard);
        violations(&schema, &dashboard)
    };
    assert!(!broken(&|d| d["panels"][1]["colour"] = "red".into()).is_empty(), "an unknown panel field");
    assert!(!broken(&|d| d["panels"][1]["gridPos"]["w"] = "wide".into()).is_empty(), "a panel width of no number");
    assert!(!broken(&|d| d["graphTooltip"] = 3.into()).is_empty(), "an unknown cursor sync");
    assert!(!broken(&|d| d["templating"]["list"][0]["type"] = "prometheus".into()).is_empty(), "a variable type");
    assert!(!broken(&|d| d["templating"]["list"][0]["state"] = "Done".into()).is_empty(), "a variable field");
    let unbounded = |d: &mut Value| {
        d["panels"][1]["fieldConfig"]["defaults"]["thresholds"]["steps"][0] = serde_json::json!({"color": "green"})
    };
    assert!(!broken(&unbounded).is_empty(), "a threshold step without its value");
    assert!(
        !broken(&|d| d.as_object_mut().unwrap().remove("schemaVersion").map_or((), |_| ())).is_empty(),
        "no schema version"
    );
}

#[test]
fn the_shops_dashboards_validate_against_grafanas_schema() {
    let built = artifacts(&repo_root().join("examples/shop"));
    let dashboards = dashboards(&built);
    assert!(dashboards.len() >= 8, "{} dashboards", dashboards.len());
    assert_valid(&dashboards);
}

#[test]
fn every_panel_query_of_the_shop_parses_with_promtool() {
    let built = artifacts(&repo_root().join("examples/shop"));
    assert_queries_parse(&queries(&dashboards(&built)));
}

#[test]
fn promtool_check_names_the_panel_of_a_broken_query() {
    let queries = vec![
        ("a.json".to_string(), "Fine".to_string(), "sum(rate(x[5m]))".to_string()),
        ("b.json".to_string(), "Broken panel".to_string(), "sum(rate(x[5m])".to_string()),
    ];
    let failure = std::panic::catch_unwind(|| assert_queries_parse(&queries)).expect_err("a broken query passes");
    let text = failure.downcast_ref::<String>().unwrap();
    assert!(text.contains("b.json, panel \"Broken panel\"") && !text.contains("\"Fine\""), "{text}");
}

#[test]
fn metric_names_are_read_from_queries() {
    let names = metric_names(
        "histogram_quantile(0.95, sum by (le) (rate(envoy_x_bucket{job=\"a\",le=\"5\"}[5m]))) / on (service) group_left (x) (1 - meshc:slo_objective{slo=\"latency\"}) or vector(0) > 1e3",
    );
    assert_eq!(names, BTreeSet::from(["envoy_x_bucket".to_string(), "meshc:slo_objective".to_string()]));
}

/// The live fixture, the shop and generated meshes: every metric a panel
/// reads is served by the live Envoy or HealthMonitor, or recorded by the
/// spec's rules; their dashboards validate and their queries parse.
#[test]
fn every_metric_a_panel_reads_is_produced_by_envoy_the_rules_or_the_health_monitor() {
    let (live, fixture) = live_names();
    for name in ["meshc_health_up", "meshc_health_state", "envoy_http_downstream_rq_xx"] {
        assert!(live.contains(name), "{name} is not served live: {live:?}");
    }
    assert_metrics_produced("the live fixture", &fixture, &live);
    let fixture_dashboards = dashboards(&fixture);
    assert_eq!(fixture_dashboards.len(), 4, "overview, gateway edge, services api and web");
    assert_valid(&fixture_dashboards);
    assert_queries_parse(&queries(&fixture_dashboards));

    assert_metrics_produced("the shop", &artifacts(&repo_root().join("examples/shop")), &live);

    let count = std::env::var("MESHC_GEN_MESHES").ok().and_then(|n| n.parse().ok()).unwrap_or(12u64);
    for seed in 1000..1000 + count {
        let mut files = crate::generated_meshes::generate(seed);
        files[0].1.push_str("monitoring {\n    receiver \"oncall\" webhook=\"http://oncall.gen/hook\"\n}\n");
        let dir = tempfile::tempdir().unwrap();
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        write_files(dir.path(), &refs);
        let built = artifacts(dir.path());
        let dashboards = dashboards(&built);
        assert!(!dashboards.is_empty(), "seed {seed}: no dashboards");
        assert_valid(&dashboards);
        assert_queries_parse(&queries(&dashboards));
        assert_metrics_produced(&format!("generated mesh {seed}"), &built, &live);
    }
}

#[test]
fn a_panel_reading_a_metric_nobody_produces_is_named() {
    let rules = "groups:\n- name: meshc-red\n  rules:\n  - record: meshc:requests:rate5m\n    expr: vector(1)\n";
    let dashboard = serde_json::json!({ "panels": [
        { "title": "Fine", "targets": [{ "expr": "sum(meshc:requests:rate5m{service=\"a\"})" }] },
        { "title": "Stale", "targets": [{ "expr": "rate(envoy_renamed_total[5m])" }] },
    ] });
    let artifacts = vec![
        ("prometheus/rules/meshc.yml".to_string(), rules.to_string()),
        ("grafana/dashboards/x.json".to_string(), dashboard.to_string()),
    ];
    let live = BTreeSet::from(["envoy_http_downstream_rq_xx".to_string()]);
    let failure = std::panic::catch_unwind(|| assert_metrics_produced("a spec", &artifacts, &live))
        .expect_err("an unknown metric passes");
    let text = failure.downcast_ref::<String>().unwrap();
    assert!(text.contains("panel \"Stale\": `envoy_renamed_total`") && !text.contains("\"Fine\""), "{text}");
}
