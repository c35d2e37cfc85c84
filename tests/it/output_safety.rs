//! What `meshc build` and `meshc certs` may write, and what they never touch
//! (issue 11, items 1-6). Each test runs the real binary in a temp dir and
//! asserts the refusal or diagnostic AND that nothing outside the output changed.

use crate::support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn meshc(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshc")).args(args).output().expect("meshc runs")
}

fn build(workspace: &Path, out: &Path) -> Output {
    meshc(&[Path::new("build"), workspace, Path::new("-o"), out])
}

fn certs(workspace: &Path, out: &Path) -> Output {
    meshc(&[Path::new("certs"), workspace, Path::new("-o"), out])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A temp dir holding a copy of examples/shop at `ws/`.
fn shop_in_temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    support::copy_tree(&support::repo_root().join("examples/shop"), &ws);
    (dir, ws)
}

/// Every entry under `dir`: files with their bytes and mode, symlinks with
/// their target, directories as such.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path);
                "dir".to_string()
            } else {
                format!(
                    "{:o} {}",
                    meta.permissions().mode() & 0o777,
                    String::from_utf8_lossy(&fs::read(&path).unwrap())
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

/// Asserts exit status 2 with MESH0085 naming `what` and a help line.
fn assert_refused(output: &Output, what: &str) {
    let text = crate::support::unwrapped(&stderr(output));
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("MESH0085") && text.contains(what), "expected MESH0085 and `{what}` in:\n{text}");
    assert!(text.contains("help: "), "{text}");
}

// 1. OUT rules

#[test]
fn build_refuses_the_workspace_its_ancestors_and_its_inside() {
    let (dir, ws) = shop_in_temp();
    let before = snapshot(dir.path());
    for (out, why) in [
        (ws.clone(), "is the workspace itself"),
        (dir.path().to_path_buf(), "contains the workspace"),
        (ws.join("out"), "is inside the workspace"),
        (ws.join("services/.."), "is the workspace itself"),
    ] {
        assert_refused(&build(&ws, &out), why);
        assert_eq!(snapshot(dir.path()), before, "-o {} changed something", out.display());
    }
}

#[test]
fn a_refusal_is_one_report_with_mesh0085_in_json_and_sarif() {
    let (dir, ws) = shop_in_temp();
    for (format, codes_at) in [("json", "/diagnostics"), ("sarif", "/runs/0/results")] {
        let args = [Path::new("build"), &ws, Path::new("-o"), &ws, Path::new("--format"), Path::new(format)];
        let output = meshc(&args);
        assert_eq!(output.status.code(), Some(2));
        // One document on stdout: the spec's diagnostics (none) and the refusal.
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
        let entries = report.pointer(codes_at).and_then(|v| v.as_array()).expect(codes_at).clone();
        let refusals: Vec<String> = entries.iter().map(|e| e.to_string()).filter(|t| t.contains("MESH0085")).collect();
        assert_eq!(refusals.len(), 1, "{entries:?}");
        assert!(refusals[0].contains("is the workspace itself"), "{}", refusals[0]);
    }
    assert!(ws.join("mesh.kdl").exists() && dir.path().read_dir().unwrap().count() == 1);
}

#[test]
fn build_refuses_a_directory_it_did_not_build_a_file_and_a_symlink() {
    let (dir, ws) = shop_in_temp();
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    fs::write(home.join("notes.txt"), "mine").unwrap();
    fs::write(dir.path().join("file"), "mine").unwrap();
    symlink(&home, dir.path().join("link")).unwrap();
    // A manifest meshc did not write (wrong format line) does not count.
    fs::create_dir(dir.path().join("fake")).unwrap();
    fs::write(dir.path().join("fake/.meshc-output"), "meshc-output 999\n").unwrap();
    let before = snapshot(dir.path());
    for (out, why) in [
        ("home", "choose an empty or new directory, or one meshc built"),
        ("file", "it is not a directory"),
        ("link", "it is a symbolic link"),
        ("fake", "no .meshc-output manifest"),
    ] {
        assert_refused(&build(&ws, &dir.path().join(out)), why);
        assert_eq!(snapshot(dir.path()), before, "-o {out} changed something");
    }
}

#[test]
fn build_writes_a_missing_or_empty_directory_and_replaces_its_own_output() {
    let (dir, ws) = shop_in_temp();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    assert_eq!(build(&ws, &out).status.code(), Some(0));
    let manifest = fs::read_to_string(out.join(".meshc-output")).unwrap();
    let paths: Vec<&str> = manifest.lines().skip(1).map(|l| l.split_once("  ").unwrap().1).collect();
    assert_eq!(manifest.lines().next(), Some("meshc-output 2"));
    assert_eq!(paths[..2], ["alertmanager/alertmanager.yml", "cert-manager/accounts.yaml"], "{manifest}");
    assert!(paths.iter().all(|p| out.join(p).is_file()), "{manifest}");
    let output = build(&ws, &out);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(fs::read_to_string(out.join(".meshc-output")).unwrap(), manifest);
    let fresh = dir.path().join("new/nested/out");
    assert_eq!(build(&ws, &fresh).status.code(), Some(0));
    let siblings: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(siblings.len(), 3, "staging or lock files left: {siblings:?}");
}

// 2. names that become paths

#[test]
fn a_token_exchange_named_like_a_path_is_an_error_at_its_name_and_nothing_is_written() {
    let (dir, ws) = shop_in_temp();
    for file in ["security.kdl", "services/accounts.kdl"] {
        let path = ws.join(file);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        fs::write(&path, text.replace("\"shop-sts\"", "\"../../../../../victim\"")).unwrap();
    }
    let before = snapshot(dir.path());
    let output = build(&ws, &dir.path().join("out"));
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("`../../../../../victim` is not a valid name"), "{text}");
    assert!(text.contains("security.kdl"), "the span is in the declaring file:\n{text}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn names_that_become_file_names_are_checked_where_they_are_declared() {
    let (_dir, c) = support::compile_mesh(
        r#"
service "web" {
    owner "team-web"
    address "web.shop.svc.cluster.local" port=8080
    api "../../x" kind="rest" schema="api.yaml"
}
token-exchange "A/B" { sts "http://sts:8080/token"; issues "internal" }
"#,
    );
    let text = support::human(&c);
    for name in ["../../x", "A/B"] {
        let d =
            c.diagnostics.iter().find(|d| d.message.contains(&format!("`{name}`"))).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(d.code, meshc::diag::Code::InvalidValue, "{text}");
        assert_eq!(support::span_text(&c, d.primary.as_ref().unwrap().span), format!("\"{name}\""));
    }
}

// 3. collisions

/// A service `catalog-v1` and version `v1` of `catalog`: both name `kubernetes/catalog-v1.yaml`.
const COLLIDING: &str = r#"
service "catalog" {
    owner "team-catalog"
    address "catalog.shop.svc.cluster.local" port=8080
    versions {
        version "v1"
    }
}
service "catalog-v1" {
    owner "team-catalog"
    address "catalog-v1.shop.svc.cluster.local" port=8080
}
"#;

#[test]
fn two_artifacts_with_one_path_are_an_error_naming_both_declarations() {
    let (_dir, c) = support::compile_mesh(COLLIDING);
    assert_eq!(c.errors(), 0, "{}", support::human(&c));
    let collisions = c.emit().expect_err("a collision fails the build");
    let [d] = collisions.as_slice() else { panic!("{collisions:?}") };
    assert_eq!(d.code, meshc::diag::Code::ArtifactPathCollision);
    assert!(d.message.contains("kubernetes/catalog-v1.yaml"), "{}", d.message);
    let labelled: Vec<String> =
        [d.primary.as_ref().unwrap()].into_iter().chain(&d.secondary).map(|l| support::span_text(&c, l.span)).collect();
    assert_eq!(labelled, ["\"catalog-v1\"", "\"v1\""].map(String::from));
}

#[test]
fn a_colliding_build_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    support::write_files(&ws, &[("mesh.kdl", COLLIDING)]);
    let before = snapshot(dir.path());
    let output = build(&ws, &dir.path().join("out"));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("MESH0060"), "{}", stderr(&output));
    assert_eq!(snapshot(dir.path()), before);
}

