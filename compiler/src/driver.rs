//! The pipeline, start to end: load → lower → schemas → checks (→ emit).
//! Front ends (the CLI, tests, benchmarks) call this and nothing deeper.

use std::collections::hash_map::{Entry, HashMap};
use std::path::Path;

use crate::base::Sources;
use crate::diag::{Code, Diagnostic, Severity, Sink};
use crate::emit::{self, Artifact};
use crate::model::{self, Model};
use crate::schema::{self, SchemaIndex};

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
    /// collisions); it is empty when the spec already had errors.
    pub fn emit(&self) -> Result<Vec<Artifact>, Vec<Diagnostic>> {
        match &self.model {
            Some(model) if self.errors() == 0 => {
                let artifacts = emit::emit_all(model, &self.schemas);
                let collisions = path_collisions(&artifacts);
                if collisions.is_empty() {
                    Ok(artifacts)
                } else {
                    Err(collisions)
                }
            }
            _ => Err(Vec::new()),
        }
    }
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

/// Loads and checks the workspace at `path` (a directory or a root file).
pub fn compile(path: &Path) -> Compilation {
    let root = if path.is_dir() { path } else { path.parent().unwrap_or(Path::new(".")) };
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut sources = Sources::new(&root);
    let mut sink = Sink::new();
    let Some(workspace) = crate::load::load(path, &mut sources, &mut sink) else {
        return Compilation { sources, model: None, schemas: SchemaIndex::default(), diagnostics: sink.into_sorted() };
    };
    let model = model::lower(&workspace, &sources, &mut sink);
    for span in &model.secret_spans {
        sources.redact(*span);
    }
    let schemas = schema::load(&model, &mut sources, &mut sink);
    crate::check::run_all(&model, &schemas, &mut sink);
    Compilation { sources, model: Some(model), schemas, diagnostics: sink.into_sorted() }
}
