//! The contract plans and mock configs meshc's `contracts-plan` backend
//! writes (format `meshc-contracts/2`, docs/contracts.md), as typed values.
//!
//! Every object denies unknown keys and the `format` must be one this
//! runtime knows, so a plan from a newer compiler is refused instead of
//! half-run.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use prost_reflect::DescriptorPool;
use serde::Deserialize;
use serde_json::Value;

/// The plan format this runtime reads.
pub const FORMAT: &str = "meshc-contracts/2";

/// `contracts/providers/NAME.json` or `contracts/consumers/NAME.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The gRPC providers' proto files, dependencies first, as paths
    /// relative to the plan (`../descriptors/HASH.b64`); present when some
    /// interaction is gRPC. [`Plan::read`] reads them.
    #[serde(default)]
    pub descriptors: Vec<String>,
    /// The descriptors as one serialized `FileDescriptorSet`, once read.
    #[serde(skip)]
    descriptor_set: Option<Vec<u8>>,
    pub format: String,
    pub interactions: Vec<Interaction>,
    pub mesh: String,
    pub messages: Vec<Message>,
    pub role: Role,
    /// A service's name, or `gateway:NAME`.
    pub subject: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Provider,
    Consumer,
}

/// One request and what the consumer expects of its answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    /// The provider API's version the requests go to, for a versioned API
    /// (its selector is already in `request`).
    #[serde(default)]
    pub api_version: Option<String>,
    /// The end user's token the mesh checks on the requests; a runner
    /// going through the mesh sends one (see [`crate::contracts::TokenSource`]).
    #[serde(default)]
    pub auth: Option<Auth>,
    /// A service, or `gateway:NAME`.
    pub consumer: String,
    /// A gateway route's: how the request goes through the gateway.
    #[serde(default)]
    pub gateway: Option<GatewayEntry>,
    /// Provider states to set up first, in order.
    pub given: Vec<String>,
    /// `CONSUMER->PROVIDER OPERATION`, then ` #EXAMPLE` for an example.
    pub id: String,
    pub operation: String,
    pub protocol: Protocol,
    pub provider: String,
    pub provider_address: Address,
    /// The response fields the consumer reads, typed by the provider's schema.
    pub reads: Vec<Read>,
    pub request: Request,
    /// `None`: the implicit contract (any success response holding the reads).
    #[serde(default)]
    pub response: Option<Response>,
    /// `file:line` in the spec.
    pub source: String,
}

