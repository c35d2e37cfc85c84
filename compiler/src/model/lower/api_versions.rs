//! An `api`'s `version` children (selector, schema, lifecycle, deployment),
//! and the `api-version` a call or a gateway route names.

use std::ops::Deref;

use std::collections::HashMap;

use super::read;
use super::{Decls, Lower};
use crate::base::{Span, Spanned};
use crate::diag::{suggestion, Code, Diagnostic};
use crate::model::api_versions::{
    ApiId, ApiVersion, ApiVersionId, ApiVersionRef, Date, Deprecation, Lifecycle, RouteVersions, VersionSelector,
};
use crate::model::traffic::{Version, VersionId};
use crate::model::values::{check_header_value, ApiKind, HeaderName, Operation};
use crate::model::{Api, ServiceId};
use crate::syntax::Node;

const VERSION_PROPS: &[&str] = &[
    "schema",
    "path-prefix",
    "header",
    "equals",
    "media-type",
    "grpc-package",
    "deployment",
    "deprecated",
    "sunset",
    "replaced-by",
    "link",
];
const SELECTORS: &[&str] = &["path-prefix", "header", "media-type", "grpc-package"];
const EXAMPLE: &str = "version \"v2\" schema=\"apis/orders.v2.yaml\" path-prefix=\"/v2\"";

/// A lowered version whose `deployment=` (a name) waits for the service's versions.
pub(super) struct PendingVersion {
    pub version: ApiVersion,
    pub deployment: Option<Spanned<String>>,
}

