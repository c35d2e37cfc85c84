//! What one fuzz input goes through: the same for the fuzz targets
//! (`fuzz/fuzz_targets/`) and the regression test that replays what they
//! found (`tests/it/fuzz_regressions.rs`, which includes this file). Public
//! meshc API only.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use meshc::base::fs::MemoryFs;
use meshc::base::{FileId, Span};
use meshc::cli::output::{check_artifact_paths, write_build, MANIFEST};
use meshc::diag::render::{render, Format};
use meshc::diag::Diagnostic;
use meshc::emit::Artifact;
use meshc::model::values::SchemaFormat;
use meshc::schema::shape::Shape;
use meshc::schema::Schema;

/// The fuzz targets, by name: the spec front end, one per schema loader, and
/// the output writer.
pub const TARGETS: &[&str] = &["front_end", "proto", "openapi", "graphql", "avro", "json_schema", "jwks", "writer"];

/// Runs the input of `target`; the writer's files go to the scratch
/// directory `dir`, every other target runs in memory. `false` for an
/// unknown target.
pub fn run(target: &str, dir: &Path, data: &[u8]) -> bool {
    let format = match target {
        "front_end" => {
            front_end(data);
            return true;
        }
        "writer" => {
            writer(dir, data);
            return true;
        }
        "proto" => SchemaFormat::Proto,
        "openapi" => SchemaFormat::OpenApi,
        "graphql" => SchemaFormat::Graphql,
        "avro" => SchemaFormat::Avro,
        "json_schema" => SchemaFormat::JsonSchema,
        "jwks" => SchemaFormat::Jwks,
        _ => return false,
    };
    schema(format, data);
    true
}

/// A spec (any bytes) as `mesh.kdl` of an in-memory workspace: loading,
/// lowering, schemas, every check pass, every backend when there are no
/// errors, and every diagnostic renderer. The workspace holds the shop
/// example's schemas (`apis/`, `protos/`, `schemas/`), so specs naming them
/// reach the checks and backends that read schemas. In memory, so an input
/// costs no file system calls (the loaders' path rules hold in memory too).
pub fn front_end(data: &[u8]) {
    let mut fs = shop_workspace().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = Path::new(WORKSPACE).join("mesh.kdl");
    fs.insert(&root, data);
    let compilation = meshc::driver::compile_in(&*fs, &root);
    if let Ok(artifacts) = compilation.emit() {
        std::hint::black_box(artifacts);
    }
    render_all(&compilation.diagnostics, &compilation.sources);
    if let Ok(text) = std::str::from_utf8(data) {
        reads_as_the_general_reader(text);
    }
}

/// A text the parser reads without a diagnostic, it reads as the general
/// KDL reader does: the plain reader, which reads most such texts, is held
/// to the general one.
fn reads_as_the_general_reader(text: &str) {
    let (document, diagnostics) = meshc::syntax::parse(FileId(0), text);
    if diagnostics.is_empty() {
        let (general, general_diagnostics) = meshc::syntax::parse_general(FileId(0), text);
        assert!(general_diagnostics.is_empty(), "the plain reader read a text with KDL errors");
        // Compared as printed: `#nan` is not equal to itself.
        assert_eq!(format!("{document:?}"), format!("{general:?}"), "the plain reader and the general reader differ");
    }
}

/// Where the in-memory inputs live.
const WORKSPACE: &str = "/fuzz";

/// The front end's workspace: the shop's schema directories under
/// [`WORKSPACE`], read from disk once; each input replaces its `mesh.kdl`.
fn shop_workspace() -> &'static Mutex<MemoryFs> {
    static FS: OnceLock<Mutex<MemoryFs>> = OnceLock::new();
    FS.get_or_init(|| {
        let mut fs = MemoryFs::new();
        for name in ["apis", "protos", "schemas"] {
            add_tree(&mut fs, &shop().join(name), &Path::new(WORKSPACE).join(name));
        }
        Mutex::new(fs)
    })
}

/// A `.proto` input's file system: the shop's `google/api` protos (which
/// protos import) beside the input.
fn proto_imports() -> &'static Mutex<MemoryFs> {
    static FS: OnceLock<Mutex<MemoryFs>> = OnceLock::new();
    FS.get_or_init(|| {
        let mut fs = MemoryFs::new();
        add_tree(&mut fs, &shop().join("protos/google"), &Path::new(WORKSPACE).join("google"));
        Mutex::new(fs)
    })
}

/// Adds the files under `from` on disk to `fs` under `to`.
fn add_tree(fs: &mut MemoryFs, from: &Path, to: &Path) {
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries.flatten() {
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            add_tree(fs, &source, &target);
        } else {
            fs.insert(&target, std::fs::read(&source).expect("the shop example is readable"));
        }
    }
}

