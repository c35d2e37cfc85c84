//! The pipeline, start to end: load → lower → schemas → checks (→ emit).
//! Front ends (the CLI, tests, benchmarks) call this and nothing deeper.

use std::collections::hash_map::{Entry, HashMap};
use std::path::Path;

use crate::base::fs::{DiskFs, FileSystem};
use crate::base::Sources;
use crate::diag::{Code, Diagnostic, Severity, Sink};
use crate::emit::{self, Artifact};
use crate::model::{self, Model};
use crate::schema::{self, SchemaIndex};

/// The breaking-change rules and categories, for front ends (`meshc diff`).
pub use crate::schema::breaking;

mod workspace_diff;
pub use workspace_diff::{diff_workspaces_in, Side as DiffSide};

/// Everything a run produced up to the checks.
pub struct Compilation {
    pub sources: Sources,
    /// `None` when no spec file could be read at all.
    pub model: Option<Model>,
    pub schemas: SchemaIndex,
    /// Sorted by file, position and code.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compilation {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning).count()
    }

    /// The artifacts, when the spec has no errors and no two artifacts
    /// claim one path. `Err` holds the diagnostics emitting found (path
    /// collisions); it is empty when the spec already had errors. Warnings
    /// about settings a backend cannot express are dropped: see [`Self::build`].
    pub fn emit(&self) -> Result<Vec<Artifact>, Vec<Diagnostic>> {
        self.build(&emit::Options::default()).map(|built| built.artifacts)
    }

    /// What `meshc build` writes, with `options`: the artifacts and the
    /// warnings about settings a backend cannot express (MESH0073), when the
    /// spec has no errors and no two artifacts claim one path. `Err` holds
    /// every diagnostic emitting found; it is empty when the spec already had errors.
    pub fn build(&self, options: &emit::Options) -> Result<Built, Vec<Diagnostic>> {
        let Some(model) = self.model.as_ref().filter(|_| self.errors() == 0) else { return Err(Vec::new()) };
        let emitted = emit::emit_all(model, &self.schemas, options);
        let mut sink = Sink::new();
        sink.extend(emitted.unexpressed.iter().map(unexpressed));
        let collisions = path_collisions(&emitted.artifacts);
        if collisions.is_empty() {
            Ok(Built { artifacts: emitted.artifacts, warnings: sink.into_sorted() })
        } else {
            sink.extend(collisions);
            Err(sink.into_sorted())
        }
    }
}

/// A build's output (`Compilation::build`).
pub struct Built {
    /// Sorted by path.
    pub artifacts: Vec<Artifact>,
    /// Settings backends cannot express, sorted like all diagnostics.
    pub warnings: Vec<Diagnostic>,
}

fn unexpressed(u: &emit::Unexpressed) -> Diagnostic {
    Diagnostic::new(Code::BackendCannotExpress, format!("the {} backend cannot express {}", u.backend, u.setting))
        .at(u.span, u.label.clone())
        .help(u.help.clone())
}

/// Artifacts whose paths are equal, or equal but for letter case (one file on
/// case-insensitive file systems such as macOS's and Windows'): one
/// diagnostic per later claimant, labelling both declarations.
pub fn path_collisions(artifacts: &[Artifact]) -> Vec<Diagnostic> {
    let mut first_by_path: HashMap<String, &Artifact> = HashMap::with_capacity(artifacts.len());
    let mut out = Vec::new();
    for artifact in artifacts {
        match first_by_path.entry(artifact.path.to_lowercase()) {
            Entry::Vacant(slot) => {
                slot.insert(artifact);
            }
            Entry::Occupied(first) => {
                let first = *first.get();
                let case = if first.path == artifact.path { "" } else { " (they differ only in letter case)" };
                out.push(
                    Diagnostic::new(
                        Code::ArtifactPathCollision,
                        format!("two artifacts would be written to `{}`{case}", artifact.path),
                    )
                    .at(artifact.origin, format!("this declaration's artifact is `{}`", artifact.path))
                    .with_label(first.origin, format!("and this one's is `{}`", first.path))
                    .help("rename one of the declarations; generated file names join names with `-`"),
                );
            }
        }
    }
    out
}

