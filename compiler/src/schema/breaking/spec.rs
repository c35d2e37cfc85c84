//! Breaking changes of the spec itself, between two compiled workspaces
//! (`meshc diff OLD NEW` of two workspaces, `meshc diff --against REF`):
//! what callers outside the diff rely on (APIs, their ports, gateway
//! routes, topics) deleted or moved, and security weakened (a route's
//! token or role requirements, a service's authorization). Elements pair
//! by name: APIs by (service, API), routes by (gateway, route), topics and
//! services by name. A topic present in both is also judged by its
//! compatibility mode ([`topic_changes`]), with the event bus's own
//! compatibility code (`schema::compat`).
//!
//! These rules are breaking whatever the options ([`Level::Breaking`]): a
//! deleted route or a weakened policy breaks clients whatever they are
//! generated from.

use std::collections::{BTreeSet, HashMap};

use super::{Change, Format, Judged, Level, Rule};
use crate::base::Span;
use crate::model::api_versions::{ApiVersion, Date};
use crate::model::identity::{Authorization, Principal, RuleAction, Verdict};
use crate::model::security::{ClaimCondition, ClaimTest, RouteAuth};
use crate::model::values::Operation;
use crate::model::{Model, Route, Service, ServiceId, TopicId};
use crate::schema::compat;
use crate::schema::SchemaIndex;

macro_rules! spec_rules {
    ($($id:literal, $purpose:literal, $before:expr, $after:expr;)*) => {
        /// Every spec rule; examples are workspaces (`//- path` sections).
        pub static RULES: &[Rule] = &[
            $(Rule { id: $id, format: Format::Spec, judged: Judged::Level(Level::Breaking), purpose: $purpose, before: $before, after: $after }),*
        ];
    };
}

