//! Writing artifacts: all files go to a fresh directory beside OUT, which
//! then replaces OUT by rename, so a failed or interrupted build never
//! leaves a partial OUT behind.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::emit::Artifact;

pub fn write_atomically(out: &Path, artifacts: &[Artifact]) -> io::Result<()> {
    let name = out
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "output path has no final component"))?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)?;
    let tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    );
    let staging = parent.join(format!(".{}.meshc-new-{tag}", name.to_string_lossy()));
    let result = write_all(&staging, artifacts).and_then(|()| swap_into_place(&staging, out, &parent, name, &tag));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn write_all(dir: &Path, artifacts: &[Artifact]) -> io::Result<()> {
    fs::create_dir(dir)?;
    for artifact in artifacts {
        let path = dir.join(&artifact.path);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p)?;
        }
        fs::write(&path, &artifact.contents)?;
    }
    Ok(())
}

fn swap_into_place(staging: &Path, out: &Path, parent: &Path, name: &std::ffi::OsStr, tag: &str) -> io::Result<()> {
    if !out.exists() {
        return fs::rename(staging, out);
    }
    if !out.is_dir() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, "output path exists and is not a directory"));
    }
    let old = parent.join(format!(".{}.meshc-old-{tag}", name.to_string_lossy()));
    fs::rename(out, &old)?;
    if let Err(e) = fs::rename(staging, out) {
        let _ = fs::rename(&old, out); // put the previous output back
        return Err(e);
    }
    fs::remove_dir_all(&old)
}

/// Issues certificates for the compiled mesh into `dir` (reusing the CA found there),
/// each file written beside its destination and renamed over it: keys and
/// certificates first, the SDS files last, so a proxy watching the directory
/// never reads a certificate without its key. Returns the number of files.
pub fn issue_certificates(compilation: &crate::driver::Compilation, dir: &Path) -> Result<usize, String> {
    let model = compilation.model.as_ref().ok_or("the spec did not load")?;
    use crate::emit::certificates::{issue, Authority};
    use std::os::unix::fs::PermissionsExt;

    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let read = |name: &str| fs::read_to_string(dir.join(name)).ok();
    let existing = match (read("ca.pem"), read("ca-key.pem")) {
        (Some(certificate), Some(key)) => Some(Authority { certificate, key }),
        _ => None,
    };
    let now = time::OffsetDateTime::now_utc();
    let mut files = issue(model, existing.as_ref(), now)?;
    files.sort_by_key(|f| f.artifact.path.ends_with(".yaml"));
    for file in &files {
        let target = dir.join(&file.artifact.path);
        let staging = dir.join(format!(".{}.tmp", file.artifact.path));
        let mode = if file.secret { 0o600 } else { 0o644 };
        let write = || -> io::Result<()> {
            let mut options = fs::OpenOptions::new();
            std::os::unix::fs::OpenOptionsExt::mode(options.write(true).create(true).truncate(true), mode);
            let mut handle = options.open(&staging)?;
            io::Write::write_all(&mut handle, file.artifact.contents.as_bytes())?;
            handle.sync_all()?;
            // `mode` applies to new files only; a leftover staging file keeps its own.
            fs::set_permissions(&staging, fs::Permissions::from_mode(mode))?;
            fs::rename(&staging, &target)
        };
        write().map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    }
    Ok(files.len())
}
