//! The dependency policy (`deny.toml`: licenses, duplicate versions,
//! sources) held by the real cargo-deny: the workspace meets it, and a
//! doctored workspace (a crate under a license the policy does not allow, a
//! crate in two versions, a git source) fails it, each with a diagnostic
//! naming the crate. CONTRIBUTING.md, "A new dependency", says what to do
//! when it fails.
//!
//! cargo-deny is found through `$MESHC_CARGO_DENY`, else
//! `.tools/cargo-deny/bin/cargo-deny` (`scripts/test` installs it); without
//! it the tests fail: they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::repo_root;

fn cargo_deny() -> PathBuf {
    const HOW: &str = "run ./scripts/test (installs cargo-deny into .tools/cargo-deny) or set MESHC_CARGO_DENY";
    let path = match std::env::var_os("MESHC_CARGO_DENY").filter(|v| !v.is_empty()) {
        Some(value) => PathBuf::from(value),
        None => repo_root().join(".tools/cargo-deny/bin/cargo-deny"),
    };
    let runs = Command::new(&path).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(runs, "cargo-deny is missing or does not run at {}: {HOW}", path.display());
    path
}

/// `cargo-deny --manifest-path MANIFEST --config deny.toml -f json check licenses bans sources`
/// (`--locked` too: the workspace's Cargo.lock is judged as committed).
fn check(manifest: &Path, locked: bool) -> Output {
    Command::new(cargo_deny())
        .args(locked.then_some("--locked"))
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--config")
        .arg(repo_root().join("deny.toml"))
        .args(["--format", "json", "--color", "never", "check", "licenses", "bans", "sources"])
        .output()
        .unwrap()
}

/// The errors reported: `(code, crates named)`.
fn errors(output: &Output) -> Vec<(String, Vec<String>)> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|d| d["type"] == "diagnostic" && d["fields"]["severity"] == "error")
        .map(|d| {
            let fields = &d["fields"];
            let graphs = fields["graphs"].as_array().cloned().unwrap_or_default();
            let crates = graphs.iter().filter_map(|g| g["Krate"]["name"].as_str().map(str::to_string)).collect();
            (fields["code"].as_str().unwrap_or_default().to_string(), crates)
        })
        .collect()
}

#[test]
fn the_workspace_meets_the_dependency_policy() {
    let output = check(&repo_root().join("Cargo.toml"), true);
    let found = errors(&output);
    assert!(
        output.status.success() && found.is_empty(),
        "deny.toml's policy fails: {found:?}\n{}\nCONTRIBUTING.md, \"A new dependency\", says how to proceed",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A crate of the doctored workspace: its manifest and an empty library.
fn krate(dir: &Path, name: &str, version: &str, license: &str, dependencies: &str) {
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\nlicense = \"{license}\"\npublish = false\n\n[dependencies]\n{dependencies}"
    );
    write(&dir.join("Cargo.toml"), &manifest);
    write(&dir.join("src/lib.rs"), "");
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=meshc", "-c", "user.email=meshc@invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn a_disallowed_license_an_unlisted_second_version_and_a_git_source_each_fail_the_policy_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"app\"]\nexclude = [\"gpl\", \"shared-1\", \"shared-2\", \"from-git\"]\nresolver = \"2\"\n",
    );
    krate(&root.join("gpl"), "doctored-gpl", "0.1.0", "GPL-3.0-only", "");
    krate(&root.join("shared-1"), "doctored-shared", "1.0.0", "MIT", "");
    krate(&root.join("shared-2"), "doctored-shared", "2.0.0", "MIT", "");
    krate(&root.join("from-git"), "doctored-git", "0.1.0", "MIT", "");
    git(&root.join("from-git"), &["init", "-q"]);
    git(&root.join("from-git"), &["add", "-A"]);
    git(&root.join("from-git"), &["commit", "-q", "-m", "a crate outside crates.io"]);
    let git_url = format!("file://{}", root.join("from-git").display());
    let dependencies = format!(
        "doctored-gpl = {{ path = \"../gpl\" }}\n\
         shared-1 = {{ package = \"doctored-shared\", path = \"../shared-1\" }}\n\
         shared-2 = {{ package = \"doctored-shared\", path = \"../shared-2\" }}\n\
         doctored-git = {{ git = \"{git_url}\" }}\n"
    );
    krate(&root.join("app"), "doctored-app", "0.1.0", "MIT", &dependencies);

    let output = check(&root.join("Cargo.toml"), false);
    assert!(!output.status.success(), "the doctored workspace passes:\n{}", String::from_utf8_lossy(&output.stderr));
    let found = errors(&output);
    let named = |code: &str, name: &str| found.iter().any(|(c, crates)| c == code && crates.iter().any(|n| n == name));
    assert!(named("rejected", "doctored-gpl"), "the GPL crate's license is refused: {found:?}");
    assert!(named("duplicate", "doctored-shared"), "two versions of one crate are refused: {found:?}");
    assert!(named("source-not-allowed", "doctored-git"), "a git source is refused: {found:?}");
}
