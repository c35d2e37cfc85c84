//! Synthetic meshes at scale: `cargo bench -p meshc --bench synthetic`.
//!
//! For each size N (services) the parent process generates a workspace in a
//! temporary directory:
//!
//! - `services/group-GGG.kdl`: 100 services per file, imported by glob from
//!   `mesh.kdl`; each service has an owner, an address, three APIs, 5 calls
//!   to other services naming operations their schemas really define, and an
//!   `authorization` admitting exactly its callers' operations and its route
//!   (the mesh runs strict mTLS);
//! - `gateways/gw-GGG.kdl`: one gateway per 100 services, one route to each of
//!   them (REST and gRPC alternating, some with their own error format);
//! - `schemas/common.yaml` (OpenAPI) and `schemas/health.proto`, shared by every
//!   service (so parsed once however many use them), plus `schemas/group-GGG.proto`
//!   per 100-service group with one distinct gRPC service per service;
//! - `topics/topics-GGG.kdl`: event topics (2 per service, at most
//!   [`TOPICS`]), 100 per file, each with [`VERSIONS`] schema versions in
//!   `events/` (four in five Avro, the rest JSON Schema with closed content
//!   models; every fourth Avro topic `full-transitive`, the others the
//!   default `backward`), published by one service and read by
//!   [`CONSUMERS`] others at older versions (Avro: 4, 3, 2 of 5; JSON
//!   Schema: the producer writes 4, consumers read 5), so the compatibility
//!   passes compare every version pair their modes and readers ask for.
//!
//! It then re-executes itself (`current_exe()`) once per measurement with
//! `MESHC_BENCH_CHILD` set, so each child's peak RSS (VmHWM) belongs to one
//! size alone. A child compiles once (asserting zero errors and warnings, so
//! the benchmark measures real work) and emits, reads VmHWM, then times the
//! pipeline best-of-R and each layer separately (load+parse, lower, schemas,
//! checks, emit — as `meshc::driver` chains them) and each backend alone
//! (with the bytes it writes), and prints a `RESULT` line.
//! The parent also times `meshc build` end to end with the bench-profile CLI
//! binary (process start, compile, emit, atomic write of the output tree).
//!
//! Environment: `MESHC_BENCH_SIZES=1000,10000` (default), `MESHC_BENCH_REPEAT=3`,
//! `MESHC_BENCH_KEEP=<dir>` to keep the generated workspaces in `<dir>/<n>`.
//! Without `--bench` (as under `cargo test --benches`) it runs a quick smoke
//! pass at N=200.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use meshc::base::fs::DiskFs;
use meshc::base::Sources;
use meshc::diag::Sink;

#[path = "common/mod.rs"]
mod common;
use common::*;

const GROUP: usize = 100;
const CALLS: usize = 5;
/// Event topics at most (2 per service below that).
const TOPICS: usize = 2_000;
/// Schema versions per topic.
const VERSIONS: usize = 5;
/// Consumers per topic.
const CONSUMERS: usize = 3;

fn topic_count(n: usize) -> usize {
    (2 * n).min(TOPICS)
}

/// JSON Schema topics; the others are Avro.
fn json_topic(t: usize) -> bool {
    t % 5 == 4
}

/// The consumers of topic `t` (distinct from its producer, `t % n`), with
/// the version each reads.
fn consumers(t: usize, n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..CONSUMERS).map(move |k| ((t + 1 + 13 * k) % n, if json_topic(t) { VERSIONS } else { VERSIONS - 1 - k }))
}

