//! `meshc diff` of two workspaces (`meshc diff OLD NEW` of two spec
//! directories or root files, `meshc diff --against REF`): both are
//! loaded, lowered and their schemas read (the check passes are `meshc
//! check`'s), then compared three ways:
//!
//! - each API present in both (paired by service and API name) by its
//!   schema format's rules ([`compare_api_schema`] dispatches: protobuf,
//!   OpenAPI, GraphQL), skipping schemas whose digest is unchanged;
//! - each topic present in both by its compatibility mode, with the event
//!   bus's compatibility code;
//! - the spec itself ([`breaking::spec`]).
//!
//! Consumer awareness: a breaking schema change is an error only when a
//! declared user of the new spec (a caller, gateway route or GraphQL
//! resolver of the API; a producer or consumer of the topic) uses what
//! changed, and the message names them; otherwise it is a warning saying
//! no declared user is affected.
//!
//! What a change is in: the RPCs it reaches (protobuf), the operations
//! (OpenAPI: method and path) or root fields (GraphQL: `Query.x`) it is in
//! or whose schemas reach it; a user naming no operation uses all of them,
//! and a change placed nowhere reaches every user.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::{common_ancestor, front_end_in, Compilation, Diffed};
use crate::base::fs::FileSystem;
use crate::base::{Sources, Span};
use crate::diag::{Code, Diagnostic, Severity, Sink};
use crate::model::api_versions::{Allowed, Date, RouteVersions};
use crate::model::values::{Operation, SchemaFormat};
use crate::model::{Api, Model, PortId, SchemaId, Service, ServiceId};
use crate::schema::breaking::affected::Impact;
use crate::schema::breaking::{self, Change, Policy, Verdict};
use crate::schema::proto_module::{self, ProtoModule};
use crate::schema::Schema;

/// Users named in a message; the rest are counted.
const NAMED_USERS: usize = 3;

/// One side of a workspace diff: where its files come from and where its
/// spec is.
pub struct Side<'a> {
    pub fs: &'a dyn FileSystem,
    /// The workspace: a directory holding `mesh.kdl`, or a root `.kdl` file.
    pub path: &'a Path,
    /// Shown before its files' paths (`main:` for a git ref), else nothing.
    pub label: &'a str,
}

/// Compares two workspaces; see the module documentation.
pub fn diff_workspaces_in(old: Side, new: Side, policy: &Policy) -> Diffed {
    // The check passes are `meshc check`'s: a diff needs each version's
    // model and schemas, which lowering and loading errors alone prevent.
    let mut old_run = front_end_in(old.fs, old.path, None, &[], false);
    let mut new_run = front_end_in(new.fs, new.path, None, &[], false);
    let canonical = |side: &Side| side.fs.canonicalize(side.path).unwrap_or_else(|_| side.path.to_path_buf());
    let mut sources = Sources::new(&common_ancestor(&canonical(&old), &canonical(&new)));
    let (Some(old_model), Some(new_model)) = (old_run.model.take(), new_run.model.take()) else {
        return unloaded(old_run, &old, new_run, &new, sources);
    };
    if old_run.errors() > 0 || new_run.errors() > 0 {
        return unloaded(old_run, &old, new_run, &new, sources);
    }
    let mut found = Found::default();
    apis(&old_model, &mut old_run, &old, &new_model, &mut new_run, &new, policy, &mut found);
    let same = |o: &Schema, n: &Schema| unchanged(o, &old_run.sources, n, &new_run.sources);
    let topic_changes = breaking::spec::topic_changes(&old_model, &old_run.schemas, &new_model, &new_run.schemas, same);
    let users_of_topic = if topic_changes.is_empty() { HashMap::new() } else { topic_users(&new_model) };
    for (topic, change) in topic_changes {
        let t = new_model.topic(topic);
        let allowed = Allowed::TopicVersion(t.current().number);
        if t.evolution.exceptions.iter().any(|e| e.allows.value == allowed && e.applies_on(new_model.today)) {
            continue;
        }
        let users = Some((users_of_topic.get(&topic).cloned().unwrap_or_default(), "producer or consumer"));
        found.changes.push(Judged::error(change, users));
    }
    for change in breaking::spec::compare(&old_model, &new_model) {
        found.changes.push(Judged::error(change, None));
    }
    sources.append(&old_run.sources, old.label);
    let offset = sources.append(&new_run.sources, new.label);
    let mut sink = Sink::new();
    sink.extend(found.old_errors);
    sink.extend(found.new_errors.into_iter().map(|d| shifted(d, offset)));
    sink.extend(found.changes.into_iter().map(|j| j.diagnostic(offset)));
    Diffed { sources, diagnostics: sink.into_sorted(), loaded: true }
}

