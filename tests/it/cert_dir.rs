//! `--cert-dir DIR` of `meshc build` and `meshc certs`: the configs name
//! DIR (made absolute) instead of the spec's `mtls { cert-dir }`, `certs`
//! writes there under its usual rules, and the real Envoy accepts every
//! config of the shop built and issued that way.

use crate::support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{envoy_validate, repo_root};

fn shop() -> PathBuf {
    repo_root().join("examples/shop")
}

/// Runs meshc in `cwd`, so relative paths are taken from there.
fn meshc_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("meshc runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file under `dir` with its text, by path relative to it.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Every value under a key named `key` in a YAML document (all depths).
fn values_of<'a>(doc: &'a serde_yaml_ng::Value, key: &str, out: &mut Vec<&'a serde_yaml_ng::Value>) {
    match doc {
        serde_yaml_ng::Value::Mapping(map) => {
            for (k, v) in map {
                if k.as_str() == Some(key) {
                    out.push(v);
                } else {
                    values_of(v, key, out);
                }
            }
        }
        serde_yaml_ng::Value::Sequence(items) => items.iter().for_each(|v| values_of(v, key, out)),
        _ => {}
    }
}

/// The files and directories a config's file-based SDS sources name.
fn sds_paths(doc: &serde_yaml_ng::Value) -> Vec<String> {
    let mut sources = Vec::new();
    values_of(doc, "path_config_source", &mut sources);
    let text = |v: &serde_yaml_ng::Value| v.as_str().expect("a path").to_string();
    sources.iter().flat_map(|s| [text(&s["path"]), text(&s["watched_directory"]["path"])]).collect()
}

fn yaml(text: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(text).expect("YAML")
}

#[test]
fn build_with_cert_dir_names_it_in_every_cert_path_and_never_the_specs() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().canonicalize().unwrap();
    // Without the flag, the configs name the spec's default cert-dir: the check below is not vacuous.
    let default_out = cwd.join("default");
    assert!(meshc_in(&cwd, &["build", path(&shop()), "-o", path(&default_out)]).status.success());
    assert!(files(&default_out).iter().any(|(_, text)| text.contains("/etc/meshc/certs")));

    // Relative, with a `..` and a trailing slash: the configs get the absolute, clean path.
    let out = meshc_in(&cwd, &["build", path(&shop()), "-o", "out", "--cert-dir", "x/../certs/"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let certs = format!("{}/certs", cwd.display());
    let built = files(&cwd.join("out"));
    for (file, text) in &built {
        assert!(!text.contains("/etc/meshc/certs"), "{file} still names the spec's cert-dir");
    }
    let mut paths = Vec::new();
    for (file, text) in built.iter().filter(|(f, _)| f.starts_with("envoy/")) {
        let found = sds_paths(&yaml(text));
        assert!(!found.is_empty(), "{file} has no SDS paths");
        paths.extend(found);
    }
    for p in &paths {
        assert!(p == &certs || p.starts_with(&format!("{certs}/")), "{p} is not in {certs}");
    }
    // A watched directory and the CA's SDS file per TLS context, a certificate file per workload.
    assert!(paths.contains(&certs) && paths.contains(&format!("{certs}/ca.yaml")));
    assert!(paths.contains(&format!("{certs}/gateway-public-cert.yaml")));
    assert!(paths.contains(&format!("{certs}/orders-cert.yaml")));
}

#[test]
fn certs_with_cert_dir_writes_there_and_its_sds_files_name_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().canonicalize().unwrap();
    let out = meshc_in(&cwd, &["certs", path(&shop()), "--cert-dir", "certs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = cwd.join("certs");
    let issued = files(&dir);
    assert!(issued.iter().any(|(f, _)| f == "ca.pem") && issued.iter().any(|(f, _)| f == "orders-key.pem"));
    let mut named = Vec::new();
    for (file, text) in &issued {
        let mode = fs::metadata(dir.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, if file.ends_with("-key.pem") { 0o600 } else { 0o644 }, "{file}");
        if file.ends_with(".yaml") {
            let doc = yaml(text);
            let mut found = Vec::new();
            values_of(&doc, "filename", &mut found);
            named.extend(found.iter().map(|v| v.as_str().expect("a file name").to_string()));
        }
    }
    assert!(!named.is_empty());
    for file in &named {
        assert!(Path::new(file).is_file(), "an SDS file names {file}, which is not there");
        assert!(file.starts_with(&format!("{}/", dir.display())), "{file}");
    }
    // Again: the CA is reused, the workloads' files are replaced.
    let ca = fs::read_to_string(dir.join("ca.pem")).unwrap();
    assert!(meshc_in(&cwd, &["certs", path(&shop()), "--cert-dir", "certs"]).status.success());
    assert_eq!(fs::read_to_string(dir.join("ca.pem")).unwrap(), ca);
}

#[test]
fn certs_with_cert_dir_keeps_the_refusals_of_certs() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let refused = |args: &[&str], why: &str| {
        let out = meshc_in(cwd, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(crate::support::unwrapped(&stderr(&out)).contains(why), "{args:?}: {}", stderr(&out));
    };
    // A symlink is not followed.
    fs::create_dir(cwd.join("real")).unwrap();
    std::os::unix::fs::symlink(cwd.join("real"), cwd.join("link")).unwrap();
    refused(&["certs", path(&shop()), "--cert-dir", "link"], "symbolic link");
    assert_eq!(fs::read_dir(cwd.join("real")).unwrap().count(), 0);
    // Not the workspace, nor a directory holding it.
    refused(&["certs", path(&shop()), "--cert-dir", path(&shop())], "is the workspace itself");
    refused(&["certs", path(&shop()), "--cert-dir", path(&repo_root().join("examples"))], "contains the workspace");
    // One target: where to write is either.
    refused(&["certs", path(&shop()), "-o", "a", "--cert-dir", "b"], "cannot be used with");
    refused(&["certs", path(&shop())], "--cert-dir");
    assert!(!cwd.join("a").exists() && !cwd.join("b").exists());
}

#[test]
fn cert_dir_on_a_mesh_without_mtls_has_no_effect_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    support::write_files(
        &tmp.path().join("ws"),
        &[("mesh.kdl", "service \"orders\" {\n    owner \"t\"\n    address \"orders.svc\" port=8080\n}\n")],
    );
    let out = meshc_in(tmp.path(), &["build", "ws", "-o", "out", "--cert-dir", "certs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("--cert-dir certs has no effect"), "{}", stderr(&out));
    assert!(!tmp.path().join("certs").exists());
}

/// The local run of the README: certificates and configs for one folder,
/// and `envoy --mode validate` (which opens every SDS file and the
/// certificates they name) accepts every Envoy config of the shop.
#[test]
fn envoy_accepts_every_shop_config_built_and_issued_with_one_cert_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let issued = meshc_in(cwd, &["certs", path(&shop()), "--cert-dir", "certs"]);
    assert!(issued.status.success(), "{}", stderr(&issued));
    let built = meshc_in(cwd, &["build", path(&shop()), "-o", "out", "--cert-dir", "certs"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let mut configs: Vec<PathBuf> = fs::read_dir(cwd.join("out/envoy")).unwrap().map(|e| e.unwrap().path()).collect();
    configs.sort();
    assert!(configs.len() >= 9, "the gateway and a sidecar per service: {configs:?}");
    let failures: Vec<String> = configs
        .iter()
        .filter_map(|config| envoy_validate(config).err().map(|e| format!("{}:\n{e}", config.display())))
        .collect();
    assert!(failures.is_empty(), "Envoy rejects:\n{}", failures.join("\n\n"));
}