// 4. and 5. certs

/// The shop's workspace and an empty cert dir beside it.
fn certs_setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, ws) = shop_in_temp();
    let out = dir.path().join("certs");
    (dir, ws, out)
}

#[test]
fn certs_never_write_through_a_planted_symlink() {
    let (dir, ws, out) = certs_setup();
    fs::create_dir(&out).unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "theirs").unwrap();
    // The staging name meshc used to write keys through, and a target.
    symlink(&victim, out.join(".orders-key.pem.tmp")).unwrap();
    symlink(&victim, out.join("orders-key.pem")).unwrap();
    let output = certs(&ws, &out);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "theirs");
    let key = fs::symlink_metadata(out.join("orders-key.pem")).unwrap();
    assert!(key.is_file() && key.permissions().mode() & 0o777 == 0o600);
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != ".orders-key.pem.tmp")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn certs_refuse_a_symlinked_dir_and_the_workspace() {
    let (dir, ws, out) = certs_setup();
    let real = dir.path().join("real");
    fs::create_dir(&real).unwrap();
    symlink(&real, &out).unwrap();
    let before = snapshot(dir.path());
    assert_refused(&certs(&ws, &out), "symbolic link");
    assert_refused(&certs(&ws, &ws), "is the workspace itself");
    assert_refused(&certs(&ws, dir.path()), "contains the workspace");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn certs_refuse_a_ca_key_that_does_not_match_the_ca() {
    let (dir, ws, out) = certs_setup();
    let other = dir.path().join("other");
    assert_eq!(certs(&ws, &out).status.code(), Some(0));
    assert_eq!(certs(&ws, &other).status.code(), Some(0));
    fs::copy(other.join("ca-key.pem"), out.join("ca-key.pem")).unwrap();
    let before = snapshot(dir.path());
    let output = certs(&ws, &out);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("ca-key.pem is not the private key of ca.pem"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("PRIVATE KEY"), "{}", stderr(&output));
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn certs_refuse_half_a_ca_instead_of_replacing_it() {
    for (keep, missing) in [("ca.pem", "ca-key.pem"), ("ca-key.pem", "ca.pem")] {
        let (dir, ws, out) = certs_setup();
        assert_eq!(certs(&ws, &out).status.code(), Some(0));
        fs::remove_file(out.join(missing)).unwrap();
        let before = snapshot(dir.path());
        let output = certs(&ws, &out);
        assert_refused(&output, &format!("holds {keep} but not {missing}"));
        assert_eq!(snapshot(dir.path()), before);
    }
}

#[test]
fn certs_make_a_readable_ca_key_private_with_a_warning_and_reuse_the_ca() {
    let (_dir, ws, out) = certs_setup();
    assert_eq!(certs(&ws, &out).status.code(), Some(0));
    let ca = fs::read(out.join("ca.pem")).unwrap();
    fs::set_permissions(out.join("ca-key.pem"), fs::Permissions::from_mode(0o644)).unwrap();
    let output = certs(&ws, &out);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("warning: ") && stderr(&output).contains("now 0600"), "{}", stderr(&output));
    assert_eq!(fs::metadata(out.join("ca-key.pem")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::read(out.join("ca.pem")).unwrap(), ca, "the CA was reused");
}

// 6. staging, lock, kill -9

#[test]
fn a_build_removes_staging_dirs_of_dead_builds_and_leaves_no_lock() {
    let (dir, ws) = shop_in_temp();
    let out = dir.path().join("out");
    // pid_max is at most 2^22 on Linux: no process has this pid.
    fs::create_dir_all(dir.path().join(".out.meshc-new-4999999-1/envoy")).unwrap();
    fs::write(dir.path().join(".out.meshc-new-4999999-1/envoy/x.yaml"), "half").unwrap();
    fs::write(dir.path().join(".out.meshc-lock"), "").unwrap();
    assert_eq!(build(&ws, &out).status.code(), Some(0));
    let mut siblings: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    siblings.sort();
    assert_eq!(siblings, ["out", "ws"]);
}

#[test]
fn concurrent_builds_to_one_output_all_succeed() {
    let (dir, ws) = shop_in_temp();
    let out = dir.path().join("out");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_meshc"))
                .arg("build")
                .arg(&ws)
                .arg("-o")
                .arg(&out)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    let mut siblings: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    siblings.sort();
    assert_eq!(siblings, ["out", "ws"]);
}

/// A mesh of `n` services, each calling the next: several files per service.
fn large_mesh(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "service \"svc-{i:04}\" {{\n    owner \"team\"\n    address \"svc-{i:04}.big.svc.cluster.local\" port=8080\n    traffic {{ outlier-detection consecutive-5xx=5 }}\n"
        ));
        if i + 1 < n {
            text.push_str(&format!("    calls \"svc-{:04}\" timeout=\"{}ms\"\n", i + 1, 10 * (n - i) + 100));
        }
        text.push_str("}\n");
    }
    text
}

