//! Contracts between consumers and providers: what a consumer reads from a
//! provider's responses (`reads`), and example interactions (`example`) on
//! calls, gateway routes and topics: a request, the response expected, with
//! matchers on response paths, and the provider's state it assumes.

use std::fmt;
use std::ops::Range;

use super::api_versions::ApiVersionRef;
use super::values::Operation;
use super::{GatewayId, Model, PortId, ServiceId, TopicId};
use crate::base::{Span, Spanned};

/// Where a declaration is written, for people and tools reading a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Workspace-relative, `/`-separated.
    pub file: String,
    /// From 1.
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// What a call or route expects of its provider's operation.
#[derive(Debug)]
pub struct Contract {
    /// Where the call or route is declared.
    pub location: Location,
    /// The response fields the consumer depends on (`reads`), in spec order.
    pub reads: Vec<Spanned<FieldPath>>,
    pub examples: Vec<Example>,
}

/// A path into a JSON value: fields by name, `[]` for every item of a list
/// (`items[].sku`; `[].id` for a list at the root); `$` is the whole value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(Vec<Segment>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Field(String),
    Each,
}

impl FieldPath {
    /// `a.b[].c`; `Err` says what is wrong.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        if text == "$" {
            return Ok(FieldPath(Vec::new()));
        }
        let invalid = |why: &str| Err(format!("`{text}` is not a field path: {why}; write it like \"items[].sku\""));
        let mut segments = Vec::new();
        for (i, part) in text.split('.').enumerate() {
            let name_end = part.find('[').unwrap_or(part.len());
            let (name, mut rest) = part.split_at(name_end);
            match name {
                "" if i == 0 && !rest.is_empty() => {}
                "" => return invalid("a field name is empty"),
                name if name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '@' || c == '$') => {
                    segments.push(Segment::Field(name.to_string()));
                }
                _ => return invalid("a field name holds a character other than letters, digits, `_`, `-`"),
            }
            while let Some(after) = rest.strip_prefix("[]") {
                segments.push(Segment::Each);
                rest = after;
            }
            if !rest.is_empty() {
                return invalid("`[]` is the only thing that may follow a field name");
            }
        }
        Ok(FieldPath(segments))
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The path of these segments (a prefix of another path, say).
    pub fn from_segments(segments: &[Segment]) -> FieldPath {
        FieldPath(segments.to_vec())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("$");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Field(name) if i == 0 => f.write_str(name)?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Each => f.write_str("[]")?,
            }
        }
        Ok(())
    }
}

/// A JSON document written in the spec, with where each of its characters
/// is in the spec file, so a diagnostic can point inside it. The model
/// keeps the text: the invalid-example-json pass parses it (MESH0118), and
/// checks and backends read it once that pass found it valid.
#[derive(Debug)]
pub struct JsonText {
    /// The string as the spec gives it (after KDL's escapes and dedent).
    pub text: String,
    /// The whole string in the spec.
    pub span: Span,
    /// Per line of `text`: its start in `text`, and in the spec file when the
    /// line is written there unchanged (raw strings; else `None`).
    lines: Vec<(usize, Option<usize>)>,
}

impl JsonText {
    pub(in crate::model) fn new(text: String, span: Span, source: &str) -> JsonText {
        let literal = source.get(span.range()).unwrap_or_default();
        let mut cursor = 0;
        let mut lines = Vec::new();
        let mut start = 0;
        for line in text.split('\n') {
            let found = literal.get(cursor..).and_then(|rest| rest.find(line)).filter(|_| !line.is_empty());
            let at = found.map(|i| {
                cursor += i + line.len();
                span.start as usize + cursor - line.len()
            });
            lines.push((start, at));
            start += line.len() + 1;
        }
        JsonText { text, span, lines }
    }