spec_rules! {
    "SPEC_API_NO_DELETE", "Checks that services' APIs are not deleted.",
        concat!("//- mesh.kdl\n", "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n",
            "    api \"orders-grpc\" kind=\"grpc\" schema=\"orders.proto\"\n}\n",
            "//- orders.proto\nsyntax = \"proto3\";\npackage shop.orders.v1;\nmessage Order { string id = 1; }\nservice Orders { rpc Get(Order) returns (Order); }\n"),
        concat!("//- mesh.kdl\n", "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n}\n");
    "SPEC_PORT_SAME", "Checks that an API stays on the same port number.",
        concat!("//- mesh.kdl\n", "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n",
            "    api \"orders-grpc\" kind=\"grpc\" schema=\"orders.proto\"\n}\n",
            "//- orders.proto\nsyntax = \"proto3\";\npackage shop.orders.v1;\nmessage Order { string id = 1; }\nservice Orders { rpc Get(Order) returns (Order); }\n"),
        concat!("//- mesh.kdl\n", "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=9090\n",
            "    api \"orders-grpc\" kind=\"grpc\" schema=\"orders.proto\"\n}\n",
            "//- orders.proto\nsyntax = \"proto3\";\npackage shop.orders.v1;\nmessage Order { string id = 1; }\nservice Orders { rpc Get(Order) returns (Order); }\n");
    "SPEC_API_VERSION_NO_DELETE", "Checks that an API version is deleted only after its sunset: deprecated first, with a sunset date that has passed.",
        concat!("//- mesh.kdl\n", "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n",
            "    api \"orders-http\" kind=\"rest\" {\n        version \"v1\" schema=\"orders.yaml\" path-prefix=\"/v1\"\n",
            "        version \"v2\" schema=\"orders.yaml\" path-prefix=\"/v2\"\n    }\n}\n",
            "//- orders.yaml\nopenapi: 3.0.3\ninfo: {title: orders, version: 1.0.0}\npaths: {}\n"),
        concat!("//- mesh.kdl\n", "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n",
            "    api \"orders-http\" kind=\"rest\" {\n        version \"v2\" schema=\"orders.yaml\" path-prefix=\"/v2\"\n    }\n}\n",
            "//- orders.yaml\nopenapi: 3.0.3\ninfo: {title: orders, version: 1.0.0}\npaths: {}\n");
    "SPEC_ROUTE_NO_DELETE", "Checks that gateway routes are not deleted.",
        concat!("//- mesh.kdl\n", "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n}\n",
            "gateway \"public\" {\n    listener \"http\" port=8080\n",
            "    route \"orders\" {\n        match path-prefix=\"/orders\"\n        to \"orders\"\n        timeout \"2s\"\n",
            "        public reason=\"open\"\n    }\n",
            "    route \"health\" {\n        match path=\"/health\"\n        to \"orders\"\n        timeout \"1s\"\n",
            "        public reason=\"probes\"\n    }\n}\n"),
        concat!("//- mesh.kdl\n", "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n}\n",
            "gateway \"public\" {\n    listener \"http\" port=8080\n",
            "    route \"orders\" {\n        match path-prefix=\"/orders\"\n        to \"orders\"\n        timeout \"2s\"\n",
            "        public reason=\"open\"\n    }\n}\n");
    "SPEC_ROUTE_AUTH_NO_WEAKEN", "Checks that a gateway route keeps requiring a token of the same issuer, every claim it required and no more roles than it admitted.",
        concat!("//- mesh.kdl\n", "jwt-issuer \"customers\" {\n    issuer \"https://auth.example\"\n    jwks-uri \"https://auth.example/jwks.json\"\n    claim \"roles\" type=\"string-list\"\n}\n",
            "role \"admin\" {\n    require-claim \"roles\" contains=\"admin\"\n}\n",
            "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n}\n",
            "gateway \"public\" {\n    listener \"http\" port=8080\n",
            "    route \"export\" {\n        match path=\"/export\"\n        to \"orders\"\n        timeout \"2s\"\n",
            "        auth \"customers\" {\n            require-role \"admin\"\n        }\n    }\n}\n"),
        concat!("//- mesh.kdl\n", "jwt-issuer \"customers\" {\n    issuer \"https://auth.example\"\n    jwks-uri \"https://auth.example/jwks.json\"\n    claim \"roles\" type=\"string-list\"\n}\n",
            "role \"admin\" {\n    require-claim \"roles\" contains=\"admin\"\n}\n",
            "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n}\n",
            "gateway \"public\" {\n    listener \"http\" port=8080\n",
            "    route \"export\" {\n        match path=\"/export\"\n        to \"orders\"\n        timeout \"2s\"\n",
            "        auth \"customers\"\n    }\n}\n");
    "SPEC_POLICY_NO_WEAKEN", "Checks that a service's authorization allows no caller an operation it refused.",
        concat!("//- mesh.kdl\n", "mtls {\n    mode \"strict\"\n    trust-domain \"shop.example\"\n}\n",
            "service \"web\" {\n    owner \"team-web\"\n    address \"web.svc\" port=8080\n    calls \"orders\" timeout=\"1s\"\n}\n",
            "service \"reports\" {\n    owner \"team-data\"\n    address \"reports.svc\" port=8080\n}\n",
            "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n",
            "    authorization {\n        allow \"web\"\n    }\n}\n"),
        concat!("//- mesh.kdl\n", "mtls {\n    mode \"strict\"\n    trust-domain \"shop.example\"\n}\n",
            "service \"web\" {\n    owner \"team-web\"\n    address \"web.svc\" port=8080\n    calls \"orders\" timeout=\"1s\"\n}\n",
            "service \"reports\" {\n    owner \"team-data\"\n    address \"reports.svc\" port=8080\n}\n",
            "service \"orders\" {\n    owner \"team-orders\"\n    address \"orders.svc\" port=8080\n",
            "    authorization {\n        allow \"web\" \"reports\"\n    }\n}\n");
    "SPEC_TOPIC_NO_DELETE", "Checks that topics are not deleted.",
        concat!("//- mesh.kdl\n", "topic \"orders-placed\" {\n    schema \"placed.avsc\"\n}\n",
            "topic \"orders-shipped\" {\n    schema \"placed.avsc\"\n}\n",
            "//- placed.avsc\n{\"type\": \"record\", \"name\": \"Placed\", \"fields\": [{\"name\": \"id\", \"type\": \"string\"}]}\n"),
        concat!("//- mesh.kdl\n", "topic \"orders-placed\" {\n    schema \"placed.avsc\"\n}\n",
            "//- placed.avsc\n{\"type\": \"record\", \"name\": \"Placed\", \"fields\": [{\"name\": \"id\", \"type\": \"string\"}]}\n");
    "SPEC_TOPIC_SCHEMA_COMPATIBLE", "Checks that a topic's current schema keeps the topic's compatibility mode with the old current schema.",
        concat!("//- mesh.kdl\n", "topic \"orders-placed\" {\n    schema \"placed.avsc\"\n    compatibility \"backward\"\n}\n",
            "//- placed.avsc\n{\"type\": \"record\", \"name\": \"Placed\", \"fields\": [{\"name\": \"id\", \"type\": \"string\"}]}\n"),
        concat!("//- mesh.kdl\n", "topic \"orders-placed\" {\n    schema \"placed.avsc\"\n    compatibility \"backward\"\n}\n",
            "//- placed.avsc\n{\"type\": \"record\", \"name\": \"Placed\", \"fields\": [{\"name\": \"id\", \"type\": \"string\"}, {\"name\": \"total\", \"type\": \"long\"}]}\n");
}

fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).expect("a spec rule of the table")
}

/// Every spec change from `old` to `new` (topic schemas: [`topic_changes`]).
/// The `new` spans point into `new`'s sources, the `old` ones into `old`'s.
pub fn compare(old: &Model, new: &Model) -> Vec<Change> {
    let mut out = Vec::new();
    let new_services: HashMap<&str, ServiceId> =
        new.service_ids().map(|id| (new.service(id).name.value.as_str(), id)).collect();
    let callers = Callers { old: principals(old), new: principals(new), requests: requests_by_target(new) };
    for old_service in &old.services {
        let new_service = new_services.get(old_service.name.value.as_str()).copied();
        apis(old_service, new_service.map(|id| new.service(id)), new.today, &mut out);
        if let Some(id) = new_service {
            policy(old, old_service, new, id, &callers, &mut out);
        }
    }
    routes(old, new, &mut out);
    let new_topics: BTreeSet<&str> = new.topics.iter().map(|t| t.name.value.as_str()).collect();
    for topic in old.topics.iter().filter(|t| !new_topics.contains(t.name.value.as_str())) {
        out.push(Change {
            rule: rule("SPEC_TOPIC_NO_DELETE"),
            new: None,
            old: Some(topic.name.span),
            reason: format!("topic `{}` is deleted", topic.name.value),
        });
    }
    out.sort_by(|a, b| (a.new, a.old, a.rule.id, &a.reason).cmp(&(b.new, b.old, b.rule.id, &b.reason)));
    out
}

/// APIs deleted from a service (or with it), and APIs whose port number changed.
fn apis(old: &Service, new: Option<&Service>, today: Option<Date>, out: &mut Vec<Change>) {
    for api in &old.apis {
        let paired = new.and_then(|s| s.apis.iter().find(|a| a.name.value == api.name.value).map(|a| (s, a)));
        let Some((new_service, new_api)) = paired else {
            let whose = if new.is_some() { "" } else { ", with its service" };
            out.push(Change {
                rule: rule("SPEC_API_NO_DELETE"),
                new: new.map(|s| s.name.span),
                old: Some(api.name.span),
                reason: format!("API `{}` of service `{}` is deleted{whose}", api.name.value, old.name.value),
            });
            continue;
        };
        for version in api.versions.iter().filter(|v| !new_api.versions.iter().any(|n| n.name.value == v.name.value)) {
            if let Some(early) = deleted_early(version, today) {
                let reason = format!(
                    "version `{}` of API `{}` of service `{}` is deleted {early}",
                    version.name.value, api.name.value, old.name.value
                );
                out.push(Change {
                    rule: rule("SPEC_API_VERSION_NO_DELETE"),
                    new: Some(new_api.name.span),
                    old: Some(version.name.span),
                    reason,
                });
            }
        }
        let (Some(_), Some(_)) = (&old.address, &new_service.address) else { continue };
        let (old_port, new_port) = (old.port(api.port), new_service.port(new_api.port));
        if old_port.number != new_port.number {
            out.push(Change {
                rule: rule("SPEC_PORT_SAME"),
                new: Some(new_port.span),
                old: Some(old_port.span),
                reason: format!(
                    "API `{}` of service `{}` moved from port {} to port {}",
                    api.name.value,
                    old.name.value,
                    old_port.number.get(),
                    new_port.number.get()
                ),
            });
        }
    }
}

/// Why deleting `version` on `today` is early (its clients get no
/// warning): it was never deprecated, has no sunset, or its sunset is to
/// come; `None` when its sunset has passed. Without a day to judge by,
/// every sunset is to come.
fn deleted_early(version: &ApiVersion, today: Option<Date>) -> Option<String> {
    let Some(deprecation) = version.deprecation() else {
        return Some("without being deprecated: deprecate it with a sunset date, move its users, then delete it after the sunset".to_string());
    };
    match (&deprecation.sunset, today) {
        (None, _) => {
            Some("without a sunset date: set `sunset=`, move its users, then delete it after that day".to_string())
        }
        (Some(sunset), Some(today)) if sunset.value <= today => None,
        (Some(sunset), _) => {
            Some(format!("before its sunset ({}): its clients were promised it until then", sunset.value))
        }
    }
}

