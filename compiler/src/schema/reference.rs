//! A schema file as API reference documentation: its operations and the
//! types they use, with the doc comments the file gives them (protobuf
//! comments, OpenAPI summaries and descriptions, GraphQL descriptions). A
//! format-neutral view for the docs site, built from what the loaders
//! already parsed: nothing is read or parsed again.
//!
//! Texts are the schema's own and untrusted: whoever renders them escapes them.

use std::collections::HashMap;

use apollo_compiler::schema::ExtendedType;
use prost_reflect::{FileDescriptor, Kind};
use serde_json::Value;

use super::Schema;

/// The most types one reference lists: a schema beyond it is cut, with
/// [`ApiReference::truncated`] set (a page stays readable, its size bounded).
pub const MAX_TYPES: usize = 500;

/// What a schema file documents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiReference {
    /// What the file says of the API as a whole: the gRPC services'
    /// comments, OpenAPI's `info.description`, the GraphQL schema's description.
    pub summary: String,
    /// In file order (OpenAPI: by path, then method).
    pub operations: Vec<OperationDoc>,
    pub types: Vec<TypeDoc>,
    /// More than [`MAX_TYPES`] types: the rest are left out.
    pub truncated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationDoc {
    /// As the spec names it: `shop.orders.v1.Orders/Get`, `GET /orders/{id}`, `Query.orders`.
    pub name: String,
    pub doc: String,
    /// The request type (a message, a component schema, the arguments), empty when none.
    pub input: String,
    /// The response type, empty when none.
    pub output: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeDoc {
    pub name: String,
    /// `message`, `enum`, `object`, `input`, `interface`, `union`, `scalar`, `record`, `schema`.
    pub kind: &'static str,
    pub doc: String,
    /// Fields, or an enum's values (with an empty type).
    pub fields: Vec<FieldDoc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDoc {
    pub name: String,
    pub ty: String,
    pub doc: String,
}

impl Schema {
    /// The file's operations and types with their docs; `None` for files
    /// that document nothing (JWKS key files).
    pub fn reference(&self) -> Option<ApiReference> {
        let mut reference = if let Some(proto) = &self.proto {
            let file = proto.pool.get_file_by_name(&proto.source.name)?;
            proto_reference(&file)
        } else if let Some(openapi) = &self.openapi {
            openapi_reference(&openapi.value)
        } else if let Some((graphql, _)) = &self.graphql {
            graphql_reference(&graphql.schema)
        } else if let Some(event) = &self.event {
            let fields = event
                .fields
                .iter()
                .map(|f| FieldDoc {
                    name: f.name.clone(),
                    ty: f.ty.clone(),
                    doc: if f.required { String::new() } else { "optional".to_string() },
                })
                .collect();
            let kind = if self.avro.is_some() { "record" } else { "schema" };
            let name = event.name.clone().unwrap_or_else(|| "event".to_string());
            let types = vec![TypeDoc { name, kind, doc: String::new(), fields }];
            ApiReference { types, ..ApiReference::default() }
        } else {
            return None;
        };
        if reference.types.len() > MAX_TYPES {
            reference.types.truncate(MAX_TYPES);
            reference.truncated = true;
        }
        Some(reference)
    }
}

// ---- protobuf -----------------------------------------------------------

/// Leading (else trailing) comments by source path.
fn proto_comments(file: &FileDescriptor) -> HashMap<Vec<i32>, String> {
    let proto = file.file_descriptor_proto();
    let Some(info) = &proto.source_code_info else { return HashMap::new() };
    info.location
        .iter()
        .filter_map(|l| {
            let text = l.leading_comments.as_deref().or(l.trailing_comments.as_deref())?;
            let text = text.lines().map(str::trim).collect::<Vec<_>>().join("\n").trim().to_string();
            (!text.is_empty()).then(|| (l.path.clone(), text))
        })
        .collect()
}

fn proto_reference(file: &FileDescriptor) -> ApiReference {
    let comments = proto_comments(file);
    let doc = |path: &[i32]| comments.get(path).cloned().unwrap_or_default();
    let summaries: Vec<String> = file.services().map(|s| doc(s.path())).filter(|d| !d.is_empty()).collect();
    let mut reference = ApiReference { summary: summaries.join("\n"), ..ApiReference::default() };
    for service in file.services() {
        for method in service.methods() {
            let stream = |yes: bool| if yes { "stream " } else { "" };
            reference.operations.push(OperationDoc {
                name: format!("{}/{}", service.full_name(), method.name()),
                doc: doc(method.path()),
                input: format!("{}{}", stream(method.is_client_streaming()), method.input().full_name()),
                output: format!("{}{}", stream(method.is_server_streaming()), method.output().full_name()),
            });
        }
    }
    // Messages (nested ones after their parent) and enums, in file order.
    let mut stack: Vec<prost_reflect::MessageDescriptor> = file.messages().collect();
    stack.reverse();
    while let Some(message) = stack.pop() {
        if reference.types.len() > MAX_TYPES {
            break;
        }
        let fields = message
            .fields()
            .map(|f| {
                let ty = match f.kind() {
                    Kind::Message(m) => m.full_name().to_string(),
                    Kind::Enum(e) => e.full_name().to_string(),
                    other => format!("{other:?}").to_ascii_lowercase(),
                };
                let ty = if f.is_map() {
                    "map".to_string()
                } else if f.is_list() {
                    format!("repeated {ty}")
                } else {
                    ty
                };
                FieldDoc { name: f.name().to_string(), ty, doc: doc(f.path()) }
            })
            .collect();
        reference.types.push(TypeDoc {
            name: message.full_name().to_string(),
            kind: "message",
            doc: doc(message.path()),
            fields,
        });
        let mut nested: Vec<_> = message.child_messages().filter(|m| !m.is_map_entry()).collect();
        nested.reverse();
        stack.extend(nested);
        for e in message.child_enums() {
            reference.types.push(enum_doc(&e, &doc));
        }
    }
    for e in file.enums() {
        reference.types.push(enum_doc(&e, &doc));
    }
    reference
}

fn enum_doc(e: &prost_reflect::EnumDescriptor, doc: &impl Fn(&[i32]) -> String) -> TypeDoc {
    let fields = e
        .values()
        .map(|v| FieldDoc { name: v.name().to_string(), ty: v.number().to_string(), doc: doc(v.path()) })
        .collect();
    TypeDoc { name: e.full_name().to_string(), kind: "enum", doc: doc(e.path()), fields }
}

// ---- OpenAPI ------------------------------------------------------------

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn text(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// `summary` and `description`, as one text.
fn summary_and_description(value: &Value) -> String {
    let (summary, description) = (text(value, "summary"), text(value, "description"));
    match (summary.is_empty(), description.is_empty()) {
        (false, false) => format!("{summary}\n{description}"),
        (true, _) => description,
        (false, true) => summary,
    }
}

/// A JSON Schema's type for people: a `$ref`'s last segment, an array's
/// items, else its `type` (and `format`).
fn json_type(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_string();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => format!("array of {}", schema.get("items").map_or_else(String::new, json_type)),
        Some(ty) => match schema.get("format").and_then(Value::as_str) {
            Some(format) => format!("{ty} ({format})"),
            None => ty.to_string(),
        },
        None => ["oneOf", "anyOf", "allOf"]
            .iter()
            .find(|k| schema.get(**k).is_some())
            .map_or_else(String::new, |k| k.to_string()),
    }
}

/// The schema of a request body or response: the JSON media type's, else the first.
fn content_type(body: &Value) -> String {
    let Some(content) = body.get("content").and_then(Value::as_object) else { return String::new() };
    let media = content.get("application/json").or_else(|| content.values().next());
    media.and_then(|m| m.get("schema")).map_or_else(String::new, json_type)
}

fn openapi_reference(document: &Value) -> ApiReference {
    let summary = document.get("info").map_or_else(String::new, |info| text(info, "description"));
    let mut reference = ApiReference { summary, ..ApiReference::default() };
    if let Some(paths) = document.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                let Some(operation) = item.get(method) else { continue };
                let responses = operation.get("responses").and_then(Value::as_object);
                let success = responses.and_then(|r| r.iter().find(|(status, _)| status.starts_with('2')));
                reference.operations.push(OperationDoc {
                    name: format!("{} {path}", method.to_ascii_uppercase()),
                    doc: summary_and_description(operation),
                    input: operation.get("requestBody").map_or_else(String::new, content_type),
                    output: success.map_or_else(String::new, |(_, r)| content_type(r)),
                });
            }
        }
    }
    let schemas = document.pointer("/components/schemas").and_then(Value::as_object);
    for (name, schema) in schemas.into_iter().flatten().take(MAX_TYPES + 1) {
        let required: Vec<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let properties = schema.get("properties").and_then(Value::as_object);
        let mut fields: Vec<FieldDoc> = properties
            .into_iter()
            .flatten()
            .map(|(field, s)| {
                let mut ty = json_type(s);
                if required.contains(&field.as_str()) {
                    ty.push_str(", required");
                }
                FieldDoc { name: field.clone(), ty, doc: text(s, "description") }
            })
            .collect();
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            fields.extend(values.iter().map(|v| FieldDoc {
                name: v.to_string(),
                ty: String::new(),
                doc: String::new(),
            }));
        }
        reference.types.push(TypeDoc {
            name: name.clone(),
            kind: "schema",
            doc: summary_and_description(schema),
            fields,
        });
    }
    reference
}

