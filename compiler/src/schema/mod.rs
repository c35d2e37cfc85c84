//! Schema loaders: one module per format, all feeding one [`SchemaIndex`]
//! that checks query. APIs' protocol schemas (OpenAPI, `.proto`, GraphQL)
//! and topics' event schemas (Avro, JSON Schema). Each file is read and
//! parsed once, however many APIs or topics reference it; files load in
//! parallel.

mod avro;
mod avro_names;
pub mod breaking;
pub mod compat;
mod depth;
mod graphql;
mod json_schema;
mod json_spans;
mod jwks;
mod openapi;
mod proto;
pub mod proto_module;
pub mod reference;
mod refs;
pub mod shape;

pub use crate::model::values::HttpRule;
/// A GraphQL schema file as `meshc diff` compares it: the validated
/// schema (apollo-compiler's) and the file its locations point into.
#[derive(Clone, Copy)]
pub struct GraphqlDocument<'s> {
    pub schema: &'s apollo_compiler::validation::Valid<apollo_compiler::Schema>,
    pub file: FileId,
}
pub use graphql::{ArgumentSignature, FieldSignature, GraphqlType, OutputField, TypeOf, TypeRef};
pub use openapi::{self_contained_schema, OpenApiDocument, ResponseExample, RestDetail};

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use crate::base::fs::{read_text, DiskFs, FileSystem, ReadableRoots, Refusal, MAX_FILE_BYTES};
use crate::base::{display_path, FileId, Sources, Span};
use crate::diag::{Code, Diagnostic, Sink};
use crate::model::values::{Operation, SchemaFormat, SecretKind};
use crate::model::{Model, SchemaId, SchemaRef, ServiceId};

/// What a schema file defines, as far as checks need it today.
#[derive(Debug)]
pub struct Schema {
    pub file: FileId,
    pub operations: Vec<OperationDef>,
    /// Fully qualified gRPC services a `.proto` defines, with their spans.
    pub grpc_services: Vec<(String, Option<Span>)>,
    /// `Operation::key` → index in `operations`.
    by_key: HashMap<String, usize>,
    /// The gRPC operations' indices in `operations`, by service and method,
    /// each once: every sidecar lists the methods it serves in that order.
    grpc_sorted: Vec<usize>,
    /// GraphQL only: the validated schema, root field signatures by
    /// `Operation::key`, and the SDL text backends ship.
    graphql: Option<(graphql::LoadedGraphql, Arc<str>)>,
    /// `.proto` only: descriptors and HTTP bindings.
    proto: Option<ProtoIndex>,
    /// OpenAPI only: request shapes by operation key, and component schemas.
    rest: HashMap<String, RestDetail>,
    components: Option<serde_json::Value>,
    /// OpenAPI only: the whole document, for `meshc diff`.
    openapi: Option<OpenApiDocument>,
    /// Avro and JSON Schema only: what the topic's events look like.
    event: Option<EventShape>,
    /// Event schemas and `.proto` files: the file's text, which backends
    /// ship (schema registries, the runtime).
    text: Option<Arc<str>>,
    /// Avro only: the types, resolved, for compatibility checks.
    avro: Option<compat::avro::AvroType>,
    /// JSON Schema only: the document, for compatibility checks.
    json_schema: Option<compat::json_schema::JsonSchemaType>,
    /// JWKS files only: the keys as compact JSON.
    jwks: Option<String>,
}

/// What an event schema (a topic's Avro or JSON Schema file) says its
/// events are: a neutral view, the same for both formats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventShape {
    /// Avro: the top-level named type's full name (`shop.orders.OrderPlaced`);
    /// JSON Schema: the top-level `title`. `None` when the file names none.
    pub name: Option<String>,
    /// Where `name` is written.
    pub name_span: Option<Span>,
    /// Avro: `record`, `enum`, `fixed`, or the top-level type (`string`);
    /// JSON Schema: the top-level `type` (`object`; `string|null` for
    /// several), empty when absent.
    pub kind: String,
    /// Avro: a record's fields; JSON Schema: the top-level `properties`. In
    /// file order.
    pub fields: Vec<EventField>,
    /// The named types the file defines, in file order: Avro records, enums
    /// and fixed types by full name (the top-level one first); JSON Schema
    /// the names in `$defs` and `definitions`.
    pub types: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventField {
    pub name: String,
    /// Avro: the type as Avro IDL writes it (`long`, `array<shop.Item>`,
    /// `union { null, string }`, `timestamp-millis`); JSON Schema: the
    /// `type` (`integer`, `string|null`), else the `$ref`, else empty.
    pub ty: String,
    /// Whether every event has the field: always for Avro (a record value
    /// has all its fields); JSON Schema: it is listed in `required`.
    pub required: bool,
    /// Whether the schema gives a default: Avro's `default`, which lets a
    /// reader fill the field in for events written without it; JSON
    /// Schema's `default` annotation.
    pub default: bool,
    /// The field's name in the schema file.
    pub span: Option<Span>,
}

/// The descriptors of a `.proto` file (with its imports) and its methods'
/// `google.api.http` bindings.
#[derive(Debug)]
struct ProtoIndex {
    /// A pool holding the file and its imports, possibly shared with other
    /// files of the load: look names up through [`ProtoIndex::message`] and
    /// [`ProtoIndex::service`], which see only `files`.
    pool: prost_reflect::DescriptorPool,
    /// The file and what it imports, directly or not, dependencies first.
    files: Vec<prost_reflect::FileDescriptor>,
    /// The file's own imports.
    imports: Vec<String>,
    /// The file itself, for spans of compatibility breaks.
    source: compat::protobuf::ProtoSource,
    /// The file's name compiled alone, when its name in `pool` (`source`'s)
    /// is its include path: what descriptor sets and fingerprints carry.
    shown: String,
    /// Operation key → its HTTP bindings with the option's span.
    rules: HashMap<String, Vec<(HttpRule, Option<Span>)>>,
}

impl ProtoIndex {
    /// Whether `file` is this schema's file or one it imports.
    fn sees(&self, file: &prost_reflect::FileDescriptor) -> bool {
        self.files.contains(file)
    }

