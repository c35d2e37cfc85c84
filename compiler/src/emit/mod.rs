//! Backends: each turns the model into artifacts in memory. Backends are
//! grouped by the engine that runs their output, a folder per engine
//! (`envoy/`, `istio/`, `kubernetes/`, `runtime/`); one module per backend
//! with one entry point, `emit`, registered in [`BACKENDS`], at the path its
//! name gives ([`Backend::module_path`]). Engines do not use each other:
//! what several need lives in the model or here.
//!
//! **Invariant:** backends read only the model, the schema index and the
//! build's [`Options`], and do no IO; the CLI writes their artifacts,
//! atomically. A spec setting a backend cannot express is never dropped
//! silently: the backend reports it as [`Unexpressed`], which the driver
//! turns into a warning (MESH0073).

mod alertmanager;
mod api_versions;
pub mod certificates;
mod compliance;
mod contracts;
mod envoy;
mod grafana;
mod istio;
mod kafka;
mod kubernetes;
pub mod monitoring;
mod nats;
mod opentelemetry;
mod prometheus;
mod rabbitmq;
mod runtime;
mod schema_registry;
mod site;
pub mod stats;
mod yaml;

use rayon::prelude::*;

use crate::base::Span;
use crate::model::api_versions::{ApiVersionId, VersionSelector};
use crate::model::identity::Mtls;
use crate::model::{Api, Model};
use crate::schema::SchemaIndex;

/// One output file, by its path relative to the output directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// `/`-separated relative path.
    pub path: String,
    pub contents: String,
    /// The declaration the file is named after (a service's, gateway's, ...
    /// name), so two files claiming one path can be traced to both.
    pub origin: Span,
}

/// What a build sets beside the spec (`meshc build` flags); the default
/// emits what the spec says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    cert_dir: Option<String>,
    /// The backends to run (`--backend`); `None`: all of them.
    backends: Option<Vec<&'static str>>,
    /// Every monitoring window (rates, `for`, SLO windows, scrape and
    /// evaluation intervals) is divided by this,
    /// so tests see alerts fire in seconds; `None`: 1.
    time_scale: Option<u32>,
    /// Where the proxies' listener and cluster files are (`--xds-dir`):
    /// set, each Envoy bootstrap reads them from there and reloads them
    /// when they change (file-based xDS); `None`: static bootstraps.
    xds_dir: Option<String>,
}

impl Options {
    /// Runs only the backends named (`meshc build --backend NAME,...`).
    /// `Err` names the first that is not one of [`BACKENDS`].
    pub fn with_backends<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Result<Options, String> {
        let mut selected = Vec::new();
        for name in names {
            let backend = BACKENDS.iter().find(|b| b.name == name).ok_or_else(|| name.to_string())?;
            selected.push(backend.name);
        }
        self.backends = Some(selected);
        Ok(self)
    }

    /// Whether the build runs `backend`.
    pub fn runs(&self, backend: &Backend) -> bool {
        self.backends.as_ref().is_none_or(|names| names.contains(&backend.name))
    }

    /// Proxies read their certificates from `dir` instead of the spec's
    /// `mtls { cert-dir }` (`--cert-dir`, for local runs). `dir` must be
    /// absolute, as the configs need it; a trailing `/` is dropped, as in
    /// the spec.
    pub fn with_cert_dir(mut self, dir: &str) -> Result<Options, String> {
        if !dir.starts_with('/') {
            return Err(format!("the cert dir `{dir}` is not an absolute path"));
        }
        let trimmed = dir.trim_end_matches('/');
        self.cert_dir = Some(if trimmed.is_empty() { "/".to_string() } else { trimmed.to_string() });
        Ok(self)
    }

    /// Envoy proxies read their listeners and clusters from files under
    /// `dir` (`--xds-dir`), which they reload when the files are replaced.
    /// `dir` must be absolute, as the bootstraps name it; a trailing `/`
    /// is dropped.
    pub fn with_xds_dir(mut self, dir: &str) -> Result<Options, String> {
        if !dir.starts_with('/') {
            return Err(format!("the xDS dir `{dir}` is not an absolute path"));
        }
        self.xds_dir = Some(dir.trim_end_matches('/').to_string());
        Ok(self)
    }

