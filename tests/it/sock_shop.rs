//! The Sock Shop example (`examples/sock-shop/`): Weaveworks' demo shop,
//! described from its Kubernetes manifest
//! (microservices-demo/microservices-demo @ 9dff06fa,
//! `deploy/kubernetes/complete-demo.yaml`). The manifest is not in this
//! repository: the facts the tests compare against are written here, each
//! with the manifest lines it comes from. Set `SOCK_SHOP_MANIFEST` to a copy
//! of `complete-demo.yaml` to check those facts against it too.
//!
//! Then the example's artifacts in the real engines' terms (Envoy's
//! `--mode validate`, Istio's CRD schemas), and broken variants, each written
//! into a temporary directory and pinned to its code, file and exact span.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use meshc::base::Span;
use meshc::diag::{Code, Diagnostic};
use meshc::driver::{compile, Compilation};
use serde_json::Value;
use support::istio_crds::{validate, yaml_documents};
use support::kube::{parse_service, IntOrString, KubeService};
use support::{envoy_validate, repo_root};

// ---------------------------------------------------------------------------
// Upstream facts
// ---------------------------------------------------------------------------

/// Every `kind: Service` of complete-demo.yaml, port by port: (Service,
/// port, upstream port name). Only rabbitmq names its ports. Line numbers
/// are the `- port:` lines.
const UPSTREAM_PORTS: [(&str, u16, Option<&str>); 15] = [
    ("carts", 80, None),                  // line 70
    ("carts-db", 27017, None),            // line 127
    ("catalogue", 80, None),              // line 200
    ("catalogue-db", 3306, None),         // line 246
    ("front-end", 80, None),              // line 315 (type: NodePort, nodePort 30001)
    ("orders", 80, None),                 // line 384
    ("orders-db", 27017, None),           // line 441
    ("payment", 80, None),                // line 511
    ("queue-master", 80, None),           // line 563
    ("rabbitmq", 5672, Some("rabbitmq")), // lines 626-627
    ("rabbitmq", 9090, Some("exporter")), // lines 629-630
    ("session-db", 6379, None),           // line 683
    ("shipping", 80, None),               // line 753
    ("user", 80, None),                   // line 827
    ("user-db", 27017, None),             // line 886
];

/// What the datastores' containers run (complete-demo.yaml: images at lines
/// 94, 224, 408, 589, 657, 852; container port names at 96, 231, 410, 594,
/// 659, 855): the `protocol=` their ports carry in the spec.
const TCP_PROTOCOLS: [(&str, &str); 6] = [
    ("carts-db", "mongodb"),
    ("catalogue-db", "mysql"),
    ("orders-db", "mongodb"),
    ("rabbitmq", "amqp"),
    ("session-db", "redis"),
    ("user-db", "mongodb"),
];

/// The Service upstream has that meshc does not emit: queue-master listens
/// nowhere the mesh calls (its port 80 only serves /health and Prometheus
/// metrics to scrapers outside the mesh; examples/sock-shop/services/queue-master.kdl).
const LISTENS_NOWHERE: &str = "queue-master";

/// The call edges, from the services' sources (cited in the spec files).
const EDGES: [(&str, &str); 15] = [
    ("carts", "carts-db"),
    ("catalogue", "catalogue-db"),
    ("front-end", "carts"),
    ("front-end", "catalogue"),
    ("front-end", "orders"),
    ("front-end", "session-db"),
    ("front-end", "user"),
    ("orders", "carts"),
    ("orders", "orders-db"),
    ("orders", "payment"),
    ("orders", "shipping"),
    ("orders", "user"),
    ("queue-master", "rabbitmq"),
    ("shipping", "rabbitmq"),
    ("user", "user-db"),
];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn example_dir() -> PathBuf {
    repo_root().join("examples/sock-shop")
}

fn text(c: &Compilation, span: Span) -> &str {
    &c.sources.get(span.file).text[span.range()]
}

fn file(c: &Compilation, span: Span) -> &str {
    &c.sources.get(span.file).display
}

fn primary(d: &Diagnostic) -> Span {
    d.primary.as_ref().unwrap_or_else(|| panic!("{} has no primary label: {d:#?}", d.code.id())).span
}

