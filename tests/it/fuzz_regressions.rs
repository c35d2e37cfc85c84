//! Every input the fuzz targets (`fuzz/`, run by `scripts/fuzz`) ever found
//! crashing, hanging or running out of memory, replayed through the same
//! harness the targets use (`fuzz/src/harness.rs`, public meshc API only):
//! `tests/fuzz-regressions/<target>/<file>` must run without a panic and in
//! bounded time.

#[path = "../../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use meshc::model::values::SchemaFormat;

/// What one input may take in the dev profile (the fuzzers allow 10 s optimised).
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// The fuzzers' main thread has the platform's 8 MiB stack; so does the replay.
const STACK: usize = 8 << 20;

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz-regressions")
}

/// (target, input file) for every file under `dir/<target>/`, sorted.
fn inputs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for target in harness::TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push((target.to_string(), path));
            }
        }
    }
    out.sort();
    out
}

/// Runs one input on a thread of its own; `Err` says what went wrong.
fn replay(target: &str, input: &Path) -> Result<(), String> {
    let data = std::fs::read(input).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().to_path_buf();
    let target_name = target.to_string();
    let (done, finished) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let known = harness::run(&target_name, &dir, &data);
            let _ = done.send(known);
        })
        .unwrap();
    match finished.recv_timeout(TIME_LIMIT) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("unknown target {target}")),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("still running after {TIME_LIMIT:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!("panicked: {}", panic_message(worker.join().err()))),
    }
}

fn panic_message(payload: Option<Box<dyn std::any::Any + Send>>) -> String {
    let Some(payload) = payload else { return "no result".into() };
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic".into())
}

fn replay_all(dir: &Path) {
    let failures: Vec<String> = inputs(dir)
        .iter()
        .filter_map(|(target, input)| replay(target, input).err().map(|e| format!("{target} {}: {e}", input.display())))
        .collect();
    assert!(failures.is_empty(), "fuzz regressions fail:\n{}", failures.join("\n"));
}

#[test]
fn every_input_the_fuzzers_found_runs_without_panic_in_bounded_time() {
    replay_all(&regressions());
}

#[test]
fn every_regression_directory_is_a_fuzz_target() {
    for dir in [regressions(), regressions().join("lead")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() && name != "lead" {
                assert!(harness::TARGETS.contains(&name.as_str()), "{}: not a fuzz target", path.display());
            }
        }
    }
}

#[test]
fn the_harness_loads_a_valid_schema_and_reports_an_invalid_one_with_its_span() {
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let proto = std::fs::read_to_string(shop.join("protos/inventory.proto")).unwrap();
    let (_, loaded) =
        meshc::schema::fuzzing::load_text(SchemaFormat::Proto, &shop.join("protos/inventory.proto"), &proto);
    assert!(!loaded.expect("the shop's proto loads").operations.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let (sources, loaded) =
        meshc::schema::fuzzing::load_text(SchemaFormat::Jwks, &dir.path().join("jwks.json"), "{\"keys\": 1}");
    let diagnostic = loaded.expect_err("not a JWKS");
    assert_eq!(diagnostic.code, meshc::diag::Code::InvalidSchema);
    let span = diagnostic.primary.as_ref().expect("a span").span;
    assert_eq!(sources.get(span.file).text.len(), "{\"keys\": 1}".len());
}

#[test]
fn every_target_runs_on_the_shop_example() {
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let samples = [
        ("front_end", "mesh.kdl"),
        ("proto", "protos/payments.proto"),
        ("openapi", "apis/orders.yaml"),
        ("graphql", "apis/reviews.graphql"),
        ("avro", "schemas/order-placed.avsc"),
        ("json_schema", "schemas/review-posted.json"),
        ("jwks", "schemas/review-posted.json"),
        // Lines of a spec as artifact paths: spaces, quotes, braces.
        ("writer", "mesh.kdl"),
    ];
    assert_eq!(samples.len(), harness::TARGETS.len());
    for (target, file) in samples {
        replay(target, &shop.join(file)).unwrap_or_else(|e| panic!("{target}: {e}"));
    }
}