    /// The directory of the proxies' watched xDS files, if the build splits the bootstraps.
    pub fn xds_dir(&self) -> Option<&str> {
        self.xds_dir.as_deref()
    }

    /// Divides every monitoring window by `factor` (at least 1), for tests.
    pub fn with_time_scale(mut self, factor: u32) -> Options {
        self.time_scale = Some(factor.max(1));
        self
    }

    /// The monitoring windows' divisor: 1 unless a test sets one.
    pub fn time_scale(&self) -> u32 {
        self.time_scale.unwrap_or(1)
    }

    /// Where proxies read their certificates and keys: the override, else the spec's.
    pub fn cert_dir<'a>(&'a self, mtls: &'a Mtls) -> &'a str {
        self.cert_dir.as_deref().unwrap_or(&mtls.cert_dir)
    }
}

/// A setting of the spec that a backend's artifacts are built without,
/// because the engine has no way to express it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unexpressed {
    /// The backend's name, filled in by [`emit_all`].
    pub backend: &'static str,
    /// The setting in the spec.
    pub span: Span,
    /// What it is: "this health check".
    pub setting: String,
    /// Which artifacts are built without it.
    pub label: String,
    /// Why, and what to do instead.
    pub help: String,
}

impl Unexpressed {
    pub(crate) fn new(
        span: Span,
        setting: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        Unexpressed { backend: "", span, setting: setting.into(), label: label.into(), help: help.into() }
    }
}

pub struct Backend {
    /// `ENGINE` or `ENGINE-PART`.
    pub name: &'static str,
    /// The folder under `emit/` of the engine that runs its output.
    pub engine: &'static str,
    pub description: &'static str,
    /// Its documentation, relative to `docs/backends/`.
    pub page: &'static str,
    /// The artifacts; settings it cannot express go to the `Vec`.
    pub emit: Emit,
}

