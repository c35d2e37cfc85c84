//! Reading a GraphQL API's config (`graphql/SERVICE-API.json`): the schema
//! parsed and validated, the descriptor set decoded, every resolver checked
//! against both. Nothing is parsed or looked up per request.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use apollo_compiler::ast::OperationType;
use apollo_compiler::schema::FieldDefinition;
use apollo_compiler::validation::{DiagnosticList, Valid};
use apollo_compiler::Schema;
use base64::Engine as _;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use serde::Deserialize;

/// A resolver's timeout when the config names none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The root operation kinds whose fields have resolvers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Root {
    Query,
    Mutation,
}

impl Root {
    pub fn name(self) -> &'static str {
        match self {
            Root::Query => "Query",
            Root::Mutation => "Mutation",
        }
    }

    fn operation(self) -> OperationType {
        match self {
            Root::Query => OperationType::Query,
            Root::Mutation => OperationType::Mutation,
        }
    }
}

pub(crate) struct Config {
    pub service: String,
    pub api: String,
    pub schema: Valid<Schema>,
    pub introspection: bool,
    /// (root kind, field name) → how the field is resolved.
    pub resolvers: BTreeMap<(Root, String), Resolver>,
}

pub(crate) struct Resolver {
    /// `Query.product`: the config's key, for messages and records.
    pub key: String,
    /// Bounds one upstream call.
    pub timeout: Duration,
    pub target: Target,
}

pub(crate) enum Target {
    Rest(Rest),
    Grpc(Grpc),
}

pub(crate) struct Rest {
    /// `host:port`.
    pub upstream: String,
    pub method: http::Method,
    /// The path template as configured, for messages.
    pub path: String,
    /// `path` split into literal text and `{argument}` captures.
    pub pieces: Vec<Piece>,
    pub query_params: Vec<String>,
    pub header_params: Vec<String>,
    /// The argument sent as the JSON request body.
    pub body: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Literal(String),
    Param(String),
}

pub(crate) struct Grpc {
    /// `host:port`.
    pub upstream: String,
    pub method: MethodDescriptor,
    /// `/pkg.Service/Method`.
    pub path: String,
}

impl Resolver {
    pub fn upstream(&self) -> &str {
        match &self.target {
            Target::Rest(rest) => &rest.upstream,
            Target::Grpc(grpc) => &grpc.upstream,
        }
    }
}