    /// The message `full_name` of the file or its imports.
    fn message(&self, full_name: &str) -> Option<prost_reflect::MessageDescriptor> {
        self.pool.get_message_by_name(full_name).filter(|m| self.sees(&m.parent_file()))
    }

    /// The service `full_name` of the file or its imports.
    fn service(&self, full_name: &str) -> Option<prost_reflect::ServiceDescriptor> {
        self.pool.get_service_by_name(full_name).filter(|s| self.sees(&s.parent_file()))
    }

    /// The name `file` (one of `files`) has when the schema is compiled
    /// alone, and its serialized descriptor `bytes` (as a pool encodes it)
    /// under that name: the same bytes whichever pool the file linked into.
    fn as_alone<'a>(&'a self, file: &'a prost_reflect::FileDescriptor, bytes: Vec<u8>) -> (&'a str, Vec<u8>) {
        if file.name() == self.source.name && self.shown != self.source.name {
            (&self.shown, proto::with_name(&bytes, &self.shown))
        } else {
            (file.name(), bytes)
        }
    }
}

/// The indices of `operations`' gRPC operations, sorted by service and
/// method, repeats dropped.
fn grpc_sorted(operations: &[OperationDef]) -> Vec<usize> {
    let method = |i: &usize| operations[*i].operation.grpc();
    let mut sorted: Vec<usize> = (0..operations.len()).filter(|i| method(i).is_some()).collect();
    sorted.sort_by_key(method);
    sorted.dedup_by_key(|i| method(i));
    sorted
}

/// Why a field path does not resolve in a message.
#[derive(Debug, PartialEq, Eq)]
pub struct MissingField {
    /// The message searched at the failing step.
    pub message: String,
    /// The segment that is not a field of it.
    pub segment: String,
    /// That message's fields, for a did-you-mean.
    pub fields: Vec<String>,
}

impl Schema {
    fn new(file: FileId, text: &Arc<str>, loaded: Loaded) -> Schema {
        let span = |r: Option<Range<usize>>| r.map(|r| Span::new(file, r));
        let operations: Vec<OperationDef> =
            loaded.operations.into_iter().map(|(operation, r)| OperationDef { operation, span: span(r) }).collect();
        let grpc_services = loaded.grpc_services.into_iter().map(|(name, r)| (name, span(r))).collect();
        let mut by_key = HashMap::with_capacity(operations.len());
        for (i, def) in operations.iter().enumerate() {
            by_key.entry(def.operation.key()).or_insert(i);
        }
        let grpc_sorted = grpc_sorted(&operations);
        let proto = loaded.proto.map(|p| {
            let mut rules: HashMap<String, Vec<(HttpRule, Option<Span>)>> = HashMap::new();
            for (key, rule, r) in p.rules {
                rules.entry(key).or_default().push((rule, span(r)));
            }
            let source =
                compat::protobuf::ProtoSource { file, name: p.root, text: Arc::clone(text), ranges: OnceLock::new() };
            ProtoIndex { pool: p.pool, files: p.files, imports: p.imports, source, shown: p.shown, rules }
        });
        let (rest, components, openapi) = match loaded.openapi {
            Some(o) => {
                let document = o.document.map(|value| OpenApiDocument::new(value, file, Arc::clone(text)));
                (o.details.into_iter().collect(), Some(o.components), document)
            }
            None => (HashMap::new(), None, None),
        };
        let graphql = loaded.graphql.map(|g| (g, Arc::clone(text)));
        let event = loaded.event.map(|e| {
            let mut shape = e.shape;
            shape.name_span = span(e.name_range);
            for (field, range) in shape.fields.iter_mut().zip(e.field_ranges) {
                field.span = span(range);
            }
            shape
        });
        let shipped = (event.is_some() || proto.is_some()).then(|| Arc::clone(text));
        let avro = loaded.avro.map(|mut avro| {
            avro.set_file(file);
            avro
        });
        let json_schema =
            loaded.json_schema.map(|doc| compat::json_schema::JsonSchemaType::new(doc, file, Arc::clone(text)));
        Schema {
            file,
            operations,
            grpc_services,
            by_key,
            grpc_sorted,
            graphql,
            proto,
            rest,
            components,
            openapi,
            event,
            text: shipped,
            avro,
            json_schema,
            jwks: loaded.jwks,
        }
    }

