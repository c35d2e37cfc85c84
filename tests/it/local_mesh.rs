//! `meshc-runtime up` on the shop, built with `meshc certs` and
//! `--cert-dir` into a temporary directory: every proxy in real Envoy on
//! 127.0.0.1, a GraphQL query through the gateway fanning out over mTLS to
//! three services, every rewritten config valid for Envoy, nothing left
//! running after a drop or SIGINT, missing certificates named with the
//! commands that make them, the penetration probes passing on the shop
//! and finding what a weakened copy gives away, and a gateway route's
//! fallback service taking over when the primary's app stops.

use crate::support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meshc_runtime::local_mesh::{LocalMesh, UpOptions};
use serde_json::{json, Value};

use support::{envoy_bin, envoy_validate, http_request_with_body, repo_root};

/// The shop built into a temporary directory with its own certificates.
struct Built {
    dir: tempfile::TempDir,
}

impl Built {
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    /// A proxy's SPIFFE id (`gateway-public`, `sidecar-orders`), as the plan lists it.
    fn identity(&self, proxy: &str) -> String {
        let plan: Value =
            serde_json::from_str(&std::fs::read_to_string(self.out().join("runtime/local-mesh.json")).unwrap())
                .unwrap();
        let proxies = plan["proxies"].as_array().unwrap();
        let entry = proxies.iter().find(|p| p["name"] == proxy).unwrap();
        entry["identity"].as_str().unwrap().to_string()
    }
}

fn meshc(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_meshc")).args(args).env("NO_COLOR", "1").output().unwrap();
    assert!(output.status.success(), "meshc {args:?}:\n{}", String::from_utf8_lossy(&output.stderr));
}

/// `meshc certs` (unless `with_certs` is false) and `meshc build --cert-dir`.
fn build_shop(with_certs: bool) -> Built {
    let built = Built { dir: tempfile::tempdir().unwrap() };
    let shop = repo_root().join("examples/shop");
    let (shop, out, certs) = (shop.to_str().unwrap(), built.out(), built.certs());
    let (out, certs) = (out.to_str().unwrap(), certs.to_str().unwrap());
    if with_certs {
        meshc(&["certs", shop, "--cert-dir", certs]);
    }
    meshc(&["build", shop, "-o", out, "--cert-dir", certs]);
    built
}

/// `--run SERVICE=...`: tests/fixtures/up/json_app.py answering `bodies`
/// (by path prefix) and recording each request into `record`.
fn json_app(record: &Path, bodies: Value) -> String {
    let script = repo_root().join("tests/fixtures/up/json_app.py");
    format!("exec python3 '{}' '{}' '{}'", script.display(), record.display(), bodies)
}

/// What an app received, without the copies catalog's `mirror "v3"
/// percent=10` sends (named `HOST-shadow`) and the callers' health checks
/// (`user-agent: Envoy/HC`), which arrive at random.
fn requests(record: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let all = text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap());
    all.filter(|r| !r["headers"]["host"].as_str().is_some_and(|h| h.contains("-shadow")))
        .filter(|r| r["headers"]["user-agent"] != "Envoy/HC")
        .collect()
}

/// `up`'s options: the real Envoy, these apps, each issuer's key made for the run.
pub(crate) fn up_options(commands: BTreeMap<String, String>) -> UpOptions {
    UpOptions { envoy: envoy_bin(), commands, issuer_keys: BTreeMap::new() }
}

/// One mesh at a time: each is a dozen Envoys, and runs started side by
/// side could pick the same free port between finding and binding it.
pub(crate) fn one_mesh() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn gateway_port(mesh: &LocalMesh) -> u16 {
    let (_, addr) =
        mesh.gateways().iter().find(|(name, _)| name == "gateway-public.http").expect("the gateway's http listener");
    addr.port()
}

