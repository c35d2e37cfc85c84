//! `.proto` files compiled in-process with `protox` (no protoc needed);
//! imports resolve against the file's own directory, then the spec's
//! `proto-include` directories, and are read through the run's
//! [`FileSystem`]. Besides operations, the loader keeps the
//! descriptor pool (message fields, and the descriptor set backends embed)
//! and each method's `google.api.http` rules.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use protox::file::{FileResolver, GoogleFileResolver};

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

use super::{LineIndex, Loaded, Parsed};
use crate::base::fs::{read_text, FileSystem, MAX_FILE_BYTES};
use crate::model::values::{HttpRule, Operation};

/// Parsed `.proto` files by (resolved path, import name), shared by every
/// file of one load, so an import many files share (google/api/http.proto)
/// is parsed once, however many files import it.
#[derive(Default)]
pub(super) struct ParsedFiles(Mutex<HashMap<(PathBuf, String), protox::file::File>>);

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
    let mut imports = HashMap::new();
    let mut queue: VecDeque<String> = own.1.file_descriptor_proto().dependency.iter().cloned().collect();
    while let Some(name) = queue.pop_front() {
        if imports.contains_key(&name) {
            continue;
        }
        let Some(path) = find(fs, search, &name) else { continue };
        if path == own.0 && name == own.1.name() {
            continue; // protox reports the cycle
        }
        let file = open(fs, &name, path, parsed);
        if let Ok(file) = &file {
            queue.extend(file.file_descriptor_proto().dependency.iter().cloned());
        }
        imports.insert(name, file);
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
) -> Result<protox::file::File, protox::Error> {
    let key = (path, name.to_string());
    if let Some(file) = parsed.0.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(file.clone());
    }
    let text = read_text(fs, &key.0, MAX_FILE_BYTES)
        .map_err(|e| protox::Error::new(format!("cannot read `{}`: {e}", key.0.display())))?;
    let file = protox::file::File::from_source(name, &text)?;
    parsed.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key, file.clone());
    Ok(file)
}

pub(super) fn load(
    fs: &dyn FileSystem,
    path: &Path,
    text: &str,
    includes: &[PathBuf],
    parsed: &Arc<ParsedFiles>,
) -> Parsed {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let search: Vec<PathBuf> = std::iter::once(dir.to_path_buf()).chain(includes.iter().cloned()).collect();
    let located = |e: protox::Error| {
        let range = if e.file() == Some(name.as_str()) || e.file().is_none() {
            miette::Diagnostic::labels(&e).and_then(|mut l| l.next()).map(|l| l.offset()..l.offset() + l.len())
        } else {
            None
        };
        (e.to_string(), range)
    };
    // The text is already read (it is in the source map): parse it from there.
    let own = (path.to_path_buf(), protox::file::File::from_source(&name, text).map_err(located)?);
    let imports = Mutex::new(read_imports(fs, &search, &own, parsed));
    let own = (find(fs, &search, &name) == Some(own.0)).then_some(own.1);
    let mut compiler = protox::Compiler::with_file_resolver(Resolver { search, imports, own });
    compiler.include_source_info(true);
    compiler.open_file(&name).map_err(located)?;
    let pool = compiler.descriptor_pool();
    let Some(file) = pool.get_file_by_name(&name) else {
        return Ok(Loaded::default());
    };
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
    let http = pool.get_extension_by_name("google.api.http");
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
    loaded.proto = Some(LoadedProto { pool: pool.clone(), imports, root: name, rules });
    Ok(loaded)
}

/// Field number of the `google.api.http` extension of `MethodOptions`.
const HTTP_EXTENSION: i32 = 72_295_728;

/// What the proto loader keeps beyond operations.
pub(super) struct LoadedProto {
    pub pool: DescriptorPool,
    /// The files it imports, as its `import` lines name them.
    pub imports: Vec<String>,
    /// The loaded file's name in the pool.
    pub root: String,
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
}