    /// The event type compatibility checks compare: an Avro schema's or a
    /// JSON Schema's document, or the message `message` (a full name) of a
    /// `.proto` file. `None` for other schemas and unknown messages.
    pub fn event_type(&self, message: Option<&str>) -> Option<compat::EventType<'_>> {
        if let Some(avro) = &self.avro {
            return Some(compat::EventType::Avro(avro));
        }
        if let Some(json) = &self.json_schema {
            return Some(compat::EventType::JsonSchema(json));
        }
        let proto = self.proto.as_ref()?;
        let message = proto.message(message?)?;
        Some(compat::EventType::Protobuf(compat::protobuf::ProtoMessage { message, source: &proto.source }))
    }

    /// A `.proto` file's digest, to skip unchanged files when two versions
    /// are compared (`meshc diff`): its descriptors and those of every file
    /// it imports (source info, hence positions and comments, included;
    /// well-known types left out), so an edited import changes it too.
    /// `None` for other formats (their text is the whole schema).
    pub fn proto_fingerprint(&self) -> Option<u64> {
        use prost::Message as _;
        use std::hash::{Hash, Hasher};
        let proto = self.proto.as_ref()?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for file in proto.files.iter().filter(|f| !f.name().starts_with("google/protobuf/")) {
            let (name, bytes) = proto.as_alone(file, file.file_descriptor_proto().encode_to_vec());
            name.hash(&mut hasher);
            bytes.hash(&mut hasher);
        }
        Some(hasher.finish())
    }

    /// An OpenAPI document as a whole, as `meshc diff` compares it; `None`
    /// for other schemas.
    pub fn openapi_document(&self) -> Option<&OpenApiDocument> {
        self.openapi.as_ref()
    }

    /// A GraphQL schema as `meshc diff` compares it; `None` for other schemas.
    pub fn graphql_document(&self) -> Option<GraphqlDocument<'_>> {
        self.graphql.as_ref().map(|(g, _)| GraphqlDocument { schema: &g.schema, file: self.file })
    }

    /// An Avro schema's resolved types; `None` for other schemas.
    pub fn avro_type(&self) -> Option<&compat::avro::AvroType> {
        self.avro.as_ref()
    }

    /// A JSON Schema document; `None` for other schemas.
    pub fn json_schema_type(&self) -> Option<&compat::json_schema::JsonSchemaType> {
        self.json_schema.as_ref()
    }

    /// A JWKS file's keys as compact JSON; `None` for other schemas.
    pub fn jwks(&self) -> Option<&str> {
        self.jwks.as_deref()
    }

    /// What the events of an Avro or JSON Schema file look like; `None` for
    /// APIs' schemas.
    pub fn event_shape(&self) -> Option<&EventShape> {
        self.event.as_ref()
    }

    /// The text of an event schema (Avro, JSON Schema) or a `.proto` file;
    /// `None` for other schemas.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// The files a `.proto` file imports (as its `import` lines name them),
    /// without the well-known types (`google/protobuf/...`), which schema
    /// registries know; empty for other schemas.
    pub fn proto_imports(&self) -> Vec<&str> {
        let Some(proto) = &self.proto else { return Vec::new() };
        proto.imports.iter().map(String::as_str).filter(|i| !i.starts_with("google/protobuf/")).collect()
    }

    /// Whether a `.proto` file (with its imports) defines the message
    /// `full_name`; `None` for other schemas.
    pub fn defines_proto_message(&self, full_name: &str) -> Option<bool> {
        Some(self.proto.as_ref()?.message(full_name).is_some())
    }

    /// Whether a `.proto` file (with its imports) defines the gRPC service
    /// `full_name`; `None` for other schemas.
    pub fn defines_grpc_service(&self, full_name: &str) -> Option<bool> {
        Some(self.proto.as_ref()?.service(full_name).is_some())
    }

    /// A `.proto` file's messages (with its imports') by full name, sorted;
    /// `None` for other schemas.
    pub fn proto_messages(&self) -> Option<Vec<String>> {
        let proto = self.proto.as_ref()?;
        let mut names: Vec<String> = proto
            .pool
            .all_messages()
            .filter(|m| proto.sees(&m.parent_file()))
            .map(|m| m.full_name().to_string())
            .collect();
        names.sort_unstable();
        Some(names)
    }

    /// The request shape of a REST operation (parameters and body).
    pub fn rest_detail(&self, operation: &Operation) -> Option<&RestDetail> {
        self.rest.get(&operation.key())
    }

    /// An OpenAPI document's `components` (its `schemas`), which request
    /// schemas' `$ref`s point into.
    pub fn openapi_components(&self) -> Option<&serde_json::Value> {
        self.components.as_ref()
    }

    /// The `google.api.http` bindings of a gRPC operation (empty if none).
    pub fn http_rules(&self, operation: &Operation) -> &[(HttpRule, Option<Span>)] {
        self.proto.as_ref().and_then(|p| p.rules.get(&operation.key())).map_or(&[], Vec::as_slice)
    }

    /// Resolves a dotted field path (`order.id`) in a gRPC operation's input message.
    pub fn input_field(&self, operation: &Operation, path: &str) -> Result<(), MissingField> {
        let Some(method) = self.grpc_method(operation) else { return Ok(()) };
        let mut message = method.input();
        let segments: Vec<&str> = path.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let Some(field) = message.get_field_by_name(segment) else {
                return Err(MissingField {
                    message: message.full_name().to_string(),
                    segment: segment.to_string(),
                    fields: message.fields().map(|f| f.name().to_string()).collect(),
                });
            };
            match field.kind() {
                prost_reflect::Kind::Message(inner) if i + 1 < segments.len() => message = inner,
                _ if i + 1 < segments.len() => {
                    return Err(MissingField {
                        message: message.full_name().to_string(),
                        segment: segments[i + 1].to_string(),
                        fields: Vec::new(),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The definition of `operation`, matching REST paths by shape.
    pub fn find(&self, operation: &Operation) -> Option<&OperationDef> {
        self.by_key.get(&operation.key()).map(|&i| &self.operations[i])
    }

    /// The gRPC operations as (service, method), sorted, each once.
    pub fn grpc_methods(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.grpc_sorted.iter().filter_map(|&i| self.operations[i].operation.grpc())
    }

    /// The argument and result types of a GraphQL root field.
    pub fn graphql_signature(&self, operation: &Operation) -> Option<&FieldSignature> {
        self.graphql.as_ref()?.0.signatures.get(&operation.key())
    }

    /// Why an example's GraphQL request `query` is not one for `operation`
    /// (invalid for the schema, or not selecting its root field); `None`
    /// when it is, or for other schemas and operations.
    pub fn graphql_query_problem(&self, query: &str, operation: &Operation) -> Option<String> {
        let Operation::Graphql { root, field } = operation else { return None };
        self.graphql.as_ref()?.0.query_problem(query, *root, field)
    }

    /// The JSON Schema of a response to a GraphQL `query` (valid for this
    /// schema): see [`graphql::LoadedGraphql::response_schema`].
    pub fn graphql_response_schema(&self, query: &str) -> Option<serde_json::Value> {
        self.graphql.as_ref()?.0.response_schema(query)
    }

    /// A named type of a GraphQL schema, unfolded one level.
    pub fn graphql_type(&self, name: &str) -> Option<GraphqlType> {
        self.graphql.as_ref()?.0.named_type(name)
    }

    /// A GraphQL schema's SDL, as written.
    pub fn graphql_sdl(&self) -> Option<&str> {
        self.graphql.as_ref().map(|(_, text)| &**text)
    }

    /// The span of a byte range of this schema's file.
    pub fn span(&self, range: Range<usize>) -> Span {
        Span::new(self.file, range)
    }

    /// A gRPC operation's request and response messages.
    pub fn grpc_messages(&self, operation: &Operation) -> Option<(shape::Shape<'_>, shape::Shape<'_>)> {
        let method = self.grpc_method(operation)?;
        Some((shape::message(method.input()), shape::message(method.output())))
    }

    /// Whether a gRPC method declares itself safe to repeat
    /// (`option idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS`).
    pub fn grpc_idempotent(&self, operation: &Operation) -> Option<bool> {
        let options = self.grpc_method(operation)?.options();
        // descriptor.proto: IDEMPOTENCY_UNKNOWN = 0, NO_SIDE_EFFECTS = 1, IDEMPOTENT = 2.
        let level = options.get_field_by_name("idempotency_level").and_then(|v| v.as_enum_number());
        Some(matches!(level, Some(1 | 2)))
    }

    /// Whether a gRPC method streams its requests or its responses.
    pub fn grpc_streaming(&self, operation: &Operation) -> Option<bool> {
        let method = self.grpc_method(operation)?;
        Some(method.is_client_streaming() || method.is_server_streaming())
    }

    fn grpc_method(&self, operation: &Operation) -> Option<prost_reflect::MethodDescriptor> {
        let Operation::Grpc { service, method } = operation else { return None };
        self.proto.as_ref()?.service(service)?.methods().find(|m| m.name() == method)
    }

    /// What an operation's request and success response carry, as shapes:
    /// REST its JSON bodies (`None` where it declares none), gRPC its
    /// messages. `None` for GraphQL and operations the schema lacks.
    pub fn operation_bodies(&self, operation: &Operation) -> Option<OperationBodies<'_>> {
        if let Some((request, response)) = self.grpc_messages(operation) {
            let slot = |shape| Some(shape::Slot { shape, optional: false });
            return Some(OperationBodies { request: slot(request), response: slot(response) });
        }
        let rest = self.rest_shapes(operation)?;
        Some(OperationBodies { request: rest.body.map(|(_, slot)| slot), response: rest.response })
    }

    /// The shape of an event schema's events: an Avro schema's, a JSON
    /// Schema document, or the `.proto` message `message`. `None` for
    /// unknown messages.
    pub fn event_slot(&self, message: Option<&str>) -> Option<shape::Slot<'_>> {
        if let Some(avro) = &self.avro {
            return Some(avro.slot());
        }
        if let Some(json) = &self.json_schema {
            let doc = json.document();
            return Some(shape::json(doc, doc));
        }
        let message = self.proto.as_ref()?.message(message?)?;
        Some(shape::Slot { shape: shape::message(message), optional: false })
    }

    /// A REST operation's parameters, JSON body and JSON success response as shapes.
    pub fn rest_shapes(&self, operation: &Operation) -> Option<RestShapes<'_>> {
        let detail = self.rest_detail(operation)?;
        let components = self.components.as_ref()?;
        let parameters = detail
            .parameters
            .iter()
            .map(|p| RestParameter {
                name: p["name"].as_str().unwrap_or_default().to_string(),
                location: p["in"].as_str().unwrap_or_default().to_string(),
                required: p["required"].as_bool().unwrap_or(false),
                slot: shape::json(&p["schema"], components),
            })
            .collect();
        let body = detail.body.as_ref().map(|b| {
            let content = b["content"].as_object();
            let schema = content
                .and_then(|c| c.iter().find(|(media, _)| *media == "application/json" || media.ends_with("+json")))
                .map(|(_, m)| &m["schema"]);
            let slot = match schema {
                Some(schema) => shape::json(schema, components),
                None => shape::Slot { shape: shape::Shape::Any, optional: true },
            };
            (b["required"].as_bool().unwrap_or(false), slot)
        });
        let response = detail.response.as_ref().map(|r| shape::json(r, components));
        Some(RestShapes { parameters, body, response })
    }
}

/// An operation's request and response bodies, as shapes.
#[derive(Debug)]
pub struct OperationBodies<'s> {
    pub request: Option<shape::Slot<'s>>,
    pub response: Option<shape::Slot<'s>>,
}

