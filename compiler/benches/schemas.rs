//! Schema loading: `cargo bench -p meshc --bench schemas`.
//!
//! Measures `meshc::schema::load` (OpenAPI via openapiv3, `.proto` via
//! protox + prost-reflect, GraphQL SDL via apollo-compiler) and compares the
//! proto loader with `buf build` on the same files. docs/benchmarks.md,
//! "Schema loading", explains the set-up and records the figures.
//!
//! The parent process generates workspaces in a temporary directory:
//!
//! - `mesh/`: a synthetic mesh of N services (10,000): 100 services per
//!   `services/group-GGG.kdl`, each with four APIs (the shared OpenAPI
//!   document `schemas/common.yaml`, its group's `schemas/group-GGG.proto`
//!   with one gRPC service per member and `google.api.http` bindings
//!   importing `google/api/annotations.proto`, the shared
//!   `schemas/health.proto`, the shared GraphQL SDL `schemas/graph.graphql`)
//!   and 5 calls naming operations of every kind. A `proto-include` points at
//!   the corpora's `protos/` so the `google/api` imports resolve.
//! - `once/`: one service per schema file of `mesh/`, so every file is
//!   referenced exactly once (the parse-once check compares it with `mesh/`);
//!   `protos/`: one service per `.proto` of `mesh/` (what buf is compared
//!   with); `nobind/` and `noimport/`: the same group protos without the
//!   `google.api.http` bindings, then without the import either (what the
//!   bindings and the import cost).
//! - `corpora-*/`: one service per real schema file in `../shared/corpora`
//!   (read in place, by absolute path): all of them, then each format alone.
//! - `scale-*/`: one generated file per format at sizes 10x apart (200,
//!   2,000 and 20,000 services, paths or types), to see whether a loader is
//!   linear in its input.
//!
//! Each workspace is measured in a fresh child process (the benchmark
//! re-executes itself with `MESHC_BENCH_CHILD` set), so peak RSS (VmHWM)
//! belongs to that scenario alone. A child runs `meshc::load::load` +
//! `meshc::model::lower` (untimed, as `meshc::driver::compile` chains them),
//! then times `meshc::schema::load`: one first run (asserted error-free; peak
//! RSS read after it), then best of R, each on a fresh front end.
//!
//! buf is installed from the npm registry into `<repo>/.tools/buf`
//! (git-ignored) unless already there; `buf build -o /dev/null` runs on the
//! corpora's protos and on the synthetic mesh's protos, best of R after one
//! warm-up. If npm or buf fails, the benchmark says so loudly and exits 1.
//!
//! `istio/`: one service per `.proto` file of istio/api (its own files and
//! its `common-protos/`, read in place from a checkout named by
//! `MESHC_ISTIO_API`), with both as `proto-include`s; `meshc check` on it
//! against `buf build` on the same files is the headline comparison.
//!
//! Environment: `MESHC_BENCH_SERVICES=10000`, `MESHC_BENCH_REPEAT=3`,
//! `MESHC_BENCH_KEEP=<dir>` keeps the generated workspaces,
//! `MESHC_ISTIO_API=<dir>` (required by a full run) a checkout of
//! github.com/istio/api. Without `--bench` (as under `cargo test --benches`)
//! it runs a quick smoke pass: 200 services, one repeat, no buf (no network)
//! and no istio/api, saying so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use meshc::base::fs::DiskFs;
use meshc::base::Sources;
use meshc::diag::Sink;
use meshc::model::values::ApiKind;
use meshc::model::{Model, SchemaId, SchemaRef};

#[path = "common/mod.rs"]
mod common;
use common::*;

const GROUP: usize = 100;
const CALLS: usize = 5;
/// Object types in the mesh's shared GraphQL SDL (3 root fields each).
const GRAPHQL_TYPES: usize = 100;

/// Stops the benchmark with a message nobody can miss.
fn die(message: impl std::fmt::Display) -> ! {
    eprintln!("\n{}\nSCHEMAS BENCHMARK FAILED: {message}\n{}\n", "!".repeat(78), "!".repeat(78));
    std::process::exit(1);
}

// ------------------------------------------------------------ locations ----

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("the repository root")
}

fn corpora_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora");
    match dir.canonicalize() {
        Ok(d) if d.is_dir() => d,
        _ => die(format!(
            "the corpora are missing: expected them at {} (`shared/corpora` beside the repository, see its README)",
            dir.display()
        )),
    }
}

/// Files under `dir` (recursively) whose name ends with one of `exts`, sorted.
fn files_under(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| die(format!("cannot read {}: {e}", d.display())));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if exts.iter().any(|x| path.extension().is_some_and(|e| e == *x)) {
                out.push(path);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        die(format!("no {exts:?} files under {}", dir.display()));
    }
    out
}

struct Corpora {
    root: PathBuf,
    /// `protos/` (google/api): the `proto-include` directory and a buf module.
    google: PathBuf,
    /// `online-boutique/protos`: the other buf module.
    boutique: PathBuf,
    protos: Vec<PathBuf>,
    openapi: Vec<PathBuf>,
    graphql: PathBuf,
}

fn corpora() -> Corpora {
    let root = corpora_dir();
    let boutique = root.join("online-boutique/protos");
    let google = root.join("protos");
    let mut protos = files_under(&boutique, &["proto"]);
    protos.extend(files_under(&google, &["proto"]));
    let openapi = files_under(&root.join("openapi"), &["yaml", "yml", "json"]);
    let graphql = root.join("graphql/github-schema.graphql");
    if !graphql.is_file() {
        die(format!("{} is missing", graphql.display()));
    }
    Corpora { root, google, boutique, protos, openapi, graphql }
}

// ----------------------------------------------------------- generators ----

fn kdl_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn kind_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("proto") => "grpc",
        Some("graphql" | "graphqls" | "gql") => "graphql",
        _ => "rest",
    }
}

fn write(path: &Path, text: &str) -> usize {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    text.len()
}