/// Asserts the only diagnostic's code, and the file and exact text of its primary span.
fn assert_only<'c>(c: &'c Compilation, code: Code, in_file: &str, covering: &str) -> &'c Diagnostic {
    let d = support::only(c);
    assert_eq!(d.code, code, "{}", support::human(c));
    let span = primary(d);
    assert_eq!(file(c, span), in_file, "wrong file for {}", d.code.id());
    assert_eq!(text(c, span), covering, "wrong span for {}", d.code.id());
    d
}

fn clean() -> Compilation {
    let c = compile(&example_dir());
    assert!(c.diagnostics.is_empty(), "the example must check clean, got:\n{}", support::human(&c));
    c
}

/// The example built into `out` (panics when it does not build).
fn built(out: &Path) -> Vec<PathBuf> {
    support::build_workspace(&example_dir(), out)
}

// ---------------------------------------------------------------------------
// The example as it is
// ---------------------------------------------------------------------------

#[test]
fn the_example_checks_clean_with_every_deployment() {
    let c = clean();
    let model = c.model.as_ref().expect("a model");
    assert_eq!(model.name, "sock-shop");
    let names: BTreeSet<&str> = model.services.iter().map(|s| s.name.value.as_str()).collect();
    let upstream: BTreeSet<&str> = UPSTREAM_PORTS.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(names, upstream, "a service per Deployment of complete-demo.yaml");
    for s in &model.services {
        assert!(s.owner.is_some(), "{} has no owner", s.name.value);
        let listens = s.address.is_some();
        assert_eq!(listens, s.name.value != LISTENS_NOWHERE, "{}", s.name.value);
    }
}

#[test]
fn the_call_edges_are_the_ones_the_sources_make() {
    let c = clean();
    let model = c.model.as_ref().unwrap();
    let mut edges = BTreeSet::new();
    for s in &model.services {
        for call in &s.calls {
            edges.insert((s.name.value.as_str(), model.service(call.target.value).name.value.as_str()));
        }
    }
    assert_eq!(edges, EDGES.into_iter().collect());
    // shipping publishes the one topic, queue-master consumes it.
    let name = |id: meshc::model::ServiceId| model.service(id).name.value.as_str();
    let producers: Vec<&str> = model.events.producers.iter().map(|p| name(p.service)).collect();
    let consumers: Vec<&str> = model.events.consumers.iter().map(|c| name(c.service)).collect();
    assert_eq!((producers, consumers), (vec!["shipping"], vec!["queue-master"]));
}

#[test]
fn it_builds_and_envoy_accepts_every_config() {
    let c = clean();
    // Building warns once per health check, which Istio cannot express
    // (MESH0073; the kubelet's readiness probes do that job there).
    let build = c.build(&meshc::emit::Options::default()).expect("the example builds");
    let codes: BTreeSet<&str> = build.warnings.iter().map(|d| d.code.id()).collect();
    assert_eq!(codes, BTreeSet::from(["MESH0073"]), "{:#?}", build.warnings);
    assert_eq!(build.warnings.len(), 10, "one per health-check");

    let out = tempfile::tempdir().unwrap();
    let paths = built(out.path());
    let envoy: Vec<&PathBuf> = paths.iter().filter(|p| p.parent().is_some_and(|d| d.ends_with("envoy"))).collect();
    // The edge router and a sidecar per service, queue-master's included.
    assert_eq!(envoy.len(), 1 + c.model.as_ref().unwrap().services.len(), "{paths:?}");
    assert_eq!(envoy.len(), 15);
    let failures: Vec<String> =
        envoy.iter().filter_map(|p| envoy_validate(p).err().map(|e| format!("{}:\n{e}", p.display()))).collect();
    assert!(failures.is_empty(), "configs Envoy rejects:\n{}", failures.join("\n"));
}

