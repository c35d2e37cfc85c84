//! The workspace loader: the front end's IO for spec files, through a
//! [`FileSystem`] (the disk, or files in memory). Reads the root spec file,
//! follows `import` nodes (relative paths and globs) level by level, parses
//! each level's files in parallel, and reports missing files, imports that
//! leave the workspace root, and import cycles.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use petgraph::graph::DiGraph;
use rayon::prelude::*;

pub mod stdlib;

use crate::base::fs::{FileKind, FileSystem, MAX_FILE_BYTES};
use crate::base::{display_path, FileId, Sources, Span};
use crate::diag::{Code, Diagnostic, Sink};
use crate::syntax::{self, Document, Node, Value};

/// The file a directory workspace starts from.
pub const ROOT_FILE: &str = "mesh.kdl";

/// All spec files of a workspace, parsed, in [`FileId`] order.
#[derive(Debug)]
pub struct Workspace {
    /// Canonical directory that imports may not leave.
    pub root_dir: PathBuf,
    pub root_file: FileId,
    pub documents: Vec<Document>,
}

/// Loads the workspace at `path` in `fs` (a directory holding `mesh.kdl`, or a root file).
pub fn load(fs: &dyn FileSystem, path: &Path, sources: &mut Sources, sink: &mut Sink) -> Option<Workspace> {
    load_with_rules(fs, path, &[], sources, sink)
}

/// [`load`], with compliance rule sets applied as if the root file
/// imported them (`meshc check --rules SET`): each a rule set of the
/// standard library (`baseline`, `strict`, or its import name
/// `compliance/baseline`) or a `.kdl` file inside the workspace, relative
/// to its root directory.
pub fn load_with_rules(
    fs: &dyn FileSystem,
    path: &Path,
    rules: &[String],
    sources: &mut Sources,
    sink: &mut Sink,
) -> Option<Workspace> {
    let root_path = if fs.is_dir(path) { path.join(ROOT_FILE) } else { path.to_path_buf() };
    let root_path = match fs.canonicalize(&root_path) {
        Ok(p) => p,
        Err(e) => {
            sink.push(
                Diagnostic::new(
                    Code::UnreadableFile,
                    format!("cannot read the root spec `{}`: {e}", root_path.display()),
                )
                .help(format!("a workspace is a directory with a `{ROOT_FILE}` file, or the path of a root .kdl file")),
            );
            return None;
        }
    };
    let root_dir = root_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut loader = Loader {
        fs,
        sources,
        sink,
        root_dir: root_dir.clone(),
        ids: HashMap::new(),
        documents: Vec::new(),
        edges: Vec::new(),
    };
    let mut rule_sets: Vec<Pending> = rules.iter().filter_map(|set| loader.rule_set(set)).collect();
    let mut level = vec![Pending { path: root_path, importer: None }];
    let mut depth = 0;
    while !level.is_empty() {
        if depth > MAX_IMPORT_DEPTH {
            level.iter().filter_map(|p| p.importer).for_each(|span| loader.sink.push(too_deep(span)));
            break;
        }
        let parsed = loader.read_and_parse(level);
        level = loader.imports_of(parsed);
        // Rule sets given on the command line load beside the root's imports.
        for set in rule_sets.drain(..) {
            if !loader.ids.contains_key(&set.path) && !level.iter().any(|p| p.path == set.path) {
                level.push(set);
            }
        }
        depth += 1;
    }
    loader.report_cycles();
    let documents = loader.documents;
    if documents.is_empty() {
        return None;
    }
    Some(Workspace { root_dir, root_file: FileId(documents[0].file.0), documents })
}

/// Files more imports away from the root than this are not read: real
/// workspaces are a few levels deep, and the bound keeps the import graph's
/// analyses (cycles) well inside the stack.
pub const MAX_IMPORT_DEPTH: usize = 32;

fn too_deep(import: Span) -> Diagnostic {
    Diagnostic::new(
        Code::ImportChainTooDeep,
        format!("this import is more than {MAX_IMPORT_DEPTH} imports away from the root spec"),
    )
    .at(import, "not followed")
    .help("import the files from a common parent (`import \"services/*.kdl\"`) instead of from each other")
}

/// A file to read, and the import that asked for it (none for the root).
struct Pending {
    path: PathBuf,
    importer: Option<Span>,
}

struct Loader<'a> {
    fs: &'a dyn FileSystem,
    sources: &'a mut Sources,
    sink: &'a mut Sink,
    root_dir: PathBuf,
    ids: HashMap<PathBuf, FileId>,
    documents: Vec<Document>,
    /// Import edges: (importing file, imported path, span of the import).
    edges: Vec<(FileId, PathBuf, Span)>,
}