/// Routes deleted, and routes whose auth admits requests it refused.
fn routes(old: &Model, new: &Model, out: &mut Vec<Change>) {
    let new_routes: HashMap<(&str, &str), (&Route, Span)> = new
        .gateways
        .iter()
        .flat_map(|g| g.routes.iter().map(move |r| ((g.name.value.as_str(), r.name.value.as_str()), (r, g.name.span))))
        .collect();
    let new_gateways: HashMap<&str, Span> = new.gateways.iter().map(|g| (g.name.value.as_str(), g.name.span)).collect();
    for gateway in &old.gateways {
        for route in &gateway.routes {
            match new_routes.get(&(gateway.name.value.as_str(), route.name.value.as_str())) {
                None => out.push(Change {
                    rule: rule("SPEC_ROUTE_NO_DELETE"),
                    new: new_gateways.get(gateway.name.value.as_str()).copied(),
                    old: Some(route.name.span),
                    reason: format!("route `{}` of gateway `{}` is deleted", route.name.value, gateway.name.value),
                }),
                Some((new_route, _)) => {
                    for why in auth_weakenings(old, route, new, new_route) {
                        out.push(Change {
                            rule: rule("SPEC_ROUTE_AUTH_NO_WEAKEN"),
                            new: Some(new_route.auth.as_ref().map_or(new_route.name.span, |a| a.span)),
                            old: Some(route.auth.as_ref().map_or(route.name.span, |a| a.span)),
                            reason: format!("route `{}` of gateway `{}` {why}", route.name.value, gateway.name.value),
                        });
                    }
                }
            }
        }
    }
}

/// How a route's new auth admits requests the old one refused, each a
/// phrase completing "route `r` of gateway `g` ...".
fn auth_weakenings(old_model: &Model, old: &Route, new_model: &Model, new: &Route) -> Vec<String> {
    let (Some(old_auth), new_auth) = (&old.auth, &new.auth) else { return Vec::new() };
    let Some(new_auth) = new_auth else {
        let now = if new.public.is_some() { "is declared public now" } else { "needs no token any more" };
        return vec![format!("required a token and {now}")];
    };
    let mut out = Vec::new();
    let issuer = |m: &Model, a: &RouteAuth| m.issuer(a.issuer.value).name.value.clone();
    let (old_issuer, new_issuer) = (issuer(old_model, old_auth), issuer(new_model, new_auth));
    if old_issuer != new_issuer {
        out.push(format!("accepts tokens of issuer `{new_issuer}` instead of `{old_issuer}`"));
    }
    for claim in &old_auth.claims {
        if !new_auth.claims.iter().any(|c| same_condition(c, claim)) {
            out.push(format!("no longer requires {}", describe_condition(claim)));
        }
    }
    let roles = |m: &Model, a: &RouteAuth| -> BTreeSet<String> {
        a.roles.iter().map(|r| m.role(r.value).name.value.clone()).collect()
    };
    let (old_roles, new_roles) = (roles(old_model, old_auth), roles(new_model, new_auth));
    if !old_roles.is_empty() {
        if new_roles.is_empty() {
            out.push(format!("no longer requires a role (it required {})", quoted(&old_roles)));
        }
        for admitted in new_roles.difference(&old_roles) {
            out.push(format!("also admits role `{admitted}` (it required {})", quoted(&old_roles)));
        }
    }
    out
}

fn same_condition(a: &ClaimCondition, b: &ClaimCondition) -> bool {
    a.claim.value == b.claim.value && a.test == b.test
}

fn describe_condition(c: &ClaimCondition) -> String {
    match &c.test {
        ClaimTest::Equals(v) => format!("claim `{}` to equal `{v}`", c.claim.value),
        ClaimTest::Contains(v) => format!("claim `{}` to contain `{v}`", c.claim.value),
        ClaimTest::Present => format!("claim `{}`", c.claim.value),
    }
}

fn quoted(names: &BTreeSet<String>) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    names.join(" or ")
}

