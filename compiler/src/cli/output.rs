//! Writing artifacts, and the rules for where meshc may write.
//!
//! `meshc build -o OUT` writes OUT only when it is missing, an empty
//! directory, or a directory meshc built (it holds the manifest
//! [`MANIFEST`]), and never when OUT is, contains or lies inside the
//! workspace; always under a lock beside OUT.
//!
//! - A new or empty OUT (or one whose layout changed under a file's path):
//!   every file goes to a fresh staging directory beside OUT, which then
//!   replaces OUT in one atomic exchange. Staging directories of killed
//!   builds are removed by the next.
//! - An OUT meshc built: only the artifacts whose bytes changed (by the
//!   SHA-256 the manifest records) are rewritten, each to a new file beside
//!   it (all of them before anything in OUT changes: a failure takes them
//!   back) renamed over it, so a reader (a proxy watching its config) sees the
//!   old or the new file, never a partial one; artifacts no longer produced
//!   are removed; the manifest is replaced last. Before any file changes,
//!   the manifest is replaced by one that records no hash for the files
//!   about to change, so a build killed half-way leaves each file old or
//!   new and the next build rewrites what it cannot vouch for.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::emit::{Artifact, Options};

/// The manifest in every output directory: [`MANIFEST_FORMAT`], then per
/// artifact, sorted by path, `SHA256  PATH` as `sha256sum` prints it (`-`
/// for a hash not known), so `sha256sum -c` verifies an output
/// (deterministic: builds stay byte-identical).
pub const MANIFEST: &str = ".meshc-output";
const MANIFEST_FORMAT: &str = "meshc-output 2";
/// The previous format: the paths only. Still recognised, as meshc's.
const MANIFEST_FORMAT_1: &str = "meshc-output 1";
/// A manifest larger than this is not read (the output is rebuilt whole).
const MAX_MANIFEST_BYTES: u64 = 256 << 20;
const FIX_OUT: &str = "choose an empty or new directory, or one meshc built";

/// Why meshc did not write: reported as `MESH0085` (exit 2).
#[derive(Debug)]
pub struct Refusal {
    pub message: String,
    pub help: Option<String>,
}

impl Refusal {
    fn new(message: String, help: &str) -> Refusal {
        Refusal { message, help: Some(help.to_string()) }
    }

    fn io(what: &str, path: &Path, e: io::Error) -> Refusal {
        Refusal { message: format!("cannot {what} {}: {e}", path.display()), help: None }
    }

    /// The refusal as the diagnostic the CLI reports.
    pub fn diagnostic(&self) -> crate::diag::Diagnostic {
        crate::diag::Diagnostic::new(crate::diag::Code::OutputRefused, self.message.clone()).help_opt(self.help.clone())
    }
}

/// What a build did to OUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Artifacts written (new or with other bytes).
    pub changed: usize,
    /// Artifacts left as they were: the same bytes.
    pub unchanged: usize,
    /// Files of the previous build no longer produced, removed.
    pub removed: usize,
}

/// Writes `artifacts` to `out` as the build output of the workspace at `workspace`.
pub fn write_build(out: &Path, workspace: &Path, artifacts: &[Artifact]) -> Result<Written, Refusal> {
    check_artifact_paths(artifacts)?;
    let mut writer = BuildWriter::open(out, workspace)?;
    loop {
        writer.add(artifacts);
        match writer.finish()? {
            Finished::Written(written) => return Ok(written),
            Finished::Again(again) => writer = *again,
        }
    }
}