/// The end user's token a request needs: of `issuer`, for one of
/// `audiences` (any when empty), meeting the `claims` conditions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub audiences: Vec<String>,
    pub claims: Vec<ClaimCondition>,
    pub issuer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimCondition {
    pub claim: String,
    pub test: ClaimTest,
    /// As the issuer declares the claim; `None`: undeclared.
    #[serde(default, rename = "type")]
    pub ty: Option<ClaimType>,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimTest {
    Equals,
    Contains,
    Present,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimType {
    String,
    StringList,
    SpaceDelimited,
    Number,
    Boolean,
}

/// A route's request as its gateway takes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEntry {
    /// Headers the route's match requires.
    pub headers: Vec<Pair>,
    /// The `Host` to send; `None`: any host the gateway has no block for.
    #[serde(default)]
    pub host: Option<String>,
    pub name: String,
    /// Undoes the route's prefix rewrite.
    #[serde(default)]
    pub path_prefix: Option<PrefixMap>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixMap {
    /// The prefix the route matches.
    pub from: String,
    /// The prefix it rewrites that to.
    pub to: String,
}

impl GatewayEntry {
    /// The path the gateway takes for a request the provider sees at `path`.
    pub fn external_path(&self, path: &str) -> String {
        match &self.path_prefix {
            Some(map) => match path.strip_prefix(map.to.as_str()) {
                Some(rest) => format!("{}{rest}", map.from),
                None => path.to_string(),
            },
            None => path.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Grpc,
    Graphql,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub host: String,
    pub port: u16,
    /// The provider's sidecar's inbound port for that port, in the mesh.
    #[serde(default)]
    pub sidecar_inbound_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Read {
    /// Present in every success response (neither optional nor nullable).
    pub guaranteed: bool,
    /// Dotted, `[]` for every item of a list (`items[].sku`).
    pub path: String,
    #[serde(rename = "type")]
    pub ty: JsonType,
}

/// The JSON type a read field has in the provider's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Any,
}

impl JsonType {
    /// The name the plan writes it with (`integer`).
    pub fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::Any => "any",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default)]
    pub body: Option<Value>,
    pub headers: Vec<Pair>,
    /// HTTP method; gRPC and GraphQL: `POST`.
    pub method: String,
    /// The concrete path (an implicit contract's is the operation's
    /// template, `/products/{productId}`); gRPC: `/package.Service/Method`.
    pub path: String,
    pub query: Vec<Pair>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    #[serde(default)]
    pub body: Option<Value>,
    /// Headers the actual response must carry.
    pub headers: Vec<Pair>,
    pub matchers: Vec<Matcher>,
    /// HTTP status; gRPC: the status code (0: OK).
    pub status: u16,
}

/// Loosens the comparison of a response body at a path (docs/contracts.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "MatcherEntry")]
pub struct Matcher {
    /// Dotted, `[]` for every item of a list, `$` for the whole body.
    pub path: String,
    pub rule: MatchRule,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MatchRule {
    Exact,
    Type,
    /// The whole string must match.
    Regex(String),
    /// A list of at least `min` items, each like the example's first.
    EachLike {
        min: usize,
    },
    /// A number within the bounds, inclusive.
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
}

/// A matcher as the file writes it: one object, `rule` naming which of
/// the other keys apply.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherEntry {
    path: String,
    rule: String,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
}

impl TryFrom<MatcherEntry> for Matcher {
    type Error = String;

    fn try_from(entry: MatcherEntry) -> Result<Matcher, String> {
        let MatcherEntry { path, rule, regex, min, max } = entry;
        let unexpected = |key: &str| format!("matcher `{path}`: `{key}` does not apply to rule `{rule}`");
        let rule = match rule.as_str() {
            "exact" | "type" | "each-like" if regex.is_some() => return Err(unexpected("regex")),
            "exact" | "type" | "regex" if min.is_some() => return Err(unexpected("min")),
            "exact" | "type" | "regex" | "each-like" if max.is_some() => return Err(unexpected("max")),
            "exact" => MatchRule::Exact,
            "type" => MatchRule::Type,
            "regex" => MatchRule::Regex(regex.ok_or_else(|| format!("matcher `{path}`: rule `regex` needs `regex`"))?),
            "each-like" => {
                let min = min.unwrap_or(1.0);
                if min < 0.0 || min.fract() != 0.0 {
                    return Err(format!("matcher `{path}`: `min` of `each-like` must be a count, not {min}"));
                }
                MatchRule::EachLike { min: min as usize }
            }
            "range" if regex.is_some() => return Err(unexpected("regex")),
            "range" => MatchRule::Range { min, max },
            other => {
                return Err(format!(
                    "matcher `{path}`: unknown rule `{other}`, expected exact, type, regex, each-like or range"
                ))
            }
        };
        Ok(Matcher { path, rule })
    }
}

/// An example event of a topic, between its publishers and subscribers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Absent when the topic has no stream.
    #[serde(default)]
    pub broker: Option<Broker>,
    pub given: Vec<String>,
    /// `TOPIC #EXAMPLE`.
    pub id: String,
    pub message: Value,
    /// Protobuf events: the message type.
    #[serde(default)]
    pub message_type: Option<String>,
    pub publishers: Vec<Publisher>,
    /// Workspace-relative path of the schema version's file.
    pub schema: String,
    pub schema_version: u32,
    pub source: String,
    pub subscribers: Vec<String>,
    pub topic: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    /// `host:port` each.
    pub addresses: Vec<String>,
    /// `nats`, `rabbitmq` or `kafka`.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publisher {
    pub service: String,
    /// The NATS subject or RabbitMQ routing key it publishes under.
    #[serde(default)]
    pub subject: Option<String>,
}

/// `contracts/mocks/NAME.json`: a provider's mock.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockPlan {
    /// As [`Plan::descriptors`].
    #[serde(default)]
    pub descriptors: Vec<String>,
    #[serde(skip)]
    descriptor_set: Option<Vec<u8>>,
    pub format: String,
    /// The service's HTTP health check: the mock answers it.
    #[serde(default)]
    pub health: Option<MockHealth>,
    /// The provider's address as the spec declares it.
    pub listen: Address,
    pub mesh: String,
    pub operations: Vec<MockOperation>,
    pub service: String,
}