/// The config file as written; [`load`] checks it against the schema and
/// the descriptor set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object with `sdl` and `resolvers`")]
struct ConfigFile {
    service: String,
    api: String,
    sdl: String,
    descriptor_set: Option<String>,
    introspection: Option<bool>,
    /// `Query.field` / `Mutation.field` → resolver.
    resolvers: BTreeMap<String, ResolverFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `rest` or `grpc`")]
struct ResolverFile {
    timeout_ms: Option<u64>,
    rest: Option<RestFile>,
    grpc: Option<GrpcFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `upstream`, `method`, `path`, ...")]
struct RestFile {
    upstream: String,
    method: String,
    path: String,
    path_params: Option<Vec<String>>,
    query_params: Option<Vec<String>>,
    header_params: Option<Vec<String>>,
    /// The argument sent as the JSON body.
    body: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `upstream` and `method`")]
struct GrpcFile {
    upstream: String,
    method: String,
}

pub(crate) fn load(text: &str) -> Result<Config, String> {
    let file: ConfigFile = crate::config::from_json(text)?;
    let schema = Schema::parse_and_validate(file.sdl, "sdl.graphql")
        .map_err(|with_errors| format!("`sdl` is not a valid GraphQL schema:\n{}", diagnostics(&with_errors.errors)))?;
    let pool = file.descriptor_set.as_deref().map(descriptor_pool).transpose()?;

    let mut resolvers = BTreeMap::new();
    for (key, entry) in file.resolvers {
        let resolver = resolver(&schema, pool.as_ref(), &key, entry).map_err(|e| format!("resolver `{key}`: {e}"))?;
        resolvers.insert(resolver.0, resolver.1);
    }

    let mut missing = Vec::new();
    for root in [Root::Query, Root::Mutation] {
        let Some(type_name) = schema.root_operation(root.operation()) else { continue };
        let Some(object) = schema.get_object(type_name) else { continue };
        for field in object.fields.keys() {
            if !resolvers.contains_key(&(root, field.to_string())) {
                missing.push(format!("{}.{field}", root.name()));
            }
        }
    }
    if !missing.is_empty() {
        return Err(format!("no resolver for the root field(s) {}", missing.join(", ")));
    }
    Ok(Config {
        service: file.service,
        api: file.api,
        schema,
        introspection: file.introspection.unwrap_or(true),
        resolvers,
    })
}

fn diagnostics(errors: &DiagnosticList) -> String {
    let lines: Vec<String> = errors
        .iter()
        .map(|diagnostic| {
            let json = diagnostic.to_json();
            match json.locations.first() {
                Some(at) => format!("  sdl:{}:{}: {}", at.line, at.column, json.message),
                None => format!("  sdl: {}", json.message),
            }
        })
        .collect();
    lines.join("\n")
}

fn descriptor_pool(encoded: &str) -> Result<DescriptorPool, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("`descriptor_set` is not base64: {e}"))?;
    DescriptorPool::decode(bytes.as_slice())
        .map_err(|e| format!("`descriptor_set` is not a usable FileDescriptorSet: {e}"))
}

fn resolver(
    schema: &Valid<Schema>,
    pool: Option<&DescriptorPool>,
    key: &str,
    entry: ResolverFile,
) -> Result<((Root, String), Resolver), String> {
    let (root, field_name) = match key.split_once('.') {
        Some(("Query", field)) => (Root::Query, field),
        Some(("Mutation", field)) => (Root::Mutation, field),
        Some(("Subscription", _)) => return Err("subscriptions are not served".to_string()),
        _ => return Err("the key must be `Query.field` or `Mutation.field`".to_string()),
    };
    let Some(type_name) = schema.root_operation(root.operation()) else {
        return Err(format!("the schema has no {} root type", root.name().to_lowercase()));
    };
    let Some(field) = schema.get_object(type_name).and_then(|object| object.fields.get(field_name)) else {
        let fields: Vec<String> = schema
            .get_object(type_name)
            .map(|object| object.fields.keys().map(|name| name.to_string()).collect())
            .unwrap_or_default();
        return Err(format!(
            "the {} type `{type_name}` has no field `{field_name}` (fields: {})",
            root.name().to_lowercase(),
            if fields.is_empty() { "none".to_string() } else { fields.join(", ") }
        ));
    };
    let timeout = match entry.timeout_ms {
        None => DEFAULT_TIMEOUT,
        Some(0) => return Err("`timeout_ms` must be a positive integer, not 0".to_string()),
        Some(ms) => Duration::from_millis(ms),
    };
    let target = match (entry.rest, entry.grpc) {
        (Some(rest), None) => Target::Rest(self::rest(field, rest).map_err(|e| format!("rest: {e}"))?),
        (None, Some(grpc)) => Target::Grpc(self::grpc(field, pool, grpc).map_err(|e| format!("grpc: {e}"))?),
        _ => return Err("expected exactly one of `rest` and `grpc`".to_string()),
    };
    let key = format!("{}.{field_name}", root.name());
    Ok(((root, field_name.to_string()), Resolver { key, timeout, target }))
}

fn rest(field: &FieldDefinition, file: RestFile) -> Result<Rest, String> {
    let upstream = upstream(file.upstream)?;
    let method_text = file.method;
    let method = http::Method::from_bytes(method_text.as_bytes())
        .ok()
        .filter(|m| {
            method_text.bytes().all(|b| b.is_ascii_uppercase()) && !method_text.is_empty() && m != http::Method::CONNECT
        })
        .ok_or_else(|| format!("`method` {method_text:?} is not an HTTP method like GET or POST"))?;
    let path = file.path;
    if !path.starts_with('/') {
        return Err(format!("`path` {path:?} must start with `/`"));
    }
    let pieces = pieces(&path)?;
    let path_params = names("path_params", file.path_params)?;
    let query_params = names("query_params", file.query_params)?;
    let header_params = names("header_params", file.header_params)?;
    let body = file.body;

    let arguments: Vec<&str> = field.arguments.iter().map(|a| a.name.as_str()).collect();
    let is_argument = |what: &str, name: &str| {
        if arguments.contains(&name) {
            Ok(())
        } else {
            Err(format!(
                "{what} `{name}` is no argument of `{}` (arguments: {})",
                field.name,
                if arguments.is_empty() { "none".to_string() } else { arguments.join(", ") }
            ))
        }
    };
    let captured: Vec<&str> = pieces
        .iter()
        .filter_map(|piece| match piece {
            Piece::Param(name) => Some(name.as_str()),
            Piece::Literal(_) => None,
        })
        .collect();
    for name in &path_params {
        is_argument("path parameter", name)?;
        if !captured.contains(&name.as_str()) {
            return Err(format!("path parameter `{name}` does not appear as `{{{name}}}` in `path` {path:?}"));
        }
    }
    for name in &captured {
        if !path_params.iter().any(|p| p == name) {
            return Err(format!("`path` {path:?} captures `{{{name}}}`, which is not in `path_params`"));
        }
    }
    for name in &query_params {
        is_argument("query parameter", name)?;
    }
    for name in &header_params {
        is_argument("header parameter", name)?;
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("header parameter `{name}` is not a valid header name"));
        }
    }
    if let Some(name) = &body {
        is_argument("body", name)?;
    }
    // The literal parts must make a valid request target.
    let sample: String = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Literal(text) => text.as_str(),
            Piece::Param(_) => "x",
        })
        .collect();
    format!("http://{upstream}{sample}")
        .parse::<http::Uri>()
        .map_err(|e| format!("`upstream` and `path` do not make a URL: {e}"))?;
    Ok(Rest { upstream, method, path, pieces, query_params, header_params, body })
}