/// What a workspace diff found, its spans still in each version's own
/// sources (the new version's shift once both are merged).
#[derive(Default)]
struct Found {
    changes: Vec<Judged>,
    /// Diagnostics in the old version's sources.
    old_errors: Vec<Diagnostic>,
    /// Diagnostics in the new version's sources.
    new_errors: Vec<Diagnostic>,
}

/// A change and how it is reported.
struct Judged {
    change: Change,
    /// By category: an error for a rule of the chosen one, a warning for
    /// a rule only of stricter ones.
    severity: Severity,
    /// Consumer awareness: the declared users of what changed, and what
    /// kind of user they are; `None` for changes judged without users.
    users: Option<(Vec<User>, &'static str)>,
    /// Why the change breaks a promise whoever uses it (a released API
    /// version, a major version kept): it stays an error without users.
    contract: Option<String>,
    help: Option<String>,
    note: Option<String>,
}

impl Judged {
    fn error(change: Change, users: Option<(Vec<User>, &'static str)>) -> Judged {
        Judged { change, severity: Severity::Error, users, contract: None, help: None, note: None }
    }

    fn warning(change: Change, note: String) -> Judged {
        Judged { change, severity: Severity::Warning, users: None, contract: None, help: None, note: Some(note) }
    }

    /// The diagnostic, its new-version spans moved `offset` files on.
    fn diagnostic(self, offset: u32) -> Diagnostic {
        let change = Change { new: self.change.new.map(|s| s.shifted(offset)), ..self.change };
        let mut d = change_diagnostic(&change, self.severity);
        if let Some((users, kind)) = self.users {
            let users: Vec<User> = users.into_iter().map(|u| User { span: u.span.shifted(offset), ..u }).collect();
            d = judged(d, &users, kind, self.contract.as_deref());
        }
        if d.severity == Severity::Error {
            d = d.help_opt(self.help);
        }
        match self.note {
            Some(note) => d.note(note),
            None => d,
        }
    }
}

/// A version did not compile: its errors, and nothing compared.
fn unloaded(old_run: Compilation, old: &Side, new_run: Compilation, new: &Side, mut sources: Sources) -> Diffed {
    sources.append(&old_run.sources, old.label);
    let offset = sources.append(&new_run.sources, new.label);
    let errors = |run: &Compilation| {
        run.diagnostics.iter().filter(|d| d.severity == Severity::Error).cloned().collect::<Vec<_>>()
    };
    let mut sink = Sink::new();
    sink.extend(errors(&old_run));
    sink.extend(errors(&new_run).into_iter().map(|d| shifted(d, offset)));
    if !sink.has_errors() {
        // No spec file could be read, and the loader said why in no error.
        sink.push(Diagnostic::new(
            Code::UnreadableFile,
            format!("no workspace at `{}` or `{}`", old.path.display(), new.path.display()),
        ));
    }
    Diffed { sources, diagnostics: sink.into_sorted(), loaded: false }
}

/// A diagnostic whose every span is in the new version's sources, moved
/// into the merged ones.
fn shifted(mut d: Diagnostic, offset: u32) -> Diagnostic {
    if let Some(primary) = &mut d.primary {
        primary.span = primary.span.shifted(offset);
    }
    for label in &mut d.secondary {
        label.span = label.span.shifted(offset);
    }
    d
}

/// A change as a diagnostic of `severity`, at its new place, labelling the old.
fn change_diagnostic(change: &Change, severity: Severity) -> Diagnostic {
    let mut d = Diagnostic::new(Code::BreakingChange, change.reason.clone()).rule(change.rule.id);
    d.severity = severity;
    d = match (change.new, change.old) {
        (Some(new), Some(old)) => d.at(new, "in the new version").with_label(old, "in the old version"),
        (Some(new), None) => d.at(new, "in the new version"),
        (None, Some(old)) => d.at(old, "in the old version, gone from the new one"),
        (None, None) => d,
    };
    d.note(format!("{}: {}", change.rule.id, change.rule.purpose))
}

/// A declared user of an API or topic in the new spec.
#[derive(Clone, Debug)]
struct User {
    /// "service `web`", "route `orders` of gateway `public`", ...
    who: String,
    span: Span,
}

/// Consumer awareness: an error stays an error when `users` use what
/// changed (the message names them), or when the schema keeps a
/// `contract` (a major version) that a breaking change needs a new one
/// for; otherwise it becomes a warning.
fn judged(mut d: Diagnostic, users: &[User], kind: &str, contract: Option<&str>) -> Diagnostic {
    if d.severity != Severity::Error {
        return d;
    }
    if users.is_empty() {
        return match contract {
            Some(contract) => d.note(format!("{contract}: a breaking change needs a new major version, whether or not a declared {kind} uses what changed")),
            None => {
                d.severity = Severity::Warning;
                d.note(format!("no declared {kind} of the new spec uses what changed, so nothing in the mesh breaks; undeclared users might"))
            }
        };
    }
    if let Some(contract) = contract {
        d = d.note(format!("{contract}: a breaking change needs a new major version"));
    }
    let mut names: Vec<&str> = users.iter().map(|u| u.who.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    let more = names.len().saturating_sub(NAMED_USERS);
    names.truncate(NAMED_USERS);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    d.message = format!("{}; used by {}{more}", d.message.trim_end_matches('.'), names.join(", "));
    for user in users.iter().take(NAMED_USERS) {
        d = d.with_label(user.span, format!("{} uses it", user.who));
    }
    d
}

/// The producers and consumers of each topic, gathered in one pass (a
/// lookup per changed topic would scan every producer and consumer again).
fn topic_users(model: &Model) -> HashMap<crate::model::TopicId, Vec<User>> {
    let mut users: HashMap<_, Vec<User>> = HashMap::new();
    for p in &model.events.producers {
        let who = format!("producer `{}`", model.service(p.service).name.value);
        users.entry(p.topic.value).or_default().push(User { who, span: p.span });
    }
    for c in &model.events.consumers {
        let who = format!("consumer `{}`", model.service(c.service).name.value);
        users.entry(c.topic.value).or_default().push(User { who, span: c.span });
    }
    users
}

/// A use of a service's API: by whom, on which port, for which operation
/// (`None`: the whole port, as a call or route naming no operation), and
/// which of the API's versions.
struct ApiUse {
    user: User,
    port: PortId,
    operation: Option<Operation>,
    versions: UsedVersions,
}

/// The versions of an API a use sends requests to.
#[derive(Clone)]
enum UsedVersions {
    /// Whichever is current (a call or route naming none; every use of an
    /// unversioned API).
    Current,
    /// The version of this name (`api-version="v1"`).
    Named(String),
    /// Each of them by its selector, and the current one for requests
    /// naming none (a gateway route serving versions side by side).
    All,
}

impl UsedVersions {
    fn of(model: &Model, target: ServiceId, named: Option<crate::model::api_versions::ApiVersionRef>) -> UsedVersions {
        match named {
            Some(r) => {
                UsedVersions::Named(model.service(target).apis[r.api.index()].version(r.version).name.value.clone())
            }
            None => UsedVersions::Current,
        }
    }

    /// Whether requests naming version `name` come from this use.
    fn names(&self, name: &str) -> bool {
        match self {
            UsedVersions::Named(n) => n == name,
            UsedVersions::All => true,
            UsedVersions::Current => false,
        }
    }

    /// Whether requests naming no version come from this use.
    fn follows_current(&self) -> bool {
        matches!(self, UsedVersions::Current | UsedVersions::All)
    }
}

/// Every declared use of each service's APIs in `model`, by target.
fn uses_by_target(model: &Model) -> HashMap<ServiceId, Vec<ApiUse>> {
    let mut out: HashMap<ServiceId, Vec<ApiUse>> = HashMap::new();
    for (id, service) in model.service_ids().map(|id| (id, model.service(id))) {
        for call in &service.calls {
            let user = User { who: format!("service `{}`", service.name.value), span: call.span };
            let operation = call.operation.as_ref().map(|o| o.value.clone());
            let versions = UsedVersions::of(model, call.target.value, call.api_version);
            out.entry(call.target.value).or_default().push(ApiUse { user, port: call.port, operation, versions });
        }
        for api in &service.apis {
            for resolver in &api.resolvers {
                let who = format!("resolver `{}` of service `{}`", resolver.field.value, service.name.value);
                let user = User { who, span: resolver.span };
                // A resolver uses the operation it fetches, and its own API's field.
                let operation = Some(resolver.operation.value.clone());
                out.entry(resolver.target.value).or_default().push(ApiUse {
                    user: user.clone(),
                    port: resolver.port,
                    operation,
                    versions: UsedVersions::Current,
                });
                let field = Some(resolver.field.value.clone());
                let versions = UsedVersions::Current;
                out.entry(id).or_default().push(ApiUse { user, port: api.port, operation: field, versions });
            }
        }
    }
    for gateway in &model.gateways {
        for route in &gateway.routes {
            let Some(forward) = route.forward() else { continue };
            let target = model.service(forward.target.value);
            let operation = forward.operation.as_ref().map(|o| o.value.clone());
            let who = format!("route `{}` of gateway `{}`", route.name.value, gateway.name.value);
            let port = target.route_port(operation.as_ref());
            let user = User { who, span: route.span };
            let uses = out.entry(forward.target.value).or_default();
            let mut push = |versions| {
                uses.push(ApiUse { user: user.clone(), port, operation: operation.clone(), versions });
            };
            match &forward.api_versions {
                None => push(UsedVersions::Current),
                Some(RouteVersions::SideBySide { .. }) => push(UsedVersions::All),
                Some(versions) => {
                    for named in versions.named() {
                        push(UsedVersions::of(model, forward.target.value, Some(named)));
                    }
                }
            }
        }
    }
    out
}

/// Pairs APIs by (service, API name) and compares the schemas that changed.
#[allow(clippy::too_many_arguments)]
fn apis(
    old_model: &Model,
    old_run: &mut Compilation,
    old: &Side,
    new_model: &Model,
    new_run: &mut Compilation,
    new: &Side,
    policy: &Policy,
    found: &mut Found,
) {
    let old_services: HashMap<&str, &Service> = old_model.services.iter().map(|s| (s.name.value.as_str(), s)).collect();
    let uses = uses_by_target(new_model);
    // Many APIs may share a schema file: each pair of files is judged once,
    // by the uses of every API serving it.
    let mut unchanged_pairs: HashMap<(SchemaId, SchemaId), bool> = HashMap::new();
    let mut changed: BTreeMap<(SchemaId, SchemaId), Compared> = BTreeMap::new();
    for target in new_model.service_ids() {
        let service = new_model.service(target);
        let Some(old_service) = old_services.get(service.name.value.as_str()) else { continue };
        for api in &service.apis {
            let Some(old_api) = old_service.apis.iter().find(|a| a.name.value == api.name.value) else { continue };
            if old_api.kind != api.kind {
                let d = Diagnostic::new(
                    Code::SchemaChangeNotCompared,
                    format!(
                        "API `{}` of service `{}` changed from {} to {}: a {} and a {} are not compared",
                        api.name.value,
                        service.name.value,
                        old_api.kind.as_str(),
                        api.kind.as_str(),
                        old_api.kind.schema_format().describe(),
                        api.kind.schema_format().describe()
                    ),
                )
                .at(api.name.span, "its kind changed")
                .help("every caller of the old kind breaks: serve the new kind as a new API beside the old one until they move");
                found.new_errors.push(d);
                continue;
            }
            let api_uses: Vec<&ApiUse> = uses
                .get(&target)
                .into_iter()
                .flatten()
                .filter(|u| u.port == api.port && u.operation.as_ref().is_none_or(|op| api.serves(op)))
                .collect();
            for pair in schema_pairs(old_api, api, &api_uses) {
                let key = (pair.old, pair.new);
                let same = *unchanged_pairs.entry(key).or_insert_with(|| {
                    match (old_run.schemas.get(pair.old), new_run.schemas.get(pair.new)) {
                        (Some(o), Some(n)) => unchanged(o, &old_run.sources, n, &new_run.sources),
                        // A schema that did not load is reported as an error already.
                        _ => true,
                    }
                });
                if same {
                    continue;
                }
                let entry = changed.entry(key).or_insert_with(|| Compared {
                    api,
                    uses: Vec::new(),
                    released: None,
                    versions: BTreeSet::new(),
                });
                entry.uses.extend(pair.uses);
                if let Some(version) = pair.released {
                    let released = format!("version `{version}` of API `{}` is released", api.name.value);
                    entry.released.get_or_insert(released);
                }
                entry.versions.extend(pair.version);
            }
        }
    }
    for ((old_schema, new_schema), compared) in changed {
        let pair = ApiPair {
            old_schema,
            new_schema,
            old_path: old_model.schema(old_schema).path.clone(),
            old_includes: includes(old_model),
            new_path: new_model.schema(new_schema).path.clone(),
            new_includes: includes(new_model),
        };
        let mut judged = Found::default();
        compare_api_schema(&compared, &pair, old_run, old, new_run, new, &compared.policy(policy), &mut judged);
        // Exceptions first: a warning at the place of an allowed error stands.
        judged.changes.retain(|j| !compared.allows(&j.change, new_model.today));
        found.changes.extend(unmarked_warnings(judged.changes));
        found.old_errors.extend(judged.old_errors);
        found.new_errors.extend(judged.new_errors);
    }
}

/// A pair of an API's schema files to compare, and who is affected.
struct SchemaPair<'u> {
    old: SchemaId,
    new: SchemaId,
    /// Those whose requests went to `old` and now go to `new`.
    uses: Vec<&'u ApiUse>,
    /// The version both files are of, when it is one of the same name on
    /// both sides: a released contract, which breaking changes need a new
    /// major version for, whoever uses it.
    released: Option<String>,
    /// The new version the new file is of (`None`: the API has none).
    version: Option<String>,
}

/// What to compare of one API: each version present on both sides, its
/// old schema against its new one, used by those naming it; and the old
/// current schema against the new current one, used by those naming no
/// version (they move with the current version). An API that was not
/// versioned is its own one version: each new version is compared with it.
fn schema_pairs<'u>(old: &Api, new: &Api, uses: &[&'u ApiUse]) -> Vec<SchemaPair<'u>> {
    let mut pairs = Vec::new();
    let current_name = |api: &Api| api.current_version().map(|v| api.version(v).name.value.clone());
    for version in &new.versions {
        let name = &version.name.value;
        let old_schema = match old.versions.iter().find(|v| v.name.value == *name) {
            Some(old_version) => old_version.schema,
            None if !old.is_versioned() => old.schema,
            // A new version: whoever names it was written against it.
            None => continue,
        };
        let released = old.versions.iter().any(|v| v.name.value == *name).then(|| name.clone());
        let users = uses.iter().copied().filter(|u| u.versions.names(name)).collect();
        let of = Some(name.clone());
        pairs.push(SchemaPair { old: old_schema, new: version.schema, uses: users, released, version: of });
    }
    let same_current = current_name(old).filter(|name| Some(name) == current_name(new).as_ref());
    let followers = uses.iter().copied().filter(|u| u.versions.follows_current()).collect();
    let version = current_name(new);
    pairs.push(SchemaPair { old: old.schema, new: new.schema, uses: followers, released: same_current, version });
    pairs
}