/// A service's HTTP health check as its mock passes it: `GET path`
/// answered with `status`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockHealth {
    pub path: String,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockOperation {
    /// Canned answers, tried in order: the first whose request matches answers.
    pub answers: Vec<Answer>,
    pub method: String,
    pub operation: String,
    /// The path template (gRPC: `/package.Service/Method`).
    pub path: String,
    pub protocol: Protocol,
    /// Every field any consumer reads: a generated answer must hold them.
    pub reads: Vec<Read>,
    /// REST: the JSON Schema of the success response's body (OpenAPI's
    /// Schema Object with its references in its own `definitions`).
    #[serde(default)]
    pub response_schema: Option<Value>,
    /// REST: the success response's status.
    #[serde(default)]
    pub status: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub given: Vec<String>,
    /// The id of the interaction it answers.
    pub interaction: String,
    pub request: Request,
    pub response: Response,
}

/// A plan or mock config the runtime cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub(crate) String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

fn known_format(format: &str) -> Result<(), PlanError> {
    if format == FORMAT {
        Ok(())
    } else {
        Err(PlanError(format!("format {format:?} is not one this runtime reads ({FORMAT})")))
    }
}

/// Reads each descriptor a plan names (through `read`, given the path
/// relative to the plan) into one serialized `FileDescriptorSet`. Only
/// `../descriptors/NAME.b64` is accepted: a plan names no other file.
fn read_descriptors(
    entries: &[String],
    mut read: impl FnMut(&str) -> std::io::Result<String>,
) -> Result<Vec<u8>, PlanError> {
    let mut set = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let fail = |why: String| PlanError(format!("`descriptors[{i}]` ({entry:?}): {why}"));
        let plain =
            |name: &str| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !entry.strip_prefix("../descriptors/").and_then(|name| name.strip_suffix(".b64")).is_some_and(plain) {
            return Err(fail("not a descriptor path (`../descriptors/NAME.b64`)".into()));
        }
        let text = read(entry).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let file = base64::engine::general_purpose::STANDARD
            .decode(text.trim_end())
            .map_err(|e| fail(format!("not base64: {e}")))?;
        // FileDescriptorSet.file = 1, length-delimited.
        use prost_reflect::prost::encoding::{encode_key, encode_varint, WireType};
        encode_key(1, WireType::LengthDelimited, &mut set);
        encode_varint(file.len() as u64, &mut set);
        set.extend_from_slice(&file);
    }
    Ok(set)
}

/// The pool of the descriptors read, if the plan names any.
fn descriptor_pool(entries: &[String], set: Option<&[u8]>) -> Result<Option<DescriptorPool>, PlanError> {
    if entries.is_empty() {
        return Ok(None);
    }
    let set = set.ok_or_else(|| PlanError("`descriptors` were not read: read the plan from its file".into()))?;
    DescriptorPool::decode(set)
        .map(Some)
        .map_err(|e| PlanError(format!("`descriptors`: not a usable set of proto files: {e}")))
}

/// A plan's text from its file, and a reader of the files it names beside
/// it. Errors do not name the file: callers do.
fn plan_file(path: &Path) -> Result<(String, impl FnMut(&str) -> std::io::Result<String> + '_), PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok((text, move |relative: &str| std::fs::read_to_string(dir.join(relative))))
}