#[test]
fn the_sidecars_proxy_tcp_callees_and_the_two_broker_ports() {
    let artifacts: BTreeMap<String, String> =
        clean().emit().unwrap().into_iter().map(|a| (a.path, a.contents)).collect();
    let listeners = |service: &str| -> Vec<(String, u64, String)> {
        let doc: serde_json::Value =
            serde_yaml_ng::from_str(&artifacts[&format!("envoy/sidecar-{service}.yaml")]).unwrap();
        doc["static_resources"]["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let a = &l["address"]["socket_address"];
                let filter = l["filter_chains"][0]["filters"][0]["name"].as_str().unwrap().to_string();
                (a["address"].as_str().unwrap().to_string(), a["port_value"].as_u64().unwrap(), filter)
            })
            .collect()
    };
    let tcp = "envoy.filters.network.tcp_proxy".to_string();
    // The front-end's app reaches Redis at 127.0.0.1:6379, through a tcp_proxy.
    assert!(listeners("front-end").contains(&("127.0.0.1".into(), 6379, tcp.clone())));
    // queue-master listens nowhere: only its outbound AMQP listener.
    assert_eq!(listeners("queue-master"), [("127.0.0.1".to_string(), 5672, tcp.clone())]);
    // rabbitmq: AMQP as TCP on the first inbound port, the exporter as HTTP on the next.
    let broker = listeners("rabbitmq");
    assert_eq!(broker[0], ("0.0.0.0".into(), 15006, tcp));
    assert_eq!(broker[1].1, 15007);
    assert_eq!(broker[1].2, "envoy.filters.network.http_connection_manager");
}

#[test]
fn every_istio_resource_validates_against_istios_crds() {
    let artifacts = clean().emit().unwrap();
    let resources: Vec<(String, Value)> = artifacts
        .iter()
        .filter(|a| a.path.starts_with("istio/"))
        .flat_map(|a| yaml_documents(&a.contents).into_iter().map(move |doc| (a.path.clone(), doc)))
        .collect();
    let failures: Vec<String> = resources
        .iter()
        .filter_map(|(path, r)| {
            validate(r).err().map(|e| format!("{path}: {} {}: {}", r["kind"], r["metadata"]["name"], e.join("; ")))
        })
        .collect();
    assert!(failures.is_empty(), "resources that fail Istio's CRD schemas:\n{}", failures.join("\n"));
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, r) in &resources {
        *kinds.entry(r["kind"].as_str().unwrap()).or_default() += 1;
    }
    // A DestinationRule and a VirtualService per called HTTP service (catalogue,
    // carts, orders, user, payment, shipping) and the front-end (the gateway's
    // target), and the gateway. The datastores' only policy is a TCP health
    // check, which Istio has no field for (MESH0073).
    assert_eq!(kinds, BTreeMap::from([("DestinationRule", 7), ("Gateway", 1), ("VirtualService", 7)]));
}

#[test]
fn kubernetes_services_match_the_manifest() {
    let artifacts = clean().emit().unwrap();
    let ours: BTreeMap<String, KubeService> = artifacts
        .iter()
        .filter(|a| a.path.starts_with("kubernetes/"))
        .map(|a| {
            let s = parse_service(&a.path, &a.contents);
            (s.metadata.name.clone().unwrap(), s)
        })
        .collect();
    let mut upstream: BTreeMap<&str, Vec<(u16, Option<&str>)>> = BTreeMap::new();
    for (service, port, name) in UPSTREAM_PORTS {
        upstream.entry(service).or_default().push((port, name));
    }
    upstream.remove(LISTENS_NOWHERE);
    assert_eq!(ours.keys().map(String::as_str).collect::<Vec<_>>(), upstream.keys().copied().collect::<Vec<_>>());
    let tcp: BTreeMap<&str, &str> = TCP_PROTOCOLS.into_iter().collect();
    for (name, want) in &upstream {
        let service = &ours[*name];
        assert_eq!(service.metadata.namespace.as_deref(), Some("sock-shop"), "{name}");
        let spec = service.spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"), "{name}: the gateway replaces the NodePort");
        let ports = spec.ports.as_ref().unwrap();
        assert_eq!(ports.len(), want.len(), "{name}");
        for (i, (port, (number, upstream_name))) in ports.iter().zip(want).enumerate() {
            assert_eq!(port.port, i32::from(*number), "{name}: the port callers dial");
            assert_eq!(port.protocol.as_deref(), Some("TCP"), "{name}");
            let target = if i == 0 { "mesh-inbound".to_string() } else { format!("mesh-inbound-{i}") };
            assert_eq!(port.target_port, Some(IntOrString::String(target)), "{name}");
            let ours = port.name.as_deref().unwrap();
            let app = port.app_protocol.as_deref().unwrap();
            // The first port of a datastore carries its TCP protocol; the others HTTP.
            let is_tcp = i == 0 && tcp.contains_key(name);
            assert_eq!(app, if is_tcp { "tcp" } else { "http" }, "{name}: appProtocol");
            match upstream_name {
                // Named upstream (rabbitmq's ports): the same name.
                Some(upstream_name) => assert_eq!(ours, *upstream_name, "{name}"),
                // Unnamed upstream: ours carries the protocol Istio reads from the prefix.
                None if is_tcp => assert_eq!(ours, format!("tcp-{}", tcp[name]), "{name}"),
                None => assert_eq!(ours, "http", "{name}"),
            }
        }
    }
}

