//! A module of `.proto` files, as `meshc diff` compares them: a directory
//! whose files import one another by their path relative to it (as protoc's
//! `-I` and buf's module roots resolve them), or a single file, a module of
//! one whose imports resolve beside it. Well-known types
//! (`google/protobuf/*.proto`) come from protox, as protoc and buf supply
//! them. Every file is read through the [`FileSystem`] and added to the
//! run's [`Sources`], so changes point into it.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use prost_reflect::{DescriptorPool, FileDescriptor};

use super::depth::{too_deep, MAX_SCHEMA_DEPTH};
use super::proto::{ParsedFiles, Resolver};
use super::LineIndex;
use crate::base::fs::{read_text, FileSystem, MAX_FILE_BYTES};
use crate::base::{FileId, Sources, Span};
use crate::diag::{Code, Diagnostic};
use crate::model::values::SchemaFormat;

/// Most `.proto` files one module holds.
pub const MAX_MODULE_FILES: usize = 10_000;
/// Deepest directory nesting walked under a module root.
pub const MAX_MODULE_DEPTH: usize = 32;

/// The compiled files of a module.
pub struct ProtoModule {
    pub pool: DescriptorPool,
    /// The module's own files (not the well-known types, nor, for a single
    /// file, the files it imports), sorted by name.
    pub files: Vec<ModuleFile>,
    /// Whether the module is one file named on the command line.
    pub single_file: bool,
}

/// One file of a module.
pub struct ModuleFile {
    /// Its path relative to the module root, `/`-separated: its name in the pool.
    pub name: String,
    pub file: FileId,
    /// Source-info path → byte range.
    ranges: HashMap<Vec<i32>, Range<usize>>,
}

impl ModuleFile {
    /// The span of the element at a source-info `path` (`[4, 0, 2, 1]`: the
    /// second field of the first message), when the file records it.
    pub fn span(&self, path: &[i32]) -> Option<Span> {
        self.ranges.get(path).map(|r| Span::new(self.file, r.clone()))
    }

    /// The span of the whole file's first line, for changes of the file itself.
    pub fn start(&self) -> Span {
        Span::new(self.file, 0..0)
    }
}

impl ProtoModule {
    /// The pool's descriptor of a module file.
    pub fn descriptor(&self, file: &ModuleFile) -> Option<FileDescriptor> {
        self.pool.get_file_by_name(&file.name)
    }
}

/// Loads the module at `root`: a directory (every `.proto` file below it)
/// or one `.proto` file.
pub fn load_module(fs: &dyn FileSystem, root: &Path, sources: &mut Sources) -> Result<ProtoModule, Box<Diagnostic>> {
    let single_file = !fs.is_dir(root);
    let (search, names) = if single_file {
        let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        (dir, vec![(name, root.to_path_buf())])
    } else {
        (root.to_path_buf(), proto_files(fs, root)?)
    };
    let mut parsed = HashMap::new();
    let mut ids = HashMap::new();
    for (name, path) in &names {
        let text = read_text(fs, path, MAX_FILE_BYTES).map_err(|e| {
            Box::new(Diagnostic::new(Code::UnreadableFile, format!("cannot read `{}`: {e}", path.display())))
        })?;
        let file = sources.add(path.clone(), Arc::from(text.as_str()));
        ids.insert(name.clone(), file);
        let proto = parse_file(name, file, &text, &ids, sources)?;
        parsed.insert(name.clone(), proto);
    }
    let mut imports: HashMap<String, Result<protox::file::File, protox::Error>> = HashMap::new();
    if single_file {
        // Its imports resolve beside it, read as the spec loader reads them.
        if let Some((name, path)) = names.first() {
            let own = (path.clone(), parsed[name].clone());
            imports = super::proto::read_imports(fs, std::slice::from_ref(&search), &own, &ParsedFiles::default());
        }
    }
    imports.extend(parsed.into_iter().map(|(name, file)| (name, Ok(file))));
    let resolver = Resolver { search: Vec::new(), imports: Mutex::new(imports), own: None };
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_source_info(true);
    for (name, _) in &names {
        compiler.open_file(name).map_err(|e| invalid(&e, &ids, sources))?;
    }
    let pool = compiler.descriptor_pool();
    let files = module_files(&pool, &names, &ids, sources);
    Ok(ProtoModule { pool, files, single_file })
}

