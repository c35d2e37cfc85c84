//! Monitoring: what a `monitoring` block and the `slo`/`alert` nodes
//! emit, run by the real engines. The shop's and generated specs' scrape
//! config passes `promtool check config`, their rules `promtool check
//! rules` and the generated unit tests `promtool test rules`, their
//! Alertmanager config `amtool check-config`; and end to end, a real Envoy
//! in front of a failing upstream, scraped by a real Prometheus with the
//! emitted rules, fires the error-rate alert, which a real Alertmanager
//! delivers to the test's webhook, while the healthy route fires nothing;
//! and a RabbitMQ node of the test's own with the `rabbitmq_prometheus`
//! plugin, scraped as emitted, fires the consumer-lag alert for a backlog
//! and not for a drained queue; and a gRPC method answering UNAVAILABLE
//! (HTTP 200, the status in the trailers) fires its route's error-rate
//! alert while an OK one does not.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support;

/// A tool from its environment variable or PATH; scripts/test installs
/// Debian's `prometheus` (promtool, prometheus) and `prometheus-alertmanager`
/// (amtool, prometheus-alertmanager). Missing is a loud failure.
fn tool(env: &str, name: &str) -> String {
    let tool = std::env::var(env).unwrap_or_else(|_| name.into());
    let runs = Command::new(&tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        runs.is_ok_and(|s| s.success()),
        "{name} ({tool}) does not run: install Debian's prometheus and prometheus-alertmanager (scripts/test does) or set {env}"
    );
    tool
}

