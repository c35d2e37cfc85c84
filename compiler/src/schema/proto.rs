//! `.proto` files compiled in-process with `protox` (no protoc needed);
//! imports resolve against the file's own directory, then the spec's
//! `proto-include` directories, and are read through the run's
//! [`FileSystem`]. Besides operations, the loader keeps the
//! descriptor pool (message fields, and the descriptor set backends embed)
//! and each method's `google.api.http` rules.
//!
//! [`schema::load`](super::load) parses every file in parallel ([`parse`]),
//! and links them, one at a time in the load's order while later files are
//! still parsing, into a few shared descriptor pools ([`Linker`]), so an import many files share is parsed once and
//! linked once per pool, not once per file. Each schema sees only its own
//! file and what it imports ([`LoadedProto::files`]), as if it had been
//! compiled alone ([`load`], which `meshc diff` and files that do not link
//! into a shared pool use).

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use protox::file::{FileResolver, GoogleFileResolver};

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, FileDescriptor, MethodDescriptor, Value};

use rayon::prelude::*;

use super::{LineIndex, Loaded, Parsed};
use crate::base::catch_panic;
use crate::base::fs::{read_text, FileSystem, MAX_FILE_BYTES};
use crate::model::values::{HttpRule, Operation};

/// Parsed `.proto` files by (resolved path, import name), shared by every
/// file of one load, so an import many files share (google/api/http.proto)
/// is parsed once, however many files import it.
#[derive(Default)]
pub(super) struct ParsedFiles(Mutex<HashMap<(PathBuf, String), Arc<protox::file::File>>>);

/// protox's include-path lookup (the file's own directory, then the spec's
/// `proto-include` directories, then protobuf's well-known types) over the
/// files [`read_imports`] read: protox keeps its resolver for `'static`, so
/// the resolver cannot borrow the run's [`FileSystem`].
pub(super) struct Resolver {
    pub(super) search: Vec<PathBuf>,
    /// Import name → the parsed file, or why it did not read or parse
    /// (taken out when protox asks, which it does once per name).
    pub(super) imports: Mutex<HashMap<String, Result<protox::file::File, protox::Error>>>,
    /// The file being compiled, already parsed, when its name resolves to
    /// it (imports go through `imports`).
    pub(super) own: Option<protox::file::File>,
}

impl FileResolver for Resolver {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.search.iter().find_map(|dir| {
            let relative = path.strip_prefix(dir).ok()?;
            Some(relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
        })
    }

    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        if let Some(own) = self.own.as_ref().filter(|own| own.name() == name) {
            return Ok(own.clone());
        }
        let mut imports = self.imports.lock().unwrap_or_else(|e| e.into_inner());
        match imports.get(name) {
            Some(Ok(file)) => Ok(file.clone()),
            Some(Err(_)) => {
                imports.remove(name).and_then(Result::err).map_or_else(|| Err(protox::Error::file_not_found(name)), Err)
            }
            None => GoogleFileResolver::new().open_file(name),
        }
    }
}

/// Every file `own` imports, directly or through other imports, that is in
/// one of the `search` directories (the first that has it), read through
/// `fs` and parsed (once per load, through `parsed`). Names found in none
/// are left out: protox then looks among the well-known types, and reports
/// the import missing.
pub(super) fn read_imports(
    fs: &dyn FileSystem,
    search: &[PathBuf],
    own: &(PathBuf, protox::file::File),
    parsed: &ParsedFiles,
) -> HashMap<String, Result<protox::file::File, protox::Error>> {
    let imports = imports_of(fs, search, &own.0, &own.1, parsed).into_iter();
    imports.map(|(name, (_, file))| (name, file.map(Arc::unwrap_or_clone))).collect()
}

/// [`read_imports`], with the path each name resolved to.
#[allow(clippy::type_complexity)]
fn imports_of(
    fs: &dyn FileSystem,
    search: &[PathBuf],
    own_path: &Path,
    own: &protox::file::File,
    parsed: &ParsedFiles,
) -> HashMap<String, (PathBuf, Result<Arc<protox::file::File>, protox::Error>)> {
    let mut imports = HashMap::new();
    let mut queue: VecDeque<String> = own.file_descriptor_proto().dependency.iter().cloned().collect();
    while let Some(name) = queue.pop_front() {
        if imports.contains_key(&name) {
            continue;
        }
        let Some(path) = find(fs, search, &name) else { continue };
        if path == own_path && name == own.name() {
            continue; // protox reports the cycle
        }
        let file = open(fs, &name, path.clone(), parsed);
        if let Ok(file) = &file {
            queue.extend(file.file_descriptor_proto().dependency.iter().cloned());
        }
        imports.insert(name, (path, file));
    }
    imports
}

/// The first of the `search` directories' files named `name`.
fn find(fs: &dyn FileSystem, search: &[PathBuf], name: &str) -> Option<PathBuf> {
    search.iter().map(|dir| dir.join(name)).find(|p| fs.is_file(p))
}