/// A one-file workspace: one service per schema file (absolute paths), each
/// with one API pointing at it, and the given `proto-include` directories;
/// the files' directories are `schema-root`s (they lie outside the workspace).
fn flat_workspace(dir: &Path, name: &str, includes: &[&Path], files: &[PathBuf]) {
    let mut kdl = format!("// Generated by compiler/benches/schemas.rs.\nmesh {}\n", kdl_str(name));
    for inc in includes {
        writeln!(kdl, "proto-include {}", kdl_str(&inc.display().to_string())).unwrap();
    }
    let roots: std::collections::BTreeSet<&Path> = files.iter().filter_map(|f| f.parent()).collect();
    for root in roots {
        writeln!(kdl, "schema-root {}", kdl_str(&root.display().to_string())).unwrap();
    }
    for (i, file) in files.iter().enumerate() {
        let svc = format!("s-{i:04}");
        writeln!(
            kdl,
            "\nservice \"{svc}\" {{\n    owner \"bench\"\n    address \"{svc}.bench.svc.cluster.local\" port=8080\n    api \"a\" kind=\"{}\" schema={}\n}}",
            kind_of(file),
            kdl_str(&file.display().to_string())
        )
        .unwrap();
    }
    write(&dir.join("mesh.kdl"), &kdl);
}

/// One operation of service `j` (`k` picks which kind), as the spec writes it.
fn operation(j: usize, k: usize) -> String {
    match k % CALLS {
        0 | 2 => {
            format!("{}.{}/{}", proto_package(j / GROUP), proto_service(j), GRPC_METHODS[(j + k) % GRPC_METHODS.len()])
        }
        1 => {
            let (m, p) = REST_OPS[(j + k) % REST_OPS.len()];
            format!("{m} {}", p.replace("{itemId}", "{id}"))
        }
        3 => "synth.health.v1.Health/Check".to_string(),
        _ => format!("Query.item{}", j % GRAPHQL_TYPES),
    }
}

/// A group's `.proto`: one gRPC service per member; with `import`, it
/// imports `google/api/annotations.proto`, with `http` it also binds `Get`
/// and `Put` to HTTP (`google.api.http`).
fn group_proto(g: usize, members: std::ops::Range<usize>, import: bool, http: bool) -> String {
    let mut proto = format!("syntax = \"proto3\";\n\npackage {};\n\n", proto_package(g));
    if import || http {
        proto.push_str("import \"google/api/annotations.proto\";\n\n");
    }
    proto.push_str(
        "message Request {\n  string id = 1;\n  int32 page_size = 2;\n}\n\nmessage Response {\n  string id = 1;\n  bytes payload = 2;\n}\n",
    );
    for i in members {
        writeln!(proto, "\nservice {} {{", proto_service(i)).unwrap();
        for m in GRPC_METHODS {
            let binding = match *m {
                "Get" if http => {
                    format!(" {{\n    option (google.api.http) = {{ get: \"/v1/svc{i:05}/{{id}}\" }};\n  }}")
                }
                "Put" if http => {
                    format!(
                        " {{\n    option (google.api.http) = {{ put: \"/v1/svc{i:05}/{{id}}\" body: \"*\" }};\n  }}"
                    )
                }
                _ => ";".to_string(),
            };
            writeln!(proto, "  rpc {m}(Request) returns (Response){binding}").unwrap();
        }
        proto.push_str("}\n");
    }
    proto
}

const HEALTH_PROTO: &str = "syntax = \"proto3\";\n\npackage synth.health.v1;\n\nservice Health {\n  rpc Check(HealthCheckRequest) returns (HealthCheckResponse);\n}\n\nmessage HealthCheckRequest {\n  string service = 1;\n}\n\nmessage HealthCheckResponse {\n  bool serving = 1;\n}\n";

fn common_openapi() -> String {
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
    yaml
}

/// An OpenAPI document with `n` paths of two operations each (path
/// parameter, request body and response by `$ref` to a component schema).
fn scale_openapi(n: usize) -> String {
    let mut yaml = String::from("openapi: 3.0.3\ninfo:\n  title: Scale\n  version: 1.0.0\npaths:\n");
    for i in 0..n {
        writeln!(
            yaml,
            "  /items{i}/{{id}}:\n    parameters:\n      - name: id\n        in: path\n        required: true\n        schema:\n          type: string\n    get:\n      operationId: get{i}\n      responses:\n        \"200\":\n          description: OK.\n          content:\n            application/json:\n              schema:\n                $ref: \"#/components/schemas/Item{i}\"\n    put:\n      operationId: put{i}\n      requestBody:\n        required: true\n        content:\n          application/json:\n            schema:\n              $ref: \"#/components/schemas/Item{i}\"\n      responses:\n        \"204\":\n          description: Stored."
        )
        .unwrap();
    }
    yaml.push_str("components:\n  schemas:\n");
    for i in 0..n {
        writeln!(
            yaml,
            "    Item{i}:\n      type: object\n      required: [id]\n      properties:\n        id:\n          type: string\n        name:\n          type: string\n        price:\n          type: number"
        )
        .unwrap();
    }
    yaml
}

/// A GraphQL SDL with `n` object types, each with an input type and three
/// root fields (`itemN`, `itemsN`, `putItemN`).
fn graphql_sdl(n: usize) -> String {
    let mut sdl = String::from("\"\"\"Generated by compiler/benches/schemas.rs.\"\"\"\ntype Query {\n");
    for i in 0..n {
        writeln!(
            sdl,
            "  \"The item {i}.\"\n  item{i}(id: ID!): Item{i}\n  items{i}(first: Int = 10, after: String): [Item{i}!]!"
        )
        .unwrap();
    }
    sdl.push_str("}\n\ntype Mutation {\n");
    for i in 0..n {
        writeln!(sdl, "  putItem{i}(input: Item{i}Input!): Item{i}!").unwrap();
    }
    sdl.push_str("}\n");
    for i in 0..n {
        let next = (i + 1) % n;
        writeln!(
            sdl,
            "\ntype Item{i} {{\n  id: ID!\n  name: String!\n  price: Float\n  tags: [String!]!\n  next: Item{next}\n}}\n\ninput Item{i}Input {{\n  name: String!\n  price: Float\n}}"
        )
        .unwrap();
    }
    sdl
}

/// A `.proto` with `n` services of four methods (no imports).
fn scale_proto(n: usize) -> String {
    group_proto(0, 0..n, false, false)
}

struct Mesh {
    spec_bytes: usize,
    /// Every schema file of the mesh, absolute.
    schemas: Vec<PathBuf>,
    schema_bytes: usize,
    protos: Vec<PathBuf>,
}

