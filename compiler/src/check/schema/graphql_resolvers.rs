//! A GraphQL API the mesh composes (an `api` with `resolve` children) must
//! resolve every Query and Mutation field, and each resolver's operation
//! must fit its field: the field's arguments fill the operation's request,
//! and the operation's response fills the field's type, down to the fields
//! a client may select. Query fields must be safe to repeat.

use std::collections::HashSet;

use crate::base::Span;
use crate::diag::{did_you_mean, Code, Diagnostic, Sink};
use crate::model::values::{GraphqlRoot, HttpMethod, Operation};
use crate::model::{Api, Model, Resolver, Service};
use crate::schema::shape::{FieldShape, Scalar, Shape, Slot};
use crate::schema::{ArgumentSignature, FieldSignature, GraphqlType, Schema, SchemaIndex, TypeOf, TypeRef};

pub fn run(model: &Model, schemas: &SchemaIndex, sink: &mut Sink) {
    for service in &model.services {
        for api in service.apis.iter().filter(|a| !a.resolvers.is_empty()) {
            let Some(graphql) = schemas.get(api.schema) else { continue };
            unresolved_fields(service, api, graphql, sink);
            for resolver in &api.resolvers {
                check_resolver(model, schemas, api, graphql, resolver, sink);
            }
        }
    }
}

/// One MESH0026 per API, naming every Query and Mutation field without a resolver.
fn unresolved_fields(service: &Service, api: &Api, graphql: &Schema, sink: &mut Sink) {
    let resolved: HashSet<String> = api.resolvers.iter().map(|r| r.field.value.key()).collect();
    let missing: Vec<_> = graphql
        .operations
        .iter()
        .filter(|d| !matches!(d.operation, Operation::Graphql { root: GraphqlRoot::Subscription, .. }))
        .filter(|d| !resolved.contains(&d.operation.key()))
        .collect();
    let Some(first) = missing.first() else { return };
    let mut names: Vec<String> = missing.iter().take(5).map(|d| format!("`{}`", d.operation)).collect();
    if missing.len() > 5 {
        names.push(format!("and {} more", missing.len() - 5));
    }
    let mut d = Diagnostic::new(
        Code::UnresolvedGraphqlField,
        format!(
            "GraphQL API `{}` of service `{}` does not resolve {}",
            api.name.value,
            service.name.value,
            names.join(", ")
        ),
    )
    .at(api.name.span, "composed API with unresolved fields")
    .help(format!(
        "add a resolver for each, e.g. resolve \"{}\" service=\"...\" operation=\"...\", or remove the field from the schema",
        first.operation
    ));
    if let Some(span) = first.span {
        d = d.with_label(span, "defined here without a resolver");
    }
    sink.push(d);
}

