//! Never again an invalid config: meshes generated from a fixed seed (names
//! bare, dotted, fully qualified and IP addresses; ports 80, 443 and others;
//! REST, gRPC and plain-TCP services, services with a gRPC and a TCP port,
//! a worker that listens nowhere; with and without mutual TLS, versions and
//! traffic splits, retries, a gateway whose routes rewrite paths and hosts,
//! redirect, upgrade to WebSocket, serve `host` blocks or wait without a
//! timeout; with and without tracing to a collector over OTLP gRPC or HTTP)
//! are built, and **every** Envoy config goes through
//! `envoy --mode validate` and every Istio resource through Istio's CRD
//! schemas. A rejection names the seed and prints the spec;
//! fixed, it stays here as a regression case (`REGRESSIONS`).
//!
//! `MESHC_GEN_MESHES=N` builds N meshes instead of the default.

use crate::support;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;

use support::istio_crds::{validate, yaml_documents};
use support::{build_workspace, envoy_validate, write_files};

const OPENAPI: &str = "openapi: 3.0.3\ninfo: {title: items, version: '1'}\npaths:\n  /items:\n    get: {responses: {'200': {description: ok}}}\n    post: {responses: {'201': {description: created}}}\n";
const PROTO: &str = "syntax = \"proto3\";\npackage gen.v1;\nmessage M {}\nservice Items {\n  rpc Get(M) returns (M) { option idempotency_level = NO_SIDE_EFFECTS; }\n  rpc Put(M) returns (M);\n}\n";

/// Seeds that once produced a config an engine refused, kept after the fix
/// (the default seeds already include bare names such as `address "s0"`,
/// whose duplicate virtual host domain Envoy refused before this test).
const REGRESSIONS: &[u64] = &[];

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rest,
    Grpc,
    /// A datastore: one plain-TCP port.
    Tcp,
    /// A gRPC API on port `grpc` and a plain-TCP port `admin`.
    GrpcAndTcp,
}

