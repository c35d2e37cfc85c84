//! Architecture invariants from docs/architecture.md, enforced by reading
//! the source: which layer may use which, and where IO may happen.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// (layer, layers it may use). A layer is a top-level module of the crate.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &[]),
    ("diag", &["base"]),
    ("syntax", &["base", "diag"]),
    ("load", &["base", "diag", "syntax"]),
    ("model", &["base", "diag", "syntax", "load"]),
    ("schema", &["base", "diag", "model"]),
    ("check", &["base", "diag", "model", "schema"]),
    ("emit", &["base", "model", "schema"]),
    ("driver", &["base", "diag", "load", "model", "schema", "check", "emit"]),
    ("cli", &["diag", "driver", "emit"]),
];

/// Every .rs file of a layer (a `name.rs` file or a `name/` directory), with its text.
fn layer_files(layer: &str) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let file = src().join(format!("{layer}.rs"));
    if file.exists() {
        out.push((file.clone(), std::fs::read_to_string(&file).unwrap()));
    }
    let mut stack = vec![src().join(layer)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push((p.clone(), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out
}

/// Non-test code: everything before a `#[cfg(test)]` line.
fn production(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap()
}

#[test]
fn every_module_of_the_crate_is_a_listed_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let modules: BTreeSet<&str> =
        lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';')).collect();
    let layers: BTreeSet<&str> = LAYERS.iter().map(|(l, _)| *l).collect();
    assert_eq!(modules, layers);
}

#[test]
fn layers_use_only_the_layers_below_them() {
    for (layer, allowed) in LAYERS {
        for (path, text) in layer_files(layer) {
            for (i, _) in production(&text).match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                let used: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                assert!(
                    used == *layer || allowed.contains(&used.as_str()),
                    "{} (layer `{layer}`) uses `crate::{used}`; allowed: {allowed:?}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn checks_and_backends_do_no_io_and_see_no_syntax() {
    for layer in ["check", "emit"] {
        for (path, text) in layer_files(layer) {
            let code = production(&text);
            for forbidden in ["std::fs", "File::", "std::io", "crate::syntax", "crate::load", "std::process"] {
                assert!(!code.contains(forbidden), "{} uses `{forbidden}`", path.display());
            }
        }
    }
}

#[test]
fn model_types_are_not_serializable() {
    for (path, text) in layer_files("model") {
        assert!(
            !text.contains("serde"),
            "{} uses serde; model types are not serializable, backends define their own output shapes",
            path.display()
        );
    }
}

#[test]
fn only_the_cli_prints() {
    for (layer, _) in LAYERS.iter().filter(|(l, _)| *l != "cli") {
        for (path, text) in layer_files(layer) {
            let code = production(&text);
            for forbidden in ["println!", "eprintln!", "print!(", "std::io::stdout", "std::io::stderr"] {
                assert!(!code.contains(forbidden), "{} uses `{forbidden}`", path.display());
            }
        }
    }
}
