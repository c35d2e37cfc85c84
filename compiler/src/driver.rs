//! The pipeline, start to end: load → lower → schemas → checks (→ emit).
//! Front ends (the CLI, tests, benchmarks) call this and nothing deeper.

use std::collections::hash_map::{Entry, HashMap};
use std::path::Path;

use rayon::prelude::*;

use crate::base::fs::{read_text, DiskFs, FileSystem};
use crate::base::Sources;
use crate::diag::{Code, Diagnostic, Severity, Sink};
use crate::emit::{self, Artifact};
pub use crate::model::api_versions::Date;
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
        sink.extend(emitted.unexpressed.iter().map(unexpressed_diagnostic));
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

impl Compilation {
    /// [`Self::build`] without collecting the output: each backend's
    /// artifacts go to `receive` as that backend finishes (on the thread
    /// that ran it, in no fixed order), so a writer can write and drop them
    /// while the others run. `Ok` holds the warnings; `Err` every
    /// diagnostic emitting found (path collisions, which are known only
    /// once every backend is done: the receiver must not make anything it
    /// got final before this returns `Ok`). Nothing is emitted when the
    /// spec has errors (`Err` is then empty).
    pub fn build_each(
        &self,
        options: &emit::Options,
        receive: &(dyn Fn(Vec<Artifact>) + Sync),
    ) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
        let Some(model) = self.model.as_ref().filter(|_| self.errors() == 0) else { return Err(Vec::new()) };
        let claims = std::sync::Mutex::new(Vec::new());
        let unexpressed = emit::emit_each(model, &self.schemas, options, &|part| {
            let mut batch: Vec<Claim> = part
                .artifacts
                .iter()
                .enumerate()
                .map(|(position, a)| Claim {
                    path: a.path.clone(),
                    order: (part.backend, part.part, position),
                    origin: a.origin,
                })
                .collect();
            claims.lock().unwrap_or_else(std::sync::PoisonError::into_inner).append(&mut batch);
            receive(part.artifacts);
        });
        let mut claims = claims.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The order `emit_all` gives: by path, then backend, part and place in the part.
        claims.sort_unstable_by(|a, b| (&a.path, a.order).cmp(&(&b.path, b.order)));
        let mut sink = Sink::new();
        sink.extend(unexpressed.iter().map(unexpressed_diagnostic));
        let collisions = claim_collisions(claims.iter().map(|c| (c.path.as_str(), c.origin)));
        if collisions.is_empty() {
            Ok(sink.into_sorted())
        } else {
            sink.extend(collisions);
            Err(sink.into_sorted())
        }
    }
}

/// An artifact's path and where it came from, kept for the collision
/// check once its contents are gone.
struct Claim {
    path: String,
    /// The backend's index, the part's number, the artifact's place in it.
    order: (usize, usize, usize),
    origin: crate::base::Span,
}

fn unexpressed_diagnostic(u: &emit::Unexpressed) -> Diagnostic {
    Diagnostic::new(Code::BackendCannotExpress, format!("the {} backend cannot express {}", u.backend, u.setting))
        .at(u.span, u.label.clone())
        .help(u.help.clone())
}

/// Artifacts whose paths are equal, or equal but for letter case (one file on
/// case-insensitive file systems such as macOS's and Windows'): one
/// diagnostic per later claimant, labelling both declarations.
pub fn path_collisions(artifacts: &[Artifact]) -> Vec<Diagnostic> {
    claim_collisions(artifacts.iter().map(|a| (a.path.as_str(), a.origin)))
}