impl Plan {
    /// Reads a plan, refusing an unknown format or a gRPC interaction
    /// without descriptors. The descriptors are not read yet: see
    /// [`Plan::read`] and [`Plan::with_descriptors`].
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let plan: Plan = crate::config::from_json(text).map_err(PlanError)?;
        known_format(&plan.format)?;
        if plan.descriptors.is_empty() {
            if let Some(grpc) = plan.interactions.iter().find(|i| i.protocol == Protocol::Grpc) {
                return Err(PlanError(format!("interaction `{}` is gRPC but the plan has no `descriptors`", grpc.id)));
            }
        }
        Ok(plan)
    }

    /// Reads a plan file and the descriptors it names (beside it, as
    /// `meshc build` writes them).
    pub fn read(path: &Path) -> Result<Plan, PlanError> {
        let (text, read) = plan_file(path)?;
        Plan::from_json(&text)?.with_descriptors(read)
    }

    /// Reads the descriptors the plan names through `read` (given each
    /// path relative to the plan).
    pub fn with_descriptors(mut self, read: impl FnMut(&str) -> std::io::Result<String>) -> Result<Plan, PlanError> {
        self.descriptor_set = Some(read_descriptors(&self.descriptors, read)?);
        Ok(self)
    }

    /// The pool of the plan's gRPC messages, if it has gRPC interactions.
    pub fn descriptor_pool(&self) -> Result<Option<DescriptorPool>, PlanError> {
        descriptor_pool(&self.descriptors, self.descriptor_set.as_deref())
    }
}

impl MockPlan {
    /// Reads a mock config, refusing an unknown format or a gRPC operation
    /// without descriptors (not read yet, as for [`Plan::from_json`]).
    pub fn from_json(text: &str) -> Result<MockPlan, PlanError> {
        let mock: MockPlan = crate::config::from_json(text).map_err(PlanError)?;
        known_format(&mock.format)?;
        if mock.descriptors.is_empty() {
            if let Some(grpc) = mock.operations.iter().find(|o| o.protocol == Protocol::Grpc) {
                return Err(PlanError(format!(
                    "operation `{}` is gRPC but the mock has no `descriptors`",
                    grpc.operation
                )));
            }
        }
        Ok(mock)
    }

    /// As [`Plan::read`].
    pub fn read(path: &Path) -> Result<MockPlan, PlanError> {
        let (text, read) = plan_file(path)?;
        MockPlan::from_json(&text)?.with_descriptors(read)
    }

    /// As [`Plan::with_descriptors`].
    pub fn with_descriptors(
        mut self,
        read: impl FnMut(&str) -> std::io::Result<String>,
    ) -> Result<MockPlan, PlanError> {
        self.descriptor_set = Some(read_descriptors(&self.descriptors, read)?);
        Ok(self)
    }

