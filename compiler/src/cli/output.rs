//! Writing artifacts, and the rules for where meshc may write.
//!
//! `meshc build -o OUT` replaces OUT only when it is missing, an empty
//! directory, or a directory meshc built (it holds the manifest
//! [`MANIFEST`]), and never when OUT is, contains or lies inside the
//! workspace. All files go to a fresh staging directory beside OUT, which
//! then replaces OUT in one atomic exchange, under a lock beside OUT: a
//! failed, concurrent or killed build leaves the old or the new output,
//! never a mix. Staging directories of killed builds are removed by the next.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::emit::{Artifact, Options};

/// The manifest in every output directory: [`MANIFEST_FORMAT`], then the
/// artifact paths, one a line, sorted (deterministic: builds stay byte-identical).
pub const MANIFEST: &str = ".meshc-output";
const MANIFEST_FORMAT: &str = "meshc-output 1";
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

/// Writes `artifacts` to `out` as the build output of the workspace at `workspace`.
pub fn write_build(out: &Path, workspace: &Path, artifacts: &[Artifact]) -> Result<(), Refusal> {
    check_artifact_paths(artifacts)?;
    refuse_workspace_overlap(out, workspace, "the build output", false)?;
    let (parent, name) = parent_and_name(out)?;
    fs::create_dir_all(&parent).map_err(|e| Refusal::io("create", &parent, e))?;
    let lock_path = parent.join(format!(".{name}.meshc-lock"));
    let _lock = Lock::acquire(&lock_path, || {
        eprintln!("waiting for another meshc build writing {} to finish", out.display());
    })
    .map_err(|e| Refusal::io("lock", &lock_path, e))?;
    // Under the lock, checked again: another build may have just written OUT.
    clean_stale_staging(&parent, &name, out).map_err(|e| Refusal::io("clean up beside", out, e))?;
    refuse_unowned(out)?;
    let staging = parent.join(format!(".{name}.meshc-new-{}-{}", std::process::id(), nanos()));
    let result = write_all(&staging, artifacts).and_then(|()| swap_into_place(&staging, out));
    let _ = fs::remove_dir_all(&staging); // the previous output after a swap, or a failed staging dir
    result.map_err(|e| Refusal::io("write", out, e))
}

/// Defence in depth behind the name checks of the front end: every path is
/// relative, plain (no `.`/`..`, backslash or NUL), not the manifest, and
/// unique, also ignoring case.
pub fn check_artifact_paths(artifacts: &[Artifact]) -> Result<(), Refusal> {
    let mut seen = std::collections::HashSet::new();
    for artifact in artifacts {
        let path = artifact.path.as_str();
        let reason = if !is_plain_relative(path) {
            "is not a plain relative path"
        } else if path == MANIFEST {
            "is the manifest's name"
        } else if !seen.insert(path.to_lowercase()) {
            "is produced twice"
        } else {
            continue;
        };
        return Err(Refusal {
            message: format!("refusing to write the artifact path {path:?}: it {reason}"),
            help: Some("this is a meshc bug: please report it with the spec".into()),
        });
    }
    Ok(())
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
        && head.strip_prefix(MANIFEST_FORMAT.as_bytes()).is_some_and(|rest| rest == b"\n")
}

fn manifest(artifacts: &[Artifact]) -> String {
    let mut paths: Vec<&str> = artifacts.iter().map(|a| a.path.as_str()).collect();
    paths.sort_unstable();
    let mut text = format!("{MANIFEST_FORMAT}\n");
    for path in paths {
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

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn write_all(dir: &Path, artifacts: &[Artifact]) -> io::Result<()> {
    fs::create_dir(dir)?;
    for artifact in artifacts {
        let path = dir.join(&artifact.path);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p)?;
        }
        write_new_file(&path, artifact.contents.as_bytes(), 0o644)?;
    }
    write_new_file(&dir.join(MANIFEST), manifest(artifacts).as_bytes(), 0o644).map(drop)
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

/// The emit options of `--cert-dir DIR`: DIR as the absolute path the
/// configs name, resolved the way the write targets are (symlinks of its
/// existing part resolved, `..` applied), so `build` and `certs` given the
/// same DIR agree, whichever runs first.
pub fn emit_options(cert_dir: Option<&Path>) -> Result<Options, Refusal> {
    let Some(dir) = cert_dir else { return Ok(Options::default()) };
    let resolved = resolve_lenient(dir).map_err(|e| Refusal::io("resolve", dir, e))?;
    let text = resolved.to_str().ok_or_else(|| {
        Refusal::new(
            format!("the cert dir {} is not valid UTF-8", resolved.display()),
            "name a directory whose path is UTF-8",
        )
    })?;
    Options::default().with_cert_dir(text).map_err(|message| Refusal { message, help: None })
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
        let staging = dir.join(format!(".{}.meshc-{}-{}.tmp", file.artifact.path, std::process::id(), nanos()));
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
    fn the_manifest_lists_the_paths_sorted_after_its_format_line() {
        assert_eq!(manifest(&[artifact("b/x"), artifact("a/y")]), "meshc-output 1\na/y\nb/x\n");
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