/// A pair of schema files under comparison: the API they are of (the
/// first, when several share them), their users, and whether they are of
/// a released version.
struct Compared<'a> {
    api: &'a Api,
    uses: Vec<&'a ApiUse>,
    released: Option<String>,
    /// The new versions the new file is of.
    versions: BTreeSet<String>,
}

impl Compared<'_> {
    /// The API's protobuf category (its `evolution category=`), else the command's.
    fn policy(&self, policy: &Policy) -> Policy {
        let category = self.api.evolution.category.as_ref().map_or(policy.category, |c| c.value);
        Policy { category, ..*policy }
    }

    /// Whether an exception of the API allows `change` on `today`: its rule,
    /// in any version or in one the new file is of.
    fn allows(&self, change: &Change, today: Option<Date>) -> bool {
        self.api.evolution.exceptions.iter().any(|e| {
            let Allowed::Rule { id, version } = &e.allows.value else { return false };
            *id == change.rule.id
                && version.as_ref().is_none_or(|v| self.versions.contains(&v.value))
                && e.applies_on(today)
        })
    }
}

/// The `proto-include` directories of a spec.
fn includes(model: &Model) -> Vec<PathBuf> {
    model.proto_includes.iter().map(|d| d.value.clone()).collect()
}

/// Whether two versions of a schema are the same: a `.proto` file's
/// digest with its imports, else the file's text.
fn unchanged(old: &Schema, old_sources: &Sources, new: &Schema, new_sources: &Sources) -> bool {
    match (old.proto_fingerprint(), new.proto_fingerprint()) {
        (Some(a), Some(b)) => a == b,
        (None, None) => old_sources.get(old.file).text == new_sources.get(new.file).text,
        _ => false,
    }
}