/// A caller by kind and name: principals pair across two models by name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum CallerName<'m> {
    Service(&'m str),
    Gateway(&'m str),
}

fn caller_name<'m>(model: &'m Model, principal: &Principal) -> CallerName<'m> {
    match principal {
        Principal::Service(id) => CallerName::Service(&model.service(*id).name.value),
        Principal::Gateway(id) => CallerName::Gateway(&model.gateway(*id).name.value),
    }
}

/// Every principal of a model by name.
fn principals(model: &Model) -> HashMap<CallerName<'_>, Principal> {
    let services = model.service_ids().map(Principal::Service);
    let gateways = model.gateway_ids().map(Principal::Gateway);
    services.chain(gateways).map(|p| (caller_name(model, &p), p)).collect()
}

/// The (caller, operation) pairs the new spec's calls and routes make, by
/// target service; built once, so judging every policy stays linear.
fn requests_by_target(model: &Model) -> HashMap<ServiceId, BTreeSet<(CallerName<'_>, Option<Operation>)>> {
    let mut out: HashMap<ServiceId, BTreeSet<(CallerName, Option<Operation>)>> = HashMap::new();
    for from in model.service_ids() {
        for call in &model.service(from).calls {
            let name = caller_name(model, &Principal::Service(from));
            out.entry(call.target.value).or_default().insert((name, call.operation.as_ref().map(|o| o.value.clone())));
        }
    }
    for gateway in model.gateway_ids() {
        for forward in model.gateway(gateway).routes.iter().filter_map(Route::forward) {
            let name = caller_name(model, &Principal::Gateway(gateway));
            let operation = forward.operation.as_ref().map(|o| o.value.clone());
            out.entry(forward.target.value).or_default().insert((name, operation));
        }
    }
    out
}

/// The principals of both models by name, and the requests the new one makes.
struct Callers<'m> {
    old: HashMap<CallerName<'m>, Principal>,
    new: HashMap<CallerName<'m>, Principal>,
    requests: HashMap<ServiceId, BTreeSet<(CallerName<'m>, Option<Operation>)>>,
}

/// Requests the new authorization allows and the old one refused: for
/// every (caller, operation) the new spec makes (its calls and routes to
/// the service) or the new rules allow, and every one an old rule denied.
/// A caller the old spec does not know is judged as one no old rule names.
fn policy<'m>(
    old_model: &'m Model,
    old: &Service,
    new_model: &'m Model,
    target: ServiceId,
    callers: &Callers<'m>,
    out: &mut Vec<Change>,
) {
    let new = new_model.service(target);
    let Some(old_auth) = old.authorization() else { return };
    let Some(new_auth) = new.authorization() else {
        out.push(Change {
            rule: rule("SPEC_POLICY_NO_WEAKEN"),
            new: Some(new.name.span),
            old: Some(old_auth.span),
            reason: format!("service `{}` has no authorization any more: every caller may call it", new.name.value),
        });
        return;
    };
    let mut requests = callers.requests.get(&target).cloned().unwrap_or_default();
    for (model, auth, action) in [(new_model, new_auth, RuleAction::Allow), (old_model, old_auth, RuleAction::Deny)] {
        for r in auth.rules().iter().filter(|r| r.action == action) {
            for p in r.principals.iter().map(|p| &p.value).chain(r.role_members.iter().map(|(p, _)| p)) {
                let ops: Vec<Option<Operation>> = if r.operations.is_empty() {
                    vec![None]
                } else {
                    r.operations.iter().map(|o| Some(o.value.clone())).collect()
                };
                requests.extend(ops.into_iter().map(|op| (caller_name(model, p), op)));
            }
        }
    }
    for (name, operation) in &requests {
        let Some(new_principal) = callers.new.get(name) else { continue };
        if new_auth.decide(Some(new_principal), operation.as_ref()) != Verdict::Allowed {
            continue;
        }
        let refused = match old_auth.decide(callers.old.get(name), operation.as_ref()) {
            Verdict::Allowed => continue,
            Verdict::DeniedBy(rule) => ("a `deny` rule refused it".to_string(), rule.span),
            Verdict::NotAllowed => ("no `allow` rule admitted it".to_string(), old_auth.span),
        };
        let who = match name {
            CallerName::Service(n) => format!("service `{n}`"),
            CallerName::Gateway(n) => format!("gateway `{n}`"),
        };
        let what = operation.as_ref().map_or("any operation".to_string(), |o| format!("`{o}`"));
        out.push(Change {
            rule: rule("SPEC_POLICY_NO_WEAKEN"),
            new: Some(allowing_rule(new_auth, new_principal, operation.as_ref()).unwrap_or(new_auth.span)),
            old: Some(refused.1),
            reason: format!(
                "the authorization of service `{}` now lets {who} call {what}, which {}",
                new.name.value, refused.0
            ),
        });
    }
}