/// Whether a process exists (signal 0 checks without signalling).
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[test]
fn a_graphql_query_through_the_gateway_fans_out_over_mtls_to_catalog_inventory_and_orders() {
    let built = build_shop(true);
    let _one = one_mesh();
    let records = tempfile::tempdir().unwrap();
    let (catalog, orders) = (records.path().join("catalog.jsonl"), records.path().join("orders.jsonl"));
    let commands = BTreeMap::from([
        (
            "catalog".to_string(),
            json_app(
                &catalog,
                json!({"/products": [{"id": "42", "name": "Espresso cup", "price_cents": 1250}], "/healthz": {}}),
            ),
        ),
        ("orders".to_string(), json_app(&orders, json!({"/orders/": {"id": "7", "status": "paid"}}))),
    ]);
    let mesh = LocalMesh::start(&built.out(), &up_options(commands)).unwrap();
    let pids = mesh.pids();
    let query = r#"{ products { id name } stock(productId: "42") { available } order(orderId: "7") { status } }"#;
    let body = json!({ "query": query }).to_string();
    let response = http_request_with_body(
        gateway_port(&mesh),
        "POST",
        "/graphql",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.json(),
        json!({"data": {
            "products": [{"id": "42", "name": "Espresso cup"}],
            "stock": {"available": 7},
            "order": {"status": "paid"}
        }})
    );
    // The GraphQL gateway is storefront's app: its calls leave through
    // storefront's sidecar, which presents storefront's certificate to the
    // callee's sidecar; that one names it in x-forwarded-client-cert.
    let storefront = built.identity("sidecar-storefront");
    for (record, path) in [(&catalog, "/products"), (&orders, "/orders/7")] {
        let seen = requests(record);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0]["path"], path);
        let xfcc = seen[0]["headers"]["x-forwarded-client-cert"].as_str().unwrap_or_default();
        assert!(xfcc.contains(&format!("URI={storefront}")), "x-forwarded-client-cert {xfcc:?} names no {storefront}");
    }
    // A route of the gateway to one service: the catalog's sidecar names the gateway.
    let products = support::http_request(gateway_port(&mesh), "GET", "/products", &[]);
    let catalogue = json!([{"id": "42", "name": "Espresso cup", "price_cents": 1250}]);
    assert_eq!((products.status, products.json()), (200, catalogue));
    let seen = requests(&catalog);
    let xfcc = seen[1]["headers"]["x-forwarded-client-cert"].as_str().unwrap_or_default();
    let gateway = built.identity("gateway-public");
    assert!(xfcc.contains(&format!("URI={gateway}")), "x-forwarded-client-cert {xfcc:?} names no {gateway}");
    assert!(pids.len() >= 14, "12 sidecars, the gateway and 2 apps: {pids:?}");
    assert!(pids.iter().all(|p| alive(*p)));
    let run_dir = mesh.run_dir().to_path_buf();
    drop(mesh);
    assert_stopped(&pids, &run_dir, "after the drop");
}

/// None of `pids` runs any more and the run directory is gone.
fn assert_stopped(pids: &[u32], run_dir: &Path, when: &str) {
    let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running {when}: {left:?}");
    assert!(!run_dir.exists(), "the run directory {} is left {when}", run_dir.display());
}