impl<D: Deref<Target = Decls>> Lower<'_, D> {
    /// `Some(None)` when absent, `None` when invalid.
    fn optional_string(&mut self, node: &Node, key: &str) -> Option<Option<Spanned<String>>> {
        match read::string_prop(node, key, None, self.sink) {
            None if node.property(key).is_some() => None,
            value => Some(value),
        }
    }

    /// The one selector of a version node.
    fn version_selector(&mut self, node: &Node, kind: ApiKind) -> Option<Spanned<VersionSelector>> {
        let given: Vec<&str> = SELECTORS.iter().copied().filter(|k| node.property(k).is_some()).collect();
        if node.property("equals").is_some() && !given.contains(&"header") {
            let equals = node.property("equals").map_or(node.span, |e| e.span);
            self.sink.push(
                Diagnostic::new(Code::MissingRequired, "`equals` is the value of a `header=` selector")
                    .at(equals, "no `header=` here")
                    .help("name the header too: header=\"api-version\" equals=\"2\""),
            );
            return None;
        }
        let key = match given[..] {
            [key] => key,
            [] => {
                let options = match kind {
                    ApiKind::Grpc => "grpc-package=\"shop.payments.v2\" or header=\"api-version\" equals=\"2\"",
                    _ => "path-prefix=\"/v2\", header=\"api-version\" equals=\"2\" or media-type=\"application/vnd.shop.v2+json\"",
                };
                self.sink.push(
                    Diagnostic::new(Code::MissingRequired, "the version says not how a request picks it")
                        .at(node.name_span, "no selector")
                        .help(format!("add one selector: {options}")),
                );
                return None;
            }
            [first, second, ..] => {
                let span_of = |key: &str| node.property(key).map_or(node.span, |e| e.span);
                self.sink.push(
                    Diagnostic::new(Code::ApiVersionSelectorConflict, "a version has one selector")
                        .at(span_of(second), format!("`{second}` here"))
                        .with_label(span_of(first), format!("and `{first}` here"))
                        .help("keep one: all versions of an API are picked the same way"),
                );
                return None;
            }
        };
        let entry = node.property(key).map_or(node.span, |e| e.span);
        let text = read::string_prop(node, key, None, self.sink)?;
        let fits = match (key, kind) {
            ("grpc-package", ApiKind::Grpc) | ("header", _) => true,
            ("grpc-package", _) | (_, ApiKind::Grpc) | (_, ApiKind::Graphql) => false,
            _ => true,
        };
        if !fits {
            let help = match kind {
                ApiKind::Grpc => {
                    "a gRPC API's versions are picked by package (grpc-package=\"shop.payments.v2\") or by header"
                }
                _ => "grpc-package picks versions of a kind=\"grpc\" API; use path-prefix, header or media-type",
            };
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, format!("`{key}` does not pick versions of a {kind} API"))
                    .at(entry, "not for this kind")
                    .help(help),
            );
            return None;
        }
        let selector = match key {
            "path-prefix" => read::parse(&text, |t| check_path_prefix(t), self.sink).map(VersionSelector::PathPrefix),
            "media-type" => read::parse(&text, |t| check_media_type(t), self.sink).map(VersionSelector::MediaType),
            "grpc-package" => read::parse(&text, |t| check_package(t), self.sink).map(VersionSelector::GrpcPackage),
            _ => {
                let name = read::parse(&text, |t| HeaderName::parse(t), self.sink)?;
                let example = "header=\"api-version\" equals=\"2\"";
                let value = read::string_prop(node, "equals", Some(example), self.sink)?;
                read::parse(&value, |v| check_header_value(v, false), self.sink)?;
                Some(VersionSelector::Header { name, value: value.value })
            }
        };
        selector.map(|s| Spanned::new(s, entry))
    }

    /// The lifecycle and the `replaced-by` name (resolved by the caller).
    fn lifecycle(&mut self, node: &Node) -> Option<(Lifecycle, Option<Spanned<String>>)> {
        let date = |cx: &mut Self, key: &str| -> Option<Option<Spanned<Date>>> {
            let text = cx.optional_string(node, key)?;
            match text {
                None => Some(None),
                Some(t) => read::parse(&t, |d| Date::parse(d), cx.sink).map(|d| Some(Spanned::new(d, t.span))),
            }
        };
        let deprecated = date(self, "deprecated");
        let sunset = date(self, "sunset");
        let replaced_by = self.optional_string(node, "replaced-by");
        let link = self.optional_string(node, "link");
        let link = match link? {
            Some(l) => Some(read::parse(&l, |t| check_link(t), self.sink).map(|()| l)?),
            None => None,
        };
        let (deprecated, sunset, replaced_by) = (deprecated?, sunset?, replaced_by?);
        let Some(since) = deprecated else {
            // What only a deprecated version has.
            let after =
                ["sunset", "replaced-by", "link"].into_iter().find_map(|k| node.property(k).map(|e| (k, e.span)));
            if let Some((key, span)) = after {
                self.sink.push(
                    Diagnostic::new(
                        Code::InvalidApiVersionLifecycle,
                        format!("`{key}` applies to a deprecated version, and this one is not"),
                    )
                    .at(span, "needs `deprecated=`")
                    .help("say since when it is deprecated: deprecated=\"2026-09-01\""),
                );
                return None;
            }
            return Some((Lifecycle::Current, None));
        };
        if let Some(sunset) = sunset.as_ref().filter(|s| s.value < since.value) {
            self.sink.push(
                Diagnostic::new(
                    Code::InvalidApiVersionLifecycle,
                    format!("the version sunsets on {} before it is deprecated on {}", sunset.value, since.value),
                )
                .at(sunset.span, "sunset")
                .with_label(since.span, "deprecated later")
                .help("a version is deprecated first, then removed: give a sunset on or after the deprecation"),
            );
            return None;
        }
        Some((Lifecycle::Deprecated(Deprecation { since, sunset, replaced_by: None, link }), replaced_by))
    }

    /// A version of those declared so far, by name (MESH0094 when unknown).
    fn version_of(
        &mut self,
        versions: &[PendingVersion],
        wanted: &Spanned<String>,
        api: &Node,
    ) -> Option<ApiVersionId> {
        if let Some(i) = versions.iter().position(|v| v.version.name.value == wanted.value) {
            return Some(ApiVersionId::new(i));
        }
        // A version that failed to lower is reported already.
        let declared = api.children().iter().filter(|c| c.name == "version").any(|c| {
            matches!(c.arguments().next().map(|e| &e.value), Some(crate::syntax::Value::String(s)) if *s == wanted.value)
        });
        if !declared {
            let names = versions.iter().map(|v| v.version.name.value.as_str());
            self.sink.push(
                Diagnostic::new(Code::UnknownApiVersion, format!("the API has no version `{}`", wanted.value))
                    .at(wanted.span, "unknown version")
                    .help_opt(suggestion(&wanted.value, names)),
            );
        }
        None
    }

    /// All versions of an API share one strategy (and header), each with its own selector.
    fn selectors_distinct(&mut self, versions: &[PendingVersion]) -> bool {
        let Some(first) = versions.first() else { return true };
        let strategy = |s: &VersionSelector| match s {
            VersionSelector::Header { name, .. } => format!("header `{name}`"),
            other => format!("`{}`", other.strategy()),
        };
        let mut seen: HashMap<&VersionSelector, &ApiVersion> = HashMap::new();
        for pending in versions {
            let v = &pending.version;
            let (this, base) = (strategy(&v.selector.value), strategy(&first.version.selector.value));
            if this != base {
                self.sink.push(
                    Diagnostic::new(
                        Code::ApiVersionSelectorConflict,
                        format!(
                            "version `{}` is picked by {this}, version `{}` by {base}",
                            v.name.value, first.version.name.value
                        ),
                    )
                    .at(v.selector.span, format!("picked by {this}"))
                    .with_label(first.version.selector.span, format!("picked by {base}"))
                    .help("pick every version of an API the same way, so a request names its version one way"),
                );
                return false;
            }
            if let Some(other) = seen.insert(&v.selector.value, v) {
                self.sink.push(
                    Diagnostic::new(
                        Code::ApiVersionSelectorConflict,
                        format!("versions `{}` and `{}` have the same selector", other.name.value, v.name.value),
                    )
                    .at(v.selector.span, "same selector")
                    .with_label(other.selector.span, format!("version `{}`", other.name.value))
                    .help("give each version its own: a request could not say which of the two it wants"),
                );
                return false;
            }
        }
        true
    }

    /// `replaced-by` leads somewhere: never to the version itself, never round.
    fn replacements_end(&mut self, versions: &[PendingVersion]) -> bool {
        let next = |i: usize| match &versions[i].version.lifecycle {
            Lifecycle::Deprecated(Deprecation { replaced_by: Some(r), .. }) => Some(r),
            _ => None,
        };
        // Each version has one successor at most: following it from every
        // start, marking finished ones, costs linear time.
        let mut state = vec![0u8; versions.len()]; // 0 unseen, 1 on the current walk, 2 done
        for start in 0..versions.len() {
            let mut walk = Vec::new();
            let mut at = start;
            while state[at] == 0 {
                state[at] = 1;
                walk.push(at);
                match next(at) {
                    Some(r) => at = r.value.index(),
                    None => break,
                }
            }
            if state[at] == 1 && next(at).is_some() {
                let v = &versions[at].version;
                let replaced = next(at).expect("checked");
                let message = if replaced.value.index() == at {
                    format!("version `{}` is replaced by itself", v.name.value)
                } else {
                    let cycle: Vec<&str> = walk[walk.iter().position(|&i| i == at).unwrap_or(0)..]
                        .iter()
                        .map(|&i| versions[i].version.name.value.as_str())
                        .collect();
                    format!("`replaced-by` goes round: {} → {}", cycle.join(" → "), v.name.value)
                };
                self.sink.push(
                    Diagnostic::new(Code::InvalidApiVersionLifecycle, message)
                        .at(replaced.span, "leads back here")
                        .help(
                        "name the version callers should move to: a newer one that is not replaced in turn by this one",
                    ),
                );
                return false;
            }
            for i in walk {
                state[i] = 2;
            }
        }
        true
    }

    /// Resolves each version's `deployment=` among the service's versions.
    pub(super) fn resolve_deployments(
        &mut self,
        apis: &mut [Api],
        pending: Vec<Vec<Option<Spanned<String>>>>,
        versions: &[Version],
    ) -> bool {
        let mut ok = true;
        for (api, deployments) in apis.iter_mut().zip(pending) {
            for (version, deployment) in api.versions.iter_mut().zip(deployments) {
                let Some(name) = deployment else { continue };
                match self.version_ref(&name, versions) {
                    Some(id) => version.deployment = Some(Spanned::<VersionId>::new(id, name.span)),
                    None => ok = false,
                }
            }
        }
        ok
    }

    /// The API a use of `target` names `wanted` of: among the APIs serving
    /// the operation (all when there is none), the first versioned one
    /// declaring `wanted`. MESH0094 when none does.
    pub(super) fn api_version_ref(
        &mut self,
        user: &str,
        target: ServiceId,
        operation: Option<&Operation>,
        wanted: &Spanned<String>,
    ) -> Option<ApiVersionRef> {
        let service = self.d.model.service(target);
        let candidates: Vec<(usize, &Api)> = service
            .apis
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_versioned() && operation.is_none_or(|op| a.serves(op)))
            .collect();
        for &(i, api) in &candidates {
            if let Some(v) = api.versions.iter().position(|v| v.name.value == wanted.value) {
                return Some(ApiVersionRef { api: ApiId::new(i), version: ApiVersionId::new(v), span: wanted.span });
            }
        }
        if self.d.services_with_failed_apis.contains(&service.name.value) {
            return None;
        }
        let names: Vec<&str> =
            candidates.iter().flat_map(|(_, a)| &a.versions).map(|v| v.name.value.as_str()).collect();
        let help = if candidates.is_empty() {
            let apis: Vec<String> = service.apis.iter().map(|a| format!("`{}`", a.name.value)).collect();
            Some(format!(
                "no API of `{}` that serves this has versions ({}); declare them inside it: {EXAMPLE}, or remove `api-version`",
                service.name.value,
                if apis.is_empty() { "it declares none".to_string() } else { apis.join(", ") }
            ))
        } else {
            suggestion(&wanted.value, names.iter().copied())
                .or_else(|| Some(format!("its versions: {}", names.join(", "))))
        };
        // A version a user still names may be one just deleted: say who must move.
        let message = format!(
            "{user} uses API version `{}` of service `{}`, which has none of that name",
            wanted.value, service.name.value
        );
        self.sink
            .push(Diagnostic::new(Code::UnknownApiVersion, message).at(wanted.span, "unknown version").help_opt(help));
        None
    }

    /// A call's `api-version=`: `Some(None)` when absent, `None` when invalid.
    pub(super) fn call_api_version(
        &mut self,
        caller: &str,
        node: &Node,
        target: ServiceId,
        operation: Option<&Operation>,
    ) -> Option<Option<ApiVersionRef>> {
        match self.optional_string(node, "api-version")? {
            None => Some(None),
            Some(wanted) => self.api_version_ref(&format!("service `{caller}`"), target, operation, &wanted).map(Some),
        }
    }

    /// A route's versions: its `to`'s `api-version=` or `api-version` children
    /// (weights), else side by side when the API it reaches is versioned.
    pub(super) fn route_versions(
        &mut self,
        route: &str,
        to: &Node,
        target: ServiceId,
        operation: Option<&Operation>,
    ) -> Option<Option<RouteVersions>> {
        let children: Vec<&Node> = to.children().iter().collect();
        for child in children.iter().filter(|c| c.name != "api-version") {
            read::unknown_child(child, "to", &["api-version"], self.sink);
        }
        let named = self.optional_string(to, "api-version")?;
        if let (Some(named), Some(first)) = (&named, children.first()) {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, "the route names one version and weights too")
                    .at(first.name_span, "weights")
                    .with_label(named.span, "one version")
                    .help(
                        "keep `api-version=` to send every request to one version, or the weighted children to migrate",
                    ),
            );
            return None;
        }
        if let Some(named) = named {
            let user = format!("route `{route}`");
            return self.api_version_ref(&user, target, operation, &named).map(|r| Some(RouteVersions::One(r)));
        }
        let weighted: Vec<&Node> = children.iter().copied().filter(|c| c.name == "api-version").collect();
        if !weighted.is_empty() {
            return self.weighted_versions(route, to, &weighted, target, operation).map(Some);
        }
        let service = self.d.model.service(target);
        let api = service.apis.iter().position(|a| a.is_versioned() && operation.is_none_or(|op| a.serves(op)));
        Some(api.map(|i| RouteVersions::SideBySide { api: ApiId::new(i) }))
    }

    fn weighted_versions(
        &mut self,
        route: &str,
        to: &Node,
        nodes: &[&Node],
        target: ServiceId,
        operation: Option<&Operation>,
    ) -> Option<RouteVersions> {
        let mut weights: Vec<(ApiVersionRef, u32)> = Vec::new();
        let mut failed = false;
        for node in nodes {
            read::check_entries(node, 1, &["weight"], self.sink);
            read::no_children(node, self.sink);
            let example = "api-version \"v2\" weight=20";
            let name = read::string_arg(node, 0, "a version", example, self.sink);
            let weight = read::int_prop(node, "weight", Some(example), self.sink)
                .and_then(|w| read::parse(&w, |w| read::bounded(*w, 0, 100, "weight"), self.sink));
            let version = name.and_then(|n| self.api_version_ref(&format!("route `{route}`"), target, operation, &n));
            match (version, weight) {
                (Some(v), Some(w)) => {
                    if let Some((first, _)) = weights.iter().find(|(r, _)| r.version == v.version && r.api == v.api) {
                        self.sink.push(
                            Diagnostic::new(Code::DuplicateName, "the route weighs one version twice")
                                .at(v.span, "again")
                                .with_label(first.span, "first here")
                                .help("give each version one weight"),
                        );
                        failed = true;
                    } else if weights.first().is_some_and(|(f, _)| f.api != v.api) {
                        self.sink.push(
                            Diagnostic::new(Code::InvalidValue, "the route weighs versions of two APIs")
                                .at(v.span, "another API's version")
                                .help("weigh the versions of one API: the route's requests are the same operations"),
                        );
                        failed = true;
                    } else {
                        weights.push((v, w));
                    }
                }
                _ => failed = true,
            }
        }
        if failed {
            return None;
        }
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        if total != 100 {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, format!("the route's version weights total {total}, not 100"))
                    .at(to.span, format!("weights total {total}"))
                    .help("make the weights add up to 100, e.g. api-version \"v1\" weight=80; api-version \"v2\" weight=20"),
            );
            return None;
        }
        let api = weights[0].0.api;
        let by_package = self.d.model.service(target).apis[api.index()]
            .versions
            .iter()
            .any(|v| matches!(v.selector.value, VersionSelector::GrpcPackage(_)));
        if by_package {
            self.sink.push(
                Diagnostic::new(Code::InvalidValue, "versions picked by gRPC package cannot be weighed")
                    .at(to.span, "weights")
                    .help("a gRPC request names its version by the package of the method it calls: pick versions by header to migrate by weight, or route with api-version=\"...\""),
            );
            return None;
        }
        Some(RouteVersions::Weighted { api, weights })
    }
}

