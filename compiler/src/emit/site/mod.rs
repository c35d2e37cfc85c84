//! The documentation site (`site/`, docs/backends/site.md): static HTML
//! that needs no server (it works from `file://`), generated from the same
//! model and schemas the mesh is deployed from. `index.html` is the
//! catalog (counts, the call graph, search over services, operations,
//! topics and owners), `services/NAME.html` a page per service (its APIs
//! with a link to their schemas' pages, calls in and out with their
//! timeouts and retries, events, who may call it, SLOs, alerts, versions),
//! `schemas/FILE.html` a page per API schema file (operations and types,
//! rendered once however many APIs share it), `topology.html` the diagrams (call graph with retry amplification,
//! event flow, a route map per gateway), `security.html` the posture,
//! `versions.html` API and schema versions, `runbooks/` one page per alert.
//!
//! Templates are askama's (`compiler/templates/site/`), which escape every
//! value: names, owners, doc comments and descriptions are untrusted. The
//! diagrams are SVG laid out here ([`diagram`]); file names and anchors
//! come from [`slug`], so no name makes a path or breaks out of an attribute.

mod diagram;
mod pages;
mod runbooks;
mod service;

use askama::Template;
use rayon::prelude::*;

use crate::emit::{Artifact, Options, Parts, Unexpressed};
use crate::model::events::{Consumer, Producer};
use crate::model::{Amplified, GatewayId, Model, Service, ServiceId};
use crate::schema::SchemaIndex;

const STYLE: &str = include_str!("../../../templates/site/style.css");
const SEARCH: &str = include_str!("../../../templates/site/search.js");

pub fn emit(model: &Model, schemas: &SchemaIndex, _: &Options, _: &mut Vec<Unexpressed>, parts: Parts<'_>) {
    let Some(origin) = model.services.first().map(|s| s.name.span) else { return };
    let index = Index::new(model);
    let page = |part: usize, path: String, contents: String| {
        parts(part, vec![Artifact { path: format!("site/{path}"), contents, origin }]);
    };
    // Each schema file's reference is built once: its page, the search
    // index's operations and the summary on each API using it.
    let schema_pages = pages::schemas(model, schemas);
    let summaries: std::collections::HashMap<crate::model::SchemaId, &str> =
        schema_pages.iter().map(|p| (p.id, p.summary())).collect();
    let mut versions: Vec<Vec<pages::ApiVersions>> = model.services.iter().map(|_| Vec::new()).collect();
    for (id, api) in pages::api_versions(model, "../") {
        versions[id.index()].push(api);
    }
    // A part per page, numbered in a fixed order (the mesh's pages, then
    // per service, per schema, per runbook); rendered in parallel, each
    // written while others are rendered.
    let whole: [(&str, &(dyn Fn() -> String + Sync)); 7] = [
        ("style.css", &|| STYLE.to_string()),
        ("search.js", &|| SEARCH.to_string()),
        ("search-index.js", &|| pages::search_index(model, &schema_pages)),
        ("index.html", &|| render(&pages::index(model, &index))),
        ("topology.html", &|| render(&pages::topology(model, &index))),
        ("security.html", &|| render(&pages::security(model, schemas, &index))),
        ("versions.html", &|| render(&pages::versions(model, schemas, &index))),
    ];
    let (services_from, schemas_from) = (whole.len(), whole.len() + model.services.len());
    let runbooks_from = schemas_from + schema_pages.len();
    rayon::join(
        || whole.par_iter().enumerate().for_each(|(part, (path, contents))| page(part, path.to_string(), contents())),
        || {
            let services: Vec<_> = model.service_ids().zip(&model.services).zip(versions).collect();
            services.into_par_iter().enumerate().for_each(|(i, ((id, service), versions))| {
                let contents = render(&service::page(model, id, &index, versions, &summaries));
                page(services_from + i, service_path(service), contents);
            })
        },
    );
    schema_pages.par_iter().enumerate().for_each(|(i, schema)| {
        page(schemas_from + i, schema_path(&schema.display), render(schema));
    });
    page(runbooks_from, "runbooks/index.html".into(), render(&runbooks::index(model, &index.runbooks)));
    index.runbooks.par_iter().enumerate().for_each(|(i, runbook)| {
        page(
            runbooks_from + 1 + i,
            format!("runbooks/{}.html", runbook.id),
            render(&runbooks::page(model, runbook, &index)),
        );
    });
}