/// A REST operation's request and response, as shapes.
#[derive(Debug)]
pub struct RestShapes<'s> {
    pub parameters: Vec<RestParameter<'s>>,
    /// Whether the body is required, and its JSON shape (open if not JSON).
    pub body: Option<(bool, shape::Slot<'s>)>,
    /// The first 2xx response's JSON body; `None` if none is declared.
    pub response: Option<shape::Slot<'s>>,
}

#[derive(Debug)]
pub struct RestParameter<'s> {
    pub name: String,
    /// `path`, `query`, `header` or `cookie`.
    pub location: String,
    pub required: bool,
    pub slot: shape::Slot<'s>,
}

#[derive(Debug)]
pub struct OperationDef {
    pub operation: Operation,
    /// Where the schema file defines it, when the format tells.
    pub span: Option<Span>,
}

/// Loaded schemas by [`SchemaId`]; `None` for a file that failed to load
/// (its diagnostic is already reported).
#[derive(Debug, Default)]
pub struct SchemaIndex {
    schemas: Vec<Option<Schema>>,
}

impl SchemaIndex {
    pub fn get(&self, id: SchemaId) -> Option<&Schema> {
        self.schemas.get(id.index()).and_then(Option::as_ref)
    }

    /// Whether repeating `operation` of `target` is safe: not a POST or
    /// PATCH, and for gRPC a method whose .proto declares an
    /// `idempotency_level`. `None`: a gRPC method whose schema did not load.
    pub fn idempotent(&self, model: &Model, target: ServiceId, operation: &Operation) -> Option<bool> {
        use crate::model::values::HttpMethod;
        match operation {
            Operation::Rest { method: HttpMethod::Post | HttpMethod::Patch, .. } => Some(false),
            Operation::Grpc { .. } => {
                let apis = model.service(target).apis.iter().filter(|a| a.serves(operation));
                apis.filter_map(|a| self.get(a.schema)?.grpc_idempotent(operation)).next()
            }
            _ => Some(true),
        }
    }

    /// Whether repeating a call is safe as far as the schemas tell: a call
    /// without an operation, or whose gRPC schema did not load (not judged),
    /// counts as safe. The call's own `idempotent=#true` is not considered.
    pub fn call_idempotent(&self, model: &Model, call: &crate::model::Call) -> bool {
        let Some(op) = &call.operation else { return true };
        self.idempotent(model, call.target.value, &op.value) != Some(false)
    }

