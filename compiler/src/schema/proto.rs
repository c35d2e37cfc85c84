//! `.proto` files compiled in-process with `protox` (no protoc needed);
//! imports resolve against the file's own directory, then the spec's
//! `proto-include` directories. Besides operations, the loader keeps the
//! descriptor pool (message fields, and the descriptor set backends embed)
//! and each method's `google.api.http` rules.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use protox::file::{FileResolver, GoogleFileResolver};

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

use super::{LineIndex, Loaded, Parsed};
use crate::model::values::Operation;

/// Parsed `.proto` files by (resolved path, import name), shared by every
/// file of one load, so an import many files share (google/api/http.proto)
/// is parsed once, however many files import it.
#[derive(Default)]
pub(super) struct ParsedFiles(Mutex<HashMap<(PathBuf, String), protox::file::File>>);

/// protox's include-path lookup (the file's own directory, then the spec's
/// `proto-include` directories, then protobuf's well-known types), with
/// parses shared through [`ParsedFiles`].
struct Resolver {
    search: Vec<PathBuf>,
    parsed: Arc<ParsedFiles>,
    /// The file being compiled, already parsed; imports go through the cache.
    own: (PathBuf, protox::file::File),
}

impl FileResolver for Resolver {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.search.iter().find_map(|dir| {
            let relative = path.strip_prefix(dir).ok()?;
            Some(relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
        })
    }

    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        let Some(path) = self.search.iter().map(|dir| dir.join(name)).find(|p| p.is_file()) else {
            return GoogleFileResolver::new().open_file(name);
        };
        if path == self.own.0 && name == self.own.1.name() {
            return Ok(self.own.1.clone());
        }
        let key = (path, name.to_string());
        if let Some(file) = self.parsed.0.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(file.clone());
        }
        let file = protox::file::File::open(name, &key.0)?;
        self.parsed.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key, file.clone());
        Ok(file)
    }
}

pub(super) fn load(path: &Path, text: &str, includes: &[PathBuf], parsed: &Arc<ParsedFiles>) -> Parsed {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let search = std::iter::once(dir.to_path_buf()).chain(includes.iter().cloned()).collect();
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
    let mut compiler = protox::Compiler::with_file_resolver(Resolver { search, parsed: Arc::clone(parsed), own });
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
    loaded.proto = Some(LoadedProto { pool: pool.clone(), rules });
    Ok(loaded)
}

/// Field number of the `google.api.http` extension of `MethodOptions`.
const HTTP_EXTENSION: i32 = 72_295_728;

/// What the proto loader keeps beyond operations.
pub(super) struct LoadedProto {
    pub pool: DescriptorPool,
    /// (operation key, rule, span of the option) for every binding.
    pub rules: Vec<(String, HttpRule, Option<Range<usize>>)>,
}

/// One HTTP binding of a gRPC method (`google.api.http`), as Envoy's
/// gRPC-JSON transcoder applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRule {
    /// `GET`, `POST`, ... or a custom verb.
    pub method: String,
    /// The path template, e.g. `/v1/orders/{order_id}`.
    pub path: String,
    /// `*`, a field name, or `None` for no body.
    pub body: Option<String>,
}

impl HttpRule {
    /// The field paths bound by `{variables}` in the path template.
    pub fn variables(&self) -> Vec<&str> {
        self.path
            .split('{')
            .skip(1)
            .filter_map(|part| part.split_once('}').map(|(var, _)| var.split('=').next().unwrap_or(var).trim()))
            .collect()
    }

    /// The template's path up to its first variable or wildcard.
    pub fn literal_prefix(&self) -> &str {
        let end = self.path.find(['{', '*']).unwrap_or(self.path.len());
        &self.path[..end]
    }
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
        let dir = tempfile::tempdir().unwrap();
        let common = "syntax = \"proto3\";\npackage common;\nmessage Money { int64 cents = 1; }\n";
        std::fs::write(dir.path().join("common.proto"), common).unwrap();
        let parsed = Arc::new(ParsedFiles::default());
        for name in ["a", "b", "c"] {
            let text = format!(
                "syntax = \"proto3\";\npackage {name};\nimport \"common.proto\";\nservice S {{ rpc M(common.Money) returns (common.Money); }}\n"
            );
            let path = dir.path().join(format!("{name}.proto"));
            std::fs::write(&path, &text).unwrap();
            let loaded = load(&path, &text, &[], &parsed).unwrap_or_else(|(e, _)| panic!("{e}"));
            assert_eq!(loaded.operations.len(), 1);
        }
        // The shared import is parsed once and cached; each own file is parsed from its text.
        assert_eq!(parsed.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn http_rule_variables_and_literal_prefix() {
        let rule = HttpRule { method: "GET".into(), path: "/v1/{parent=shelves/*}/books/{book.id}".into(), body: None };
        assert_eq!(rule.variables(), ["parent", "book.id"]);
        assert_eq!(rule.literal_prefix(), "/v1/");
    }
}