fn check_resolver(
    model: &Model,
    schemas: &SchemaIndex,
    api: &Api,
    graphql: &Schema,
    resolver: &Resolver,
    sink: &mut Sink,
) {
    let field = &resolver.field;
    let Some(signature) = graphql.graphql_signature(&field.value) else {
        let names: Vec<String> = graphql.operations.iter().map(|d| d.operation.to_string()).collect();
        let wanted = field.value.to_string();
        let best = did_you_mean(&wanted, names.iter().map(String::as_str));
        sink.push(
            Diagnostic::new(
                Code::UnknownOperation,
                format!("GraphQL API `{}` has no root field `{wanted}`", api.name.value),
            )
            .at(field.span, "not a field of this API's schema")
            .help(match best {
                Some(b) => format!("did you mean `{b}`?"),
                None => "resolve a field of the schema's Query or Mutation type".to_string(),
            }),
        );
        return;
    };
    let definition = graphql.find(&field.value).and_then(|d| d.span);
    let operation = &resolver.operation.value;
    // An operation the target does not define is reported by the unknown-operation pass.
    let Some(backend) = schemas.defining(model, resolver.target.value, operation) else { return };

    if let (Operation::Graphql { root: GraphqlRoot::Query, .. }, Operation::Rest { method, .. }) =
        (&field.value, operation)
    {
        if !matches!(method, HttpMethod::Get | HttpMethod::Head | HttpMethod::Options) {
            let mut d = Diagnostic::new(
                Code::UnsafeQueryResolver,
                format!("query field `{}` is resolved by `{operation}`, which changes state", field.value),
            )
            .at(resolver.operation.span, format!("a {method} request"))
            .help(
                "clients and caches may repeat queries: make the field a Mutation, or resolve it with a GET operation",
            );
            if let Some(span) = definition {
                d = d.with_label(span, "a Query field");
            }
            sink.push(d);
        }
    }

    let mut compare = Compare::new(graphql);
    match operation {
        Operation::Grpc { .. } => {
            if let Some((input, output)) = backend.grpc_messages(operation) {
                compare.grpc_arguments(signature, &input);
                report(sink, Code::ResolverArgumentMismatch, resolver, definition, compare.take());
                let whole = Slot { shape: output, optional: false };
                compare.output(&field.value.to_string(), &signature.result, &whole);
                report(sink, Code::ResolverResultMismatch, resolver, definition, compare.take());
            }
        }
        Operation::Rest { .. } => {
            if let Some(rest) = backend.rest_shapes(operation) {
                compare.rest_arguments(signature, resolver, &rest);
                report(sink, Code::ResolverArgumentMismatch, resolver, definition, compare.take());
                match &rest.response {
                    Some(response) => compare.output(&field.value.to_string(), &signature.result, response),
                    None => compare.problem(
                        format!("`{operation}` declares no JSON body for its success response"),
                        "declare the 2xx response's application/json schema in the OpenAPI document",
                    ),
                }
                report(sink, Code::ResolverResultMismatch, resolver, definition, compare.take());
            }
        }
        Operation::Graphql { .. } => {} // ruled out when the spec is read
    }
}

/// One diagnostic per resolver and direction: the first problem in the
/// message after `headline`, the others as notes.
fn report(sink: &mut Sink, code: Code, resolver: &Resolver, definition: Option<Span>, problems: Vec<Problem>) {
    let mut problems = problems.into_iter();
    let Some(first) = problems.next() else { return };
    let (field, operation) = (&resolver.field.value, &resolver.operation.value);
    let headline = match code {
        Code::ResolverArgumentMismatch => format!("the arguments of `{field}` do not fit `{operation}`"),
        _ => format!("`{operation}` cannot fill the result of `{field}`"),
    };
    let mut d = Diagnostic::new(code, format!("{headline}: {}", first.message))
        .at(resolver.operation.span, "resolved by this operation")
        .help(first.help);
    match (first.site, definition) {
        (Some(site), _) => d = d.with_label(site, "declared here"),
        (None, Some(span)) => d = d.with_label(span, "the GraphQL field"),
        (None, None) => {}
    }
    for more in problems.take(9) {
        d = d.note(more.message);
    }
    sink.push(d);
}

struct Problem {
    message: String,
    help: String,
    /// The SDL field definition the problem is about, when it is nested.
    site: Option<Span>,
}

/// Compares GraphQL types with backend shapes, collecting problems. Object
/// pairs already compared are skipped, so recursive types terminate.
struct Compare<'g> {
    graphql: &'g Schema,
    seen: HashSet<(String, String, bool)>,
    problems: Vec<Problem>,
    /// The object field being compared, for pointing into the SDL.
    site: Option<Span>,
}

impl<'g> Compare<'g> {
    fn new(graphql: &'g Schema) -> Self {
        Compare { graphql, seen: HashSet::new(), problems: Vec::new(), site: None }
    }

    fn take(&mut self) -> Vec<Problem> {
        self.seen.clear();
        std::mem::take(&mut self.problems)
    }

    fn problem(&mut self, message: impl Into<String>, help: impl Into<String>) {
        self.problems.push(Problem { message: message.into(), help: help.into(), site: self.site });
    }

    // ---- arguments → request ------------------------------------------------

    fn grpc_arguments(&mut self, signature: &FieldSignature, input: &Shape<'_>) {
        let Shape::Object(message) = input else { return };
        let fields = message.fields();
        for argument in &signature.arguments {
            match find_input(&fields, &argument.name) {
                Some(field) => self.input(&format!("argument `{}`", argument.name), argument, &field.slot),
                None => self.unknown_member(
                    &format!("argument `{}`", argument.name),
                    &argument.name,
                    &message.name(),
                    &fields,
                ),
            }
        }
    }