    /// The loaded schema that defines `operation` for the `target` service:
    /// one of its APIs that serves the operation. `None` when no loaded
    /// schema does (the unknown-operation pass reports that).
    pub fn defining(&self, model: &Model, target: ServiceId, operation: &Operation) -> Option<&Schema> {
        self.defining_in(model, target, operation, None)
    }

    /// [`defining`](Self::defining), in the schema of the API version a
    /// use names (`None`: each API's own, a versioned one's current version's).
    pub fn defining_in(
        &self,
        model: &Model,
        target: ServiceId,
        operation: &Operation,
        version: Option<crate::model::api_versions::ApiVersionRef>,
    ) -> Option<&Schema> {
        if let Some(v) = version {
            let api = &model.service(target).apis[v.api.index()];
            let schema = self.get(api.schema_for(Some(v.version)))?;
            return schema.find(operation).map(|_| schema);
        }
        model.service(target).apis.iter().filter(|api| api.serves(operation)).find_map(|api| {
            let schema = self.get(api.schema)?;
            schema.find(operation).map(|_| schema)
        })
    }

    /// What a consumer's use of an operation sends and gets back, as shapes
    /// of the provider's schema (see [`Schema::operation_bodies`]).
    pub fn bodies_of(
        &self,
        model: &Model,
        used: &crate::model::contracts::ContractUse<'_>,
    ) -> Option<OperationBodies<'_>> {
        let operation = &used.operation.value;
        self.defining_in(model, used.provider, operation, used.api_version)?.operation_bodies(operation)
    }

    /// One serialized `FileDescriptorSet` holding every file (with imports)
    /// of the given `.proto` schemas, dependencies first, with their
    /// extension options (`google.api.http`) intact: what Envoy's gRPC-JSON
    /// transcoder loads.
    pub fn descriptor_set(&self, ids: &[SchemaId]) -> Vec<u8> {
        self.descriptor_set_with_bindings(ids, &[])
    }

    /// [`descriptor_set`](Self::descriptor_set) with HTTP bindings the spec
    /// declares added to their methods' `google.api.http` option: as the
    /// option for a method without one, else as `additional_bindings`.
    pub fn descriptor_set_with_bindings(&self, ids: &[SchemaId], declared: &[(Operation, HttpRule)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (_, bytes) in self.descriptor_files_with_bindings(ids, declared) {
            // FileDescriptorSet.file = 1, length-delimited.
            prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut out);
            prost::encoding::encode_varint(bytes.len() as u64, &mut out);
            out.extend_from_slice(&bytes);
        }
        out
    }

    /// The files of [`descriptor_set`](Self::descriptor_set) one by one: each
    /// file's name in its pool and its serialized `FileDescriptorProto`,
    /// dependencies first, each name once.
    pub fn descriptor_files(&self, ids: &[SchemaId]) -> Vec<(String, Vec<u8>)> {
        self.descriptor_files_with_bindings(ids, &[])
    }

    fn descriptor_files_with_bindings(
        &self,
        ids: &[SchemaId],
        declared: &[(Operation, HttpRule)],
    ) -> Vec<(String, Vec<u8>)> {
        let mut seen = std::collections::HashSet::new();
        let mut files = Vec::new();
        for schema in ids.iter().filter_map(|id| self.get(*id)) {
            let Some(proto) = &schema.proto else { continue };
            // Each schema lists its files in dependency order; first-seen order keeps that.
            for file in &proto.files {
                // prost's own FileDescriptorProto would drop the extension options.
                let bytes = || proto::with_bindings(file, declared, |op| !schema.http_rules(op).is_empty());
                let (name, _) = proto.as_alone(file, Vec::new());
                if seen.insert(name.to_string()) {
                    let (name, bytes) = proto.as_alone(file, bytes());
                    files.push((name.to_string(), bytes));
                }
            }
        }
        files
    }
}

/// What a loader found, with byte ranges into the file.
#[derive(Default)]
struct Loaded {
    operations: Vec<(Operation, Option<Range<usize>>)>,
    grpc_services: Vec<(String, Option<Range<usize>>)>,
    graphql: Option<graphql::LoadedGraphql>,
    proto: Option<proto::LoadedProto>,
    openapi: Option<openapi::LoadedOpenApi>,
    event: Option<LoadedEvent>,
    avro: Option<compat::avro::AvroType>,
    json_schema: Option<serde_json::Value>,
    jwks: Option<String>,
    /// JWKS files only: a secret found instead (its kind and JSON pointer).
    secret: Option<(SecretKind, String)>,
}

/// An event schema's shape with byte ranges (names, fields) into the file.
#[derive(Default)]
struct LoadedEvent {
    shape: EventShape,
    name_range: Option<Range<usize>>,
    /// One per `shape.fields` entry.
    field_ranges: Vec<Option<Range<usize>>>,
}

/// A loader's result, or its error message with the range it points at.
type Parsed = Result<Loaded, (String, Option<Range<usize>>)>;

/// A schema file after the parallel parse: loaded, or a `.proto` file
/// waiting for [`proto::Linker`].
enum Stage {
    /// Boxed: a `Loaded` is several times the size of an `Unlinked`.
    Loaded(Box<Loaded>),
    Proto(proto::Unlinked),
}

/// Why a schema file did not load.
enum ParseError {
    /// Its parser's message, with where in the file if it says.
    Invalid(String, Option<Range<usize>>),
    /// It nests past [`depth::MAX_SCHEMA_DEPTH`] at this offset: no parser
    /// ran, or (for a parser that stops at the bound itself) it failed.
    TooDeep(usize),
}

/// `parse` run on `text` unless the text nests past the depth bound. The
/// text is scanned first where the parser recurses once per level; where the
/// parser stops at the bound itself (JSON), only once it has failed, to tell
/// "too deep" from other errors.
fn parse_bounded<T>(
    text: &str,
    format: SchemaFormat,
    parse: impl FnOnce() -> Result<T, (String, Option<Range<usize>>)>,
) -> Result<T, ParseError> {
    let too_deep = || depth::too_deep(text, format).map(ParseError::TooDeep);
    let scan_first = !depth::parser_bounds_depth(format);
    if let Some(deep) = scan_first.then(too_deep).flatten() {
        return Err(deep);
    }
    parse().map_err(|(message, range)| {
        let deep = if scan_first { None } else { too_deep() };
        deep.unwrap_or(ParseError::Invalid(message, range))
    })
}