impl Loader<'_> {
    /// The file a `--rules SET` names: a standard rule set, else a file
    /// inside the workspace; `None` (reported) when it is neither.
    fn rule_set(&mut self, set: &str) -> Option<Pending> {
        let std_name = set.strip_prefix(stdlib::SCHEME).unwrap_or(set);
        let named = stdlib::path(&format!("{}{std_name}", stdlib::RULE_SETS))
            .or_else(|| stdlib::path(std_name).filter(|_| std_name.starts_with(stdlib::RULE_SETS)));
        if let Some(path) = named {
            return Some(Pending { path, importer: None });
        }
        let in_workspace =
            self.fs.canonicalize(&self.root_dir.join(set)).ok().filter(|p| p.starts_with(&self.root_dir));
        if let Some(path) = in_workspace.filter(|p| !self.fs.is_dir(p)) {
            return Some(Pending { path, importer: None });
        }
        let sets: Vec<&str> = stdlib::names().filter_map(|n| n.strip_prefix(stdlib::RULE_SETS)).collect();
        self.sink.push(Diagnostic::new(Code::UnknownRuleSet, format!("`--rules {set}` names no rule set")).help(
            match crate::diag::did_you_mean(std_name, sets.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? the standard rule sets are: {}", sets.join(", ")),
                None => format!(
                    "give a standard rule set ({}) or a .kdl file inside the workspace `{}`",
                    sets.join(", "),
                    self.root_dir.display()
                ),
            },
        ));
        None
    }

    /// Reads and parses one level of new files; returns their indices in `documents`.
    fn read_and_parse(&mut self, level: Vec<Pending>) -> std::ops::Range<usize> {
        let fs = self.fs;
        let texts: Vec<(Pending, std::io::Result<Vec<u8>>)> = level
            .into_par_iter()
            .map(|p| {
                // The stdlib is built in: its virtual `<std>/` paths are never looked for in `fs`.
                let text = match stdlib::text(&p.path) {
                    Some(text) => Ok(text.as_bytes().to_vec()),
                    None => fs.read(&p.path, MAX_FILE_BYTES),
                };
                (p, text)
            })
            .collect();
        let mut to_parse = Vec::new();
        for (pending, bytes) in texts {
            let text = match bytes.map(String::from_utf8) {
                Ok(Err(not_utf8)) => {
                    self.report_not_utf8(pending, not_utf8);
                    continue;
                }
                Ok(Ok(text)) => Ok(text),
                Err(e) => Err(e),
            };
            match text {
                Ok(text) => {
                    let text: Arc<str> = text.into();
                    let id = self.sources.add(pending.path.clone(), text.clone());
                    self.ids.insert(pending.path, id);
                    to_parse.push((id, text));
                }
                Err(e) => {
                    let mut d =
                        Diagnostic::new(Code::UnreadableFile, format!("cannot read `{}`: {e}", pending.path.display()));
                    if let Some(span) = pending.importer {
                        d = d
                            .at(span, "imported here")
                            .help("check the path; imports are relative to the importing file");
                    }
                    self.sink.push(d);
                }
            }
        }
        let parsed: Vec<(Document, Vec<Diagnostic>)> =
            to_parse.par_iter().map(|(id, text)| syntax::parse(*id, text)).collect();
        let start = self.documents.len();
        for (doc, diags) in parsed {
            self.sink.extend(diags);
            self.documents.push(doc);
        }
        start..self.documents.len()
    }

    /// Reports a spec file that is not UTF-8 at its first bad byte: the file
    /// joins the sources with bad bytes replaced (U+FFFD), so the span renders;
    /// it is not parsed.
    fn report_not_utf8(&mut self, pending: Pending, e: std::string::FromUtf8Error) {
        let at = e.utf8_error().valid_up_to();
        let text: Arc<str> = String::from_utf8_lossy(e.as_bytes()).into();
        let id = self.sources.add(pending.path.clone(), text);
        self.ids.insert(pending.path, id);
        let bad = Span::new(id, at..at + char::REPLACEMENT_CHARACTER.len_utf8());
        let mut d = Diagnostic::new(
            Code::UnreadableFile,
            format!("`{}` is not valid UTF-8: invalid byte at offset {at}", self.sources.get(id).display),
        )
        .at(bad, "not UTF-8")
        .help("spec files are UTF-8 text; save the file as UTF-8");
        if let Some(span) = pending.importer {
            d = d.with_label(span, "imported here");
        }
        self.sink.push(d);
    }

    /// Resolves the imports of the given documents; returns files not yet loaded.
    fn imports_of(&mut self, docs: std::ops::Range<usize>) -> Vec<Pending> {
        let mut next: Vec<Pending> = Vec::new();
        for index in docs {
            let file = self.documents[index].file;
            let dir = self.sources.get(file).path.parent().map(Path::to_path_buf).unwrap_or_default();
            let imports: Vec<(String, Span)> = self.documents[index]
                .nodes
                .iter()
                .filter(|n| n.name == "import")
                .filter_map(|n| import_pattern(n, self.sink))
                .collect();
            let importer = self.sources.get(file).path.clone();
            for (pattern, span) in imports {
                if let Some(name) = pattern.strip_prefix(stdlib::SCHEME) {
                    let Some(path) = stdlib::path(name) else {
                        self.sink.push(
                            Diagnostic::new(Code::UnreadableFile, format!("the standard library has no `{name}`"))
                                .at(span, "unknown stdlib file")
                                .help_opt(crate::diag::suggestion(name, stdlib::names())),
                        );
                        continue;
                    };
                    if !self.ids.contains_key(&path) && !next.iter().any(|p| p.path == path) {
                        next.push(Pending { path: path.clone(), importer: Some(span) });
                    }
                    self.edges.push((file, path, span));
                    continue;
                }
                let glob = is_glob(&pattern);
                // A glob in a file's own directory matches the file itself; that is not a self-import.
                for path in self.expand(&dir, &pattern, span).into_iter().filter(|p| !(glob && *p == importer)) {
                    if !path.starts_with(&self.root_dir) {
                        self.sink.push(
                            Diagnostic::new(
                                Code::ImportOutsideRoot,
                                format!("import `{pattern}` leaves the workspace root"),
                            )
                            .at(span, format!("resolves to `{}`", path.display()))
                            .help(format!(
                                "imports stay under the workspace root `{}`; move the file there, or check the workspace from a directory that contains both",
                                self.root_dir.display()
                            )),
                        );
                        continue;
                    }
                    if !self.ids.contains_key(&path) && !next.iter().any(|p| p.path == path) {
                        next.push(Pending { path: path.clone(), importer: Some(span) });
                    }
                    self.edges.push((file, path, span));
                }
            }
        }
        next
    }

    /// The canonical files a pattern names: one path, or a glob's sorted matches.
    fn expand(&mut self, dir: &Path, pattern: &str, span: Span) -> Vec<PathBuf> {
        let joined = dir.join(pattern);
        if !is_glob(pattern) {
            return match self.fs.canonicalize(&joined) {
                Ok(p) => vec![p],
                Err(e) => {
                    self.sink.push(
                        Diagnostic::new(Code::UnreadableFile, format!("cannot read `{pattern}`: {e}"))
                            .at(span, "imported here")
                            .help(match self.similar_file(&joined) {
                                Some(f) => format!("did you mean `{f}`?"),
                                None => "check the path; imports are relative to the importing file's directory".into(),
                            }),
                    );
                    Vec::new()
                }
            };
        }
        // Walk only inside the workspace: a glob whose literal part already
        // leaves the root (`/**/*.kdl`) would otherwise scan the whole disk.
        let literal: PathBuf = joined.components().take_while(|c| !is_glob(&c.as_os_str().to_string_lossy())).collect();
        if let Ok(base) = self.fs.canonicalize(&literal) {
            if !base.starts_with(&self.root_dir) {
                self.sink.push(
                    Diagnostic::new(Code::ImportOutsideRoot, format!("import `{pattern}` leaves the workspace root"))
                        .at(span, format!("searches `{}`", base.display()))
                        .help(format!("imports stay under the workspace root `{}`", self.root_dir.display())),
                );
                return Vec::new();
            }
        }
        let mut matches: Vec<PathBuf> = match self.fs.glob(&joined.to_string_lossy()) {
            Ok(paths) => {
                let mut files = Vec::new();
                for path in paths {
                    match unimportable(self.fs, &path) {
                        None if self.fs.is_file(&path) => files.extend(self.fs.canonicalize(&path).ok()),
                        None => {} // a directory the pattern also matches
                        Some(why) => self.sink.push(
                            Diagnostic::new(
                                Code::UnreadableFile,
                                format!(
                                    "import glob `{pattern}` matches `{}`, {why}",
                                    display_path(&self.root_dir, &path)
                                ),
                            )
                            .at(span, "matches it")
                            .help("remove or fix that entry, or narrow the pattern"),
                        ),
                    }
                }
                files
            }
            Err(e) => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, format!("invalid import glob `{pattern}`: {}", e.msg))
                        .at(span, "malformed pattern")
                        .help("globs support `*`, `**`, `?` and `[...]`"),
                );
                return Vec::new();
            }
        };
        matches.sort();
        if matches.is_empty() {
            self.sink.push(
                Diagnostic::new(Code::EmptyImport, format!("import glob `{pattern}` matches no file"))
                    .at(span, "matches nothing")
                    .help("check the pattern, or remove the import"),
            );
        }
        matches
    }

    /// A sibling file whose name is close to the missing one.
    fn similar_file(&self, missing: &Path) -> Option<String> {
        let name = missing.file_name()?.to_str()?;
        let siblings = self.fs.read_dir(missing.parent()?).ok()?;
        crate::diag::did_you_mean(name, siblings.iter().map(String::as_str)).map(str::to_string)
    }

    /// One diagnostic per import cycle (strongly connected component).
    fn report_cycles(&mut self) {
        let mut graph: DiGraph<FileId, Span> = DiGraph::new();
        let nodes: Vec<_> = self.documents.iter().map(|d| graph.add_node(d.file)).collect();
        let index_of = |id: FileId| nodes[id.0 as usize - self.documents[0].file.0 as usize];
        let mut edges = Vec::new();
        for (from, path, span) in &self.edges {
            if let Some(&to) = self.ids.get(path) {
                graph.add_edge(index_of(*from), index_of(to), *span);
                edges.push((*from, to, *span));
            }
        }
        for component in petgraph::algo::tarjan_scc(&graph) {
            let mut files: Vec<FileId> = component.iter().map(|&n| graph[n]).collect();
            files.sort();
            let cyclic = files.len() > 1 || edges.iter().any(|(a, b, _)| a == b && *a == files[0]);
            if !cyclic {
                continue;
            }
            let (path, spans) = shortest_cycle(files[0], &files, &edges);
            let Some((closing, others)) = spans.split_last() else {
                continue;
            };
            let chain = path.iter().map(|f| self.sources.get(*f).display.clone()).collect::<Vec<_>>().join(" → ");
            let mut d = Diagnostic::new(Code::ImportCycle, format!("import cycle: {chain}"))
                .at(*closing, "this import closes the cycle")
                .help("imports must form a tree or a DAG; move shared declarations into a file both can import");
            for span in others {
                d = d.with_label(*span, "part of the cycle");
            }
            self.sink.push(d);
        }
    }
}