/// The imported file `name` at `path`, parsed, from the cache or `fs`.
fn open(
    fs: &dyn FileSystem,
    name: &str,
    path: PathBuf,
    parsed: &ParsedFiles,
) -> Result<Arc<protox::file::File>, protox::Error> {
    cached(parsed, path, name, |path| {
        read_text(fs, path, MAX_FILE_BYTES)
            .map_err(|e| protox::Error::new(format!("cannot read `{}`: {e}", path.display())))
    })
}

/// The file `name` at `path` from the load's cache, else `text(path)`
/// parsed and cached. Two threads may parse one file at once; the first
/// stored is kept, and both parses are the same.
fn cached(
    parsed: &ParsedFiles,
    path: PathBuf,
    name: &str,
    text: impl FnOnce(&Path) -> Result<String, protox::Error>,
) -> Result<Arc<protox::file::File>, protox::Error> {
    let key = (path, name.to_string());
    if let Some(file) = parsed.0.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(Arc::clone(file));
    }
    let file = Arc::new(protox::file::File::from_source(name, &text(&key.0)?)?);
    Ok(Arc::clone(parsed.0.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_insert(file)))
}

/// Compiles one `.proto` file alone, with its own `protox::Compiler` and
/// descriptor pool: what [`Linker`] falls back to, and what `meshc diff` and
/// the fuzz targets use.
pub(super) fn load(
    fs: &dyn FileSystem,
    path: &Path,
    text: &str,
    includes: &[PathBuf],
    parsed: &Arc<ParsedFiles>,
) -> Parsed {
    let name = file_name(path);
    let search = search_path(path, includes);
    let located = |e: protox::Error| locate(&name, e);
    // The text is already read (it is in the source map): parse it from there.
    let own = (path.to_path_buf(), protox::file::File::from_source(&name, text).map_err(located)?);
    let imports = Mutex::new(read_imports(fs, &search, &own, parsed));
    let own = (find(fs, &search, &name) == Some(own.0)).then_some(own.1);
    let mut compiler = protox::Compiler::with_file_resolver(Resolver { search, imports, own });
    compiler.include_source_info(true);
    compiler.open_file(&name).map_err(located)?;
    Ok(extract(&compiler.descriptor_pool(), &name, &name, text))
}

/// The name a file compiled alone has in its pool: its file name.
fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The name a file has in a shared pool when it lies in one of the
/// `includes`: its path below the first that holds it, as an import of
/// it is written (`networking/v1alpha3/virtual_service.proto`), if an
/// import of that name finds this very file. Loaded under its file name
/// and imported under this one, a file would be two files with the same
/// definitions in one pool; under this name it is one, so the files that
/// import it and it share a pool.
fn include_name(fs: &dyn FileSystem, path: &Path, includes: &[PathBuf], search: &[PathBuf]) -> Option<String> {
    includes.iter().find_map(|dir| {
        let relative = path.strip_prefix(dir).ok()?;
        let parts: Option<Vec<&str>> = relative
            .components()
            .map(|c| match c {
                std::path::Component::Normal(part) => part.to_str(),
                _ => None,
            })
            .collect();
        let name = parts.filter(|p| !p.is_empty())?.join("/");
        (find(fs, search, &name).as_deref() == Some(path)).then_some(name)
    })
}

/// A serialized `FileDescriptorProto` with its `name` (field 1) set to
/// `name`, every other byte as it was: a file linked under its include
/// name, as its descriptor reads compiled alone. Bytes that do not parse
/// as a message come back unchanged.
pub(super) fn with_name(bytes: &[u8], name: &str) -> Vec<u8> {
    use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};
    let mut out = Vec::with_capacity(bytes.len() + name.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let field_start = rest;
        let Ok((tag, wire_type)) = decode_key(&mut rest) else { return bytes.to_vec() };
        let body = match wire_type {
            WireType::Varint => decode_varint(&mut rest).map(|_| 0),
            WireType::SixtyFourBit => Ok(8),
            WireType::ThirtyTwoBit => Ok(4),
            WireType::LengthDelimited => decode_varint(&mut rest).map(|len| len as usize),
            WireType::StartGroup | WireType::EndGroup => return bytes.to_vec(),
        };
        let Some(body) = body.ok().filter(|&len| len <= rest.len()) else { return bytes.to_vec() };
        rest = &rest[body..];
        if tag == 1 && wire_type == WireType::LengthDelimited {
            encode_key(1, WireType::LengthDelimited, &mut out);
            encode_varint(name.len() as u64, &mut out);
            out.extend_from_slice(name.as_bytes());
        } else {
            out.extend_from_slice(&field_start[..field_start.len() - rest.len()]);
        }
    }
    out
}

/// Where a file's imports resolve: its own directory, then the includes.
fn search_path(path: &Path, includes: &[PathBuf]) -> Vec<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::iter::once(dir.to_path_buf()).chain(includes.iter().cloned()).collect()
}

/// protox's error as a message, with its range when it points into the
/// file `name` (not into an import).
fn locate(name: &str, e: protox::Error) -> (String, Option<Range<usize>>) {
    let range = if e.file() == Some(name) || e.file().is_none() {
        miette::Diagnostic::labels(&e).and_then(|mut l| l.next()).map(|l| l.offset()..l.offset() + l.len())
    } else {
        None
    };
    (e.to_string(), range)
}