/// The synthetic mesh (see the module docs) in `dir`.
fn generate_mesh(dir: &Path, n: usize, corpora: &Corpora) -> Mesh {
    let groups = n.div_ceil(GROUP);
    let mut spec_bytes = write(
        &dir.join("mesh.kdl"),
        &format!(
            "// Synthetic mesh generated by compiler/benches/schemas.rs.\nmesh \"synthetic\"\n\nproto-include {}\n\nimport \"services/*.kdl\"\n",
            kdl_str(&corpora.google.display().to_string())
        ),
    );
    let s = dir.join("schemas");
    let mut schemas = vec![s.join("common.yaml"), s.join("health.proto"), s.join("graph.graphql")];
    let mut schema_bytes = write(&schemas[0], &common_openapi());
    schema_bytes += write(&schemas[1], HEALTH_PROTO);
    schema_bytes += write(&schemas[2], &graphql_sdl(GRAPHQL_TYPES));
    let mut protos = vec![schemas[1].clone()];
    for g in 0..groups {
        let members = (g * GROUP)..((g + 1) * GROUP).min(n);
        let proto = s.join(format!("group-{g:03}.proto"));
        schema_bytes += write(&proto, &group_proto(g, members.clone(), true, true));
        schemas.push(proto.clone());
        protos.push(proto);

        let mut kdl = format!("// Services {}..{} of the synthetic mesh.\n", members.start, members.end);
        for i in members {
            let name = service_name(i);
            writeln!(kdl, "\nservice \"{name}\" {{").unwrap();
            writeln!(kdl, "    owner \"team-{:03}\"", i % 37).unwrap();
            writeln!(kdl, "    address \"{name}.synthetic.svc.cluster.local\" port={}", 8000 + i % 1000).unwrap();
            writeln!(kdl, "    api \"http\" kind=\"rest\" schema=\"../schemas/common.yaml\"").unwrap();
            writeln!(kdl, "    api \"grpc\" kind=\"grpc\" schema=\"../schemas/group-{g:03}.proto\"").unwrap();
            writeln!(kdl, "    api \"health\" kind=\"grpc\" schema=\"../schemas/health.proto\"").unwrap();
            writeln!(kdl, "    api \"graph\" kind=\"graphql\" schema=\"../schemas/graph.graphql\"").unwrap();
            for (k, j) in (0..CALLS).filter_map(|k| Some((k, callee(i, k, n)?))) {
                let settings = call_settings(i, j, k, n);
                writeln!(kdl, "    calls \"{}\" operation=\"{}\"{settings}", service_name(j), operation(j, k)).unwrap();
            }
            kdl.push_str(TRAFFIC);
            kdl.push_str("}\n");
        }
        spec_bytes += write(&dir.join(format!("services/group-{g:03}.kdl")), &kdl);
    }
    let schemas = schemas.into_iter().map(|p| p.canonicalize().unwrap()).collect();
    let protos = protos.into_iter().map(|p| p.canonicalize().unwrap()).collect();
    Mesh { spec_bytes, schemas, schema_bytes, protos }
}

// --------------------------------------------------------------- child ----