/// The schema files of one API in both versions.
struct ApiPair {
    old_schema: SchemaId,
    new_schema: SchemaId,
    old_path: PathBuf,
    old_includes: Vec<PathBuf>,
    new_path: PathBuf,
    new_includes: Vec<PathBuf>,
}

/// The one place an API's two schema versions are compared, by format;
/// formats not compared for APIs are `MESH0104`.
#[allow(clippy::too_many_arguments)]
fn compare_api_schema(
    compared: &Compared,
    pair: &ApiPair,
    old_run: &mut Compilation,
    old: &Side,
    new_run: &mut Compilation,
    new: &Side,
    policy: &Policy,
    found: &mut Found,
) {
    let (api, uses) = (compared.api, compared.uses.as_slice());
    let released = compared.released.as_deref();
    match api.kind.schema_format() {
        SchemaFormat::Proto => {
            let old_module =
                proto_module::load_schema(old.fs, &pair.old_path, &pair.old_includes, &mut old_run.sources);
            let new_module =
                proto_module::load_schema(new.fs, &pair.new_path, &pair.new_includes, &mut new_run.sources);
            match (old_module, new_module) {
                (Ok(o), Ok(n)) => found.changes.extend(protobuf_changes(&o, &n, uses, released, policy)),
                (o, n) => {
                    found.old_errors.extend(o.err().map(|d| *d));
                    found.new_errors.extend(n.err().map(|d| *d));
                }
            }
        }
        SchemaFormat::OpenApi => {
            let documents = (old_run.schemas.get(pair.old_schema), new_run.schemas.get(pair.new_schema));
            if let (Some(o), Some(n)) = documents {
                if let (Some(o), Some(n)) = (o.openapi_document(), n.openapi_document()) {
                    let placed = breaking::openapi::compare_placed(o, n);
                    let by_operation = UsesByOperation::new(uses, rest_key);
                    let users_of = |i: usize| by_operation.reached(placed.operations(i));
                    let contract =
                        released.map(str::to_string).or_else(|| same_major(o.info_version(), n.info_version()));
                    found.changes.extend(level_changes(&placed.changes, users_of, contract, policy));
                }
            }
        }
        SchemaFormat::Graphql => {
            let documents = (old_run.schemas.get(pair.old_schema), new_run.schemas.get(pair.new_schema));
            if let (Some(o), Some(n)) = documents {
                if let (Some(o), Some(n)) = (o.graphql_document(), n.graphql_document()) {
                    let placed = breaking::graphql::compare_placed(&o, &n);
                    let by_operation = UsesByOperation::new(uses, graphql_key);
                    let users_of = |i: usize| by_operation.reached(placed.root_fields(i));
                    let contract = released.map(str::to_string);
                    found.changes.extend(level_changes(&placed.changes, users_of, contract, policy));
                }
            }
        }
        SchemaFormat::Avro | SchemaFormat::JsonSchema | SchemaFormat::Jwks => {
            let schema = new_run.schemas.get(pair.new_schema).map(|s| s.file);
            let mut d = Diagnostic::new(
                Code::SchemaChangeNotCompared,
                format!(
                    "the {} of API `{}` changed and meshc does not compare that format for APIs",
                    api.kind.schema_format().describe(),
                    api.name.value
                ),
            )
            .help("review the change by hand, or compare the two files with `meshc diff OLD NEW`");
            if let Some(file) = schema {
                d = d.at(Span::new(file, 0..0), "changed");
            }
            found.new_errors.push(d);
        }
    }
}