/// Artifact paths (any bytes, one a line, at most [`WRITER_PATHS`]) through
/// the writer's path check and `meshc build`'s writer, beside a workspace
/// and a bystander file: into a new OUT (written whole through a staging
/// directory), over a meshc-built one (changed files replaced in place;
/// under the fuzzer it holds what earlier inputs left), and over that again
/// with every other path gone and the rest changed. Whatever the
/// paths, nothing outside OUT changes (only the lock beside it may appear),
/// the paths the check accepts are written and only those, and a failed
/// write leaves the previous OUT as it was.
pub fn writer(dir: &Path, data: &[u8]) {
    let sandbox = dir.join("writer");
    let (workspace, bystander) = (sandbox.join("ws"), sandbox.join("bystander"));
    std::fs::create_dir_all(&workspace).expect("the fuzz scratch directory is writable");
    std::fs::write(workspace.join("mesh.kdl"), "service \"a\"").expect("the fuzz scratch directory is writable");
    std::fs::write(&bystander, "not meshc's").expect("the fuzz scratch directory is writable");
    let artifacts: Vec<Artifact> = String::from_utf8_lossy(data)
        .lines()
        .take(WRITER_PATHS)
        .enumerate()
        .map(|(i, path)| artifact(path, i.to_string()))
        .collect();
    let new = sandbox.join("new");
    let _ = std::fs::remove_dir_all(&new);
    write_and_compare(&sandbox, &new, &workspace, &artifacts);
    let built = sandbox.join("out");
    if !built.join(MANIFEST).is_file() {
        let previous = [artifact("kubernetes/a.yaml", "previous".into())];
        write_build(&built, &workspace, &previous).expect("a plain path is written");
    }
    write_and_compare(&sandbox, &built, &workspace, &artifacts);
    // Rebuilt again with every other artifact gone and the rest changed: what is no longer produced goes.
    let fewer: Vec<Artifact> =
        artifacts.iter().skip(1).step_by(2).map(|a| artifact(&a.path, format!("{}'", a.contents))).collect();
    write_and_compare(&sandbox, &built, &workspace, &fewer);
}

fn artifact(path: &str, contents: String) -> Artifact {
    Artifact { path: path.to_string(), contents, origin: Span::new(FileId(0), 0..0) }
}

/// Writes `artifacts` to `out` in `sandbox` and checks what changed (see [`writer`]).
fn write_and_compare(sandbox: &Path, out: &Path, workspace: &Path, artifacts: &[Artifact]) {
    let accepted = check_artifact_paths(artifacts).is_ok();
    let outside_before = snapshot_outside(sandbox, out);
    // Only a refused write is compared with what OUT held before.
    let out_before = (!accepted).then(|| snapshot(out));
    let written = write_build(out, workspace, artifacts).is_ok();
    assert!(!written || accepted, "the writer wrote paths its check refuses: {:?}", paths(artifacts));
    assert!(written || !accepted, "the writer failed on paths its check accepts: {:?}", paths(artifacts));
    assert_eq!(snapshot_outside(sandbox, out), outside_before, "a file outside OUT changed");
    if written {
        let mut expected: Vec<(String, String)> =
            artifacts.iter().map(|a| (a.path.clone(), a.contents.clone())).collect();
        expected.push((MANIFEST.to_string(), String::new()));
        expected.sort();
        let mut got = snapshot(out);
        // The manifest's text is the writer's; only its presence is checked here.
        got.iter_mut().filter(|(p, _)| p == MANIFEST).for_each(|(_, c)| c.clear());
        assert_eq!(got, expected, "OUT holds other than the artifacts");
    } else {
        assert_eq!(Some(snapshot(out)), out_before, "a failed write changed OUT");
    }
}

/// Paths a writer input names at most (what one build writes is bounded too).
const WRITER_PATHS: usize = 64;

fn paths(artifacts: &[Artifact]) -> Vec<&str> {
    artifacts.iter().map(|a| a.path.as_str()).collect()
}

/// Every file under `root` except under `out` and the lock beside it, as
/// (relative path, contents), sorted.
fn snapshot_outside(root: &Path, out: &Path) -> Vec<(String, String)> {
    let out_name = out.file_name().unwrap().to_string_lossy().into_owned();
    let lock = format!(".{out_name}.meshc-lock");
    snapshot_except(root, &[&out_name, &lock])
}

/// Every entry under `root` (files with their contents, other entries as
/// their kind), sorted; empty when `root` is missing.
fn snapshot(root: &Path) -> Vec<(String, String)> {
    snapshot_except(root, &[])
}

