//! The files of one Envoy proxy, shared by the sidecar and gateway
//! backends: its bootstrap as built (static listeners and clusters), or,
//! with `--xds-dir DIR` ([`Options::xds_dir`]), the reloadable form
//! (file-based xDS):
//!
//! - `envoy/NODE.yaml`: the bootstrap without `static_resources`; its
//!   `dynamic_resources` read the listeners (LDS) and clusters (CDS) from
//!   `DIR/NODE/lds.yaml` and `DIR/NODE/cds.yaml`, watching `DIR/NODE`;
//! - `envoy/NODE/lds.yaml`, `envoy/NODE/cds.yaml`: the resources as
//!   `DiscoveryResponse`s (`resources:`, each with its `@type`).
//!
//! `meshc build` replaces a changed file by renaming a new one over it, a
//! move into the watched directory, on which Envoy reads both files again
//! and applies what changed (a changed listener drains gracefully, a
//! changed cluster is warmed before it replaces the old) without a
//! restart. Ship `OUT/envoy/NODE/` to `DIR/NODE/` the same way (write
//! beside, rename over).

use serde::Serialize;

use super::api::{Admin, Bootstrap, ConfigSource, Node, PathConfigSource, StatsConfig, WatchedDirectory};
use crate::base::Span;
use crate::emit::{yaml, Artifact, Options};
use crate::model::Model;

const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// The artifacts of the proxy `node.id` (`sidecar-NAME`, `gateway-NAME`),
/// all traced to `origin`: its bootstrap, or with an xDS dir the split
/// bootstrap and its `lds.yaml` and `cds.yaml`.
pub fn proxy_files<L: Serialize>(
    model: &Model,
    options: &Options,
    origin: Span,
    bootstrap: Bootstrap<'_, L>,
) -> Vec<Artifact> {
    let node = bootstrap.node.id.clone();
    let artifact = |path: String, contents: String| Artifact { path, contents, origin };
    let Some(dir) = options.xds_dir() else {
        return vec![artifact(format!("envoy/{node}.yaml"), yaml(model, &bootstrap))];
    };
    let watched = format!("{dir}/{node}");
    let source = |file: &str| ConfigSource {
        path_config_source: PathConfigSource {
            path: format!("{watched}/{file}"),
            watched_directory: WatchedDirectory { path: watched.clone().into() },
        },
        resource_api_version: "V3",
    };
    let resources = bootstrap.static_resources;
    let split = DynamicBootstrap {
        admin: bootstrap.admin,
        dynamic_resources: DynamicResources { cds_config: source("cds.yaml"), lds_config: source("lds.yaml") },
        node: bootstrap.node,
        stats_config: bootstrap.stats_config,
    };
    vec![
        artifact(format!("envoy/{node}.yaml"), yaml(model, &split)),
        artifact(format!("envoy/{node}/cds.yaml"), yaml(model, &Resources::of(CLUSTER, &resources.clusters))),
        artifact(format!("envoy/{node}/lds.yaml"), yaml(model, &Resources::of(LISTENER, &resources.listeners))),
    ]
}

/// A bootstrap whose listeners and clusters are in watched files (keys in byte order).
#[derive(Serialize)]
struct DynamicBootstrap<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    admin: Option<Admin<'a>>,
    dynamic_resources: DynamicResources<'a>,
    node: Node<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats_config: Option<StatsConfig<'a>>,
}

/// `envoy.config.bootstrap.v3.Bootstrap.DynamicResources`.
#[derive(Serialize)]
struct DynamicResources<'a> {
    cds_config: ConfigSource<'a>,
    lds_config: ConfigSource<'a>,
}

/// The contents of a file-based xDS source: a `DiscoveryResponse` with
/// the resources only (Envoy needs no version for files).
#[derive(Serialize)]
struct Resources<'b, T> {
    resources: Vec<Typed<'b, T>>,
}

impl<'b, T> Resources<'b, T> {
    fn of(type_url: &'static str, items: &'b [T]) -> Resources<'b, T> {
        Resources { resources: items.iter().map(|resource| Typed { type_url, resource }).collect() }
    }
}

/// A resource as a `google.protobuf.Any`: its `@type`, then its fields.
#[derive(Serialize)]
struct Typed<'b, T> {
    #[serde(rename = "@type")]
    type_url: &'static str,
    #[serde(flatten)]
    resource: &'b T,
}
