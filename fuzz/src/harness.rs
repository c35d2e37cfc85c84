//! What one fuzz input goes through: the same for the fuzz targets
//! (`fuzz/fuzz_targets/`) and the regression test that replays what they
//! found (`tests/fuzz_regressions.rs`, which includes this file). Public
//! meshc API only.

use std::path::{Path, PathBuf};

use meshc::diag::render::{render, Format};
use meshc::diag::Diagnostic;
use meshc::model::values::SchemaFormat;
use meshc::schema::shape::Shape;
use meshc::schema::Schema;

/// The fuzz targets, by name: the spec front end and one per schema loader.
pub const TARGETS: &[&str] = &["front_end", "proto", "openapi", "graphql", "avro", "json_schema", "jwks"];

/// Runs the input of `target` in the scratch directory `dir`; `false` for
/// an unknown target.
pub fn run(target: &str, dir: &Path, data: &[u8]) -> bool {
    let format = match target {
        "front_end" => {
            front_end(dir, data);
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
    schema(format, dir, data);
    true
}

/// A spec (any bytes) as `mesh.kdl` of a workspace in `dir`: loading,
/// lowering, schemas, every check pass, every backend when there are no
/// errors, and every diagnostic renderer. The workspace holds the shop
/// example's schemas (`apis/`, `protos/`, `schemas/`), so specs naming them
/// reach the checks and backends that read schemas.
pub fn front_end(dir: &Path, data: &[u8]) {
    provide_shop_schemas(dir);
    let root = dir.join("mesh.kdl");
    std::fs::write(&root, data).expect("the fuzz scratch directory is writable");
    let compilation = meshc::driver::compile(&root);
    if let Ok(artifacts) = compilation.emit() {
        std::hint::black_box(artifacts);
    }
    render_all(&compilation.diagnostics, &compilation.sources);
}

/// The example whose schema directories every front-end workspace holds.
fn shop() -> PathBuf {
    // The fuzz crate and the compiler crate both sit one level below the root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop")
}

/// Copies the shop's schema directories into `dir` once (copies, not links:
/// a link would lead out of the workspace).
fn provide_shop_schemas(dir: &Path) {
    for name in ["apis", "protos", "schemas"] {
        if !dir.join(name).exists() {
            copy_tree(&shop().join(name), &dir.join(name));
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the fuzz scratch directory is writable");
    let Ok(entries) = std::fs::read_dir(from) else { return };
    for entry in entries.flatten() {
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_tree(&source, &target);
        } else {
            std::fs::copy(&source, &target).expect("the fuzz scratch directory is writable");
        }
    }
}

/// A schema file (UTF-8 text; other bytes are refused before any loader
/// sees them) through its loader, what checks ask of the loaded schema, and
/// every renderer over the loader's diagnostic.
pub fn schema(format: SchemaFormat, dir: &Path, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The `.proto` loader opens its file through the include path, so the
    // file is on disk too, beside the shop's google/api (which protos import).
    if format == SchemaFormat::Proto && !dir.join("google").exists() {
        copy_tree(&shop().join("protos/google"), &dir.join("google"));
    }
    let path = schema_path(format, dir);
    std::fs::write(&path, text).expect("the fuzz scratch directory is writable");
    let (sources, loaded) = meshc::schema::fuzzing::load_text(format, &path, text);
    match loaded {
        Ok(schema) => query(&schema),
        Err(diagnostic) => render_all(&[diagnostic], &sources),
    }
}

/// Where a schema of `format` is written in `dir`.
pub fn schema_path(format: SchemaFormat, dir: &Path) -> PathBuf {
    let name = match format {
        SchemaFormat::OpenApi => "openapi.yaml",
        SchemaFormat::Proto => "fuzz.proto",
        SchemaFormat::Graphql => "schema.graphql",
        SchemaFormat::Avro => "event.avsc",
        SchemaFormat::JsonSchema => "event.json",
        SchemaFormat::Jwks => "jwks.json",
    };
    dir.join(name)
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
}

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