/// What the file `name` of `pool` defines (`text` is its source), seeing
/// only that file and what it imports; `shown` is its name compiled alone.
fn extract(pool: &DescriptorPool, name: &str, shown: &str, text: &str) -> Loaded {
    let Some(file) = pool.get_file_by_name(name) else {
        return Loaded::default();
    };
    let files = closure(&file);
    let lines = LineIndex::new(text);
    // Source paths → byte ranges: services are [6, s], methods [6, s, 2, m].
    let proto = file.file_descriptor_proto();
    let spans: HashMap<&[i32], Range<usize>> = proto
        .source_code_info
        .as_ref()
        .map(|info| info.location.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|l| l.path.first() == Some(&6) && matches!(l.path.len(), 2 | 4 | 6))
        .filter_map(|l| {
            let range = match l.span.as_slice() {
                [line, col, end_col] => lines.offset(*line, *col)..lines.offset(*line, *end_col),
                [line, col, end_line, end_col] => lines.offset(*line, *col)..lines.offset(*end_line, *end_col),
                _ => return None,
            };
            Some((l.path.as_slice(), range))
        })
        .collect();
    let mut loaded = Loaded::default();
    let http = pool.get_extension_by_name("google.api.http").filter(|e| files.iter().any(|f| *f == e.parent_file()));
    let mut rules = Vec::new();
    for (si, service) in file.services().enumerate() {
        let si = si as i32;
        loaded.grpc_services.push((service.full_name().to_string(), spans.get(&[6, si][..]).cloned()));
        for (mi, method) in service.methods().enumerate() {
            let mi = mi as i32;
            let operation =
                Operation::Grpc { service: service.full_name().to_string(), method: method.name().to_string() };
            // The option's span: [6, s, 2, m, 3 = options, 72295728 = google.api.http].
            let rule_span = spans.get(&[6, si, 2, mi, 3, HTTP_EXTENSION][..]).cloned();
            if let Some(http) = &http {
                for rule in http_rules(&method, http) {
                    rules.push((operation.key(), rule, rule_span.clone()));
                }
            }
            loaded.operations.push((operation, spans.get(&[6, si, 2, mi][..]).cloned()));
        }
    }
    let imports = file.dependencies().map(|d| d.name().to_string()).collect();
    let (root, shown) = (name.to_string(), shown.to_string());
    loaded.proto = Some(LoadedProto { pool: pool.clone(), files, imports, root, shown, rules });
    loaded
}

/// `file` and every file it imports, directly or not, dependencies first:
/// the order in which protox adds them to a pool of their own (depth
/// first, in `import` order, each file once).
fn closure(file: &FileDescriptor) -> Vec<FileDescriptor> {
    fn visit(file: FileDescriptor, out: &mut Vec<FileDescriptor>) {
        if out.contains(&file) {
            return;
        }
        for dependency in file.dependencies() {
            visit(dependency, out);
        }
        if !out.contains(&file) {
            out.push(file);
        }
    }
    let mut out = Vec::new();
    visit(file.clone(), &mut out);
    out
}

/// A `.proto` file of a load, parsed, with the files it imports read and
/// parsed (into the load's [`ParsedFiles`]), waiting for [`Linker::add`].
pub(super) struct Unlinked {
    /// Its name in a shared pool (its include name, else its file name),
    /// its name compiled alone (its file name) and its path.
    name: String,
    shown: String,
    path: PathBuf,
    /// Parsed under `name`: shared with the files importing it by that name.
    own: Arc<protox::file::File>,
    /// The files it imports, directly or not, found in its search path:
    /// name → path. Well-known types protox provides are not listed.
    imports: HashMap<String, PathBuf>,
    /// Whether every import read and parsed and the file's own name finds
    /// it: only then may it link into a shared pool.
    clean: bool,
}

/// Parses one `.proto` file (the text of `path`) and reads what it
/// imports: the parallel half of a load. Fails with the parser's message
/// when the file itself does not parse.
pub(super) fn parse(
    fs: &dyn FileSystem,
    path: &Path,
    text: &str,
    includes: &[PathBuf],
    parsed: &ParsedFiles,
) -> Result<Unlinked, (String, Option<Range<usize>>)> {
    let shown = file_name(path);
    let search = search_path(path, includes);
    // A file in an include directory is often another's import too: parsed
    // once, under its include name, for both.
    let by_include = include_name(fs, path, includes, &search).and_then(|name| {
        let own = cached(parsed, path.to_path_buf(), &name, |_| Ok(text.to_string())).ok()?;
        Some((name, own))
    });
    let (name, own) = match by_include {
        Some(found) => found,
        // Parsed under its own name, so a syntax error reads as when compiled alone.
        None => {
            let own = protox::file::File::from_source(&shown, text).map_err(|e| locate(&shown, e))?;
            (shown.clone(), Arc::new(own))
        }
    };
    let mut clean = find(fs, &search, &name).as_deref() == Some(path);
    let mut imports = HashMap::new();
    for (import, (at, file)) in imports_of(fs, &search, path, &own, parsed) {
        // A file importing itself under another name is an error (or a
        // double) alone; compiled alone, it reads exactly as it should.
        clean &= file.is_ok() && at != path;
        imports.insert(import, at);
    }
    Ok(Unlinked { name, shown, path: path.to_path_buf(), own, imports, clean })
}

