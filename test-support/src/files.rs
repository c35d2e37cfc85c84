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

/// Splits a multi-file fixture (docs examples, test specs) into
/// `(relative path, contents)`: each file starts at a `//- path` line; a
/// block without one is a single `mesh.kdl`.
pub fn fixture_files(block: &str) -> Result<Vec<(String, String)>, String> {
    if !block.lines().any(|l| l.starts_with("//- ")) {
        return Ok(vec![("mesh.kdl".into(), block.to_string())]);
    }
    let mut files: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if let Some(path) = line.strip_prefix("//- ") {
            let path = path.trim().to_string();
            if path.is_empty() || Path::new(&path).is_absolute() {
                return Err(format!("`{line}`: expected a relative path"));
            }
            if files.iter().any(|(p, _)| *p == path) {
                return Err(format!("`{path}` is given twice"));
            }
            files.push((path, String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
            text.push('\n');
        } else if !line.trim().is_empty() {
            return Err(format!("`{line}` comes before the first `//- path` line of a multi-file example"));
        }
    }
    for (_, text) in &mut files {
        // Blank lines that separate files belong to neither.
        let trimmed = text.trim_end_matches('\n').len();
        text.truncate(trimmed);
        text.push('\n');
    }
    Ok(files)
}
