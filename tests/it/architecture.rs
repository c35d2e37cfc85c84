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
    ("cli", &["base", "diag", "check", "driver", "emit"]),
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

/// The top-level modules a text names after `crate::`, including each of a
/// brace list (`use crate::{base, diag::Sink}`).
fn crate_modules(text: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(list) => {
                let list = &list[..list.find('}').unwrap_or(list.len())];
                // Nested braces close early; their first names are all that matter here.
                out.extend(list.split(',').map(|item| ident(item.trim())).filter(|m| !m.is_empty()));
            }
            None => out.push(ident(rest)),
        }
    }
    out
}

#[test]
fn layers_use_only_the_layers_below_them() {
    for (layer, allowed) in LAYERS {
        for (path, text) in layer_files(layer) {
            for used in crate_modules(production(&text)) {
                assert!(
                    used == *layer || allowed.contains(&used.as_str()),
                    "{} (layer `{layer}`) uses `crate::{used}`; allowed: {allowed:?}",
                    path.display()
                );
            }
            assert!(!production(&text).contains("super::super::"), "{}: use `crate::` paths", path.display());
        }
    }
}

#[test]
fn the_layer_check_sees_brace_imports() {
    assert_eq!(crate_modules("use crate::{base::Span, emit};"), ["base", "emit"]);
    assert_eq!(crate_modules("crate::model::Model"), ["model"]);
}

#[test]
fn every_module_of_the_crate_is_public() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    for line in lib.lines() {
        assert!(
            !line.starts_with("mod ") && !line.starts_with("pub(crate) mod "),
            "lib.rs: `{line}`: layers are `pub mod`"
        );
    }
}

/// Test modules come last in a file: after the first `#[cfg(test)]`, only
/// `#[cfg(test)]` modules, so [`production`] sees all the rest.
#[test]
fn test_modules_come_last() {
    for (layer, _) in LAYERS {
        for (path, text) in layer_files(layer) {
            let Some((_, tests)) = text.split_once("#[cfg(test)]") else { continue };
            let mut cfg_test = true;
            for line in tests.lines().filter(|l| !l.starts_with([' ', '\t', '}', '/']) && !l.is_empty()) {
                if line == "#[cfg(test)]" {
                    cfg_test = true;
                    continue;
                }
                assert!(
                    cfg_test && line.trim_start_matches("pub ").starts_with("mod "),
                    "{}: `{line}` after a test module; move the test modules to the end",
                    path.display()
                );
                cfg_test = false;
            }
        }
    }
}

/// Backends live at the path their name gives (`emit/ENGINE/PART.rs`) and
/// export `emit`; engine folders do not use each other.
#[test]
fn backends_live_in_their_engines_folders_which_do_not_use_each_other() {
    let emit = src().join("emit");
    let engines: BTreeSet<&str> = meshc::emit::BACKENDS.iter().map(|b| b.engine).collect();
    for backend in meshc::emit::BACKENDS {
        let path = emit.join(backend.module_path());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("backend `{}`: no {}", backend.name, path.display()));
        assert!(text.contains("pub fn emit("), "{} does not export `emit`", path.display());
    }
    for engine in &engines {
        for (path, text) in layer_files(&format!("emit/{engine}")) {
            let code = production(&text);
            for other in engines.iter().filter(|e| *e != engine) {
                for reference in
                    [format!("crate::emit::{other}"), format!("emit::{{{other}"), format!("super::{other}::")]
                {
                    assert!(!code.contains(&reference), "{} (engine `{engine}`) uses `{reference}`", path.display());
                }
            }
        }
    }
}

#[test]
fn checks_and_backends_do_no_io_and_see_no_syntax() {
    for layer in ["check", "emit"] {
        for (path, text) in layer_files(layer) {
            let code = production(&text);
            for forbidden in [
                "std::fs",
                "File::",
                "std::io",
                "crate::syntax",
                "crate::load",
                "std::process",
                "read_text",
                "env::var",
            ] {
                assert!(!code.contains(forbidden), "{} uses `{forbidden}`", path.display());
            }
        }
    }
}

/// The files that may touch the disk: the file-system trait's disk
/// implementation (every input) and the CLI's output writer.
const DISK_FILES: &[&str] = &["base/fs/disk.rs", "base/fs/git.rs", "cli/output.rs"];

/// What touches the disk, by `std::fs` or by `Path`'s methods that read it.
const DISK_ACCESS: &[&str] = &[
    "std::fs",
    "fs::read",
    "File::open",
    "OpenOptions",
    ".canonicalize()",
    ".is_dir()",
    ".is_file()",
    ".exists()",
    ".metadata()",
    "symlink_metadata",
    ".read_dir()",
    "glob::glob(",
];

#[test]
fn all_input_is_read_through_the_file_system_trait() {
    let layers = LAYERS.iter().map(|(layer, _)| layer_files(layer));
    let top = ["lib.rs", "main.rs"].map(|f| (src().join(f), std::fs::read_to_string(src().join(f)).unwrap()));
    for (path, text) in layers.flatten().chain(top) {
        let relative = path.strip_prefix(src()).unwrap().to_string_lossy().replace('\\', "/");
        if DISK_FILES.contains(&relative.as_str()) {
            continue;
        }
        for access in DISK_ACCESS {
            assert!(
                !production(&text).contains(access),
                "{relative} uses `{access}`: read input through `base::fs::FileSystem` (the disk is `DiskFs`'s)"
            );
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
            for forbidden in ["println!", "eprintln!", "print!(", "dbg!", "io::stdout", "io::stderr"] {
                assert!(!code.contains(forbidden), "{} uses `{forbidden}`", path.display());
            }
        }
    }
}

/// A pass emits the codes it registers, no others, and lives in its
/// category's folder: `meshc rules` and the docs read the registry.
#[test]
fn each_pass_emits_exactly_its_registered_codes_from_its_categorys_folder() {
    for pass in meshc::check::PASSES {
        let path = src().join("check").join(pass.category.as_str()).join(format!("{}.rs", pass.name.replace('-', "_")));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("pass `{}`: no {}", pass.name, path.display()));
        let code = production(&text);
        let used: BTreeSet<String> = code
            .match_indices("Code::")
            .map(|(i, _)| code[i + 6..].chars().take_while(|c| c.is_alphanumeric()).collect())
            .collect();
        let registered: BTreeSet<String> = pass.codes.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(used, registered, "pass `{}`: the codes {} uses vs its registration", pass.name, path.display());
    }
}
