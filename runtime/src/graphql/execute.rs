//! Executing one operation with apollo's executor, root fields resolved by
//! their upstream calls.
//!
//! apollo resolves fields one after another. For a query the upstream
//! calls still run concurrently: a first pass ([`Pass::Collect`]) only
//! records which root fields are selected with which arguments (and skips
//! them), then every distinct (field, arguments) is fetched at once, and a
//! second pass answers from the results ([`Pass::Prefetched`]). A
//! mutation's root fields call their upstreams in order, one after the
//! other ([`Pass::Serial`]), as GraphQL's serial execution requires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use apollo_compiler::executable::Operation;
use apollo_compiler::request::RequestError;
use apollo_compiler::resolvers::{AsyncObjectValue, AsyncResolvedValue, Execution, FieldError, ResolveInfo};
use apollo_compiler::response::{ExecutionResponse, JsonMap, JsonValue};
use apollo_compiler::validation::Valid;
use apollo_compiler::ExecutableDocument;
use futures::future::BoxFuture;

use super::config::{Config, Root};
use super::upstream::{UpstreamCall, Upstreams};
use super::value;

/// The response with what it took.
pub(crate) struct Executed {
    pub response: ExecutionResponse,
    /// The root fields resolved (field names, aliases not applied), in
    /// selection order, once per response key.
    pub root_fields: Vec<String>,
    pub calls: Vec<UpstreamCall>,
}

/// Executes `operation` (a query or mutation, `root`) of `document` with
/// coerced `variables`; `since` is the start of the request.
pub(crate) async fn execute(
    config: &Config,
    upstreams: &Upstreams,
    document: &Valid<ExecutableDocument>,
    operation: &Operation,
    root: Root,
    variables: &Valid<JsonMap>,
    since: Instant,
) -> Result<Executed, RequestError> {
    let execution = Execution::new(&config.schema, document)
        .operation(operation)
        .coerced_variable_values(variables)
        .enable_schema_introspection(config.introspection);
    let type_name = operation.object_type().as_str();
    match root {
        Root::Query => {
            let selected = Mutex::new(Vec::new());
            execution.execute_async(&RootObject { type_name, pass: Pass::Collect(&selected) }).await?;
            let selected = selected.into_inner().unwrap_or_else(|e| e.into_inner());
            let root_fields: Vec<String> = selected.iter().map(|(name, _)| name.clone()).collect();

            let mut distinct: Vec<(String, String, JsonMap)> = Vec::new();
            for (name, arguments) in selected {
                let key = arguments_key(&arguments);
                if !distinct.iter().any(|(n, k, _)| *n == name && *k == key) {
                    distinct.push((name, key, arguments));
                }
            }
            let fetches = distinct.iter().map(|(name, _, arguments)| async move {
                match config.resolvers.get(&(root, name.clone())) {
                    Some(resolver) => {
                        let (result, call) = upstreams.call(resolver, arguments, since).await;
                        (result, Some(call))
                    }
                    None => (Err(format!("no resolver for {}.{name}", root.name())), None),
                }
            });
            let fetched = futures::future::join_all(fetches).await;
            let mut calls = Vec::new();
            let mut results = HashMap::new();
            for ((name, key, _), (result, call)) in distinct.into_iter().zip(fetched) {
                calls.extend(call);
                results.insert((name, key), result);
            }
            let response = execution.execute_async(&RootObject { type_name, pass: Pass::Prefetched(&results) }).await?;
            Ok(Executed { response, root_fields, calls })
        }
        Root::Mutation => {
            let serial =
                Serial { config, upstreams, since, calls: Mutex::new(Vec::new()), fields: Mutex::new(Vec::new()) };
            let response = execution.execute_async(&RootObject { type_name, pass: Pass::Serial(&serial) }).await?;
            Ok(Executed {
                response,
                root_fields: serial.fields.into_inner().unwrap_or_else(|e| e.into_inner()),
                calls: serial.calls.into_inner().unwrap_or_else(|e| e.into_inner()),
            })
        }
    }
}

/// Coerced arguments as a map key: apollo orders them as the field
/// definition does, so equal arguments give equal text.
fn arguments_key(arguments: &JsonMap) -> String {
    serde_json::to_string(arguments).unwrap_or_default()
}

/// apollo's root object for one pass over the operation.
struct RootObject<'p> {
    type_name: &'p str,
    pass: Pass<'p>,
}

/// How a pass resolves the root fields.
#[derive(Clone, Copy)]
enum Pass<'p> {
    /// The first pass of a query: records each selected root field with
    /// its arguments and leaves it out of the response.
    Collect(&'p Mutex<Vec<(String, JsonMap)>>),
    /// The second pass of a query: root fields answered from the fetched
    /// results, keyed by (field name, arguments).
    Prefetched(&'p HashMap<(String, String), Result<JsonValue, String>>),
    /// A mutation: each field calls its upstream when apollo gets to it.
    Serial(&'p Serial<'p>),
}

/// A mutation's calls and fields, as they are made.
struct Serial<'c> {
    config: &'c Config,
    upstreams: &'c Upstreams,
    since: Instant,
    calls: Mutex<Vec<UpstreamCall>>,
    fields: Mutex<Vec<String>>,
}

impl AsyncObjectValue for RootObject<'_> {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> BoxFuture<'a, Result<AsyncResolvedValue<'a>, FieldError>> {
        match self.pass {
            Pass::Collect(selected) => {
                let entry = (info.field_name().to_string(), info.arguments().clone());
                selected.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
                Box::pin(std::future::ready(Ok(AsyncResolvedValue::SkipForPartialExecution)))
            }
            Pass::Prefetched(results) => {
                let key = (info.field_name().to_string(), arguments_key(info.arguments()));
                let resolved = match results.get(&key) {
                    Some(Ok(json)) => value::resolve(info.schema(), &info.field_definition().ty, json.clone()),
                    Some(Err(message)) => Err(FieldError { message: message.clone() }),
                    None => Err(FieldError { message: format!("`{}` was not fetched", info.field_name()) }),
                };
                Box::pin(std::future::ready(resolved))
            }
            Pass::Serial(serial) => Box::pin(async move {
                let name = info.field_name();
                serial.fields.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
                let Some(resolver) = serial.config.resolvers.get(&(Root::Mutation, name.to_string())) else {
                    return Err(FieldError { message: format!("no resolver for Mutation.{name}") });
                };
                let (result, call) = serial.upstreams.call(resolver, info.arguments(), serial.since).await;
                serial.calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
                match result {
                    Ok(json) => value::resolve(info.schema(), &info.field_definition().ty, json),
                    Err(message) => Err(FieldError { message }),
                }
            }),
        }
    }
}
