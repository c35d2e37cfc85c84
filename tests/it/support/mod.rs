//! The compiler's test support: what every test shares comes from the
//! `meshc-test-support` crate (re-exported here: ports, the HTTP/1.1 client,
//! upstreams, the real Envoy, files); this module adds what needs `meshc`
//! itself (compiling and building meshes, reading diagnostics) and Istio's
//! CRDs as a validator.
// Each test module uses only some of these.
#![allow(dead_code)]

pub mod breaking;
pub mod events;
pub mod fixture;
pub mod istio_crds;
pub mod kube;

use std::fs;
use std::path::{Path, PathBuf};

pub use meshc_test_support::*;

/// A multi-file fixture (docs examples, test specs) as `(relative path,
/// contents)` pairs, split by the compiler's own `parse_fixture`.
pub fn fixture_files(block: &str) -> Result<Vec<(String, String)>, String> {
    Ok(meshc::base::fs::parse_fixture(block)?.into_iter().map(|f| (f.path, f.text)).collect())
}

/// Compiles `workspace` and writes its artifacts under `out`, returning
/// their paths (panics when it does not build). A mesh with mTLS gets its
/// certificates issued into `out/certs`, and its Envoy configs look for
/// them there (`meshc build --cert-dir`; the spec's `cert-dir` is where
/// they live in production).
pub fn build_workspace(workspace: &Path, out: &Path) -> Vec<PathBuf> {
    let compilation = meshc::driver::compile(workspace);
    let text = meshc::diag::render::render(
        meshc::diag::render::Format::Human,
        &compilation.diagnostics,
        &compilation.sources,
        false,
    );
    let mut options = meshc::emit::Options::default();
    if let Some(model) = compilation.model.as_ref().filter(|m| m.mtls.is_some()) {
        let certs = out.join("certs");
        fs::create_dir_all(&certs).unwrap();
        options = options.with_cert_dir(certs.canonicalize().unwrap().to_str().unwrap()).unwrap();
        let files = meshc::emit::certificates::issue(model, &options, None, time_now()).expect("certificates");
        for file in files {
            fs::write(certs.join(&file.artifact.path), &file.artifact.contents).unwrap();
        }
    }
    let artifacts = compilation
        .build(&options)
        .unwrap_or_else(|e| panic!("{} does not build:\n{text}{e:?}", workspace.display()))
        .artifacts;
    artifacts
        .iter()
        .map(|a| {
            let path = out.join(&a.path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &a.contents).unwrap();
            path
        })
        .collect()
}

/// The artifact a config at `config` names by a path relative to itself
/// (a contract plan's `../descriptors/HASH.b64`), from built artifacts by
/// path: what the runtime reads beside the config on disk.
pub fn artifact_beside(
    artifacts: &std::collections::BTreeMap<String, String>,
    config: &str,
    relative: &str,
) -> std::io::Result<String> {
    let mut path: Vec<&str> = config.split('/').collect();
    path.pop();
    for part in relative.split('/') {
        match part {
            ".." => drop(path.pop()),
            part => path.push(part),
        }
    }
    artifacts.get(&path.join("/")).cloned().ok_or_else(|| std::io::ErrorKind::NotFound.into())
}

/// Compiles a workspace of one file, `mesh.kdl` = `mesh`; the directory
/// lives as long as the returned handle.
pub fn compile_mesh(mesh: &str) -> (tempfile::TempDir, meshc::driver::Compilation) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", mesh)]);
    let compilation = meshc::driver::compile(dir.path());
    (dir, compilation)
}

/// The diagnostics as a person reads them (for assertion messages).
pub fn human(c: &meshc::driver::Compilation) -> String {
    meshc::diag::render::render(meshc::diag::render::Format::Human, &c.diagnostics, &c.sources, false)
}

pub fn codes(c: &meshc::driver::Compilation) -> Vec<meshc::diag::Code> {
    c.diagnostics.iter().map(|d| d.code).collect()
}

/// The one diagnostic (panics, showing them, when there are others).
pub fn only(c: &meshc::driver::Compilation) -> &meshc::diag::Diagnostic {
    assert_eq!(c.diagnostics.len(), 1, "{}", human(c));
    &c.diagnostics[0]
}

/// The spec text a span covers.
pub fn span_text(c: &meshc::driver::Compilation, span: meshc::base::Span) -> String {
    c.sources.get(span.file).text[span.start as usize..span.end as usize].to_string()
}

/// Now, as the certificate issuer takes it.
pub fn time_now() -> meshc::emit::certificates::Now {
    meshc::emit::certificates::Now::now_utc()
}

/// Human output with miette's line wrapping undone: words joined by single
/// spaces, the `│` gutter of wrapped messages dropped, so that a test can
/// look for a phrase wherever the terminal width broke it.
pub fn unwrapped(text: &str) -> String {
    text.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ")
}