fn proc_status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Load + lower, as `meshc::driver::compile` chains them (the workspace is
/// returned to stay alive, as in the driver).
fn front(dir: &Path) -> (Sources, Sink, meshc::load::Workspace, Model) {
    let root = dir.canonicalize().unwrap();
    let mut sources = Sources::new(&root);
    let mut sink = Sink::new();
    let workspace = meshc::load::load(&DiskFs, dir, &mut sources, &mut sink).expect("the workspace loads");
    let model = meshc::model::lower(&workspace, &sources, &mut sink);
    (sources, sink, workspace, model)
}

fn render(diagnostics: &[meshc::diag::Diagnostic], sources: &Sources) -> String {
    meshc::diag::render::render(
        meshc::diag::render::Format::Human,
        &diagnostics[..diagnostics.len().min(5)],
        sources,
        false,
    )
}

fn parse_kind(kind: &str) -> Option<ApiKind> {
    match kind {
        "all" => None,
        k => Some(ApiKind::parse(k).unwrap_or_else(|e| panic!("MESHC_BENCH_KIND: {e}"))),
    }
}

/// Keeps the model's schema references of one kind. Services' `SchemaId`s
/// then dangle, which `schema::load` never looks at (it walks `schemas`).
fn filter(model: &mut Model, kind: Option<ApiKind>) {
    if let Some(kind) = kind {
        model.schemas.retain(|s| s.format == kind.schema_format());
    }
}

fn child_schemas(dir: &Path, repeat: usize) {
    let kind = parse_kind(&std::env::var("MESHC_BENCH_KIND").unwrap_or_else(|_| "all".into()));
    let verify = std::env::var_os("MESHC_BENCH_VERIFY").is_some();
    let per_file = std::env::var_os("MESHC_BENCH_PER_FILE").is_some();

    // First run: correctness, peak memory.
    let (mut sources, mut sink, workspace, mut model) = front(dir);
    filter(&mut model, kind);
    let rss_before = proc_status_kib("VmRSS:");
    let t = Instant::now();
    let index = meshc::schema::load(&model, &DiskFs, &mut sources, &mut sink);
    let first = t.elapsed();
    let hwm = proc_status_kib("VmHWM:");
    let diagnostics = sink.into_sorted();
    let errors = diagnostics.iter().filter(|d| d.severity == meshc::diag::Severity::Error).count();
    if errors > 0 {
        panic!("{} must load without errors, got {errors}:\n{}", dir.display(), render(&diagnostics, &sources));
    }
    let files = model.schemas.len();
    let bytes: u64 = model.schemas.iter().map(|s| std::fs::metadata(&s.path).map_or(0, |m| m.len())).sum();
    let loaded = model.schema_ids().filter(|&id| index.get(id).is_some()).count();
    assert_eq!(loaded, files, "every schema file loads into the index");
    let operations: usize = model.schema_ids().filter_map(|id| index.get(id)).map(|s| s.operations.len()).sum();
    let refs: usize = model.services.iter().map(|s| s.apis.len()).sum();

    // Parse-once check, through the index: how many API references, how
    // many schema entries, and how many times each file is in `Sources`.
    let mut verified = String::new();
    if verify {
        assert!(kind.is_none());
        let mut per_schema: HashMap<SchemaId, usize> = HashMap::new();
        for api in model.services.iter().flat_map(|s| &s.apis) {
            *per_schema.entry(api.schema).or_default() += 1;
        }
        let paths: HashSet<&Path> = model.schemas.iter().map(|s| s.path.as_path()).collect();
        assert_eq!(paths.len(), files, "one SchemaRef per file");
        assert_eq!(per_schema.len(), files, "every SchemaRef is referenced");
        let file_ids: HashSet<_> = model.schema_ids().map(|id| index.get(id).unwrap().file).collect();
        assert_eq!(file_ids.len(), files, "one Schema (one FileId) per file");
        for s in &model.schemas {
            let copies = sources.iter().filter(|(_, f)| f.path == s.path).count();
            assert_eq!(copies, 1, "{} is in Sources {copies} times", s.path.display());
        }
        let max = per_schema.values().max().copied().unwrap_or(0);
        let min = per_schema.values().min().copied().unwrap_or(0);
        verified = format!(" verify_refs={refs} verify_schemarefs={files} verify_fileids={} verify_min_refs={min} verify_max_refs={max}", file_ids.len());
    }
    drop(index);
    drop(model);
    drop(workspace);
    drop(sources);

    // Timings, best of `repeat`, each on a fresh front end.
    let mut schemas_best = Duration::MAX;
    for _ in 0..repeat.max(1) {
        let (mut sources, mut sink, _workspace, mut model) = front(dir);
        filter(&mut model, kind);
        let t = Instant::now();
        let index = meshc::schema::load(&model, &DiskFs, &mut sources, &mut sink);
        schemas_best = schemas_best.min(t.elapsed());
        assert!(!sink.has_errors());
        drop(index);
    }

    // Each file alone, in a model holding only its reference.
    if per_file {
        let (_sources, _sink, _workspace, model) = front(dir);
        let root = dir.canonicalize().unwrap();
        for s in &model.schemas {
            let one = Model {
                proto_includes: model.proto_includes.clone(),
                schema_roots: model.schema_roots.clone(),
                schemas: vec![SchemaRef {
                    path: s.path.clone(),
                    display: s.display.clone(),
                    format: s.format,
                    span: s.span,
                    named_by_api: s.named_by_api,
                }],
                ..Model::default()
            };
            let (d, _) = best(repeat, || {
                let mut sources = Sources::new(&root);
                let mut sink = Sink::new();
                let index = meshc::schema::load(&one, &DiskFs, &mut sources, &mut sink);
                assert!(!sink.has_errors());
                index
            });
            let bytes = std::fs::metadata(&s.path).map_or(0, |m| m.len());
            println!("FILE {} {bytes} {}", d.as_micros(), s.path.display());
        }
    }

    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    println!(
        "RESULT refs={refs} files={files} bytes={bytes} operations={operations} warnings={} threads={threads} \
         rss_before_kib={rss_before} hwm_kib={hwm} first_us={} schemas_us={}{verified}",
        diagnostics.len() - errors,
        first.as_micros(),
        schemas_best.as_micros()
    );
}

fn child_compile(dir: &Path, repeat: usize) {
    let compilation = meshc::driver::compile(dir);
    if compilation.errors() + compilation.warnings() > 0 {
        panic!(
            "{} must check clean, got {} error(s) and {} warning(s):\n{}",
            dir.display(),
            compilation.errors(),
            compilation.warnings(),
            render(&compilation.diagnostics, &compilation.sources)
        );
    }
    let hwm = proc_status_kib("VmHWM:");
    let model = compilation.model.as_ref().unwrap();
    let refs: usize = model.services.iter().map(|s| s.apis.len()).sum();
    let calls: usize = model.services.iter().map(|s| s.calls.len()).sum();
    let (services, files) = (model.services.len(), model.schemas.len());
    drop(compilation);
    let (compile, c) = best(repeat, || meshc::driver::compile(dir));
    assert_eq!(c.errors(), 0);
    println!(
        "RESULT services={services} calls={calls} refs={refs} files={files} hwm_kib={hwm} compile_us={}",
        compile.as_micros()
    );
}

// -------------------------------------------------------------- parent ----

struct Child {
    result: BTreeMap<String, String>,
    /// Per-file timings: (µs, bytes, path).
    files: Vec<(u64, u64, PathBuf)>,
}

impl Child {
    fn ms(&self, key: &str) -> f64 {
        self.result.get(key).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN) / 1000.0
    }

    fn num(&self, key: &str) -> u64 {
        self.result.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

fn run_child(dir: &Path, mode: &str, kind: &str, env: &[(&str, &str)], repeat: usize) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("MESHC_BENCH_CHILD", dir)
        .env("MESHC_BENCH_MODE", mode)
        .env("MESHC_BENCH_KIND", kind)
        .env("MESHC_BENCH_REPEAT", repeat.to_string())
        .env_remove("MESHC_BENCH_VERIFY")
        .env_remove("MESHC_BENCH_PER_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("re-run the bench as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        die(format!(
            "bench child for {} ({mode}, {kind}) failed ({}):\n{stdout}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("a RESULT line");
    let result = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let files = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FILE "))
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, PathBuf::from(parts.next()?)))
        })
        .collect();
    Child { result, files }
}

/// A process run `repeat` times after one warm-up; the best wall time. Dies
/// with its output if it fails.
fn time_process(what: &str, repeat: usize, mut make: impl FnMut() -> Command) -> Duration {
    let run = |cmd: &mut Command| {
        let start = Instant::now();
        let out = cmd.output().unwrap_or_else(|e| die(format!("cannot run {what}: {e}")));
        let elapsed = start.elapsed();
        if !out.status.success() {
            die(format!(
                "{what} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        elapsed
    };
    run(&mut make());
    (0..repeat.max(1)).map(|_| run(&mut make())).min().unwrap()
}

/// Peak RSS (MB) of one more run of `cmd`, by GNU time's `%M`; `None`
/// without /usr/bin/time.
fn peak_rss_mb(cmd: &Command) -> Option<f64> {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        return None;
    }
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut wrapped = Command::new(time);
    wrapped.arg("-f").arg("%M").arg("-o").arg(out.path()).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let ok = wrapped.output().ok()?.status.success();
    let kib: f64 = std::fs::read_to_string(out.path()).ok()?.trim().lines().last()?.parse().ok()?;
    ok.then_some(kib / 1024.0)
}

// ------------------------------------------------------------------ buf ----

/// The native buf binary an npm install under `prefix` provides (the
/// `@bufbuild/buf-<platform>` package), else the package's node wrapper.
fn find_buf(prefix: &Path) -> Option<PathBuf> {
    let scope = prefix.join("node_modules/@bufbuild");
    let native = std::fs::read_dir(&scope).ok().into_iter().flatten().filter_map(|e| e.ok()).find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let bin = e.path().join("bin/buf");
        (name.starts_with("buf-") && bin.is_file()).then_some(bin)
    });
    native.or_else(|| Some(prefix.join("node_modules/.bin/buf")).filter(|p| p.exists()))
}

