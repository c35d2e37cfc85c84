//! A gateway route to a versioned API, as Envoy routes: one per version
//! matching its selector (side by side), then the requests that name no
//! version, sent to one version or spread over several by weight. Each
//! goes to its version's deployment cluster when it names one; a
//! deprecated version's responses carry `Deprecation` (RFC 9745), `Sunset`
//! (RFC 8594) and `Link` headers.

use serde_json::json;

use super::api::{self, FractionalPercent, HeaderMatcher, HeaderValueOption, RuntimeFraction, StringMatcher};
use super::{version_cluster, versioned_routes};
use crate::model::api_versions::{ApiVersionId, RouteVersions, VersionSelector};
use crate::model::{Api, Forward, Model, PathMatch, Route, Service};

/// The Envoy routes carrying `route`'s requests; `base` is the route as if
/// its API were unversioned (its action names the whole service's cluster).
pub fn routes<'a>(
    model: &'a Model,
    route: &'a Route,
    forward: &'a Forward,
    base: api::Route<'a>,
) -> Vec<api::Route<'a>> {
    let callee = model.service(forward.target.value);
    let Some(versions) = &forward.api_versions else { return versioned_routes(base, callee) };
    let api = &callee.apis[versions.api().index()];
    let own_rewrite = forward.rewrite.path.is_some();
    let mut out = Vec::new();
    if !matches!(versions, RouteVersions::One(_)) {
        for version in api.version_ids() {
            if let Some(selected) = selecting(&base, api, version, &route.matcher.path) {
                out.extend(to_version(selected, callee, api, version));
            }
        }
    }
    let grpc = api.versions.iter().any(|v| matches!(v.selector.value, VersionSelector::GrpcPackage(_)));
    match versions {
        // A gRPC request always names its package: the rest reach the service as before.
        RouteVersions::SideBySide { .. } if grpc => out.extend(versioned_routes(base, callee)),
        RouteVersions::SideBySide { .. } => {
            let current = api.current_version().expect("a versioned API has versions");
            out.extend(to_version(unnamed(base, api, current, route, own_rewrite), callee, api, current));
        }
        RouteVersions::One(one) => {
            out.extend(to_version(unnamed(base, api, one.version, route, own_rewrite), callee, api, one.version))
        }
        RouteVersions::Weighted { weights, .. } => {
            let shares: Vec<_> = weights.iter().filter(|(_, w)| *w > 0).collect();
            let mut cumulative = 0;
            for (i, (version, weight)) in shares.iter().enumerate() {
                cumulative += weight;
                let mut share = unnamed(base.clone(), api, version.version, route, own_rewrite);
                share.name = format!("{}~{}", route.name.value, api.version(version.version).name.value).into();
                // The last share takes what is left; Envoy compares one random
                // value per request with every route's fraction.
                if i + 1 < shares.len() {
                    share.matcher.runtime_fraction = Some(RuntimeFraction {
                        default_value: FractionalPercent { denominator: "HUNDRED", numerator: cumulative },
                        runtime_key: Some(format!("meshc.api_versions.{}", route.name.value)),
                    });
                }
                out.extend(to_version(share, callee, api, version.version));
            }
        }
    }
    out
}

/// The route for requests that pick `version` by its selector; `None` when
/// no request the route matches can (a package outside the route's path).
fn selecting<'a>(
    base: &api::Route<'a>,
    api: &'a Api,
    version: ApiVersionId,
    path: &PathMatch,
) -> Option<api::Route<'a>> {
    let v = api.version(version);
    let mut route = base.clone();
    route.name = format!("{}@{}", base.name, v.name.value).into();
    let matcher = &mut route.matcher;
    match &v.selector.value {
        VersionSelector::PathPrefix(prefix) => match path {
            PathMatch::Exact(p) => matcher.path = Some(format!("{prefix}{p}").into()),
            PathMatch::Prefix(p) => matcher.prefix = Some(format!("{prefix}{p}").into()),
        },
        VersionSelector::Header { name, value } => {
            matcher.headers.push(HeaderMatcher::string(name.as_str(), StringMatcher::exact(value.as_str())))
        }
        VersionSelector::MediaType(media) => {
            matcher.headers.push(HeaderMatcher::string("accept", StringMatcher::contains(media.as_str())))
        }
        VersionSelector::GrpcPackage(package) => {
            let methods = format!("/{package}.");
            match path {
                PathMatch::Prefix(p) if methods.starts_with(p.as_str()) => matcher.prefix = Some(methods.into()),
                PathMatch::Prefix(p) | PathMatch::Exact(p) if p.starts_with(&methods) => {}
                _ => return None,
            }
        }
    }
    Some(route)
}

/// The route sending requests that name no version to `version`: the
/// path gets the version's prefix (unless the route's path has it, or the
/// route rewrites the path itself), or the request the version's header.
fn unnamed<'a>(
    mut route: api::Route<'a>,
    api: &'a Api,
    version: ApiVersionId,
    spec: &Route,
    own_rewrite: bool,
) -> api::Route<'a> {
    match &api.version(version).selector.value {
        VersionSelector::PathPrefix(prefix) => {
            let path = match &spec.matcher.path {
                PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
            };
            let has_prefix =
                path.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            if let (false, false, Some(action)) = (has_prefix, own_rewrite, route.route.as_mut()) {
                action.prefix_rewrite = Some(format!("{prefix}{path}").into());
            }
        }
        VersionSelector::Header { name, value } => add_request_header(&mut route, name.as_str(), value),
        VersionSelector::MediaType(media) => add_request_header(&mut route, "accept", media),
        VersionSelector::GrpcPackage(_) => {}
    }
    route
}

fn add_request_header(route: &mut api::Route, name: &str, value: &str) {
    let header = json!({ "header": { "key": name, "value": value.replace('%', "%%") }, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD" });
    match route.request_headers_to_add.as_mut().and_then(|h| h.as_array_mut()) {
        Some(headers) => headers.push(header),
        None => route.request_headers_to_add = Some(json!([header])),
    }
}

/// Points a route at `version`'s deployment (else the callee's traffic
/// rules apply as to any route) and adds its deprecation headers.
fn to_version<'a>(
    mut route: api::Route<'a>,
    callee: &'a Service,
    api: &'a Api,
    version: ApiVersionId,
) -> Vec<api::Route<'a>> {
    route.response_headers_to_add.extend(deprecation_headers(api, version));
    let deployment = api.version(version).deployment.as_ref().map(|d| d.value);
    match (deployment, route.route.as_mut()) {
        (Some(deployment), Some(action)) => {
            let base = action.cluster.take().expect("the route's action names a cluster");
            action.cluster = Some(version_cluster(&base, callee, deployment).into());
            vec![route]
        }
        _ => versioned_routes(route, callee),
    }
}

/// A deprecated version's response headers, as Envoy format strings.
fn deprecation_headers(api: &Api, version: ApiVersionId) -> Vec<HeaderValueOption<'static>> {
    crate::emit::deprecation_headers(api, version)
        .into_iter()
        .map(|(name, value)| {
            let value = value.replace('%', "%%");
            // Several `Link`s are several headers.
            if name == "link" {
                HeaderValueOption::append(name, value)
            } else {
                HeaderValueOption::set(name, value)
            }
        })
        .collect()
}
