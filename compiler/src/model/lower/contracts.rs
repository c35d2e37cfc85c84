//! Contracts: `reads` and `example` on calls and routes, `example` on topics.

use std::ops::Deref;

use super::read::{self, Once};
use super::{Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{Code, Diagnostic};
use crate::model::contracts::{
    Contract, EventExample, Example, ExampleRequest, ExampleResponse, FieldPath, JsonText, Location, MatchRule,
    Matcher, Pair,
};
use crate::syntax::{Entry, Node, Value};

const EXAMPLE_CHILDREN: &[&str] = &["given", "request", "response"];
const REQUEST_CHILDREN: &[&str] = &["query", "header", "body"];
const RESPONSE_CHILDREN: &[&str] = &["header", "body", "match"];
const MATCH_RULES: &[&str] = &["exact", "type", "regex", "each-like", "range"];

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// Where `span` starts, as `file:line`.
    pub(super) fn location(&self, span: Span) -> Location {
        let file = self.sources.get(span.file);
        let line = file.line_of(span.start as usize) + 1;
        Location { file: file.display.clone(), line: u32::try_from(line).unwrap_or(u32::MAX) }
    }

    /// The contract of a call or route (`node`) to `operation`'s provider:
    /// its `reads` and `example` children. Without an operation there is
    /// nothing to hold a contract against: `Some(None)`. `None`: a child
    /// did not lower, or is given without an operation (reported).
    pub(super) fn contract(&mut self, node: &Node, has_operation: bool) -> Option<Option<Contract>> {
        let children = || node.children().iter().filter(|c| c.name == "reads" || c.name == "example");
        if !has_operation {
            if let Some(child) = children().next() {
                self.sink.push(
                    Diagnostic::new(
                        Code::ContractWithoutOperation,
                        format!("`{}` needs an operation to hold a contract against", child.name),
                    )
                    .at(child.name_span, "no operation to check this against")
                    .with_label(node.name_span, "names no operation")
                    .help("name the provider's operation: operation=\"GET /products/{productId}\""),
                );
                return None;
            }
            return Some(None);
        }
        let mut contract = Contract { location: self.location(node.span), reads: Vec::new(), examples: Vec::new() };
        let mut failed = false;
        for child in children() {
            if child.name == "reads" {
                read::check_entries(child, usize::MAX, &[], self.sink);
                read::no_children(child, self.sink);
                if child.arguments().next().is_none() {
                    read::string_arg(child, 0, "a field path", "reads \"id\" \"items[].sku\"", self.sink);
                    failed = true;
                }
                for entry in child.arguments() {
                    match self.field_path(entry) {
                        Some(path) => contract.reads.push(path),
                        None => failed = true,
                    }
                }
            } else {
                match self.example(child) {
                    Some(example) => contract.examples.push(example),
                    None => failed = true,
                }
            }
        }
        (!failed).then_some(Some(contract))
    }

    fn field_path(&mut self, entry: &Entry) -> Option<Spanned<FieldPath>> {
        let text = match &entry.value {
            Value::String(s) => Spanned::new(s.clone(), entry.span),
            other => {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        format!("a field path must be a string, found {}", other.type_name()),
                    )
                    .at(entry.span, "expected a string")
                    .help("for example: \"items[].sku\""),
                );
                return None;
            }
        };
        read::parse(&text, |t| FieldPath::parse(t), self.sink).map(|p| Spanned::new(p, text.span))
    }

    /// The example's name and its `given` states; `None` if they do not lower.
    fn example_head(&mut self, node: &Node) -> Option<(Spanned<String>, Vec<Spanned<String>>)> {
        let name = read::string_arg(node, 0, "a name", "example \"a product\" { ... }", self.sink);
        let mut given = Vec::new();
        let mut failed = false;
        for child in node.children().iter().filter(|c| c.name == "given") {
            read::check_entries(child, 1, &[], self.sink);
            read::no_children(child, self.sink);
            match read::string_arg(child, 0, "a provider state", "given \"product 42 exists\"", self.sink) {
                Some(state) => given.push(state),
                None => failed = true,
            }
        }
        (!failed).then_some((name?, given))
    }

    fn example(&mut self, node: &Node) -> Option<Example> {
        read::check_entries(node, 1, &[], self.sink);
        let head = self.example_head(node);
        let mut once = Once::default();
        let mut request = Some(ExampleRequest::default());
        let mut response = None;
        let mut failed = false;
        for child in node.children() {
            match child.name.as_str() {
                "given" => {}
                "request" if once.first(child, self.sink) => request = self.example_request(child),
                "response" if once.first(child, self.sink) => {
                    response = self.example_response(child);
                    failed |= response.is_none();
                }
                "request" | "response" => failed = true,
                _ => {
                    read::unknown_child(child, "example", EXAMPLE_CHILDREN, self.sink);
                    failed = true;
                }
            }
        }
        if !node.children().iter().any(|c| c.name == "response") {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "an `example` needs the `response` it expects")
                    .at(node.name_span, "no `response`")
                    .help("for example: response status=200 { body #\"{\"id\": \"42\"}\"# }"),
            );
            failed = true;
        }
        let (name, given) = head?;
        if failed {
            return None;
        }
        Some(Example {
            name,
            given,
            request: request?,
            response: response?,
            location: self.location(node.span),
            span: node.span,
        })
    }

    /// A topic's `example`: a message its publishers send.
    pub(super) fn event_example(&mut self, node: &Node) -> Option<EventExample> {
        read::check_entries(node, 1, &["version"], self.sink);
        let head = self.example_head(node);
        let version = match read::int_prop(node, "version", None, self.sink) {
            Some(n) => Some(
                read::parse(&n, |v| read::bounded(*v, 1, u32::MAX, "a version"), self.sink)
                    .map(|v| Spanned::new(v, n.span))?,
            ),
            None if node.property("version").is_some() => return None,
            None => None,
        };
        let mut message = None;
        let mut once = Once::default();
        let mut failed = false;
        for child in node.children() {
            match child.name.as_str() {
                "given" => {}
                "message" if once.first(child, self.sink) => {
                    message = self.json_child(child, "message");
                    failed |= message.is_none();
                }
                "message" => failed = true,
                _ => {
                    read::unknown_child(child, "example", &["given", "message"], self.sink);
                    failed = true;
                }
            }
        }
        if !failed && message.is_none() {
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "a topic's `example` needs the `message` its publishers send")
                    .at(node.name_span, "no `message`")
                    .help("for example: message #\"{\"reviewId\": \"r-1\"}\"#"),
            );
        }
        let (name, given) = head?;
        Some(EventExample {
            name,
            given,
            version,
            message: message?,
            location: self.location(node.span),
            span: node.span,
        })
    }

    fn example_request(&mut self, node: &Node) -> Option<ExampleRequest> {
        read::check_entries(node, 0, &["path"], self.sink);
        let path = read::string_prop(node, "path", None, self.sink);
        if node.property("path").is_some() && path.is_none() {
            return None;
        }
        let (headers, body, rest) = self.message_parts(node, "request", REQUEST_CHILDREN)?;
        let mut query = Vec::new();
        for child in rest {
            query.push(self.pair(child, "query \"currency\" \"EUR\"")?);
        }
        Some(ExampleRequest { path, query, headers, body })
    }

    fn example_response(&mut self, node: &Node) -> Option<ExampleResponse> {
        read::check_entries(node, 0, &["status"], self.sink);
        let status = read::int_prop(node, "status", Some("response status=200"), self.sink)?;
        let status = read::parse(&status, |n| read::bounded(*n, 0, 599, "a status").map(|n| n as u16), self.sink)
            .map(|n| Spanned::new(n, status.span));
        let (headers, body, rest) = self.message_parts(node, "response", RESPONSE_CHILDREN)?;
        let mut matchers = Vec::new();
        let mut failed = false;
        for child in rest {
            match self.matcher(child) {
                Some(m) => matchers.push(m),
                None => failed = true,
            }
        }
        if failed {
            return None;
        }
        Some(ExampleResponse { status: status?, headers, body, matchers })
    }

    /// A request's or response's headers and body, and its other children
    /// (`query` or `match`, the third name in `known`).
    pub(super) fn message_parts<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Option<(Vec<Pair>, Option<JsonText>, Vec<&'n Node>)> {
        let mut headers = Vec::new();
        let mut body = None;
        let mut rest = Vec::new();
        let mut once = Once::default();
        let mut failed = false;
        for child in node.children() {
            match child.name.as_str() {
                "header" => match self.pair(child, "header \"accept\" \"application/json\"") {
                    Some(pair) => headers.push(pair),
                    None => failed = true,
                },
                "body" if once.first(child, self.sink) => match self.json_child(child, "body") {
                    Some(json) => body = Some(json),
                    None => failed = true,
                },
                "body" => failed = true,
                name if known.contains(&name) => rest.push(child),
                _ => {
                    read::unknown_child(child, what, known, self.sink);
                    failed = true;
                }
            }
        }
        (!failed).then_some((headers, body, rest))
    }

    fn pair(&mut self, node: &Node, example: &str) -> Option<Pair> {
        read::check_entries(node, 2, &[], self.sink);
        read::no_children(node, self.sink);
        let name = read::string_arg(node, 0, "a name", example, self.sink);
        let value = read::string_arg(node, 1, "a value", example, self.sink);
        Some(Pair { name: name?, value: value? })
    }

    /// A node whose one argument is a JSON document (`body`, `message`);
    /// the invalid-example-json pass parses it.
    fn json_child(&mut self, node: &Node, what: &str) -> Option<JsonText> {
        read::check_entries(node, 1, &[], self.sink);
        read::no_children(node, self.sink);
        let example = format!("{what} #\"{{\"id\": \"42\"}}\"#");
        let text = read::string_arg(node, 0, "a JSON document", &example, self.sink)?;
        Some(JsonText::new(text.value, text.span, &self.sources.get(text.span.file).text))
    }

    fn matcher(&mut self, node: &Node) -> Option<Matcher> {
        read::check_entries(node, 3, &["min", "max"], self.sink);
        read::no_children(node, self.sink);
        let example = "match \"items\" each-like min=1";
        let path = node.arguments().next().and_then(|e| self.field_path(e));
        if node.arguments().next().is_none() {
            read::string_arg(node, 0, "a field path", example, self.sink);
        }
        let kind = read::string_arg(node, 1, "a rule (exact, type, regex, each-like, range)", example, self.sink)?;
        if let Some(extra) = node.arguments().nth(2).filter(|_| kind.value != "regex") {
            self.sink.push(
                Diagnostic::new(Code::UnknownProperty, format!("a `{}` matcher takes no pattern", kind.value))
                    .at(extra.span, "unexpected argument")
                    .help("only `regex` takes a pattern: match \"sku\" regex \"^SKU-[0-9]+$\""),
            );
            return None;
        }
        let allowed: &[&str] = match kind.value.as_str() {
            "each-like" => &["min"],
            "range" => &["min", "max"],
            _ => &[],
        };
        if let Some(entry) = node.entries.iter().find(|e| e.name.as_deref().is_some_and(|n| !allowed.contains(&n))) {
            self.sink.push(
                Diagnostic::new(
                    Code::UnknownProperty,
                    format!("a `{}` matcher takes no `{}`", kind.value, entry.name.as_deref().unwrap_or_default()),
                )
                .at(entry.span, "not for this rule")
                .help("`each-like` takes min=N; `range` takes min= and max="),
            );
            return None;
        }
        let number = |lower: &mut Lower<'_, D>, key: &str| -> Option<Option<f64>> {
            match node.property(key).map(|e| &e.value) {
                None => Some(None),
                Some(Value::Integer(n)) => Some(Some(*n as f64)),
                Some(Value::Float(f)) => Some(Some(*f)),
                Some(other) => {
                    let entry = node.property(key)?;
                    lower.sink.push(
                        Diagnostic::new(
                            Code::InvalidValue,
                            format!("`{key}` must be a number, found {}", other.type_name()),
                        )
                        .at(entry.span, "expected a number")
                        .help(format!("for example: {key}=0")),
                    );
                    None
                }
            }
        };
        let rule = match kind.value.as_str() {
            "exact" => MatchRule::Exact,
            "type" => MatchRule::Type,
            "regex" => {
                let pattern = read::string_arg(
                    node,
                    2,
                    "a regular expression",
                    "match \"sku\" regex \"^SKU-[0-9]+$\"",
                    self.sink,
                )?;
                if let Err(error) = regex_syntax::Parser::new().parse(&pattern.value) {
                    let reason = match &error {
                        regex_syntax::Error::Parse(e) => e.kind().to_string(),
                        regex_syntax::Error::Translate(e) => e.kind().to_string(),
                        _ => error.to_string(),
                    };
                    self.sink.push(
                        Diagnostic::new(Code::InvalidMatcherRegex, format!("`{}` is not a regular expression: {reason}", pattern.value))
                            .at(pattern.span, "invalid regular expression")
                            .help("the runner matches the whole string with this pattern (Rust `regex` syntax, close to Pact's and JavaScript's); escape `\\` as `\\\\` in a quoted string, or use a raw string #\"...\"#"),
                    );
                    return None;
                }
                MatchRule::Regex(pattern.value)
            }
            "each-like" => {
                let min = self.count_prop(node, "min", 0, u32::MAX)?;
                MatchRule::EachLike { min: min.unwrap_or(1) }
            }
            "range" => {
                let (min, max) = (number(self, "min")?, number(self, "max")?);
                if min.is_none() && max.is_none() {
                    self.sink.push(
                        Diagnostic::new(Code::MissingRequired, "a `range` matcher needs `min`, `max` or both")
                            .at(kind.span, "no bounds")
                            .help("for example: match \"price_cents\" range min=0 max=100000"),
                    );
                    return None;
                }
                MatchRule::Range { min, max }
            }
            other => {
                self.sink.push(
                    Diagnostic::new(Code::InvalidValue, format!("`{other}` is not a matcher rule"))
                        .at(kind.span, "unknown rule")
                        .help(match crate::diag::did_you_mean(other, MATCH_RULES.iter().copied()) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None => format!("the rules: {}", MATCH_RULES.join(", ")),
                        }),
                );
                return None;
            }
        };
        Some(Matcher { path: path?, rule: Spanned::new(rule, kind.span) })
    }
}