/// A build's output being written to OUT batch by batch (`meshc build`
/// hands over each backend's artifacts as it finishes), so the whole output
/// is never in memory at once: a new OUT gets each batch's files in its
/// staging directory at once; a meshc-built OUT keeps only the artifacts
/// whose bytes changed. OUT itself changes only in [`BuildWriter::finish`];
/// a writer dropped unfinished (the build failed) leaves OUT as it was.
/// [`BuildWriter::add`] may run on many threads at once.
pub struct BuildWriter {
    out: PathBuf,
    /// The previous build's artifacts and hashes, when OUT holds its manifest.
    previous: Option<Manifest>,
    target: Target,
    /// Every path given so far: the checks across batches.
    claimed: std::sync::Mutex<PathClaims>,
    /// Each artifact's path and SHA-256 (hex), in the order they came.
    hashed: std::sync::Mutex<Vec<(String, String)>>,
    /// The least path refused and why: the same refusal whatever order the batches come in.
    refused: std::sync::Mutex<Option<(String, &'static str)>>,
    /// The first IO error; later batches are then skipped.
    failed: std::sync::Mutex<Option<io::Error>>,
    /// Last: the lock is released after the staging directory is removed.
    _lock: Lock,
}

/// The previous build's artifacts by path, with their hashes where known.
type Manifest = std::collections::BTreeMap<String, Option<String>>;

/// Where a [`BuildWriter`] puts what it is given.
enum Target {
    /// Every file, into a staging directory that replaces OUT at the end.
    Staging {
        dir: StagingDir,
        /// The directories made in it so far.
        made: std::sync::Mutex<std::collections::BTreeSet<String>>,
    },
    /// Over a meshc-built OUT: only what changed is kept, and written at the end.
    InPlace {
        /// OUT's directories found plain (see [`plain_directories`]).
        dirs: std::sync::Mutex<std::collections::BTreeSet<String>>,
        /// The artifacts whose bytes differ from OUT's.
        changed: std::sync::Mutex<Vec<Artifact>>,
        /// A path's place in OUT is taken by something else than a file in
        /// a plain directory: OUT is rewritten whole instead.
        layout_changed: std::sync::atomic::AtomicBool,
    },
}

/// A staging directory beside OUT, removed when dropped: a failed build's
/// half-written output, or after the swap the previous output.
struct StagingDir(PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What [`BuildWriter::finish`] did.
pub enum Finished {
    Written(Written),
    /// OUT's layout changed under an artifact's path, found only once every
    /// artifact was given (see [`update_in_place`]): nothing was changed,
    /// and OUT is to be written whole by this writer (still under the lock),
    /// given every artifact again.
    Again(Box<BuildWriter>),
}

impl BuildWriter {
    /// Refuses an OUT meshc may not write (see the module's docs), takes the
    /// lock beside it and prepares the write.
    pub fn open(out: &Path, workspace: &Path) -> Result<BuildWriter, Refusal> {
        refuse_workspace_overlap(out, workspace, "the build output", false)?;
        let (parent, name) = parent_and_name(out)?;
        fs::create_dir_all(&parent).map_err(|e| Refusal::io("create", &parent, e))?;
        let lock_path = parent.join(format!(".{name}.meshc-lock"));
        let lock = Lock::acquire(&lock_path, || {
            eprintln!("waiting for another meshc build writing {} to finish", out.display());
        })
        .map_err(|e| Refusal::io("lock", &lock_path, e))?;
        // Under the lock, checked again: another build may have just written OUT.
        clean_stale_staging(&parent, &name, out).map_err(|e| Refusal::io("clean up beside", out, e))?;
        refuse_unowned(out)?;
        let previous = read_manifest(out);
        let target = match previous {
            Some(_) => Target::InPlace {
                dirs: Default::default(),
                changed: Default::default(),
                layout_changed: Default::default(),
            },
            None => Target::staging(out)?,
        };
        Ok(BuildWriter {
            out: out.to_path_buf(),
            previous,
            target,
            claimed: Default::default(),
            hashed: Default::default(),
            refused: Default::default(),
            failed: Default::default(),
            _lock: lock,
        })
    }

    /// Takes a batch of artifacts: checks their paths against each other
    /// and every earlier batch's, hashes them, and writes them to the
    /// staging directory or keeps those that changed. After a refusal or an
    /// IO error, batches are only checked (the error is reported by `finish`).
    pub fn add(&self, artifacts: &[Artifact]) {
        if !self.claim_paths(artifacts) || self.has_failed() {
            return;
        }
        let result = match &self.target {
            Target::Staging { dir, made } => self.write_to_staging(&dir.0, made, artifacts),
            Target::InPlace { dirs, changed, layout_changed } => {
                self.compare_with_out(dirs, changed, layout_changed, artifacts)
            }
        };
        if let Err(e) = result {
            lock(&self.failed).get_or_insert(e);
        }
    }

    /// Puts the output in place once every artifact was given: the staging
    /// directory, with its manifest, swapped in for OUT, or OUT's changed
    /// files rewritten (the manifest first and last, see the module's docs).
    pub fn finish(self) -> Result<Finished, Refusal> {
        if let Some((path, reason)) = lock(&self.refused).take() {
            return Err(path_refusal(&path, reason));
        }
        if let Some(e) = lock(&self.failed).take() {
            return Err(Refusal::io("write", &self.out, e));
        }
        let hashed = std::mem::take(&mut *lock(&self.hashed));
        let produced: std::collections::HashMap<String, String> = hashed.into_iter().collect();
        let removed = |previous: &Option<Manifest>| {
            previous.as_ref().map_or(0, |m| m.keys().filter(|p| !produced.contains_key(p.as_str())).count())
        };
        match &self.target {
            Target::Staging { dir, .. } => {
                let entries = produced.iter().map(|(path, hash)| (path.as_str(), Some(hash.as_str())));
                write_new_file(&dir.0.join(MANIFEST), manifest_text(entries).as_bytes(), 0o644)
                    .and_then(|_| swap_into_place(&dir.0, &self.out))
                    .map_err(|e| Refusal::io("write", &self.out, e))?;
                Ok(Finished::Written(Written {
                    changed: produced.len(),
                    unchanged: 0,
                    removed: removed(&self.previous),
                }))
            }
            Target::InPlace { dirs, changed, layout_changed } => {
                if layout_changed.load(std::sync::atomic::Ordering::Relaxed) {
                    return self.again();
                }
                let previous = self.previous.as_ref().expect("an in-place write has a previous manifest");
                let mut changed = std::mem::take(&mut *lock(changed));
                changed.sort_by(|a, b| a.path.cmp(&b.path));
                let dirs = std::mem::take(&mut *lock(dirs));
                match update_in_place(&self.out, previous, &produced, &changed, &dirs) {
                    Ok(written) => Ok(Finished::Written(written)),
                    Err(e) => Err(Refusal::io("write", &self.out, e)),
                }
            }
        }
    }

    /// This writer's lock and previous manifest, with a fresh staging directory.
    fn again(self) -> Result<Finished, Refusal> {
        let target = Target::staging(&self.out)?;
        Ok(Finished::Again(Box::new(BuildWriter {
            target,
            claimed: Default::default(),
            hashed: Default::default(),
            refused: Default::default(),
            failed: Default::default(),
            ..self
        })))
    }

    fn has_failed(&self) -> bool {
        lock(&self.failed).is_some()
    }

    /// Checks the batch's paths as [`check_artifact_paths`] does, across
    /// batches; false when one is refused.
    fn claim_paths(&self, artifacts: &[Artifact]) -> bool {
        let refusals: Vec<(String, &'static str)> = {
            let mut claimed = lock(&self.claimed);
            artifacts.iter().filter_map(|a| claimed.claim(&a.path).err()).collect()
        };
        let Some(least) = refusals.into_iter().min() else { return true };
        let mut refused = lock(&self.refused);
        if refused.as_ref().is_none_or(|current| least < *current) {
            *refused = Some(least);
        }
        false
    }

    /// Creates the batch's directories (each once across batches) and files
    /// in the staging directory `dir`, the files in parallel, hashing each.
    fn write_to_staging(
        &self,
        dir: &Path,
        made: &std::sync::Mutex<std::collections::BTreeSet<String>>,
        artifacts: &[Artifact],
    ) -> io::Result<()> {
        use rayon::prelude::*;
        {
            let mut made = lock(made);
            for sub in directories(artifacts.iter().map(|a| a.path.as_str())) {
                if !made.contains(sub) {
                    fs::create_dir(dir.join(sub))?;
                    made.insert(sub.to_string());
                }
            }
        }
        let hashed: Vec<(String, String)> = artifacts
            .par_iter()
            .map(|artifact| {
                write_new_file(&dir.join(&artifact.path), artifact.contents.as_bytes(), 0o644)?;
                Ok((artifact.path.clone(), sha256_hex(artifact.contents.as_bytes())))
            })
            .collect::<io::Result<_>>()?;
        lock(&self.hashed).extend(hashed);
        Ok(())
    }

    /// Compares the batch with OUT: the artifacts whose hash the previous
    /// manifest does not record, or whose file has another length (one stat
    /// each, in parallel), are kept to be written.
    fn compare_with_out(
        &self,
        dirs: &std::sync::Mutex<std::collections::BTreeSet<String>>,
        changed: &std::sync::Mutex<Vec<Artifact>>,
        layout_changed: &std::sync::atomic::AtomicBool,
        artifacts: &[Artifact],
    ) -> io::Result<()> {
        use rayon::prelude::*;
        let previous = self.previous.as_ref().expect("an in-place write has a previous manifest");
        {
            let mut dirs = lock(dirs);
            for artifact in artifacts {
                if !plain_directories(&self.out, &artifact.path, &mut dirs)? {
                    layout_changed.store(true, std::sync::atomic::Ordering::Relaxed);
                    return Ok(());
                }
            }
        }
        let compared: Vec<(String, String, bool)> = artifacts
            .par_iter()
            .map(|artifact| {
                let length = match on_disk(&self.out.join(&artifact.path))? {
                    OnDisk::File(length) => Some(length),
                    OnDisk::Missing => None,
                    OnDisk::Other => {
                        layout_changed.store(true, std::sync::atomic::Ordering::Relaxed);
                        None
                    }
                };
                let hash = sha256_hex(artifact.contents.as_bytes());
                let recorded = previous.get(&artifact.path).and_then(|h| h.as_deref());
                let same = recorded == Some(hash.as_str()) && length == Some(artifact.contents.len() as u64);
                Ok((artifact.path.clone(), hash, same))
            })
            .collect::<io::Result<_>>()?;
        let mut kept = Vec::new();
        for (artifact, (_, _, same)) in artifacts.iter().zip(&compared) {
            if !same {
                kept.push(artifact.clone());
            }
        }
        lock(changed).extend(kept);
        lock(&self.hashed).extend(compared.into_iter().map(|(path, hash, _)| (path, hash)));
        Ok(())
    }
}

impl Target {
    /// A new staging directory beside `out`.
    fn staging(out: &Path) -> Result<Target, Refusal> {
        let (parent, name) = parent_and_name(out)?;
        let dir = parent.join(format!(".{name}.meshc-new-{}-{}", std::process::id(), nanos()));
        fs::create_dir(&dir).map_err(|e| Refusal::io("write", out, e))?;
        Ok(Target::Staging { dir: StagingDir(dir), made: Default::default() })
    }
}

/// The mutex's value, also after a panic elsewhere (every update is whole).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn order_pair(a: String, b: String) -> (String, String) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::base::lowercase_hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The previous build's artifacts by path, with their hashes where known;
/// `None` when OUT holds no manifest meshc can read (then it is rebuilt
/// whole). Entries whose path is not plain are ignored: nothing outside
/// OUT is ever touched because a manifest said so.
fn read_manifest(out: &Path) -> Option<Manifest> {
    let path = out.join(MANIFEST);
    let metadata = fs::symlink_metadata(&path).ok()?;
    if !metadata.is_file() || metadata.len() > MAX_MANIFEST_BYTES {
        return None;
    }
    let text = fs::read_to_string(&path).ok()?;
    let mut lines = text.lines();
    let hashed = match lines.next()? {
        MANIFEST_FORMAT => true,
        MANIFEST_FORMAT_1 => false,
        _ => return None,
    };
    let mut entries = std::collections::BTreeMap::new();
    for line in lines {
        let (hash, path) = match hashed {
            true => match line.split_once("  ") {
                Some((hash, path)) => (is_sha256_hex(hash).then(|| hash.to_string()), path),
                None => continue,
            },
            false => (None, line),
        };
        if is_plain_relative(path) && path != MANIFEST {
            entries.insert(path.to_string(), hash);
        }
    }
    Some(entries)
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Rewrites the `changed` artifacts (sorted by path) of a meshc-built OUT
/// and removes the ones no longer produced; `hashes` holds every artifact's.
/// `dirs`: OUT's directories, checked plain. The caller has made sure no
/// path's place is taken by something else than a file in a plain
/// directory (else OUT is rewritten whole).
fn update_in_place(
    out: &Path,
    previous: &Manifest,
    hashes: &std::collections::HashMap<String, String>,
    changed: &[Artifact],
    dirs: &std::collections::BTreeSet<String>,
) -> io::Result<Written> {
    let removed: Vec<&String> = previous.keys().filter(|p| !hashes.contains_key(p.as_str())).collect();
    let unchanged = hashes.len() - changed.len();
    if changed.is_empty() && removed.is_empty() && previous.values().all(Option::is_some) {
        return Ok(Written { changed: 0, unchanged, removed: 0 });
    }
    // Every new file is written beside its target before OUT changes: a
    // failure here (a full disk) takes them back and leaves OUT as it was.
    let mut made = Vec::new();
    let staged = match new_directories(out, changed, dirs, &mut made).and_then(|()| stage_beside(out, changed)) {
        Ok(staged) => staged,
        Err(e) => return Err(take_back(&[], &made, e)),
    };
    // What is about to change loses its hash first (see the module's docs).
    let changing: std::collections::HashSet<&str> = changed.iter().map(|a| a.path.as_str()).collect();
    let pending = previous.iter().map(|(path, hash)| {
        let keep = !changing.contains(path.as_str()) && hashes.contains_key(path.as_str());
        (path.as_str(), hash.as_deref().filter(|_| keep))
    });
    let unknown = changed.iter().filter(|a| !previous.contains_key(&a.path)).map(|a| (a.path.as_str(), None));
    if let Err(e) = replace_file(&out.join(MANIFEST), manifest_text(pending.chain(unknown)).as_bytes()) {
        return Err(take_back(&staged, &made, e));
    }
    // Renames only from here: a build killed now leaves each file old or new.
    {
        use rayon::prelude::*;
        staged.par_iter().zip(changed).try_for_each(|(new, artifact)| fs::rename(new, out.join(&artifact.path)))?;
    }
    let mut removed_count = 0;
    for path in &removed {
        let target = out.join(path);
        match fs::symlink_metadata(&target) {
            // Only files (or a link itself): never what a directory holds.
            Ok(m) if !m.is_dir() => {
                fs::remove_file(&target)?;
                removed_count += 1;
                remove_empty_parents(out, &target);
            }
            _ => {}
        }
    }
    let entries = hashes.iter().map(|(path, hash)| (path.as_str(), Some(hash.as_str())));
    replace_file(&out.join(MANIFEST), manifest_text(entries).as_bytes())?;
    remove_stale_files(out, dirs);
    Ok(Written { changed: changed.len(), unchanged, removed: removed_count })
}

/// Creates the directories the `changed` artifacts need that OUT lacks
/// (`dirs`: those found there), adding each to `made`.
fn new_directories(
    out: &Path,
    changed: &[Artifact],
    dirs: &std::collections::BTreeSet<String>,
    made: &mut Vec<PathBuf>,
) -> io::Result<()> {
    for dir in directories(changed.iter().map(|a| a.path.as_str())) {
        let path = out.join(dir);
        if dirs.contains(dir) || path.is_dir() {
            continue;
        }
        fs::create_dir(&path)?;
        made.push(path);
    }
    Ok(())
}

/// Removes the new `files` and the directories `made` for them (newest
/// first), passing `error` on.
fn take_back(files: &[PathBuf], made: &[PathBuf], error: io::Error) -> io::Error {
    for file in files {
        let _ = fs::remove_file(file);
    }
    for dir in made.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
    error
}

/// Writes each artifact to a new file beside its place in OUT, in
/// parallel: the new files in `artifacts`' order, or the first error with
/// none of them left behind.
fn stage_beside(out: &Path, artifacts: &[Artifact]) -> io::Result<Vec<PathBuf>> {
    use rayon::prelude::*;
    let (files, written): (Vec<PathBuf>, Vec<io::Result<()>>) = artifacts
        .par_iter()
        .map(|artifact| {
            let new = temp_beside(&out.join(&artifact.path));
            // Closed at once: a rebuild may change tens of thousands of files.
            let written = write_new_file(&new, artifact.contents.as_bytes(), 0o644).map(drop);
            (new, written)
        })
        .unzip();
    match written.into_iter().find_map(Result::err) {
        None => Ok(files),
        Some(e) => Err(take_back(&files, &[], e)),
    }
}

/// What an artifact's path holds in the output.
enum OnDisk {
    /// A regular file of this length.
    File(u64),
    Missing,
    /// A directory, symlink or other: the layout changed.
    Other,
}

fn on_disk(path: &Path) -> io::Result<OnDisk> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(OnDisk::File(m.len())),
        Ok(_) => Ok(OnDisk::Other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(OnDisk::Missing),
        Err(e) => Err(e),
    }
}

/// Removes the new files (`.NAME.meshc-PID-NANOS-N.tmp`) that builds killed
/// before their rename left in OUT and its directories `dirs`.
fn remove_stale_files(out: &Path, dirs: &std::collections::BTreeSet<String>) {
    for dir in std::iter::once(out.to_path_buf()).chain(dirs.iter().map(|d| out.join(d))) {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_suffix(".tmp")
                .filter(|_| name.starts_with('.'))
                .and_then(|rest| rest.rsplit_once(".meshc-"))
                .and_then(|(_, ids)| ids.split('-').next()?.parse::<u32>().ok());
            if pid.is_some_and(|pid| !process_alive(pid)) && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Whether every directory on `path`'s way inside `out` is a real
/// directory or missing (never a symlink or a file); `seen` caches the
/// ones found good.
fn plain_directories(out: &Path, path: &str, seen: &mut std::collections::BTreeSet<String>) -> io::Result<bool> {
    let mut prefix = String::new();
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            break;
        }
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if seen.contains(&prefix) {
            continue;
        }
        match fs::symlink_metadata(out.join(&prefix)) {
            Ok(m) if m.is_dir() => {
                seen.insert(prefix.clone());
            }
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Removes the directories between `file` and `out` that are now empty.
fn remove_empty_parents(out: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir.filter(|d| *d != out && d.starts_with(out)) {
        if fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Puts `contents` at `path` by a new file beside it renamed over it: a
/// reader sees the old file or the new one. The new file is created
/// exclusively, so nothing planted at its name is written through.
fn replace_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let staging = temp_beside(path);
    let result = write_new_file(&staging, contents, 0o644).and_then(|_| fs::rename(&staging, path));
    if result.is_err() {
        let _ = fs::remove_file(&staging);
    }
    result
}

/// Defence in depth behind the name checks of the front end: every path is
/// relative, plain (no `.`/`..`, backslash or control character), not the
/// manifest, of names the file system takes, unique also ignoring case, and
/// no path lies under another's file: so writing them cannot fail half-way
/// for their names.
pub fn check_artifact_paths(artifacts: &[Artifact]) -> Result<(), Refusal> {
    let mut claims = PathClaims::default();
    let refusals = artifacts.iter().filter_map(|a| claims.claim(&a.path).err());
    match refusals.min() {
        Some((path, reason)) => Err(path_refusal(&path, reason)),
        None => Ok(()),
    }
}

/// The longest name of a file or directory (Linux's `NAME_MAX`, most file systems').
const MAX_NAME_BYTES: usize = 255;

/// The longest artifact path: with OUT's own, well within `PATH_MAX` (4,096).
const MAX_PATH_BYTES: usize = 1024;

/// The artifact paths given so far, lower-cased (as one file on
/// case-insensitive file systems), with the directories they lie in.
#[derive(Default)]
struct PathClaims {
    /// Each file's path, lower-cased, to the path (the least of those that
    /// differ only in case).
    files: std::collections::HashMap<String, String>,
    /// Each directory a path lies in, lower-cased, to the least path under it.
    dirs: std::collections::HashMap<String, String>,
}

impl PathClaims {
    /// Claims `path`, or says which path is refused and why: of two paths
    /// in conflict, always the same one (the greater of two equal ones, the
    /// one under the other's file), whatever order they come in, so the
    /// least refusal of a set of paths does not depend on their order.
    fn claim(&mut self, path: &str) -> Result<(), (String, &'static str)> {
        if let Some(reason) = path_fault(path) {
            return Err((path.to_string(), reason));
        }
        let key = path.to_lowercase();
        if let Some(under) = self.dirs.get(&key) {
            // Kept as a file: the paths under it that come later are refused too.
            let under = under.clone();
            self.files.entry(key).or_insert_with(|| path.to_string());
            return Err((under, "lies under another artifact's file"));
        }
        let parents: Vec<&str> = key.match_indices('/').map(|(at, _)| &key[..at]).collect();
        if parents.iter().any(|dir| self.files.contains_key(*dir)) {
            return Err((path.to_string(), "lies under another artifact's file"));
        }
        for dir in parents {
            match self.dirs.get_mut(dir) {
                Some(least) if path < least.as_str() => *least = path.to_string(),
                Some(_) => {}
                None => {
                    self.dirs.insert(dir.to_string(), path.to_string());
                }
            }
        }
        match self.files.entry(key) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(path.to_string());
                Ok(())
            }
            std::collections::hash_map::Entry::Occupied(mut first) => {
                let (least, greater) = order_pair(first.get().clone(), path.to_string());
                first.insert(least);
                Err((greater, "is produced twice"))
            }
        }
    }
}

/// What is wrong with `path` on its own, if anything.
fn path_fault(path: &str) -> Option<&'static str> {
    if !is_plain_relative(path) {
        Some("is not a plain relative path")
    } else if path == MANIFEST {
        Some("is the manifest's name")
    } else if path.contains(|c: char| c.is_ascii_control()) {
        // The manifest holds one path a line.
        Some("has a control character")
    } else if path.len() > MAX_PATH_BYTES {
        Some("is longer than 1,024 bytes")
    } else if path.split('/').any(|name| name.len() > MAX_NAME_BYTES) {
        Some("has a name longer than 255 bytes")
    } else if path.split('/').any(|name| name.starts_with('.') && name.contains(".meshc-")) {
        // A later build would take it for a killed build's leftover and remove it.
        Some("has the form of meshc's temporary files")
    } else {
        None
    }
}

fn path_refusal(path: &str, reason: &str) -> Refusal {
    Refusal {
        message: format!("refusing to write the artifact path {path:?}: it {reason}"),
        help: Some("this is a meshc bug: please report it with the spec".into()),
    }
}

/// `a/b.yaml`: `/`-separated normal components, nothing else.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains(['\\', '\0'])
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Refuses a target that is the workspace, one of its ancestors, or (unless
/// `inside_allowed`) inside it: replacing or filling it would destroy or
/// pollute the specs.
fn refuse_workspace_overlap(target: &Path, workspace: &Path, what: &str, inside_allowed: bool) -> Result<(), Refusal> {
    let resolved = resolve_lenient(target).map_err(|e| Refusal::io("resolve", target, e))?;
    let workspace = workspace.canonicalize().unwrap_or_else(|_| workspace.to_path_buf());
    let relation = if resolved == workspace {
        "is the workspace itself"
    } else if workspace.starts_with(&resolved) {
        "contains the workspace"
    } else if resolved.starts_with(&workspace) && !inside_allowed {
        "is inside the workspace"
    } else {
        return Ok(());
    };
    Err(Refusal::new(
        format!("refusing to write {what} to {}: it {relation} ({})", target.display(), workspace.display()),
        "write outside the workspace, e.g. `-o ../out` or a temporary directory",
    ))
}

/// The absolute path `path` names once symlinks are resolved: its nearest
/// existing ancestor canonicalized, with the missing rest appended.
fn resolve_lenient(path: &Path) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let components: Vec<Component> = absolute.components().collect();
    let prefix = |n: usize| components[..n].iter().collect::<PathBuf>();
    let mut existing = components.len();
    while existing > 1 && fs::symlink_metadata(prefix(existing)).is_err() {
        existing -= 1;
    }
    let mut resolved = prefix(existing).canonicalize()?;
    // The missing rest holds no symlink, so `..` there is lexical.
    for component in &components[existing..] {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    Ok(resolved)
}

/// Refuses a symlink at `path`: writing through it would land elsewhere.
pub fn refuse_symlink(path: &Path) -> Result<(), Refusal> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(Refusal::new(
            format!("refusing to write to {}: it is a symbolic link", path.display()),
            "name the directory it points to, or a new directory",
        )),
        _ => Ok(()),
    }
}

/// Refuses an existing OUT that is not a directory meshc may replace.
fn refuse_unowned(out: &Path) -> Result<(), Refusal> {
    let metadata = match fs::symlink_metadata(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Refusal::io("inspect", out, e)),
        Ok(m) => m,
    };
    let why = if metadata.file_type().is_symlink() {
        "it is a symbolic link"
    } else if !metadata.is_dir() {
        "it is not a directory"
    } else if is_meshc_output(out) || is_empty_dir(out).map_err(|e| Refusal::io("read", out, e))? {
        return Ok(());
    } else {
        "it is a non-empty directory meshc did not build (no .meshc-output manifest)"
    };
    Err(Refusal::new(format!("refusing to replace {}: {why}", out.display()), FIX_OUT))
}

fn is_empty_dir(dir: &Path) -> io::Result<bool> {
    Ok(fs::read_dir(dir)?.next().is_none())
}

/// True when `dir` holds a manifest meshc wrote (its first line; at most a
/// few bytes are read, whatever the file is).
fn is_meshc_output(dir: &Path) -> bool {
    let manifest = dir.join(MANIFEST);
    let Ok(metadata) = fs::symlink_metadata(&manifest) else { return false };
    let mut head = Vec::new();
    metadata.is_file()
        && fs::File::open(&manifest)
            .and_then(|f| f.take(MANIFEST_FORMAT.len() as u64 + 1).read_to_end(&mut head))
            .is_ok()
        && [MANIFEST_FORMAT, MANIFEST_FORMAT_1]
            .iter()
            .any(|format| head.strip_prefix(format.as_bytes()).is_some_and(|rest| rest == b"\n"))
}

/// The manifest of `entries` (path, hash if known), sorted by path.
fn manifest_text<'a>(entries: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut entries: Vec<_> = entries.collect();
    entries.sort_unstable();
    let mut text = format!("{MANIFEST_FORMAT}\n");
    for (path, hash) in entries {
        text.push_str(hash.unwrap_or("-"));
        text.push_str("  ");
        text.push_str(path);
        text.push('\n');
    }
    text
}

