//! One GraphQL request, from its JSON (or GET parameters) to the answer's
//! status and body: parse and validate the document, pick the operation,
//! coerce the variables, execute.

use std::time::Instant;

use apollo_compiler::executable::OperationType;
use apollo_compiler::request::coerce_variable_values;
use apollo_compiler::response::{GraphQLError, JsonMap, JsonValue};
use apollo_compiler::ExecutableDocument;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::config::{Config, Root};
use super::execute;
use super::upstream::{UpstreamCall, Upstreams};

/// What a client asked.
#[derive(Debug, Default)]
pub(crate) struct GraphqlRequest {
    pub query: String,
    pub variables: JsonMap,
    pub operation_name: Option<String>,
}

impl GraphqlRequest {
    /// A POST body: `{"query", "variables"?, "operationName"?}`.
    pub fn from_json(body: &[u8]) -> Result<GraphqlRequest, String> {
        let json: Value = serde_json::from_slice(body).map_err(|e| format!("the request body is not JSON: {e}"))?;
        let Value::Object(mut json) = json else {
            return Err("the request body must be a JSON object with `query`".to_string());
        };
        let query = match json.remove("query") {
            Some(Value::String(query)) => query,
            None | Some(Value::Null) => return Err("the request has no `query`".to_string()),
            Some(_) => return Err("`query` must be a string".to_string()),
        };
        let variables = match json.remove("variables") {
            None | Some(Value::Null) => JsonMap::new(),
            Some(object @ Value::Object(_)) => match JsonValue::from(object) {
                JsonValue::Object(map) => map,
                _ => JsonMap::new(),
            },
            Some(_) => return Err("`variables` must be an object".to_string()),
        };
        let operation_name = match json.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name),
            Some(_) => return Err("`operationName` must be a string".to_string()),
        };
        Ok(GraphqlRequest { query, variables, operation_name })
    }

    /// A GET query string: `query=...&variables=<JSON>&operationName=...`
    /// (form encoding: `+` is a space).
    pub fn from_query_string(query_string: &str) -> Result<GraphqlRequest, String> {
        let mut request = GraphqlRequest::default();
        let mut has_query = false;
        for pair in query_string.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| {
                percent_decode_str(&text.replace('+', " "))
                    .decode_utf8()
                    .map(|text| text.into_owned())
                    .map_err(|_| format!("query parameter `{key}` is not UTF-8 once decoded"))
            };
            match decode(key)?.as_str() {
                "query" => {
                    request.query = decode(value)?;
                    has_query = true;
                }
                "variables" => {
                    let text = decode(value)?;
                    if !text.trim().is_empty() {
                        let json: Value = serde_json::from_str(&text)
                            .map_err(|e| format!("the `variables` parameter is not JSON: {e}"))?;
                        request.variables = match JsonValue::from(json) {
                            JsonValue::Object(map) => map,
                            JsonValue::Null => JsonMap::new(),
                            _ => return Err("the `variables` parameter must be a JSON object".to_string()),
                        };
                    }
                }
                "operationName" => {
                    let name = decode(value)?;
                    request.operation_name = (!name.is_empty()).then_some(name);
                }
                _ => {}
            }
        }
        if !has_query {
            return Err("the request has no `query` parameter".to_string());
        }
        Ok(request)
    }
}

/// The answer to one request, with what it took.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    /// `query` or `mutation`, once the operation is known.
    pub operation: Option<&'static str>,
    pub operation_name: Option<String>,
    pub root_fields: Vec<String>,
    pub calls: Vec<UpstreamCall>,
}

impl Answer {
    /// A request error: no `data`, only `errors`.
    pub fn error(status: u16, errors: Vec<GraphQLError>) -> Answer {
        Answer {
            status,
            body: json!({ "errors": errors }),
            operation: None,
            operation_name: None,
            root_fields: Vec::new(),
            calls: Vec::new(),
        }
    }