fn run_ok(tool: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(tool).args(args).current_dir(dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{tool} {} failed in {}:\n{text}", args.join(" "), dir.display());
    text
}

/// Every monitoring artifact of a built output through its engine's checker.
fn check_with_engines(out: &Path) {
    let promtool = tool("MESHC_PROMTOOL", "promtool");
    let amtool = tool("MESHC_AMTOOL", "amtool");
    let prom = out.join("prometheus");
    run_ok(&promtool, &["check", "config", "prometheus.yml"], &prom);
    run_ok(&promtool, &["check", "rules", "rules/meshc-red.yml", "rules/meshc.yml"], &prom);
    let tests_dir = prom.join("tests");
    let mut tests: Vec<PathBuf> =
        std::fs::read_dir(&tests_dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    tests.sort();
    for test in &tests {
        let name = format!("tests/{}", test.file_name().unwrap().to_str().unwrap());
        let text = run_ok(&promtool, &["test", "rules", &name], &prom);
        assert!(text.contains("SUCCESS"), "{text}");
    }
    run_ok(&amtool, &["check-config", "alertmanager/alertmanager.yml"], out);
}

#[test]
fn the_shops_scrape_config_rules_rule_tests_and_alertmanager_config_pass_promtool_and_amtool() {
    let out = tempfile::tempdir().unwrap();
    support::build_workspace(&support::repo_root().join("examples/shop"), out.path());
    check_with_engines(out.path());
    let rules = std::fs::read_to_string(out.path().join("prometheus/rules/meshc.yml")).unwrap();
    // The route's own SLO pages its team with the route's labels.
    assert!(rules.contains("alert: SLOErrorBudgetFastBurn"), "{rules}");
    assert!(rules.contains("route: place-order"), "{rules}");
    let tests = std::fs::read_to_string(out.path().join("prometheus/tests/meshc.test.yml")).unwrap();
    for alert in [
        "RouteLatencyHigh",
        "ServiceErrorRateHigh",
        "CallLatencyHigh",
        "ServiceSaturationHigh",
        "ServiceCertificateExpiring",
        "ConsumerLagHigh",
    ] {
        assert!(tests.contains(&format!("alertname: {alert}")), "no test of {alert}");
    }
    // Each broker's exporter is scraped, and each broker's lag has a rule.
    let scrape = std::fs::read_to_string(out.path().join("prometheus/prometheus.yml")).unwrap();
    for job in ["broker-bus", "broker-events", "broker-analytics"] {
        assert!(scrape.contains(&format!("job_name: {job}")), "no scrape job {job}:\n{scrape}");
    }
    assert!(scrape.contains("/metrics/detailed") && scrape.contains("queue_coarse_metrics"), "{scrape}");
    for metric in
        ["jetstream_consumer_num_pending", "rabbitmq_detailed_queue_messages_ready", "kafka_consumergroup_lag"]
    {
        assert!(rules.contains(metric), "no rule reads {metric}");
    }
    // The gRPC route `charge`: its error rate counts UNAVAILABLE answers (which fire it), not INVALID_ARGUMENT.
    assert!(
        rules.contains(
            "grpc_service=\"shop.payments.v1.Payments\",grpc_method=\"Charge\",grpc_status=~\"2|4|12|13|14|15\""
        ),
        "{rules}"
    );
    assert!(tests.contains("grpc_method=\"Charge\",grpc_status=\"14\""), "no gRPC failure in the rule tests");
    assert!(tests.contains("grpc_method=\"Charge\",grpc_status=\"3\""), "no gRPC client error in the rule tests");
    let gateway = std::fs::read_to_string(out.path().join("envoy/gateway-public.yaml")).unwrap();
    assert!(gateway.contains("stat_prefix: place-order"), "route stats are not named after the route");
    assert!(gateway.contains("envoy.filters.http.grpc_stats"), "the gateway counts no gRPC statuses");
    assert!(gateway.contains("port_value: 15000"), "no admin endpoint");
}

#[test]
fn an_unmonitored_mesh_gets_no_admin_endpoint_and_no_rules() {
    let (_dir, c) = support::compile_mesh(
        r#"
        service "orders" { owner "t"; address "orders.svc" port=8080; }
        gateway "public" { listener "http" port=8080; route "r" { match path-prefix="/"; to "orders"; } }
        "#,
    );
    let built = c.build(&meshc::emit::Options::default()).unwrap();
    assert!(built.artifacts.iter().all(|a| !a.path.starts_with("prometheus/") && !a.path.starts_with("alertmanager/")));
    let gateway = built.artifacts.iter().find(|a| a.path == "envoy/gateway-public.yaml").unwrap();
    assert!(!gateway.contents.contains("admin:") && !gateway.contents.contains("stat_prefix: r\n"));
}

/// A small deterministic generator (xorshift) of monitored meshes: services
/// with and without SLOs of both kinds and windows from a day to 30 days,
/// gateway routes with objectives, calls with alerts of every kind at
/// random thresholds, severities, holds and labels, and consumers of a
/// topic on a broker of a random kind with consumer-lag alerts.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    /// Up to `count` alerts of `make`, leaving out any with the kind,
    /// severity and labels of an earlier one (duplicate-alert, MESH0126).
    fn alerts(&mut self, count: u64, make: fn(&mut Gen) -> String) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let identity = |alert: &str| {
            let kind = alert.split('"').nth(1).unwrap_or("").to_string();
            let severity = alert.split("severity=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
            let labels = alert.split_once('{').map_or("", |(_, l)| l);
            format!("{kind}|{severity}|{labels}")
        };
        (0..count).map(|_| make(self)).filter(|a| seen.insert(identity(a))).collect()
    }

    fn alert(&mut self) -> String {
        let severity = self.pick(&["warning", "critical"]);
        let hold = self.pick(&["", " for=\"1m\"", " for=\"5m\"", " for=\"30m\""]);
        let labels = self.pick(&["", " { labels pager=\"p1\" }", " { labels room=\"ops\" tier=\"gold\" }"]);
        let kind = match self.next() % 4 {
            0 => format!("\"error-rate\" above=\"{}%\"", self.pick(&["0.5", "1", "5", "25", "99.9"])),
            1 => format!(
                "\"latency\" percentile=\"{}%\" above=\"{}\"",
                self.pick(&["50", "90", "99", "99.9"]),
                self.pick(&["20ms", "300ms", "1s", "2500ms"])
            ),
            2 => format!("\"saturation\" above=\"{}%\"", self.pick(&["50", "80", "95"])),
            _ => format!("\"cert-expiry\" below=\"{}\"", self.pick(&["3d", "14d", "36h"])),
        };
        format!("alert {kind}{hold} severity=\"{severity}\"{labels}")
    }

    fn lag_alert(&mut self) -> String {
        let severity = self.pick(&["warning", "critical"]);
        let hold = self.pick(&["", " for=\"1m\"", " for=\"10m\""]);
        let labels = self.pick(&["", " { labels pager=\"p2\" }"]);
        let above = self.pick(&["0", "1", "100", "25000"]);
        format!("alert \"consumer-lag\" above={above}{hold} severity=\"{severity}\"{labels}")
    }

    fn slo(&mut self, kind: &str) -> String {
        let window = self.pick(&["30d", "28d", "7d", "1d"]);
        let ticket = self.pick(&["", " ticket=\"none\"", " ticket=\"warning\""]);
        match kind {
            "availability" => format!(
                "slo \"availability\" objective=\"{}%\" window=\"{window}\"{ticket}",
                self.pick(&["99.9", "99.95", "99", "95", "90"])
            ),
            _ => format!(
                "slo \"latency\" objective=\"{}%\" under=\"{}\" window=\"{window}\"{ticket}",
                self.pick(&["99", "95", "99.9"]),
                self.pick(&["100ms", "300ms", "1s"])
            ),
        }
    }

    fn mesh(&mut self) -> String {
        let services = 2 + (self.next() % 4) as usize;
        let mut spec = String::from(
            "monitoring {\n    receiver \"pager\" webhook=\"http://pager.example/hook\" { match severity=\"critical\"; }\n    receiver \"tickets\" webhook=\"http://tickets.example/hook\"\n    default-receiver \"tickets\"\n}\n",
        );
        // The event bus draws from a generator of its own: the rest of the
        // mesh stays what each seed made before it existed.
        let mut events = Gen(self.0.rotate_left(17) ^ 0xD6E8_FEB8_6659_FD93);
        let kind = events.pick(&["nats", "rabbitmq", "kafka"]);
        let subjects = if kind == "kafka" { "" } else { " subjects \"t.>\";" };
        spec.push_str(&format!(
            "broker \"b\" kind=\"{kind}\" {{ address \"b.svc\" port=4222; }}\n\
             topic \"t\" {{\n    schema \"t.avsc\"\n    stream broker=\"b\" {{{subjects} }}\n}}\n"
        ));
        for i in 0..services {
            spec.push_str(&format!(
                "service \"s{i}\" {{\n    owner \"team-{}\"\n    address \"s{i}.svc\" port=8080\n",
                i % 2
            ));
            spec.push_str("    traffic { circuit-breaker max-requests=200; outlier-detection; }\n");
            if i == 0 {
                spec.push_str("    publishes \"t\"\n");
            } else if events.next().is_multiple_of(2) {
                spec.push_str(&format!("    subscribes \"t\" group=\"g{i}\" {{\n"));
                let count = 1 + events.next() % 2;
                for alert in events.alerts(count, Gen::lag_alert) {
                    spec.push_str(&format!("        {alert}\n"));
                }
                spec.push_str("    }\n");
            }
            for kind in ["availability", "latency"] {
                if self.next().is_multiple_of(2) {
                    spec.push_str(&format!("    {}\n", self.slo(kind)));
                }
            }
            let count = self.next() % 3;
            for alert in self.alerts(count, Gen::alert) {
                spec.push_str(&format!("    {alert}\n"));
            }
            if i + 1 < services {
                spec.push_str(&format!("    calls \"s{}\" timeout=\"3s\" {{\n", i + 1));
                let count = self.next() % 3;
                for alert in self.alerts(count, Gen::alert) {
                    spec.push_str(&format!("        {alert}\n"));
                }
                spec.push_str("    }\n");
            }
            spec.push_str("}\n");
        }
        spec.push_str("gateway \"edge\" {\n    listener \"http\" port=8080\n");
        for i in 0..services {
            spec.push_str(&format!(
                "    route \"r{i}\" {{\n        match path-prefix=\"/s{i}/\"\n        to \"s{i}\"\n"
            ));
            if self.next().is_multiple_of(2) {
                spec.push_str(&format!("        {}\n", self.slo("availability")));
            }
            let count = self.next() % 2;
            for alert in self.alerts(count, Gen::alert) {
                spec.push_str(&format!("        {alert}\n"));
            }
            spec.push_str("    }\n");
        }
        spec.push_str("}\n");
        spec
    }
}

#[test]
fn generated_meshes_rules_and_their_unit_tests_pass_promtool_and_amtool() {
    let count: u64 = std::env::var("MESHC_GEN_MONITORING").ok().and_then(|n| n.parse().ok()).unwrap_or(4);
    for seed in 1..=count {
        let mut generator = Gen(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let spec = generator.mesh();
        let dir = tempfile::tempdir().unwrap();
        let schema = r#"{"type": "record", "name": "T", "fields": [{"name": "id", "type": "string"}]}"#;
        support::write_files(dir.path(), &[("mesh.kdl", &spec), ("t.avsc", schema)]);
        let out = tempfile::tempdir().unwrap();
        support::build_workspace(dir.path(), out.path());
        let result = std::panic::catch_unwind(|| check_with_engines(out.path()));
        assert!(result.is_ok(), "seed {seed}, spec:\n{spec}");
    }
}

/// Both routes' certificate alerts select the one gateway proxy, so an
/// expiring certificate fires both: the rule tests expect both.
#[test]
fn certificate_alerts_of_routes_sharing_a_gateway_fire_together_in_the_rule_tests() {
    let spec = r#"
monitoring {
    receiver "pager" webhook="http://pager.example/hook"
    default-receiver "pager"
}
service "a" { owner "t"; address "a.svc" port=8080; }
service "b" { owner "t"; address "b.svc" port=8080; }
gateway "edge" {
    listener "http" port=8080
    route "a" { match path-prefix="/a/"; to "a"; alert "cert-expiry" below="14d" severity="warning"; }
    route "b" { match path-prefix="/b/"; to "b"; alert "cert-expiry" below="3d" severity="critical"; }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    support::write_files(dir.path(), &[("mesh.kdl", spec)]);
    let out = tempfile::tempdir().unwrap();
    support::build_workspace(dir.path(), out.path());
    let tests = std::fs::read_to_string(out.path().join("prometheus/tests/meshc.test.yml")).unwrap();
    let file: serde_json::Value = serde_yaml_ng::from_str(&tests).unwrap();
    let expiring = file["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap())
        .find(|t| t["alertname"] == "RouteCertificateExpiring" && !t["exp_alerts"].as_array().unwrap().is_empty())
        .expect("a test where the gateway's certificate expires");
    let routes: Vec<&str> =
        expiring["exp_alerts"].as_array().unwrap().iter().map(|a| a["exp_labels"]["route"].as_str().unwrap()).collect();
    assert_eq!(routes, ["a", "b"], "{tests}");
    check_with_engines(out.path());
}

/// A webhook receiver: records the bodies POSTed to it.
struct Webhook {
    port: u16,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut data = Vec::new();
                let mut buf = [0u8; 8192];
                // Headers, then Content-Length bytes of body.
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&data).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if data.len() >= end + 4 + length {
                            seen.lock().unwrap().push(text[end + 4..].to_string());
                            break;
                        }
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        Webhook { port, bodies }
    }
}

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(tool: &str, args: &[String], log: &Path) -> Killed {
    let file = std::fs::File::create(log).unwrap();
    let child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {tool}: {e}"));
    Killed(child)
}

fn get(port: u16, path: &str) -> Option<String> {
    let response = support::try_http_request(port, "GET", path, &[], b"").ok()?;
    (response.status == 200).then_some(response.body)
}

/// Builds the workspace `files` with the end-to-end tests' time scale and
/// writes its artifacts to a temp dir.
fn build_scaled(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::write_files(dir.path(), files);
    let compilation = meshc::driver::compile(dir.path());
    let options = meshc::emit::Options::default().with_time_scale(SCALE);
    let built = compilation.build(&options).unwrap_or_else(|_| panic!("{}", support::human(&compilation)));
    let out = tempfile::tempdir().unwrap();
    for artifact in &built.artifacts {
        let path = out.path().join(&artifact.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &artifact.contents).unwrap();
    }
    out
}

/// A real Prometheus on the emitted config in `out`, its data and log
/// (`prometheus.log`) in `storage`.
fn start_prometheus(prometheus: &str, out: &Path, storage: &Path, port: u16) -> Killed {
    spawn(
        prometheus,
        &[
            format!("--config.file={}", out.join("prometheus/prometheus.yml").display()),
            format!("--storage.tsdb.path={}", storage.join("prometheus").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &storage.join("prometheus.log"),
    )
}

/// Prometheus' alerts, pending and firing (none while it does not answer).
fn alerts(prom_port: u16) -> Vec<serde_json::Value> {
    let body = get(prom_port, "/api/v1/alerts").unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    body["data"]["alerts"].as_array().cloned().unwrap_or_default()
}

/// Time scale of the end-to-end tests: the spec's 5-minute rate window is 5 s,
/// its `for="1m"` 1 s, the 15 s scrape interval 250 ms.
const SCALE: u32 = 60;

/// A spec built at [`SCALE`], its gateway `public`'s Envoy, and a real
/// Prometheus with the emitted scrape config and rules on `prom_port`.
struct Live {
    out: tempfile::TempDir,
    storage: tempfile::TempDir,
    envoy: support::EnvoyProcess,
    _prometheus: Killed,
}

impl Live {
    fn start(files: &[(&str, &str)], prom_port: u16) -> Live {
        let prometheus = tool("MESHC_PROMETHEUS", "prometheus");
        let out = build_scaled(files);
        let envoy = support::EnvoyProcess::start(&out.path().join("envoy/gateway-public.yaml"));
        let storage = tempfile::tempdir().unwrap();
        let prometheus = start_prometheus(&prometheus, out.path(), storage.path(), prom_port);
        Live { out, storage, envoy, _prometheus: prometheus }
    }
}

#[test]
fn a_failing_upstream_fires_the_error_rate_alert_in_prometheus_and_at_the_webhook_and_healthy_traffic_fires_nothing() {
    let alertmanager = tool("MESHC_ALERTMANAGER", "prometheus-alertmanager");
    let good = support::Upstream::start_with_status("good", 200);
    let bad = support::Upstream::start_with_status("bad", 500);
    let webhook = Webhook::start();
    let (gw, admin, metrics, prom_port, am_port) =
        (support::free_port(), support::free_port(), support::free_port(), support::free_port(), support::free_port());
    let spec = format!(
        r#"
        monitoring {{
            admin-port {admin}
            metrics-port {metrics}
            scrape-interval "15s"
            alertmanager "127.0.0.1:{am_port}"
            receiver "hook" webhook="http://127.0.0.1:{hook}/alerts"
            default-receiver "hook"
        }}
        service "good" {{ owner "team-good"; address "127.0.0.1" port={good}; slo-exempt reason="test"; }}
        service "bad" {{ owner "team-bad"; address "127.0.0.1" port={bad}; slo-exempt reason="test"; }}
        gateway "public" {{
            listener "http" address="127.0.0.1" port={gw}
            route "healthy" {{
                match path-prefix="/ok"
                to "good"
                alert "error-rate" above="50%" for="1m" severity="critical"
            }}
            route "failing" {{
                match path-prefix="/fail"
                to "bad"
                alert "error-rate" above="50%" for="1m" severity="critical"
            }}
        }}
        "#,
        hook = webhook.port,
        good = good.port(),
        bad = bad.port(),
    );
    let live = Live::start(&[("mesh.kdl", &spec)], prom_port);
    let storage = &live.storage;
    let _alertmanager = spawn(
        &alertmanager,
        &[
            format!("--config.file={}", live.out.path().join("alertmanager/alertmanager.yml").display()),
            format!("--storage.path={}", storage.path().join("alertmanager").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".to_string(),
        ],
        &storage.path().join("alertmanager.log"),
    );
    let logs = || {
        let read = |f: &str| std::fs::read_to_string(storage.path().join(f)).unwrap_or_default();
        format!("prometheus:\n{}\nalertmanager:\n{}", read("prometheus.log"), read("alertmanager.log"))
    };
    // Traffic to both routes, ten requests a second each, until the alert arrives.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut firing = None;
    let mut delivered = false;
    while Instant::now() < deadline && !(firing.is_some() && delivered) {
        let _ = support::try_http_request(gw, "GET", "/ok/orders", &[], b"");
        let _ = support::try_http_request(gw, "GET", "/fail/orders", &[], b"");
        std::thread::sleep(Duration::from_millis(100));
        for alert in alerts(prom_port) {
            assert_ne!(alert["labels"]["route"], "healthy", "the healthy route alerted: {alert}");
            if alert["labels"]["alertname"] == "RouteErrorRateHigh" && alert["state"] == "firing" {
                assert_eq!(alert["labels"]["route"], "failing");
                assert_eq!(alert["labels"]["team"], "team-bad");
                assert_eq!(alert["labels"]["severity"], "critical");
                firing.get_or_insert(Instant::now());
            }
        }
        let bodies = webhook.bodies.lock().unwrap().clone();
        for body in &bodies {
            assert!(!body.contains("\"route\":\"healthy\""), "the healthy route was delivered: {body}");
        }
        delivered = bodies.iter().any(|b| b.contains("RouteErrorRateHigh") && b.contains("\"route\":\"failing\""));
    }
    assert!(firing.is_some(), "RouteErrorRateHigh never fired in Prometheus\n{}", logs());
    assert!(delivered, "Alertmanager never delivered the alert to the webhook\n{}", logs());
    assert!(good.hits() > 0 && bad.hits() > 0);
}

/// Prometheus' alerts of `alertname` by the label `label`: `(value, state)`.
fn alerts_by(prom_port: u16, alertname: &str, label: &str) -> Vec<(String, String)> {
    alerts(prom_port)
        .iter()
        .filter(|a| a["labels"]["alertname"] == alertname)
        .map(|a| (a["labels"][label].as_str().unwrap_or("").to_string(), a["state"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// Takes every event from `queue` (consumed, no acknowledgement owed).
async fn drain(channel: &lapin::Channel, queue: &str) -> u32 {
    let mut taken = 0;
    let options = lapin::options::BasicGetOptions { no_ack: true };
    while channel.basic_get(queue.into(), options).await.unwrap().is_some() {
        taken += 1;
    }
    taken
}

#[test]
fn a_backlog_in_a_rabbitmq_queue_fires_the_consumer_lag_alert_and_a_drained_queue_does_not() {
    let prometheus = tool("MESHC_PROMETHEUS", "prometheus");
    // A node of the test's own: the shared one keeps its plugins.
    let node = support::RabbitNode::start();
    let prom_port = support::free_port();
    let vhost = support::unique_name("lag");
    let spec = format!(
        r#"
        monitoring {{
            scrape-interval "15s"
            alertmanager "127.0.0.1:{dead}"
            receiver "hook" webhook="http://127.0.0.1:{dead}/alerts"
        }}
        broker "bus" kind="rabbitmq" {{
            address "127.0.0.1" port={amqp}
            metrics "127.0.0.1" port={metrics}
            vhost "{vhost}"
        }}
        topic "orders" {{
            schema "orders.avsc"
            stream broker="bus" {{ subjects "orders.placed"; queue-type "quorum"; }}
        }}
        service "billing" {{
            owner "team-billing"
            address "billing.svc" port=8080
            subscribes "orders" group="billing" {{
                alert "consumer-lag" above=5 for="1m" severity="warning"
            }}
        }}
        service "shipping" {{
            owner "team-shipping"
            address "shipping.svc" port=8080
            subscribes "orders" group="shipping" {{
                alert "consumer-lag" above=5 for="1m" severity="warning"
            }}
        }}
        "#,
        dead = support::dead_port(),
        amqp = node.amqp_port,
        metrics = node.prometheus_port,
    );
    let schema = r#"{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}"#;
    let out = build_scaled(&[("mesh.kdl", &spec), ("orders.avsc", schema)]);
    // The exchange and both groups' queues, as the rabbitmq backend declares them.
    let definitions = std::fs::read_to_string(out.path().join("rabbitmq/bus/definitions.json")).unwrap();
    node.rabbit.import_definitions_text(&definitions).unwrap();
    node.rabbit.run(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]).unwrap();
    // Twenty events for both groups; shipping takes its twenty, billing none.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let uri = format!("amqp://guest:guest@127.0.0.1:{}/{}", node.amqp_port, vhost);
    let channel = runtime.block_on(async {
        let connection = lapin::Connection::connect(&uri, Default::default()).await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel.confirm_select(Default::default()).await.unwrap();
        for i in 0..20 {
            let payload = format!("{{\"id\": \"o-{i}\"}}");
            let options = Default::default();
            let published = channel
                .basic_publish("orders".into(), "orders.placed".into(), options, payload.as_bytes(), Default::default())
                .await
                .unwrap();
            assert!(published.await.unwrap().is_ack(), "RabbitMQ refused event {i}");
        }
        assert_eq!(drain(&channel, "orders.shipping").await, 20, "shipping's queue did not hold the events");
        (connection, channel)
    });
    let storage = tempfile::tempdir().unwrap();
    let _prometheus = start_prometheus(&prometheus, out.path(), storage.path(), prom_port);
    let logs = || std::fs::read_to_string(storage.path().join("prometheus.log")).unwrap_or_default();
    // Billing's backlog of twenty is past 5: its alert fires after the scaled
    // `for` (1 s); shipping's drained queue never alerts.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut firing = false;
    while Instant::now() < deadline && !firing {
        std::thread::sleep(Duration::from_millis(200));
        let alerts = alerts_by(prom_port, "ConsumerLagHigh", "group");
        assert!(alerts.iter().all(|(group, _)| group == "billing"), "a drained queue alerted: {alerts:?}");
        firing = alerts.contains(&("billing".into(), "firing".into()));
    }
    assert!(firing, "ConsumerLagHigh never fired for billing's backlog\n{}", logs());
    let scraped = get(prom_port, "/api/v1/query?query=rabbitmq_detailed_queue_messages_ready").unwrap();
    assert!(scraped.contains("orders.billing"), "{scraped}");
    // Billing catches up: once its queue is drained the alert resolves.
    assert_eq!(runtime.block_on(drain(&channel.1, "orders.billing")), 20);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut resolved = false;
    while Instant::now() < deadline && !resolved {
        std::thread::sleep(Duration::from_millis(200));
        resolved = alerts_by(prom_port, "ConsumerLagHigh", "group").is_empty();
    }
    assert!(resolved, "ConsumerLagHigh still active after billing's queue was drained\n{}", logs());
}

/// The API `grpc_upstream` serves.
const ORDERS_PROTO: &str =
    "syntax = \"proto3\";\npackage live;\nmessage M {}\nservice Orders { rpc Place(M) returns (M); rpc Cancel(M) returns (M); }\n";

/// A gRPC server on HTTP/2 (h2c) answering `/live.Orders/Place` OK and
/// every other method UNAVAILABLE (14), both with HTTP 200 and the status
/// in the trailers, as gRPC servers do.
fn grpc_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(mut connection) = h2::server::handshake(socket).await else { return };
                    while let Some(Ok((request, mut respond))) = connection.accept().await {
                        let status = if request.uri().path() == "/live.Orders/Place" { "0" } else { "14" };
                        let mut body = request.into_body();
                        while let Some(Ok(chunk)) = body.data().await {
                            let _ = body.flow_control().release_capacity(chunk.len());
                        }
                        let head = http::Response::builder().header("content-type", "application/grpc").body(());
                        let Ok(mut stream) = respond.send_response(head.unwrap(), false) else { continue };
                        let _ = stream.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), false);
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", http::HeaderValue::from_static(status));
                        let _ = stream.send_trailers(trailers);
                    }
                });
            }
        });
    });
    port
}