/// Each file of OUT is its old or its new version, never a partial one,
/// and the manifest never vouches (by hash) for bytes a file does not hold,
/// so the next build repairs whatever a kill left half-done.
fn assert_old_or_new_per_file(
    out: &Path,
    old: &BTreeMap<PathBuf, String>,
    new: &BTreeMap<PathBuf, String>,
    round: usize,
) {
    let manifest = PathBuf::from(".meshc-output");
    for (path, now) in snapshot(out) {
        if path == manifest || now == "dir" {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            continue; // a killed build's unrenamed new file: the next build removes it
        }
        assert!(
            old.get(&path) == Some(&now) || new.get(&path) == Some(&now),
            "round {round}: {} is neither its old nor its new version",
            path.display()
        );
    }
    let text = fs::read_to_string(out.join(&manifest)).unwrap();
    for line in text.lines().skip(1) {
        let (hash, path) = line.split_once("  ").unwrap();
        if hash != "-" {
            let bytes = fs::read(out.join(path)).unwrap_or_default();
            assert_eq!(sha256(&bytes), hash, "round {round}: the manifest vouches for {path} wrongly");
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_build_killed_at_any_moment_leaves_each_file_old_or_new_and_the_next_build_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (small, large) = (dir.path().join("small"), dir.path().join("large"));
    support::write_files(&small, &[("mesh.kdl", &large_mesh(3))]);
    support::write_files(&large, &[("mesh.kdl", &large_mesh(80))]);
    let out = dir.path().join("out");
    // The two possible outputs, built once each elsewhere.
    let (old_ref, new_ref) = (dir.path().join("old-ref"), dir.path().join("new-ref"));
    assert_eq!(build(&small, &old_ref).status.code(), Some(0));
    assert_eq!(build(&large, &new_ref).status.code(), Some(0));
    let without_manifest = |mut tree: BTreeMap<PathBuf, String>| {
        tree.remove(Path::new(".meshc-output"));
        tree
    };
    let (old, new) = (without_manifest(snapshot(&old_ref)), without_manifest(snapshot(&new_ref)));
    assert_ne!(old, new);
    // How long rewriting a built OUT takes (what the killed builds do), the
    // slower of two runs: a loaded machine must not push every kill before the writes.
    let mut full = 0;
    for _ in 0..2 {
        assert_eq!(build(&small, &out).status.code(), Some(0));
        let started = std::time::Instant::now();
        assert_eq!(build(&large, &out).status.code(), Some(0));
        full = full.max(started.elapsed().as_micros() as u64);
    }

    // A fixed-seed generator (xorshift) for the kill moments.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    assert_eq!(build(&small, &out).status.code(), Some(0));
    let mut toward_large = true;
    for round in 0..30 {
        // Alternate targets, so both directions are killed.
        let to = if toward_large { &large } else { &small };
        toward_large = !toward_large;
        let mut child = Command::new(env!("CARGO_BIN_EXE_meshc"))
            .arg("build")
            .arg(to)
            .arg("-o")
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Up to 1.5 full builds: some kills land before the writes, some during, some after.
        std::thread::sleep(std::time::Duration::from_micros(next() % (full * 3 / 2 + 1)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert_old_or_new_per_file(&out, &old, &new, round);
    }
    // Whatever the kills left, a complete build makes OUT exactly its output.
    for (spec, expected) in [(&large, &new), (&small, &old)] {
        assert_eq!(build(spec, &out).status.code(), Some(0));
        assert_eq!(&without_manifest(snapshot(&out)), expected);
    }
    let mut siblings: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    siblings.sort();
    assert_eq!(siblings, ["large", "new-ref", "old-ref", "out", "small"]);
}
