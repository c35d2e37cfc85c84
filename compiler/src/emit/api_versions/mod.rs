//! The API compatibility report (`versions/compatibility.json`, format 1,
//! docs/backends/api-versions.md): per versioned API of each service, its
//! versions with their selector, schema, deployment and lifecycle, the
//! calls and routes that name each version, the routes that serve it to
//! clients, and for each deprecated version its migration path: who must
//! move before it can be removed. Nothing in it depends on the day of the
//! build (the lifecycle is reported by its dates, not judged).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::emit::{Artifact, Options, Unexpressed};
use crate::model::api_versions::{ApiVersion, RouteVersions, VersionKey, VersionSelector, VersionUse, VersionUser};
use crate::model::{Api, Model, Service};
use crate::schema::SchemaIndex;

/// The report's format version; bumped on any incompatible change.
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct Report<'a> {
    apis: Vec<ApiEntry<'a>>,
    format: u32,
    mesh: &'a str,
}

#[derive(Serialize)]
struct ApiEntry<'a> {
    api: &'a str,
    /// The version a use naming none gets.
    current: &'a str,
    kind: String,
    service: &'a str,
    /// `path-prefix`, `header`, `media-type` or `grpc-package`.
    strategy: &'static str,
    versions: Vec<VersionEntry<'a>>,
}

#[derive(Serialize)]
struct VersionEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'a str>,
    /// Deprecated versions only: who must move before the version can go.
    #[serde(skip_serializing_if = "Option::is_none")]
    migration: Option<Migration<'a>>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced_by: Option<&'a str>,
    /// Workspace-relative path.
    schema: String,
    selector: Selector<'a>,
    /// Gateway routes that serve the version to clients by its selector
    /// (or send requests naming no version to it).
    served_by: Vec<RouteRef<'a>>,
    /// `current` or `deprecated`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sunset: Option<String>,
    /// The calls and routes that name the version.
    used_by: Vec<UserEntry<'a>>,
}

#[derive(Serialize)]
struct Selector<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<&'a str>,
    /// What picks the version: the path prefix, header value, media type or package.
    value: &'a str,
}

#[derive(Serialize)]
struct Migration<'a> {
    /// No declared use is left.
    removable: bool,
    must_move: Vec<UserEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    move_to: Option<&'a str>,
}

#[derive(Clone, Serialize)]
struct UserEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<&'a str>,
    /// `call` or `route`.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    /// A route migrating between versions: its share of requests naming none, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    weight: Option<u32>,
}

#[derive(Serialize)]
struct RouteRef<'a> {
    gateway: &'a str,
    route: &'a str,
}

pub fn emit(model: &Model, _: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>) -> Vec<Artifact> {
    let uses = model.api_version_uses();
    let served = served_by(model);
    let mut apis: Vec<ApiEntry> = Vec::new();
    let mut origin = None;
    // Versions come grouped by service and API, in spec order.
    let mut last = None;
    for (key, service, api, version) in model.api_versions() {
        let users: Vec<UserEntry> = uses.get(&key).into_iter().flatten().map(|u| user_entry(model, u)).collect();
        let served = served
            .get(&key)
            .map_or(Vec::new(), |routes| routes.iter().map(|&(g, r)| RouteRef { gateway: g, route: r }).collect());
        let entry = version_entry(model, service, api, version, users, served);
        if last != Some((key.0, key.1)) {
            last = Some((key.0, key.1));
            origin.get_or_insert(api.name.span);
            apis.push(ApiEntry {
                api: &api.name.value,
                current: api.current_version().map_or("", |v| api.version(v).name.value.as_str()),
                kind: api.kind.to_string(),
                service: &service.name.value,
                strategy: version.selector.value.strategy(),
                versions: Vec::with_capacity(api.versions.len()),
            });
        }
        apis.last_mut().expect("pushed above").versions.push(entry);
    }
    let Some(origin) = origin else { return Vec::new() };
    let report = Report { apis, format: FORMAT, mesh: &model.name };
    vec![Artifact {
        path: "versions/compatibility.json".to_string(),
        contents: crate::emit::pretty_json(&report),
        origin,
    }]
}

fn version_entry<'a>(
    model: &'a Model,
    service: &'a Service,
    api: &'a Api,
    version: &'a ApiVersion,
    users: Vec<UserEntry<'a>>,
    served_by: Vec<RouteRef<'a>>,
) -> VersionEntry<'a> {
    let deprecation = version.deprecation();
    let replaced_by =
        deprecation.and_then(|d| d.replaced_by.as_ref()).map(|r| api.version(r.value).name.value.as_str());
    let selector = match &version.selector.value {
        VersionSelector::Header { name, value } => Selector { header: Some(name.as_str()), value },
        VersionSelector::PathPrefix(v) | VersionSelector::MediaType(v) | VersionSelector::GrpcPackage(v) => {
            Selector { header: None, value: v }
        }
    };
    VersionEntry {
        deployment: version.deployment.as_ref().map(|d| service.version(d.value).name.value.as_str()),
        deprecated: deprecation.map(|d| d.since.value.to_string()),
        link: deprecation.and_then(|d| d.link.as_ref()).map(|l| l.value.as_str()),
        migration: deprecation.map(|_| Migration {
            removable: users.is_empty(),
            must_move: users.clone(),
            move_to: replaced_by,
        }),
        name: &version.name.value,
        replaced_by,
        schema: model.schema(version.schema).display.clone(),
        selector,
        served_by,
        status: if deprecation.is_some() { "deprecated" } else { "current" },
        sunset: deprecation.and_then(|d| d.sunset.as_ref()).map(|s| s.value.to_string()),
        used_by: users,
    }
}

fn user_entry<'a>(model: &'a Model, user: &VersionUse) -> UserEntry<'a> {
    match user.user {
        VersionUser::Call { caller, call } => {
            let service = model.service(caller);
            UserEntry {
                gateway: None,
                kind: "call",
                operation: service.calls[call].operation.as_ref().map(|o| o.value.to_string()),
                route: None,
                service: Some(&service.name.value),
                weight: None,
            }
        }
        VersionUser::Route { gateway, route } => {
            let g = model.gateway(gateway);
            let r = &g.routes[route];
            UserEntry {
                gateway: Some(&g.name.value),
                kind: "route",
                operation: r.forward().and_then(|f| f.operation.as_ref()).map(|o| o.value.to_string()),
                route: Some(&r.name.value),
                service: None,
                weight: user.weight,
            }
        }
    }
}

/// The routes serving each version to clients: every version of a route
/// side by side (or migrating), and the version requests naming none get.
fn served_by(model: &Model) -> BTreeMap<VersionKey, Vec<(&str, &str)>> {
    let mut out: BTreeMap<VersionKey, Vec<(&str, &str)>> = BTreeMap::new();
    for g in &model.gateways {
        for r in &g.routes {
            let Some(forward) = r.forward() else { continue };
            let Some(versions) = &forward.api_versions else { continue };
            let api_id = versions.api();
            let api = &model.service(forward.target.value).apis[api_id.index()];
            let ids: Vec<_> = match versions {
                RouteVersions::One(one) => vec![one.version],
                RouteVersions::SideBySide { .. } | RouteVersions::Weighted { .. } => api.version_ids().collect(),
            };
            for v in ids {
                out.entry((forward.target.value, api_id, v)).or_default().push((&g.name.value, &r.name.value));
            }
        }
    }
    out
}