/// A version's name: letters, digits, `.`, `-`, `_`, up to 63 characters
/// (it appears in cluster and route names).
fn check_version_name(text: &str) -> Result<(), String> {
    let ok = !text.is_empty()
        && text.len() <= 63
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && text.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a version name: letters, digits, `.`, `-` and `_`, starting with a letter or digit, e.g. \"v2\"",
            text.escape_debug()
        ))
    }
}

/// `/v1`, `/api/v2`: a path of segments, no trailing slash, no query.
fn check_path_prefix(text: &str) -> Result<String, String> {
    let ok = text.len() > 1
        && text.starts_with('/')
        && !text.ends_with('/')
        && !text.contains("//")
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{}` is not a path prefix: write it like \"/v2\" (a leading `/`, no trailing one, letters, digits, `-._~`)",
            text.escape_debug()
        ))
    }
}

/// `application/vnd.shop.orders.v2+json`: a type and subtype of token characters.
fn check_media_type(text: &str) -> Result<String, String> {
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    match text.split_once('/') {
        Some((kind, sub)) if token(kind) && token(sub) => Ok(text.to_ascii_lowercase()),
        _ => Err(format!(
            "`{}` is not a media type: write it like \"application/vnd.shop.orders.v2+json\"",
            text.escape_debug()
        )),
    }
}

/// `shop.payments.v2`: dotted protobuf identifiers.
fn check_package(text: &str) -> Result<String, String> {
    let ident = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if text.split('.').all(ident) {
        Ok(text.to_string())
    } else {
        Err(format!("`{}` is not a protobuf package: write it like \"shop.payments.v2\"", text.escape_debug()))
    }
}

/// An absolute http(s) URL, sent in a `Link` header: no spaces, quotes or angle brackets.
fn check_link(text: &str) -> Result<(), String> {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    let ok =
        rest.is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_graphic() && !b"<>\"\\`{}|^".contains(&b)));
    if ok {
        Ok(())
    } else {
        Err(format!("`{}` is not an absolute http(s) URL a `Link` header can carry", text.escape_debug()))
    }
}