/// How a backend hands over its artifacts.
#[derive(Clone, Copy)]
pub enum Emit {
    /// All at once.
    Whole(fn(&Model, &SchemaIndex, &Options, &mut Vec<Unexpressed>) -> Vec<Artifact>),
    /// Part by part, as each is made (the backends whose output runs to
    /// hundreds of MB for a large mesh: a proxy's files, a page), so a
    /// writer never holds the whole output.
    Parts(fn(&Model, &SchemaIndex, &Options, &mut Vec<Unexpressed>, Parts<'_>)),
}

/// Where a backend of [`Emit::Parts`] hands each part: its number (its
/// place in the backend's output: parts are numbered in a fixed order and
/// may come in any) and its artifacts. Called from any thread.
pub type Parts<'a> = &'a (dyn Fn(usize, Vec<Artifact>) + Sync);

impl Emit {
    /// Runs the backend, handing its output to `receive` as [`Parts`]
    /// (a whole output is part 0).
    fn run(
        self,
        model: &Model,
        schemas: &SchemaIndex,
        options: &Options,
        unexpressed: &mut Vec<Unexpressed>,
        receive: Parts<'_>,
    ) {
        match self {
            Emit::Whole(emit) => receive(0, emit(model, schemas, options, unexpressed)),
            Emit::Parts(emit) => emit(model, schemas, options, unexpressed, receive),
        }
    }
}

impl Backend {
    /// Its module, relative to `emit/`: `ENGINE/mod.rs` for the backend
    /// named after its engine, else `ENGINE/PART.rs` (`-` as `_`).
    pub fn module_path(&self) -> String {
        // Compared as module names: `schema-registry` is `schema_registry/mod.rs`.
        let name = self.name.replace('-', "_");
        let part = name.strip_prefix(self.engine).map_or(name.as_str(), |rest| rest.trim_start_matches('_'));
        match part {
            "" => format!("{}/mod.rs", self.engine),
            part => format!("{}/{part}.rs", self.engine),
        }
    }
}

pub static BACKENDS: &[Backend] = &[
    Backend {
        name: "alertmanager",
        engine: "alertmanager",
        description: "The Alertmanager configuration (`alertmanager/alertmanager.yml`, monitored meshes): a webhook receiver per `receiver`, routes by the labels of each `match`, the default receiver at the root.",
        page: "alertmanager.md",
        emit: Emit::Whole(alertmanager::emit),
    },
    Backend {
        name: "api-versions",
        engine: "api_versions",
        description: "The API compatibility report (`versions/compatibility.json`): per versioned API, its versions with selector, schema, deployment and lifecycle, who uses and serves each, and each deprecated version's migration path.",
        page: "api-versions.md",
        emit: Emit::Whole(api_versions::emit),
    },
    Backend {
        name: "cert-manager",
        engine: "kubernetes",
        description: "cert-manager resources issuing each workload's SPIFFE certificate: a ClusterIssuer and a Certificate per service and gateway (meshes with mtls).",
        page: "cert-manager.md",
        emit: Emit::Whole(kubernetes::cert_manager::emit),
    },
    Backend {
        name: "compliance-report",
        engine: "compliance",
        description: "The compliance report (`compliance/report.json`, meshes with rules or data classes): every compliance rule with its control reference and each subject it judged (passed, failed, suppressed with reason and expiry, where declared), and the data classes with their holders and labels.",
        page: "compliance.md",
        emit: Emit::Whole(compliance::report::emit),
    },
    Backend {
        name: "contracts-load",
        engine: "contracts",
        description: "The load-test plan (`load/plan.json`, format `meshc-load/1`): every route and call with a declared `load`, its request, and the objectives, rate limits, circuit breaker and retry amplification that must hold under it, each naming its spec line; `meshc-runtime up OUT --load` runs it.",
        page: "contracts-load.md",
        emit: Emit::Whole(contracts::load::emit),
    },
    Backend {
        name: "contracts-plan",
        engine: "contracts",
        description: "Contract test plans (`contracts/providers/NAME.json`, `contracts/consumers/NAME.json`, format `meshc-contracts/2`): every call's and route's implicit contract and examples, every topic's example events; and a mock-provider config per provider (`contracts/mocks/NAME.json`).",
        page: "contracts.md",
        emit: Emit::Parts(contracts::plan::emit),
    },
    Backend {
        name: "contracts-probes",
        engine: "contracts",
        description: "The penetration-probe plan (`probes/plan.json`, format `meshc-probes/1`): the attacks the spec implies on every authenticated route, service authorization, rate limit, validated route and gateway listener, each naming the spec line it tests; `meshc-runtime up OUT --probe` runs it.",
        page: "contracts-probes.md",
        emit: Emit::Whole(contracts::probes::emit),
    },
    Backend {
        name: "envoy-gateway",
        engine: "envoy",
        description: "An Envoy v3 bootstrap per gateway: listeners, routes, clusters, filters, local replies.",
        page: "envoy.md",
        emit: Emit::Whole(envoy::gateway::emit),
    },
    Backend {
        name: "envoy-local-mesh",
        engine: "envoy",
        description: "The plan of `meshc-runtime up` (`runtime/local-mesh.json`): per proxy its config and, by name, the listeners others reach and the clusters towards its own host (app, admin, helpers); per service its identity and every address of each port; the helpers (validators, token exchangers, GraphQL gateways) with their configs.",
        page: "local-mesh.md",
        emit: Emit::Whole(envoy::local_mesh::emit),
    },
    Backend {
        name: "envoy-ratelimit",
        engine: "envoy",
        description: "A config per gateway with global rate limits for the reference rate limit service (envoyproxy/ratelimit): its domain and descriptors.",
        page: "envoy.md#end-user-security",
        emit: Emit::Whole(envoy::ratelimit::emit),
    },
    Backend {
        name: "envoy-sidecar",
        engine: "envoy",
        description: "An Envoy v3 bootstrap per service: an inbound listener per port to the app (HTTP or TCP; mTLS, authorization), outbound routes with timeouts, retries and traffic rules, a local listener per TCP callee, clusters with the callees' traffic policies.",
        page: "envoy.md#sidecars",
        emit: Emit::Parts(envoy::sidecar::emit),
    },
    Backend {
        name: "event-bus",
        engine: "runtime",
        description: "The config of the runtime's EventBus (`runtime/event-bus.json`): NATS and RabbitMQ brokers, topics with their schema versions (Avro and JSON Schema texts, protobuf messages with their descriptor sets), each service's producers and consumers (filters, delivery, retries, dead letters).",
        page: "../runtime.md#event-bus",
        emit: Emit::Whole(runtime::event_bus::emit),
    },
    Backend {
        name: "grafana-dashboards",
        engine: "grafana",
        description: "Grafana dashboards (`grafana/dashboards/*.json`, monitored meshes): per service (RED of its inbound traffic and calls, SLO burn rates and budget left, instance health), per gateway (RED and SLOs per route), an overview (RED at a glance, SLOs burning, alerts firing).",
        page: "grafana.md",
        emit: Emit::Whole(grafana::dashboards::emit),
    },
    Backend {
        name: "grafana-provisioning",
        engine: "grafana",
        description: "Grafana provisioning (`grafana/provisioning/`, monitored meshes): a file provider for the dashboards and the Prometheus data source they default to.",
        page: "grafana.md#provisioning",
        emit: Emit::Whole(grafana::provisioning::emit),
    },
    Backend {
        name: "graphql-gateway",
        engine: "runtime",
        description: "Configs for `meshc-runtime graphql`: composed GraphQL APIs with each root field's upstream call.",
        page: "graphql-gateway.md",
        emit: Emit::Whole(runtime::graphql_gateway::emit),
    },
    Backend {
        name: "health-monitor",
        engine: "runtime",
        description: "The config of `meshc-runtime health` (`runtime/health.json`): per service with a health check, its probe (HTTP path and accepted statuses, gRPC health service name, TCP), schedule (interval, jitter, timeout, start period), thresholds and the instances to probe.",
        page: "../runtime.md#health-monitor",
        emit: Emit::Whole(runtime::health_monitor::emit),
    },
    Backend {
        name: "istio",
        engine: "istio",
        description: "Istio resources per service and gateway: ServiceEntry, DestinationRule (traffic policy, subsets), VirtualService (callers' timeouts, retries, traffic rules), Gateway, PeerAuthentication and AuthorizationPolicy (mTLS, authorization, JWT).",
        page: "istio.md",
        emit: Emit::Parts(istio::emit),
    },
    Backend {
        name: "kafka",
        engine: "kafka",
        description: "Per Kafka broker: the topics to create (CreateTopics: partitions, replication factor, retention, cleanup policy, min in-sync replicas) and the ACLs producers and consumers need.",
        page: "kafka.md",
        emit: Emit::Whole(kafka::emit),
    },
    Backend {
        name: "kubernetes",
        engine: "kubernetes",
        description: "A Kubernetes Service per service with a cluster DNS address, a port per service port, each targeting its sidecar's inbound port for it.",
        page: "kubernetes.md",
        emit: Emit::Whole(kubernetes::emit),
    },
    Backend {
        name: "nats",
        engine: "nats",
        description: "Per NATS broker: a JetStream StreamConfig per stream (subjects, retention, limits, storage, replicas, duplicate window) and a ConsumerConfig per consumer group (acks, ack wait, backoff, delivery bound, filters).",
        page: "nats.md",
        emit: Emit::Whole(nats::emit),
    },
    Backend {
        name: "opentelemetry-collector",
        engine: "opentelemetry",
        description: "The OpenTelemetry Collector's config (`opentelemetry/collector.yaml`) for the mesh's `tracing` block: an OTLP receiver where the proxies send spans, a batch processor, the spec's exporters.",
        page: "opentelemetry.md",
        emit: Emit::Whole(opentelemetry::collector::emit),
    },
    Backend {
        name: "prometheus-rules",
        engine: "prometheus",
        description: "Prometheus rules (`prometheus/rules/meshc-red.yml` and `meshc.yml`, monitored meshes): RED recording rules per gateway route, call and service, the spec's threshold alerts, and per SLO its error ratios, budget left and multi-window multi-burn-rate alerts.",
        page: "prometheus.md",
        emit: Emit::Whole(prometheus::rules::emit),
    },
    Backend {
        name: "prometheus-scrape",
        engine: "prometheus",
        description: "The Prometheus configuration (`prometheus/prometheus.yml`, monitored meshes): a scrape job per gateway and sidecar on its metrics listener, the rule file, the Alertmanager.",
        page: "prometheus.md#scrape-config",
        emit: Emit::Whole(prometheus::scrape::emit),
    },
    Backend {
        name: "prometheus-tests",
        engine: "prometheus",
        description: "promtool unit tests of the emitted rules (`prometheus/tests/meshc.test.yml`): per alert, Envoy series that fire it and healthy ones that fire nothing; per SLO, a fast and a slow burn.",
        page: "prometheus.md#rule-tests",
        emit: Emit::Whole(prometheus::tests::emit),
    },
    Backend {
        name: "rabbitmq",
        engine: "rabbitmq",
        description: "Per RabbitMQ broker: a definitions file for `rabbitmqctl import_definitions`: an exchange per stream, a queue per consumer group with its bindings, a policy per queue (limits, delivery limit, dead-letter exchange).",
        page: "rabbitmq.md",
        emit: Emit::Whole(rabbitmq::emit),
    },
    Backend {
        name: "request-validator",
        engine: "runtime",
        description: "Rules for `meshc-runtime validator`: validating routes with their OpenAPI request shapes.",
        page: "request-validator.md",
        emit: Emit::Whole(runtime::request_validator::emit),
    },
    Backend {
        name: "schema-registry",
        engine: "schema_registry",
        description: "Per topic: its schema-registry subject (Confluent REST payloads): the compatibility level and every schema version, under the topic's subject naming.",
        page: "schema-registry.md",
        emit: Emit::Whole(schema_registry::emit),
    },
    Backend {
        name: "site",
        engine: "site",
        description: "The documentation site (`site/`, static HTML that works from file://): a catalog with search, a page per service (its APIs' operations and types from their schemas, calls in and out, events, who may call it, SLOs, alerts, versions), topology diagrams as SVG (call graph with retry amplification, event flow, route maps), the security posture, versions, a runbook per alert.",
        page: "site.md",
        emit: Emit::Parts(site::emit),
    },
    Backend {
        name: "token-exchange",
        engine: "runtime",
        description: "Configs for `meshc-runtime token-exchange`: per service and token exchange, the STS and the audiences its calls exchange the user's token for.",
        page: "../runtime.md#token-exchange",
        emit: Emit::Whole(runtime::token_exchange::emit),
    },
];

/// Every backend's output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Emitted {
    /// Sorted by path.
    pub artifacts: Vec<Artifact>,
    /// In [`BACKENDS`] order, then each backend's.
    pub unexpressed: Vec<Unexpressed>,
}

/// Every backend's artifacts and what they could not express.
pub fn emit_all(model: &Model, schemas: &SchemaIndex, options: &Options) -> Emitted {
    let parts = std::sync::Mutex::new(Vec::new());
    let unexpressed = emit_each(model, schemas, options, &|part| {
        parts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(part);
    });
    let mut parts = parts.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    // In [`BACKENDS`] and part order before the (stable) sort by path, whichever came first.
    parts.sort_by_key(|p| (p.backend, p.part));
    let mut artifacts: Vec<Artifact> = parts.into_iter().flat_map(|p| p.artifacts).collect();
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    Emitted { artifacts, unexpressed }
}

/// Part of one backend's output, as [`emit_each`] hands it over.
pub struct Part {
    /// The backend's index in [`BACKENDS`].
    pub backend: usize,
    /// Its number among the backend's parts (see [`Parts`]).
    pub part: usize,
    pub artifacts: Vec<Artifact>,
}

/// Runs the backends in parallel and hands their artifacts to `receive`
/// as they are made: each backend's whole output as it finishes, or part
/// by part ([`Emit::Parts`]), on the thread that made them, in no fixed
/// order. A caller that writes them as they come never holds the whole
/// output (hundreds of MB for a large mesh). Returns what the backends
/// could not express, in [`BACKENDS`] order, then each backend's.
pub fn emit_each(
    model: &Model,
    schemas: &SchemaIndex,
    options: &Options,
    receive: &(dyn Fn(Part) + Sync),
) -> Vec<Unexpressed> {
    let unexpressed: Vec<Vec<Unexpressed>> = BACKENDS
        .par_iter()
        .enumerate()
        .filter(|(_, b)| options.runs(b))
        .map(|(backend, b)| {
            let mut unexpressed = Vec::new();
            let part = |part, artifacts| receive(Part { backend, part, artifacts });
            b.emit.run(model, schemas, options, &mut unexpressed, &part);
            unexpressed.iter_mut().for_each(|u| u.backend = b.name);
            unexpressed
        })
        .collect();
    unexpressed.into_iter().flatten().collect()
}

/// Each topic's consumers (by [`crate::model::TopicId`] index), in
/// declaration order: what the broker backends read per stream, gathered
/// once instead of scanning every consumer per stream.
pub(crate) fn consumers_by_topic(model: &Model) -> Vec<Vec<&crate::model::events::Consumer>> {
    let mut by_topic = vec![Vec::new(); model.topics.len()];
    for consumer in &model.events.consumers {
        by_topic[consumer.topic.value.index()].push(consumer);
    }
    by_topic
}

/// Each topic's producers (by [`crate::model::TopicId`] index), in declaration order.
pub(crate) fn producers_by_topic(model: &Model) -> Vec<Vec<&crate::model::events::Producer>> {
    let mut by_topic = vec![Vec::new(); model.topics.len()];
    for producer in &model.events.producers {
        by_topic[producer.topic.value.index()].push(producer);
    }
    by_topic
}

/// The pod label that tells a service's versions apart (Istio's convention,
/// which the Kubernetes Services of versions select by too).
pub(crate) const VERSION_LABEL: &str = "version";

/// A YAML document with a do-not-edit header, serialized straight into the
/// artifact's bytes (no intermediate tree).
pub(crate) fn yaml(model: &Model, document: &impl serde::Serialize) -> String {
    text(|out| {
        out.extend_from_slice(b"# Generated by meshc from mesh `");
        out.extend_from_slice(model.name.as_bytes());
        out.extend_from_slice(b"`. Do not edit; change the spec and rebuild.\n");
        yaml::write(out, document);
    })
}

/// A JSON document, pretty-printed (two spaces), with a final line break.
pub(crate) fn pretty_json(document: &impl serde::Serialize) -> String {
    text(|out| {
        serde_json::to_writer_pretty(&mut *out, document).expect("artifact documents serialize to JSON");
        out.push(b'\n');
    })
}

/// An artifact's text, written by `write` into a buffer this thread keeps
/// between artifacts, then copied into a string of its exact size: the
/// buffer grows once per thread instead of once per file (each growth
/// copied the text so far into newly faulted-in pages).
pub(crate) fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
    thread_local! {
        static BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    }
    /// A larger buffer is dropped after use rather than kept.
    const KEPT: usize = 8 << 20;
    // Taken out of the cell while in use, so a `write` that makes another artifact gets a buffer of its own.
    let mut buffer = BUFFER.take();
    buffer.clear();
    write(&mut buffer);
    let text = String::from_utf8(buffer.as_slice().to_vec()).expect("artifacts are UTF-8");
    if buffer.capacity() <= KEPT {
        BUFFER.set(buffer);
    }
    text
}