/// Reads (through `fs`) and parses every schema the model references.
pub fn load(model: &Model, fs: &dyn FileSystem, sources: &mut Sources, sink: &mut Sink) -> SchemaIndex {
    let mut includes = Vec::new();
    for dir in &model.proto_includes {
        if fs.is_dir(&dir.value) {
            includes.push(dir.value.clone());
        } else {
            sink.push(
                Diagnostic::new(
                    Code::UnreadableFile,
                    format!("`{}` is not a directory", display_path(sources.root(), &dir.value)),
                )
                .at(dir.span, "proto include path")
                .help("proto-include paths are directories, relative to the spec file that names them"),
            );
        }
    }
    let parsed_protos = Arc::new(proto::ParsedFiles::default());
    let allowed = readable_roots(fs, model, sources.root());
    let refusals: Vec<Option<Diagnostic>> =
        model.schemas.par_iter().map(|r| location_refusal(fs, r, &allowed, sources.root())).collect();
    let refused: Vec<bool> = refusals.iter().map(Option::is_some).collect();
    sink.extend(refusals.into_iter().flatten());
    let stage_one = |(r, &refused): (&SchemaRef, &bool)| -> Staged {
        let text = read_unless(fs, refused, &r.path, r.format)?;
        let parsed = parse_bounded(&text, r.format, || match r.format {
            SchemaFormat::Proto => {
                contained(|| proto::parse(fs, &r.path, &text, &includes, &parsed_protos)).map(Stage::Proto)
            }
            format => parse(fs, format, &r.path, &text, &includes, &parsed_protos).map(|l| Stage::Loaded(Box::new(l))),
        });
        Ok((text, parsed))
    };
    // Files are parsed in parallel into their slots; each `.proto` file's
    // index is sent to this thread, which links it as soon as it and every
    // `.proto` file before it are in: linking (sequential, in model order)
    // overlaps parsing. Only `.proto` files wake the linker: a message per
    // file was a futex wake per file (41,655 at 10,000 services).
    let slots: Vec<OnceLock<Staged>> = model.schemas.iter().map(|_| OnceLock::new()).collect();
    let (sender, receiver) = std::sync::mpsc::channel::<usize>();
    let parse_all = {
        let (refused, slots) = (&refused, &slots);
        move || {
            model.schemas.par_iter().zip(refused).zip(slots).enumerate().for_each(|(i, (schema, slot))| {
                let _ = slot.set(stage_one(schema));
                if schema.0.format == SchemaFormat::Proto {
                    // The receiver outlives the sender: sending cannot fail.
                    let _ = sender.send(i);
                }
            });
            // The linker's loop ends when the last sender is gone.
            drop(sender);
        }
    };
    let protos: Vec<usize> =
        model.schemas.iter().enumerate().filter(|(_, r)| r.format == SchemaFormat::Proto).map(|(i, _)| i).collect();
    let (placed, linker) = if rayon::current_thread_index().is_none() && rayon::current_num_threads() > 1 {
        rayon::in_place_scope(|scope| {
            scope.spawn(move |_| parse_all());
            link_in_order(&receiver, &slots, &protos, &parsed_protos)
        })
    } else {
        // On a pool's thread, this thread waiting for the parse could be
        // the one thread the parse needs: parse first, then link.
        parse_all();
        link_in_order(&receiver, &slots, &protos, &parsed_protos)
    };
    // A file whose parser panicked (the scope re-raises it) reads as unread.
    let staged: Vec<Staged> = slots
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(|| Err(std::io::Error::other("the file's parser stopped"))))
        .collect();
    let linked: Vec<Parsed> = {
        let files: Vec<(&Path, &str, &proto::Unlinked, Option<usize>)> = staged
            .iter()
            .zip(&model.schemas)
            .zip(&placed)
            .filter_map(|((entry, r), &at)| match entry {
                Ok((text, Ok(Stage::Proto(file)))) => Some((r.path.as_path(), text.as_str(), file, at)),
                _ => None,
            })
            .collect();
        linker.finish(fs, &includes, &parsed_protos, &files)
    };
    let mut linked = linked.into_iter();
    let results = staged.into_iter().map(|entry| {
        entry.map(|(text, stage)| {
            let loaded = match stage {
                Ok(Stage::Loaded(loaded)) => Ok(*loaded),
                // `finish` returns one result per `.proto` file, in order.
                Ok(Stage::Proto(_)) => linked
                    .next()
                    .unwrap_or_else(|| Ok(Loaded::default()))
                    .map_err(|(message, range)| ParseError::Invalid(message, range)),
                Err(e) => Err(e),
            };
            (text, loaded)
        })
    });
    let mut index = SchemaIndex::default();
    for ((schema_ref, result), refused) in model.schemas.iter().zip(results).zip(refused) {
        let (text, parsed) = match result {
            Ok(read) => read,
            Err(_) if refused => {
                index.schemas.push(None);
                continue;
            }
            Err(e) => {
                sink.push(
                    Diagnostic::new(
                        Code::UnreadableFile,
                        format!("cannot read schema `{}`: {e}", display_path(sources.root(), &schema_ref.path)),
                    )
                    .at(schema_ref.span, "referenced here")
                    .help(if e.kind() == std::io::ErrorKind::FileTooLarge {
                        "meshc holds each schema file in memory, parsed; trim the document to what the mesh uses"
                    } else {
                        "schema paths are relative to the spec file that names them"
                    }),
                );
                index.schemas.push(None);
                continue;
            }
        };
        let file =
            sources.find(&schema_ref.path).unwrap_or_else(|| sources.add(schema_ref.path.clone(), Arc::from(text)));
        let text = Arc::clone(&sources.get(file).text);
        let span = |r: Range<usize>| Span::new(file, r);
        index.schemas.push(match parsed {
            Ok(Loaded { secret: Some((kind, pointer)), .. }) => {
                let shown = display_path(sources.root(), &schema_ref.path);
                sink.push(
                    Diagnostic::new(Code::LiteralSecret, format!("`{shown}` holds {} at `{pointer}`", kind.describe()))
                        .at(schema_ref.span, "its value is not shown")
                        .help("a JWKS file ships in generated configs: keep only public keys (RSA, EC or OKP without private members)"),
                );
                None
            }
            Ok(loaded) => {
                if schema_ref.format == SchemaFormat::Proto && schema_ref.named_by_api && loaded.grpc_services.is_empty() {
                    sink.push(
                        Diagnostic::new(
                            Code::EmptySchema,
                            format!("`{}` defines no gRPC service", display_path(sources.root(), &schema_ref.path)),
                        )
                        .at(schema_ref.span, "this API serves no operation")
                        .help("name the .proto file that declares the API's `service`, or add the service to this one"),
                    );
                }
                Some(Schema::new(file, &text, loaded))
            }
            Err(ParseError::TooDeep(at)) => {
                let kind = schema_ref.format.describe();
                sink.push(
                    Diagnostic::new(
                        Code::NestingTooDeep,
                        format!("the {kind} nests deeper than {} levels", depth::MAX_SCHEMA_DEPTH),
                    )
                    .at(span(at..at + 1), format!("level {} starts here", depth::MAX_SCHEMA_DEPTH + 1))
                    .with_label(schema_ref.span, "referenced here")
                    .help("meshc does not read schemas nested this deep; flatten them with `$ref`s or named types"),
                );
                None
            }
            Err(ParseError::Invalid(message, range)) => {
                let kind = schema_ref.format.describe();
                let reads = match schema_ref.format {
                    SchemaFormat::Avro | SchemaFormat::JsonSchema => "to know the events of the topics that name it",
                    SchemaFormat::Jwks => "to inline the issuer's keys into the gateway's config",
                    _ => "to check the operations routes and calls name",
                };
                let mut d = Diagnostic::new(Code::InvalidSchema, format!("invalid {kind}: {message}"))
                    .help(format!("fix the {kind}; meshc reads it {reads}"));
                d = match range {
                    Some(r) => d.at(span(r), "error here").with_label(schema_ref.span, "referenced here"),
                    None => d.at(schema_ref.span, "this schema does not load"),
                };
                sink.push(d);
                None
            }
        });
    }
    index
}