    /// The span in the spec of a byte range of `text`: exact within a line
    /// written unchanged, else the whole string.
    pub fn span_of(&self, range: Range<usize>) -> Span {
        let line = self.lines.partition_point(|&(start, _)| start <= range.start).saturating_sub(1);
        match self.lines.get(line) {
            Some(&(start, Some(at))) => {
                let line_end = self.lines.get(line + 1).map_or(self.text.len(), |&(next, _)| next - 1);
                let end = range.end.min(line_end).max(range.start);
                Span::new(self.span.file, at + range.start - start..at + end - start)
            }
            _ => self.span,
        }
    }
}

/// A header or query parameter of an example.
#[derive(Debug)]
pub struct Pair {
    pub name: Spanned<String>,
    pub value: Spanned<String>,
}

/// One example interaction of a call or route: a request to its operation
/// and the response expected.
#[derive(Debug)]
pub struct Example {
    pub name: Spanned<String>,
    /// Provider states the example assumes (`given "product 42 exists"`), in order.
    pub given: Vec<Spanned<String>>,
    pub request: ExampleRequest,
    pub response: ExampleResponse,
    pub location: Location,
    pub span: Span,
}

/// What the consumer sends. The method is its operation's.
#[derive(Debug, Default)]
pub struct ExampleRequest {
    /// HTTP only: the concrete path (`/products/42`); `None`: the
    /// operation's path, which then has no parameters.
    pub path: Option<Spanned<String>>,
    pub query: Vec<Pair>,
    pub headers: Vec<Pair>,
    /// A JSON body; gRPC: the request message in protobuf's JSON mapping.
    pub body: Option<JsonText>,
}

/// What the provider answers.
#[derive(Debug)]
pub struct ExampleResponse {
    /// An HTTP status, or a gRPC status code (0: OK).
    pub status: Spanned<u16>,
    pub headers: Vec<Pair>,
    pub body: Option<JsonText>,
    /// How the actual body is compared with `body`: by default exactly;
    /// a matcher loosens it at a path.
    pub matchers: Vec<Matcher>,
}

/// A rule comparing the value at a path of the actual response with the example's.
#[derive(Debug)]
pub struct Matcher {
    pub path: Spanned<FieldPath>,
    pub rule: Spanned<MatchRule>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MatchRule {
    /// Equal to the example's value.
    Exact,
    /// The same JSON type as the example's value.
    Type,
    /// A string matching the regular expression (the whole string).
    Regex(String),
    /// A list of at least `min` items, each like the example's first.
    EachLike { min: u32 },
    /// A number within the bounds (inclusive).
    Range { min: Option<f64>, max: Option<f64> },
}

impl MatchRule {
    pub fn name(&self) -> &'static str {
        match self {
            MatchRule::Exact => "exact",
            MatchRule::Type => "type",
            MatchRule::Regex(_) => "regex",
            MatchRule::EachLike { .. } => "each-like",
            MatchRule::Range { .. } => "range",
        }
    }
}

/// An example event on a topic: a message contract between its publishers
/// and subscribers.
#[derive(Debug)]
pub struct EventExample {
    pub name: Spanned<String>,
    pub given: Vec<Spanned<String>>,
    /// The schema version it follows (`version=`); `None`: the current one.
    pub version: Option<Spanned<u32>>,
    pub message: JsonText,
    pub location: Location,
    pub span: Span,
}

/// Who consumes a provider's operation: a service's call or a gateway's route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumer {
    Service(ServiceId),
    Gateway(GatewayId),
}

/// One consumer's use of one provider operation, with its contract.
#[derive(Clone, Copy, Debug)]
pub struct ContractUse<'m> {
    pub consumer: Consumer,
    pub provider: ServiceId,
    /// The provider's port the requests go to.
    pub port: PortId,
    pub operation: &'m Spanned<Operation>,
    pub api_version: Option<ApiVersionRef>,
    pub contract: &'m Contract,
    /// The call or route declaring the use.
    pub origin: UseOrigin<'m>,
}