/// Version `v` (1-based) of topic `t`'s schema: each version adds an
/// optional field, so the history is fully (transitively) compatible.
fn event_schema(t: usize, v: usize) -> String {
    if json_topic(t) {
        let mut props = String::from(
            r#""id": {"type": "string"}, "amount": {"type": "integer", "minimum": 0}, "items": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["sku"], "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}}}}"#,
        );
        for j in 2..=v {
            write!(props, r#", "extra{j}": {{"type": "string", "maxLength": 64}}"#).unwrap();
        }
        format!(
            "{{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\", \"title\": \"Topic{t}\", \"type\": \"object\", \"additionalProperties\": false, \"required\": [\"id\", \"amount\"], \"properties\": {{{props}}}}}\n"
        )
    } else {
        let mut fields = String::from(
            r#"{"name": "id", "type": "string"}, {"name": "amount", "type": "long"}, {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [{"name": "sku", "type": "string"}, {"name": "quantity", "type": "int"}]}}}, {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"], "default": "NEW"}}, {"name": "placedAt", "type": {"type": "long", "logicalType": "timestamp-millis"}}"#,
        );
        for j in 2..=v {
            write!(fields, r#", {{"name": "extra{j}", "type": ["null", "string"], "default": null}}"#).unwrap();
        }
        format!(
            "{{\"type\": \"record\", \"name\": \"Event\", \"namespace\": \"synth.t{t}\", \"fields\": [{fields}]}}\n"
        )
    }
}

fn topic_name(t: usize) -> String {
    format!("topic-{t:04}")
}

// ----------------------------------------------------------- generator ----

struct Generated {
    spec_bytes: usize,
    spec_files: usize,
    schema_bytes: usize,
    schema_files: usize,
}

/// One operation of service `j` (`k` picks which), as the spec writes it.
fn operation(j: usize, k: usize) -> String {
    match k % 4 {
        0 | 2 => {
            format!("{}.{}/{}", proto_package(j / GROUP), proto_service(j), GRPC_METHODS[(j + k) % GRPC_METHODS.len()])
        }
        1 => {
            let (m, p) = REST_OPS[(j + k) % REST_OPS.len()];
            // Parameter names differ from the schema's on purpose: they match by shape.
            format!("{m} {}", p.replace("{itemId}", "{id}"))
        }
        _ => "synth.health.v1.Health/Check".to_string(),
    }
}

/// The operation of service `i`'s gateway route (gateway of group `g`).
fn route_operation(i: usize, g: usize) -> String {
    if i.is_multiple_of(2) {
        let (m, p) = REST_OPS[i % REST_OPS.len()];
        format!("{m} {p}")
    } else {
        format!("{}.{}/Get", proto_package(g), proto_service(i))
    }
}

fn generate(dir: &Path, n: usize) -> Generated {
    let groups = n.div_ceil(GROUP);
    for sub in ["services", "gateways", "schemas", "topics", "events"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let mut spec = Vec::new(); // (path, text)
    let mut schemas = Vec::new();

    spec.push((
        "mesh.kdl".to_string(),
        "// Synthetic mesh generated by compiler/benches/synthetic.rs.\nmesh \"synthetic\"\n\nmtls {\n    mode \"strict\"\n    trust-domain \"synthetic.example\"\n}\n\nimport \"services/*.kdl\"\nimport \"gateways/*.kdl\"\nimport \"topics/*.kdl\"\n".to_string(),
    ));

    // Shared schemas.
    let mut yaml = String::from("openapi: 3.0.3\ninfo:\n  title: Common\n  version: 1.0.0\npaths:\n");
    let mut by_path: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (m, p) in REST_OPS {
        by_path.entry(p).or_default().push(m);
    }
    for (path, methods) in &by_path {
        writeln!(yaml, "  {path}:").unwrap();
        for m in methods {
            let m = m.to_ascii_lowercase();
            writeln!(
                yaml,
                "    {m}:\n      operationId: {m}{}\n      responses:\n        \"200\":\n          description: OK.",
                path.replace(['/', '{', '}'], "_")
            )
            .unwrap();
        }
    }
    schemas.push(("schemas/common.yaml".to_string(), yaml));
    schemas.push((
        "schemas/health.proto".to_string(),
        "syntax = \"proto3\";\n\npackage synth.health.v1;\n\nservice Health {\n  rpc Check(HealthCheckRequest) returns (HealthCheckResponse);\n}\n\nmessage HealthCheckRequest {\n  string service = 1;\n}\n\nmessage HealthCheckResponse {\n  bool serving = 1;\n}\n".to_string(),
    ));

    // Each service's callers and the operations they call, for its
    // authorization: exactly the declared calls and its gateway route.
    let mut incoming: Vec<BTreeMap<usize, Vec<String>>> = vec![BTreeMap::new(); n];
    for i in 0..n {
        for (k, j) in (0..CALLS).filter_map(|k| Some((k, callee(i, k, n)?))) {
            let ops = incoming[j].entry(i).or_default();
            let op = operation(j, k);
            if !ops.contains(&op) {
                ops.push(op);
            }
        }
    }

    // Events: each topic's versions, its producer and its consumers.
    let topics = topic_count(n);
    let mut publishes: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut subscribes: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for t in 0..topics {
        publishes[t % n].push(t);
        for (service, version) in consumers(t, n) {
            subscribes[service].push((t, version));
        }
    }
    for (g, first) in (0..topics).step_by(GROUP).enumerate() {
        let mut kdl = String::new();
        for t in first..(first + GROUP).min(topics) {
            let ext = if json_topic(t) { "json" } else { "avsc" };
            writeln!(kdl, "topic \"{}\" {{", topic_name(t)).unwrap();
            for v in 1..=VERSIONS {
                let path = format!("events/{}.v{v}.{ext}", topic_name(t));
                writeln!(kdl, "    schema \"../{path}\" version={v}").unwrap();
                schemas.push((path, event_schema(t, v)));
            }
            if !json_topic(t) && t % 4 == 0 {
                kdl.push_str("    compatibility \"full-transitive\"\n");
            }
            kdl.push_str("}\n");
        }
        spec.push((format!("topics/topics-{g:03}.kdl"), kdl));
    }

    for g in 0..groups {
        let members = (g * GROUP)..((g + 1) * GROUP).min(n);

        // The group's proto: one distinct service per member.
        let mut proto = format!(
            "syntax = \"proto3\";\n\npackage {};\n\nmessage Request {{\n  string id = 1;\n  int32 page_size = 2;\n}}\n\nmessage Response {{\n  string id = 1;\n  bytes payload = 2;\n}}\n",
            proto_package(g)
        );
        for i in members.clone() {
            writeln!(proto, "\nservice {} {{", proto_service(i)).unwrap();
            for m in GRPC_METHODS {
                writeln!(proto, "  rpc {m}(Request) returns (Response);").unwrap();
            }
            proto.push_str("}\n");
        }
        schemas.push((format!("schemas/group-{g:03}.proto"), proto));

        // The group's services.
        let mut kdl = format!("// Services {}..{} of the synthetic mesh.\n", members.start, members.end);
        for i in members.clone() {
            let name = service_name(i);
            writeln!(kdl, "\nservice \"{name}\" {{").unwrap();
            writeln!(kdl, "    owner \"team-{:03}\"", i % 37).unwrap();
            writeln!(kdl, "    address \"{name}.synthetic.svc.cluster.local\" port={}", 8000 + i % 1000).unwrap();
            writeln!(kdl, "    api \"http\" kind=\"rest\" schema=\"../schemas/common.yaml\"").unwrap();
            writeln!(kdl, "    api \"grpc\" kind=\"grpc\" schema=\"../schemas/group-{g:03}.proto\"").unwrap();
            writeln!(kdl, "    api \"health\" kind=\"grpc\" schema=\"../schemas/health.proto\"").unwrap();
            for (k, j) in (0..CALLS).filter_map(|k| Some((k, callee(i, k, n)?))) {
                let settings = call_settings(i, j, k, n);
                writeln!(kdl, "    calls \"{}\" operation=\"{}\"{settings}", service_name(j), operation(j, k)).unwrap();
            }
            for &t in &publishes[i] {
                // JSON Schema topics' producers stay a version behind their consumers.
                let version = if json_topic(t) { VERSIONS - 1 } else { VERSIONS };
                writeln!(kdl, "    publishes \"{}\" version={version}", topic_name(t)).unwrap();
            }
            for &(t, version) in &subscribes[i] {
                writeln!(kdl, "    subscribes \"{}\" version={version}", topic_name(t)).unwrap();
            }
            kdl.push_str(TRAFFIC);
            kdl.push_str("    authorization {\n");
            for (caller, ops) in &incoming[i] {
                writeln!(kdl, "        allow \"{}\" {{", service_name(*caller)).unwrap();
                for op in ops {
                    writeln!(kdl, "            operation \"{op}\"").unwrap();
                }
                kdl.push_str("        }\n");
            }
            writeln!(
                kdl,
                "        allow gateway=\"gw-{g:03}\" {{\n            operation \"{}\"\n        }}",
                route_operation(i, g)
            )
            .unwrap();
            kdl.push_str("    }\n");
            kdl.push_str("}\n");
        }
        spec.push((format!("services/group-{g:03}.kdl"), kdl));

        // The group's gateway.
        let mut gw = format!("gateway \"gw-{g:03}\" {{\n    listener \"http\" port=8080\n    listener \"admin\" address=\"127.0.0.1\" port=9901\n");
        gw.push_str("    error-format \"json\" {\n        status 404 message=\"no such endpoint\"\n        status 503 message=\"temporarily unavailable\"\n    }\n");
        for i in members {
            let name = service_name(i);
            if i.is_multiple_of(2) {
                let (m, _) = REST_OPS[i % REST_OPS.len()];
                // Above the service's own call timeouts (common::call_settings), so budgets hold.
                let timeout = 200 + 10 * (n - i);
                let op = route_operation(i, g);
                writeln!(gw, "    route \"{name}\" {{\n        match path-prefix=\"/{name}/\" method=\"{m}\"\n        to \"{name}\" operation=\"{op}\"\n        timeout \"{timeout}ms\"").unwrap();
                if i % 10 == 0 {
                    gw.push_str(
                        "        error-format {\n            status 503 message=\"this service is down\"\n        }\n",
                    );
                }
                gw.push_str("    }\n");
            } else {
                let svc = format!("{}.{}", proto_package(g), proto_service(i));
                let op = route_operation(i, g);
                writeln!(gw, "    route \"{name}\" {{\n        match path-prefix=\"/{svc}/\" {{\n            header \"content-type\" prefix=\"application/grpc\"\n        }}\n        to \"{name}\" operation=\"{op}\"\n        timeout \"{}ms\"\n    }}", 200 + 10 * (n - i)).unwrap();
            }
        }
        gw.push_str("}\n");
        spec.push((format!("gateways/gw-{g:03}.kdl"), gw));
    }

    let write_all = |files: &[(String, String)]| -> usize {
        files
            .iter()
            .map(|(p, t)| {
                std::fs::write(dir.join(p), t).unwrap();
                t.len()
            })
            .sum()
    };
    Generated {
        spec_bytes: write_all(&spec),
        spec_files: spec.len(),
        schema_bytes: write_all(&schemas),
        schema_files: schemas.len(),
    }
}

// --------------------------------------------------------------- child ----

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Times the layers one by one, chained as `meshc::driver::compile` does.
fn phases(dir: &Path) -> [Duration; 5] {
    let root = dir.canonicalize().unwrap();
    let mut sources = Sources::new(&root);
    let mut sink = Sink::new();
    let t = Instant::now();
    let workspace = meshc::load::load(&DiskFs, dir, &mut sources, &mut sink).expect("the workspace loads");
    let load = t.elapsed();
    let t = Instant::now();
    let model = meshc::model::lower(&workspace, &sources, &mut sink);
    let lower = t.elapsed();
    let t = Instant::now();
    let schemas = meshc::schema::load(&model, &DiskFs, &mut sources, &mut sink);
    let schema = t.elapsed();
    let t = Instant::now();
    meshc::check::run_all(&model, &schemas, &mut sink);
    let checks = t.elapsed();
    let t = Instant::now();
    let artifacts = meshc::emit::emit_all(&model, &schemas, &meshc::emit::Options::default()).artifacts;
    let emit = t.elapsed();
    assert!(!sink.has_errors(), "the layers report errors the driver did not");
    let gateways = artifacts.iter().filter(|a| a.path.starts_with("envoy/gateway-")).count();
    let sidecars = artifacts.iter().filter(|a| a.path.starts_with("envoy/sidecar-")).count();
    assert_eq!((gateways, sidecars), (model.gateways.len(), model.services.len()));
    [load, lower, schema, checks, emit]
}

fn child(dir: &Path, repeat: usize) {
    // First run: correctness and peak memory of one compile + emit.
    let compilation = meshc::driver::compile(dir);
    if compilation.errors() + compilation.warnings() > 0 {
        let text = meshc::diag::render::render(
            meshc::diag::render::Format::Human,
            &compilation.diagnostics[..compilation.diagnostics.len().min(5)],
            &compilation.sources,
            false,
        );
        panic!(
            "the synthetic mesh must check clean, got {} error(s) and {} warning(s):\n{text}",
            compilation.errors(),
            compilation.warnings()
        );
    }
    let model = compilation.model.as_ref().unwrap();
    let (services, gateways) = (model.services.len(), model.gateways.len());
    let calls: usize = model.services.iter().map(|s| s.calls.len()).sum();
    let routes: usize = model.gateways.iter().map(|g| g.routes.len()).sum();
    let artifacts = compilation.emit().expect("clean meshes emit");
    let out_bytes: usize = artifacts.iter().map(|a| a.contents.len()).sum();
    let hwm = vm_hwm_kib();
    drop(artifacts);
    drop(compilation);

    // Timings, best of `repeat`.
    let (compile, c) = best(repeat, || meshc::driver::compile(dir));
    assert_eq!(c.errors(), 0);
    let (emit, a) = best(repeat, || c.emit().unwrap());
    // Writing: plain fs::write of every artifact into a fresh directory (the
    // CLI's atomic writer is private; `meshc build` is timed by the parent).
    let out = dir.join("bench-out");
    let (write, _) = best(repeat, || {
        let _ = std::fs::remove_dir_all(&out);
        for art in &a {
            let path = out.join(&art.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &art.contents).unwrap();
        }
    });
    let _ = std::fs::remove_dir_all(&out);
    let mut phase_best = [Duration::MAX; 5];
    for _ in 0..repeat.max(1) {
        for (b, p) in phase_best.iter_mut().zip(phases(dir)) {
            *b = (*b).min(p);
        }
    }
    // Each check pass alone (run_all runs them in parallel), best of `repeat`.
    let c = meshc::driver::compile(dir);
    let model = c.model.as_ref().unwrap();
    let passes: Vec<String> = meshc::check::PASSES
        .iter()
        .map(|pass| {
            let (d, _) = best(repeat, || {
                let mut sink = Sink::new();
                (pass.run)(model, &c.schemas, &mut sink);
                assert!(!sink.has_errors(), "pass {} reports errors", pass.name);
            });
            format!("pass:{}={}", pass.name, d.as_micros())
        })
        .collect();
    // Each backend alone (`emit_all` runs them in parallel), best of `repeat`, and the bytes it writes.
    let backends: Vec<String> = meshc::emit::BACKENDS
        .iter()
        .map(|backend| {
            let options = meshc::emit::Options::default().with_backends([backend.name]).expect("a backend");
            let (d, emitted) = best(repeat, || meshc::emit::emit_all(model, &c.schemas, &options));
            let bytes: usize = emitted.artifacts.iter().map(|a| a.contents.len()).sum();
            format!("backend:{}={} bytes:{}={bytes}", backend.name, d.as_micros(), backend.name)
        })
        .collect();
    // `meshc diff` against a copy where 1 % of the schema files changed.
    let changed_dir = changed_copy(dir);
    let (diff, diffed) =
        best(repeat, || meshc::driver::diff(dir, &changed_dir, &meshc::driver::breaking::Policy::default()));
    assert!(diffed.loaded && !diffed.diagnostics.is_empty(), "the diff compares both versions and finds the changes");
    let diff_changes = diffed.diagnostics.len();
    let _ = std::fs::remove_dir_all(&changed_dir);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    let us = |d: Duration| d.as_micros();
    println!(
        "RESULT services={services} calls={calls} gateways={gateways} routes={routes} out_bytes={out_bytes} \
         hwm_kib={hwm} threads={threads} compile_us={} emit_us={} write_us={} load_us={} lower_us={} \
         schemas_us={} checks_us={} emit_phase_us={} diff_us={} diff_changes={diff_changes} {} {}",
        us(compile),
        us(emit),
        us(write),
        us(phase_best[0]),
        us(phase_best[1]),
        us(phase_best[2]),
        us(phase_best[3]),
        us(phase_best[4]),
        us(diff),
        passes.join(" "),
        backends.join(" "),
    );
}

/// A copy of the workspace beside it in which every hundredth group
/// `.proto` file (at least one) has a field's type changed (`int32` →
/// `int64`, a WIRE_JSON break its callers reach): 1 % of the API schemas.
fn changed_copy(dir: &Path) -> PathBuf {
    let to = dir.with_file_name(format!("{}-changed", dir.file_name().unwrap().to_string_lossy()));
    let _ = std::fs::remove_dir_all(&to);
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        std::fs::create_dir_all(to.join(&rel)).unwrap();
        for entry in std::fs::read_dir(dir.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let rel = rel.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                pending.push(rel);
            } else {
                std::fs::copy(entry.path(), to.join(&rel)).unwrap();
            }
        }
    }
    let mut groups: Vec<PathBuf> = std::fs::read_dir(to.join("schemas"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("group-"))
        .collect();
    groups.sort();
    for path in groups.iter().step_by(100) {
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, text.replacen("int32 page_size = 2;", "int64 page_size = 2;", 1)).unwrap();
    }
    to
}

// -------------------------------------------------------------- parent ----

fn run_child(dir: &Path, repeat: usize, threads: Option<&str>) -> BTreeMap<String, String> {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("MESHC_BENCH_CHILD", dir).env("MESHC_BENCH_REPEAT", repeat.to_string());
    match threads {
        Some(t) => cmd.env("RAYON_NUM_THREADS", t),
        None => cmd.env_remove("RAYON_NUM_THREADS"),
    };
    let out = cmd.output().expect("re-run the bench as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("a RESULT line");
    line.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// `meshc build` end to end, best of `repeat`, with the CLI built in this profile.
fn time_cli_build(dir: &Path, repeat: usize) -> Option<Duration> {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_meshc"));
    if !exe.is_file() {
        return None;
    }
    // Beside the workspace: meshc refuses to write inside it.
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".cli-out");
    let out = dir.with_file_name(name);
    let (d, ok) = best(repeat, || {
        Command::new(&exe)
            .arg("build")
            .arg(dir)
            .arg("-o")
            .arg(&out)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    let _ = std::fs::remove_dir_all(&out);
    assert!(ok, "`meshc build` failed on the synthetic mesh");
    Some(d)
}

fn ms(r: &BTreeMap<String, String>, key: &str) -> f64 {
    r.get(key).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN) / 1000.0
}

struct Row {
    n: usize,
    generated: Generated,
    result: BTreeMap<String, String>,
    single: Option<BTreeMap<String, String>>,
    cli: Option<Duration>,
}

fn main() {
    if let Ok(dir) = std::env::var("MESHC_BENCH_CHILD") {
        let repeat = std::env::var("MESHC_BENCH_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
        child(Path::new(&dir), repeat);
        return;
    }
    preflight();
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = match std::env::var("MESHC_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) if full => vec![1_000, 10_000],
        Err(_) => vec![200],
    };
    let repeat =
        if full { std::env::var("MESHC_BENCH_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(3) } else { 1 };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("meshc synthetic benchmark: {cores} core(s), best of {repeat}, sizes {sizes:?}");

    let mut rows = Vec::new();
    for &n in &sizes {
        // MESHC_BENCH_KEEP=<dir> keeps the generated workspaces (as <dir>/<n>) for inspection.
        let tmp = tempfile::tempdir().unwrap();
        let kept = std::env::var_os("MESHC_BENCH_KEEP").map(|d| PathBuf::from(d).join(n.to_string()));
        let dir = kept.as_deref().unwrap_or(tmp.path());
        let generated = generate(dir, n);
        let result = run_child(dir, repeat, None);
        assert_eq!(result["services"].parse::<usize>().unwrap(), n);
        // The last service calls none (the call graph is a DAG).
        assert_eq!(result["calls"].parse::<usize>().unwrap(), (n - 1) * CALLS);
        // The one-thread comparison, for the largest size only.
        let single = (n == *sizes.iter().max().unwrap() && full).then(|| run_child(dir, repeat, Some("1")));
        let cli = if full { time_cli_build(dir, repeat) } else { None };
        rows.push(Row { n, generated, result, single, cli });
    }

    println!();
    println!(
        "| services | spec files | spec bytes | schema files | compile | emit | write | `meshc build` | peak RSS |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let cli = r.cli.map_or("n/a".to_string(), |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0));
        println!(
            "| {} | {} | {:.1} MB | {} | {:.0} ms | {:.0} ms | {:.0} ms | {cli} | {:.0} MB |",
            r.n,
            r.generated.spec_files,
            r.generated.spec_bytes as f64 / 1e6,
            r.generated.schema_files,
            ms(&r.result, "compile_us"),
            ms(&r.result, "emit_us"),
            ms(&r.result, "write_us"),
            r.result["hwm_kib"].parse::<f64>().unwrap() / 1024.0,
        );
    }
    println!();
    println!("Phases (layers called one by one; compile = load + lower + schemas + checks):");
    println!();
    println!("| services | threads | load+parse | lower | schemas | checks | emit | compile | peak RSS |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        for res in std::iter::once(&r.result).chain(r.single.as_ref()) {
            println!(
                "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} MB |",
                r.n,
                if res["threads"] == "default" { format!("default ({cores})") } else { res["threads"].clone() },
                ms(res, "load_us"),
                ms(res, "lower_us"),
                ms(res, "schemas_us"),
                ms(res, "checks_us"),
                ms(res, "emit_phase_us"),
                ms(res, "compile_us"),
                res["hwm_kib"].parse::<f64>().unwrap() / 1024.0,
            );
        }
    }
    for r in &rows {
        println!(
            "\nN={}: {} calls, {} gateways, {} routes, {:.1} MB of schemas, {:.1} MB of Envoy YAML emitted",
            r.n,
            r.result["calls"],
            r.result["gateways"],
            r.result["routes"],
            r.generated.schema_bytes as f64 / 1e6,
            r.result["out_bytes"].parse::<f64>().unwrap() / 1e6
        );
    }

    for r in &rows {
        println!(
            "\nN={}: `meshc diff` against a copy with 1 % of the API schemas changed: {:.0} ms, {} changes \
             (one compile: {:.0} ms; the diff compiles both versions and compares the changed schemas)",
            r.n,
            ms(&r.result, "diff_us"),
            r.result["diff_changes"],
            ms(&r.result, "compile_us"),
        );
    }
    for r in &rows {
        println!("\nN={}: each backend alone (emit, bytes written):", r.n);
        for (key, value) in r.result.iter().filter(|(k, _)| k.starts_with("backend:")) {
            let name = &key["backend:".len()..];
            let bytes = r.result.get(&format!("bytes:{name}")).and_then(|b| b.parse::<f64>().ok()).unwrap_or(0.0);
            let ms = value.parse::<f64>().unwrap_or(f64::NAN) / 1000.0;
            println!("  {name:<18} {ms:>9.1} ms  {:>8.1} MB", bytes / 1e6);
        }
    }

    // Scaling sanity: 10x the services should cost about 10x the time.
    if let (Some(small), Some(large)) = (rows.first(), rows.last()) {
        if large.n > small.n {
            let factor = large.n as f64 / small.n as f64;
            println!("\nScaling {} → {} services ({factor:.0}x):", small.n, large.n);
            for (key, label) in [
                ("compile_us", "compile"),
                ("load_us", "load+parse"),
                ("lower_us", "lower"),
                ("schemas_us", "schemas"),
                ("checks_us", "checks"),
                ("emit_phase_us", "emit"),
            ] {
                let ratio = ms(&large.result, key) / ms(&small.result, key);
                let flag = if ratio > factor * 1.2 { "  <-- superlinear" } else { "" };
                println!("  {label:<11} {ratio:>6.1}x{flag}");
            }
        }
        if large.n > small.n {
            println!("  check passes, each alone ({} → {} services):", small.n, large.n);
            for (key, value) in large.result.iter().filter(|(k, _)| k.starts_with("pass:")) {
                let (a, b) = (ms(&small.result, key), value.parse::<f64>().unwrap_or(f64::NAN) / 1000.0);
                if a < 0.05 {
                    println!("    {:<24} {a:>7.2} ms → {b:>7.2} ms  (too small to compare)", &key[5..]);
                } else {
                    println!("    {:<24} {a:>7.2} ms → {b:>7.2} ms  ({:.1}x)", &key[5..], b / a);
                }
            }
        }
        let target = rows.iter().find(|r| r.n == 10_000);
        if let Some(r) = target {
            let c = ms(&r.result, "compile_us");
            println!(
                "\nTarget: 10,000 services checked in under 1 s: {:.0} ms ({})",
                c,
                if c < 1000.0 { "met" } else { "NOT met" }
            );
        }
    }
}