/// `/products/{productId}` → literal text and captures.
pub(crate) fn pieces(path: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        if rest[..open].contains('}') {
            return Err(format!("`path` {path:?} has an unmatched `}}`"));
        }
        if open > 0 {
            pieces.push(Piece::Literal(rest[..open].to_string()));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("`path` {path:?} has an unclosed `{{`"));
        };
        let name = &rest[open + 1..open + close];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`path` {path:?}: `{{{name}}}` is not an argument capture"));
        }
        pieces.push(Piece::Param(name.to_string()));
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("`path` {path:?} has an unmatched `}}`"));
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest.to_string()));
    }
    Ok(pieces)
}

fn grpc(field: &FieldDefinition, pool: Option<&DescriptorPool>, file: GrpcFile) -> Result<Grpc, String> {
    let upstream = upstream(file.upstream)?;
    let full_method = file.method;
    let Some(pool) = pool else {
        return Err("a gRPC resolver needs the config's `descriptor_set`, which is absent".to_string());
    };
    let Some((service_name, method_name)) = full_method.strip_prefix('/').and_then(|m| m.rsplit_once('/')) else {
        return Err(format!("`method` {full_method:?} is not a gRPC method path like /pkg.Service/Method"));
    };
    let Some(service) = pool.get_service_by_name(service_name) else {
        let services: Vec<_> = pool.services().map(|s| s.full_name().to_string()).collect();
        return Err(format!(
            "no service `{service_name}` in the descriptor set (services: {})",
            if services.is_empty() { "none".to_string() } else { services.join(", ") }
        ));
    };
    let Some(method) = service.methods().find(|m| m.name() == method_name) else {
        let methods: Vec<_> = service.methods().map(|m| m.name().to_string()).collect();
        return Err(format!("service {service_name} has no method `{method_name}` (methods: {})", methods.join(", ")));
    };
    if method.is_client_streaming() || method.is_server_streaming() {
        return Err(format!("{full_method} is a streaming method; only unary methods resolve fields"));
    }
    let input = method.input();
    for argument in &field.arguments {
        let name = argument.name.as_str();
        if input.get_field_by_json_name(name).is_none() && input.get_field_by_name(name).is_none() {
            let fields: Vec<_> = input.fields().map(|f| f.json_name().to_string()).collect();
            return Err(format!(
                "argument `{name}` of `{}` is no field of {} (fields: {})",
                field.name,
                input.full_name(),
                if fields.is_empty() { "none".to_string() } else { fields.join(", ") }
            ));
        }
    }
    Ok(Grpc { upstream, path: format!("/{service_name}/{method_name}"), method })
}

/// `upstream`: `host:port`, with a host name, an IPv4 address or a
/// bracketed IPv6 address.
fn upstream(upstream: String) -> Result<String, String> {
    let valid = upstream.rsplit_once(':').is_some_and(|(host, port)| {
        let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        };
        host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
    });
    if valid {
        Ok(upstream)
    } else {
        Err(format!("`upstream` {upstream:?} is not `host:port`"))
    }
}

/// An optional list of argument names, each once.
fn names(key: &str, names: Option<Vec<String>>) -> Result<Vec<String>, String> {
    let names = names.unwrap_or_default();
    let mut seen = HashSet::new();
    match names.iter().find(|name| !seen.insert(name.as_str())) {
        Some(name) => Err(format!("`{key}` names `{name}` twice")),
        None => Ok(names),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_split_into_pieces() {
        assert_eq!(
            pieces("/products/{productId}/reviews").unwrap(),
            vec![
                Piece::Literal("/products/".into()),
                Piece::Param("productId".into()),
                Piece::Literal("/reviews".into())
            ]
        );
        assert_eq!(
            pieces("/files/{name}.{ext}").unwrap(),
            vec![
                Piece::Literal("/files/".into()),
                Piece::Param("name".into()),
                Piece::Literal(".".into()),
                Piece::Param("ext".into())
            ]
        );
        assert!(pieces("/a/{b").unwrap_err().contains("unclosed"));
        assert!(pieces("/a/b}").unwrap_err().contains("unmatched"));
        assert!(pieces("/a/{}").unwrap_err().contains("not an argument capture"));
    }
}
