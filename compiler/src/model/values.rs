//! Typed values parsed at lowering time. Each parser returns a message for
//! the diagnostic on failure; holding one of these types means it is valid.

use std::fmt;
use std::net::IpAddr;

/// The longest duration: 10,000 years, as protobuf's `Duration` (Envoy's) allows.
const MAX_DURATION_MILLIS: u128 = 315_576_000_000 * 1000;

/// What the spec's duration units are worth in milliseconds.
const DURATION_UNITS: &[(&str, u128)] = &[("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];

/// The milliseconds a duration's text adds up to (possibly 0 or too large:
/// the caller says why); an error naming the accepted units otherwise.
fn duration_millis(text: &str) -> Result<u128, String> {
    let usage = "write a number and a unit (ms, s, m, h), e.g. `250ms`, `2s` or `1m30s`";
    let mut rest = text;
    let mut total: u128 = 0;
    if rest.is_empty() {
        return Err(format!("`{text}` is not a duration; {usage}"));
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_len = rest[digits..].find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        if number.is_empty() || unit.is_empty() {
            return Err(format!("`{text}` is not a duration; {usage}"));
        }
        let Some(&(_, factor)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(unknown_duration_unit(text, number, unit));
        };
        // More than 39 digits cannot be a u128; anything that large is over the limit anyway.
        let value: u128 = number.parse().unwrap_or(u128::MAX);
        total = total.saturating_add(value.saturating_mul(factor));
        rest = rest[digits + unit_len..].trim_start();
    }
    Ok(total)
}

fn unknown_duration_unit(text: &str, number: &str, unit: &str) -> String {
    let hint = match unit {
        "M" => format!("; did you mean `{number}m` (minute)?"),
        "d" | "w" | "y" | "mo" | "day" | "days" | "week" | "weeks" | "year" | "years" | "months" => {
            "; write days and longer as hours, e.g. `24h` for a day".to_string()
        }
        _ => String::new(),
    };
    format!("`{text}`: `{unit}` is not a duration unit; the units are ms, s, m and h{hint}")
}

/// A non-zero duration, kept to the millisecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// Parses `150ms`, `2s`, `1m30s`, `1h`: numbers each followed by one of
    /// the documented units (ms, s, m, h), largest first or not.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let millis = duration_millis(text.trim())?;
        if millis == 0 {
            return Err(format!("`{text}` is zero; a duration must be positive"));
        }
        if millis > MAX_DURATION_MILLIS {
            return Err(format!(
                "`{text}` is larger than {}h, the longest duration proxies accept",
                MAX_DURATION_MILLIS / 3_600_000
            ));
        }
        Ok(Duration(std::time::Duration::from_millis(millis as u64)))
    }

    pub fn as_millis(self) -> u128 {
        self.0.as_millis()
    }

    /// For built-in defaults; `ms` must be positive.
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// Protobuf JSON form, as Envoy reads it: `2s`, `0.250s`.
    pub fn to_proto_json(self) -> String {
        let ms = self.0.subsec_millis();
        if ms == 0 {
            format!("{}s", self.0.as_secs())
        } else {
            format!("{}.{:03}s", self.0.as_secs(), ms)
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In the spec's own units (humantime would write `1day` for 24h).
        let mut rest = self.0.as_millis();
        let mut parts = Vec::new();
        for &(unit, factor) in DURATION_UNITS.iter().rev() {
            if rest >= factor {
                parts.push(format!("{}{unit}", rest / factor));
                rest %= factor;
            }
        }
        f.write_str(&parts.join(" "))
    }
}

/// A TCP port, 1..=65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(u16);

impl Port {
    pub fn new(value: i128) -> Result<Port, String> {
        match u16::try_from(value) {
            Ok(p) if p != 0 => Ok(Port(p)),
            _ => Err(format!("port {value} is out of range; ports are 1 to 65535")),
        }
    }

    /// A port known to be non-zero at compile time (a default).
    pub const fn from_const(value: u16) -> Port {
        assert!(value != 0, "port 0");
        Port(value)
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A DNS name (RFC 1123 labels) or an IP address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host(String);

impl Host {
    pub fn parse(text: &str) -> Result<Host, String> {
        if text.parse::<IpAddr>().is_ok() {
            return Ok(Host(text.to_string()));
        }
        let name = text.strip_suffix('.').unwrap_or(text);
        if name.is_empty() || name.len() > 253 {
            return Err(format!("`{text}` is not a hostname: it must be 1 to 253 characters"));
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(format!(
                    "`{text}` is not a hostname: label `{label}` must be 1-63 letters, digits or inner hyphens"
                ));
            }
        }
        Ok(Host(name.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `(name, namespace)` of a cluster DNS name `NAME.NAMESPACE.svc.cluster.local`.
    pub fn kubernetes_service(&self) -> Option<(&str, &str)> {
        let rest = self.0.strip_suffix(".svc.cluster.local")?;
        let (name, namespace) = rest.split_once('.')?;
        // A Service's name is a DNS-1035 label: it starts with a letter.
        let named = name.starts_with(|c: char| c.is_ascii_lowercase());
        (named && !namespace.is_empty() && !namespace.contains('.')).then_some((name, namespace))
    }

    /// The cluster DNS name of one version's own Kubernetes Service:
    /// `NAME-VERSION.NAMESPACE.svc.cluster.local` beside `NAME.NAMESPACE...`.
    pub fn kubernetes_version(&self, version: &str) -> Option<Host> {
        let (name, namespace) = self.kubernetes_service()?;
        Host::parse(&format!("{name}-{version}.{namespace}.svc.cluster.local")).ok()
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [&'static str] = &[$($text),*];

            pub fn parse(text: &str) -> Result<$name, String> {
                match text {
                    $($text => Ok($name::$variant),)*
                    _ => Err(match crate::diag::did_you_mean(text, Self::ALL.iter().copied()) {
                        Some(best) => format!("`{text}` is not one of {}; did you mean `{best}`?", Self::ALL.join(", ")),
                        None => format!("`{text}` is not one of {}", Self::ALL.join(", ")),
                    }),
                }
            }

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use keyword_enum;

keyword_enum!(
    /// The protocol family of an API a service serves.
    ApiKind { Rest = "rest", Grpc = "grpc", Graphql = "graphql" }
);

impl ApiKind {
    /// The format of the schema files an API of this kind names.
    pub fn schema_format(self) -> SchemaFormat {
        match self {
            ApiKind::Rest => SchemaFormat::OpenApi,
            ApiKind::Grpc => SchemaFormat::Proto,
            ApiKind::Graphql => SchemaFormat::Graphql,
        }
    }
}

keyword_enum!(
    /// The format of a schema file, which decides the loader that reads it.
    SchemaFormat {
        OpenApi = "openapi", Proto = "proto", Graphql = "graphql", Avro = "avro", JsonSchema = "json-schema",
        Jwks = "jwks",
    }
);

impl SchemaFormat {
    /// The formats a topic's schema may have, as `format=` spells them.
    pub const EVENT: &'static [&'static str] = &["avro", "json-schema", "protobuf"];

    /// Parses a topic's `format=`: one of [`SchemaFormat::EVENT`].
    pub fn parse_event(text: &str) -> Result<SchemaFormat, String> {
        match text {
            "avro" => Ok(SchemaFormat::Avro),
            "json-schema" => Ok(SchemaFormat::JsonSchema),
            "protobuf" => Ok(SchemaFormat::Proto),
            _ => Err(match crate::diag::did_you_mean(text, Self::EVENT.iter().copied()) {
                Some(best) => format!(
                    "`{text}` is not an event schema format (avro, json-schema, protobuf); did you mean `{best}`?"
                ),
                None => format!("`{text}` is not an event schema format; write `avro`, `json-schema` or `protobuf`"),
            }),
        }
    }

    /// An event schema's format from its file name: `.avsc` is Avro, `.json`
    /// JSON Schema, `.proto` protobuf.
    pub fn of_event_file(path: &str) -> Option<SchemaFormat> {
        let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
        match extension.as_str() {
            "avsc" => Some(SchemaFormat::Avro),
            "json" => Some(SchemaFormat::JsonSchema),
            "proto" => Some(SchemaFormat::Proto),
            _ => None,
        }
    }

    /// What a file of this format is called in messages.
    pub fn describe(self) -> &'static str {
        match self {
            SchemaFormat::OpenApi => "OpenAPI document",
            SchemaFormat::Proto => "protobuf file",
            SchemaFormat::Graphql => "GraphQL schema",
            SchemaFormat::Avro => "Avro schema",
            SchemaFormat::JsonSchema => "JSON Schema",
            SchemaFormat::Jwks => "JWKS file",
        }
    }
}

keyword_enum!(
    HttpMethod {
        Get = "GET", Head = "HEAD", Post = "POST", Put = "PUT", Delete = "DELETE",
        Options = "OPTIONS", Patch = "PATCH", Trace = "TRACE", Connect = "CONNECT",
    }
);

keyword_enum!(
    /// How a gateway renders the bodies of its own error responses.
    ErrorBodyFormat { Json = "json", Text = "text" }
);

keyword_enum!(GraphqlRoot { Query = "Query", Mutation = "Mutation", Subscription = "Subscription" });

keyword_enum!(
    /// A condition that makes a proxy retry a request.
    RetryOn {
    ServerError = "5xx",
    GatewayError = "gateway-error",
    Reset = "reset",
    ConnectFailure = "connect-failure",
    RefusedStream = "refused-stream",
    Retriable4xx = "retriable-4xx",
    Unavailable = "unavailable",
    Cancelled = "cancelled",
    DeadlineExceeded = "deadline-exceeded",
    ResourceExhausted = "resource-exhausted",
    Internal = "internal",
}
);

impl RetryOn {
    pub const DEFAULT: &'static [RetryOn] =
        &[RetryOn::ServerError, RetryOn::Reset, RetryOn::ConnectFailure, RetryOn::RefusedStream];

    /// Whether the condition is a gRPC status (Envoy's `retry_on` needs the gRPC names separately).
    pub fn is_grpc(self) -> bool {
        matches!(
            self,
            RetryOn::Unavailable
                | RetryOn::Cancelled
                | RetryOn::DeadlineExceeded
                | RetryOn::ResourceExhausted
                | RetryOn::Internal
        )
    }
}

/// An operation of an API, written in the spec as:
/// - gRPC: `package.Service/Method`
/// - REST: `METHOD /path/{param}`
/// - GraphQL: `Query.field`, `Mutation.field`, `Subscription.field`
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Grpc { service: String, method: String },
    Rest { method: HttpMethod, path: String },
    Graphql { root: GraphqlRoot, field: String },
}

impl Operation {
    pub fn parse(text: &str) -> Result<Operation, String> {
        let text = text.trim();
        let hint = "write `package.Service/Method` (gRPC), `GET /path/{id}` (REST) or `Query.field` (GraphQL)";
        if let Some((method, path)) = text.split_once(' ') {
            let method = HttpMethod::parse(method).map_err(|e| format!("{e}; {hint}"))?;
            let path = path.trim();
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(format!("REST path `{path}` must start with `/` and contain no spaces"));
            }
            return Ok(Operation::Rest { method, path: path.to_string() });
        }
        if let Some((service, method)) = text.split_once('/') {
            let ident = |s: &str| {
                !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !s.starts_with(|c: char| c.is_ascii_digit())
            };
            if service.split('.').all(ident) && ident(method) {
                return Ok(Operation::Grpc { service: service.to_string(), method: method.to_string() });
            }
            return Err(format!("`{text}` is not a gRPC method name; {hint}"));
        }
        if let Some((root, field)) = text.split_once('.') {
            if let Ok(root) = GraphqlRoot::parse(root) {
                if !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Ok(Operation::Graphql { root, field: field.to_string() });
                }
            }
        }
        Err(format!("`{text}` is not an operation; {hint}"))
    }

    /// A gRPC operation's `(service, method)`; `None` for REST and GraphQL.
    pub fn grpc(&self) -> Option<(&str, &str)> {
        match self {
            Operation::Grpc { service, method } => Some((service, method)),
            _ => None,
        }
    }

    pub fn kind(&self) -> ApiKind {
        match self {
            Operation::Grpc { .. } => ApiKind::Grpc,
            Operation::Rest { .. } => ApiKind::Rest,
            Operation::Graphql { .. } => ApiKind::Graphql,
        }
    }

    /// The identity of an operation for lookups: REST path parameters are
    /// anonymous, so `GET /orders/{id}` and `GET /orders/{orderId}` share a key.
    /// Built directly: schema indexes and checks make one per lookup.
    pub fn key(&self) -> String {
        let (head, separator, tail) = match self {
            Operation::Grpc { service, method } => (service.as_str(), '/', method.as_str()),
            Operation::Rest { method, path } => (method.as_str(), ' ', path.as_str()),
            Operation::Graphql { root, field } => (root.as_str(), '.', field.as_str()),
        };
        let mut key = String::with_capacity(head.len() + 1 + tail.len());
        key.push_str(head);
        key.push(separator);
        if let Operation::Rest { .. } = self {
            for (i, segment) in tail.split('/').enumerate() {
                if i > 0 {
                    key.push('/');
                }
                key.push_str(if segment.starts_with('{') && segment.ends_with('}') { "{}" } else { segment });
            }
        } else {
            key.push_str(tail);
        }
        key
    }
}

/// The parameters of a REST path `template` (`/products/{id}`) and their
/// values in `path` (`/products/42`), or why `path` is not one of its
/// paths: literal segments are equal, a `{param}` segment takes any one
/// non-empty segment.
pub fn path_parameters<'p>(template: &str, path: &'p str) -> Result<Vec<(String, &'p str)>, String> {
    let expected: Vec<&str> = template.split('/').collect();
    let actual: Vec<&str> = path.split('/').collect();
    if expected.len() != actual.len() {
        return Err(format!("it has {} segments, the template {}", actual.len() - 1, expected.len() - 1));
    }
    let mut values = Vec::new();
    for (want, got) in expected.iter().zip(&actual) {
        match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(_) if got.is_empty() => return Err(format!("parameter `{want}` is empty")),
            Some(name) => values.push((name.to_string(), *got)),
            None if want != got => return Err(format!("`{got}` where the template has `{want}`")),
            None => {}
        }
    }
    Ok(values)
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Grpc { service, method } => write!(f, "{service}/{method}"),
            Operation::Rest { method, path } => write!(f, "{method} {path}"),
            Operation::Graphql { root, field } => write!(f, "{root}.{field}"),
        }
    }
}