    pub fn descriptor_pool(&self) -> Result<Option<DescriptorPool>, PlanError> {
        descriptor_pool(&self.descriptors, self.descriptor_set.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"{
      "format": "meshc-contracts/2", "mesh": "shop", "role": "provider", "subject": "catalog", "messages": [],
      "interactions": [{
        "consumer": "orders", "given": ["product 42 exists"],
        "id": "orders->catalog GET /products/{productId} #a product in stock",
        "operation": "GET /products/{productId}", "protocol": "http", "provider": "catalog",
        "provider_address": { "host": "catalog", "port": 8080, "sidecar_inbound_port": 15006 },
        "reads": [{ "guaranteed": true, "path": "id", "type": "string" }],
        "request": { "headers": [], "method": "GET", "path": "/products/42", "query": [] },
        "response": { "body": {"id": "42"}, "headers": [], "status": 200,
          "matchers": [{ "path": "name", "rule": "type" }, { "min": 0.0, "path": "price_cents", "rule": "range" },
                       { "path": "id", "regex": "[0-9]+", "rule": "regex" }, { "path": "tags", "min": 1.0, "rule": "each-like" }] },
        "source": "services/orders.kdl:31"
      }]
    }"#;

    #[test]
    fn a_plan_reads_with_its_matchers() {
        let plan = Plan::from_json(PLAN).unwrap();
        assert_eq!(plan.role, Role::Provider);
        let rules: Vec<_> = plan.interactions[0].response.as_ref().unwrap().matchers.iter().map(|m| &m.rule).collect();
        assert_eq!(
            rules,
            [
                &MatchRule::Type,
                &MatchRule::Range { min: Some(0.0), max: None },
                &MatchRule::Regex("[0-9]+".into()),
                &MatchRule::EachLike { min: 1 },
            ]
        );
        assert_eq!(plan.descriptor_pool().unwrap(), None);
    }

    #[test]
    fn an_unknown_format_is_refused() {
        let error = Plan::from_json(&PLAN.replace("meshc-contracts/2", "meshc-contracts/3")).unwrap_err();
        assert!(error.to_string().contains("\"meshc-contracts/3\" is not one this runtime reads"), "{error}");
    }

    #[test]
    fn a_grpc_interaction_needs_descriptors() {
        let error = Plan::from_json(&PLAN.replace(r#""protocol": "http""#, r#""protocol": "grpc""#)).unwrap_err();
        assert!(error.to_string().contains("is gRPC but the plan has no `descriptors`"), "{error}");
    }

    /// The plan with `descriptors`, read through `files` (path → text).
    fn with_descriptors(entries: &[&str], files: &[(&str, String)]) -> Result<Plan, PlanError> {
        let plan = PLAN.replace(r#""messages": [],"#, &format!(r#""messages": [], "descriptors": {entries:?},"#));
        Plan::from_json(&plan).unwrap().with_descriptors(|path| {
            files
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, text)| text.clone())
                .ok_or_else(|| std::io::ErrorKind::NotFound.into())
        })
    }

    fn descriptor(name: &str, source: &str) -> String {
        use prost_reflect::prost::Message as _;
        let file = protox::file::File::from_source(name, source).unwrap();
        base64::engine::general_purpose::STANDARD.encode(file.file_descriptor_proto().encode_to_vec()) + "\n"
    }

    #[test]
    fn descriptors_are_read_beside_the_plan_dependencies_first() {
        let base = descriptor("base.proto", "syntax = \"proto3\"; package b; message Id { string v = 1; }");
        let api = descriptor(
            "api.proto",
            "syntax = \"proto3\"; package a; import \"base.proto\"; service S { rpc Get(b.Id) returns (b.Id); }",
        );
        let plan = with_descriptors(
            &["../descriptors/b1.b64", "../descriptors/a2.b64"],
            &[("../descriptors/b1.b64", base), ("../descriptors/a2.b64", api)],
        )
        .unwrap();
        let pool = plan.descriptor_pool().unwrap().unwrap();
        assert!(pool.get_service_by_name("a.S").is_some());
        assert!(pool.get_message_by_name("b.Id").is_some());
    }

    #[test]
    fn a_descriptor_path_of_another_shape_is_refused_unread() {
        for entry in
            ["../../secrets.b64", "/etc/passwd", "../descriptors/x/../../y.b64", "../descriptors/.b64", "x.b64"]
        {
            let error = with_descriptors(&[entry], &[]).unwrap_err().to_string();
            assert!(error.contains("not a descriptor path"), "{entry}: {error}");
        }
        let error = with_descriptors(&["../descriptors/gone.b64"], &[]).unwrap_err().to_string();
        assert!(error.contains("cannot read it"), "{error}");
    }

    #[test]
    fn a_plan_whose_descriptors_were_not_read_says_so() {
        let plan = PLAN.replace(r#""messages": [],"#, r#""messages": [], "descriptors": ["../descriptors/a.b64"],"#);
        let error = Plan::from_json(&plan).unwrap().descriptor_pool().unwrap_err().to_string();
        assert!(error.contains("were not read"), "{error}");
    }

    #[test]
    fn a_matcher_with_keys_of_another_rule_is_refused() {
        let error = Plan::from_json(
            &PLAN.replace(r#""path": "name", "rule": "type""#, r#""path": "name", "rule": "type", "min": 1"#),
        )
        .unwrap_err();
        assert!(error.to_string().contains("matcher `name`: `min` does not apply to rule `type`"), "{error}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let error = Plan::from_json(&PLAN.replace(r#""given": ["#, r#""gven": 1, "given": ["#)).unwrap_err();
        assert!(error.to_string().contains("`interactions[0].gven`"), "{error}");
    }
}
