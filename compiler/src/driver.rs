//! The pipeline, start to end: load → lower → schemas → checks (→ emit).
//! Front ends (the CLI, tests, benchmarks) call this and nothing deeper.

use std::path::Path;

use crate::base::Sources;
use crate::diag::{Diagnostic, Severity, Sink};
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

    /// The artifacts, when the spec has no errors.
    pub fn emit(&self) -> Option<Vec<Artifact>> {
        match &self.model {
            Some(model) if self.errors() == 0 => Some(emit::emit_all(model, &self.schemas)),
            _ => None,
        }
    }
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