/// An HTTP header name (RFC 9110 token), lower-cased as HTTP/2 and Envoy use it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeaderName(String);

impl HeaderName {
    pub fn parse(text: &str) -> Result<HeaderName, String> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b)) {
            Ok(HeaderName(text.to_ascii_lowercase()))
        } else {
            Err(format!(
                "`{}` is not a valid HTTP header name: names are tokens (letters, digits and !#$%&'*+-.^_`|~)",
                text.escape_debug()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a header value (or, with `prefix`, the start of one) as RFC 9110
/// field values go: no control characters but HTAB (a CR or LF would split
/// the header and forge others), no leading or trailing whitespace (proxies
/// strip it, so it could never match). A prefix may end in a space
/// (`Bearer `). The value is not echoed: it may be anything.
pub fn check_header_value(text: &str, prefix: bool) -> Result<(), String> {
    let rule = "header values hold no control characters (CR, LF, NUL, ...) but tabs (RFC 9110)";
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| c.is_ascii_control() && c != '\t') {
        let name = match c {
            '\r' => "a carriage return (CR)".to_string(),
            '\n' => "a line feed (LF)".to_string(),
            '\0' => "a NUL byte".to_string(),
            c => format!("the control character U+{:04X}", c as u32),
        };
        return Err(format!("the header value has {name} at byte {at}; {rule}"));
    }
    let blank = |c: char| c == ' ' || c == '\t';
    if text.starts_with(blank) || (!prefix && text.ends_with(blank)) {
        return Err(
            "the header value starts or ends with whitespace, which proxies strip from header values; remove it".into(),
        );
    }
    Ok(())
}

/// Checks a service or gateway name: it becomes a DNS label, a file name and
/// an Envoy cluster name, so RFC 1123 label rules apply.
pub fn check_name(text: &str) -> Result<(), String> {
    let ok = !text.is_empty()
        && text.len() <= 63
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("`{text}` is not a valid name: use 1-63 lowercase letters, digits and inner hyphens (it becomes a DNS label)"))
    }
}