    pub fn message(status: u16, message: impl Into<String>) -> Answer {
        let error = GraphQLError {
            message: message.into(),
            locations: Vec::new(),
            path: Vec::new(),
            extensions: JsonMap::new(),
        };
        Answer::error(status, vec![error])
    }
}

/// Answers `request`; `via_get` forbids mutations (405). `since` is when
/// the request arrived.
pub(crate) async fn answer(
    config: &Config,
    upstreams: &Upstreams,
    request: GraphqlRequest,
    via_get: bool,
    since: Instant,
) -> Answer {
    let document = match ExecutableDocument::parse_and_validate(&config.schema, request.query, "request.graphql") {
        Ok(document) => document,
        Err(invalid) => return Answer::error(400, invalid.errors.iter().map(|d| d.to_json()).collect()),
    };
    let operation = match document.operations.get(request.operation_name.as_deref()) {
        Ok(operation) => operation,
        Err(e) => return Answer::error(400, vec![e.to_graphql_error(&document.sources)]),
    };
    let named = |mut answer: Answer, kind: &'static str| {
        answer.operation = Some(kind);
        answer.operation_name = operation.name.as_ref().map(|name| name.to_string());
        answer
    };
    let (root, kind) = match operation.operation_type {
        OperationType::Query => (Root::Query, "query"),
        OperationType::Mutation if via_get => {
            return named(Answer::message(405, "mutations are served over POST only"), "mutation");
        }
        OperationType::Mutation => (Root::Mutation, "mutation"),
        OperationType::Subscription => {
            return named(Answer::message(400, "subscriptions are not served"), "subscription");
        }
    };
    let variables = match coerce_variable_values(&config.schema, operation, &request.variables) {
        Ok(variables) => variables,
        Err(e) => return named(Answer::error(400, vec![e.to_graphql_error(&document.sources)]), kind),
    };
    match execute::execute(config, upstreams, &document, operation, root, &variables, since).await {
        Ok(executed) => {
            let body = serde_json::to_value(&executed.response)
                .unwrap_or_else(|e| json!({ "errors": [{ "message": format!("the response as JSON: {e}") }] }));
            Answer {
                status: 200,
                body,
                operation: Some(kind),
                operation_name: operation.name.as_ref().map(|name| name.to_string()),
                root_fields: executed.root_fields,
                calls: executed.calls,
            }
        }
        Err(e) => named(Answer::error(400, vec![e.to_graphql_error(&document.sources)]), kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_parameters_are_form_decoded() {
        let request =
            GraphqlRequest::from_query_string("query=%7B+a+%7D&variables=%7B%22x%22%3A1%7D&operationName=").unwrap();
        assert_eq!(request.query, "{ a }");
        assert_eq!(serde_json::to_string(&request.variables).unwrap(), r#"{"x":1}"#);
        assert_eq!(request.operation_name, None);
        assert!(GraphqlRequest::from_query_string("variables=%7B%7D").unwrap_err().contains("no `query`"));
        assert!(GraphqlRequest::from_query_string("query=x&variables=%5B%5D").unwrap_err().contains("JSON object"));
    }

    #[test]
    fn post_bodies_need_a_query_string() {
        assert!(GraphqlRequest::from_json(b"{").unwrap_err().contains("not JSON"));
        assert!(GraphqlRequest::from_json(b"[]").unwrap_err().contains("JSON object"));
        assert!(GraphqlRequest::from_json(br#"{"query": 1}"#).unwrap_err().contains("must be a string"));
        assert!(GraphqlRequest::from_json(br#"{"query": "{a}", "variables": 2}"#).unwrap_err().contains("object"));
        let request =
            GraphqlRequest::from_json(br#"{"query": "{a}", "operationName": "A", "extensions": {}}"#).unwrap();
        assert_eq!((request.query.as_str(), request.operation_name.as_deref()), ("{a}", Some("A")));
    }
}
