//! A gateway route to a versioned API as Istio `HTTPRoute`s, as the Envoy
//! gateway routes it: one per version matching its selector, then the
//! requests naming no version, to one version or weighted over several
//! (Istio weighs destinations of one route, each with its own request
//! header; a path prefix cannot differ per destination, so a weighted
//! route to versions picked by path is left out and reported). Deprecated
//! versions' responses get their `Deprecation`, `Sunset` and `Link` headers.

use std::collections::BTreeMap;

use super::api::{HeaderOperations, Headers, HttpMatch, HttpRoute, Rewrite, RouteDestination, StringMatch};
use super::{subset_destination, to, versioned_http};
use crate::emit::{deprecation_headers, Unexpressed};
use crate::model::api_versions::{ApiVersionId, RouteVersions, VersionSelector};
use crate::model::{Api, Forward, PathMatch, PortId, Route, Service};

/// The HTTP routes for `route`, built as `http` when its API is unversioned.
#[allow(clippy::too_many_arguments)]
pub(super) fn routes<'a>(
    http: HttpRoute<'a>,
    route: &Route,
    forward: &Forward,
    callee: &'a Service,
    port: PortId,
    notes: &mut Vec<String>,
    unexpressed: &mut Vec<Unexpressed>,
    without: &str,
) -> Vec<HttpRoute<'a>> {
    let Some(versions) = &forward.api_versions else { return versioned_http(http, callee, port) };
    let api = &callee.apis[versions.api().index()];
    let own_rewrite = forward.rewrite.path.is_some();
    let mut out = Vec::new();
    if !matches!(versions, RouteVersions::One(_)) {
        for version in api.version_ids() {
            if let Some(selected) = selecting(&http, api, version, &route.matcher.path) {
                out.extend(to_version(selected, callee, port, api, version));
            }
        }
    }
    let grpc = api.versions.iter().any(|v| matches!(v.selector.value, VersionSelector::GrpcPackage(_)));
    match versions {
        RouteVersions::SideBySide { .. } if grpc => out.extend(versioned_http(http, callee, port)),
        RouteVersions::SideBySide { .. } => {
            let current = api.current_version().expect("a versioned API has versions");
            out.extend(to_version(unnamed(http, api, current, route, own_rewrite), callee, port, api, current));
        }
        RouteVersions::One(one) => {
            out.extend(to_version(unnamed(http, api, one.version, route, own_rewrite), callee, port, api, one.version))
        }
        RouteVersions::Weighted { weights, .. } => {
            let by_path = api.versions.iter().any(|v| matches!(v.selector.value, VersionSelector::PathPrefix(_)));
            if by_path {
                let name = &route.name.value;
                notes.push(format!("{name}: left out (weighted migration between versions picked by path)"));
                let span = weights.first().map_or(route.span, |(r, _)| r.span);
                let help = "Istio weighs the destinations of one route but rewrites its path once; the Envoy gateway routes this migration, or pick the versions by header";
                unexpressed.push(Unexpressed::new(
                    span,
                    "a weighted migration between path-prefixed versions",
                    without,
                    help,
                ));
            } else {
                let mut weighted = http;
                // A version weighted 0 takes nothing (as in the Envoy gateway).
                let destinations = weights
                    .iter()
                    .filter(|(_, weight)| *weight > 0)
                    .map(|(v, weight)| {
                        let version = api.version(v.version);
                        let deployment = version.deployment.as_ref().map(|d| d.value);
                        let request = selector_header(&version.selector.value).map(|(name, value)| HeaderOperations {
                            set: Some(BTreeMap::from([(name, value)])),
                            ..Default::default()
                        });
                        let response = response_add(api, v.version);
                        let response = (!response.is_empty())
                            .then(|| HeaderOperations { add: Some(response), ..Default::default() });
                        let headers =
                            (request.is_some() || response.is_some()).then_some(Headers { request, response });
                        RouteDestination {
                            headers,
                            weight: Some(*weight),
                            ..to(subset_destination(callee, port, deployment))
                        }
                    })
                    .collect();
                weighted.route = Some(destinations);
                out.push(weighted);
            }
        }
    }
    out
}