/// [`path_collisions`] of (path, origin) claims, in the order given.
fn claim_collisions<'a>(claims: impl Iterator<Item = (&'a str, crate::base::Span)>) -> Vec<Diagnostic> {
    let mut first_by_path: HashMap<String, (&str, crate::base::Span)> = HashMap::new();
    let mut out = Vec::new();
    for (path, origin) in claims {
        match first_by_path.entry(path.to_lowercase()) {
            Entry::Vacant(slot) => {
                slot.insert((path, origin));
            }
            Entry::Occupied(first) => {
                let (first_path, first_origin) = *first.get();
                let case = if first_path == path { "" } else { " (they differ only in letter case)" };
                out.push(
                    Diagnostic::new(
                        Code::ArtifactPathCollision,
                        format!("two artifacts would be written to `{path}`{case}"),
                    )
                    .at(origin, format!("this declaration's artifact is `{path}`"))
                    .with_label(first_origin, format!("and this one's is `{first_path}`"))
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

/// [`compile`], judging API version lifecycles on `today` (`None`: [`today`]).
pub fn compile_on(path: &Path, today: Option<Date>) -> Compilation {
    compile_in_on(&DiskFs, path, today)
}

/// The day lifecycles are judged on when none is given: `SOURCE_DATE_EPOCH`
/// (reproducible builds) when set and valid, else the clock's UTC day.
pub fn today() -> Date {
    let from_env = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<i64>().ok());
    let seconds = from_env.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    });
    Date::from_unix(seconds).or_else(|| Date::from_unix(0)).expect("the epoch is a date")
}

/// Loads and checks the workspace at `path` in `fs` (a directory or a root
/// file): every spec and schema file is read through `fs`, so a workspace
/// in memory (`MemoryFs`) compiles exactly as one on disk.
pub fn compile_in(fs: &dyn FileSystem, path: &Path) -> Compilation {
    compile_in_on(fs, path, None)
}

/// [`compile_in`], judging API version lifecycles on `today` (`None`: [`today`]).
pub fn compile_in_on(fs: &dyn FileSystem, path: &Path, today: Option<Date>) -> Compilation {
    front_end_in(fs, path, today, &[], true)
}

/// [`compile_on`], applying compliance rule sets beside the spec's own
/// (`meshc check --rules SET`: a standard rule set or a workspace file).
pub fn compile_with_rules(path: &Path, today: Option<Date>, rules: &[String]) -> Compilation {
    front_end_in(&DiskFs, path, today, rules, true)
}

/// [`compile_with_rules`] over any file system.
pub fn compile_in_with_rules(fs: &dyn FileSystem, path: &Path, today: Option<Date>, rules: &[String]) -> Compilation {
    front_end_in(fs, path, today, rules, true)
}

/// Loads, lowers and reads the schemas of the workspace at `path`, with
/// lifecycles judged on `today` (`None`: [`today`]); the check passes run
/// only when `checks` is set (`meshc diff` compares the model and schemas,
/// and leaves the checks to `meshc check`).
fn front_end_in(fs: &dyn FileSystem, path: &Path, today: Option<Date>, rules: &[String], checks: bool) -> Compilation {
    let root = if fs.is_dir(path) { path } else { path.parent().unwrap_or(Path::new(".")) };
    let root = fs.canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut sources = Sources::new(&root);
    let mut sink = Sink::new();
    let Some(workspace) = crate::load::load_with_rules(fs, path, rules, &mut sources, &mut sink) else {
        return Compilation { sources, model: None, schemas: SchemaIndex::default(), diagnostics: sink.into_sorted() };
    };
    let mut model = model::lower(&workspace, &sources, &mut sink);
    // The syntax trees are not read again: freed before the schemas load,
    // a file's tree per task (on this thread alone, the other cores idled
    // through it: some 50 ms of `meshc check` at 10,000 services).
    workspace.documents.into_par_iter().for_each(drop);
    model.today = Some(today.unwrap_or_else(self::today));
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
    /// Breaking changes under the policy (errors), changes that break only
    /// something stricter or are dangerous (warnings), or why a version did
    /// not load; sorted like all diagnostics.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether both versions loaded (else `diagnostics` says why not).
    pub loaded: bool,
}

/// The format of one side of `meshc diff OLD NEW`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffFormat {
    /// A `.proto` file, or a directory of them (a module root).
    Protobuf,
    OpenApi,
    Graphql,
    Avro,
    JsonSchema,
}

impl DiffFormat {
    /// The format of `path`: a directory or `.proto` file is protobuf;
    /// `.yaml`/`.yml` OpenAPI; `.graphql`/`.gql`/`.graphqls` GraphQL SDL;
    /// `.avsc` Avro; `.json` OpenAPI when it has an `openapi` (or
    /// `swagger`) member, else JSON Schema. `None` for anything else.
    pub fn of(fs: &dyn FileSystem, path: &Path) -> Option<DiffFormat> {
        if fs.is_dir(path) {
            return Some(DiffFormat::Protobuf);
        }
        let extension = path.extension()?.to_string_lossy().to_ascii_lowercase();
        Some(match extension.as_str() {
            "proto" => DiffFormat::Protobuf,
            "yaml" | "yml" => DiffFormat::OpenApi,
            "graphql" | "gql" | "graphqls" => DiffFormat::Graphql,
            "avsc" => DiffFormat::Avro,
            "json" => {
                let text = read_text(fs, path, 16 << 20).unwrap_or_default();
                let member = |name: &str| text.contains(&format!("\"{name}\""));
                if member("openapi") || member("swagger") {
                    DiffFormat::OpenApi
                } else {
                    DiffFormat::JsonSchema
                }
            }
            _ => return None,
        })
    }

    pub fn describe(self) -> &'static str {
        match self {
            DiffFormat::Protobuf => "a protobuf schema",
            DiffFormat::OpenApi => "an OpenAPI document",
            DiffFormat::Graphql => "a GraphQL schema",
            DiffFormat::Avro => "an Avro schema",
            DiffFormat::JsonSchema => "a JSON Schema",
        }
    }

    fn schema_format(self) -> Option<model::values::SchemaFormat> {
        use model::values::SchemaFormat;
        match self {
            DiffFormat::Protobuf => None,
            DiffFormat::OpenApi => Some(SchemaFormat::OpenApi),
            DiffFormat::Graphql => Some(SchemaFormat::Graphql),
            DiffFormat::Avro => Some(SchemaFormat::Avro),
            DiffFormat::JsonSchema => Some(SchemaFormat::JsonSchema),
        }
    }
}