#[test]
fn the_facts_match_a_copy_of_the_manifest_when_given() {
    // Optional: SOCK_SHOP_MANIFEST=path/to/complete-demo.yaml.
    let Some(path) = std::env::var_os("SOCK_SHOP_MANIFEST").filter(|v| !v.is_empty()) else {
        eprintln!("SOCK_SHOP_MANIFEST is not set: the facts written in this file stand alone");
        return;
    };
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", Path::new(&path).display()));
    let mut theirs = Vec::new();
    let mut deployments = BTreeSet::new();
    for doc in yaml_documents(&text) {
        match doc["kind"].as_str() {
            Some("Service") => {
                assert_eq!(doc["metadata"]["namespace"], "sock-shop");
                for port in doc["spec"]["ports"].as_array().unwrap() {
                    theirs.push((
                        doc["metadata"]["name"].as_str().unwrap().to_string(),
                        port["port"].as_u64().unwrap() as u16,
                        port["name"].as_str().map(str::to_string),
                    ));
                }
            }
            Some("Deployment") => {
                deployments.insert(doc["metadata"]["name"].as_str().unwrap().to_string());
            }
            _ => {}
        }
    }
    theirs.sort();
    let mut ours: Vec<(String, u16, Option<String>)> =
        UPSTREAM_PORTS.iter().map(|(s, p, n)| (s.to_string(), *p, n.map(str::to_string))).collect();
    ours.sort();
    assert_eq!(ours, theirs);
    let services: BTreeSet<String> = UPSTREAM_PORTS.iter().map(|(s, _, _)| s.to_string()).collect();
    assert_eq!(deployments, services);
}

// ---------------------------------------------------------------------------
// Broken variants
// ---------------------------------------------------------------------------

/// A copy of the example in a temporary directory, to break on purpose.
struct Variant {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Variant {
    fn new() -> Variant {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("sock-shop");
        support::copy_tree(&example_dir(), &root);
        Variant { _tmp: tmp, root }
    }

    /// Replaces `from` with `to` in one file of the copy; `from` must occur exactly once.
    fn edit(&self, rel: &str, from: &str, to: &str) -> &Self {
        let path = self.root.join(rel);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(text.matches(from).count(), 1, "{rel} must contain `{from}` exactly once");
        fs::write(&path, text.replacen(from, to, 1)).unwrap();
        self
    }