/// An OpenAPI document that keeps its major version (`info.version` 1.2.0
/// → 1.3.0) promises its clients compatibility: why, or `None` when the
/// major changed or either version is no semantic version of major 1 or
/// more (0.x promises nothing).
fn same_major(old: Option<&str>, new: Option<&str>) -> Option<String> {
    let major = |v: &str| v.trim_start_matches('v').split('.').next()?.parse::<u64>().ok().filter(|m| *m > 0);
    let (old, new) = (old?, new?);
    let kept = major(new)?;
    (major(old)? == kept).then(|| format!("the document stays at major version {kept} (`info.version` {old} → {new})"))
}

/// A REST operation as [`breaking::openapi::Placed::operations`] names it.
fn rest_key(operation: &Operation) -> Option<String> {
    match operation {
        Operation::Rest { method, path } => Some(breaking::openapi::operation_key(method.as_str(), path)),
        _ => None,
    }
}

/// A GraphQL root field as [`breaking::graphql::Placed::root_fields`] names it.
fn graphql_key(operation: &Operation) -> Option<String> {
    match operation {
        Operation::Graphql { root, field } => Some(format!("{}.{field}", root.as_str())),
        _ => None,
    }
}

/// An API's uses by the operation each names (as `key` spells it), found
/// once per schema pair, so each change costs what it reaches, not every use.
struct UsesByOperation<'u> {
    uses: &'u [&'u ApiUse],
    named: HashMap<String, Vec<usize>>,
    /// Uses naming no operation (or one `key` does not spell): they reach every change.
    whole: Vec<usize>,
}