/// How many shared pools one load links into at most. A file goes into the
/// first pool that takes it: one where none of its files has another
/// origin (the same file under two names, as a file alone and as an import
/// by its include path, cannot share a pool) and that links it. Files no
/// pool takes compile alone.
const MAX_POOLS: usize = 16;

/// A descriptor pool shared by many files of one load.
struct SharedPool {
    compiler: protox::Compiler,
    /// What the compiler's resolver hands out: the files of the file being
    /// linked that the pool lacks.
    feed: Arc<Mutex<HashMap<String, protox::file::File>>>,
    /// Each file in the pool: where it was read (`None`: a well-known type
    /// protox provides).
    origin: HashMap<String, Option<PathBuf>>,
    /// Each path read into the pool → its name there.
    names: HashMap<PathBuf, String>,
}

/// protox's resolver for a [`SharedPool`]: the fed files, then protobuf's
/// well-known types.
struct Feed(Arc<Mutex<HashMap<String, protox::file::File>>>);

impl FileResolver for Feed {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        let fed = self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        fed.map_or_else(|| GoogleFileResolver::new().open_file(name), Ok)
    }
}

impl SharedPool {
    fn new() -> SharedPool {
        let feed = Arc::new(Mutex::new(HashMap::new()));
        let mut compiler = protox::Compiler::with_file_resolver(Feed(Arc::clone(&feed)));
        compiler.include_source_info(true);
        SharedPool { compiler, feed, origin: HashMap::new(), names: HashMap::new() }
    }

    /// Whether the file's own name and its imports mean the same files here.
    fn agrees(&self, file: &Unlinked) -> bool {
        let own = std::iter::once((&file.name, &file.path));
        own.chain(&file.imports).all(|(name, path)| {
            self.origin.get(name).is_none_or(|o| o.as_ref() == Some(path))
                && self.names.get(path).is_none_or(|n| n == name)
        })
    }

    /// How many of the file's imports (and itself) the pool already holds.
    fn holds(&self, file: &Unlinked) -> usize {
        let own = std::iter::once((&file.name, &file.path));
        own.chain(&file.imports)
            .filter(|(name, path)| self.origin.get(*name).is_some_and(|o| o.as_ref() == Some(*path)))
            .count()
    }

    /// Links `file` into the pool: whether it (with every file it sees)
    /// is there now, each file from the same origin as when compiled alone.
    fn link(&mut self, file: &Unlinked, parsed: &ParsedFiles) -> bool {
        if !self.agrees(file) {
            return false;
        }
        {
            let mut feed = self.feed.lock().unwrap_or_else(|e| e.into_inner());
            feed.clear();
            if !self.origin.contains_key(&file.name) {
                feed.insert(file.name.clone(), protox::file::File::clone(&file.own));
            }
            let cache = parsed.0.lock().unwrap_or_else(|e| e.into_inner());
            for (name, path) in file.imports.iter().filter(|(name, _)| !self.origin.contains_key(*name)) {
                if let Some(f) = cache.get(&(path.clone(), name.clone())) {
                    feed.insert(name.clone(), protox::file::File::clone(f));
                }
            }
        }
        let before = self.compiler.files().len();
        let linked = self.compiler.open_file(&file.name).is_ok();
        self.feed.lock().unwrap_or_else(|e| e.into_inner()).clear();
        // Record the origin of every file the attempt added, even a failed
        // one (the pool keeps the imports that linked).
        let pool = self.compiler.descriptor_pool();
        for f in pool.files().skip(before) {
            let path = if f.name() == file.name { Some(&file.path) } else { file.imports.get(f.name()) };
            if let Some(path) = path {
                self.names.insert(path.clone(), f.name().to_string());
            }
            self.origin.insert(f.name().to_string(), path.cloned());
        }
        linked
            && pool.get_file_by_name(&file.name).is_some_and(|own| {
                closure(&own).iter().all(|f| {
                    let expected = if f.name() == file.name { Some(&file.path) } else { file.imports.get(f.name()) };
                    self.origin.get(f.name()).is_some_and(|o| o.as_ref() == expected)
                })
            })
    }
}

/// Links the parsed `.proto` files of one load into shared descriptor
/// pools (see [`MAX_POOLS`]), one file at a time and in the load's order,
/// so the pools do not depend on the thread count. [`schema::load`]
/// feeds it each file as soon as that file and every one before it are
/// parsed: linking overlaps the parsing of later files.
///
/// [`schema::load`]: super::load
#[derive(Default)]
pub(super) struct Linker {
    pools: Vec<SharedPool>,
    /// A pool protox panicked in is not used (nor trusted) further.
    broken: Vec<bool>,
}