/// An OpenAPI path template as an anchored RE2 regex (Envoy `safe_regex`,
/// Istio `uri.regex`): `{param}` is one segment.
pub(crate) fn path_template_regex(template: &str) -> String {
    let mut regex = String::from("^");
    for (i, part) in template.split('{').enumerate() {
        let literal = if i == 0 {
            part
        } else {
            regex.push_str("[^/]+");
            part.split_once('}').map_or("", |(_, rest)| rest)
        };
        for c in literal.chars() {
            if "\\.+*?()|[]{}^$".contains(c) {
                regex.push('\\');
            }
            regex.push(c);
        }
    }
    regex.push('$');
    regex
}

/// A deprecated API version's response headers, in order: `deprecation:
/// @SECONDS` (RFC 9745), `sunset: HTTP-date` (RFC 8594), `link: <URL>;
/// rel="deprecation"`, and for a version replaced by one picked by path,
/// `link: <PREFIX>; rel="successor-version"` (RFC 5829). Empty for a
/// current version. Both gateway engines send these.
pub fn deprecation_headers(api: &Api, version: ApiVersionId) -> Vec<(&'static str, String)> {
    let Some(deprecation) = api.version(version).deprecation() else { return Vec::new() };
    let mut headers = vec![("deprecation", format!("@{}", deprecation.since.value.unix_seconds()))];
    if let Some(sunset) = &deprecation.sunset {
        headers.push(("sunset", sunset.value.imf_fixdate()));
    }
    if let Some(link) = &deprecation.link {
        headers.push(("link", format!("<{}>; rel=\"deprecation\"", link.value)));
    }
    let successor = deprecation.replaced_by.as_ref().map(|r| &api.version(r.value).selector.value);
    if let Some(VersionSelector::PathPrefix(prefix)) = successor {
        headers.push(("link", format!("<{prefix}>; rel=\"successor-version\"")));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cert_dir_override_is_absolute_and_wins_over_the_spec() {
        use crate::base::{FileId, Spanned};
        use crate::model::identity::MtlsMode;
        use crate::model::values::Duration;
        let span = Span::new(FileId(0), 0..0);
        let mtls = Mtls {
            mode: Spanned::new(MtlsMode::Strict, span),
            trust_domain: Mtls::DEFAULT_TRUST_DOMAIN.into(),
            namespaces: Vec::new(),
            certificate_lifetime: Duration::from_millis(1),
            renew_before: Duration::from_millis(1),
            cert_dir: Mtls::DEFAULT_CERT_DIR.into(),
            span,
        };
        assert_eq!(Options::default().cert_dir(&mtls), "/etc/meshc/certs");
        assert_eq!(Options::default().with_cert_dir("/tmp/certs/").unwrap().cert_dir(&mtls), "/tmp/certs");
        assert_eq!(Options::default().with_cert_dir("/").unwrap().cert_dir(&mtls), "/");
        assert!(Options::default().with_cert_dir("certs").is_err());
    }

    #[test]
    fn an_xds_dir_is_absolute_and_unset_by_default() {
        assert_eq!(Options::default().xds_dir(), None);
        assert_eq!(Options::default().with_xds_dir("/etc/meshc/xds/").unwrap().xds_dir(), Some("/etc/meshc/xds"));
        assert!(Options::default().with_xds_dir("xds").unwrap_err().contains("not an absolute path"));
    }

    #[test]
    fn path_templates_become_anchored_segment_regexes() {
        assert_eq!(path_template_regex("/orders/{orderId}"), "^/orders/[^/]+$");
        assert_eq!(path_template_regex("/v1/a.b/{x}/items/{y}"), r"^/v1/a\.b/[^/]+/items/[^/]+$");
        assert_eq!(path_template_regex("/orders"), "^/orders$");
    }
}