#[test]
fn every_rewritten_config_passes_envoy_validate() {
    let built = build_shop(true);
    let _one = one_mesh();
    let mesh = LocalMesh::start(&built.out(), &up_options(BTreeMap::new())).unwrap();
    let configs: Vec<PathBuf> = std::fs::read_dir(mesh.run_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert_eq!(configs.len(), 13, "the gateway and 12 sidecars: {configs:?}");
    for config in configs {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        let listeners = doc["static_resources"]["listeners"].as_sequence().cloned().unwrap_or_default();
        for address in listeners.iter().map(|l| &l["address"]).chain([&doc["admin"]["address"]]) {
            let host = address["socket_address"]["address"].as_str();
            assert_eq!(host, Some("127.0.0.1"), "{}: {address:?}", config.display());
        }
        envoy_validate(&config).unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    }
}

#[test]
fn sigint_stops_every_envoy_and_app_of_the_run() {
    let built = build_shop(true);
    let _one = one_mesh();
    let runtime = Path::new(env!("CARGO_BIN_EXE_meshc")).with_file_name("meshc-runtime");
    assert!(runtime.is_file(), "{} is built with the workspace (cargo test --workspace)", runtime.display());
    let record = built.dir.path().join("catalog.jsonl");
    let mut child = Command::new(runtime)
        .arg("up")
        .arg(built.out())
        .arg("--run")
        .arg(format!("catalog={}", json_app(&record, json!({}))))
        .env("MESHC_ENVOY", envoy_bin())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Some(line) = lines.next().map(|l| l.unwrap()) {
        let done = line.contains("Ctrl-C stops everything");
        printed.push(line);
        if done || Instant::now() > deadline {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(text.contains("gateway-public.http: http://127.0.0.1:"), "{text}");
    let pids: Vec<u32> = printed
        .iter()
        .filter_map(|l| l.split("pid ").nth(1))
        .map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 14, "13 proxies and the catalog's app:\n{text}");
    let run_dir = printed.iter().find_map(|l| l.strip_prefix("configs and logs in ")).unwrap();
    let run_dir = PathBuf::from(run_dir.split(';').next().unwrap());
    // SAFETY: kill(2) on the child's pid.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "up exited with {status}");
    assert_stopped(&pids, &run_dir, "after SIGINT");
}

#[test]
fn missing_certificates_are_named_with_the_commands_that_make_them() {
    let built = build_shop(false);
    let options = up_options(BTreeMap::new());
    let error = LocalMesh::start(&built.out(), &options).err().expect("no certificates, no mesh");
    let certs = built.certs();
    let certs = certs.display();
    assert!(error.contains(&format!("the first {certs}/")), "{error}");
    assert!(error.contains(&format!("meshc certs WORKSPACE --cert-dir {certs}")), "{error}");
    assert!(
        error.contains(&format!("meshc build WORKSPACE -o {} --cert-dir {certs}", built.out().display())),
        "{error}"
    );
}

/// The plan lists a proxy for exactly the Envoy configs the build writes,
/// and each listener it names is in that config, for every example.
#[test]
fn the_plan_names_every_envoy_config_and_only_listeners_they_have() {
    for example in ["shop", "online-boutique", "sock-shop"] {
        let compilation = meshc::driver::compile(&repo_root().join("examples").join(example));
        let artifacts = compilation.emit().unwrap_or_else(|_| panic!("{example} builds"));
        let text = |path: &str| artifacts.iter().find(|a| a.path == path).map(|a| a.contents.clone());
        let plan: Value = serde_json::from_str(&text("runtime/local-mesh.json").unwrap()).unwrap();
        let mut planned: Vec<String> =
            plan["proxies"].as_array().unwrap().iter().map(|p| p["config"].as_str().unwrap().to_string()).collect();
        planned.sort();
        let mut written: Vec<String> = artifacts
            .iter()
            .filter(|a| a.path.starts_with("envoy/gateway-") || a.path.starts_with("envoy/sidecar-"))
            .map(|a| a.path.clone())
            .collect();
        written.sort();
        assert_eq!(planned, written, "{example}");
        for proxy in plan["proxies"].as_array().unwrap() {
            let config: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(&text(proxy["config"].as_str().unwrap()).unwrap()).unwrap();
            let listeners = config["static_resources"]["listeners"].as_sequence().cloned().unwrap_or_default();
            let names: Vec<&str> = listeners.iter().filter_map(|l| l["name"].as_str()).collect();
            for listener in proxy["listeners"].as_array().unwrap() {
                let name = listener["name"].as_str().unwrap();
                // A sidecar without HTTP or gRPC calls has no outbound listener.
                if listener["role"] == "outbound" && !names.contains(&name) {
                    continue;
                }
                assert!(names.contains(&name), "{example}: {} has no listener `{name}`: {names:?}", proxy["config"]);
            }
        }
    }
}

/// `up --contracts` with the end users' tokens the run signs: the
/// gateway's routes enter at its listener as they take them (a prefix
/// rewrite undone) with a token meeting each route's claims and roles, and
/// accounts' call to loyalty has the customer's token exchanged at the
/// run's STS for one loyalty's sidecar accepts. Nothing fails; without a
/// token the gateway still refuses.
#[test]
fn routes_and_exchanged_calls_pass_with_tokens_the_run_signs() {
    use meshc_runtime::contracts::Outcome;
    let built = build_shop(true);
    let _one = one_mesh();
    let mesh = LocalMesh::start(&built.out(), &up_options(BTreeMap::new())).unwrap();
    let (results, not_run) =
        meshc_runtime::local_mesh::contracts::run_through(&mesh, &built.out(), Duration::from_secs(10)).unwrap();
    assert!(not_run.is_empty(), "{not_run:?}");
    let outcome = |subject: &str, id: &str| -> Outcome {
        let plan = results.iter().find(|r| r.subject == subject).unwrap_or_else(|| panic!("no plan of {subject}"));
        let case = plan.cases.iter().find(|c| c.id == id);
        case.unwrap_or_else(|| panic!("no {id}: {:?}", plan.cases.iter().map(|c| &c.id).collect::<Vec<_>>()))
            .outcome
            .clone()
    };
    for (subject, id) in [
        ("gateway:public", "gateway:public/get-order->orders GET /orders/{orderId} #a paid order"),
        ("gateway:public", "gateway:public/get-order->orders GET /orders/{orderId}"),
        ("gateway:public", "gateway:public/admin-orders->orders GET /orders/{orderId}"),
        ("gateway:public", "gateway:public/list-products->catalog GET /products #the catalogue"),
        ("accounts", "accounts->loyalty GET /points"),
    ] {
        assert_eq!(outcome(subject, id), Outcome::Passed, "{id}");
    }
    for result in &results {
        for case in &result.cases {
            assert!(!matches!(case.outcome, Outcome::Failed(_)), "{}: {:?}", case.id, case.outcome);
        }
    }
    let exchanges = mesh.sts().expect("the shop exchanges tokens").exchanges();
    assert!(exchanges.iter().any(|e| e.audience.as_deref() == Some("loyalty") && e.status == 200), "{exchanges:?}");
    let anonymous = support::http_request(gateway_port(&mesh), "GET", "/orders/o-1001", &[]);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
}

/// `up --contracts`: orders' plan leaves from orders' sidecar and reaches
/// the mocks of catalog (REST) and payments (gRPC) over mTLS. Then the
/// deployed rule drifts from the spec (payments' proxy admits another
/// identity than orders', which `meshc check` cannot see): the same
/// interactions fail with the PERMISSION_DENIED payments' sidecar answers,
/// each named, while catalog's still pass.
#[test]
fn contracts_run_through_the_sidecars_and_a_call_the_deployed_authorization_denies_fails_named() {
    let built = build_shop(true);
    let _one = one_mesh();
    let run = |built: &Built| {
        let mesh = LocalMesh::start(&built.out(), &up_options(BTreeMap::new())).unwrap();
        let (results, not_run) =
            meshc_runtime::local_mesh::contracts::run_through(&mesh, &built.out(), Duration::from_secs(10)).unwrap();
        assert!(not_run.is_empty(), "{not_run:?}");
        let orders = results.into_iter().find(|r| r.subject == "orders").expect("orders' plan ran");
        let of = |provider: &str| -> Vec<_> {
            orders.cases.iter().filter(|c| c.id.starts_with(&format!("orders->{provider} "))).cloned().collect()
        };
        (of("catalog"), of("payments"))
    };
    let passed = |cases: &[meshc_runtime::contracts::CaseResult]| {
        assert!(!cases.is_empty());
        for case in cases {
            assert_eq!(case.outcome, meshc_runtime::contracts::Outcome::Passed, "{}", case.id);
        }
    };
    let (catalog, payments) = run(&built);
    passed(&catalog);
    passed(&payments);

    let sidecar = built.out().join("envoy/sidecar-payments.yaml");
    let config = std::fs::read_to_string(&sidecar).unwrap();
    let orders = built.identity("sidecar-orders");
    assert!(config.contains(&orders), "payments' RBAC names {orders}");
    std::fs::write(&sidecar, config.replace(&orders, &format!("{orders}-retired"))).unwrap();
    let (catalog, payments) = run(&built);
    passed(&catalog);
    assert!(!payments.is_empty());
    for case in &payments {
        let meshc_runtime::contracts::Outcome::Failed(mismatches) = &case.outcome else {
            panic!("{} passed although payments' proxy no longer admits orders", case.id)
        };
        let denied = mismatches
            .iter()
            .any(|m| m.path == "status" && m.actual.as_deref().is_some_and(|a| a.starts_with("7 (PermissionDenied")));
        assert!(denied, "{}: {mismatches:?}", case.id);
    }
}

/// The shop's penetration probes (`probes/plan.json`) against its own mesh:
/// every one passes. Then the same plan against a weakened copy (get-order
/// made public, payments allowing accounts too): the findings name exactly
/// the spec lines the copy weakened, and the runner's JUnit and SARIF
/// reports place them there.
#[test]
fn the_shops_probes_pass_and_a_weakened_copy_yields_findings_at_the_weakened_lines() {
    use meshc_runtime::local_mesh::probes;
    use meshc_runtime::probe::{report, Verdict};

    let built = build_shop(true);
    let _one = one_mesh();
    let plan = probes::load(&built.out().join("probes/plan.json")).unwrap();
    let run = |out: &Path| {
        let mesh = LocalMesh::start(out, &up_options(BTreeMap::new())).unwrap();
        probes::run_through(&mesh, &plan)
    };
    let results = run(&built.out());
    let failed: Vec<_> =
        results.iter().filter(|r| matches!(r.verdict, Verdict::Finding(_) | Verdict::Error(_))).collect();
    assert!(failed.is_empty(), "{}", report::summary(&results));
    let kinds: std::collections::BTreeSet<_> = results.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds.len(), 5, "every kind of probe is derived from the shop: {kinds:?}");

    // The weakened copy, built with the same certificates.
    let weak = tempfile::tempdir().unwrap();
    let shop = weak.path().join("shop");
    support::copy_tree(&repo_root().join("examples/shop"), &shop);
    let edit = |file: &str, from: &str, to: &str| {
        let path = shop.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} holds {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "gateway.kdl",
        "        auth \"shop-customers\" {\n            require-claim \"scope\" contains=\"orders:read\"\n            claim-to-header \"sub\" \"x-customer-id\"\n        }\n        timeout \"1s\"\n        // `meshc-runtime up --contracts`",
        "        public reason=\"weakened\"\n        timeout \"1s\"\n        // `meshc-runtime up --contracts`",
    );
    edit("services/payments.kdl", "allow \"orders\" {", "allow \"orders\" \"accounts\" {");
    let out = weak.path().join("out");
    let certs = built.certs();
    meshc(&["build", shop.to_str().unwrap(), "-o", out.to_str().unwrap(), "--cert-dir", certs.to_str().unwrap()]);
    let results = run(&out);
    let mut findings: Vec<(String, String)> = results
        .iter()
        .filter_map(|r| match &r.verdict {
            Verdict::Finding(_) => Some((r.id.clone(), r.source.clone())),
            Verdict::Passed | Verdict::Skipped(_) => None,
            Verdict::Error(e) => panic!("{}: {e}", r.id),
        })
        .collect();
    findings.sort();
    let get_order =
        |attack: &str, line: u32| (format!("gateway:public/get-order {attack}"), format!("gateway.kdl:{line}"));
    let mut expected = vec![
        get_order("alg-none", 170),
        get_order("expired-token", 170),
        get_order("forged-kid", 170),
        get_order("missing-claim:scope", 171),
        get_order("no-token", 170),
        get_order("other-audience", 170),
        get_order("other-issuer", 170),
        ("service:payments other-workload:accounts".to_string(), "services/payments.kdl:23".to_string()),
    ];
    expected.sort();
    assert_eq!(findings, expected, "{}", report::summary(&results));
    let junit = report::junit_xml(&plan.mesh, &results);
    assert!(junit.contains("failures=\"8\""), "{junit}");
    let sarif = report::sarif(&results);
    let located: Vec<String> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let at = &r["locations"][0]["physicalLocation"];
            format!("{}:{}", at["artifactLocation"]["uri"].as_str().unwrap(), at["region"]["startLine"])
        })
        .collect();
    assert!(located.contains(&"services/payments.kdl:23".to_string()), "{located:?}");
    assert_eq!(located.iter().filter(|l| *l == "gateway.kdl:170").count(), 6, "{located:?}");
}

