//! Hostile inputs: `cargo bench -p meshc --bench hostile`.
//!
//! Times `driver::compile` plus rendering the diagnostics (human and JSON)
//! for inputs that were quadratic, overflowed the stack or panicked before
//! the limits of issue 11: many diagnostics in one file, a huge name echoed
//! back, an error at the end of a long minified line, deep nesting. Each case
//! reports the best of R runs and the bytes printed. Without `--bench` (as
//! under `cargo test --benches`) it runs each case once at a tenth of its size.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use meshc::diag::render::{render, Format};

struct Case {
    name: String,
    files: Vec<(&'static str, String)>,
}

fn cases(scale: usize) -> Vec<Case> {
    let unknown = |n: usize| Case {
        name: format!("{n} unknown nodes"),
        files: vec![(
            "mesh.kdl",
            format!("mesh \"x\"\n{}", (0..n).map(|i| format!("bogus{i} 1\n")).collect::<String>()),
        )],
    };
    let service =
        "service \"a\" {\n owner \"t\"\n address \"a.svc\" port=80\n api \"h\" kind=\"rest\" schema=\"api.json\"\n}\n";
    let filler: String = (0..20_000 / scale).map(|i| format!("\"k{i}\":1,")).collect();
    let deep = 200_000 / scale;
    vec![
        unknown(30_000 / scale),
        unknown(100_000 / scale),
        Case {
            name: "10 MB name".into(),
            files: vec![("mesh.kdl", format!("mesh \"x\"\n{} 1\n", "n".repeat(10 * 1024 * 1024 / scale)))],
        },
        Case {
            name: "error at the end of a minified JSON line".into(),
            files: vec![
                ("mesh.kdl", format!("mesh \"x\"\n{service}")),
                ("api.json", format!("{{\"openapi\":\"3.0.0\",{filler}\"x\":}}")),
            ],
        },
        Case {
            name: format!("KDL nested {deep} deep"),
            files: vec![("mesh.kdl", format!("mesh \"x\"\n{}{}\n", "a {".repeat(deep), "}".repeat(deep)))],
        },
        Case {
            name: format!("OpenAPI nested {deep} deep"),
            files: vec![
                ("mesh.kdl", format!("mesh \"x\"\n{service}")),
                ("api.json", format!("{{\"openapi\":\"3.0.0\",\"x\":{}{}}}", "{\"a\":".repeat(deep), "}".repeat(deep))),
            ],
        },
    ]
}

/// One compile and render; returns the time and the bytes printed.
fn run(dir: &Path) -> (Duration, usize) {
    let start = Instant::now();
    let compilation = meshc::driver::compile(dir);
    let human = render(Format::Human, &compilation.diagnostics, &compilation.sources, false);
    let json = render(Format::Json, &compilation.diagnostics, &compilation.sources, false);
    (start.elapsed(), human.len() + json.len())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (scale, repeat) = if full { (1, 3) } else { (10, 1) };
    println!("{:<45} {:>10} {:>14}", "case", "best", "bytes printed");
    for case in cases(scale) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in &case.files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        let runs: Vec<(Duration, usize)> = (0..repeat).map(|_| run(dir.path())).collect();
        let best = runs.iter().map(|r| r.0).min().unwrap();
        println!("{:<45} {:>8.1}ms {:>14}", case.name, best.as_secs_f64() * 1e3, runs[0].1);
    }
}