fn parent_and_name(out: &Path) -> Result<(PathBuf, String), Refusal> {
    let name = match out.components().next_back() {
        Some(Component::Normal(name)) => name.to_string_lossy().into_owned(),
        _ => {
            return Err(Refusal::new(
                format!("refusing to write to {}: it names no directory of its own", out.display()),
                FIX_OUT,
            ))
        }
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// A new file's name beside `path`: `.NAME.meshc-PID-NANOS-N.tmp`, NAME cut to
/// 100 bytes so the whole stays a valid name however long `path`'s is.
fn temp_beside(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut cut = name.len().min(100);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_file_name(format!(".{}.meshc-{}-{}-{n}.tmp", &name[..cut], std::process::id(), nanos()))
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// The directories the `/`-separated `paths` lie in, each once, every
/// directory before those inside it (a parent sorts before its children).
fn directories<'a>(paths: impl Iterator<Item = &'a str>) -> std::collections::BTreeSet<&'a str> {
    let mut dirs = std::collections::BTreeSet::new();
    for path in paths {
        let mut rest = path;
        // Once a directory is known, so are all of its parents.
        while let Some((parent, _)) = rest.rsplit_once('/') {
            if !dirs.insert(parent) {
                break;
            }
            rest = parent;
        }
    }
    dirs
}

/// Creates `path` exclusively (never through a symlink or over a file
/// someone planted) with `mode` from the start.
fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<fs::File> {
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    io::Write::write_all(&mut file, contents)?;
    Ok(file)
}

/// Puts the complete staging directory at `out`. An existing OUT is
/// exchanged with it in one step (Linux `renameat2`), so OUT is at every
/// moment the old or the new output; `staging` then holds the old one.
fn swap_into_place(staging: &Path, out: &Path) -> io::Result<()> {
    if fs::symlink_metadata(out).is_err() {
        return fs::rename(staging, out);
    }
    match exchange(staging, out) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::ENOSYS) => {
            swap_by_renames(staging, out)
        }
        result => result,
    }
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let result =
        unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