/// [`snapshot`], without the entries of `root` named in `skipped` (and
/// what is under them).
fn snapshot_except(root: &Path, skipped: &[&str]) -> Vec<(String, String)> {
    fn visit(root: &Path, dir: &Path, skipped: &[&str], out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if skipped.contains(&relative.as_str()) {
                continue;
            }
            let kind = entry.file_type().expect("the fuzz scratch directory is readable");
            if kind.is_dir() {
                visit(root, &path, skipped, out);
            } else if kind.is_file() {
                out.push((relative, std::fs::read_to_string(&path).unwrap_or_default()));
            } else {
                out.push((relative, format!("{kind:?}")));
            }
        }
    }
    let mut out = Vec::new();
    visit(root, root, skipped, &mut out);
    out.sort();
    out
}

/// The example whose schemas the front end's workspace holds.
fn shop() -> PathBuf {
    // The fuzz crate and the compiler crate both sit one level below the root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop")
}

/// A schema file (UTF-8 text; other bytes are refused before any loader
/// sees them) through its loader, what checks ask of the loaded schema, and
/// every renderer over the loader's diagnostic. In memory, like [`front_end`].
pub fn schema(format: SchemaFormat, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = schema_path(format);
    let (sources, loaded) = if format == SchemaFormat::Proto {
        // The `.proto` loader opens its file through the include path.
        let mut fs = proto_imports().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        fs.insert(&path, text);
        meshc::schema::fuzzing::load_text_in(&*fs, format, &path, text)
    } else {
        meshc::schema::fuzzing::load_text_in(&MemoryFs::new(), format, &path, text)
    };
    match loaded {
        Ok(schema) => query(&schema),
        Err(diagnostic) => render_all(&[diagnostic], &sources),
    }
}

/// Where a schema input of `format` is, in memory.
fn schema_path(format: SchemaFormat) -> PathBuf {
    let name = match format {
        SchemaFormat::OpenApi => "openapi.yaml",
        SchemaFormat::Proto => "fuzz.proto",
        SchemaFormat::Graphql => "schema.graphql",
        SchemaFormat::Avro => "event.avsc",
        SchemaFormat::JsonSchema => "event.json",
        SchemaFormat::Jwks => "jwks.json",
    };
    Path::new(WORKSPACE).join(name)
}

fn render_all(diagnostics: &[Diagnostic], sources: &meshc::base::Sources) {
    for format in [Format::Human, Format::Json, Format::Sarif] {
        std::hint::black_box(render(format, diagnostics, sources, false));
    }
}

/// Asks the loaded schema what checks and backends ask of it.
fn query(schema: &Schema) {
    let mut budget = SHAPE_BUDGET;
    for def in &schema.operations {
        let operation = &def.operation;
        std::hint::black_box(schema.find(operation));
        std::hint::black_box(schema.http_rules(operation));
        let _ = std::hint::black_box(schema.input_field(operation, "id.name"));
        if let Some(signature) = schema.graphql_signature(operation) {
            std::hint::black_box(signature);
        }
        if let Some((input, output)) = schema.grpc_messages(operation) {
            walk(&input, &mut budget);
            walk(&output, &mut budget);
        }
        if let Some(shapes) = schema.rest_shapes(operation) {
            for parameter in &shapes.parameters {
                walk(&parameter.slot.shape, &mut budget);
            }
            for slot in shapes.body.iter().map(|(_, s)| s).chain(&shapes.response) {
                walk(&slot.shape, &mut budget);
            }
        }
    }
    std::hint::black_box((schema.event_shape(), schema.jwks(), schema.graphql_sdl(), schema.openapi_components()));
    // Compatibility checks: the event schema (a `.proto`'s first messages)
    // as writer and reader of itself and of each other.
    let messages = schema.proto_messages().unwrap_or_default();
    let names = std::iter::once(None).chain(messages.iter().take(COMPAT_MESSAGES).map(|m| Some(m.as_str())));
    let events: Vec<_> = names.filter_map(|m| schema.event_type(m)).collect();
    for writer in &events {
        for reader in &events {
            std::hint::black_box(meshc::schema::compat::reader_can_read(writer, reader));
        }
    }
}

/// A `.proto`'s messages compared pairwise at most.
const COMPAT_MESSAGES: usize = 4;

/// Shapes unfold lazily and may be recursive: visit at most this many.
const SHAPE_BUDGET: usize = 2_000;

fn walk(shape: &Shape<'_>, budget: &mut usize) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    match shape {
        Shape::Object(object) => {
            std::hint::black_box((object.name(), object.key()));
            for field in object.fields() {
                walk(&field.slot.shape, budget);
            }
        }
        Shape::List(item) => walk(&item.shape, budget),
        _ => {}
    }
}