/// The shortest cycle through `start` within `members` (breadth-first), as
/// the files along it (ending at `start` again) and the import spans taken.
fn shortest_cycle(start: FileId, members: &[FileId], edges: &[(FileId, FileId, Span)]) -> (Vec<FileId>, Vec<Span>) {
    let mut parent: HashMap<FileId, (FileId, Span)> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for &(from, to, span) in edges.iter().filter(|(from, to, _)| *from == at && members.contains(to)) {
            if to == start {
                let mut files = vec![start];
                let mut spans = vec![span];
                let mut cur = from;
                while cur != start {
                    let (prev, prev_span) = parent[&cur];
                    files.push(cur);
                    spans.push(prev_span);
                    cur = prev;
                }
                files.push(start);
                files.reverse();
                spans.reverse();
                return (files, spans);
            }
            if to != start && !parent.contains_key(&to) {
                parent.insert(to, (from, span));
                queue.push_back(to);
            }
        }
    }
    (vec![start], Vec::new())
}

/// The import's path pattern, or a diagnostic when the node is malformed.
fn import_pattern(node: &Node, sink: &mut Sink) -> Option<(String, Span)> {
    if let Some(child) = node.children().first() {
        sink.push(
            Diagnostic::new(Code::UnknownNode, "`import` takes no child nodes")
                .at(child.name_span, "unexpected child")
                .help("write one `import` per path or glob; there are no import options"),
        );
    }
    let mut args = node.arguments();
    let pattern = match args.next() {
        Some(e) => match &e.value {
            Value::String(s) => Some((s.clone(), e.span)),
            other => {
                sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!("`import` expects a path string, found {}", other.type_name()),
                    )
                    .at(e.span, "not a string")
                    .help("write the path in quotes: import \"services/*.kdl\""),
                );
                None
            }
        },
        None => {
            sink.push(
                Diagnostic::new(Code::MissingRequired, "`import` needs a path")
                    .at(node.name_span, "no path given")
                    .help("write the file or glob to import: import \"services/*.kdl\""),
            );
            None
        }
    };
    for extra in args.chain(node.entries.iter().filter(|e| e.name.is_some())) {
        sink.push(
            Diagnostic::new(Code::UnknownProperty, "`import` takes exactly one path")
                .at(extra.span, "unexpected entry")
                .help("use one `import` node per path or glob"),
        );
    }
    pattern
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Why a path a glob matched is neither a file nor a directory to skip: a
/// dangling symlink, a symlink loop, a FIFO, socket or device.
fn unimportable(fs: &dyn FileSystem, path: &Path) -> Option<&'static str> {
    match fs.kind(path) {
        Ok(FileKind::File | FileKind::Dir) => None,
        Ok(FileKind::Other) => Some("which is not a regular file (a FIFO, socket or device)"),
        Err(e) if e.raw_os_error() == Some(40) => Some("a symlink loop"), // ELOOP on Linux
        Err(_) if fs.is_symlink(path) => Some("a dangling symlink"),
        Err(_) => Some("which cannot be read"),
    }
}