    fn rest_arguments(
        &mut self,
        signature: &FieldSignature,
        resolver: &Resolver,
        rest: &crate::schema::RestShapes<'_>,
    ) {
        let operation = &resolver.operation.value;
        let body_argument = resolver.body.as_ref().map(|b| b.value.as_str());
        for argument in &signature.arguments {
            let label = format!("argument `{}`", argument.name);
            if Some(argument.name.as_str()) == body_argument {
                match &rest.body {
                    Some((required, slot)) => {
                        if *required && !argument.ty.non_null {
                            self.problem(
                                format!("{label} carries the request body `{operation}` requires, but may be null"),
                                format!("declare it non-null: {}: {}!", argument.name, argument.ty),
                            );
                        }
                        self.input(&label, argument, slot);
                    }
                    None => self.problem(
                        format!("{label} is sent as the request body, but `{operation}` takes no body"),
                        "remove `body=` from the resolver",
                    ),
                }
                continue;
            }
            match rest.parameters.iter().find(|p| p.name == argument.name) {
                Some(p) if p.location == "cookie" => self.problem(
                    format!("{label} matches a cookie parameter of `{operation}`; resolvers do not send cookies"),
                    "rename the argument, or pass the value as a header or query parameter",
                ),
                Some(p) => {
                    if p.required && !argument.ty.non_null && argument.default.is_none() {
                        self.problem(
                            format!(
                                "{label} fills {} parameter `{}`, which is required, but may be null",
                                p.location, p.name
                            ),
                            format!("declare it non-null: {}: {}!", argument.name, argument.ty),
                        );
                    }
                    self.input(&label, argument, &p.slot);
                }
                None => {
                    let names: Vec<&str> = rest.parameters.iter().map(|p| p.name.as_str()).collect();
                    let help = match did_you_mean(&argument.name, names.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`? Arguments fill parameters of the same name"),
                        None if rest.body.is_some() => {
                            format!("if it is the request body, say so: body=\"{}\"", argument.name)
                        }
                        None => format!("parameters of `{operation}`: {}", list_or_none(&names)),
                    };
                    self.problem(format!("{label} is not a parameter of `{operation}`"), help);
                }
            }
        }
        let given = |name: &str| signature.arguments.iter().any(|a| a.name == name);
        for p in rest.parameters.iter().filter(|p| p.required && !given(&p.name)) {
            self.problem(
                format!("`{operation}` requires {} parameter `{}`, which no argument fills", p.location, p.name),
                format!("add an argument `{}` to the field", p.name),
            );
        }
        match (&rest.body, body_argument) {
            (Some((true, _)), None) => self.problem(
                format!("`{operation}` requires a JSON request body"),
                "name the argument that carries it: body=\"input\"",
            ),
            (_, Some(name)) if !given(name) => self.problem(
                format!("`body=\"{name}\"` names no argument of `{}`", resolver.field.value),
                format!(
                    "arguments of the field: {}",
                    list_or_none(&signature.arguments.iter().map(|a| a.name.as_str()).collect::<Vec<_>>())
                ),
            ),
            _ => {}
        }
    }

    /// A GraphQL input value flowing into a request slot.
    fn input(&mut self, path: &str, argument: &ArgumentSignature, slot: &Slot<'_>) {
        self.input_type(path, &argument.ty, &slot.shape);
    }

    fn input_type(&mut self, path: &str, ty: &TypeRef, shape: &Shape<'_>) {
        match (&ty.of, shape) {
            (_, Shape::Any) => {}
            (TypeOf::List(inner), Shape::List(item)) => self.input_type(&format!("{path}[]"), inner, &item.shape),
            (TypeOf::List(_), other) => self.mismatch(path, ty, other, "a list"),
            (TypeOf::Named(_), Shape::List(_)) => self.mismatch(path, ty, shape, "a single value"),
            (TypeOf::Named(name), shape) => self.input_named(path, ty, name, shape),
        }
    }

    fn input_named(&mut self, path: &str, ty: &TypeRef, name: &str, shape: &Shape<'_>) {
        match self.graphql.graphql_type(name) {
            Some(GraphqlType::Scalar { builtin: true }) => {
                let Shape::Scalar(scalar) = shape else {
                    return self.mismatch(path, ty, shape, describe(shape));
                };
                let fits = match name {
                    "String" => matches!(scalar, Scalar::String | Scalar::Bytes | Scalar::Int64),
                    "ID" => matches!(scalar, Scalar::String | Scalar::Int64),
                    "Int" => !matches!(scalar, Scalar::String | Scalar::Bool | Scalar::Bytes),
                    "Float" => *scalar == Scalar::Float,
                    "Boolean" => *scalar == Scalar::Bool,
                    _ => true,
                };
                if !fits {
                    self.mismatch(path, ty, shape, scalar.describe());
                }
            }
            Some(GraphqlType::Enum { values }) => match shape {
                Shape::Enum { name: backend, values: accepted } => {
                    let unknown: Vec<&String> = values.iter().filter(|v| !accepted.contains(v)).collect();
                    if !unknown.is_empty() {
                        self.problem(
                            format!("{path}: enum `{name}` has values `{backend}` does not accept: {}", join(&unknown)),
                            format!("remove them from `{name}`, or add them to `{backend}`"),
                        );
                    }
                }
                Shape::Scalar(Scalar::String) => {}
                other => self.mismatch(path, ty, other, describe(other)),
            },
            Some(GraphqlType::InputObject { fields }) => {
                let Shape::Object(object) = shape else {
                    return self.mismatch(path, ty, shape, describe(shape));
                };
                if !self.seen.insert((name.to_string(), object.key(), false)) {
                    return;
                }
                let backend = object.fields();
                for field in &fields {
                    let inner = format!("{path}.{}", field.name);
                    match find_input(&backend, &field.name) {
                        Some(b) => {
                            if b.required && !field.ty.non_null && field.default.is_none() {
                                self.problem(
                                    format!("{inner}: `{}` requires `{}`, but it may be null", object.name(), b.name),
                                    format!("declare it non-null in input `{name}`: {}: {}!", field.name, field.ty),
                                );
                            }
                            self.input_type(&inner, &field.ty, &b.slot.shape);
                        }
                        None => self.unknown_member(&inner, &field.name, &object.name(), &backend),
                    }
                }
                for b in backend.iter().filter(|b| b.required) {
                    if !fields.iter().any(|f| f.name == b.name || b.alias.as_deref() == Some(&f.name)) {
                        self.problem(
                            format!(
                                "{path}: `{}` requires `{}`, which input `{name}` does not have",
                                object.name(),
                                b.name
                            ),
                            format!("add a field `{}` to input `{name}`", b.name),
                        );
                    }
                }
            }
            // Custom scalars carry any JSON; object types cannot be inputs in a valid schema.
            _ => {}
        }
    }

    // ---- response → result ------------------------------------------------

    /// A backend value flowing into a GraphQL output type.
    fn output(&mut self, path: &str, ty: &TypeRef, slot: &Slot<'_>) {
        if ty.non_null && slot.optional {
            self.problem(
                format!("{path} is `{ty}`, but the backend may leave it null or out"),
                format!("make it nullable in the GraphQL schema (drop the `!` of `{ty}`), or make the backend's field required"),
            );
        }
        match (&ty.of, &slot.shape) {
            (_, Shape::Any) => {}
            (TypeOf::List(inner), Shape::List(item)) => self.output(&format!("{path}[]"), inner, item),
            (TypeOf::List(_), other) => self.mismatch(path, ty, other, describe(other)),
            (TypeOf::Named(_), Shape::List(_)) => self.mismatch(path, ty, &slot.shape, "a list"),
            (TypeOf::Named(name), shape) => self.output_named(path, ty, name, shape),
        }
    }

    fn output_named(&mut self, path: &str, ty: &TypeRef, name: &str, shape: &Shape<'_>) {
        match self.graphql.graphql_type(name) {
            Some(GraphqlType::Scalar { builtin: true }) => {
                let fits = match (name, shape) {
                    ("String", Shape::Enum { .. }) => true,
                    (_, Shape::Scalar(scalar)) => match name {
                        "String" => matches!(scalar, Scalar::String | Scalar::Bytes | Scalar::Int64),
                        "ID" => !matches!(scalar, Scalar::Bool | Scalar::Float | Scalar::Bytes),
                        "Int" => matches!(scalar, Scalar::Int32 | Scalar::UInt32 | Scalar::Integer),
                        "Float" => matches!(scalar, Scalar::Float | Scalar::Int32 | Scalar::UInt32 | Scalar::Integer),
                        "Boolean" => *scalar == Scalar::Bool,
                        _ => true,
                    },
                    _ => false,
                };
                if !fits {
                    self.mismatch(path, ty, shape, describe(shape));
                }
            }
            Some(GraphqlType::Enum { values }) => match shape {
                Shape::Enum { name: backend, values: sent } => {
                    let unknown: Vec<&String> = sent.iter().filter(|v| !values.contains(v)).collect();
                    if !unknown.is_empty() {
                        self.problem(
                            format!("{path}: `{backend}` has values enum `{name}` lacks: {}", join(&unknown)),
                            format!("add them to enum `{name}`"),
                        );
                    }
                }
                Shape::Scalar(Scalar::String) => {}
                other => self.mismatch(path, ty, other, describe(other)),
            },
            Some(GraphqlType::Object { fields }) => {
                let Shape::Object(object) = shape else {
                    return self.mismatch(path, ty, shape, describe(shape));
                };
                if !self.seen.insert((name.to_string(), object.key(), true)) {
                    return;
                }
                let backend = object.fields();
                for field in &fields {
                    let inner = format!("{path}.{}", field.name);
                    let outer = std::mem::replace(&mut self.site, field.range.clone().map(|r| self.graphql.span(r)));
                    match backend.iter().find(|b| b.name == field.name) {
                        Some(b) => self.output(&inner, &field.ty, &b.slot),
                        None => self.unknown_member(&inner, &field.name, &object.name(), &backend),
                    }
                    self.site = outer;
                }
            }
            Some(GraphqlType::Abstract) if !matches!(shape, Shape::Object(_)) => {
                self.mismatch(path, ty, shape, describe(shape))
            }
            // Custom scalars pass any JSON through; abstract types need `__typename` at run time.
            _ => {}
        }
    }

    // ---- shared -------------------------------------------------------------

    fn mismatch(&mut self, path: &str, ty: &TypeRef, shape: &Shape<'_>, backend: &str) {
        let help = match (ty.innermost(), shape) {
            ("Int" | "Float", Shape::Scalar(Scalar::Int64)) => {
                "64-bit integers are JSON strings in protobuf's JSON mapping: use `String`, `ID` or a custom scalar"
                    .to_string()
            }
            _ => format!("change the GraphQL type to one that {backend} fits, or use a custom scalar"),
        };
        self.problem(format!("{path} is `{ty}`, but the backend has {backend}"), help);
    }

    fn unknown_member(&mut self, path: &str, name: &str, object: &str, fields: &[FieldShape<'_>]) {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        let help = match fields.iter().find(|f| f.alias.as_deref() == Some(name)) {
            Some(f) => format!("protobuf field `{name}` is `{}` in JSON: use that name", f.name),
            None => match did_you_mean(name, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("fields of `{object}`: {}", list_or_none(&names)),
            },
        };
        self.problem(format!("{path}: `{object}` has no field `{name}`"), help);
    }
}

/// A request member by its wire name or its alias (proto field name).
fn find_input<'f, 's>(fields: &'f [FieldShape<'s>], name: &str) -> Option<&'f FieldShape<'s>> {
    fields.iter().find(|f| f.name == name || f.alias.as_deref() == Some(name))
}

fn describe(shape: &Shape<'_>) -> &'static str {
    match shape {
        Shape::Scalar(s) => s.describe(),
        Shape::Enum { .. } => "an enum",
        Shape::Object(_) => "an object",
        Shape::List(_) => "a list",
        Shape::Any => "any JSON value",
    }
}

fn join(values: &[&String]) -> String {
    values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    }
}