/// What declares or records: needs the declarations mutably.
impl Lower<'_> {
    /// One `version` node and its `replaced-by` name.
    fn api_version(&mut self, node: &Node, kind: ApiKind) -> Option<(PendingVersion, Option<Spanned<String>>)> {
        read::check_entries(node, 1, VERSION_PROPS, self.sink);
        read::no_children(node, self.sink);
        let name = read::string_arg(node, 0, "a version name", EXAMPLE, self.sink)
            .filter(|n| read::parse(n, |t| check_version_name(t), self.sink).is_some());
        let schema = read::string_prop(node, "schema", Some(EXAMPLE), self.sink);
        let selector = self.version_selector(node, kind);
        let deployment = self.optional_string(node, "deployment");
        let lifecycle = self.lifecycle(node);
        let (name, schema, selector, deployment, (lifecycle, replaced_by)) =
            (name?, schema?, selector?, deployment?, lifecycle?);
        let schema = self.schema_ref(&schema, kind.schema_format());
        self.d.model.schemas[schema.index()].named_by_api = true;
        let version = ApiVersion { name, schema, selector, lifecycle, deployment: None, span: node.span };
        Some((PendingVersion { version, deployment }, replaced_by))
    }

    /// The `version` children of an `api` node of `kind`, in spec order;
    /// `None` when one is invalid (reported).
    pub(super) fn api_versions(&mut self, api: &Node, kind: ApiKind) -> Option<Vec<PendingVersion>> {
        let mut names: HashMap<String, Span> = HashMap::new();
        let mut versions = Vec::new();
        // (version index, `replaced-by` name), resolved once every name is known.
        let mut replacements = Vec::new();
        let mut failed = false;
        for node in api.children().iter().filter(|c| c.name == "version") {
            let Some((pending, replaced_by)) = self.api_version(node, kind) else {
                failed = true;
                continue;
            };
            let name = &pending.version.name;
            if super::declare_once(&mut names, name.value.clone(), name.span, ("API version", &name.value), self.sink) {
                if let Some(replaced_by) = replaced_by {
                    replacements.push((versions.len(), replaced_by));
                }
                versions.push(pending);
            } else {
                failed = true;
            }
        }
        for (index, wanted) in replacements {
            match self.version_of(&versions, &wanted, api) {
                Some(id) => {
                    if let Lifecycle::Deprecated(d) = &mut versions[index].version.lifecycle {
                        d.replaced_by = Some(Spanned::new(id, wanted.span));
                    }
                }
                None => failed = true,
            }
        }
        failed |= !self.selectors_distinct(&versions);
        failed |= !self.replacements_end(&versions);
        (!failed).then_some(versions)
    }
}