/// Reads (through `fs`) and parses one schema file of `format` on its own,
/// as `meshc diff` compares files before any spec names them: the schema,
/// or the one diagnostic saying why it does not load (unreadable, too deep,
/// invalid), pointing into the file when the parser says where.
pub fn load_file(
    fs: &dyn FileSystem,
    path: &Path,
    format: SchemaFormat,
    sources: &mut Sources,
) -> Result<Schema, Box<Diagnostic>> {
    let shown = display_path(sources.root(), path);
    let text = read_text(fs, path, max_bytes(format))
        .map_err(|e| Box::new(Diagnostic::new(Code::UnreadableFile, format!("cannot read `{shown}`: {e}"))))?;
    let file = sources.add(path.to_path_buf(), Arc::from(text));
    let text = Arc::clone(&sources.get(file).text);
    let kind = format.describe();
    match parse_bounded(&text, format, || parse(fs, format, path, &text, &[], &Arc::default())) {
        Ok(loaded) => Ok(Schema::new(file, &text, loaded)),
        Err(ParseError::TooDeep(at)) => Err(Box::new(
            Diagnostic::new(
                Code::NestingTooDeep,
                format!("the {kind} nests deeper than {} levels", depth::MAX_SCHEMA_DEPTH),
            )
            .at(Span::new(file, at..at + 1), format!("level {} starts here", depth::MAX_SCHEMA_DEPTH + 1)),
        )),
        Err(ParseError::Invalid(message, range)) => {
            let d = Diagnostic::new(Code::InvalidSchema, format!("invalid {kind} `{shown}`: {message}"))
                .help(format!("fix the {kind}; `meshc diff` compares versions that load"));
            Err(Box::new(match range {
                Some(r) => d.at(Span::new(file, r), "error here"),
                None => d.at(Span::new(file, 0..0), "this file does not load"),
            }))
        }
    }
}

/// The directories schema files may come from: the workspace root, the
/// spec's `schema-root`s and its `proto-include`s.
fn readable_roots(fs: &dyn FileSystem, model: &Model, root: &Path) -> ReadableRoots {
    let declared = model.schema_roots.iter().chain(&model.proto_includes).map(|dir| dir.value.clone());
    let roots: Vec<PathBuf> = std::iter::once(root.to_path_buf()).chain(declared).collect();
    ReadableRoots::new(fs, &roots)
}

/// Why meshc will not read a schema file (outside the allowed directories,
/// or under /proc, /sys, /dev), if it will not. Its text is never read, so
/// no diagnostic can quote it.
fn location_refusal(
    fs: &dyn FileSystem,
    schema_ref: &SchemaRef,
    allowed: &ReadableRoots,
    root: &Path,
) -> Option<Diagnostic> {
    let refusal = allowed.check(fs, &schema_ref.path).err()?;
    let shown = display_path(root, &schema_ref.path);
    Some(match refusal {
        Refusal::System => Diagnostic::new(
            Code::FileOutsideWorkspace,
            format!("schema `{shown}` is under /proc, /sys or /dev; meshc never reads there"),
        )
        .at(schema_ref.span, "a system file, not a schema")
        .help("point at a schema file in the workspace; such files hold process state and secrets"),
        Refusal::Outside => Diagnostic::new(
            Code::FileOutsideWorkspace,
            format!("schema `{shown}` is outside the workspace"),
        )
        .at(schema_ref.span, "outside the workspace root")
        .help("move the file into the workspace, or allow its directory in the root file: schema-root \"../shared\""),
    })
}

/// The file's text, unless it was refused (then it is not opened).
fn read_unless(fs: &dyn FileSystem, refused: bool, path: &Path, format: SchemaFormat) -> std::io::Result<String> {
    if refused {
        return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "refused"));
    }
    read_text(fs, path, max_bytes(format))
}

