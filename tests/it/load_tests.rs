//! Load tests derived from the spec (`contracts-load`, `meshc-runtime up
//! --load`): a short run through real Envoy against upstreams of known
//! behaviour (tests/fixtures/up/load_app.py) reproduces their latency,
//! the upstream behind a retrying route sees exactly the attempts the
//! amplification analysis allows, and at twice its load a rate-limited
//! route sheds with 429 at about its declared rate. Each claim names its
//! spec line.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use meshc_runtime::load::{self, report, Options, TargetReport};
use meshc_runtime::local_mesh::{self, LocalMesh};

use crate::support::repo_root;

const SPEC: &str = r#"mesh "loadtest"

gateway "edge" {
    listener "http" port=8080
    route "slow" {
        match path-prefix="/slow"
        to "slow"
        timeout "2s"
        public reason="a load test"
        slo "latency" objective="99%" under="400ms" window="30d" ticket="none"
        load rps=20 latency="50ms"
    }
    route "failing" {
        match path-prefix="/failing"
        to "failing"
        timeout "2s"
        retries 2 on="5xx"
        public reason="a load test"
        load rps=5 latency="5ms"
    }
    route "limited" {
        match path-prefix="/limited"
        to "fast"
        timeout "2s"
        public reason="a load test"
        rate-limit 20 per="second" key="route"
        load rps=20 latency="5ms"
    }
}

service "slow" {
    owner "t"
    address "slow.lt.svc.cluster.local" port=8080
}
service "failing" {
    owner "t"
    address "failing.lt.svc.cluster.local" port=8080
}
service "fast" {
    owner "t"
    address "fast.lt.svc.cluster.local" port=8080
}
"#;

fn meshc(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_meshc")).args(args).env("NO_COLOR", "1").output().unwrap();
    assert!(output.status.success(), "meshc {args:?}:\n{}", String::from_utf8_lossy(&output.stderr));
}

fn app(record: &Path, status: u16, delay_ms: u32) -> String {
    let script = repo_root().join("tests/fixtures/up/load_app.py");
    format!("exec python3 '{}' '{}' {status} {delay_ms}", script.display(), record.display())
}

fn lines(record: &Path) -> u64 {
    std::fs::read_to_string(record).unwrap_or_default().lines().count() as u64
}

fn target<'a>(reports: &'a [TargetReport], id: &str) -> &'a TargetReport {
    reports.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no target {id}"))
}

#[test]
fn a_short_run_reproduces_latency_counts_the_allowed_retries_and_sheds_at_twice_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, out) = (dir.path().join("spec"), dir.path().join("out"));
    std::fs::create_dir_all(&spec).unwrap();
    std::fs::write(spec.join("mesh.kdl"), SPEC).unwrap();
    meshc(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let plan = local_mesh::load::read(&out.join("load/plan.json")).unwrap();
    assert_eq!(plan.targets.len(), 3);
    let failing = plan.targets.iter().find(|t| t.id == "gateway:edge/failing").unwrap();
    assert_eq!((failing.amplification.per_request, failing.amplification.source.as_str()), (3, "mesh.kdl:17"));

    let records: BTreeMap<&str, _> =
        ["slow", "failing", "fast"].into_iter().map(|s| (s, dir.path().join(format!("{s}.log")))).collect();
    let commands = BTreeMap::from([
        ("slow".to_string(), app(&records["slow"], 200, 50)),
        ("failing".to_string(), app(&records["failing"], 503, 0)),
        ("fast".to_string(), app(&records["fast"], 200, 0)),
    ]);
    let _one = crate::local_mesh::one_mesh();
    let mesh = LocalMesh::start(&out, &crate::local_mesh::up_options(commands)).unwrap();
    let options = Options { multiple: 2.0, duration: Duration::from_secs(2) };
    let reports = local_mesh::load::run_through(&mesh, &plan, &options);
    drop(mesh);
    let summary = report::summary(&reports);

    // The upstream answering after 50 ms: that latency, give or take the proxies and the scheduler.
    let slow = target(&reports, "gateway:edge/slow");
    let declared = &slow.phases[0];
    assert_eq!((declared.multiple, declared.sent), (1.0, 40), "{summary}");
    let p50 = declared.tally.latency.percentile(50.0);
    assert!((50_000..120_000).contains(&p50), "p50 {p50} µs\n{summary}");
    assert_eq!(declared.tally.statuses.get(&200), Some(&40), "{summary}");

    // Every request to the 503-answering upstream is tried 1 + 2 times, counted by the upstream itself.
    let sent: u64 = target(&reports, "gateway:edge/failing").phases.iter().map(|p| p.sent).sum();
    assert_eq!(sent, 10 + 20);
    assert_eq!(lines(&records["failing"]), 3 * sent, "{summary}");
    let reached: Vec<_> = target(&reports, "gateway:edge/failing").phases.iter().map(|p| p.upstream_requests).collect();
    assert_eq!(reached, [Some(30), Some(60)], "its sidecar counts the same\n{summary}");

    // At 2x (40 rps for 2 s) the 20/s bucket admits 40 to 60 and the gateway answers the rest 429.
    let limited = target(&reports, "gateway:edge/limited");
    let doubled = &limited.phases[1];
    let refused = doubled.tally.statuses.get(&429).copied().unwrap_or(0);
    assert!((10..=45).contains(&refused), "{refused} refused\n{summary}");
    assert_eq!(doubled.tally.shed, refused, "the 429s are the gateway's own");

    for report in &reports {
        for verdict in &report.verdicts {
            assert_eq!(verdict.passed, Some(true), "{}: {}\n{summary}", report.id, verdict.claim);
            assert!(verdict.source.starts_with("mesh.kdl:"), "{verdict:?}");
        }
    }
    let claims: Vec<_> = reports.iter().flat_map(|r| &r.verdicts).map(|v| v.source.as_str()).collect();
    assert!(claims.contains(&"mesh.kdl:10"), "the latency objective's line: {claims:?}");
    assert!(claims.contains(&"mesh.kdl:26"), "the rate limit's line: {claims:?}");

    let json = report::json_report(&plan.mesh, &reports);
    assert_eq!(json["format"], "meshc-load-report/1");
    assert_eq!(json["totals"]["failed"], 0);
    let svg = load::svg::plot(slow, &load::svg::thresholds(&plan.targets[0]));
    assert!(svg.contains("p99 objective 400 ms"), "{svg}");
}
