//! Workspace paths and test files: the repository root, the shared corpora,
//! and workspaces written from `(path, contents)` pairs or multi-file
//! fixtures.

use std::fs;
use std::path::{Path, PathBuf};

/// The workspace root (the parent of this package's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("CARGO_MANIFEST_DIR has a parent (the workspace root)")
        .to_path_buf()
}

/// The shared corpora: `$MESHC_CORPORA` when set (as `fuzz/seeds.sh`
/// reads it; for checkouts elsewhere, such as git worktrees), else
/// `shared/corpora` beside the repository.
pub fn corpora() -> PathBuf {
    match std::env::var_os("MESHC_CORPORA").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("../shared/corpora"),
    }
}

/// Writes each `(relative path, contents)` below `dir`, creating parent
/// directories as needed.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, contents) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// Copies the directory tree `from` to `to` (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}