/// Loads a spec's `.proto` schema as a module, as the spec loader resolves
/// it: the file (named by its file name) and every file it imports,
/// directly or not, from its own directory, then the `includes`
/// (`proto-include`), each named as its import line names it; well-known
/// types come from protox. Files already in `sources` keep their id.
/// What `meshc diff` compares for an API of two workspaces.
pub fn load_schema(
    fs: &dyn FileSystem,
    path: &Path,
    includes: &[PathBuf],
    sources: &mut Sources,
) -> Result<ProtoModule, Box<Diagnostic>> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let search: Vec<PathBuf> = std::iter::once(dir).chain(includes.iter().cloned()).collect();
    let root = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut seen = std::collections::HashSet::from([root.clone()]);
    let mut names = vec![(root, path.to_path_buf())];
    let mut parsed = HashMap::new();
    let mut ids = HashMap::new();
    let mut next = 0;
    while let Some((name, path)) = names.get(next).cloned() {
        next += 1;
        if names.len() > MAX_MODULE_FILES {
            return Err(Box::new(Diagnostic::new(
                Code::UnreadableFile,
                format!("`{}` imports more than {MAX_MODULE_FILES} .proto files", names[0].1.display()),
            )));
        }
        let file = match sources.find(&path) {
            Some(file) => file,
            None => {
                let text = read_text(fs, &path, MAX_FILE_BYTES).map_err(|e| {
                    Box::new(Diagnostic::new(Code::UnreadableFile, format!("cannot read `{}`: {e}", path.display())))
                })?;
                sources.add(path.clone(), Arc::from(text.as_str()))
            }
        };
        ids.insert(name.clone(), file);
        let text = Arc::clone(&sources.get(file).text);
        let proto = parse_file(&name, file, &text, &ids, sources)?;
        for import in &proto.file_descriptor_proto().dependency {
            if seen.contains(import) {
                continue;
            }
            if let Some(found) = search.iter().map(|d| d.join(import)).find(|p| fs.is_file(p)) {
                seen.insert(import.clone());
                names.push((import.clone(), found));
            }
        }
        parsed.insert(name, Ok(proto));
    }
    let resolver = Resolver { search: Vec::new(), imports: Mutex::new(parsed), own: None };
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_source_info(true);
    compiler.open_file(&names[0].0).map_err(|e| invalid(&e, &ids, sources))?;
    let pool = compiler.descriptor_pool();
    names.sort();
    let files = module_files(&pool, &names, &ids, sources);
    Ok(ProtoModule { pool, files, single_file: false })
}