/// Checks a service label `key="value"`: a Kubernetes label, since the
/// labels go on its Service. A key is a name of 1-63 letters, digits,
/// `-`, `_` and `.`, alphanumeric at both ends, optionally after a DNS
/// prefix and `/`; a value is empty or such a name.
pub fn check_label(key: &str, value: &str) -> Result<(), String> {
    fn label_name(text: &str) -> bool {
        text.len() <= 63
            && text.starts_with(|c: char| c.is_ascii_alphanumeric())
            && text.ends_with(|c: char| c.is_ascii_alphanumeric())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| p.len() <= 253 && Host::parse(p).is_ok() && !p.contains(':'));
    if !prefix_ok || !label_name(name) {
        return Err(format!("`{key}` is not a valid label key"));
    }
    if !value.is_empty() && !label_name(value) {
        return Err(format!("`{value}` is not a valid label value"));
    }
    Ok(())
}

/// Checks a port's name or a TCP protocol's name: a Kubernetes port name
/// (an IANA service name: at most 15 lowercase letters, digits and inner
/// hyphens, with a letter).
pub fn check_port_name(text: &str) -> Result<(), String> {
    let ok = !text.is_empty()
        && text.len() <= 15
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && text.bytes().any(|b| b.is_ascii_lowercase())
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!("`{text}` is not a valid port or protocol name: use 1-15 lowercase letters, digits and inner hyphens, with a letter (a Kubernetes port name)"))
    }
}