impl Linker {
    /// Links `file` into the first pool that takes it (or a new one): the
    /// pool's index, or `None` when the file is to be compiled alone (an
    /// error, or a conflict with other files).
    pub(super) fn add(&mut self, file: &Unlinked, parsed: &ParsedFiles) -> Option<usize> {
        if !file.clean {
            return None;
        }
        // The pools that already hold most of what the file imports first:
        // fewer files linked twice.
        let mut order: Vec<(std::cmp::Reverse<usize>, usize)> = (0..self.pools.len())
            .filter(|&i| !self.broken[i] && self.pools[i].agrees(file))
            .map(|i| (std::cmp::Reverse(self.pools[i].holds(file)), i))
            .collect();
        order.sort_unstable();
        for (_, i) in order {
            let pool = &mut self.pools[i];
            match catch_panic(|| pool.link(file, parsed)) {
                Ok(true) => return Some(i),
                Ok(false) => {}
                Err(_) => self.broken[i] = true,
            }
        }
        if self.pools.len() < MAX_POOLS {
            let mut pool = SharedPool::new();
            if let Ok(true) = catch_panic(|| pool.link(file, parsed)) {
                self.pools.push(pool);
                self.broken.push(false);
                return Some(self.pools.len() - 1);
            }
        }
        None
    }

    /// Extracts what each file (`(path, text, parsed, pool from [`add`])`)
    /// defines, in the same order and in parallel: from its pool, or
    /// compiled alone by [`load`], which gives its result or error exactly.
    ///
    /// [`add`]: Linker::add
    pub(super) fn finish(
        self,
        fs: &dyn FileSystem,
        includes: &[PathBuf],
        parsed: &Arc<ParsedFiles>,
        files: &[(&Path, &str, &Unlinked, Option<usize>)],
    ) -> Vec<Parsed> {
        let pools: Vec<Option<DescriptorPool>> = self
            .pools
            .iter()
            .zip(&self.broken)
            .map(|(p, &broken)| (!broken).then(|| p.compiler.descriptor_pool()))
            .collect();
        files
            .par_iter()
            .map(|&(path, text, file, at)| match at.and_then(|i| pools[i].as_ref()) {
                Some(pool) => super::contained(|| Ok(extract(pool, &file.name, &file.shown, text))),
                None => super::contained(|| load(fs, path, text, includes, parsed)),
            })
            .collect()
    }
}

/// Field number of the `google.api.http` extension of `MethodOptions`.
const HTTP_EXTENSION: i32 = 72_295_728;

/// What the proto loader keeps beyond operations.
pub(super) struct LoadedProto {
    pub pool: DescriptorPool,
    /// The files of `pool` this schema sees: its own and what it imports,
    /// directly or not, dependencies first. A shared pool holds more.
    pub files: Vec<FileDescriptor>,
    /// The files it imports, as its `import` lines name them.
    pub imports: Vec<String>,
    /// The loaded file's name in the pool.
    pub root: String,
    /// Its name compiled alone (its file name), which descriptor sets and
    /// fingerprints carry whatever `root` is.
    pub shown: String,
    /// (operation key, rule, span of the option) for every binding.
    pub rules: Vec<(String, HttpRule, Option<Range<usize>>)>,
}

/// A file's serialized `FileDescriptorProto`, with the `declared` bindings
/// of its methods added to their `google.api.http` option. `annotated`
/// tells whether a method already has the option: then the bindings go
/// into a second occurrence holding only `additional_bindings`, which
/// protobuf merges into the first (repeated fields concatenate).
pub(super) fn with_bindings(
    file: &prost_reflect::FileDescriptor,
    declared: &[(Operation, HttpRule)],
    annotated: impl Fn(&Operation) -> bool,
) -> Vec<u8> {
    let bytes = file.encode_to_vec();
    let ours: Vec<&(Operation, HttpRule)> = declared
        .iter()
        .filter(|(op, _)| matches!(op, Operation::Grpc { service, .. } if file.services().any(|s| s.full_name() == service)))
        .collect();
    if ours.is_empty() {
        return bytes;
    }
    // The well-known types pool has descriptor.proto; a file's own pool may not.
    let pool = DescriptorPool::global();
    let (Some(file_type), Some(options_type)) = (
        pool.get_message_by_name("google.protobuf.FileDescriptorProto"),
        pool.get_message_by_name("google.protobuf.MethodOptions"),
    ) else {
        return bytes;
    };
    let Ok(mut proto) = DynamicMessage::decode(file_type, bytes.as_slice()) else { return bytes };
    let package = file.package_name().to_string();
    let name_of = |m: &DynamicMessage| match m.get_field_by_name("name").as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let Some(Value::List(services)) = proto.get_field_by_name_mut("service") else { return bytes };
    for service in services {
        let Value::Message(service) = service else { continue };
        let service_name = name_of(service);
        let full = if package.is_empty() { service_name } else { format!("{package}.{service_name}") };
        let Some(Value::List(methods)) = service.get_field_by_name_mut("method") else { continue };
        for method in methods {
            let Value::Message(method) = method else { continue };
            let operation = Operation::Grpc { service: full.clone(), method: name_of(method) };
            let rules: Vec<&HttpRule> = ours.iter().filter(|(op, _)| *op == operation).map(|(_, r)| r).collect();
            if rules.is_empty() {
                continue;
            }
            let mut options = match method.get_field_by_name("options").as_deref() {
                Some(Value::Message(m)) => m.encode_to_vec(),
                _ => Vec::new(),
            };
            let option = if annotated(&operation) {
                additional_bindings(&rules)
            } else {
                let mut first = encode_rule(rules[0]);
                first.extend(additional_bindings(&rules[1..]));
                first
            };
            encode_message(HTTP_EXTENSION as u32, &option, &mut options);
            if let Ok(options) = DynamicMessage::decode(options_type.clone(), options.as_slice()) {
                method.set_field_by_name("options", Value::Message(options));
            }
        }
    }
    proto.encode_to_vec()
}