/// The request header a version is picked by, if it is picked by one.
fn selector_header(selector: &VersionSelector) -> Option<(String, String)> {
    match selector {
        VersionSelector::Header { name, value } => Some((name.as_str().to_string(), value.clone())),
        VersionSelector::MediaType(media) => Some(("accept".to_string(), media.clone())),
        VersionSelector::PathPrefix(_) | VersionSelector::GrpcPackage(_) => None,
    }
}

/// The route for requests picking `version` by its selector.
fn selecting<'a>(http: &HttpRoute<'a>, api: &Api, version: ApiVersionId, path: &PathMatch) -> Option<HttpRoute<'a>> {
    let v = api.version(version);
    let mut route = http.clone();
    route.name = format!("{}@{}", http.name, v.name.value);
    let matches = route.matches.as_mut().expect("gateway routes match");
    for m in matches {
        match &v.selector.value {
            VersionSelector::PathPrefix(prefix) => {
                m.uri = Some(match path {
                    PathMatch::Exact(p) => StringMatch::Exact { exact: format!("{prefix}{p}") },
                    PathMatch::Prefix(p) => StringMatch::Prefix { prefix: format!("{prefix}{p}") },
                })
            }
            VersionSelector::Header { name, value } => {
                add_header_match(m, name.as_str(), StringMatch::Exact { exact: value.clone() })
            }
            VersionSelector::MediaType(media) => {
                add_header_match(m, "accept", StringMatch::Regex { regex: format!(".*{}.*", regex_escape(media)) })
            }
            VersionSelector::GrpcPackage(package) => {
                let methods = format!("/{package}.");
                match path {
                    PathMatch::Prefix(p) if methods.starts_with(p.as_str()) => {
                        m.uri = Some(StringMatch::Prefix { prefix: methods })
                    }
                    PathMatch::Prefix(p) | PathMatch::Exact(p) if p.starts_with(&methods) => {}
                    _ => return None,
                }
            }
        }
    }
    Some(route)
}

fn add_header_match(m: &mut HttpMatch, name: &str, rule: StringMatch) {
    m.headers.get_or_insert_with(BTreeMap::new).insert(name.to_string(), rule);
}

fn regex_escape(text: &str) -> String {
    text.chars().flat_map(|c| if "\\.+*?()|[]{}^$".contains(c) { vec!['\\', c] } else { vec![c] }).collect()
}

/// Requests naming no version, sent to `version` (see the Envoy gateway's).
fn unnamed<'a>(
    mut http: HttpRoute<'a>,
    api: &Api,
    version: ApiVersionId,
    route: &Route,
    own_rewrite: bool,
) -> HttpRoute<'a> {
    let selector = &api.version(version).selector.value;
    if let VersionSelector::PathPrefix(prefix) = selector {
        let path = match &route.matcher.path {
            PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
        };
        let has_prefix =
            path.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if !has_prefix && !own_rewrite {
            http.rewrite.get_or_insert_with(Rewrite::default).uri = Some(format!("{prefix}{path}"));
        }
    }
    if let Some((name, value)) = selector_header(selector) {
        let headers = http.headers.get_or_insert_with(Headers::default);
        let request = headers.request.get_or_insert_with(HeaderOperations::default);
        request.set.get_or_insert_with(BTreeMap::new).insert(name, value);
    }
    http
}

/// Points the route at the version's deployment subset (else the callee's
/// traffic rules apply) and adds its deprecation headers.
fn to_version<'a>(
    mut http: HttpRoute<'a>,
    callee: &'a Service,
    port: PortId,
    api: &Api,
    version: ApiVersionId,
) -> Vec<HttpRoute<'a>> {
    let response = response_add(api, version);
    if !response.is_empty() {
        let headers = http.headers.get_or_insert_with(Headers::default);
        let operations = headers.response.get_or_insert_with(HeaderOperations::default);
        operations.add.get_or_insert_with(BTreeMap::new).extend(response);
    }
    match api.version(version).deployment.as_ref() {
        Some(deployment) => {
            http.route = Some(vec![to(subset_destination(callee, port, Some(deployment.value)))]);
            vec![http]
        }
        None => versioned_http(http, callee, port),
    }
}

/// The deprecation headers as Istio's `add` map: one value per name, so
/// several `Link`s are joined by commas (one field, RFC 8288).
fn response_add(api: &Api, version: ApiVersionId) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in deprecation_headers(api, version) {
        out.entry(name.to_string()).and_modify(|first| *first = format!("{first}, {value}")).or_insert(value);
    }
    out
}