/// What several pages look up per service, gathered once (no scan of the
/// whole model per service).
pub(crate) struct Index<'m> {
    /// Per service: the calls to it, as (caller, index in its `calls`).
    pub calls_in: Vec<Vec<(ServiceId, usize)>>,
    /// Per service: the gateway routes forwarding to it, as (gateway, route index).
    pub routes_in: Vec<Vec<(GatewayId, usize)>>,
    /// [`Model::retry_amplification`].
    pub amplification: Vec<Option<Amplified>>,
    pub runbooks: Vec<runbooks::Runbook>,
    /// Per service: its runbooks (indices in `runbooks`).
    pub runbooks_of: Vec<Vec<usize>>,
    /// Per topic: its producers.
    pub producers: Vec<Vec<&'m Producer>>,
    /// Per topic: its consumers.
    pub consumers: Vec<Vec<&'m Consumer>>,
    /// Per service: what it publishes.
    pub produced_by: Vec<Vec<&'m Producer>>,
    /// Per service: what it subscribes to.
    pub consumed_by: Vec<Vec<&'m Consumer>>,
}

impl<'m> Index<'m> {
    fn new(model: &'m Model) -> Index<'m> {
        let n = model.services.len();
        let mut calls_in = vec![Vec::new(); n];
        for (caller, service) in model.service_ids().zip(&model.services) {
            for (i, call) in service.calls.iter().enumerate() {
                calls_in[call.target.value.index()].push((caller, i));
            }
        }
        let mut routes_in = vec![Vec::new(); n];
        for (g, gateway) in model.gateway_ids().zip(&model.gateways) {
            for (r, route) in gateway.routes.iter().enumerate() {
                if let Some(forward) = route.forward() {
                    routes_in[forward.target.value.index()].push((g, r));
                }
            }
        }
        let runbooks = runbooks::runbooks(model);
        let mut runbooks_of = vec![Vec::new(); n];
        for (i, runbook) in runbooks.iter().enumerate() {
            for id in &runbook.services {
                if runbooks_of[id.index()].last() != Some(&i) {
                    runbooks_of[id.index()].push(i);
                }
            }
        }
        let mut produced_by = vec![Vec::new(); n];
        for producer in &model.events.producers {
            produced_by[producer.service.index()].push(producer);
        }
        let mut consumed_by = vec![Vec::new(); n];
        for consumer in &model.events.consumers {
            consumed_by[consumer.service.index()].push(consumer);
        }
        Index {
            calls_in,
            routes_in,
            amplification: model.retry_amplification(),
            runbooks,
            runbooks_of,
            producers: crate::emit::producers_by_topic(model),
            consumers: crate::emit::consumers_by_topic(model),
            produced_by,
            consumed_by,
        }
    }
}

fn render(template: &impl Template) -> String {
    template.render().expect("site templates render (they write to a String)")
}

/// A name as a file name or anchor: ASCII letters, digits, `-` and `_`
/// kept, every other byte `_XX` (hex). Never empty, never `.` or `..`, and
/// two names never share a slug.
pub(crate) fn slug(name: &str) -> String {
    if name.is_empty() {
        return "_".to_string();
    }
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("_{byte:02X}"));
        }
    }
    out
}

/// `services/NAME.html`, relative to the site's root.
fn service_path(service: &Service) -> String {
    format!("services/{}.html", slug(&service.name.value))
}

/// A schema file's reference page, by the file's workspace-relative path.
fn schema_path(display: &str) -> String {
    format!("schemas/{}.html", slug(display))
}

/// What a service's diagram nodes merge into at scale: its owner, else its namespace.
fn group(service: &Service) -> String {
    match &service.owner {
        Some(owner) => owner.value.clone(),
        None => format!("namespace {}", service.identity().namespace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_keep_plain_names_and_encode_everything_else() {
        assert_eq!(slug("orders-v2"), "orders-v2");
        assert_eq!(slug("../a b"), "_2E_2E_2Fa_20b");
        assert_eq!(slug("<x>"), "_3Cx_3E");
        assert_eq!(slug("a_b"), "a_5Fb");
        assert_eq!(slug(""), "_");
    }
}