impl<'u> UsesByOperation<'u> {
    fn new(uses: &'u [&'u ApiUse], key: fn(&Operation) -> Option<String>) -> Self {
        let mut named: HashMap<String, Vec<usize>> = HashMap::new();
        let mut whole = Vec::new();
        for (i, u) in uses.iter().enumerate() {
            match u.operation.as_ref().and_then(key) {
                Some(k) => named.entry(k).or_default().push(i),
                None => whole.push(i),
            }
        }
        UsesByOperation { uses, named, whole }
    }

    /// The users a change placed at `operations` reaches: those naming one
    /// of them and those naming none; every user when the change could not
    /// be placed (`None`). In declaration order.
    fn reached<K: std::borrow::Borrow<str>>(&self, operations: Option<impl IntoIterator<Item = K>>) -> Vec<User> {
        let Some(operations) = operations else {
            return self.uses.iter().map(|u| u.user.clone()).collect();
        };
        let mut reached = self.whole.clone();
        for operation in operations {
            reached.extend(self.named.get(operation.borrow()).into_iter().flatten());
        }
        reached.sort_unstable();
        reached.dedup();
        reached.into_iter().map(|i| self.uses[i].user.clone()).collect()
    }
}

/// A gRPC method as [`Impact`] names it (`pkg.Service/Method`).
fn grpc_key(operation: &Operation) -> Option<String> {
    match operation {
        Operation::Grpc { service, method } => Some(format!("{service}/{method}")),
        _ => None,
    }
}