fn allowing_rule(auth: &Authorization, from: &Principal, operation: Option<&Operation>) -> Option<Span> {
    auth.rules().iter().find(|r| r.action == RuleAction::Allow && r.covers(from, operation)).map(|r| r.span)
}

/// A topic present in both versions whose new current schema breaks the
/// topic's (new) compatibility mode against the old current schema,
/// judged by `schema::compat` as the event bus checks judge a topic's
/// versions. One change per pair of versions, naming the first break.
/// Topics whose current schema is the same file text are skipped.
pub fn topic_changes(
    old: &Model,
    old_schemas: &SchemaIndex,
    new: &Model,
    new_schemas: &SchemaIndex,
    unchanged: impl Fn(&crate::schema::Schema, &crate::schema::Schema) -> bool,
) -> Vec<(TopicId, Change)> {
    let old_topics: HashMap<&str, &crate::model::Topic> =
        old.topics.iter().map(|t| (t.name.value.as_str(), t)).collect();
    let mut out = Vec::new();
    for id in new.topic_ids() {
        let topic = new.topic(id);
        let Some(old_topic) = old_topics.get(topic.name.value.as_str()) else { continue };
        let mode = topic.compatibility.value;
        let (old_version, new_version) = (old_topic.current(), topic.current());
        let (Some(old_schema), Some(new_schema)) =
            (old_schemas.get(old_version.schema), new_schemas.get(new_version.schema))
        else {
            continue;
        };
        let message = |v: &crate::model::SchemaVersion| v.message.as_ref().map(|m| m.value.clone());
        if unchanged(old_schema, new_schema) && message(old_version) == message(new_version) {
            continue;
        }
        let (Some(old_event), Some(new_event)) = (event_of(old_schema, old_version), event_of(new_schema, new_version))
        else {
            continue;
        };
        let breaks = compat::check_mode(mode, &[old_event, new_event], compat::reader_can_read);
        let Some(first) = breaks.first() else { continue };
        let new_reads = first.reader == 1;
        let direction = if new_reads {
            "the new schema cannot read events written with the old one"
        } else {
            "readers of the old schema cannot read events written with the new one"
        };
        let (new_span, old_span) =
            if new_reads { (first.why.reader, first.why.writer) } else { (first.why.writer, first.why.reader) };
        let more = if breaks.len() > 1 { format!(" (and {} more)", breaks.len() - 1) } else { String::new() };
        out.push((
            id,
            Change {
                rule: rule("SPEC_TOPIC_SCHEMA_COMPATIBLE"),
                new: Some(new_span.unwrap_or(new_version.span)),
                old: Some(old_span.unwrap_or(old_version.span)),
                reason: format!(
                    "topic `{}` breaks its `{}` compatibility: {direction}: {}, {}{more}",
                    topic.name.value,
                    mode.as_str(),
                    first.why.location(),
                    first.why.reason
                ),
            },
        ));
    }
    out
}

fn event_of<'s>(
    schema: &'s crate::schema::Schema,
    version: &crate::model::SchemaVersion,
) -> Option<compat::EventType<'s>> {
    schema.event_type(version.message.as_ref().map(|m| m.value.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_rules_are_spec_format_and_breaking() {
        for rule in RULES {
            assert_eq!(rule.format, Format::Spec, "{}", rule.id);
            assert!(rule.id.starts_with("SPEC_"), "{}", rule.id);
            assert!(matches!(rule.judged, Judged::Level(Level::Breaking)), "{}", rule.id);
        }
    }

    #[test]
    fn conditions_compare_by_claim_and_test() {
        let span = Span::new(crate::base::FileId(0), 0..0);
        let c = |claim: &str, test: ClaimTest| ClaimCondition {
            claim: crate::base::Spanned::new(claim.to_string(), span),
            test,
            span,
        };
        assert!(same_condition(&c("roles", ClaimTest::Present), &c("roles", ClaimTest::Present)));
        assert!(!same_condition(&c("roles", ClaimTest::Contains("a".into())), &c("roles", ClaimTest::Present)));
        assert_eq!(describe_condition(&c("scope", ClaimTest::Contains("w".into()))), "claim `scope` to contain `w`");
    }
}