/// Loads and checks the workspace at `path` on disk (a directory or a root file).
pub fn compile(path: &Path) -> Compilation {
    compile_in(&DiskFs, path)
}

/// Loads and checks the workspace at `path` in `fs` (a directory or a root
/// file): every spec and schema file is read through `fs`, so a workspace
/// in memory (`MemoryFs`) compiles exactly as one on disk.
pub fn compile_in(fs: &dyn FileSystem, path: &Path) -> Compilation {
    front_end_in(fs, path, true)
}

/// Loads, lowers and reads the schemas of the workspace at `path`; the
/// check passes run only when `checks` is set (`meshc diff` compares the
/// model and schemas, and leaves the checks to `meshc check`).
fn front_end_in(fs: &dyn FileSystem, path: &Path, checks: bool) -> Compilation {
    let root = if fs.is_dir(path) { path } else { path.parent().unwrap_or(Path::new(".")) };
    let root = fs.canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut sources = Sources::new(&root);
    let mut sink = Sink::new();
    let Some(workspace) = crate::load::load(fs, path, &mut sources, &mut sink) else {
        return Compilation { sources, model: None, schemas: SchemaIndex::default(), diagnostics: sink.into_sorted() };
    };
    let model = model::lower(&workspace, &sources, &mut sink);
    for span in &model.secret_spans {
        sources.redact(*span);
    }
    let schemas = schema::load(&model, fs, &mut sources, &mut sink);
    if checks {
        crate::check::run_all(&model, &schemas, &mut sink);
    }
    Compilation { sources, model: Some(model), schemas, diagnostics: sink.into_sorted() }
}

/// What `meshc diff OLD NEW` found.
pub struct Diffed {
    /// The files of both versions.
    pub sources: Sources,
    /// Breaking changes in the chosen category (errors), changes that break
    /// only a stricter one (warnings), or why a version did not load;
    /// sorted like all diagnostics.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether both versions loaded (else `diagnostics` says why not).
    pub loaded: bool,
}

/// Compares two versions of a protobuf schema on disk: two `.proto` files
/// or two directories of them (module roots).
pub fn diff(old: &Path, new: &Path, category: schema::breaking::Category) -> Diffed {
    diff_in(&DiskFs, old, new, category)
}

/// [`diff`] over any file system.
pub fn diff_in(fs: &dyn FileSystem, old: &Path, new: &Path, category: schema::breaking::Category) -> Diffed {
    if is_workspace(fs, old) && is_workspace(fs, new) {
        let side = |path| DiffSide { fs, path, label: "" };
        return diff_workspaces_in(side(old), side(new), category);
    }
    let canonical = |p: &Path| fs.canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let root = common_ancestor(&canonical(old), &canonical(new));
    let mut sources = Sources::new(&root);
    let loaded = (
        schema::proto_module::load_module(fs, old, &mut sources),
        schema::proto_module::load_module(fs, new, &mut sources),
    );
    let (old, new) = match loaded {
        (Ok(old), Ok(new)) => (old, new),
        (old, new) => {
            let mut sink = Sink::new();
            sink.extend(old.err().into_iter().chain(new.err()).map(|d| *d));
            return Diffed { sources, diagnostics: sink.into_sorted(), loaded: false };
        }
    };
    let changes = schema::breaking::protobuf::compare(&old, &new);
    Diffed { sources, diagnostics: change_diagnostics(&changes, category), loaded: true }
}

