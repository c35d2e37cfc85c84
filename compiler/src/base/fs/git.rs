//! A directory of a git repository as it was at a ref, read from the
//! repository's objects with `gix` (no checkout, no `git` process), into a
//! [`MemoryFs`] at the directory's own path, so the workspace compiles at
//! the ref exactly as it does in the working tree (`meshc diff --against`).
//!
//! Bounded as the disk loader is: each file at most [`MAX_FILE_BYTES`], at
//! most [`MAX_TREE_FILES`] files and [`MAX_TREE_BYTES`] in all, at most
//! [`MAX_TREE_DEPTH`] directories deep. A symlink in the tree is refused
//! (the disk loader resolves symlinks and checks where they lead; a
//! symlink's target at a ref is only a string). Submodules are left out:
//! their files are in another repository.

use std::path::{Path, PathBuf};

use super::{MemoryFs, MAX_FILE_BYTES};

/// Most files read under the directory at a ref.
pub const MAX_TREE_FILES: usize = 100_000;
/// Most bytes read under the directory at a ref.
pub const MAX_TREE_BYTES: u64 = 1 << 30;
/// Deepest directory nesting read under the directory.
pub const MAX_TREE_DEPTH: usize = 32;

/// Why the directory could not be read at the ref.
#[derive(Debug)]
pub enum GitError {
    /// `dir` is in no git repository (or one without a working tree).
    NotARepository { dir: PathBuf, reason: String },
    /// The ref does not name a commit of the repository.
    UnknownRef { reference: String, reason: String },
    /// The directory does not exist in the commit.
    NotInRef { reference: String, dir: PathBuf },
    /// The tree holds a symlink (refused), or passes a bound.
    Refused { reference: String, path: PathBuf, reason: String },
    /// Reading an object failed (a corrupt or incomplete repository).
    Unreadable { reference: String, reason: String },
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitError::NotARepository { dir, reason } => {
                write!(f, "`{}` is not in a git repository with a working tree: {reason}", dir.display())
            }
            GitError::UnknownRef { reference, reason } => write!(f, "`{reference}` names no commit: {reason}"),
            GitError::NotInRef { reference, dir } => write!(f, "`{}` does not exist at `{reference}`", dir.display()),
            GitError::Refused { reference, path, reason } => {
                write!(f, "`{}` at `{reference}`: {reason}", path.display())
            }
            GitError::Unreadable { reference, reason } => write!(f, "cannot read `{reference}`: {reason}"),
        }
    }
}

/// The files under `dir` (a directory of a repository's working tree) as
/// they are at `reference` (a branch, tag, commit or any `git rev-parse`
/// revision), at the same absolute paths; and the short commit id.
pub fn tree_at(dir: &Path, reference: &str) -> Result<(MemoryFs, String), GitError> {
    let not_repo = |reason: String| GitError::NotARepository { dir: dir.to_path_buf(), reason };
    let dir = std::fs::canonicalize(dir).map_err(|e| not_repo(e.to_string()))?;
    let repo = gix::discover(&dir).map_err(|e| not_repo(e.to_string()))?;
    let workdir = repo.workdir().ok_or_else(|| not_repo("the repository is bare".to_string()))?;
    let workdir = std::fs::canonicalize(workdir).map_err(|e| not_repo(e.to_string()))?;
    let relative = dir.strip_prefix(&workdir).map_err(|_| not_repo("outside the working tree".to_string()))?;
    let unknown = |reason: String| GitError::UnknownRef { reference: reference.to_string(), reason };
    let unreadable = |reason: String| GitError::Unreadable { reference: reference.to_string(), reason };
    let id = repo.rev_parse_single(reference).map_err(|e| unknown(e.to_string()))?;
    let commit =
        id.object().map_err(|e| unreadable(e.to_string()))?.peel_to_commit().map_err(|e| unknown(e.to_string()))?;
    let mut tree = commit.tree().map_err(|e| unreadable(e.to_string()))?;
    if !relative.as_os_str().is_empty() {
        let entry = tree.lookup_entry_by_path(relative).map_err(|e| unreadable(e.to_string()))?;
        let not_in_ref = || GitError::NotInRef { reference: reference.to_string(), dir: relative.to_path_buf() };
        let entry = entry.filter(|e| e.mode().is_tree()).ok_or_else(not_in_ref)?;
        tree = entry.object().map_err(|e| unreadable(e.to_string()))?.into_tree();
    }
    let mut reader = Reader { repo: &repo, reference, fs: MemoryFs::new(), files: 0, bytes: 0 };
    reader.read(tree.id, &dir, 0)?;
    let short = commit.id.to_hex_with_len(12).to_string();
    Ok((reader.fs, short))
}

struct Reader<'r> {
    repo: &'r gix::Repository,
    reference: &'r str,
    fs: MemoryFs,
    files: usize,
    bytes: u64,
}

impl Reader<'_> {
    fn refused(&self, path: &Path, reason: String) -> GitError {
        GitError::Refused { reference: self.reference.to_string(), path: path.to_path_buf(), reason }
    }

    fn unreadable(&self, reason: String) -> GitError {
        GitError::Unreadable { reference: self.reference.to_string(), reason }
    }

    /// Reads the tree `id` into the file system at `at`, depth-first.
    fn read(&mut self, id: gix::ObjectId, at: &Path, depth: usize) -> Result<(), GitError> {
        if depth > MAX_TREE_DEPTH {
            return Err(self.refused(at, format!("directories nest deeper than {MAX_TREE_DEPTH} levels")));
        }
        let tree = self.repo.find_tree(id).map_err(|e| self.unreadable(e.to_string()))?;
        let entries: Vec<(gix::object::tree::EntryMode, String, gix::ObjectId)> = tree
            .iter()
            .map(|entry| {
                let entry = entry.map_err(|e| self.unreadable(e.to_string()))?;
                Ok((entry.mode(), entry.filename().to_string(), entry.oid().to_owned()))
            })
            .collect::<Result<_, GitError>>()?;
        for (mode, name, oid) in entries {
            let path = at.join(&name);
            if name.contains(['/', '\\']) || name == ".." || name == "." {
                return Err(self.refused(&path, "an entry with a path separator in its name".to_string()));
            }
            if mode.is_tree() {
                self.read(oid, &path, depth + 1)?;
            } else if mode.is_link() {
                return Err(self.refused(&path, "a symlink; meshc reads no symlink from a git ref".to_string()));
            } else if mode.is_blob() {
                self.file(oid, path)?;
            }
            // Submodules (commits) hold another repository's files: left out.
        }
        Ok(())
    }

    fn file(&mut self, oid: gix::ObjectId, path: PathBuf) -> Result<(), GitError> {
        self.files += 1;
        if self.files > MAX_TREE_FILES {
            return Err(self.refused(&path, format!("the directory holds more than {MAX_TREE_FILES} files")));
        }
        let header = self.repo.find_header(oid).map_err(|e| self.unreadable(e.to_string()))?;
        if header.size() > MAX_FILE_BYTES {
            // Too large to be a spec or schema: left out, as the disk
            // loader refuses it only when the spec names it.
            return Ok(());
        }
        self.bytes += header.size();
        if self.bytes > MAX_TREE_BYTES {
            return Err(self.refused(&path, format!("the directory holds more than {} bytes", MAX_TREE_BYTES)));
        }
        let blob = self.repo.find_blob(oid).map_err(|e| self.unreadable(e.to_string()))?;
        self.fs.insert(path, blob.data.clone());
        Ok(())
    }
}