/// Checks an API name. It becomes part of a file name (a composed GraphQL
/// API's config), but gRPC APIs are often named after their proto service
/// (`hipstershop.CartService`), so dots, underscores and capitals are
/// allowed; path separators and leading dots are not.
pub fn check_api_name(text: &str) -> Result<(), String> {
    let ok = text.len() <= 253
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!("`{text}` is not a valid API name: use up to 253 letters, digits, `-`, `_` and `.`, starting with a letter or digit (it becomes part of a file name)"))
    }
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
    /// A binding as a spec writes it: `"POST /v1/charges/{order_id}"`, with
    /// `body` `*`, a field name or absent.
    pub fn parse(text: &str, body: Option<&str>) -> Result<HttpRule, String> {
        let form = "write it as `METHOD /path`, e.g. `POST /v1/charges/{order_id}`";
        let (method, path) = text.split_once(' ').ok_or_else(|| format!("`{text}` is not an HTTP binding: {form}"))?;
        let method = HttpMethod::parse(method).map_err(|_| format!("`{method}` is not an HTTP method: {form}"))?;
        if !matches!(
            method,
            HttpMethod::Get | HttpMethod::Put | HttpMethod::Post | HttpMethod::Delete | HttpMethod::Patch
        ) {
            return Err(format!("google.api.http binds GET, PUT, POST, DELETE and PATCH, not {method}"));
        }
        let path = path.trim();
        if !path.starts_with('/') || path.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') {
            return Err(format!("`{path}` is not a path template: it starts with `/` and holds no spaces, `?` or `#`"));
        }
        if path.matches('{').count() != path.matches('}').count() {
            return Err(format!(
                "`{path}` has unbalanced braces; variables are written `{{field}}` or `{{field=pattern}}`"
            ));
        }
        let rule =
            HttpRule { method: method.as_str().to_string(), path: path.to_string(), body: body.map(str::to_string) };
        if let Some(bad) = rule.variables().into_iter().find(|v| !is_field_path(v)) {
            return Err(format!("`{bad}` is not a field path; variables name request fields, e.g. `{{order_id}}`"));
        }
        if let Some(bad) = body.filter(|b| *b != "*" && !is_field_path(b)) {
            return Err(format!("body `{bad}` is neither `*` nor a request field name"));
        }
        if method == HttpMethod::Get && body.is_some() {
            return Err("a GET binding takes no body; remove `body`".to_string());
        }
        Ok(rule)
    }

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

/// `field` or `field.sub`: protobuf identifiers joined by dots.
fn is_field_path(text: &str) -> bool {
    text.split('.').all(|s| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// A kind of secret a spec must not hold literally: whatever a string of
/// the spec says ends up in generated configs, docs and CI logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    PemPrivateKey,
    Jwt,
    /// A JWK with `kty` `oct`: the key itself is the secret.
    SymmetricJwk,
    /// A JWK with a private member (`d`, `p`, `q`, `k`).
    PrivateJwk,
    /// `scheme://user:password@host`.
    UrlPassword,
}

impl SecretKind {
    /// What the secret is, for a message that never shows it.
    pub fn describe(self) -> &'static str {
        match self {
            SecretKind::PemPrivateKey => "a PEM private key",
            SecretKind::Jwt => "a JWT (a bearer token)",
            SecretKind::SymmetricJwk => "a symmetric JWK (`kty` `oct`, whose `k` is the key)",
            SecretKind::PrivateJwk => "a private JWK (it has a private member such as `d`)",
            SecretKind::UrlPassword => "a password in a URL (`user:password@`)",
        }
    }
}

/// The kind of secret a spec string holds, if it holds one.
pub fn literal_secret(text: &str) -> Option<SecretKind> {
    // Every string of a spec comes here (half a million at 10,000 services).
    // Each kind of secret needs a byte that most of them (names, durations,
    // paths) lack: one pass over the bytes says which kinds are possible,
    // before any substring search or word split.
    let (mut dash, mut quote, mut at, mut dots) = (false, false, false, 0u8);
    for &byte in text.as_bytes() {
        match byte {
            b'-' => dash = true,
            b'"' => quote = true,
            b'@' => at = true,
            b'.' => dots = dots.saturating_add(1),
            _ => {}
        }
    }
    if dash && text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
        return Some(SecretKind::PemPrivateKey);
    }
    if quote && text.contains("\"kty\"") {
        if json_member(text, "kty").is_some_and(|v| v.starts_with("\"oct\"")) {
            return Some(SecretKind::SymmetricJwk);
        }
        if ["d", "p", "q", "k"].iter().any(|m| json_member(text, m).is_some()) {
            return Some(SecretKind::PrivateJwk);
        }
    }
    // A JWT is three segments: two dots.
    if dots >= 2 && text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'').any(is_jwt) {
        return Some(SecretKind::Jwt);
    }
    if at && has_url_password(text) {
        return Some(SecretKind::UrlPassword);
    }
    None
}