/// Compares the workspace `dir` as it is at the git ref `reference` (read
/// from the repository's objects, no checkout) with the working tree: a
/// workspace diff whose old files are shown as `REF:path`.
pub fn diff_against(dir: &Path, reference: &str, category: schema::breaking::Category) -> Diffed {
    let canonical = DiskFs.canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let (old_fs, _commit) = match crate::base::fs::git::tree_at(dir, reference) {
        Ok(read) => read,
        Err(e) => {
            let help = match e {
                crate::base::fs::git::GitError::NotARepository { .. } => {
                    "run it inside a git repository's working tree, or compare two directories: meshc diff OLD NEW"
                }
                crate::base::fs::git::GitError::UnknownRef { .. } => {
                    "name a branch, tag or commit of the repository (`git rev-parse REF` must resolve it)"
                }
                crate::base::fs::git::GitError::NotInRef { .. } => {
                    "the workspace did not exist at that ref: compare with a later one"
                }
                _ => "meshc reads the ref's tree bounded as the disk loader reads files, and no symlink",
            };
            let diagnostic = Diagnostic::new(Code::UnreadableGitRef, e.to_string()).help(help);
            return Diffed { sources: Sources::new(&canonical), diagnostics: vec![diagnostic], loaded: false };
        }
    };
    let label = format!("{reference}:");
    let old = DiffSide { fs: &old_fs, path: &canonical, label: &label };
    let new = DiffSide { fs: &DiskFs, path: &canonical, label: "" };
    diff_workspaces_in(old, new, category)
}

/// Whether `path` is a workspace: a directory holding `mesh.kdl`, or a `.kdl` file.
pub fn is_workspace(fs: &dyn FileSystem, path: &Path) -> bool {
    if fs.is_dir(path) {
        fs.is_file(&path.join("mesh.kdl"))
    } else {
        path.extension().is_some_and(|e| e == "kdl") && fs.is_file(path)
    }
}

/// The deepest directory holding both paths (for display paths).
fn common_ancestor(a: &Path, b: &Path) -> std::path::PathBuf {
    let dir = |p: &Path| if p.extension().is_some() { p.parent().unwrap_or(p).to_path_buf() } else { p.to_path_buf() };
    let (a, b) = (dir(a), dir(b));
    a.components().zip(b.components()).take_while(|(x, y)| x == y).map(|(x, _)| x).collect()
}

/// Changes as diagnostics: errors for rules of `category`, warnings for
/// rules only of stricter categories (unless an error already marks the
/// same place), nothing for the rest.
fn change_diagnostics(changes: &[schema::breaking::Change], category: schema::breaking::Category) -> Vec<Diagnostic> {
    let breaking: Vec<&schema::breaking::Change> = changes.iter().filter(|c| c.rule.in_category(category)).collect();
    let marked: std::collections::HashSet<_> = breaking.iter().map(|c| (c.new, c.old)).collect();
    let stricter = changes.iter().filter(|c| c.rule.only_stricter_than(category) && !marked.contains(&(c.new, c.old)));
    let mut sink = Sink::new();
    for change in &breaking {
        sink.push(change_diagnostic(change, Severity::Error));
    }
    for change in stricter {
        let categories: Vec<&str> = change.rule.categories.iter().map(|c| c.id()).collect();
        sink.push(change_diagnostic(change, Severity::Warning).note(format!(
            "{} is a {} rule, stricter than {}: this change breaks code generated from the old schema, not its encoded messages",
            change.rule.id,
            categories.join("/"),
            category.id()
        )));
    }
    sink.into_sorted()
}

fn change_diagnostic(change: &schema::breaking::Change, severity: Severity) -> Diagnostic {
    let mut diagnostic = Diagnostic::new(Code::BreakingChange, change.reason.clone()).rule(change.rule.id);
    diagnostic.severity = severity;
    diagnostic = match (change.new, change.old) {
        (Some(new), Some(old)) => diagnostic.at(new, "in the new version").with_label(old, "in the old version"),
        (Some(new), None) => diagnostic.at(new, "in the new version"),
        (None, Some(old)) => diagnostic.at(old, "in the old version, gone from the new one"),
        (None, None) => diagnostic,
    };
    diagnostic.help(format!("{}: {}", change.rule.id, change.rule.purpose))
}