/// Compares two versions on disk: two workspaces (directories holding
/// `mesh.kdl`, or `.kdl` files), two `.proto` files or two directories of
/// them (module roots), or two OpenAPI, GraphQL, Avro or JSON Schema files.
pub fn diff(old: &Path, new: &Path, policy: &breaking::Policy) -> Diffed {
    diff_in(&DiskFs, old, new, policy)
}

/// [`diff`] over any file system.
pub fn diff_in(fs: &dyn FileSystem, old: &Path, new: &Path, policy: &breaking::Policy) -> Diffed {
    if is_workspace(fs, old) && is_workspace(fs, new) {
        let side = |path| DiffSide { fs, path, label: "" };
        return diff_workspaces_in(side(old), side(new), policy);
    }
    let canonical = |p: &Path| fs.canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let root = common_ancestor(&canonical(old), &canonical(new));
    let mut sources = Sources::new(&root);
    let failed = |sources: Sources, errors: Vec<Diagnostic>| {
        let mut sink = Sink::new();
        sink.extend(errors);
        Diffed { sources, diagnostics: sink.into_sorted(), loaded: false }
    };
    let format = match (DiffFormat::of(fs, old), DiffFormat::of(fs, new)) {
        (Some(a), Some(b)) if a == b => a,
        (a, b) => {
            let errors = [(old, a, "old"), (new, b, "new")].into_iter().filter_map(|(path, format, side)| {
                let shown = crate::base::display_path(sources.root(), path);
                let other = if side == "old" { b } else { a };
                match (format, other) {
                    (None, _) => Some(Diagnostic::new(
                        Code::InvalidSchema,
                        format!("`{shown}` is no schema `meshc diff` compares"),
                    )
                    .help("compare two .proto files or directories of them, or two OpenAPI (.yaml, .yml, .json), GraphQL (.graphql, .gql), Avro (.avsc) or JSON Schema (.json) files")),
                    (Some(f), Some(o)) if side == "new" => Some(Diagnostic::new(
                        Code::InvalidSchema,
                        format!("the old version is {}, the new one `{shown}` {}", o.describe(), f.describe()),
                    )
                    .help("`meshc diff` compares two versions of one schema: give both in the same format")),
                    _ => None,
                }
            });
            let errors = errors.collect();
            return failed(sources, errors);
        }
    };
    let changes = match format.schema_format() {
        None => {
            let loaded = (
                schema::proto_module::load_module(fs, old, &mut sources),
                schema::proto_module::load_module(fs, new, &mut sources),
            );
            match loaded {
                (Ok(old), Ok(new)) => breaking::protobuf::compare(&old, &new),
                (old, new) => {
                    let errors = old.err().into_iter().chain(new.err()).map(|d| *d).collect();
                    return failed(sources, errors);
                }
            }
        }
        Some(schema_format) => {
            let loaded = (
                schema::load_file(fs, old, schema_format, &mut sources),
                schema::load_file(fs, new, schema_format, &mut sources),
            );
            match loaded {
                (Ok(old), Ok(new)) => compare_files(&old, &new),
                (old, new) => {
                    let errors = old.err().into_iter().chain(new.err()).map(|d| *d).collect();
                    return failed(sources, errors);
                }
            }
        }
    };
    Diffed { sources, diagnostics: change_diagnostics(&changes, policy), loaded: true }
}