/// Changes of rules judged by level (OpenAPI, GraphQL) under `policy`:
/// breaking ones are errors judged by the users `users_of(index)` gives
/// and the `contract` the schema keeps, dangerous ones warnings.
fn level_changes(
    changes: &[Change],
    users_of: impl Fn(usize) -> Vec<User>,
    contract: Option<String>,
    policy: &Policy,
) -> Vec<Judged> {
    let mut out = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        match change.rule.verdict(policy) {
            Verdict::Breaking => {
                let users = Some((users_of(i), "caller, route or resolver"));
                let help = Some(
                    "keep the API compatible, or serve the change as a new version of it (`version \"v2\" schema=...`) beside the old one and move its users over".to_string(),
                );
                let contract = contract.clone();
                out.push(Judged {
                    change: change.clone(),
                    severity: Severity::Error,
                    users,
                    contract,
                    help,
                    note: None,
                });
            }
            Verdict::Warning => {
                let note = format!(
                    "{} is a dangerous change: clients keep working but may behave differently",
                    change.rule.id
                );
                out.push(Judged::warning(change.clone(), note));
            }
            Verdict::Ignored => {}
        }
    }
    out
}

/// Drops the warnings at a place an error already marks: one diagnostic per place.
fn unmarked_warnings(judged: Vec<Judged>) -> Vec<Judged> {
    let marked: std::collections::HashSet<_> =
        judged.iter().filter(|j| j.severity == Severity::Error).map(|j| (j.change.new, j.change.old)).collect();
    judged
        .into_iter()
        .filter(|j| j.severity == Severity::Error || !marked.contains(&(j.change.new, j.change.old)))
        .collect()
}