/// What follows `"name":` (spaces allowed around the colon) in JSON text.
fn json_member<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let key = format!("\"{name}\"");
    text.match_indices(&key).find_map(|(i, _)| {
        let rest = text[i + key.len()..].trim_start().strip_prefix(':')?;
        Some(rest.trim_start())
    })
}

/// Three base64url segments whose first decodes to a JSON header with `alg`.
fn is_jwt(word: &str) -> bool {
    use base64::Engine as _;
    let base64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    // Every string of a spec comes here, word by word: nothing is allocated before a word has a JWT's shape.
    let mut segments = word.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return false;
    };
    // The signature may be empty (`alg` `none`); header and payload may not.
    if header.is_empty() || payload.is_empty() || ![header, payload, signature].into_iter().all(base64url) {
        return false;
    }
    let Ok(header) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    let header = String::from_utf8_lossy(&header);
    header.trim_start().starts_with('{') && header.contains("\"alg\"")
}

/// Whether a URL in the text carries a password: `scheme://user:pass@host`.
fn has_url_password(text: &str) -> bool {
    text.match_indices("://").any(|(i, _)| {
        let authority = text[i + 3..].split(['/', '?', '#', ' ', '"']).next().unwrap_or_default();
        authority
            .rsplit_once('@')
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .is_some_and(|(_, password)| !password.is_empty())
    })
}

keyword_enum!(
    /// The scheme a redirect sends the client to.
    Scheme { Http = "http", Https = "https" }
);

/// A `Host`/`:authority` value a gateway's `host` block serves: a hostname
/// (or IP address), or `*.SUFFIX` for every name ending in `.SUFFIX`, as
/// Envoy's virtual host domains and Istio's hosts read them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Domain {
    Exact(Host),
    /// `*.example.com`: the suffix is `example.com`.
    Wildcard(Host),
}