/// A `meshc-runtime up` in the background, stopped (SIGINT) when dropped.
struct Background(std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the child's pid.
        unsafe {
            libc::kill(i32::try_from(self.0.id()).unwrap_or(0), libc::SIGINT);
        }
        let _ = self.0.wait();
    }
}

/// The summary lines a probe run prints: each finding, error and skipped probe, and the totals.
fn probe_summary(stdout: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stdout);
    let prefixes = ["FINDING ", "ERROR ", "skipped ", "probes: "];
    text.lines().filter(|l| prefixes.iter().any(|p| l.starts_with(p))).map(str::to_string).collect()
}

/// `meshc-runtime probe` against a mesh `up` runs in the background, as
/// against staging: given the gateway's and sidecars' addresses (from what
/// `up` prints), the workloads' certificates and the issuers' keys (which
/// `up --issuer-key` signs with too), it reaches the verdicts `up --probe`
/// reaches, and writes its reports.
#[test]
fn standalone_probes_against_a_running_mesh_reach_the_verdicts_of_up_probe() {
    let built = build_shop(true);
    let _one = one_mesh();
    let runtime = Path::new(env!("CARGO_BIN_EXE_meshc")).with_file_name("meshc-runtime");
    assert!(runtime.is_file(), "{} is built with the workspace (cargo test --workspace)", runtime.display());
    let local: Value =
        serde_json::from_str(&std::fs::read_to_string(built.out().join("runtime/local-mesh.json")).unwrap()).unwrap();
    let mut keys = Vec::new();
    for (index, issuer) in local["issuers"].as_array().unwrap().iter().enumerate() {
        let path = built.dir.path().join(format!("issuer-{index}.pem"));
        std::fs::write(&path, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        keys.push("--issuer-key".to_string());
        keys.push(format!("{}={}", issuer["issuer"].as_str().unwrap(), path.display()));
    }
    assert!(!keys.is_empty(), "the shop's routes check tokens of some issuer");

    let child = Command::new(&runtime)
        .arg("up")
        .arg(built.out())
        .args(&keys)
        .env("MESHC_ENVOY", envoy_bin())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = Background(child);
    let mut lines = BufReader::new(up.0.stdout.take().unwrap()).lines();
    let mut addresses = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Some(line) = lines.next().map(|l| l.unwrap()) {
        // `gateway-public.http: http://127.0.0.1:PORT/`, `sidecar-payments.grpc inbound: 127.0.0.1:PORT`.
        if let Some((name, url)) = line.strip_prefix("gateway-").and_then(|l| l.split_once(": http://")) {
            let gateway = name.split('.').next().unwrap();
            addresses.push(("--gateway", format!("{gateway}={}", url.trim_end_matches('/'))));
        }
        if let Some((name, addr)) = line.strip_prefix("sidecar-").and_then(|l| l.split_once(" inbound: ")) {
            let service = name.split('.').next().unwrap();
            addresses.push(("--service", format!("{service}={addr}")));
        }
        if line.contains("Ctrl-C stops everything") || Instant::now() > deadline {
            break;
        }
    }
    // One address per gateway and per service: their first listener, as `up --probe` takes.
    addresses.dedup_by(|a, b| a.0 == b.0 && a.1.split('=').next() == b.1.split('=').next());
    assert!(addresses.iter().any(|(flag, _)| *flag == "--service"), "{addresses:?}");
    let reports = tempfile::tempdir().unwrap();
    let (junit, sarif) = (reports.path().join("probes.xml"), reports.path().join("probes.sarif"));
    let mut standalone = Command::new(&runtime);
    standalone.arg("probe").arg("--plan").arg(built.out().join("probes/plan.json"));
    for (flag, value) in &addresses {
        standalone.arg(flag).arg(value);
    }
    let standalone = standalone
        .arg("--cert-dir")
        .arg(built.certs())
        .args(&keys)
        .arg("--junit")
        .arg(&junit)
        .arg("--sarif")
        .arg(&sarif)
        .output()
        .unwrap();
    drop(up);
    let summary = probe_summary(&standalone.stdout);
    assert!(standalone.status.success(), "{summary:#?}\n{}", String::from_utf8_lossy(&standalone.stderr));
    let totals = summary.last().unwrap();
    assert!(totals.contains(" passed, 0 findings, 0 errors"), "{totals}");
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(junit.contains("failures=\"0\" errors=\"0\""), "{junit}");
    let sarif: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"], json!([]));

    let through_up = Command::new(&runtime)
        .arg("up")
        .arg(built.out())
        .arg("--probe")
        .args(&keys)
        .env("MESHC_ENVOY", envoy_bin())
        .output()
        .unwrap();
    assert!(through_up.status.success(), "{}", String::from_utf8_lossy(&through_up.stderr));
    assert_eq!(summary, probe_summary(&through_up.stdout), "standalone, then `up --probe`");
}

/// A gateway route with a fallback service under `up`, over mTLS: the
/// aggregate cluster's members are clusters like any other, so the run
/// moves them onto the primary's and the fallback's sidecars. While the
/// primary's app runs it answers; once it is stopped, its health checks
/// (through its sidecar) fail and the fallback's app answers instead.
#[test]
fn under_up_a_gateway_route_falls_back_when_the_primarys_app_stops() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    support::write_files(
        &ws,
        &[(
            "mesh.kdl",
            r#"
mtls { mode "strict" }
gateway "edge" {
    listener "http" port=8080
    route "recommendations" {
        match path-prefix="/recommendations/"
        to "recommendations"
        timeout "2s"
        fallback "recommendations-static"
    }
}
service "recommendations" {
    owner "team-recs"
    address "recommendations.shop.svc.cluster.local" port=8080
    traffic { health-check "http" path="/healthz" interval="200ms" timeout="100ms" healthy=1 unhealthy=1; }
}
service "recommendations-static" {
    owner "team-recs"
    address "recommendations-static.shop.svc.cluster.local" port=8080
    traffic { outlier-detection; }
}
"#,
        )],
    );
    let (out, certs) = (dir.path().join("out"), dir.path().join("certs"));
    let (ws, out_arg, certs_arg) = (ws.to_str().unwrap(), out.to_str().unwrap(), certs.to_str().unwrap());
    meshc(&["certs", ws, "--cert-dir", certs_arg]);
    meshc(&["build", ws, "-o", out_arg, "--cert-dir", certs_arg]);
    let _one = one_mesh();
    let (live, fallback) = (dir.path().join("live.jsonl"), dir.path().join("static.jsonl"));
    let commands = BTreeMap::from([
        (
            "recommendations".to_string(),
            json_app(&live, json!({"/recommendations/": {"items": ["live"]}, "/healthz": {}})),
        ),
        ("recommendations-static".to_string(), json_app(&fallback, json!({"/recommendations/": {"items": []}}))),
    ]);
    let mesh = LocalMesh::start(&out, &up_options(commands)).unwrap();
    let gateway = mesh.gateway_listener("edge").expect("the gateway's listener").port();
    let get = || support::http_request(gateway, "GET", "/recommendations/c-7", &[]);
    let until = |items: Value| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let response = get();
            if response.status == 200 && response.json() == json!({ "items": items }) {
                return;
            }
            assert!(Instant::now() < deadline, "never {items}: last {} {}", response.status, response.body);
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The gateway may start before the primary's sidecar: its first health checks can fail.
    until(json!(["live"]));
    let before = requests(&fallback).len();
    for _ in 0..5 {
        assert_eq!(get().json(), json!({"items": ["live"]}));
    }
    assert_eq!(requests(&fallback).len(), before, "a healthy primary takes every request");
    let primary = mesh.rows().iter().find(|r| r.kind == "app" && r.name == "recommendations").unwrap();
    let pid = primary.detail.trim_start_matches("pid ").split(',').next().unwrap().to_string();
    let killed = Command::new("kill").arg(&pid).status().unwrap();
    assert!(killed.success(), "kill {pid}");
    until(json!([]));
    for _ in 0..5 {
        assert_eq!(get().json(), json!({"items": []}));
    }
    // The fallback's sidecar names the gateway: the fallback cluster has the gateway's certificate too.
    let seen = requests(&fallback);
    let xfcc = seen[0]["headers"]["x-forwarded-client-cert"].as_str().unwrap_or_default();
    assert!(xfcc.contains("/sa/istio-ingressgateway-service-account"), "{xfcc:?}");
}