/// One generated mesh, as the files of its workspace.
pub(crate) fn generate(seed: u64) -> Vec<(String, String)> {
    let mut rng = Rng::new(seed);
    let services = 2 + rng.below(4) as usize;
    let mtls = rng.chance(50);
    let mut mesh = String::from("mesh \"gen\"\nlimits { max-retry-amplification 1000 }\n");
    if mtls {
        mesh.push_str("mtls { mode \"strict\" }\n");
    }
    let kinds: Vec<Kind> = (0..services)
        .map(|_| match rng.below(100) {
            0..35 => Kind::Rest,
            35..70 => Kind::Grpc,
            70..85 => Kind::Tcp,
            _ => Kind::GrpcAndTcp,
        })
        .collect();
    let mut cluster_hosts = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        let name = format!("s{i}");
        let (host, in_cluster) = match rng.below(4) {
            0 => (name.clone(), false),
            1 => (format!("{name}.gen"), false),
            2 => (format!("{name}.gen.svc.cluster.local"), true),
            _ => (format!("127.0.0.{}", i + 1), false),
        };
        cluster_hosts.push(in_cluster);
        let port = match rng.below(4) {
            0 => 80,
            1 => 443,
            2 => 50051,
            _ => 8000 + i as u64,
        };
        let listen = match kind {
            Kind::Rest => format!("address \"{host}\" port={port}\n    api \"http\" kind=\"rest\" schema=\"items.yaml\""),
            Kind::Grpc => format!("address \"{host}\" port={port}\n    api \"grpc\" kind=\"grpc\" schema=\"items.proto\""),
            Kind::Tcp => format!("address \"{host}\" port={port} protocol=\"redis\""),
            Kind::GrpcAndTcp => format!(
                "address \"{host}\"\n    port \"grpc\" {port}\n    port \"admin\" {} protocol=\"tcp\"\n    api \"grpc\" kind=\"grpc\" schema=\"items.proto\" port=\"grpc\"",
                port + 1
            ),
        };
        let _ = writeln!(mesh, "service \"{name}\" {{\n    owner \"team\"\n    {listen}");
        calls(&mut rng, &mut mesh, i, &kinds);
        if matches!(kind, Kind::Tcp | Kind::GrpcAndTcp) {
            // Outlier detection counts connection failures on TCP; a TCP health check probes it.
            mesh.push_str("    traffic { health-check \"tcp\" }\n}\n");
            continue;
        }
        if in_cluster && rng.chance(60) {
            mesh.push_str("    versions {\n        version \"v1\"\n        version \"v2\"\n    }\n");
            mesh.push_str("    traffic {\n        split {\n            to \"v1\" weight=80\n            to \"v2\" weight=20\n        }\n        outlier-detection consecutive-5xx=5\n    }\n");
        } else {
            mesh.push_str("    traffic { outlier-detection consecutive-5xx=5 }\n");
        }
        mesh.push_str("}\n");
    }
    // A worker that listens nowhere and calls the others.
    if rng.chance(50) {
        mesh.push_str("service \"worker\" {\n    owner \"team\"\n");
        calls(&mut rng, &mut mesh, usize::MAX, &kinds);
        mesh.push_str("}\n");
    }
    let mut routes = String::new();
    for (i, _) in kinds.iter().enumerate().filter(|(_, k)| **k == Kind::Rest) {
        let timeout = match rng.below(4) {
            0 => "none".to_string(),
            _ => format!("{}ms", (services + 1) * 1000),
        };
        let mut settings = format!("        to \"s{i}\"\n        timeout \"{timeout}\"\n");
        match rng.below(4) {
            0 => settings.push_str("        rewrite prefix=\"/items/\" host=\"items.gen\"\n"),
            1 => settings.push_str("        rewrite regex=#\"^/s[0-9]+/([a-z]+)/(.*)$\"# with=#\"/\\2/\\1\"#\n"),
            2 => settings.push_str("        websocket\n        idle-timeout \"1s\"\n"),
            _ => {}
        }
        let route = format!("    route \"r{i}\" {{\n        match path-prefix=\"/s{i}\"\n{settings}    }}\n");
        // Some routes serve only some hosts, a block per route.
        if rng.chance(30) {
            let _ = write!(routes, "    host \"s{i}.gen.example\" \"*.s{i}.gen.example\" {{\n{route}    }}\n");
        } else {
            routes.push_str(&route);
        }
        if rng.chance(40) {
            let redirect = match rng.below(3) {
                0 => format!("redirect prefix=\"/s{i}/\" code=301"),
                1 => "redirect scheme=\"https\" port=443 code=308 strip-query=#true".to_string(),
                _ => format!("redirect path=\"/s{i}\" host=\"www.gen.example\" code=302"),
            };
            let _ = write!(
                routes,
                "    route \"old{i}\" {{\n        match path-prefix=\"/old{i}/\"\n        {redirect}\n    }}\n"
            );
        }
    }
    if !routes.is_empty() {
        let _ =
            write!(mesh, "gateway \"edge\" {{\n    listener \"http\" port={}\n{routes}}}\n", 18000 + rng.below(1000));
    }
    // Tracing from a generator of its own, so the meshes above stay what
    // their seeds made them (the regression seeds among them).
    let mut tracing_rng = Rng::new(seed ^ 0x7ACE);
    if tracing_rng.chance(50) {
        let host = ["127.0.0.1", "otel.observability.svc.cluster.local", "otel"][tracing_rng.below(3) as usize];
        let (port, protocol) = if tracing_rng.chance(50) { (4317, "grpc") } else { (4318, "http") };
        let sampling = ["100%", "10%", "0.5%", "0%"][tracing_rng.below(4) as usize];
        let _ = write!(
            mesh,
            "tracing {{\n    sampling \"{sampling}\"\n    collector \"{host}\" port={port} protocol=\"{protocol}\"\n}}\n"
        );
    }
    vec![
        ("mesh.kdl".to_string(), mesh),
        ("items.yaml".to_string(), OPENAPI.to_string()),
        ("items.proto".to_string(), PROTO.to_string()),
    ]
}