/// The largest schema file of a format meshc reads. OpenAPI (YAML or JSON)
/// parses into value trees some 50 times the file's size: 16 MiB took
/// 0.8 GB and 6 s, 50 MiB 2.5 GB and 24 s (issue 11); 16 MiB keeps a check
/// under 1 GB per file (the loader keeps one such tree per OpenAPI document,
/// the JSON form `meshc diff` compares). Event schemas parse into the same trees; a JWKS
/// holds a few keys. `.proto` and GraphQL SDL parse into compact
/// descriptors: the general limit.
fn max_bytes(format: SchemaFormat) -> u64 {
    match format {
        SchemaFormat::OpenApi | SchemaFormat::Avro | SchemaFormat::JsonSchema => 16 << 20,
        SchemaFormat::Jwks => 1 << 20,
        SchemaFormat::Proto | SchemaFormat::Graphql => MAX_FILE_BYTES,
    }
}

/// A schema file read and parsed (or why not), before linking.
type Staged = std::io::Result<(String, Result<Stage, ParseError>)>;

/// Links the `.proto` files of one load (`protos`: their slots) into the
/// linker in model order, each as soon as its slot and those of every
/// `.proto` file before it are filled; each message on `receiver` says a
/// `.proto` file's slot was (the slot is filled before it is sent). Returns
/// where each file's pool is, and the linker.
fn link_in_order(
    receiver: &std::sync::mpsc::Receiver<usize>,
    slots: &[OnceLock<Staged>],
    protos: &[usize],
    parsed: &proto::ParsedFiles,
) -> (Vec<Option<usize>>, proto::Linker) {
    let mut linker = proto::Linker::default();
    let mut placed = vec![None; slots.len()];
    let mut next = protos.iter().peekable();
    for _ in receiver.iter() {
        while let Some(&at) = next.next_if(|&&at| slots[at].get().is_some()) {
            if let Some(Ok((_, Ok(Stage::Proto(file))))) = slots[at].get() {
                placed[at] = linker.add(file, parsed);
            }
        }
    }
    (placed, linker)
}

/// Parses one schema file's text with its format's loader (a `.proto`'s
/// imports are read through `fs`).
fn parse(
    fs: &dyn FileSystem,
    format: SchemaFormat,
    path: &Path,
    text: &str,
    includes: &[PathBuf],
    protos: &Arc<proto::ParsedFiles>,
) -> Parsed {
    match format {
        SchemaFormat::OpenApi => contained(|| openapi::load(text)),
        SchemaFormat::Proto => contained(|| proto::load(fs, path, text, includes, protos)),
        SchemaFormat::Graphql => contained(|| graphql::load(text)),
        SchemaFormat::Avro => contained(|| avro::load(text)),
        SchemaFormat::JsonSchema => contained(|| json_schema::load(text)),
        SchemaFormat::Jwks => contained(|| jwks::load(text)),
    }
}

/// Runs a third-party parser so that a bug in it becomes a diagnostic on
/// the file instead of a crash (openapiv3 panics on some malformed inputs).
fn contained<T>(
    parse: impl FnOnce() -> Result<T, (String, Option<Range<usize>>)>,
) -> Result<T, (String, Option<Range<usize>>)> {
    crate::base::catch_panic(parse)
        .unwrap_or_else(|_| Err(("the parser failed on this file (a bug in the parser library)".to_string(), None)))
}

/// Byte offsets of line starts, for formats that report lines and columns.
struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts, len: text.len() }
    }

    /// Byte offset of a 0-based line and column, clamped to the text.
    fn offset(&self, line: i32, column: i32) -> usize {
        let start = self.starts.get(line.max(0) as usize).copied().unwrap_or(self.len);
        (start + column.max(0) as usize).min(self.len)
    }
}

/// The fuzz targets' entry (`fuzz/`): one schema file through its loader,
/// as [`load`] runs it. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Loads `text` as a `format` file at `path` (a `.proto`'s imports
    /// resolve beside it on disk; no `proto-include` directories): the source map
    /// holding it, and the schema or the loader's diagnostic.
    pub fn load_text(format: SchemaFormat, path: &Path, text: &str) -> (Sources, Result<Schema, Diagnostic>) {
        load_text_in(&DiskFs, format, path, text)
    }

    /// [`load_text`] with a `.proto`'s imports read from `fs`.
    pub fn load_text_in(
        fs: &dyn FileSystem,
        format: SchemaFormat,
        path: &Path,
        text: &str,
    ) -> (Sources, Result<Schema, Diagnostic>) {
        let mut sources = Sources::new(path.parent().unwrap_or(Path::new(".")));
        let file = sources.add(path.to_path_buf(), Arc::from(text));
        let text = Arc::clone(&sources.get(file).text);
        let schema = match parse_bounded(&text, format, || parse(fs, format, path, &text, &[], &Arc::default())) {
            Ok(loaded) => Ok(Schema::new(file, &text, loaded)),
            Err(ParseError::TooDeep(at)) => {
                Err(Diagnostic::new(Code::NestingTooDeep, "nested too deep").at(Span::new(file, at..at + 1), "here"))
            }
            Err(ParseError::Invalid(message, range)) => {
                Err(Diagnostic::new(Code::InvalidSchema, message)
                    .at(Span::new(file, range.unwrap_or(0..0)), "error here"))
            }
        };
        (sources, schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_operations_are_listed_by_service_and_method_once() {
        let operations: Vec<OperationDef> = ["b.S/Get", "GET /x", "a.T/Put", "b.S/Add", "b.S/Get", "a.T/Del"]
            .iter()
            .map(|text| OperationDef { operation: Operation::parse(text).unwrap(), span: None })
            .collect();
        let listed: Vec<Option<(&str, &str)>> =
            grpc_sorted(&operations).into_iter().map(|i| operations[i].operation.grpc()).collect();
        let expected = [("a.T", "Del"), ("a.T", "Put"), ("b.S", "Add"), ("b.S", "Get")];
        assert_eq!(listed, expected.map(Some));
    }
}