impl Domain {
    pub fn parse(text: &str) -> Result<Domain, String> {
        let usage = "write a hostname (`api.example.com`) or a wildcard for its subdomains (`*.example.com`); \
                     routes outside any `host` block serve every host";
        if text == "*" {
            return Err(format!("`*` is every host; {usage}"));
        }
        if text.contains(':') && text.parse::<IpAddr>().is_err() {
            return Err(format!("`{text}` has a port; the gateway matches hosts whatever the port, so {usage}"));
        }
        match text.strip_prefix("*.") {
            Some(suffix) if !suffix.contains('*') => {
                Host::parse(suffix).map(Domain::Wildcard).map_err(|e| format!("{e}; {usage}"))
            }
            _ if text.contains('*') => Err(format!("`{text}` is not a host pattern; {usage}")),
            _ => Host::parse(text).map(Domain::Exact).map_err(|e| format!("{e}; {usage}")),
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Exact(host) => write!(f, "{host}"),
            Domain::Wildcard(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

/// A path rewrite by regular expression: an RE2 pattern (checked with
/// regex-syntax, refusing what RE2 lacks) and its substitution, whose
/// `\N` references name groups the pattern has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexRewrite {
    pattern: String,
    substitution: String,
}

/// Why a pattern or substitution was refused: the message and, when known,
/// the byte range of the offending part within the text.
#[derive(Debug, PartialEq, Eq)]
pub struct RegexError {
    pub message: String,
    pub at: Option<std::ops::Range<usize>>,
}

impl RegexRewrite {
    /// Checks `pattern` as RE2 reads it, then `substitution` against its groups.
    pub fn parse(pattern: &str, substitution: &str) -> Result<RegexRewrite, (bool, RegexError)> {
        let groups = re2_groups(pattern).map_err(|e| (true, e))?;
        check_substitution(substitution, groups).map_err(|e| (false, e))?;
        Ok(RegexRewrite { pattern: pattern.to_string(), substitution: substitution.to_string() })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn substitution(&self) -> &str {
        &self.substitution
    }
}

/// The number of capture groups of an RE2 pattern, or why RE2 (Envoy's
/// and Istio's engine) would refuse it. regex-syntax reads a near superset
/// of RE2; what it reads that RE2 does not is refused here.
fn re2_groups(pattern: &str) -> Result<usize, RegexError> {
    use regex_syntax::ast::{self, Visitor};
    let span = |s: &ast::Span| Some(s.start.offset..s.end.offset);
    let parsed = ast::parse::ParserBuilder::new().nest_limit(64).build().parse(pattern).map_err(|e| {
        let message = match e.kind() {
            ast::ErrorKind::UnsupportedLookAround => "look-around (`(?=`, `(?!`, `(?<=`, `(?<!`) is not RE2".into(),
            ast::ErrorKind::UnsupportedBackreference => "backreferences (`\\1`) are not RE2".into(),
            kind => kind.to_string(),
        };
        RegexError { message, at: span(e.span()) }
    })?;
    struct Re2Only(Option<RegexError>);
    impl Visitor for Re2Only {
        type Output = Option<RegexError>;
        type Err = ();
        fn finish(self) -> Result<Self::Output, ()> {
            Ok(self.0)
        }
        fn visit_pre(&mut self, ast: &ast::Ast) -> Result<(), ()> {
            let refused = match ast {
                ast::Ast::Assertion(a) => match a.kind {
                    ast::AssertionKind::StartLine
                    | ast::AssertionKind::EndLine
                    | ast::AssertionKind::StartText
                    | ast::AssertionKind::EndText
                    | ast::AssertionKind::WordBoundary
                    | ast::AssertionKind::NotWordBoundary => None,
                    _ => Some(("this word-boundary assertion is not RE2; use `\\b`", &a.span)),
                },
                ast::Ast::Flags(f) if crlf(&f.flags) => Some(("flag `R` is not RE2", &f.span)),
                ast::Ast::Group(g) => match &g.kind {
                    ast::GroupKind::NonCapturing(flags) if crlf(flags) => Some(("flag `R` is not RE2", &g.span)),
                    _ => None,
                },
                _ => None,
            };
            if let (Some((message, at)), None) = (refused, &self.0) {
                self.0 = Some(RegexError { message: message.into(), at: Some(at.start.offset..at.end.offset) });
            }
            Ok(())
        }
        fn visit_class_set_item_pre(&mut self, item: &ast::ClassSetItem) -> Result<(), ()> {
            if let (ast::ClassSetItem::Bracketed(b), None) = (item, &self.0) {
                let at = Some(b.span.start.offset..b.span.end.offset);
                self.0 = Some(RegexError { message: "nested character classes are not RE2".into(), at });
            }
            Ok(())
        }
        fn visit_class_set_binary_op_pre(&mut self, op: &ast::ClassSetBinaryOp) -> Result<(), ()> {
            if self.0.is_none() {
                let at = Some(op.span.start.offset..op.span.end.offset);
                let message = "class set operations (`&&`, `--`, `~~`) are not RE2".into();
                self.0 = Some(RegexError { message, at });
            }
            Ok(())
        }
    }
    fn crlf(flags: &ast::Flags) -> bool {
        flags.items.iter().any(|i| i.kind == ast::FlagsItemKind::Flag(ast::Flag::CRLF))
    }
    if let Ok(Some(error)) = ast::visit(&parsed, Re2Only(None)) {
        return Err(error);
    }
    let hir = regex_syntax::hir::translate::Translator::new().translate(pattern, &parsed).map_err(|e| RegexError {
        message: e.kind().to_string(),
        at: Some(e.span().start.offset..e.span().end.offset),
    })?;
    Ok(hir.properties().explicit_captures_len())
}

/// RE2's rewrite strings: `\0` to `\9` name the match and its groups,
/// `\\` is a backslash; any other backslash is an error.
fn check_substitution(substitution: &str, groups: usize) -> Result<(), RegexError> {
    let mut chars = substitution.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            continue;
        }
        match chars.next() {
            Some((_, '\\')) => {}
            Some((end, d)) if d.is_ascii_digit() => {
                let group = d as usize - '0' as usize;
                if group > groups {
                    let has = match groups {
                        0 => "the pattern has no groups".to_string(),
                        1 => "the pattern has 1 group".to_string(),
                        n => format!("the pattern has {n} groups"),
                    };
                    return Err(RegexError {
                        message: format!("`\\{group}` names no group: {has}"),
                        at: Some(at..end + 1),
                    });
                }
            }
            next => {
                let end = next.map_or(substitution.len(), |(i, c)| i + c.len_utf8());
                return Err(RegexError {
                    message: "a backslash in a substitution starts `\\0`-`\\9` (a group) or `\\\\` (a backslash)"
                        .into(),
                    at: Some(at..end),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_kubernetes_label_syntax() {
        for (key, value) in [("tier", "backend"), ("example.com/team", "orders"), ("a_b.c-d", ""), ("x", "v1.2_3")] {
            assert_eq!(check_label(key, value), Ok(()), "{key}={value}");
        }
        for (key, value) in [
            ("-tier", "a"),
            ("tier-", "a"),
            ("", "a"),
            ("Ex ample.com/team", "a"),
            ("/team", "a"),
            ("tier", "back end"),
            ("tier", "-a"),
            ("tier", &"a".repeat(64)),
        ] {
            assert!(check_label(key, value).is_err(), "{key}={value}");
        }
    }

    #[test]
    fn a_path_matches_its_template_segment_by_segment() {
        assert_eq!(path_parameters("/products/{id}", "/products/42").unwrap(), [("id".to_string(), "42")]);
        assert_eq!(path_parameters("/healthz", "/healthz").unwrap(), []);
        assert!(path_parameters("/products/{id}", "/product/42").unwrap_err().contains("`product` where"));
        assert!(path_parameters("/products/{id}", "/products/").unwrap_err().contains("is empty"));
        assert!(path_parameters("/products/{id}", "/products/4/2").unwrap_err().contains("3 segments"));
        assert!(path_parameters("/healthz", "/health").is_err());
    }

    #[test]
    fn api_names_allow_proto_service_names_but_no_path_syntax() {
        for ok in ["orders-http", "hipstershop.CartService", "v1_api"] {
            assert!(check_api_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", ".hidden", "a\\b", "-x", &"a".repeat(254)] {
            assert!(check_api_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_parse_and_render_for_envoy() {
        assert_eq!(Duration::parse("250ms").unwrap().to_proto_json(), "0.250s");
        assert_eq!(Duration::parse("1m30s").unwrap().to_proto_json(), "90s");
        assert!(Duration::parse("0s").is_err());
        assert!(Duration::parse("2 parsecs").is_err());
        assert_eq!(Duration::parse("1h 30m").unwrap().to_proto_json(), "5400s");
        assert_eq!(Duration::parse("48h1500ms").unwrap().to_string(), "48h 1s 500ms");
    }

    #[test]
    fn durations_take_only_the_documented_units() {
        for text in ["1y", "1d", "1w"] {
            let e = Duration::parse(text).unwrap_err();
            assert!(e.contains("is not a duration unit; the units are ms, s, m and h"), "{e}");
        }
        assert!(Duration::parse("1M").unwrap_err().ends_with("did you mean `1m` (minute)?"));
        assert!(Duration::parse("1us").is_err());
        assert!(Duration::parse("ms").unwrap_err().contains("is not a duration"));
        assert!(Duration::parse("10").unwrap_err().contains("is not a duration"));
        assert!(Duration::parse("-1s").is_err());
    }

    #[test]
    fn overflowing_durations_say_how_large_they_may_be() {
        let e = Duration::parse("99999999999999999999999999999999999999999999h").unwrap_err();
        assert!(e.contains("is larger than 87660000h"), "{e}");
        assert!(Duration::parse("87660000h").is_ok());
        assert!(Duration::parse("87660001h").unwrap_err().contains("larger than"));
    }

    #[test]
    fn ports_reject_zero_and_overflow() {
        assert!(Port::new(0).is_err());
        assert!(Port::new(65536).is_err());
        assert_eq!(Port::new(8080).unwrap().get(), 8080);
    }

    #[test]
    fn hosts_accept_names_and_ips_only() {
        assert!(Host::parse("orders.shop.svc.cluster.local").is_ok());
        assert!(Host::parse("10.0.0.1").is_ok());
        assert!(Host::parse("bad_name.local").is_err());
        assert!(Host::parse("-x.local").is_err());
    }

    #[test]
    fn operations_parse_by_shape() {
        assert_eq!(Operation::parse("hipstershop.CartService/GetCart").unwrap().kind(), ApiKind::Grpc);
        assert_eq!(Operation::parse("GET /orders/{id}").unwrap().kind(), ApiKind::Rest);
        assert_eq!(Operation::parse("Query.orders").unwrap().kind(), ApiKind::Graphql);
        assert!(Operation::parse("FETCH /x").is_err());
        assert!(Operation::parse("orders").is_err());
    }

    #[test]
    fn event_schema_formats_come_from_the_extension_or_format() {
        assert_eq!(SchemaFormat::of_event_file("../schemas/order-placed.avsc"), Some(SchemaFormat::Avro));
        assert_eq!(SchemaFormat::of_event_file("review.JSON"), Some(SchemaFormat::JsonSchema));
        assert_eq!(SchemaFormat::of_event_file("schemas/order.yaml"), None);
        assert_eq!(SchemaFormat::of_event_file("avsc"), None);
        assert_eq!(SchemaFormat::parse_event("json-schema"), Ok(SchemaFormat::JsonSchema));
        assert!(SchemaFormat::parse_event("avr").unwrap_err().contains("did you mean `avro`?"));
        assert!(SchemaFormat::parse_event("openapi").is_err(), "APIs' formats are not event formats");
    }

    #[test]
    fn rest_operations_match_whatever_the_parameter_names() {
        let a = Operation::parse("GET /orders/{id}").unwrap();
        let b = Operation::parse("GET /orders/{orderId}").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key(), "GET /orders/{}");
        assert_ne!(a.key(), Operation::parse("POST /orders/{id}").unwrap().key());
    }

    /// The key is the operation as written, but for anonymous REST parameters.
    #[test]
    fn an_operations_key_is_how_it_is_written() {
        for text in ["shop.v1.Orders/Place", "Query.product", "Mutation.placeOrder", "DELETE /a/b", "GET /"] {
            assert_eq!(Operation::parse(text).unwrap().key(), text);
        }
        assert_eq!(Operation::parse("PUT /a/{x}/b/{y}z/{}").unwrap().key(), "PUT /a/{}/b/{y}z/{}");
    }

    #[test]
    fn http_rule_variables_and_literal_prefix() {
        let rule = HttpRule { method: "GET".into(), path: "/v1/{parent=shelves/*}/books/{book.id}".into(), body: None };
        assert_eq!(rule.variables(), ["parent", "book.id"]);
        assert_eq!(rule.literal_prefix(), "/v1/");
    }

    #[test]
    fn http_rules_parse_from_the_spec_form() {
        let rule = HttpRule::parse("POST /v1/orders/{order.id}/items", Some("item")).unwrap();
        assert_eq!(
            (rule.method.as_str(), rule.path.as_str(), rule.body.as_deref()),
            ("POST", "/v1/orders/{order.id}/items", Some("item"))
        );
        assert_eq!(rule.variables(), ["order.id"]);
        for bad in ["/v1/orders", "FETCH /x", "HEAD /x", "POST v1/x", "POST /x/{id", "POST /x/{1id}"] {
            assert!(HttpRule::parse(bad, None).is_err(), "{bad}");
        }
        assert!(HttpRule::parse("GET /x", Some("*")).is_err(), "GET takes no body");
        assert!(HttpRule::parse("POST /x", Some("a-b")).is_err());
    }
}

#[cfg(test)]
mod header_tests {
    use super::*;

    #[test]
    fn header_values_refuse_control_characters_and_outer_whitespace() {
        assert!(check_header_value("v2", false).is_ok());
        assert!(check_header_value("a\tb", false).is_ok());
        assert!(check_header_value("Bearer ", true).is_ok());
        assert!(check_header_value("", false).is_ok());
        assert_eq!(
            check_header_value("x\r\nset-cookie: a=b", false).unwrap_err(),
            "the header value has a carriage return (CR) at byte 1; header values hold no control characters (CR, LF, NUL, ...) but tabs (RFC 9110)"
        );
        assert!(check_header_value("a\nb", false).unwrap_err().contains("line feed (LF) at byte 1"));
        assert!(check_header_value("a\0", true).unwrap_err().contains("NUL byte"));
        assert!(check_header_value("a\u{7f}", true).unwrap_err().contains("U+007F"));
        assert!(check_header_value(" v", true).unwrap_err().contains("whitespace"));
        assert!(check_header_value("v ", false).unwrap_err().contains("whitespace"));
    }

    #[test]
    fn header_names_are_tokens() {
        assert_eq!(HeaderName::parse("X-Api-Version").unwrap().as_str(), "x-api-version");
        for bad in ["", "x y", "x\r\ny", "x:y", "ü"] {
            assert!(HeaderName::parse(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn secrets_are_recognised_by_kind() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----";
        assert_eq!(literal_secret(pem), Some(SecretKind::PemPrivateKey));
        assert_eq!(literal_secret("-----BEGIN EC PRIVATE KEY-----"), Some(SecretKind::PemPrivateKey));
        // {"alg":"HS256","typ":"JWT"} . {"sub":"1"} . signature
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(literal_secret(jwt), Some(SecretKind::Jwt));
        assert_eq!(literal_secret(&format!("Bearer {jwt}")), Some(SecretKind::Jwt));
        assert_eq!(literal_secret(r#"{"kty":"oct","k":"c2VjcmV0"}"#), Some(SecretKind::SymmetricJwk));
        assert_eq!(
            literal_secret(r#"{"kty": "EC", "crv":"P-256","x":"A","y":"B", "d" : "C"}"#),
            Some(SecretKind::PrivateJwk)
        );
        assert_eq!(literal_secret("postgres://orders:s3cret@db.shop:5432/orders"), Some(SecretKind::UrlPassword));
    }

    #[test]
    fn ordinary_values_are_not_secrets() {
        for text in [
            "https://auth.shop.example/.well-known/jwks.json",
            "https://user@host.example/path",
            "http://127.0.0.1:9292/token",
            "orders.shop.svc.cluster.local",
            "a.b.c",
            "shop.orders.v1.Orders",
            "spiffe://cluster.local/ns/shop/sa/orders",
            r#"{"kty":"EC","crv":"P-256","x":"A","y":"B"}"#,
            "-----BEGIN CERTIFICATE-----",
        ] {
            assert_eq!(literal_secret(text), None, "{text}");
        }
    }
}

#[cfg(test)]
mod route_value_tests {
    use super::*;

    #[test]
    fn domains_are_hosts_or_subdomain_wildcards() {
        assert_eq!(Domain::parse("API.Example.com").unwrap().to_string(), "api.example.com");
        assert_eq!(Domain::parse("*.example.com").unwrap().to_string(), "*.example.com");
        assert_eq!(Domain::parse("10.0.0.1").unwrap(), Domain::Exact(Host::parse("10.0.0.1").unwrap()));
        for bad in ["*", "*.*.example.com", "api.*.com", "foo*.example.com", "api.example.com:8080", "", "a b"] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
    }

    fn refused(pattern: &str) -> (String, std::ops::Range<usize>) {
        let (in_pattern, e) = RegexRewrite::parse(pattern, "").unwrap_err();
        assert!(in_pattern);
        (e.message, e.at.unwrap())
    }

    #[test]
    fn rewrite_patterns_are_re2() {
        let ok = RegexRewrite::parse(r"^/shop/([a-z]+)/(\d+)$", r"/\1/items/\2\\").unwrap();
        assert_eq!((ok.pattern(), ok.substitution()), (r"^/shop/([a-z]+)/(\d+)$", r"/\1/items/\2\\"));
        for good in [r"(?i)^/a(?P<n>b)", r"[^/]+", r"\bword\b", r"(?s:.)", r"\pL+"] {
            assert!(RegexRewrite::parse(good, "").is_ok(), "{good}");
        }
        let (message, at) = refused("^/a(?=b)");
        assert!(message.contains("look-around"), "{message}");
        assert_eq!(&"^/a(?=b)"[at], "(?=");
        assert!(refused(r"(a)\1").0.contains("backreferences"));
        assert_eq!(&"[a[b]]"[refused("[a[b]]").1], "[b]");
        assert!(refused("[a&&b]").0.contains("class set"));
        assert!(refused(r"\<word").0.contains("word-boundary"));
        assert!(refused("(?R)a").0.contains("flag `R`"));
        assert!(!refused("(unclosed").0.is_empty());
    }

    #[test]
    fn substitutions_name_existing_groups() {
        let (in_pattern, e) = RegexRewrite::parse("^/(a)$", r"/\1/\2").unwrap_err();
        assert!(!in_pattern);
        assert_eq!(e.at, Some(4..6));
        assert!(e.message.contains("1 group"), "{}", e.message);
        assert!(RegexRewrite::parse("^/a$", r"/\0").is_ok());
        let (_, e) = RegexRewrite::parse("^/a$", r"/\x").unwrap_err();
        assert_eq!(e.at, Some(1..3));
        assert!(RegexRewrite::parse("^/a$", "/trailing\\").is_err());
    }
}

#[cfg(test)]
mod port_name_tests {
    use super::check_port_name;

    #[test]
    fn port_and_protocol_names_are_kubernetes_port_names() {
        for ok in ["amqp", "http-admin", "tcp", "redis6", "a"] {
            assert!(check_port_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1234", "-amqp", "amqp-", "a--b", "Amqp", "amqp_1", "sixteen-chars-xx"] {
            assert!(check_port_name(bad).is_err(), "{bad}");
        }
    }
}