/// The calls of service `caller` (`usize::MAX`: the worker, which calls
/// any) to later services only: the call graph stays acyclic, and each
/// caller's timeout outlasts everything behind it. TCP calls take a local
/// port of their own.
fn calls(rng: &mut Rng, mesh: &mut String, caller: usize, kinds: &[Kind]) {
    let first = caller.wrapping_add(1);
    for (j, callee_kind) in kinds.iter().enumerate().skip(first) {
        if !rng.chance(60) {
            continue;
        }
        let local = 20000 + first.min(64) * 64 + j;
        let timeout = (kinds.len() + 1 - first.min(kinds.len())) * 1000;
        let retries = if rng.chance(50) { " { retries 1 on=\"connect-failure\" }" } else { "" };
        let call = match (callee_kind, rng.chance(50)) {
            (Kind::Rest, true) => format!("operation=\"GET /items\" timeout=\"{timeout}ms\"{retries}"),
            (Kind::Rest, false) => format!("operation=\"POST /items\" timeout=\"{timeout}ms\"{retries}"),
            (Kind::Grpc | Kind::GrpcAndTcp, true) => {
                format!("operation=\"gen.v1.Items/Get\" timeout=\"{timeout}ms\"{retries}")
            }
            (Kind::Grpc, false) => format!("operation=\"gen.v1.Items/Put\" timeout=\"{timeout}ms\"{retries}"),
            (Kind::GrpcAndTcp, false) => format!("port=\"admin\" local-port={local} idle-timeout=\"30s\""),
            (Kind::Tcp, _) => format!("local-port={local} idle-timeout=\"{timeout}ms\""),
        };
        let _ = writeln!(mesh, "    calls \"s{j}\" {call}");
    }
}

/// Everything an engine refuses in one mesh's build.
fn rejections(seed: u64) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("ws");
    let files = generate(seed);
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    write_files(&workspace, &refs);
    let compilation = meshc::driver::compile(&workspace);
    if compilation.errors() > 0 {
        let text = meshc::diag::render::render(
            meshc::diag::render::Format::Human,
            &compilation.diagnostics,
            &compilation.sources,
            false,
        );
        return vec![format!("seed {seed}: the generated spec does not check:\n{text}\n{}", files[0].1)];
    }
    let built = build_workspace(&workspace, &dir.path().join("out"));
    let mut failures = Vec::new();
    for path in built.iter().filter(|p| is_under(p, "envoy")) {
        if let Err(e) = envoy_validate(path) {
            failures.push(format!("seed {seed}: envoy rejects {}:\n{e}", path.display()));
        }
    }
    for path in built.iter().filter(|p| is_under(p, "istio")) {
        for resource in yaml_documents(&std::fs::read_to_string(path).unwrap()) {
            if let Err(errors) = validate(&resource) {
                failures.push(format!(
                    "seed {seed}: Istio's CRDs reject {} {}: {}",
                    path.display(),
                    resource["kind"],
                    errors.join("; ")
                ));
            }
        }
    }
    if !failures.is_empty() {
        failures.push(format!("the spec of seed {seed}:\n{}", files[0].1));
    }
    failures
}

fn is_under(path: &Path, folder: &str) -> bool {
    path.parent().and_then(Path::file_name).is_some_and(|f| f == folder)
}

#[test]
fn every_config_of_every_generated_mesh_passes_its_engine() {
    let count = std::env::var("MESHC_GEN_MESHES").ok().and_then(|n| n.parse().ok()).unwrap_or(24u64);
    let seeds: Vec<u64> = REGRESSIONS.iter().copied().chain(1000..1000 + count).collect();
    let failures = Mutex::new(Vec::new());
    let next = Mutex::new(seeds.into_iter());
    // Two workers: Envoy's validation dominates, one process per config.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some(seed) = next.lock().unwrap().next() else { break };
                failures.lock().unwrap().extend(rejections(seed));
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_generator_covers_every_name_form_port_and_feature() {
    let specs: Vec<String> = (1000..1024).map(|seed| generate(seed).swap_remove(0).1).collect();
    let all = specs.join("\n");
    for needle in [
        "address \"s0\" ",
        ".gen\" port=",
        ".gen.svc.cluster.local\"",
        "address \"127.0.0.",
        "port=80\n",
        "port=443\n",
        "port=50051\n",
        "kind=\"rest\"",
        "kind=\"grpc\"",
        "mtls { mode \"strict\" }",
        "split {",
        "retries 1",
        "gateway \"edge\"",
        "timeout \"none\"",
        "rewrite prefix=",
        "rewrite regex=",
        "websocket",
        "host \"s",
        "redirect prefix=",
        "redirect scheme=",
        "redirect path=",
        "protocol=\"grpc\"\n}",
        "protocol=\"http\"\n}",
    ] {
        assert!(all.contains(needle), "no generated mesh has {needle:?}");
    }
    assert!(specs.iter().any(|s| !s.contains("mtls")), "some meshes run without mTLS");
    assert!(specs.iter().any(|s| !s.contains("tracing {")), "some meshes trace nothing");
}
