//! The file system the front end reads through: spec files, imports, globs
//! and schemas (with `.proto` imports) all come through a [`FileSystem`], so
//! a compilation runs on disk ([`DiskFs`], what the CLI uses) or in memory
//! ([`MemoryFs`], what language tests, fuzzers and benchmarks use) alike.
//!
//! The safety rules that do not depend on where bytes come from live here,
//! over the trait, so both implementations apply them: what a spec may name
//! ([`ReadableRoots::check`]: never under /proc, /sys or /dev, inside the allowed
//! roots, symlinks resolved) and bounded, UTF-8 reads ([`read_text`]).
//! The rules about the medium itself (FIFOs and devices refused without
//! blocking, reads capped by bytes actually read) are [`DiskFs`]'s.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod disk;
pub mod git;
mod memory;

pub use disk::DiskFs;
pub use memory::{parse_fixture, FixtureFile, MemoryFs, FIXTURE_ROOT};

/// What a path names, symlinks followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    /// A FIFO, socket or device: never read.
    Other,
}

/// Where input files come from. Errors are `std::io::Error`s with the
/// operating system's kinds and messages (a missing file is `NotFound`,
/// "No such file or directory"), so diagnostics read the same whichever
/// implementation served them.
pub trait FileSystem: Send + Sync {
    /// The path made absolute, `.` and `..` resolved, symlinks followed; an
    /// error when it does not exist.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;

    /// What is at `path`, symlinks followed.
    fn kind(&self, path: &Path) -> io::Result<FileKind>;

    /// Whether `path` itself is a symlink (not followed).
    fn is_symlink(&self, path: &Path) -> bool;

    /// The bytes of the regular file at `path`, refused when it holds more
    /// than `max_bytes` (`FileTooLarge`) or is no regular file (`InvalidInput`).
    fn read(&self, path: &Path, max_bytes: u64) -> io::Result<Vec<u8>>;

    /// The names of a directory's entries, in no given order.
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// The existing paths (files and directories) a glob pattern matches, in
    /// no given order; `*` and `?` stay within one path component, `**`
    /// crosses any number.
    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, glob::PatternError>;

    fn is_file(&self, path: &Path) -> bool {
        matches!(self.kind(path), Ok(FileKind::File))
    }

    fn is_dir(&self, path: &Path) -> bool {
        matches!(self.kind(path), Ok(FileKind::Dir))
    }
}

/// Largest input file meshc reads (spec or schema); larger files are refused.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a file of at most `max_bytes` as UTF-8 text (see [`FileSystem::read`]).
pub fn read_text(fs: &dyn FileSystem, path: &Path, max_bytes: u64) -> io::Result<String> {
    String::from_utf8(fs.read(path, max_bytes)?).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        io::Error::new(io::ErrorKind::InvalidData, format!("not valid UTF-8 (invalid byte at offset {at})"))
    })
}

/// The error a read of more than `max_bytes` fails with.
fn too_large(max_bytes: u64) -> io::Error {
    io::Error::new(io::ErrorKind::FileTooLarge, format!("larger than the {} limit", super::byte_size(max_bytes)))
}

/// The error a read of a directory, FIFO or device fails with.
fn not_a_regular_file() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

/// Where meshc never reads, whatever a spec allows: process state
/// (`/proc/self/environ` holds CI secrets), kernel knobs and devices.
const SYSTEM_DIRS: &[&str] = &["/proc", "/sys", "/dev"];

/// Why a file a spec names is not read.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It is (or a symlink leads) under /proc, /sys or /dev.
    System,
    /// It lies outside every directory meshc may read from.
    Outside,
}

/// The directories files may be read from (the workspace root and those the
/// spec allows), resolved once for many checks: a spec names tens of
/// thousands of schema files.
pub struct ReadableRoots {
    /// Each root with its symlinks resolved; a root that does not resolve admits nothing.
    resolved: Vec<PathBuf>,
    /// The real path of each directory checked files were in (`None`: it
    /// does not resolve). Schema files share a few directories; resolving
    /// each file's whole path cost a `readlink` per component per file.
    real_dirs: Mutex<HashMap<PathBuf, Option<PathBuf>>>,
}

impl ReadableRoots {
    pub fn new(fs: &dyn FileSystem, roots: &[PathBuf]) -> Self {
        ReadableRoots {
            resolved: roots.iter().filter_map(|root| fs.canonicalize(root).ok()).collect(),
            real_dirs: Mutex::default(),
        }
    }

    /// Checks where a file a spec names really is, symlinks resolved, before
    /// it is read: never under [`SYSTEM_DIRS`], and inside one of the roots.
    /// A path that does not resolve passes: reading it reports the missing file.
    pub fn check(&self, fs: &dyn FileSystem, path: &Path) -> Result<(), Refusal> {
        let Some(real) = self.real_path(fs, path) else {
            return if in_system_dir(path) { Err(Refusal::System) } else { Ok(()) };
        };
        if in_system_dir(path) || in_system_dir(&real) {
            Err(Refusal::System)
        } else if self.resolved.iter().any(|root| real.starts_with(root)) {
            Ok(())
        } else {
            Err(Refusal::Outside)
        }
    }

    /// What [`FileSystem::canonicalize`] makes of `path`, with its directory
    /// resolved once for all files in it: a file that is no symlink is
    /// its real directory joined with its name.
    fn real_path(&self, fs: &dyn FileSystem, path: &Path) -> Option<PathBuf> {
        let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
        let (Some(dir), Some(name)) = (dir, path.file_name()) else {
            return fs.canonicalize(path).ok();
        };
        if fs.is_symlink(path) {
            return fs.canonicalize(path).ok();
        }
        let real_dir = self.real_dir(fs, dir)?;
        fs.kind(path).ok().map(|_| real_dir.join(name))
    }

    fn real_dir(&self, fs: &dyn FileSystem, dir: &Path) -> Option<PathBuf> {
        // A poisoned lock only means another thread panicked; the map is whole.
        let known = self.real_dirs.lock().unwrap_or_else(|e| e.into_inner()).get(dir).cloned();
        if let Some(real) = known {
            return real;
        }
        // Resolved unlocked (two threads may both resolve a directory: same answer).
        let real = fs.canonicalize(dir).ok();
        self.real_dirs.lock().unwrap_or_else(|e| e.into_inner()).insert(dir.to_path_buf(), real.clone());
        real
    }
}

/// Whether a path lies under /proc, /sys or /dev as it is written.
fn in_system_dir(path: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|dir| path.starts_with(dir))
}