/// `google.api.HttpRule` fields: the pattern by method, `body`.
fn encode_rule(rule: &HttpRule) -> Vec<u8> {
    let pattern = match rule.method.as_str() {
        "GET" => 2,
        "PUT" => 3,
        "POST" => 4,
        "DELETE" => 5,
        _ => 6, // PATCH; HttpRule::parse admits no other method
    };
    let mut out = Vec::new();
    prost::encoding::string::encode(pattern, &rule.path, &mut out);
    if let Some(body) = &rule.body {
        prost::encoding::string::encode(7, body, &mut out);
    }
    out
}

/// `HttpRule.additional_bindings` (field 11), one occurrence per rule.
fn additional_bindings(rules: &[&HttpRule]) -> Vec<u8> {
    let mut out = Vec::new();
    for rule in rules {
        encode_message(11, &encode_rule(rule), &mut out);
    }
    out
}

fn encode_message(tag: u32, message: &[u8], out: &mut Vec<u8>) {
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, out);
    prost::encoding::encode_varint(message.len() as u64, out);
    out.extend_from_slice(message);
}

/// The method's `google.api.http` rule and its `additional_bindings`.
fn http_rules(method: &MethodDescriptor, http: &prost_reflect::ExtensionDescriptor) -> Vec<HttpRule> {
    let options = method.options();
    if !options.has_extension(http) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Value::Message(rule) = options.get_extension(http).as_ref() {
        collect_rule(rule, &mut out);
    }
    out
}