/// Every `.proto` file below `root` as (name relative to it, path), sorted
/// by name; at most [`MAX_MODULE_FILES`], at most [`MAX_MODULE_DEPTH`] deep.
fn proto_files(fs: &dyn FileSystem, root: &Path) -> Result<Vec<(String, PathBuf)>, Box<Diagnostic>> {
    let unreadable = |dir: &Path, e: std::io::Error| {
        Box::new(Diagnostic::new(Code::UnreadableFile, format!("cannot read the directory `{}`: {e}", dir.display())))
    };
    let mut out = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = pending.pop() {
        let mut entries = fs.read_dir(&dir).map_err(|e| unreadable(&dir, e))?;
        entries.sort();
        for entry in entries {
            let path = dir.join(&entry);
            let name = format!("{prefix}{entry}");
            if fs.is_dir(&path) && !fs.is_symlink(&path) {
                if depth + 1 >= MAX_MODULE_DEPTH {
                    return Err(Box::new(Diagnostic::new(
                        Code::NestingTooDeep,
                        format!("`{}` nests directories deeper than {MAX_MODULE_DEPTH} levels", root.display()),
                    )));
                }
                pending.push((path, format!("{name}/"), depth + 1));
            } else if entry.ends_with(".proto") && fs.is_file(&path) {
                if out.len() == MAX_MODULE_FILES {
                    return Err(Box::new(Diagnostic::new(
                        Code::UnreadableFile,
                        format!("`{}` holds more than {MAX_MODULE_FILES} .proto files", root.display()),
                    )));
                }
                out.push((name, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A protox error as an invalid-schema diagnostic, at its place when it
/// names a file of the module.
/// One module file's text parsed; refused unread when it nests too deep.
fn parse_file(
    name: &str,
    file: FileId,
    text: &str,
    ids: &HashMap<String, FileId>,
    sources: &Sources,
) -> Result<protox::file::File, Box<Diagnostic>> {
    if let Some(at) = too_deep(text, SchemaFormat::Proto) {
        return Err(Box::new(
            Diagnostic::new(
                Code::NestingTooDeep,
                format!("the .proto file nests deeper than {MAX_SCHEMA_DEPTH} levels"),
            )
            .at(Span::new(file, at..at + 1), format!("level {} starts here", MAX_SCHEMA_DEPTH + 1)),
        ));
    }
    protox::file::File::from_source(name, text).map_err(|e| invalid(&e, ids, sources))
}

/// The compiled files `names` of `pool`, with their spans, in the order given.
fn module_files(
    pool: &DescriptorPool,
    names: &[(String, PathBuf)],
    ids: &HashMap<String, FileId>,
    sources: &Sources,
) -> Vec<ModuleFile> {
    names
        .iter()
        .filter_map(|(name, _)| {
            let descriptor = pool.get_file_by_name(name)?;
            let file = ids[name];
            Some(ModuleFile { name: name.clone(), file, ranges: ranges(&descriptor, &sources.get(file).text) })
        })
        .collect()
}

fn invalid(e: &protox::Error, ids: &HashMap<String, FileId>, sources: &Sources) -> Box<Diagnostic> {
    let diagnostic = Diagnostic::new(Code::InvalidSchema, e.to_string());
    let file = e.file().and_then(|name| ids.get(name)).copied();
    let label = miette::Diagnostic::labels(e).and_then(|mut l| l.next());
    Box::new(match (file, label) {
        (Some(file), Some(label)) => {
            let len = sources.get(file).text.len();
            let start = label.offset().min(len);
            let end = (label.offset() + label.len()).min(len);
            diagnostic.at(Span::new(file, start..end), "here")
        }
        (Some(file), None) => diagnostic.at(Span::new(file, 0..0), "in this file"),
        _ => diagnostic,
    })
}

/// A file's source-info paths → byte ranges.
fn ranges(file: &FileDescriptor, text: &str) -> HashMap<Vec<i32>, Range<usize>> {
    let lines = LineIndex::new(text);
    let info = file.file_descriptor_proto().source_code_info.as_ref();
    info.map(|i| i.location.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|l| {
            let range = match l.span.as_slice() {
                [line, col, end_col] => lines.offset(*line, *col)..lines.offset(*line, *end_col),
                [line, col, end_line, end_col] => lines.offset(*line, *col)..lines.offset(*end_line, *end_col),
                _ => return None,
            };
            Some((l.path.clone(), range))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::fs::MemoryFs;

    #[test]
    fn a_directory_is_a_module_root_whose_imports_resolve_inside_it() {
        let mut fs = MemoryFs::new();
        fs.insert("/m/a/common.proto", "syntax = \"proto3\";\npackage a;\nmessage Money { int64 cents = 1; }\n");
        fs.insert(
            "/m/b.proto",
            "syntax = \"proto3\";\npackage b;\nimport \"a/common.proto\";\nimport \"google/protobuf/timestamp.proto\";\n\
             message Order { a.Money total = 1; google.protobuf.Timestamp at = 2; }\n",
        );
        fs.insert("/m/notes.txt", "not a proto");
        let mut sources = Sources::new(Path::new("/m"));
        let module = load_module(&fs, Path::new("/m"), &mut sources).unwrap_or_else(|d| panic!("{}", d.message));
        let names: Vec<&str> = module.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a/common.proto", "b.proto"]);
        assert!(module.pool.get_message_by_name("b.Order").is_some());
        let order = module.pool.get_message_by_name("b.Order").unwrap();
        let span = module.files[1].span(order.path()).expect("the message has a span");
        assert!(sources.get(span.file).text[span.range()].starts_with("message Order"));
    }

    #[test]
    fn an_import_missing_from_the_root_is_an_invalid_schema() {
        let mut fs = MemoryFs::new();
        fs.insert("/m/b.proto", "syntax = \"proto3\";\nimport \"missing.proto\";\n");
        let mut sources = Sources::new(Path::new("/m"));
        let error = load_module(&fs, Path::new("/m"), &mut sources).err().expect("an error");
        assert_eq!(error.code, Code::InvalidSchema);
        assert!(error.message.contains("missing.proto"), "{}", error.message);
    }
}