/// Without an atomic exchange: OUT moves to `staging`'s `-old-` twin, the
/// new output takes its place, and the old is moved back into `staging`
/// (removed by the caller). A kill between the renames leaves the old
/// output in the `-old-` twin, which the next build puts back.
fn swap_by_renames(staging: &Path, out: &Path) -> io::Result<()> {
    let old = old_twin(staging);
    fs::rename(out, &old)?;
    if let Err(e) = fs::rename(staging, out) {
        let _ = fs::rename(&old, out); // put the previous output back
        return Err(e);
    }
    fs::rename(&old, staging)
}

fn old_twin(staging: &Path) -> PathBuf {
    let name = staging.file_name().map(|n| n.to_string_lossy().replacen(".meshc-new-", ".meshc-old-", 1));
    staging.with_file_name(name.unwrap_or_default())
}

/// Removes staging directories (`.OUT.meshc-new-PID-…`) of builds whose
/// process is gone, and puts back an old output (`.OUT.meshc-old-PID-…`)
/// a killed build had moved aside, or removes it when OUT exists.
fn clean_stale_staging(parent: &Path, name: &str, out: &Path) -> io::Result<()> {
    let (new_prefix, old_prefix) = (format!(".{name}.meshc-new-"), format!(".{name}.meshc-old-"));
    for entry in fs::read_dir(parent)? {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let (is_old, rest) = match (file_name.strip_prefix(&new_prefix), file_name.strip_prefix(&old_prefix)) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => continue,
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        // Only directories meshc could have made; a live build's are its own.
        if process_alive(pid) || !entry.file_type()?.is_dir() {
            continue;
        }
        if is_old && fs::symlink_metadata(out).is_err() {
            fs::rename(entry.path(), out)?;
        } else {
            fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid == 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// An exclusive `flock` on a file beside OUT, held while a build writes OUT.
/// The file is removed (while still locked) when the build ends.
struct Lock {
    path: PathBuf,
    _file: fs::File,
}

impl Lock {
    fn acquire(path: &Path, on_wait: impl Fn()) -> io::Result<Lock> {
        loop {
            let file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)?;
            if !flock(&file, libc::LOCK_EX | libc::LOCK_NB)? {
                on_wait();
                while !flock(&file, libc::LOCK_EX)? {}
            }
            // The previous holder removes the file as it finishes; a lock on
            // a removed file guards nothing, so take the one now at `path`.
            let held = file.metadata()?;
            match fs::symlink_metadata(path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(Lock { path: path.to_path_buf(), _file: file })
                }
                _ => continue,
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// `flock(2)`: true when taken, false when busy (`LOCK_NB`) or interrupted.
fn flock(file: &fs::File, operation: libc::c_int) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => Ok(false),
        _ => Err(error),
    }
}

/// The emit options of `--cert-dir DIR` and `--xds-dir DIR`: each DIR as
/// the absolute path the configs name, resolved the way the write targets
/// are (symlinks of its existing part resolved, `..` applied), so `build`
/// and `certs` given the same DIR agree, whichever runs first.
pub fn emit_options(cert_dir: Option<&Path>, xds_dir: Option<&Path>) -> Result<Options, Refusal> {
    let mut options = Options::default();
    if let Some(dir) = cert_dir {
        options =
            options.with_cert_dir(&absolute_utf8("cert", dir)?).map_err(|message| Refusal { message, help: None })?;
    }
    if let Some(dir) = xds_dir {
        options =
            options.with_xds_dir(&absolute_utf8("xDS", dir)?).map_err(|message| Refusal { message, help: None })?;
    }
    Ok(options)
}

/// `dir` resolved to an absolute UTF-8 path; `what` names it in refusals.
fn absolute_utf8(what: &str, dir: &Path) -> Result<String, Refusal> {
    let resolved = resolve_lenient(dir).map_err(|e| Refusal::io("resolve", dir, e))?;
    resolved.to_str().map(str::to_string).ok_or_else(|| {
        Refusal::new(
            format!("the {what} dir {} is not valid UTF-8", resolved.display()),
            "name a directory whose path is UTF-8",
        )
    })
}

/// What `meshc certs` wrote: the number of files, and warnings to print.
pub struct Issued {
    pub files: usize,
    pub warnings: Vec<String>,
}

/// Issues certificates for the compiled mesh into `dir`, reusing the CA
/// found there (both `ca.pem` and `ca-key.pem`, matching; one without the
/// other is refused). Each file is created exclusively under a unique
/// staging name beside its destination, with its final mode, and renamed
/// over it: keys and certificates first, the SDS files last, so a proxy
/// watching the directory never reads a certificate without its key.
/// The SDS files name the files in `options`' cert dir (`--cert-dir`, or the spec's).
/// `Ok(Err(..))`: two workloads' files would share a name; nothing written.
pub fn issue_certificates(
    compilation: &crate::driver::Compilation,
    dir: &Path,
    options: &Options,
) -> Result<Result<Issued, Vec<crate::diag::Diagnostic>>, Refusal> {
    use crate::emit::certificates::issue;
    let model =
        compilation.model.as_ref().ok_or_else(|| Refusal { message: "the spec did not load".into(), help: None })?;
    refuse_symlink(dir)?;
    // The cert dir may lie inside the workspace: certs never deletes.
    refuse_workspace_overlap(dir, compilation.sources.root(), "certificates", true)?;
    fs::create_dir_all(dir).map_err(|e| Refusal::io("create", dir, e))?;
    let mut warnings = Vec::new();
    let existing = existing_authority(dir, &mut warnings)?;
    let now = time::OffsetDateTime::now_utc();
    let mut files = issue(model, options, existing.as_ref(), now).map_err(|message| Refusal { message, help: None })?;
    let artifacts: Vec<Artifact> = files.iter().map(|f| f.artifact.clone()).collect();
    let collisions = crate::driver::path_collisions(&artifacts);
    if !collisions.is_empty() {
        return Ok(Err(collisions));
    }
    check_artifact_paths(&artifacts)?;
    files.sort_by_key(|f| f.artifact.path.ends_with(".yaml"));
    for file in &files {
        let target = dir.join(&file.artifact.path);
        let staging = temp_beside(&target);
        let mode = if file.secret { 0o600 } else { 0o644 };
        // Synced before the rename: running proxies pick certificates up at once.
        let written = write_new_file(&staging, file.artifact.contents.as_bytes(), mode)
            .and_then(|f| f.sync_all())
            .and_then(|()| fs::rename(&staging, &target));
        if let Err(e) = written {
            let _ = fs::remove_file(&staging);
            return Err(Refusal::io("write", &target, e));
        }
    }
    Ok(Ok(Issued { files: files.len(), warnings }))
}

/// The CA in `dir`, if any: both files or neither; a key others can read is
/// made private, with a warning.
fn existing_authority(
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<crate::emit::certificates::Authority>, Refusal> {
    let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let (has_cert, has_key) = (fs::symlink_metadata(&cert_path).is_ok(), fs::symlink_metadata(&key_path).is_ok());
    let lone = match (has_cert, has_key) {
        (false, false) => return Ok(None),
        (true, true) => None,
        (true, false) => Some(("ca.pem", "ca-key.pem")),
        (false, true) => Some(("ca-key.pem", "ca.pem")),
    };
    if let Some((found, missing)) = lone {
        return Err(Refusal::new(
            format!("{} holds {found} but not {missing}: the CA is incomplete", dir.display()),
            "restore the missing file, or remove the other to create a new CA (workloads must then trust the new ca.pem)",
        ));
    }
    let metadata = fs::metadata(&key_path).map_err(|e| Refusal::io("read", &key_path, e))?;
    if metadata.mode() & 0o077 != 0 {
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600))
            .map_err(|e| Refusal::io("restrict", &key_path, e))?;
        warnings.push(format!(
            "{} was readable by others (mode {:o}); it is now 0600. Consider the CA compromised if others could read it.",
            key_path.display(),
            metadata.mode() & 0o777
        ));
    }
    let read = |path: &Path| fs::read_to_string(path).map_err(|e| Refusal::io("read", path, e));
    Ok(Some(crate::emit::certificates::Authority { certificate: read(&cert_path)?, key: read(&key_path)? }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::{FileId, Span};

    fn artifact(path: &str) -> Artifact {
        Artifact { path: path.into(), contents: String::new(), origin: Span::new(FileId(0), 0..0) }
    }

    #[test]
    fn artifact_paths_must_be_plain_relative_unique_and_not_the_manifest() {
        for bad in ["/etc/passwd", "", "a/../b", "./a", "a//b", "a\\b", "a\0b", "..", ".meshc-output"] {
            assert!(check_artifact_paths(&[artifact(bad)]).is_err(), "{bad:?} was accepted");
        }
        assert!(check_artifact_paths(&[artifact("envoy/a.yaml"), artifact("envoy/A.yaml")]).is_err());
        assert!(check_artifact_paths(&[artifact("envoy/a.yaml"), artifact("istio/a.yaml")]).is_ok());
    }

    fn refusal(paths: &[&str]) -> Option<String> {
        let artifacts: Vec<Artifact> = paths.iter().map(|p| artifact(p)).collect();
        check_artifact_paths(&artifacts).err().map(|r| r.message)
    }

    /// Found by the writer's fuzz target: "a" and "a/b" cannot both be
    /// files; the one under the other's file is refused, in any order.
    #[test]
    fn a_path_under_another_artifacts_file_is_refused_whatever_the_order() {
        let expected =
            Some(r#"refusing to write the artifact path "a/b": it lies under another artifact's file"#.into());
        for paths in [["a", "a/b", "a/c"], ["a/c", "a/b", "a"], ["a/b", "A", "a/c"], ["a/c", "a", "a/b"]] {
            assert_eq!(refusal(&paths), expected, "{paths:?}");
        }
        assert_eq!(refusal(&["a/b", "ab", "a-b/c"]), None);
    }

    /// Found by the writer's fuzz target: a rebuild's new file beside a
    /// 250-byte name had a name past 255 bytes, and failed half-way.
    #[test]
    fn names_no_file_system_takes_are_refused_and_the_longest_one_is_rebuilt() {
        let long = "n".repeat(MAX_NAME_BYTES);
        assert!(refusal(&[&format!("{long}x")]).unwrap().contains("has a name longer than 255 bytes"));
        let deep = ["d"; 600].join("/");
        assert!(refusal(&[&deep]).unwrap().contains("is longer than 1,024 bytes"));
        assert!(refusal(&["envoy/.a.yaml.meshc-9-1.tmp"]).unwrap().contains("meshc's temporary files"));
        assert!(refusal(&["kubernetes/a.yaml\r"]).unwrap().contains("has a control character"));
        let (_root, workspace, out) = dirs();
        write_build(&out, &workspace, &[with(&long, "one")]).unwrap();
        let written = write_build(&out, &workspace, &[with(&long, "two")]).unwrap();
        assert_eq!(written.changed, 1);
        assert_eq!(fs::read_to_string(out.join(&long)).unwrap(), "two");
    }

    /// A rebuild writes every changed file before OUT changes: when one
    /// cannot be written, none of the others is left behind.
    #[test]
    fn staging_beside_out_takes_every_new_file_back_when_one_fails() {
        let (_root, _workspace, out) = dirs();
        fs::create_dir_all(out.join("envoy")).unwrap();
        let artifacts = [with("envoy/a.yaml", "a"), with("missing/b.yaml", "b"), with("envoy/c.yaml", "c")];
        assert!(stage_beside(&out, &artifacts).is_err());
        assert_eq!(fs::read_dir(out.join("envoy")).unwrap().count(), 0);
        let staged = stage_beside(&out, &[with("envoy/a.yaml", "a")]).unwrap();
        assert_eq!(fs::read_to_string(&staged[0]).unwrap(), "a");
        assert!(staged[0].file_name().unwrap().to_string_lossy().starts_with(".a.yaml.meshc-"));
    }

    fn with(path: &str, contents: &str) -> Artifact {
        Artifact { contents: contents.into(), ..artifact(path) }
    }

    fn inode(path: &Path) -> u64 {
        fs::metadata(path).unwrap().ino()
    }

    /// A workspace and an output beside it.
    fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let (workspace, out) = (root.path().join("ws"), root.path().join("out"));
        fs::create_dir(&workspace).unwrap();
        (root, workspace, out)
    }

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        // FIPS 180-2's "abc" vector, as `sha256sum` prints it.
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(is_sha256_hex(&sha256_hex(b"")));
    }

    #[test]
    fn a_rebuild_rewrites_only_what_changed_and_removes_what_is_gone() {
        let (_root, workspace, out) = dirs();
        let first = [with("envoy/a.yaml", "a1"), with("envoy/b.yaml", "b1"), with("old/c.yaml", "c1")];
        let written = write_build(&out, &workspace, &first).unwrap();
        assert_eq!(written, Written { changed: 3, unchanged: 0, removed: 0 });
        let manifest = fs::read_to_string(out.join(MANIFEST)).unwrap();
        assert_eq!(manifest.lines().next(), Some("meshc-output 2"));
        assert!(manifest.contains(&format!("{}  envoy/a.yaml\n", sha256_hex(b"a1"))), "{manifest}");
        let a = inode(&out.join("envoy/a.yaml"));

        let same = write_build(&out, &workspace, &first).unwrap();
        assert_eq!(same, Written { changed: 0, unchanged: 3, removed: 0 });
        let second = [with("envoy/a.yaml", "a1"), with("envoy/b.yaml", "b2"), with("new/d.yaml", "d")];
        let written = write_build(&out, &workspace, &second).unwrap();
        assert_eq!(written, Written { changed: 2, unchanged: 1, removed: 1 });
        assert_eq!(inode(&out.join("envoy/a.yaml")), a, "an unchanged file is left alone");
        assert_eq!(fs::read_to_string(out.join("envoy/b.yaml")).unwrap(), "b2");
        assert_eq!(fs::read_to_string(out.join("new/d.yaml")).unwrap(), "d");
        assert!(!out.join("old").exists(), "a removed artifact's emptied directory goes too");
        let manifest = fs::read_to_string(out.join(MANIFEST)).unwrap();
        assert_eq!(manifest.lines().count(), 4, "{manifest}");
        assert!(!manifest.contains("old/c.yaml"));
    }

    #[test]
    fn what_the_manifest_cannot_vouch_for_is_rewritten() {
        let (_root, workspace, out) = dirs();
        let artifacts = [with("a.yaml", "one"), with("b.yaml", "two")];
        write_build(&out, &workspace, &artifacts).unwrap();
        // A build killed half-way: its manifest holds no hash for what it was changing.
        let text = fs::read_to_string(out.join(MANIFEST)).unwrap();
        fs::write(out.join(MANIFEST), text.replace(&sha256_hex(b"two"), "-")).unwrap();
        fs::write(out.join("b.yaml"), "half-written").unwrap();
        assert_eq!(write_build(&out, &workspace, &artifacts).unwrap().changed, 1);
        assert_eq!(fs::read_to_string(out.join("b.yaml")).unwrap(), "two");
        // A file of another size than recorded is rewritten too; a format-1 manifest is meshc's.
        fs::write(out.join("a.yaml"), "tampered").unwrap();
        assert_eq!(write_build(&out, &workspace, &artifacts).unwrap().changed, 1);
        fs::write(out.join(MANIFEST), "meshc-output 1\na.yaml\nb.yaml\n").unwrap();
        assert_eq!(
            write_build(&out, &workspace, &artifacts).unwrap(),
            Written { changed: 2, unchanged: 0, removed: 0 }
        );
    }

    #[test]
    fn a_symlink_in_the_output_is_never_written_through_and_a_manifest_never_deletes_outside() {
        let (root, workspace, out) = dirs();
        write_build(&out, &workspace, &[with("envoy/a.yaml", "a1"), with("x.yaml", "x")]).unwrap();
        let elsewhere = root.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::write(elsewhere.join("keep.txt"), "mine").unwrap();
        fs::remove_dir_all(out.join("envoy")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("envoy")).unwrap();
        // A manifest naming paths outside OUT, as a hostile one would.
        let text = fs::read_to_string(out.join(MANIFEST)).unwrap();
        fs::write(out.join(MANIFEST), format!("{text}-  ../elsewhere/keep.txt\n-  /etc/hosts\n")).unwrap();
        write_build(&out, &workspace, &[with("envoy/a.yaml", "a2")]).unwrap();
        assert_eq!(fs::read_to_string(elsewhere.join("keep.txt")).unwrap(), "mine");
        assert!(!elsewhere.join("a.yaml").exists(), "written through the symlink");
        assert!(!fs::symlink_metadata(out.join("envoy")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(out.join("envoy/a.yaml")).unwrap(), "a2");
        assert!(!out.join("x.yaml").exists());
    }

    #[test]
    fn new_files_of_killed_builds_are_cleaned_up_and_live_ones_kept() {
        let (_root, workspace, out) = dirs();
        write_build(&out, &workspace, &[with("envoy/a.yaml", "a1")]).unwrap();
        // pid 0 is never a process; this test's own pid is alive.
        let dead = out.join("envoy/.a.yaml.meshc-0-1.tmp");
        let live = out.join(format!("envoy/.a.yaml.meshc-{}-1.tmp", std::process::id()));
        fs::write(&dead, "partial").unwrap();
        fs::write(&live, "partial").unwrap();
        write_build(&out, &workspace, &[with("envoy/a.yaml", "a2")]).unwrap();
        assert!(!dead.exists());
        assert!(live.exists());
    }

    #[test]
    fn new_files_are_never_written_through_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "theirs").unwrap();
        let staging = dir.path().join(".key.pem.tmp");
        std::os::unix::fs::symlink(&victim, &staging).unwrap();
        assert!(write_new_file(&staging, b"SECRET", 0o600).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "theirs");
    }

    #[test]
    fn new_files_have_their_mode_from_creation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_new_file(&path, b"k", 0o600).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn each_directory_is_listed_once_before_the_directories_inside_it() {
        let paths = ["b/x/1.yaml", "a.yaml", "b/x/2.yaml", "b/y/z/3.yaml", "b/4.yaml", "c/5.yaml"];
        let dirs: Vec<&str> = directories(paths.into_iter()).into_iter().collect();
        assert_eq!(dirs, ["b", "b/x", "b/y", "b/y/z", "c"]);
    }

    #[test]
    fn a_new_output_of_many_files_in_nested_directories_is_written_whole() {
        let (_root, workspace, out) = dirs();
        let artifacts: Vec<Artifact> =
            (0..200).map(|i| with(&format!("d{}/e{}/f{i}.yaml", i % 3, i % 7), &i.to_string())).collect();
        assert_eq!(write_build(&out, &workspace, &artifacts).unwrap().changed, 200);
        for (i, artifact) in artifacts.iter().enumerate() {
            assert_eq!(fs::read_to_string(out.join(&artifact.path)).unwrap(), i.to_string());
        }
        // A rebuild changing files in directories that are new and old.
        let mut changed = artifacts.clone();
        changed[5].contents = "five".into();
        changed.push(with("new/deeper/g.yaml", "g"));
        assert_eq!(
            write_build(&out, &workspace, &changed).unwrap(),
            Written { changed: 2, unchanged: 199, removed: 0 }
        );
        assert_eq!(fs::read_to_string(out.join(&changed[5].path)).unwrap(), "five");
        assert_eq!(fs::read_to_string(out.join("new/deeper/g.yaml")).unwrap(), "g");
    }

    /// Writes `batches` to `out` one after the other as `meshc build` does.
    fn write_batches(out: &Path, workspace: &Path, batches: &[Vec<Artifact>]) -> Result<Written, Refusal> {
        let mut writer = BuildWriter::open(out, workspace)?;
        loop {
            batches.iter().for_each(|batch| writer.add(batch));
            match writer.finish()? {
                Finished::Written(written) => return Ok(written),
                Finished::Again(again) => writer = *again,
            }
        }
    }

    #[test]
    fn batches_in_any_order_make_the_same_output_and_manifest() {
        let (root, workspace, _) = dirs();
        let batches = [
            vec![with("envoy/a.yaml", "a"), with("envoy/sub/b.yaml", "b")],
            vec![with("envoy/c.yaml", "c"), with("istio/d.yaml", "d")],
            vec![with("site/index.html", "e")],
        ];
        let mut manifests = Vec::new();
        for (i, order) in [[0, 1, 2], [2, 1, 0], [1, 2, 0]].iter().enumerate() {
            let out = root.path().join(format!("out{i}"));
            let ordered: Vec<Vec<Artifact>> = order.iter().map(|&b| batches[b].clone()).collect();
            assert_eq!(write_batches(&out, &workspace, &ordered).unwrap().changed, 5);
            assert_eq!(fs::read_to_string(out.join("envoy/sub/b.yaml")).unwrap(), "b");
            manifests.push(fs::read(out.join(MANIFEST)).unwrap());
            // A rebuild, batches in yet another order: nothing to write.
            let reversed: Vec<Vec<Artifact>> = ordered.into_iter().rev().collect();
            assert_eq!(write_batches(&out, &workspace, &reversed).unwrap().unchanged, 5);
            assert_eq!(fs::read(out.join(MANIFEST)).unwrap(), manifests[i]);
        }
        assert!(manifests.windows(2).all(|pair| pair[0] == pair[1]));
    }

    #[test]
    fn paths_colliding_across_batches_are_refused_the_same_way_whatever_the_order_and_nothing_is_written() {
        let (root, workspace, out) = dirs();
        let first = [vec![with("envoy/A.yaml", "1"), with("envoy/b.yaml", "2")], vec![with("envoy/a.yaml", "3")]];
        let mut messages = Vec::new();
        for batches in [first.to_vec(), first.iter().rev().cloned().collect()] {
            let refusal = write_batches(&out, &workspace, &batches).unwrap_err();
            messages.push(refusal.message);
            assert!(!out.exists(), "a refused new output was written");
            let left: Vec<_> = fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(left, ["ws"], "the staging directory or the lock was left");
        }
        assert_eq!(messages[0], messages[1]);
        assert!(messages[0].contains("\"envoy/a.yaml\": it is produced twice"), "{}", messages[0]);
        // Over a built OUT, the same refusal leaves OUT as it was.
        write_build(&out, &workspace, &[with("keep.yaml", "k")]).unwrap();
        assert!(write_batches(&out, &workspace, &first).is_err());
        assert_eq!(fs::read_to_string(out.join("keep.yaml")).unwrap(), "k");
        assert!(!out.join("envoy").exists());
    }

    #[test]
    fn a_writer_dropped_unfinished_leaves_out_as_it_was() {
        let (root, workspace, out) = dirs();
        let writer = BuildWriter::open(&out, &workspace).unwrap();
        writer.add(&[with("a.yaml", "a")]);
        drop(writer);
        assert!(!out.exists());
        let left: Vec<_> = fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["ws"]);
        write_build(&out, &workspace, &[with("a.yaml", "a")]).unwrap();
        let writer = BuildWriter::open(&out, &workspace).unwrap();
        writer.add(&[with("a.yaml", "changed"), with("b.yaml", "b")]);
        drop(writer);
        assert_eq!(fs::read_to_string(out.join("a.yaml")).unwrap(), "a");
        assert!(!out.join("b.yaml").exists());
    }

    #[test]
    fn a_layout_changed_under_a_path_rewrites_out_whole_from_the_batches_given_again() {
        let (_root, workspace, out) = dirs();
        write_build(&out, &workspace, &[with("envoy/a.yaml", "a"), with("b.yaml", "b")]).unwrap();
        // Someone made a file's place a directory.
        fs::remove_file(out.join("b.yaml")).unwrap();
        fs::create_dir(out.join("b.yaml")).unwrap();
        let batches = [vec![with("envoy/a.yaml", "a")], vec![with("b.yaml", "b2")]];
        assert_eq!(
            write_batches(&out, &workspace, &batches).unwrap(),
            Written { changed: 2, unchanged: 0, removed: 0 }
        );
        assert_eq!(fs::read_to_string(out.join("b.yaml")).unwrap(), "b2");
        assert_eq!(fs::read_to_string(out.join("envoy/a.yaml")).unwrap(), "a");
    }

    #[test]
    fn the_manifest_lists_the_paths_sorted_after_its_format_line() {
        let hash = "1".repeat(64);
        let entries = [("b/x", Some(hash.as_str())), ("a/y", None)].into_iter();
        assert_eq!(manifest_text(entries), format!("meshc-output 2\n-  a/y\n{}  b/x\n", "1".repeat(64)));
    }

    #[test]
    fn lenient_resolution_canonicalizes_the_existing_part() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        assert_eq!(resolve_lenient(&dir.path().join("missing/../out")).unwrap(), real.join("out"));
        assert_eq!(resolve_lenient(&dir.path().join("a/b")).unwrap(), real.join("a/b"));
    }

    #[test]
    fn a_lock_is_exclusive_and_its_file_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".out.meshc-lock");
        let lock = Lock::acquire(&path, || panic!("nothing holds it")).unwrap();
        let other = fs::File::open(&path).unwrap();
        assert!(!flock(&other, libc::LOCK_EX | libc::LOCK_NB).unwrap(), "a second lock was granted");
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn stale_staging_of_dead_processes_is_removed_and_an_old_output_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // pid_max is at most 2^22 on Linux: this process cannot exist.
        let dead = 4_999_999;
        fs::create_dir_all(dir.path().join(format!(".out.meshc-new-{dead}-1/envoy"))).unwrap();
        fs::create_dir(dir.path().join(format!(".out.meshc-old-{dead}-1"))).unwrap();
        fs::write(dir.path().join(format!(".out.meshc-old-{dead}-1/{MANIFEST}")), "meshc-output 1\n").unwrap();
        let alive = dir.path().join(format!(".out.meshc-new-{}-1", std::process::id()));
        fs::create_dir(&alive).unwrap();
        clean_stale_staging(dir.path(), "out", &out).unwrap();
        let mut left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left, [alive.file_name().unwrap().to_owned(), "out".into()]);
        assert!(is_meshc_output(&out));
    }
}
