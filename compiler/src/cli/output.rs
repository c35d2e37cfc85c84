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