/// Protobuf changes judged by category, then by the uses of the RPCs
/// they affect and the major version they keep (a released API version,
/// or a package `shop.orders.v1` on both sides); breaking changes get
/// advice on major versions (`shop.orders.v1` → `v2`).
fn protobuf_changes(
    old: &ProtoModule,
    new: &ProtoModule,
    uses: &[&ApiUse],
    released: Option<&str>,
    policy: &Policy,
) -> Vec<Judged> {
    let changes = breaking::protobuf::compare(old, new);
    let mut rpcs: Vec<(String, String)> = uses
        .iter()
        .filter_map(|u| match &u.operation {
            Some(Operation::Grpc { service, method }) => Some((service.clone(), method.clone())),
            _ => None,
        })
        .collect();
    rpcs.sort();
    rpcs.dedup();
    let impact = Impact::new(old, new, &rpcs);
    let by_operation = UsesByOperation::new(uses, grpc_key);
    let mut out = Vec::new();
    for change in changes {
        match change.rule.verdict(policy) {
            Verdict::Breaking => {
                let affected = impact.affected(&change).into_iter().map(|i| format!("{}/{}", rpcs[i].0, rpcs[i].1));
                let users = by_operation.reached(Some(affected));
                let packages = (package_in(old, change.old), package_in(new, change.new));
                let help = packages.1.as_ref().or(packages.0.as_ref()).map(|p| version_advice(p));
                let contract = released.map(str::to_string).or_else(|| match packages {
                    (Some(o), Some(n)) if o == n && major_version(&n).is_some() => {
                        Some(format!("package `{n}` keeps its major version"))
                    }
                    _ => None,
                });
                let users = Some((users, "caller, route or resolver"));
                out.push(Judged { change, severity: Severity::Error, users, contract, help, note: None });
            }
            Verdict::Warning => {
                let note = format!(
                    "{} is not a {} rule: this change breaks code generated from the old schema, not its encoded messages",
                    change.rule.id,
                    policy.category.id()
                );
                out.push(Judged::warning(change, note));
            }
            Verdict::Ignored => {}
        }
    }
    out
}

/// The package of the file `span` is in, in `module`.
fn package_in(module: &ProtoModule, span: Option<Span>) -> Option<String> {
    let span = span?;
    let file = module.files.iter().find(|f| f.file == span.file)?;
    Some(module.descriptor(file)?.package_name().to_string())
}

/// What to do about a breaking change in `package`: ship a new major
/// version beside the old one when the package is versioned, else version it.
fn version_advice(package: &str) -> String {
    match major_version(package) {
        Some((stem, major)) => format!(
            "`{package}` is a released major version: keep it compatible, or ship the change as `{stem}.v{}` beside it and move its users over",
            major + 1
        ),
        None if package.is_empty() => "declare a versioned package (`package shop.orders.v1;`) so breaking changes can ship as the next major version beside it".to_string(),
        None => format!("version the package (`{package}.v1`) so breaking changes can ship as the next major version beside it"),
    }
}

/// `shop.orders.v1` → (`shop.orders`, 1); `None` when the last component is no `vN`.
fn major_version(package: &str) -> Option<(&str, u64)> {
    let (stem, last) = package.rsplit_once('.')?;
    let digits = last.strip_prefix('v')?;
    let major = digits.parse().ok().filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))?;
    Some((stem, major))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::fs::MemoryFs;

    #[test]
    fn major_versions_are_the_last_package_component() {
        assert_eq!(major_version("shop.orders.v1"), Some(("shop.orders", 1)));
        assert_eq!(major_version("shop.orders.v12"), Some(("shop.orders", 12)));
        assert_eq!(major_version("shop.orders.v1beta1"), None);
        assert_eq!(major_version("shop"), None);
        assert!(version_advice("shop.orders.v1").contains("`shop.orders.v2`"));
    }

    fn run(before: &str, after: &str) -> Diffed {
        let mut fs = MemoryFs::new();
        for (root, text) in [("/ws/old", before), ("/ws/new", after)] {
            for (path, body) in breaking::example_files(text) {
                fs.insert(format!("{root}/{path}"), body.as_str());
            }
        }
        let side = |path| Side { fs: &fs, path: Path::new(path), label: "" };
        diff_workspaces_in(side("/ws/old"), side("/ws/new"), &Policy::default())
    }

    #[test]
    fn every_spec_rule_example_reports_its_rule() {
        for rule in breaking::spec::RULES {
            let diffed = run(rule.before, rule.after);
            let rules: Vec<_> = diffed.diagnostics.iter().map(|d| (d.rule.clone(), d.message.clone())).collect();
            assert!(diffed.loaded, "{}: {:?}", rule.id, rules);
            assert!(
                rules.iter().any(|(r, _)| r.as_deref() == Some(rule.id)),
                "{} does not report itself: {rules:?}",
                rule.id
            );
            let back = run(rule.before, rule.before);
            assert!(back.diagnostics.is_empty(), "{}: an unchanged workspace reports {:?}", rule.id, back.diagnostics);
        }
    }
}