/// The changes between two loaded schema files of one format.
fn compare_files(old: &schema::Schema, new: &schema::Schema) -> Vec<breaking::Change> {
    if let (Some(o), Some(n)) = (old.openapi_document(), new.openapi_document()) {
        return breaking::openapi::compare(o, n);
    }
    if let (Some(o), Some(n)) = (old.graphql_document(), new.graphql_document()) {
        return breaking::graphql::compare(&o, &n);
    }
    if let (Some(o), Some(n)) = (old.avro_type(), new.avro_type()) {
        return breaking::avro::compare(o, n);
    }
    if let (Some(o), Some(n)) = (old.json_schema_type(), new.json_schema_type()) {
        return breaking::json_schema::compare(o, n);
    }
    Vec::new()
}

/// Compares the workspace `dir` as it is at the git ref `reference` (read
/// from the repository's objects, no checkout) with the working tree: a
/// workspace diff whose old files are shown as `REF:path`.
pub fn diff_against(dir: &Path, reference: &str, policy: &breaking::Policy) -> Diffed {
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
    diff_workspaces_in(old, new, policy)
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

/// Changes as diagnostics under `policy`: errors for breaking ones,
/// warnings for those that break only something stricter or are dangerous
/// (unless an error already marks the same place), nothing for the rest.
pub fn change_diagnostics(changes: &[breaking::Change], policy: &breaking::Policy) -> Vec<Diagnostic> {
    use breaking::Verdict;
    let breaking: Vec<&breaking::Change> =
        changes.iter().filter(|c| c.rule.verdict(policy) == Verdict::Breaking).collect();
    let marked: std::collections::HashSet<_> = breaking.iter().map(|c| (c.new, c.old)).collect();
    let warnings =
        changes.iter().filter(|c| c.rule.verdict(policy) == Verdict::Warning && !marked.contains(&(c.new, c.old)));
    let mut sink = Sink::new();
    for change in &breaking {
        sink.push(change_diagnostic(change, Severity::Error));
    }
    for change in warnings {
        let note = match change.rule.judged {
            breaking::Judged::Categories(categories) => {
                let categories: Vec<&str> = categories.iter().map(|c| c.id()).collect();
                format!(
                    "{} is a {} rule, stricter than {}: this change breaks code generated from the old schema, not its encoded messages",
                    change.rule.id,
                    categories.join("/"),
                    policy.category.id()
                )
            }
            breaking::Judged::Level(_) => {
                format!("{} is a dangerous change: clients keep working but may behave differently", change.rule.id)
            }
            breaking::Judged::Direction(direction) => format!(
                "{} is a {} compatibility rule, which the `{}` mode does not ask for",
                change.rule.id,
                direction.as_str(),
                policy.compatibility.as_str()
            ),
        };
        sink.push(change_diagnostic(change, Severity::Warning).note(note));
    }
    sink.into_sorted()
}

fn change_diagnostic(change: &breaking::Change, severity: Severity) -> Diagnostic {
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