fn buf_version(buf: &Path) -> Option<String> {
    let out = Command::new(buf).arg("--version").output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Installs buf from the npm registry into `<repo>/.tools/buf` unless a
/// working copy is there; dies loudly if that is impossible.
fn install_buf(repo: &Path) -> (PathBuf, String) {
    let prefix = repo.join(".tools/buf");
    if let Some(buf) = find_buf(&prefix) {
        if let Some(version) = buf_version(&buf) {
            println!("buf {version}: {} (already installed; delete {} to reinstall)", buf.display(), prefix.display());
            return (buf, version);
        }
    }
    println!("installing buf: npm install --prefix {} @bufbuild/buf", prefix.display());
    std::fs::create_dir_all(&prefix).unwrap_or_else(|e| die(format!("cannot create {}: {e}", prefix.display())));
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg("@bufbuild/buf")
        .status();
    match status {
        Err(e) => die(format!(
            "cannot run npm ({e}); this benchmark compares meshc with `buf build` and needs npm \
             (Node.js) to install @bufbuild/buf into {}",
            prefix.display()
        )),
        Ok(s) if !s.success() => die(format!(
            "`npm install --prefix {} @bufbuild/buf` failed ({s}); the buf comparison cannot run \
             (is the npm registry reachable?)",
            prefix.display()
        )),
        Ok(_) => {}
    }
    let buf = find_buf(&prefix)
        .unwrap_or_else(|| die(format!("npm installed @bufbuild/buf but no buf binary is under {}", prefix.display())));
    let version = buf_version(&buf).unwrap_or_else(|| die(format!("{} --version fails", buf.display())));
    println!("buf {version}: {}", buf.display());
    (buf, version)
}

/// A buf v2 workspace in `dir` whose modules are symlinks to `roots`
/// (buf module paths must lie inside the workspace).
fn buf_workspace(dir: &Path, roots: &[(&str, &Path)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut yaml = String::from("version: v2\nmodules:\n");
    for (name, root) in roots {
        std::os::unix::fs::symlink(root, dir.join(name)).unwrap();
        writeln!(yaml, "  - path: {name}").unwrap();
    }
    std::fs::write(dir.join("buf.yaml"), yaml).unwrap();
}

fn buf_command(buf: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(buf);
    cmd.current_dir(dir).args(args).env("BUF_CACHE_DIR", dir.join(".cache"));
    cmd
}

/// The files buf builds from `input` (a module of the workspace, or `.`,
/// then options such as `--exclude-path`).
fn buf_files(buf: &Path, dir: &Path, input: &[&str]) -> Vec<String> {
    let out = buf_command(buf, dir, &[&["ls-files"][..], input].concat())
        .output()
        .unwrap_or_else(|e| die(format!("cannot run buf: {e}")));
    if !out.status.success() {
        die(format!("buf ls-files failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------- istio ----

/// istio/api, read in place from the checkout `MESHC_ISTIO_API` names.
struct Istio {
    root: PathBuf,
    /// `common-protos/`: gogo, google api, k8s... (the first include).
    common: PathBuf,
    /// Every `.proto` file of the checkout (its own and `common-protos/`,
    /// symbolic links not followed) whose imports, direct or not, are in it.
    files: Vec<PathBuf>,
    /// The others (an import is missing from the repository), relative to `root`.
    left_out: Vec<String>,
    /// Top-level symbolic links of `root` (into `common-protos/`), which a buf
    /// module of `root` must exclude.
    links: Vec<String>,
}

/// The istio/api checkout of `MESHC_ISTIO_API`, or `None` when unset.
fn istio() -> Option<Istio> {
    let root = PathBuf::from(std::env::var_os("MESHC_ISTIO_API")?);
    let root = root.canonicalize().unwrap_or_else(|e| die(format!("MESHC_ISTIO_API={}: {e}", root.display())));
    let common = root.join("common-protos");
    if !common.is_dir() {
        die(format!("MESHC_ISTIO_API={}: no common-protos/ in it; is it a checkout of istio/api?", root.display()));
    }
    let mut all = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| die(format!("cannot read {}: {e}", d.display()))) {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && entry.path().extension().is_some_and(|e| e == "proto") {
                all.push(entry.path());
            }
        }
    }
    all.sort();
    let links = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let includes = [common.clone(), root.clone()];
    let resolve = |name: &str| includes.iter().map(|dir| dir.join(name)).find(|p| p.is_file());
    // Whether a file's imports, direct or not, all resolve (memoised; a cycle counts as resolving).
    fn complete(file: &Path, resolve: &dyn Fn(&str) -> Option<PathBuf>, memo: &mut HashMap<PathBuf, bool>) -> bool {
        if let Some(&known) = memo.get(file) {
            return known;
        }
        memo.insert(file.to_path_buf(), true);
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let ok = imports_in(&text).iter().all(|name| resolve(name).is_some_and(|p| complete(&p, resolve, memo)));
        memo.insert(file.to_path_buf(), ok);
        ok
    }
    let mut memo = HashMap::new();
    let (files, left): (Vec<PathBuf>, Vec<PathBuf>) = all.into_iter().partition(|f| complete(f, &resolve, &mut memo));
    let left_out = left.iter().map(|f| f.strip_prefix(&root).unwrap().display().to_string()).collect();
    if files.is_empty() {
        die(format!("MESHC_ISTIO_API={}: no .proto file whose imports resolve", root.display()));
    }
    Some(Istio { root, common, files, left_out, links })
}

/// The names a `.proto` file's `import` lines name.
fn imports_in(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("import")?;
            let rest = &rest[rest.find('"')? + 1..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

/// A buf v2 workspace in `dir` over istio/api: the repository (without
/// `common-protos/` and the links into it) and `common-protos/` as modules;
/// the arguments that leave out the files meshc does not load either.
fn istio_buf_workspace(dir: &Path, istio: &Istio) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::symlink(&istio.root, dir.join("istio")).unwrap();
    std::os::unix::fs::symlink(&istio.common, dir.join("common")).unwrap();
    let mut excludes = vec!["istio/common-protos".to_string()];
    excludes.extend(istio.links.iter().map(|l| format!("istio/{l}")));
    let excludes = excludes.iter().map(|e| kdl_str(e)).collect::<Vec<_>>().join(", ");
    let yaml = format!("version: v2\nmodules:\n  - path: istio\n    excludes: [{excludes}]\n  - path: common\n");
    std::fs::write(dir.join("buf.yaml"), yaml).unwrap();
    let module_path = |f: &String| match f.strip_prefix("common-protos/") {
        Some(rest) => format!("common/{rest}"),
        None => format!("istio/{f}"),
    };
    istio.left_out.iter().flat_map(|f| ["--exclude-path".to_string(), module_path(f)]).collect()
}

// ----------------------------------------------------------------- main ----

struct Row {
    label: String,
    what: String,
    child: Child,
}

fn mb(bytes: u64) -> String {
    if bytes >= 100_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} KB", bytes as f64 / 1e3)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if let Ok(dir) = std::env::var("MESHC_BENCH_CHILD") {
        let repeat = std::env::var("MESHC_BENCH_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
        match std::env::var("MESHC_BENCH_MODE").as_deref() {
            Ok("compile") => child_compile(Path::new(&dir), repeat),
            _ => child_schemas(Path::new(&dir), repeat),
        }
        return;
    }
    preflight();
    let full = std::env::args().any(|a| a == "--bench");
    let corpora = corpora();
    let repo = repo_root();
    let n: usize = std::env::var("MESHC_BENCH_SERVICES").ok().and_then(|s| s.parse().ok()).unwrap_or(if full {
        10_000
    } else {
        200
    });
    let repeat =
        if full { std::env::var("MESHC_BENCH_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(3) } else { 1 };
    let scale: &[usize] = if full { &[200, 2_000, 20_000] } else { &[20, 200] };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("meshc schema-loading benchmark: {cores} core(s), best of {repeat}, {n} services");
    let buf = if full {
        Some(install_buf(&repo))
    } else {
        println!(
            "SMOKE MODE (no --bench flag, as under `cargo test --benches`): {n} services, 1 repeat, buf NOT run, \
             istio/api NOT loaded. The real benchmark is `MESHC_ISTIO_API=<istio/api checkout> cargo bench -p meshc \
             --bench schemas`."
        );
        None
    };
    let istio = full.then(|| {
        istio().unwrap_or_else(|| {
            die("MESHC_ISTIO_API is not set: the benchmark compares `meshc check` with `buf build` on istio/api's \
                 protos and needs a checkout of github.com/istio/api (e.g. `git clone --depth 1 \
                 https://github.com/istio/api /tmp/istio-api`, then MESHC_ISTIO_API=/tmp/istio-api)")
        })
    });

    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("MESHC_BENCH_KEEP").map(PathBuf::from);
    let base = keep.as_deref().unwrap_or(tmp.path()).to_path_buf();
    let base = {
        std::fs::create_dir_all(&base).unwrap();
        base.canonicalize().unwrap()
    };

    // Workspaces.
    let mesh_dir = base.join("mesh");
    let mesh = generate_mesh(&mesh_dir, n, &corpora);
    let once_dir = base.join("once");
    flat_workspace(&once_dir, "once", &[&corpora.google], &mesh.schemas);
    let protos_dir = base.join("protos");
    flat_workspace(&protos_dir, "protos", &[&corpora.google], &mesh.protos);
    // The same protos without the bindings, then without the import either.
    let variant = |name: &str, import: bool| {
        let dir = base.join(name);
        let mut files = vec![write_abs(&dir.join("schemas/health.proto"), HEALTH_PROTO)];
        for g in 0..n.div_ceil(GROUP) {
            let path = dir.join(format!("schemas/group-{g:03}.proto"));
            files.push(write_abs(&path, &group_proto(g, (g * GROUP)..((g + 1) * GROUP).min(n), import, false)));
        }
        flat_workspace(&dir, name, &[&corpora.google], &files);
        dir
    };
    let istio_dir = base.join("istio");
    if let Some(istio) = &istio {
        flat_workspace(&istio_dir, "istio", &[&istio.common, &istio.root], &istio.files);
    }
    let nobind_dir = variant("nobind", true);
    let noimport_dir = variant("noimport", false);

    let mut corpus_all: Vec<PathBuf> = corpora.protos.clone();
    corpus_all.extend(corpora.openapi.iter().cloned());
    corpus_all.push(corpora.graphql.clone());
    let corpus_sets: [(&str, &str, Vec<PathBuf>); 4] = [
        ("corpora", "all", corpus_all),
        ("corpora-grpc", "grpc", corpora.protos.clone()),
        ("corpora-rest", "rest", corpora.openapi.clone()),
        ("corpora-graphql", "graphql", vec![corpora.graphql.clone()]),
    ];
    for (name, _, files) in &corpus_sets {
        flat_workspace(&base.join(name), name, &[&corpora.google], files);
    }
    let mut scale_dirs = Vec::new();
    for (fmt, ext) in [("proto", "proto"), ("openapi", "yaml"), ("graphql", "graphql")] {
        for &s in scale {
            let dir = base.join(format!("scale-{fmt}-{s}"));
            let text = match fmt {
                "proto" => scale_proto(s),
                "openapi" => scale_openapi(s),
                _ => graphql_sdl(s),
            };
            let file = write_abs(&dir.join(format!("schema.{ext}")), &text);
            flat_workspace(&dir, &format!("scale-{fmt}"), &[], &[file]);
            scale_dirs.push((fmt, s, dir));
        }
    }

    // meshc, one child per scenario.
    let mut rows: Vec<Row> = Vec::new();
    let verify = run_child(&mesh_dir, "schemas", "all", &[("MESHC_BENCH_VERIFY", "1")], repeat);
    rows.push(Row { label: format!("mesh ({n} services)"), what: "all".into(), child: verify });
    for kind in ["grpc", "rest", "graphql"] {
        let c = run_child(&mesh_dir, "schemas", kind, &[], repeat);
        rows.push(Row { label: format!("mesh ({n} services)"), what: kind.into(), child: c });
    }
    let compile = run_child(&mesh_dir, "compile", "all", &[], repeat);
    let once = run_child(&once_dir, "schemas", "all", &[], repeat);
    rows.push(Row { label: "once (1 API per mesh file)".into(), what: "all".into(), child: once });
    let protos = run_child(&protos_dir, "schemas", "all", &[], repeat);
    rows.push(Row { label: "mesh protos (1 API per file)".into(), what: "grpc".into(), child: protos });
    let nobind = run_child(&nobind_dir, "schemas", "all", &[], repeat);
    rows.push(Row { label: "mesh protos, import but no bindings".into(), what: "grpc".into(), child: nobind });
    let noimp = run_child(&noimport_dir, "schemas", "all", &[], repeat);
    rows.push(Row { label: "mesh protos, no import, no bindings".into(), what: "grpc".into(), child: noimp });
    if istio.is_some() {
        let c = run_child(&istio_dir, "schemas", "all", &[], repeat);
        rows.push(Row { label: "istio/api protos (1 API per file)".into(), what: "grpc".into(), child: c });
    }
    for (name, kind, _) in &corpus_sets {
        let env: &[(&str, &str)] = if *kind == "all" { &[("MESHC_BENCH_PER_FILE", "1")] } else { &[] };
        let c = run_child(&base.join(name), "schemas", "all", env, repeat);
        rows.push(Row { label: "corpora".into(), what: (*kind).into(), child: c });
    }
    let scale_results: Vec<(&str, usize, Child)> =
        scale_dirs.iter().map(|(fmt, s, dir)| (*fmt, *s, run_child(dir, "schemas", "all", &[], repeat))).collect();

    // Processes: meshc check vs buf build on the same protos.
    let meshc_exe = PathBuf::from(env!("CARGO_BIN_EXE_meshc"));
    let meshc_check = |dir: &Path| -> Option<(Duration, Option<f64>)> {
        meshc_exe.is_file().then(|| {
            let make = || {
                let mut c = Command::new(&meshc_exe);
                c.arg("check").arg(dir);
                c
            };
            (time_process("meshc check", repeat, make), peak_rss_mb(&make()))
        })
    };
    let corpora_grpc_dir = base.join("corpora-grpc");
    let check_corpora = meshc_check(&corpora_grpc_dir);
    let check_mesh = meshc_check(&protos_dir);
    let check_istio = istio.as_ref().and_then(|_| meshc_check(&istio_dir));
    struct BufRow {
        label: &'static str,
        files: usize,
        buf: Duration,
        buf_rss: Option<f64>,
        meshc: f64,
        check: Option<(Duration, Option<f64>)>,
    }
    let mut buf_rows = Vec::new();
    let mut buf_start = None;
    if let Some((buf, _)) = &buf {
        let bufdir = base.join("buf");
        // (a) the corpora's protos, both roots as modules: every file in them.
        let a = bufdir.join("corpora");
        buf_workspace(&a, &[("boutique", &corpora.boutique), ("google", &corpora.google)]);
        let listed = buf_files(buf, &a, &["."]);
        if listed.len() != corpora.protos.len() {
            die(format!(
                "buf sees {} files in the corpora, meshc loads {}: {listed:?}",
                listed.len(),
                corpora.protos.len()
            ));
        }
        let make = || buf_command(buf, &a, &["build", "-o", "/dev/null"]);
        let d = time_process("buf build (corpora)", repeat, make);
        let buf_rss = peak_rss_mb(&make());
        let meshc = rows.iter().find(|r| r.label == "corpora" && r.what == "grpc").unwrap().child.ms("schemas_us");
        buf_rows.push(BufRow {
            label: "corpora protos",
            files: listed.len(),
            buf: d,
            buf_rss,
            meshc,
            check: check_corpora,
        });
        // (b) the mesh's protos; google/api is a second module for the
        // imports, and the input `mesh` limits the build to that module's
        // files (+ their imports), as meshc loads them.
        let b = bufdir.join("mesh");
        buf_workspace(&b, &[("mesh", &mesh_dir.join("schemas")), ("google", &corpora.google)]);
        let listed = buf_files(buf, &b, &["mesh"]);
        if listed.len() != mesh.protos.len() {
            die(format!("buf sees {} mesh protos, meshc loads {}", listed.len(), mesh.protos.len()));
        }
        let make = || buf_command(buf, &b, &["build", "mesh", "-o", "/dev/null"]);
        let d = time_process("buf build (mesh)", repeat, make);
        let buf_rss = peak_rss_mb(&make());
        let meshc = rows.iter().find(|r| r.label.starts_with("mesh protos (")).unwrap().child.ms("schemas_us");
        buf_rows.push(BufRow {
            label: "synthetic mesh protos",
            files: listed.len(),
            buf: d,
            buf_rss,
            meshc,
            check: check_mesh,
        });
        // (c) istio/api: its files and common-protos as two modules, less
        // the files meshc leaves out too (an import not in the repository).
        if let Some(istio) = &istio {
            let c = bufdir.join("istio");
            let exclude = istio_buf_workspace(&c, istio);
            let exclude: Vec<&str> = exclude.iter().map(String::as_str).collect();
            let listed = buf_files(buf, &c, &[&["."][..], &exclude].concat()).len();
            if listed != istio.files.len() {
                die(format!("buf sees {listed} istio/api files, meshc loads {}", istio.files.len()));
            }
            let args: Vec<&str> = [&["build", "-o", "/dev/null"][..], &exclude].concat();
            let make = || buf_command(buf, &c, &args);
            let d = time_process("buf build (istio/api)", repeat, make);
            let buf_rss = peak_rss_mb(&make());
            let meshc = rows.iter().find(|r| r.label.starts_with("istio/api")).unwrap().child.ms("schemas_us");
            buf_rows.push(BufRow {
                label: "istio/api + common-protos",
                files: listed,
                buf: d,
                buf_rss,
                meshc,
                check: check_istio,
            });
        }
        buf_start = Some(time_process("buf --version", repeat, || buf_command(buf, &a, &["--version"])));
    }

    // ------------------------------------------------------------ report ----
    println!();
    println!(
        "Synthetic mesh: {n} services, {:.1} MB of KDL; {} schema files, {} ({} group protos of {GROUP} services, \
         each importing google/api/annotations.proto; 1 OpenAPI, 1 health proto, 1 GraphQL SDL of {} root fields)",
        mesh.spec_bytes as f64 / 1e6,
        mesh.schemas.len(),
        mb(mesh.schema_bytes as u64),
        mesh.protos.len() - 1,
        GRAPHQL_TYPES * 3
    );
    println!();
    println!(
        "`meshc::schema::load`, best of {repeat}; first run: the child's first call (fresh heap); peak RSS: the \
         child's VmHWM after it, in brackets its RSS before schema::load:"
    );
    println!();
    println!("| workspace | schemas | API refs | files | bytes | operations | schema::load | first run | peak RSS |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let c = &r.child;
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} ms | {:.1} ms | {:.0} MB ({:.0} MB) |",
            r.label,
            r.what,
            c.num("refs"),
            c.num("files"),
            mb(c.num("bytes")),
            c.num("operations"),
            c.ms("schemas_us"),
            c.ms("first_us"),
            c.num("hwm_kib") as f64 / 1024.0,
            c.num("rss_before_kib") as f64 / 1024.0,
        );
    }
    println!(
        "| mesh ({n} services) | `meshc::driver::compile` | {} | {} | {} | | {:.1} ms | | {:.0} MB |",
        compile.num("refs"),
        compile.num("files"),
        mb(mesh.schema_bytes as u64),
        compile.ms("compile_us"),
        compile.num("hwm_kib") as f64 / 1024.0
    );
    let corpora_all = rows.iter().find(|r| r.label == "corpora" && r.what == "all").unwrap();
    println!();
    println!("Corpora, each file alone (a model holding only its reference), best of {repeat}:");
    println!();
    println!("| file | bytes | schema::load |");
    println!("|---|---:|---:|");
    for (us, bytes, path) in &corpora_all.child.files {
        let shown = path.strip_prefix(&corpora.root).unwrap_or(path);
        println!("| {} | {} | {:.2} ms |", shown.display(), mb(*bytes), *us as f64 / 1000.0);
    }
    let sum: u64 = corpora_all.child.files.iter().map(|f| f.0).sum();
    println!(
        "\n  sum of the files alone {:.1} ms; all together {:.1} ms ({} files load in parallel on {cores} cores)",
        sum as f64 / 1000.0,
        corpora_all.child.ms("schemas_us"),
        corpora_all.child.num("files")
    );

    println!();
    println!("Loader scaling: one generated file per format, sizes {scale:?}:");
    println!();
    println!("| format | size | bytes | operations | schema::load | µs/operation | MB/s | peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (fmt, s, c) in &scale_results {
        let unit = match *fmt {
            "proto" => "services",
            "openapi" => "paths",
            _ => "types",
        };
        println!(
            "| {fmt} | {s} {unit} | {} | {} | {:.2} ms | {:.2} | {:.0} | {:.0} MB |",
            mb(c.num("bytes")),
            c.num("operations"),
            c.ms("schemas_us"),
            c.ms("schemas_us") * 1000.0 / c.num("operations").max(1) as f64,
            c.num("bytes") as f64 / 1e6 / (c.ms("schemas_us") / 1000.0),
            c.num("hwm_kib") as f64 / 1024.0
        );
    }
    for per_format in scale_results.chunks(scale.len()) {
        for pair in per_format.windows(2) {
            let factor = pair[1].1 as f64 / pair[0].1 as f64;
            let ratio = pair[1].2.ms("schemas_us") / pair[0].2.ms("schemas_us");
            let flag = match () {
                _ if !full => "  (smoke mode: too small and noisy to judge)",
                _ if ratio > factor * 1.3 => "  <-- SUPERLINEAR",
                _ => "",
            };
            println!(
                "  {:<8} {:>6} → {:<6} {ratio:>5.1}x the time for {factor:.0}x the input{flag}",
                pair[0].0, pair[0].1, pair[1].1
            );
        }
    }

    // Item: each file parsed once however many services reference it.
    let all = &rows[0].child;
    let once = rows.iter().find(|r| r.label.starts_with("once")).unwrap();
    let (t_mesh, t_once) = (all.ms("schemas_us"), once.child.ms("schemas_us"));
    println!();
    println!(
        "Parse-once check: the mesh's {} API references name {} SchemaRefs; the index holds {} Schemas with {} \
         distinct FileIds, and Sources holds each schema file exactly once (asserted in the child). Files are \
         referenced by {}..{} APIs each (every group proto by {} services).",
        all.num("verify_refs"),
        all.num("verify_schemarefs"),
        all.num("files"),
        all.num("verify_fileids"),
        all.num("verify_min_refs"),
        all.num("verify_max_refs"),
        GROUP.min(n)
    );
    let ratio = t_mesh / t_once;
    println!(
        "  By time: schema::load on the mesh {t_mesh:.1} ms vs the same {} files referenced once each {t_once:.1} ms \
         ({ratio:.2}x; parsing per reference would be ~{}x).",
        once.child.num("files"),
        all.num("verify_refs") / all.num("files").max(1)
    );
    // Timing is noisy at smoke sizes and in the test profile: assert it in bench runs only.
    if full && t_mesh > 2.0 * t_once + 10.0 {
        die(format!("schema::load on the mesh ({t_mesh:.1} ms) is much slower than on the same files referenced once ({t_once:.1} ms): files are parsed more than once"));
    }

    if let Some((_, version)) = &buf {
        let start = buf_start.unwrap();
        println!();
        println!("buf {version} (`buf build -o /dev/null`, best of {repeat} after a warm-up) vs meshc on the same .proto files:");
        println!();
        println!(
            "| protos | files | `buf build` | meshc `schema::load` | buf / meshc | `meshc check` (process) | \
             buf / `meshc check` | peak RSS: buf, `meshc check` |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        let rss = |m: Option<f64>| m.map_or("n/a".to_string(), |m| format!("{m:.0} MB"));
        for r in &buf_rows {
            let (check, ratio, check_rss) = match r.check {
                Some((d, m)) => (format!("{:.1} ms", ms(d)), format!("{:.1}x", ms(r.buf) / ms(d)), rss(m)),
                None => ("n/a".into(), "n/a".into(), "n/a".into()),
            };
            println!(
                "| {} | {} | {:.1} ms | {:.1} ms | {:.1}x | {check} | {ratio} | {}, {check_rss} |",
                r.label,
                r.files,
                ms(r.buf),
                r.meshc,
                ms(r.buf) / r.meshc,
                rss(r.buf_rss),
            );
        }
        println!("\n  (`buf --version`, process start alone: {:.1} ms)", ms(start));
        if let (Some(istio), Some(row)) = (&istio, buf_rows.iter().find(|r| r.label.starts_with("istio"))) {
            if let Some((check, _)) = row.check {
                let ratio = ms(row.buf) / ms(check);
                println!(
                    "\n  istio/api ({} files; left out, an import not in the repository: {}): `buf build` {:.1} ms, \
                     `meshc check` {:.1} ms: {ratio:.1}x (target: 5x{})",
                    row.files,
                    istio.left_out.join(", "),
                    ms(row.buf),
                    ms(check),
                    if ratio >= 5.0 { ", met" } else { ", NOT met" }
                );
            }
        }
    }
    if !full {
        println!(
            "\nSMOKE MODE: buf was not run, istio/api not loaded. Run `MESHC_ISTIO_API=<istio/api checkout> cargo bench \
             -p meshc --bench schemas` for the real figures."
        );
    }
}

fn write_abs(path: &Path, text: &str) -> PathBuf {
    write(path, text);
    path.canonicalize().unwrap()
}