    fn compile(&self) -> Compilation {
        compile(&self.root)
    }
}

#[test]
fn an_unbroken_copy_checks_clean() {
    let c = Variant::new().compile();
    assert!(c.diagnostics.is_empty(), "{}", support::human(&c));
}

#[test]
fn a_request_timeout_on_a_mongodb_call_is_refused() {
    // A per-request deadline means nothing to a MongoDB connection.
    let v = Variant::new();
    v.edit("services/carts.kdl", "calls \"carts-db\" idle-timeout=\"10m\"", "calls \"carts-db\" timeout=\"2s\"");
    let c = v.compile();
    let d = assert_only(&c, Code::HttpSettingOnTcp, "services/carts.kdl", "timeout=\"2s\"");
    let label = &d.secondary[0];
    assert_eq!(file(&c, label.span), "services/carts-db.kdl");
    assert_eq!(text(&c, label.span), "protocol=\"mongodb\"");
}

#[test]
fn a_call_to_the_queue_consumer_is_refused() {
    // queue-master listens nowhere: nothing can call it.
    let v = Variant::new();
    v.edit(
        "services/shipping.kdl",
        "    publishes \"shipping-task\"\n",
        "    calls \"queue-master\"\n    publishes \"shipping-task\"\n",
    );
    let c = v.compile();
    let d = assert_only(&c, Code::TargetListensNowhere, "services/shipping.kdl", "calls \"queue-master\"");
    assert_eq!(d.message, "service `queue-master` listens nowhere");
    let label = &d.secondary[0];
    assert_eq!(file(&c, label.span), "services/queue-master.kdl");
    assert_eq!(text(&c, label.span), "\"queue-master\"");
    // The help names the callee, not some other service.
    assert_eq!(
        d.help.as_deref(),
        Some("give it an address (address \"queue-master.NAMESPACE.svc.cluster.local\" port=PORT), or call another service")
    );
}

#[test]
fn two_mongodbs_from_one_caller_need_a_local_port() {
    // orders reaching into carts' database as well: both MongoDBs are on
    // 27017, and the app dials each at 127.0.0.1:27017 in one pod.
    let v = Variant::new();
    v.edit(
        "services/orders.kdl",
        "    calls \"orders-db\" idle-timeout=\"10m\"\n",
        "    calls \"orders-db\" idle-timeout=\"10m\"\n    calls \"carts-db\"\n",
    );
    let c = v.compile();
    let d = support::only(&c);
    assert_eq!(d.code, Code::PodPortConflict, "{}", support::human(&c));
    assert_eq!(file(&c, primary(d)), "services/orders.kdl");
    assert_eq!(text(&c, primary(d)), "calls \"carts-db\"");
    assert_eq!(
        d.message,
        "the local port of the TCP call to `carts-db` and the local port of the TCP call to `orders-db` of service \
         `orders` both bind port 27017"
    );
    assert_eq!(text(&c, d.secondary[0].span), "calls \"orders-db\" idle-timeout=\"10m\"");

    // A local port of its own resolves it.
    v.edit("services/orders.kdl", "    calls \"carts-db\"\n", "    calls \"carts-db\" local-port=27018\n");
    let c = v.compile();
    assert!(c.diagnostics.is_empty(), "{}", support::human(&c));
}

#[test]
fn a_misspelled_broker_port_gets_did_you_mean() {
    let v = Variant::new();
    v.edit("services/shipping.kdl", "port=\"rabbitmq\"", "port=\"rabbit\"");
    let c = v.compile();
    let d = assert_only(&c, Code::UnknownPort, "services/shipping.kdl", "port=\"rabbit\"");
    assert_eq!(d.help.as_deref(), Some("did you mean `rabbitmq`?"));
}

#[test]
fn a_misspelled_datastore_gets_did_you_mean() {
    let v = Variant::new();
    v.edit("services/catalogue.kdl", "calls \"catalogue-db\"", "calls \"catalog-db\"");
    let c = v.compile();
    let d = assert_only(&c, Code::UnknownService, "services/catalogue.kdl", "\"catalog-db\"");
    assert_eq!(d.message, "no service named `catalog-db`");
    assert_eq!(d.help.as_deref(), Some("did you mean `catalogue-db`?"));
}

#[test]
fn an_operation_the_swagger_file_lacks_is_unknown() {
    // apis/payment.yaml follows payment's api-spec: `/paymentAuth`, not `/payments`.
    let v = Variant::new();
    v.edit("services/orders.kdl", "operation=\"POST /paymentAuth\"", "operation=\"POST /paymentauth\"");
    let c = v.compile();
    let d = assert_only(&c, Code::UnknownOperation, "services/orders.kdl", "operation=\"POST /paymentauth\"");
    assert_eq!(d.help.as_deref(), Some("did you mean `POST /paymentAuth`?"));
    assert_eq!(file(&c, d.secondary[0].span), "apis/payment.yaml");
}