/// A unary call with an empty message through the gateway on `port` over
/// h2c: the response's `grpc-status` (trailers, or headers when trailers-only).
async fn grpc_call(port: u16, path: &str) -> Result<String, String> {
    let socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let (client, connection) = h2::client::handshake(socket).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut client = client.ready().await.map_err(|e| e.to_string())?;
    let request = http::Request::post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(|e| e.to_string())?;
    let (response, mut send) = client.send_request(request, false).map_err(|e| e.to_string())?;
    send.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true).map_err(|e| e.to_string())?;
    let response = response.await.map_err(|e| e.to_string())?;
    let in_headers = response.headers().get("grpc-status").cloned();
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        chunk.map_err(|e| e.to_string())?;
    }
    let trailers = body.trailers().await.map_err(|e| e.to_string())?;
    let status = trailers.and_then(|t| t.get("grpc-status").cloned()).or(in_headers);
    Ok(status.map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned()).unwrap_or_default())
}

/// The value of a PromQL instant query's first sample, if any.
fn query(prom_port: u16, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body: serde_json::Value =
        serde_json::from_str(&get(prom_port, &format!("/api/v1/query?query={encoded}"))?).ok()?;
    body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_grpc_method_answering_unavailable_with_http_200_fires_the_error_rate_alert_and_ok_answers_do_not() {
    let upstream = grpc_upstream();
    let (gw, admin, metrics, prom_port) =
        (support::free_port(), support::free_port(), support::free_port(), support::free_port());
    let spec = format!(
        r#"
        monitoring {{
            admin-port {admin}
            metrics-port {metrics}
            scrape-interval "15s"
            receiver "hook" webhook="http://127.0.0.1:9/alerts"
            default-receiver "hook"
        }}
        service "orders" {{
            owner "team-orders"
            address "127.0.0.1" port={upstream}
            api "orders-grpc" kind="grpc" schema="orders.proto"
            slo-exempt reason="test"
        }}
        gateway "public" {{
            listener "http" address="127.0.0.1" port={gw}
            route "place" {{
                match path="/live.Orders/Place"
                to "orders" operation="live.Orders/Place"
                alert "error-rate" above="50%" for="1m" severity="critical"
            }}
            route "cancel" {{
                match path="/live.Orders/Cancel"
                to "orders" operation="live.Orders/Cancel"
                alert "error-rate" above="50%" for="1m" severity="critical"
            }}
        }}
        "#
    );
    let live = Live::start(&[("mesh.kdl", &spec), ("orders.proto", ORDERS_PROTO)], prom_port);
    let gateway = std::fs::read_to_string(live.out.path().join("envoy/gateway-public.yaml")).unwrap();
    assert!(gateway.contains("envoy.filters.http.grpc_stats"), "no gRPC stats filter:\n{gateway}");
    live.envoy.wait_ready(gw);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let logs = || std::fs::read_to_string(live.storage.path().join("prometheus.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut firing, mut unavailable) = (false, 0.0);
    let mut answers: Vec<(&str, Result<String, String>)> = Vec::new();
    while Instant::now() < deadline && !(firing && unavailable > 0.0) {
        // Both answer HTTP 200: only the gRPC status tells them apart.
        answers.push(("Place", runtime.block_on(grpc_call(gw, "/live.Orders/Place"))));
        answers.push(("Cancel", runtime.block_on(grpc_call(gw, "/live.Orders/Cancel"))));
        std::thread::sleep(Duration::from_millis(100));
        for alert in alerts(prom_port) {
            assert_ne!(alert["labels"]["route"], "place", "the OK method alerted: {alert}");
            if alert["labels"]["alertname"] == "RouteErrorRateHigh" && alert["state"] == "firing" {
                assert_eq!(alert["labels"]["route"], "cancel");
                assert_eq!(alert["labels"]["team"], "team-orders");
                firing = true;
            }
        }
        unavailable =
            query(prom_port, r#"meshc:grpc_responses:rate5m{route="cancel",grpc_status="14"}"#).unwrap_or(0.0);
    }
    // A loaded machine may fail a call now and then; the methods must answer as they do.
    let answered =
        |method: &str, status: &str| answers.iter().filter(|(m, a)| *m == method && a.as_deref() == Ok(status)).count();
    assert!(answered("Place", "0") * 10 >= answers.len() / 2 * 9, "Place did not answer OK: {answers:?}");
    assert!(answered("Cancel", "14") * 10 >= answers.len() / 2 * 9, "Cancel did not answer UNAVAILABLE: {answers:?}");
    assert!(firing, "RouteErrorRateHigh never fired for the UNAVAILABLE method\n{}", logs());
    assert!(unavailable > 0.0, "no UNAVAILABLE responses recorded for route cancel\n{}", logs());
    // The OK method's responses are recorded, none of them as a failure.
    let ok = query(prom_port, r#"meshc:grpc_responses:rate5m{route="place",grpc_status="0"}"#);
    assert!(ok.is_some_and(|r| r > 0.0), "no OK responses recorded for route place\n{}", logs());
    assert_eq!(query(prom_port, r#"meshc:error_ratio:rate5m{route="place"}"#), Some(0.0), "{}", logs());
}

#[test]
fn a_sidecar_counts_its_services_grpc_answers_by_method_and_status_under_the_labels_the_rules_select() {
    let upstream = grpc_upstream();
    let (inbound, admin, metrics) = (support::free_port(), support::free_port(), support::free_port());
    let spec = format!(
        r#"
        monitoring {{
            metrics-port {metrics}
            receiver "hook" webhook="http://127.0.0.1:9/alerts"
        }}
        service "orders" {{
            owner "team-orders"
            address "127.0.0.1" port={upstream}
            sidecar inbound-port={inbound} admin-port={admin}
            api "orders-grpc" kind="grpc" schema="orders.proto"
            slo-exempt reason="test"
        }}
        "#
    );
    let dir = tempfile::tempdir().unwrap();
    support::write_files(dir.path(), &[("mesh.kdl", &spec), ("orders.proto", ORDERS_PROTO)]);
    let configs = support::build_workspace(dir.path(), &dir.path().join("out"));
    let sidecar = configs.iter().find(|p| p.ends_with("envoy/sidecar-orders.yaml")).unwrap();
    support::envoy_validate(sidecar).unwrap();
    let envoy = support::EnvoyProcess::start(sidecar);
    envoy.wait_ready(inbound);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for _ in 0..3 {
        assert_eq!(runtime.block_on(grpc_call(inbound, "/live.Orders/Place")), Ok("0".to_string()));
    }
    assert_eq!(runtime.block_on(grpc_call(inbound, "/live.Orders/Cancel")), Ok("14".to_string()));
    let stats = get(admin, "/stats/prometheus").expect("the admin endpoint serves metrics");
    let series = |method: &str, status: &str| {
        stats
            .lines()
            .find(|l| {
                l.starts_with("envoy_cluster{")
                    && l.contains("grpc_cluster=\"inbound.orders\"")
                    && l.contains("grpc_service=\"live.Orders\"")
                    && l.contains(&format!("grpc_method=\"{method}\""))
                    && l.contains(&format!("grpc_status=\"{status}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    assert_eq!(series("Place", "0").as_deref(), Some("3"), "{stats}");
    assert_eq!(series("Cancel", "14").as_deref(), Some("1"), "{stats}");
}

#[test]
fn objectives_and_alerts_are_checked_against_what_the_proxies_measure() {
    use support::fixture::check;
    check(
        r#"
        //- mesh.kdl
        monitoring {
            receiver "oncall" webhook="http://pager.example.com/hook"
        }
        service "orders" {
            owner "t"
            address "orders.svc" port=8080
            slo "availability" objective="99.9%" window="30d"
            alert "error-rate" above="5%" for="5m" severity="critical"
            alert "error-rate" above="5%" for="15m" severity="warning"
        //                     ^^^^^^^^^^ MESH0112 warning: the warning's threshold
            alert "cert-expiry" below="14d" severity="warning"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0110 warning: can never fire
            calls "cache" idle-timeout="5m" {
                alert "error-rate" above="5%" severity="critical"
        //      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0110 warning: can never fire
            }
        }
        service "cache" {
            owner "t"
            address "cache.svc" port=6379 protocol="redis"
            traffic { outlier-detection; }
        }
        service "search" {
        //      ^^^^^^^^ MESH0113 warning: no `slo` and no `slo-exempt`
            owner "t"
            address "search.svc" port=8080
        }
        gateway "public" {
            listener "http" port=8080
            route "orders" {
                match path-prefix="/orders"
                to "orders"
                timeout "2s"
                alert "latency" percentile="99%" above="2s" severity="critical"
        //                                       ^^^^^^^^^^ MESH0111 warning: not below the 2s timeout
            }
            route "search" {
                match path-prefix="/search"
                to "search"
            }
        }
        "#,
    );
}

#[test]
fn latency_objectives_must_fit_between_the_per_try_timeout_and_the_retries_end() {
    use support::fixture::check;
    check(
        r#"
        //- mesh.kdl
        monitoring {
            receiver "oncall" webhook="http://pager.example.com/hook"
        }
        service "catalog" {
            owner "t"
            address "catalog.svc" port=8080
        }
        gateway "public" {
            listener "http" port=8080
            route "hung" {
                match path-prefix="/hung"
                to "catalog"
                timeout "5s"
                retries 2 per-try-timeout="600ms"
                slo "latency" objective="99%" under="500ms" window="30d"
        //                                    ^^^^^^^^^^^^^ MESH0116 warning: not above the 600ms per-try timeout
            }
            route "capped" {
                match path-prefix="/capped"
                to "catalog"
                timeout "5s"
                retries 1 per-try-timeout="1s"
                slo "latency" objective="99%" under="3s" window="30d"
        //                                    ^^^^^^^^^^ MESH0111 warning: not below the retries' 2025ms
            }
            route "fitting" {
                match path-prefix="/fitting"
                to "catalog"
                timeout "5s"
                retries 1 per-try-timeout="300ms"
                slo "latency" objective="99%" under="500ms" window="30d"
            }
            route "connect-only" {
                match path-prefix="/connect-only"
                to "catalog"
                timeout "5s"
                retries 1 per-try-timeout="600ms" on="connect-failure"
                slo "latency" objective="99%" under="500ms" window="30d"
            }
        }
        "#,
    );
}

#[test]
fn objectives_of_a_grpc_service_and_of_a_call_to_a_grpc_method_are_measured() {
    use support::fixture::check;
    check(
        r#"
        //- mesh.kdl
        monitoring {
            receiver "oncall" webhook="http://pager.example.com/hook"
        }
        service "web" {
            owner "t"
            address "web.svc" port=80
            slo-exempt reason="internal"
            calls "pay" operation="pay.Pay/Charge" timeout="1s" {
                alert "error-rate" above="5%" severity="critical"
            }
        }
        service "pay" {
            owner "t"
            address "pay.svc" port=50051
            api "pay-grpc" kind="grpc" schema="pay.proto"
            slo "availability" objective="99.9%" window="30d"
            alert "error-rate" above="5%" severity="critical"
            traffic { outlier-detection; }
        }

        //- pay.proto
        syntax = "proto3";
        package pay;
        message M {}
        service Pay { rpc Charge(M) returns (M); }
        "#,
    );
}

#[test]
fn misspelt_kinds_unknown_templates_and_reserved_labels_are_errors() {
    use support::fixture::check;
    check(
        r#"
        //- mesh.kdl
        import "std:slo"
        monitoring {
            receiver "oncall" webhook="http://pager.example.com/hook"
            default-receiver "on-call"
        //                   ^^^^^^^^^ MESH0109 error: unknown receiver
        }
        service "orders" {
            owner "t"
            address "orders.svc" port=8080
            slo "availabilty" objective="99.9%" window="30d"
        //      ^^^^^^^^^^^^^ MESH0004 error: unknown kind
            alert policy="std-error-rate-critcal"
        //        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0108 error: unknown alert policy
            alert "error-rate" above="5%" severity="critical" {
                labels severity="low"
        //      ^^^^^^^^^^^^^^^^^^^^^ MESH0004 error: reserved label
            }
        }
        "#,
    );
}

/// Alerts Prometheus would raise as one series: same kind, severity and
/// labels at one place, whatever their thresholds; a label or another
/// severity tells them apart, and another place is another series.
#[test]
fn alerts_of_one_kind_severity_and_labels_at_one_place_are_duplicates() {
    use support::fixture::check;
    check(
        r#"
        //- mesh.kdl
        monitoring {
            receiver "oncall" webhook="http://pager.example.com/hook"
        }
        service "orders" {
            owner "t"
            address "orders.svc" port=8080
            alert "latency" percentile="99%" above="800ms" severity="critical"
            alert "latency" percentile="50%" above="300ms" severity="critical"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0126 error: indistinguishable from the earlier alert
            alert "latency" percentile="50%" above="300ms" severity="critical" { labels quantile="p50"; }
            alert "error-rate" above="5%" severity="critical"
            alert "error-rate" above="1%" severity="warning"
            calls "pay" timeout="2s" {
                alert "error-rate" above="5%" severity="critical"
            }
        }
        service "pay" { owner "t"; address "pay.svc" port=8080; traffic { outlier-detection; }; }
        "#,
    );
}

#[test]
fn consumer_lag_alerts_belong_in_subscribes_and_on_consumers_a_broker_reports() {
    use support::fixture::check;
    check(
        r#"
        //- mesh.kdl
        monitoring {
            receiver "oncall" webhook="http://pager.example.com/hook"
        }
        broker "bus" kind="rabbitmq" {
            address "rabbitmq.svc" port=5672
            metrics "rabbitmq.svc"
        }
        topic "orders" {
            schema "orders.avsc"
            stream broker="bus" { subjects "orders.placed"; }
        }
        topic "audit" {
            schema "orders.avsc"
            stream broker="bus" { subjects "audit.logged"; queue-type "stream"; }
        }
        topic "local" { schema "orders.avsc"; }
        service "billing" {
            owner "t"
            address "billing.svc" port=8080
            publishes "orders"
            publishes "audit"
            publishes "local"
            subscribes "orders" group="billing" {
                retry max-deliveries=3
                dead-letter drop=#true
                alert "consumer-lag" above=1000 for="5m" severity="critical"
                alert "consumer-lag" above=5000 for="5m" severity="warning"
        //                           ^^^^^^^^^^ MESH0112 warning: the warning's threshold
            }
        }
        service "shipping" {
            owner "t"
            address "shipping.svc" port=8080
            subscribes "orders" {
                retry max-deliveries=3
                dead-letter drop=#true
                alert "consumer-lag" above=10 severity="warning"
        //      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0110 warning: can never fire
            }
            subscribes "audit" group="shipping" {
                retry max-deliveries=3
                dead-letter drop=#true
                alert "consumer-lag" above=10 severity="warning"
        //      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0110 warning: can never fire
            }
            subscribes "local" group="shipping" {
                alert "consumer-lag" above=10 severity="warning"
        //      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0110 warning: can never fire
            }
        }
        service "misplaced" {
            owner "t"
            address "misplaced.svc" port=8080
            alert "consumer-lag" above=100 severity="warning"
        //  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0117 error: consumer lag is measured per consumer
            subscribes "orders" group="misplaced" {
                alert "error-rate" above="5%" severity="critical"
        //      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ MESH0117 error: a consumer's alerts watch its lag
                alert "consumer-lag" above=-1 severity="warning"
        //                           ^^^^^^^^ MESH0004 error: invalid value
            }
        }

        //- orders.avsc
        {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
        "#,
    );
}

/// An upstream that accepts connections and never answers: each request
/// sent to it stays in flight until the route's timeout.
fn hung_upstream() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => return,
            }
        }
    });
    (port, handle)
}

#[test]
fn requests_held_in_flight_fire_the_saturation_alert_on_the_series_a_real_envoy_exports() {
    let (slow, _hold) = hung_upstream();
    let (gw, admin, metrics, prom_port) =
        (support::free_port(), support::free_port(), support::free_port(), support::free_port());
    let spec = format!(
        r#"
        monitoring {{
            admin-port {admin}
            metrics-port {metrics}
            receiver "hook" webhook="http://127.0.0.1:9/alerts"
        }}
        service "slow" {{
            owner "team-slow"
            address "127.0.0.1" port={slow}
            slo-exempt reason="test"
            traffic {{ circuit-breaker max-requests=4; }}
        }}
        gateway "public" {{
            listener "http" address="127.0.0.1" port={gw}
            route "slow" {{
                match path-prefix="/"
                to "slow"
                timeout "60s"
                alert "saturation" above="50%" for="1m" severity="warning"
            }}
        }}
        "#
    );
    let live = Live::start(&[("mesh.kdl", &spec)], prom_port);
    // The alert's own expression, as emitted: what it reads must exist.
    let rules = std::fs::read_to_string(live.out.path().join("prometheus/rules/meshc.yml")).unwrap();
    let expr = rules
        .lines()
        .skip_while(|l| !l.contains("alert: RouteSaturationHigh"))
        .find_map(|l| l.trim().strip_prefix("expr: "))
        .unwrap_or_else(|| panic!("no RouteSaturationHigh rule:\n{rules}"))
        .to_string();
    let active = expr.split(" / ").next().unwrap().to_string();
    // Three requests held (75% of max-requests 4) until the alert fires,
    // once the gateway's listener is up.
    support::brokers::wait_for_port(([127, 0, 0, 1], gw).into(), Duration::from_secs(30));
    let senders: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || support::try_http_request(gw, "GET", "/held", &[], b"").ok()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = None;
    let mut firing = false;
    while Instant::now() < deadline && !firing {
        std::thread::sleep(Duration::from_millis(200));
        seen = query(prom_port, &active).or(seen);
        firing = alerts_by(prom_port, "RouteSaturationHigh", "route").iter().any(|(r, s)| r == "slow" && s == "firing");
    }
    let log = std::fs::read_to_string(live.storage.path().join("prometheus.log")).unwrap_or_default();
    assert_eq!(seen, Some(3.0), "`{active}` never read the three requests in flight (read {seen:?})\n{log}");
    assert!(firing, "RouteSaturationHigh never fired on `{expr}`\n{log}");
    drop(live);
    drop(senders);
}