// ---- GraphQL ------------------------------------------------------------

fn graphql_reference(schema: &apollo_compiler::Schema) -> ApiReference {
    let description = |d: Option<&apollo_compiler::Node<str>>| d.map_or_else(String::new, |d| d.to_string());
    let summary = description(schema.schema_definition.description.as_ref());
    let mut reference = ApiReference { summary, ..ApiReference::default() };
    let roots = [
        ("Query", schema.schema_definition.query.as_ref()),
        ("Mutation", schema.schema_definition.mutation.as_ref()),
        ("Subscription", schema.schema_definition.subscription.as_ref()),
    ];
    for (root, name) in roots {
        let Some(ExtendedType::Object(object)) = name.and_then(|n| schema.types.get(&n.name)) else { continue };
        for (field_name, field) in &object.fields {
            let arguments: Vec<String> = field.arguments.iter().map(|a| format!("{}: {}", a.name, a.ty)).collect();
            reference.operations.push(OperationDoc {
                name: format!("{root}.{field_name}"),
                doc: description(field.description.as_ref()),
                input: arguments.join(", "),
                output: field.ty.to_string(),
            });
        }
    }
    for (name, ty) in schema.types.iter().filter(|(_, t)| !t.is_built_in()) {
        let field = |name: &apollo_compiler::Name, ty: String, d: &Option<apollo_compiler::Node<str>>| FieldDoc {
            name: name.to_string(),
            ty,
            doc: description(d.as_ref()),
        };
        let (kind, fields): (&'static str, Vec<FieldDoc>) = match ty {
            ExtendedType::Object(o) => {
                ("object", o.fields.iter().map(|(n, f)| field(n, f.ty.to_string(), &f.description)).collect())
            }
            ExtendedType::Interface(o) => {
                ("interface", o.fields.iter().map(|(n, f)| field(n, f.ty.to_string(), &f.description)).collect())
            }
            ExtendedType::InputObject(o) => {
                ("input", o.fields.iter().map(|(n, f)| field(n, f.ty.to_string(), &f.description)).collect())
            }
            ExtendedType::Enum(e) => {
                ("enum", e.values.iter().map(|(n, v)| field(n, String::new(), &v.description)).collect())
            }
            ExtendedType::Union(u) => (
                "union",
                u.members
                    .iter()
                    .map(|m| FieldDoc { name: m.to_string(), ty: String::new(), doc: String::new() })
                    .collect(),
            ),
            ExtendedType::Scalar(_) => ("scalar", Vec::new()),
        };
        reference.types.push(TypeDoc { name: name.to_string(), kind, doc: description(ty.description()), fields });
        if reference.types.len() > MAX_TYPES {
            break;
        }
    }
    reference
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::values::SchemaFormat;
    use std::path::Path;

    fn reference(format: SchemaFormat, path: &str, text: &str) -> ApiReference {
        let mut fs = crate::base::fs::MemoryFs::new();
        fs.insert(path, text);
        let (_, schema) = crate::schema::fuzzing::load_text_in(&fs, format, Path::new(path), text);
        schema.expect("the schema loads").reference().expect("it documents something")
    }

    #[test]
    fn proto_comments_document_methods_messages_fields_and_enums() {
        let r = reference(
            SchemaFormat::Proto,
            "/p/a.proto",
            "syntax = \"proto3\";\npackage a.v1;\n// Orders of a shop.\nservice Orders {\n  // Places an order.\n  rpc Place(PlaceRequest) returns (stream Order);\n}\n// What to order.\nmessage PlaceRequest {\n  // The product, <b>by id</b>.\n  string product_id = 1;\n  repeated Line lines = 2;\n  message Line { int32 qty = 1; }\n}\nmessage Order { State state = 1; }\nenum State {\n  // Not yet known.\n  STATE_UNSPECIFIED = 0;\n}\n",
        );
        assert_eq!(
            r.operations,
            [OperationDoc {
                name: "a.v1.Orders/Place".into(),
                doc: "Places an order.".into(),
                input: "a.v1.PlaceRequest".into(),
                output: "stream a.v1.Order".into(),
            }]
        );
        assert_eq!(r.summary, "Orders of a shop.");
        let names: Vec<&str> = r.types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a.v1.PlaceRequest", "a.v1.PlaceRequest.Line", "a.v1.Order", "a.v1.State"]);
        assert_eq!(r.types[0].doc, "What to order.");
        assert_eq!(
            r.types[0].fields[0],
            FieldDoc { name: "product_id".into(), ty: "string".into(), doc: "The product, <b>by id</b>.".into() }
        );
        assert_eq!(r.types[0].fields[1].ty, "repeated a.v1.PlaceRequest.Line");
        assert_eq!(r.types[3].fields[0].doc, "Not yet known.");
    }

    #[test]
    fn openapi_operations_carry_summaries_bodies_and_component_fields() {
        let r = reference(
            SchemaFormat::OpenApi,
            "/p/a.yaml",
            "openapi: 3.0.3\ninfo: {title: a, version: '1'}\npaths:\n  /orders:\n    post:\n      summary: Place an order\n      requestBody:\n        content:\n          application/json:\n            schema: {$ref: '#/components/schemas/Order'}\n      responses:\n        '201':\n          description: placed\n          content:\n            application/json:\n              schema: {type: array, items: {$ref: '#/components/schemas/Order'}}\ncomponents:\n  schemas:\n    Order:\n      description: An order.\n      required: [id]\n      properties:\n        id: {type: string, description: Its id.}\n",
        );
        assert_eq!(r.operations[0].name, "POST /orders");
        assert_eq!(r.operations[0].doc, "Place an order");
        assert_eq!(r.operations[0].input, "Order");
        assert_eq!(r.operations[0].output, "array of Order");
        assert_eq!(r.types[0].doc, "An order.");
        assert_eq!(
            r.types[0].fields[0],
            FieldDoc { name: "id".into(), ty: "string, required".into(), doc: "Its id.".into() }
        );
    }

    #[test]
    fn graphql_descriptions_document_root_fields_and_types() {
        let r = reference(
            SchemaFormat::Graphql,
            "/p/a.graphql",
            "type Query {\n  \"The reviews of a product.\"\n  reviews(productId: ID!): [Review!]!\n}\n\"A review.\"\ntype Review { \"Stars.\" stars: Int }\n",
        );
        assert_eq!(
            r.operations,
            [OperationDoc {
                name: "Query.reviews".into(),
                doc: "The reviews of a product.".into(),
                input: "productId: ID!".into(),
                output: "[Review!]!".into(),
            }]
        );
        let review = r.types.iter().find(|t| t.name == "Review").unwrap();
        assert_eq!((review.kind, review.doc.as_str()), ("object", "A review."));
        assert_eq!(review.fields[0], FieldDoc { name: "stars".into(), ty: "Int".into(), doc: "Stars.".into() });
    }
}