fn collect_rule(rule: &DynamicMessage, out: &mut Vec<HttpRule>) {
    let text = |m: &DynamicMessage, name: &str| match m.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let pattern = ["get", "put", "post", "delete", "patch"]
        .iter()
        .find_map(|verb| text(rule, verb).map(|path| (verb.to_ascii_uppercase(), path)))
        .or_else(|| match rule.get_field_by_name("custom").as_deref() {
            Some(Value::Message(custom)) => Some((text(custom, "kind")?, text(custom, "path")?)),
            _ => None,
        });
    if let Some((method, path)) = pattern {
        out.push(HttpRule { method, path, body: text(rule, "body") });
    }
    if let Some(Value::List(more)) = rule.get_field_by_name("additional_bindings").as_deref() {
        for binding in more {
            if let Value::Message(binding) = binding {
                collect_rule(binding, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_shared_by_many_files_is_parsed_once() {
        let mut fs = crate::base::fs::MemoryFs::new();
        let common = "syntax = \"proto3\";\npackage common;\nmessage Money { int64 cents = 1; }\n";
        fs.insert("/protos/common.proto", common);
        let parsed = Arc::new(ParsedFiles::default());
        for name in ["a", "b", "c"] {
            let text = format!(
                "syntax = \"proto3\";\npackage {name};\nimport \"common.proto\";\nservice S {{ rpc M(common.Money) returns (common.Money); }}\n"
            );
            let path = PathBuf::from(format!("/protos/{name}.proto"));
            fs.insert(&path, text.clone());
            let loaded = load(&fs, &path, &text, &[], &parsed).unwrap_or_else(|(e, _)| panic!("{e}"));
            assert_eq!(loaded.operations.len(), 1);
        }
        // The shared import is parsed once and cached; each own file is parsed from its text.
        assert_eq!(parsed.0.lock().unwrap().len(), 1);
    }

    /// `files` (path, text) loaded through [`parse`] and a [`Linker`] on a pool
    /// of `threads` threads, and each compiled alone through [`load`].
    fn linked_and_alone(files: &[(&str, &str)], includes: &[&str], threads: usize) -> Vec<(Parsed, Parsed)> {
        let mut fs = crate::base::fs::MemoryFs::new();
        for (path, text) in files {
            fs.insert(path, *text);
        }
        let includes: Vec<PathBuf> = includes.iter().map(PathBuf::from).collect();
        let parsed = Arc::new(ParsedFiles::default());
        let threads = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let linked = threads.install(|| {
            let unlinked: Vec<Unlinked> = files
                .iter()
                .map(|(path, text)| parse(&fs, Path::new(path), text, &includes, &parsed).unwrap())
                .collect();
            let mut linker = Linker::default();
            let refs: Vec<(&Path, &str, &Unlinked, Option<usize>)> = files
                .iter()
                .zip(&unlinked)
                .map(|((path, text), u)| (Path::new(*path), *text, u, linker.add(u, &parsed)))
                .collect();
            linker.finish(&fs, &includes, &parsed, &refs)
        });
        let alone = files.iter().map(|(path, text)| load(&fs, Path::new(path), text, &includes, &Arc::default()));
        linked.into_iter().zip(alone).collect()
    }

    /// Each file's name and serialized descriptor, in order; the messages
    /// seen, sorted; the HTTP bindings.
    type View = (Vec<(String, Vec<u8>)>, Vec<String>, Vec<String>);

    /// What a schema sees of its pool, comparable across pools: its own
    /// file under its name compiled alone, as descriptor sets carry it.
    fn view(loaded: &Loaded) -> View {
        let proto = loaded.proto.as_ref().expect("a .proto schema");
        let files = proto
            .files
            .iter()
            .map(|f| match f.name() == proto.root {
                true => (proto.shown.clone(), with_name(&f.encode_to_vec(), &proto.shown)),
                false => (f.name().to_string(), f.encode_to_vec()),
            })
            .collect();
        let mut messages: Vec<String> = proto
            .pool
            .all_messages()
            .filter(|m| proto.files.contains(&m.parent_file()))
            .map(|m| m.full_name().to_string())
            .collect();
        messages.sort();
        let rules = proto.rules.iter().map(|(key, rule, span)| format!("{key} {rule:?} {span:?}")).collect();
        (files, messages, rules)
    }

    fn assert_same(files: &[(&str, &str)], includes: &[&str]) {
        for threads in [1, 3] {
            for (i, (linked, alone)) in linked_and_alone(files, includes, threads).into_iter().enumerate() {
                match (linked, alone) {
                    (Ok(linked), Ok(alone)) => {
                        // Alone, a file sees its whole pool, in the pool's order.
                        let own = alone.proto.as_ref().unwrap();
                        assert!(own.files.iter().eq(own.pool.files().collect::<Vec<_>>().iter()), "{}", files[i].0);
                        assert_eq!(view(&linked), view(&alone), "{}", files[i].0);
                        assert_eq!(linked.operations, alone.operations, "{}", files[i].0);
                        assert_eq!(linked.grpc_services, alone.grpc_services, "{}", files[i].0);
                    }
                    (Err(linked), Err(alone)) => assert_eq!(linked, alone, "{}", files[i].0),
                    (linked, alone) => panic!("{}: linked {:?}, alone {:?}", files[i].0, linked.err(), alone.err()),
                }
            }
        }
    }

    const ANNOTATED: &str = "syntax = \"proto3\";\npackage shop;\nimport \"google/api/annotations.proto\";\n\
        message Order { string id = 1; }\n\
        service Orders { rpc Get(Order) returns (Order) { option (google.api.http) = { get: \"/orders/{id}\" }; } }\n";

    fn google_api() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "/inc/google/api/annotations.proto",
                "syntax = \"proto3\";\npackage google.api;\nimport \"google/api/http.proto\";\n\
                 import \"google/protobuf/descriptor.proto\";\n\
                 extend google.protobuf.MethodOptions { HttpRule http = 72295728; }\n",
            ),
            (
                "/inc/google/api/http.proto",
                "syntax = \"proto3\";\npackage google.api;\n\
                 message HttpRule { oneof pattern { string get = 2; string put = 3; string post = 4; } \
                 string body = 7; repeated HttpRule additional_bindings = 11; }\n",
            ),
        ]
    }

    #[test]
    fn files_sharing_a_pool_see_what_they_would_see_alone() {
        let mut files = google_api();
        files.push(("/protos/a.proto", ANNOTATED));
        files.push((
            "/protos/b.proto",
            "syntax = \"proto3\";\npackage b;\nimport \"a.proto\";\nservice B { rpc M(shop.Order) returns (shop.Order); }\n",
        ));
        files.push(("/protos/c.proto", "syntax = \"proto3\";\npackage c;\nmessage Lone {}\n"));
        assert_same(&files, &["/inc"]);
        // b.proto links into the pool a.proto made (a.proto is its import by the same name and path).
        let results = linked_and_alone(&files, &["/inc"], 2);
        let pool = |i: usize| results[i].0.as_ref().unwrap().proto.as_ref().unwrap().pool.clone();
        assert!(pool(2) == pool(3), "a.proto and b.proto share a pool");
        let c = results[4].0.as_ref().unwrap().proto.as_ref().unwrap();
        assert_eq!(c.files.iter().map(|f| f.name()).collect::<Vec<_>>(), ["c.proto"]);
    }

    #[test]
    fn the_same_name_in_two_directories_and_a_file_imported_under_another_name_load_as_alone() {
        let files = [
            // Two different `api.proto`, each its directory's own.
            (
                "/svc/v1/api.proto",
                "syntax = \"proto3\";\npackage v1;\nmessage Req {}\nservice Api { rpc M(Req) returns (Req); }\n",
            ),
            (
                "/svc/v2/api.proto",
                "syntax = \"proto3\";\npackage v2;\nmessage Req {}\nservice Api { rpc M(Req) returns (Req); }\n",
            ),
            // Imported by its include path while loaded under its file name (istio/api's layout).
            ("/root/net/common.proto", "syntax = \"proto3\";\npackage net;\nmessage Selector { string app = 1; }\n"),
            (
                "/root/sec/policy.proto",
                "syntax = \"proto3\";\npackage sec;\nimport \"net/common.proto\";\n\
                 service Policies { rpc Get(net.Selector) returns (net.Selector); }\n",
            ),
            // Unrelated files defining the same message.
            ("/x/one.proto", "syntax = \"proto3\";\npackage dup;\nmessage Same {}\n"),
            ("/x/two.proto", "syntax = \"proto3\";\npackage dup;\nmessage Same {}\n"),
        ];
        assert_same(&files, &["/root"]);
        // Under /root, common.proto links by its include name, so policy.proto (importing it so) shares its pool.
        let results = linked_and_alone(&files, &["/root"], 2);
        let proto = |i: usize| results[i].0.as_ref().unwrap().proto.as_ref().unwrap();
        assert!(proto(2).pool == proto(3).pool, "common.proto and policy.proto share a pool");
        assert_eq!((proto(2).root.as_str(), proto(2).shown.as_str()), ("net/common.proto", "common.proto"));
        assert!(proto(0).pool != proto(1).pool, "two api.proto outside the includes do not");
        // With /svc an include, the two api.proto are v1/api.proto and v2/api.proto: one pool.
        assert_same(&files, &["/root", "/svc"]);
        let results = linked_and_alone(&files, &["/root", "/svc"], 1);
        let pool = |i: usize| results[i].0.as_ref().unwrap().proto.as_ref().unwrap().pool.clone();
        assert!(pool(0) == pool(1) && pool(1) == pool(2) && pool(2) == pool(3), "one pool");
    }

    #[test]
    fn a_file_importing_itself_by_its_include_name_loads_as_alone() {
        let files = [
            ("/inc/a/self.proto", "syntax = \"proto3\";\npackage s;\nimport \"a/self.proto\";\n"),
            ("/inc/a/other.proto", "syntax = \"proto3\";\npackage o;\nimport \"a/back.proto\";\nmessage O {}\n"),
            ("/inc/a/back.proto", "syntax = \"proto3\";\npackage b;\nimport \"other.proto\";\n"),
        ];
        assert_same(&files, &["/inc"]);
    }

    #[test]
    fn a_loaded_file_that_is_also_an_import_is_parsed_once() {
        let mut files = google_api();
        files.push(("/protos/a.proto", ANNOTATED));
        let mut fs = crate::base::fs::MemoryFs::new();
        for (path, text) in &files {
            fs.insert(path, *text);
        }
        let parsed = ParsedFiles::default();
        for (path, text) in &files {
            parse(&fs, Path::new(path), text, &[PathBuf::from("/inc")], &parsed).unwrap();
        }
        // annotations.proto and http.proto, each once under its include name; a.proto is in no include.
        let mut cached: Vec<String> = parsed.0.lock().unwrap().keys().map(|(_, name)| name.clone()).collect();
        cached.sort();
        assert_eq!(cached, ["google/api/annotations.proto", "google/api/http.proto"]);
    }

    #[test]
    fn with_name_replaces_only_the_name() {
        let text = "syntax = \"proto3\";\npackage p;\nmessage M { int32 a = 1; }\n";
        let encoded =
            |name: &str| protox::file::File::from_source(name, text).unwrap().file_descriptor_proto().encode_to_vec();
        let (as_x, as_long) = (encoded("x.proto"), encoded("some/dir/x.proto"));
        assert_ne!(as_x, as_long);
        assert_eq!(with_name(&as_long, "x.proto"), as_x);
        // Not a message: unchanged, no panic.
        assert_eq!(with_name(&[0x0a, 0xff], "n"), vec![0x0a, 0xff]);
        assert_eq!(with_name(&[0x0b], "n"), vec![0x0b]);
    }

    #[test]
    fn errors_are_those_of_the_file_compiled_alone() {
        let files = [
            ("/p/ok.proto", "syntax = \"proto3\";\npackage ok;\nmessage A {}\n"),
            ("/p/unknown.proto", "syntax = \"proto3\";\npackage bad;\nmessage B { Missing m = 1; }\n"),
            ("/p/missing.proto", "syntax = \"proto3\";\npackage bad2;\nimport \"nowhere.proto\";\n"),
            ("/p/broken_import.proto", "syntax = \"proto3\";\nimport \"broken.proto\";\n"),
            ("/p/broken.proto", "syntax = \"proto3\";\nmessage {\n"),
            ("/p/cycle.proto", "syntax = \"proto3\";\nimport \"cycle.proto\";\n"),
            ("/p/late.proto", "syntax = \"proto3\";\npackage ok;\nimport \"ok.proto\";\nmessage C { A a = 1; }\n"),
        ];
        let mut fs = crate::base::fs::MemoryFs::new();
        for (path, text) in files {
            fs.insert(path, text);
        }
        // broken.proto does not parse: `parse` reports it as `load` does; the others link or fall back.
        let parsed = ParsedFiles::default();
        let broken = parse(&fs, Path::new("/p/broken.proto"), files[4].1, &[], &parsed).err();
        let alone = load(&fs, Path::new("/p/broken.proto"), files[4].1, &[], &Arc::default()).err();
        assert!(broken.is_some());
        assert_eq!(broken, alone);
        let loadable: Vec<(&str, &str)> = files.iter().copied().filter(|(p, _)| *p != "/p/broken.proto").collect();
        assert_same(&loadable, &[]);
    }
}