/// Under `up` with no commands, catalog is served by its contract mock,
/// which answers its HTTP health check (`/healthz`): the gateway's
/// catalog hosts turn healthy instead of being reached only through
/// Envoy's panic routing.
#[test]
fn under_up_the_catalog_mock_passes_the_gateways_health_checks() {
    let built = build_shop(true);
    let _one = one_mesh();
    let options = up_options(BTreeMap::new());
    let mesh = LocalMesh::start(&built.out(), &options).unwrap();
    let row = mesh.rows().iter().find(|r| r.kind == "proxy" && r.name == "gateway-public").unwrap();
    let admin: std::net::SocketAddr =
        row.detail.trim_start_matches("admin ").split(',').next().unwrap().parse().unwrap();
    // `CLUSTER::HOST::health_flags::FLAGS` for each of the gateway's catalog hosts.
    let catalog_flags = || {
        let clusters = support::http_request(admin.port(), "GET", "/clusters", &[]).body;
        let flags: Vec<String> = clusters
            .lines()
            .filter(|l| l.starts_with("catalog") && l.contains("::health_flags::"))
            .map(str::to_string)
            .collect();
        flags
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let flags = catalog_flags();
        assert!(!flags.is_empty(), "the gateway has no catalog hosts");
        if flags.iter().all(|l| l.ends_with("::healthy")) {
            break;
        }
        if Instant::now() >= deadline {
            let stats = support::http_request(admin.port(), "GET", "/stats?filter=catalog.*health_check", &[]).body;
            panic!("catalog's hosts never turned healthy: {flags:#?}\n{stats}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let products = support::http_request(gateway_port(&mesh), "GET", "/products", &[]);
    assert_eq!(products.status, 200, "{}", products.body);
}