/// What declares a [`ContractUse`].
#[derive(Clone, Copy, Debug)]
pub enum UseOrigin<'m> {
    Call(&'m super::Call),
    /// A gateway's route (a gateway may route several paths to one operation).
    Route(&'m super::Route),
}

impl<'m> ContractUse<'m> {
    /// The route's name, for a gateway's use.
    pub fn route(&self) -> Option<&'m super::Route> {
        match self.origin {
            UseOrigin::Route(route) => Some(route),
            UseOrigin::Call(_) => None,
        }
    }
}

impl Model {
    /// Every declared call and route with an operation, and its contract:
    /// services' calls first (in spec order), then gateways' routes.
    pub fn contract_uses(&self) -> Vec<ContractUse<'_>> {
        let calls = self.service_ids().flat_map(|id| {
            self.service(id).calls.iter().filter_map(move |call| {
                Some(ContractUse {
                    consumer: Consumer::Service(id),
                    provider: call.target.value,
                    port: call.port,
                    operation: call.operation.as_ref()?,
                    api_version: call.api_version,
                    contract: call.contract.as_ref()?,
                    origin: UseOrigin::Call(call),
                })
            })
        });
        let routes = self.gateway_ids().flat_map(|id| {
            self.gateway(id).routes.iter().filter_map(move |route| {
                let forward = route.forward()?;
                let operation = forward.operation.as_ref()?;
                Some(ContractUse {
                    consumer: Consumer::Gateway(id),
                    provider: forward.target.value,
                    port: self.service(forward.target.value).route_port(Some(&operation.value)),
                    operation,
                    api_version: forward.api_versions.as_ref().and_then(|v| v.one()),
                    contract: forward.contract.as_ref()?,
                    origin: UseOrigin::Route(route),
                })
            })
        });
        calls.chain(routes).collect()
    }

    /// A consumer's name: its service's, or `gateway:NAME`.
    pub fn consumer_name(&self, consumer: Consumer) -> String {
        match consumer {
            Consumer::Service(id) => self.service(id).name.value.clone(),
            Consumer::Gateway(id) => format!("gateway:{}", self.gateway(id).name.value),
        }
    }

    /// Every JSON document of the contracts: examples' bodies, topics' example
    /// messages, static fallbacks' bodies.
    pub fn contract_json(&self) -> Vec<&JsonText> {
        let uses = self.contract_uses();
        let examples = uses.iter().flat_map(|u| &u.contract.examples);
        let bodies = examples.flat_map(|e| e.request.body.iter().chain(&e.response.body));
        let fallbacks: Vec<&JsonText> = (self.fallback_uses().into_iter())
            .filter_map(|u| match &u.fallback.kind {
                super::traffic::FallbackKind::Static(response) => response.body.as_ref(),
                _ => None,
            })
            .collect();
        bodies.chain(self.event_examples().map(|(_, e)| &e.message)).chain(fallbacks).collect()
    }

    /// Every topic's example events, with the topic.
    pub fn event_examples(&self) -> impl Iterator<Item = (TopicId, &EventExample)> {
        self.topic_ids().flat_map(move |id| self.topic(id).examples.iter().map(move |e| (id, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_parse_and_print_back() {
        for text in ["id", "items[].sku", "[].id", "a.b.c", "matrix[][]", "$"] {
            assert_eq!(FieldPath::parse(text).map(|p| p.to_string()), Ok(text.to_string()));
        }
        for text in ["", "a..b", "a[0]", "a.", "a b"] {
            assert!(FieldPath::parse(text).is_err(), "{text} parsed");
        }
    }

    #[test]
    fn spans_inside_json_follow_the_source_line_by_line() {
        let source = "body #\"\"\"\n    {\"id\": 1,\n     \"name\": 2}\n    \"\"\"#";
        let text = "{\"id\": 1,\n \"name\": 2}".to_string();
        let span = Span::new(crate::base::FileId(0), 5..source.len());
        let json = JsonText::new(text.clone(), span, source);
        let name = text.find("2}").unwrap();
        let at = json.span_of(name..name + 1);
        assert_eq!(&source[at.range()], "2");
        let id = text.find('1').unwrap();
        assert_eq!(&source[json.span_of(id..id + 1).range()], "1");
    }
}
