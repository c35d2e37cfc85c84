//! The Online Boutique example (`examples/online-boutique/`) against the real
//! thing: the Kubernetes manifests and `demo.proto` of Google's demo shop,
//! read at test time from `../shared/corpora/online-boutique/` (never copied
//! into the repo). Then broken variants of the example, each written into a
//! temporary directory, each pinned to its exact code, file and source text.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use meshc::base::Span;
use meshc::diag::{Code, Diagnostic, Severity};
use meshc::driver::{compile, Compilation};
use meshc::model::values::{ApiKind, Operation};
use meshc::model::Model;
use serde::Deserialize;
use serde_yaml_ng::Value;

// ---------------------------------------------------------------------------
// Where things are
// ---------------------------------------------------------------------------

/// The schema path the example's service files use (relative to `services/`).
const PROTO_REL: &str = "../../../../shared/corpora/online-boutique/protos/demo.proto";
/// How mesh.kdl allows schemas from the corpus (`schema-root`).
const SCHEMA_ROOT: &str = "schema-root \"../../../shared/corpora/online-boutique\"";

/// The ten gRPC-or-HTTP services and the datastore the issue calls "its 11 services".
const SERVICES: [&str; 11] = [
    "adservice",
    "cartservice",
    "checkoutservice",
    "currencyservice",
    "emailservice",
    "frontend",
    "paymentservice",
    "productcatalogservice",
    "recommendationservice",
    "redis-cart",
    "shippingservice",
];

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/online-boutique")
}

/// `shared/corpora` beside the repository. Missing corpora fail the tests:
/// they are the point of this file, so there is nothing to skip to.
fn corpora() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora");
    let marker = dir.join("online-boutique/protos/demo.proto");
    assert!(
        marker.is_file(),
        "\n\n!! The Online Boutique corpus is missing: expected {}.\n!! Clone the repository with \
         `shared/` beside it (see shared/corpora/README.md); these tests cannot run without it.\n",
        marker.display()
    );
    dir.canonicalize().expect("canonical corpora path")
}

fn demo_proto() -> PathBuf {
    corpora().join("online-boutique/protos/demo.proto")
}

/// Whether two paths name the same file. meshc keeps schema paths as written
/// (resolved lexically, no IO in the model), so a symlinked `shared/` makes
/// them differ in text from the canonical corpus path.
fn same_file(a: &Path, b: &Path) -> bool {
    a.canonicalize().ok().is_some_and(|a| b.canonicalize().ok() == Some(a))
}

// ---------------------------------------------------------------------------
// Reading results
// ---------------------------------------------------------------------------

/// The text a span covers.
fn text(c: &Compilation, span: Span) -> &str {
    &c.sources.get(span.file).text[span.range()]
}

/// The file a span is in, as diagnostics show it (relative to the workspace root).
fn file(c: &Compilation, span: Span) -> &str {
    &c.sources.get(span.file).display
}

fn primary(d: &Diagnostic) -> Span {
    d.primary.as_ref().unwrap_or_else(|| panic!("{} has no primary label: {d:#?}", d.code.id())).span
}

/// One line per diagnostic, for assertion messages.
fn summary(c: &Compilation) -> String {
    c.diagnostics
        .iter()
        .map(|d| match &d.primary {
            Some(l) => format!(
                "{} {}:{:?} {:?}: {}",
                d.code.id(),
                file(c, l.span),
                c.sources.line_col(l.span.file, l.span.start),
                text(c, l.span),
                d.message
            ),
            None => format!("{} {}", d.code.id(), d.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The only diagnostic; fails with the whole list otherwise.
fn only(c: &Compilation) -> &Diagnostic {
    assert_eq!(c.diagnostics.len(), 1, "expected exactly one diagnostic, got:\n{}", summary(c));
    &c.diagnostics[0]
}

/// Asserts a diagnostic's code, and the file and exact text of its primary span.
fn assert_at(c: &Compilation, d: &Diagnostic, code: Code, in_file: &str, covering: &str) {
    assert_eq!(d.code, code, "wrong code in:\n{}", summary(c));
    let span = primary(d);
    assert_eq!(file(c, span), in_file, "wrong file for {}", d.code.id());
    assert_eq!(text(c, span), covering, "wrong span for {}", d.code.id());
}

fn service_names(model: &Model) -> BTreeSet<&str> {
    model.services.iter().map(|s| s.name.value.as_str()).collect()
}

/// (caller, target) → the operations named on that edge (`None` for none).
fn call_edges(model: &Model) -> BTreeMap<(String, String), Vec<Option<Operation>>> {
    let mut edges: BTreeMap<(String, String), Vec<Option<Operation>>> = BTreeMap::new();
    for service in &model.services {
        for call in &service.calls {
            let target = &model.service(call.target.value).name.value;
            edges
                .entry((service.name.value.clone(), target.clone()))
                .or_default()
                .push(call.operation.as_ref().map(|o| o.value.clone()));
        }
    }
    edges
}

// ---------------------------------------------------------------------------
// The manifests
// ---------------------------------------------------------------------------

/// Every YAML document of `kubernetes/*.yaml`, in file order.
fn manifests() -> Vec<(String, Value)> {
    let dir = corpora().join("online-boutique/kubernetes");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {}", dir.display());
    let mut docs = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
            if !value.is_null() {
                docs.push((name.clone(), value));
            }
        }
    }
    docs
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().expect("metadata.name")
}

/// The DNS name a Kubernetes Service gets: `<name>.<namespace>.svc.cluster.local`.
fn cluster_dns(doc: &Value) -> String {
    let namespace = doc["metadata"]["namespace"].as_str().unwrap_or("default");
    format!("{}.{namespace}.svc.cluster.local", name(doc))
}

/// A `*_ADDR` variable of a Deployment's container (init containers too).
#[derive(Debug)]
struct AddrVar {
    manifest: String,
    deployment: String,
    var: String,
    host: String,
    port: u16,
}

fn addr_vars(docs: &[(String, Value)]) -> Vec<AddrVar> {
    let mut out = Vec::new();
    for (manifest, doc) in docs.iter().filter(|(_, d)| kind(d) == "Deployment") {
        let pod = &doc["spec"]["template"]["spec"];
        let containers = ["initContainers", "containers"].iter().filter_map(|k| pod[*k].as_sequence()).flatten();
        for container in containers {
            for env in container["env"].as_sequence().into_iter().flatten() {
                let var = env["name"].as_str().unwrap_or_default();
                if !var.ends_with("_ADDR") {
                    continue;
                }
                let value = env["value"].as_str().expect("*_ADDR has a literal value");
                let (host, port) =
                    value.rsplit_once(':').unwrap_or_else(|| panic!("{manifest}: {var}={value} is not host:port"));
                out.push(AddrVar {
                    manifest: manifest.clone(),
                    deployment: name(doc).to_string(),
                    var: var.to_string(),
                    host: host.to_string(),
                    port: port.parse().unwrap(),
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The example as it is
// ---------------------------------------------------------------------------

fn clean() -> Compilation {
    corpora();
    let c = compile(&example_dir());
    assert!(c.diagnostics.is_empty(), "the example must check clean, got:\n{}", summary(&c));
    c
}

#[test]
fn the_example_checks_clean_with_the_eleven_services() {
    let c = clean();
    let model = c.model.as_ref().expect("a model");
    assert_eq!(model.name, "online-boutique");
    assert_eq!(model.services.len(), 11);
    assert_eq!(service_names(model), SERVICES.into_iter().collect());
    for s in &model.services {
        assert!(s.owner.is_some(), "{} has no owner", s.name.value);
    }
}

#[test]
fn each_proto_service_is_served_by_exactly_one_service() {
    let c = clean();
    let model = c.model.as_ref().unwrap();
    let proto = demo_proto();

    // The proto's services, read independently of meshc: `service Name {` lines.
    let text = fs::read_to_string(&proto).unwrap();
    let in_proto: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("service "))
        .map(|rest| format!("hipstershop.{}", rest.split_whitespace().next().unwrap()))
        .collect();
    assert!(text.contains("\npackage hipstershop;\n"));
    assert_eq!(in_proto.len(), 9, "demo.proto has 9 services: {in_proto:?}");

    // A gRPC API names the proto service it serves; the schema must define it.
    let mut served: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for s in &model.services {
        for api in s.apis.iter().filter(|a| a.kind == ApiKind::Grpc) {
            let schema = model.schema(api.schema);
            assert!(same_file(&schema.path, &proto), "{}: gRPC schema is not the corpus' demo.proto", s.name.value);
            let defined: BTreeSet<&str> = c
                .schemas
                .get(api.schema)
                .expect("demo.proto loaded")
                .operations
                .iter()
                .filter_map(|d| match &d.operation {
                    Operation::Grpc { service, .. } => Some(service.as_str()),
                    _ => None,
                })
                .collect();
            let grpc_service = api.grpc_service.as_ref().map(|g| g.value.as_str()).unwrap_or_else(|| {
                panic!("{}: API `{}` does not say which proto service it serves", s.name.value, api.name.value)
            });
            assert!(
                defined.contains(grpc_service),
                "{}: API `{}` serves `{grpc_service}`, not a service of demo.proto ({defined:?})",
                s.name.value,
                api.name.value
            );
            served.entry(grpc_service.to_string()).or_default().push(&s.name.value);
        }
    }
    assert_eq!(served.keys().cloned().collect::<BTreeSet<_>>(), in_proto);
    for (proto_service, servers) in &served {
        assert_eq!(servers.len(), 1, "{proto_service} is served by {servers:?}");
    }

    // The frontend serves HTTP only; redis-cart serves no API at all.
    let by_name = |n: &str| model.services.iter().find(|s| s.name.value == n).unwrap();
    let frontend: Vec<_> = by_name("frontend").apis.iter().map(|a| a.kind).collect();
    assert_eq!(frontend, [ApiKind::Rest]);
    assert!(by_name("redis-cart").apis.is_empty());
}

#[test]
fn every_grpc_call_names_an_rpc_of_the_service_it_calls() {
    let c = clean();
    let model = c.model.as_ref().unwrap();
    let mut calls = 0;
    for s in &model.services {
        for call in &s.calls {
            let target = model.service(call.target.value);
            match &call.operation {
                Some(op) => {
                    let Operation::Grpc { service, .. } = &op.value else {
                        panic!("{} calls {} with a non-gRPC operation", s.name.value, target.name.value);
                    };
                    assert!(
                        target.apis.iter().any(|a| a.grpc_service.as_ref().is_some_and(|g| &g.value == service)),
                        "{} calls {} with `{}`, which it does not serve",
                        s.name.value,
                        target.name.value,
                        op.value
                    );
                    assert!(call.timeout.is_some(), "{} → {}: no timeout", s.name.value, op.value);
                }
                None => {
                    assert_eq!(target.name.value, "redis-cart", "only the datastore is called without an operation")
                }
            }
            calls += 1;
        }
    }
    assert_eq!(calls, 21);
}

#[test]
fn addresses_are_the_kubernetes_services() {
    let c = clean();
    let model = c.model.as_ref().unwrap();
    let docs = manifests();
    let mut seen = BTreeSet::new();
    for (manifest, doc) in docs.iter().filter(|(_, d)| kind(d) == "Service") {
        let ports = doc["spec"]["ports"].as_sequence().unwrap();
        assert_eq!(ports.len(), 1, "{manifest}: one port per Service");
        if name(doc) == "frontend-external" {
            // The LoadBalancer twin of `frontend` (same pods): what the
            // gateway replaces, not a service of its own.
            assert_eq!(doc["spec"]["type"].as_str(), Some("LoadBalancer"));
            assert_eq!(doc["spec"]["selector"]["app"].as_str(), Some("frontend"));
            continue;
        }
        let service = model
            .services
            .iter()
            .find(|s| s.name.value == name(doc))
            .unwrap_or_else(|| panic!("{manifest}: Service `{}` is not declared", name(doc)));
        let address = &service.address.as_ref().expect("every boutique service listens").value;
        assert_eq!(address.host.as_str(), cluster_dns(doc), "{manifest}");
        assert_eq!(
            u64::from(address.ports[0].number.get()),
            ports[0]["port"].as_u64().unwrap(),
            "{manifest}: {} must use the Service port",
            name(doc)
        );
        seen.insert(name(doc).to_string());
    }
    assert_eq!(seen, SERVICES.iter().map(|s| s.to_string()).collect());
}

#[test]
fn every_addr_variable_is_a_declared_call_and_back() {
    let c = clean();
    let model = c.model.as_ref().unwrap();
    let docs = manifests();
    let vars = addr_vars(&docs);
    let edges = call_edges(model);
    let declared = service_names(model);
    let k8s_services: BTreeSet<&str> =
        docs.iter().filter(|(_, d)| kind(d) == "Service").map(|(_, d)| name(d)).collect();
    let port_of = |n: &str| {
        model
            .services
            .iter()
            .find(|s| s.name.value == n)
            .map(|s| s.address.as_ref().expect("every boutique service listens").value.ports[0].number.get())
    };

    let mut from_manifests = BTreeSet::new();
    for v in &vars {
        let at = format!("{}: {} of {}", v.manifest, v.var, v.deployment);
        if v.deployment == "loadgenerator" {
            // Documented exception: a traffic client, not a service. It has no
            // Kubernetes Service (nothing to listen on) and drives the frontend.
            assert!(!declared.contains("loadgenerator"));
            assert!(!k8s_services.contains("loadgenerator"));
            assert_eq!((v.host.as_str(), Some(v.port)), ("frontend", port_of("frontend")), "{at}");
            continue;
        }
        if v.host == "shoppingassistantservice" {
            // Documented exception: an optional component these manifests do not deploy.
            assert!(!k8s_services.contains("shoppingassistantservice"), "{at}: now deployed");
            assert!(!docs.iter().any(|(_, d)| name(d) == "shoppingassistantservice"));
            continue;
        }
        assert!(declared.contains(v.deployment.as_str()), "{at}: caller not declared");
        assert!(
            edges.contains_key(&(v.deployment.clone(), v.host.clone())),
            "{at}: no `calls \"{}\"` in service `{}`",
            v.host,
            v.deployment
        );
        assert_eq!(port_of(&v.host), Some(v.port), "{at}: port differs from the address");
        from_manifests.insert((v.deployment.clone(), v.host.clone()));
    }
    // And no call the manifests do not wire up.
    let in_spec: BTreeSet<(String, String)> = edges.keys().cloned().collect();
    assert_eq!(in_spec, from_manifests);
    assert_eq!(from_manifests.len(), 15);
}

#[test]
fn the_gateway_follows_the_istio_manifest_and_builds() {
    let c = clean();
    let model = c.model.as_ref().unwrap();
    let istio = fs::read_to_string(corpora().join("online-boutique/istio/frontend-gateway.yaml")).unwrap();
    let docs: Vec<Value> =
        serde_yaml_ng::Deserializer::from_str(&istio).map(|d| Value::deserialize(d).unwrap()).collect();
    let gw = docs.iter().find(|d| kind(d) == "Gateway").unwrap();
    let vs = docs.iter().find(|d| kind(d) == "VirtualService").unwrap();
    let server_port = gw["spec"]["servers"][0]["port"]["number"].as_u64().unwrap();
    let dest = &vs["spec"]["http"][0]["route"][0]["destination"];

    assert_eq!(model.gateways.len(), 1);
    let gateway = &model.gateways[0];
    assert_eq!(gateway.name.value, name(gw));
    let ports: Vec<u64> = gateway.listeners.iter().map(|l| l.port.get().into()).collect();
    assert_eq!(ports, [server_port]);
    assert_eq!(gateway.routes.len(), 1);
    let target = model.service(gateway.routes[0].forward().expect("a forwarding route").target.value);
    assert_eq!(target.name.value, dest["host"].as_str().unwrap());
    assert_eq!(u64::from(target.first_port().number.get()), dest["port"]["number"].as_u64().unwrap());

    let artifacts = c.emit().expect("a clean spec emits");
    let paths: Vec<&str> = artifacts.iter().map(|a| a.path.as_str()).collect();
    // The gateway comes first among Envoy's files (contract plans sort before them).
    let gateway = artifacts.iter().find(|a| a.path.starts_with("envoy/")).unwrap();
    assert_eq!(gateway.path, "envoy/gateway-frontend-gateway.yaml");
    // Then a sidecar per service (Istio and Kubernetes resources follow; tests/it/istio.rs checks them).
    let sidecars = paths.iter().filter(|p| p.starts_with("envoy/sidecar-")).count();
    assert_eq!(sidecars, model.services.len(), "{paths:?}");
    let envoy: Value = serde_yaml_ng::from_str(&gateway.contents).unwrap();
    let resources = &envoy["static_resources"];
    let listener = &resources["listeners"][0]["address"]["socket_address"];
    assert_eq!(listener["port_value"].as_u64(), Some(80));
    let cluster = &resources["clusters"][0];
    assert_eq!(cluster["name"].as_str(), Some("frontend.http"));
    let upstream =
        &cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"];
    assert_eq!(upstream["address"].as_str(), Some("frontend.default.svc.cluster.local"));
    assert_eq!(upstream["port_value"].as_u64(), Some(80));
}

// ---------------------------------------------------------------------------
// Broken variants
// ---------------------------------------------------------------------------

/// A copy of the example in a temporary directory, to break on purpose.
/// Layout: `<tmp>/online-boutique/` (the workspace root) and `<tmp>/demo.proto`
/// when a test changes the proto. The corpus is referenced by absolute path.
struct Variant {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
}

impl Variant {
    fn new() -> Variant {
        let proto = demo_proto().to_string_lossy().replace('\\', "/");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        let root = dir.join("online-boutique");
        // The copy allows the corpus and its temporary directory (for `proto_with`).
        let allowed = format!("schema-root \"{}\"\nschema-root \"{}\"", corpora().display(), dir.display());
        copy_tree(&example_dir(), &root, &|text: String| {
            text.replace(PROTO_REL, &proto).replace(SCHEMA_ROOT, &allowed)
        });
        Variant { _tmp: tmp, dir, root }
    }

    /// Replaces `from` with `to` in one file of the copy; `from` must occur exactly once.
    fn edit(&self, rel: &str, from: &str, to: &str) -> &Self {
        let path = self.root.join(rel);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(text.matches(from).count(), 1, "{rel} must contain `{from}` exactly once");
        fs::write(&path, text.replacen(from, to, 1)).unwrap();
        self
    }

    fn write(&self, rel: &str, text: &str) -> &Self {
        fs::write(self.root.join(rel), text).unwrap();
        self
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap()
    }

    /// Writes `<tmp>/demo.proto`: the corpus' proto with one change, and
    /// points every service at it by absolute path.
    fn proto_with(&self, from: &str, to: &str) -> PathBuf {
        let original = fs::read_to_string(demo_proto()).unwrap();
        assert_eq!(original.matches(from).count(), 1, "demo.proto must contain `{from}` once");
        let path = self.dir.join("demo.proto");
        fs::write(&path, original.replacen(from, to, 1)).unwrap();
        let corpus = demo_proto().to_string_lossy().replace('\\', "/");
        let copy = path.to_string_lossy().replace('\\', "/");
        for entry in fs::read_dir(self.root.join("services")).unwrap() {
            let p = entry.unwrap().path();
            let text = fs::read_to_string(&p).unwrap();
            fs::write(&p, text.replace(&corpus, &copy)).unwrap();
        }
        path
    }

    fn compile(&self) -> Compilation {
        compile(&self.root)
    }
}

fn copy_tree(from: &Path, to: &Path, rewrite: &dyn Fn(String) -> String) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target, rewrite);
        } else {
            fs::write(&target, rewrite(fs::read_to_string(entry.path()).unwrap())).unwrap();
        }
    }
}

#[test]
fn an_unbroken_copy_checks_clean() {
    // The harness itself: copying and re-pointing at the corpus changes nothing.
    let c = Variant::new().compile();
    assert!(c.diagnostics.is_empty(), "{}", summary(&c));
}

#[test]
fn a_renamed_rpc_in_the_proto_breaks_its_callers() {
    let v = Variant::new();
    let proto = v.proto_with(
        "rpc Charge(ChargeRequest) returns (ChargeResponse) {}",
        "rpc ChargeCard(ChargeRequest) returns (ChargeResponse) {}",
    );
    let c = v.compile();
    let d = only(&c);
    assert_at(
        &c,
        d,
        Code::UnknownOperation,
        "services/checkoutservice.kdl",
        "operation=\"hipstershop.PaymentService/Charge\"",
    );
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.message, "service `paymentservice` has no operation `hipstershop.PaymentService/Charge`");
    assert_eq!(d.help.as_deref(), Some("did you mean `hipstershop.PaymentService/ChargeCard`?"));
    // The secondary label points into the changed .proto, at the renamed rpc.
    assert_eq!(d.secondary.len(), 1, "{d:#?}");
    let label = &d.secondary[0];
    assert_eq!(c.sources.get(label.span.file).path, proto);
    assert_eq!(file(&c, label.span), "../demo.proto");
    assert_eq!(text(&c, label.span), "rpc ChargeCard(ChargeRequest) returns (ChargeResponse) {}");
}

#[test]
fn an_rpc_of_another_service_in_the_same_proto_is_unknown_to_the_callee() {
    // demo.proto defines all nine services; `grpc-service` scopes each API to one.
    let v = Variant::new();
    v.edit(
        "services/frontend.kdl",
        "operation=\"hipstershop.CartService/GetCart\"",
        "operation=\"hipstershop.PaymentService/Charge\"",
    );
    let c = v.compile();
    let d = only(&c);
    assert_at(
        &c,
        d,
        Code::UnknownOperation,
        "services/frontend.kdl",
        "operation=\"hipstershop.PaymentService/Charge\"",
    );
}

#[test]
fn a_misspelled_grpc_service_is_reported_with_the_defined_name() {
    let v = Variant::new();
    v.edit(
        "services/cartservice.kdl",
        "grpc-service=\"hipstershop.CartService\"",
        "grpc-service=\"hipstershop.CartServce\"",
    );
    let c = v.compile();
    let d =
        c.diagnostics.iter().find(|d| d.code == Code::UnknownGrpcService).unwrap_or_else(|| panic!("{}", summary(&c)));
    assert_at(&c, d, Code::UnknownGrpcService, "services/cartservice.kdl", "grpc-service=\"hipstershop.CartServce\"");
    assert_eq!(d.help.as_deref(), Some("did you mean `hipstershop.CartService`?"));
    assert!(same_file(&c.sources.get(d.secondary[0].span.file).path, &demo_proto()));
}

#[test]
fn a_wrong_package_gets_the_right_name_suggested() {
    let v = Variant::new();
    v.edit(
        "services/frontend.kdl",
        "operation=\"hipstershop.CartService/GetCart\"",
        "operation=\"hipstershop2.CartService/GetCart\"",
    );
    let c = v.compile();
    let d = only(&c);
    assert_at(&c, d, Code::UnknownOperation, "services/frontend.kdl", "operation=\"hipstershop2.CartService/GetCart\"");
    assert_eq!(d.help.as_deref(), Some("did you mean `hipstershop.CartService/GetCart`?"));
    let label = &d.secondary[0];
    assert!(same_file(&c.sources.get(label.span.file).path, &demo_proto()));
    assert_eq!(text(&c, label.span), "rpc GetCart(GetCartRequest) returns (Cart) {}");
}

#[test]
fn a_misspelled_callee_is_an_unknown_service() {
    let v = Variant::new();
    v.edit("services/checkoutservice.kdl", "calls \"paymentservice\"", "calls \"paymentservce\"");
    let c = v.compile();
    let d = only(&c);
    assert_at(&c, d, Code::UnknownService, "services/checkoutservice.kdl", "\"paymentservce\"");
    assert_eq!(d.message, "no service named `paymentservce`");
    assert_eq!(d.help.as_deref(), Some("did you mean `paymentservice`?"));
}

#[test]
fn a_service_declared_twice_points_at_the_first() {
    // A copy-and-forget: a second file declaring the same service. Files of
    // a glob load in sorted order, so `cartservice.kdl` comes first.
    let v = Variant::new();
    v.write("services/cartservice.v2.kdl", &v.read("services/cartservice.kdl"));
    let c = v.compile();
    let d = only(&c);
    assert_at(&c, d, Code::DuplicateName, "services/cartservice.v2.kdl", "\"cartservice\"");
    assert_eq!(d.message, "service `cartservice` is declared twice");
    assert_eq!(d.secondary.len(), 1);
    let first = &d.secondary[0];
    assert_eq!(first.message, "first declared here");
    assert_eq!(file(&c, first.span), "services/cartservice.kdl");
    assert_eq!(text(&c, first.span), "\"cartservice\"");
}

#[test]
fn a_listener_port_typo_is_an_invalid_value() {
    let v = Variant::new();
    v.edit("gateway.kdl", "listener \"http\" port=80\n", "listener \"http\" port=800000\n");
    let c = v.compile();
    let d = only(&c);
    assert_at(&c, d, Code::InvalidValue, "gateway.kdl", "port=800000");
    assert_eq!(d.message, "port 800000 is out of range; ports are 1 to 65535");
}

#[test]
fn a_missing_proto_file_is_reported_at_its_schema_entry() {
    // A plausible slip: expecting the protos inside the example.
    let v = Variant::new();
    let corpus = demo_proto().to_string_lossy().replace('\\', "/");
    v.edit("services/paymentservice.kdl", &format!("schema=\"{corpus}\""), "schema=\"../protos/demo.proto\"");
    let c = v.compile();
    // Only the unreadable file: the Charge call into it is not re-reported.
    let d = only(&c);
    assert_at(&c, d, Code::UnreadableFile, "services/paymentservice.kdl", "schema=\"../protos/demo.proto\"");
    assert!(d.message.starts_with("cannot read schema `") && d.message.contains("protos/demo.proto`"), "{}", d.message);
}

#[test]
fn misspelled_names_get_did_you_mean() {
    // A child node: `address` is a node of `service`, so `adress` is MESH0002;
    // the service then has no address (MESH0005) and is left out of the
    // model, without follow-on errors at the calls into it.
    let v = Variant::new();
    v.edit("services/cartservice.kdl", "    address \"cartservice", "    adress \"cartservice");
    let c = v.compile();
    assert_eq!(c.diagnostics.len(), 2, "{}", summary(&c));
    let find = |code: Code| c.diagnostics.iter().find(|d| d.code == code).unwrap();
    let d = find(Code::UnknownNode);
    assert_at(&c, d, Code::UnknownNode, "services/cartservice.kdl", "adress");
    assert_eq!(d.message, "`service` has no child node `adress`");
    assert_eq!(d.help.as_deref(), Some("did you mean `address`?"));
    let d = find(Code::MissingRequired);
    assert_at(&c, d, Code::MissingRequired, "services/cartservice.kdl", "\"cartservice\"");
    assert_eq!(d.message, "service `cartservice` has no `address`");

    // A property: `timeout` of a call.
    let v = Variant::new();
    v.edit(
        "services/checkoutservice.kdl",
        "PaymentService/Charge\" timeout=\"2s\"",
        "PaymentService/Charge\" timout=\"2s\"",
    );
    let c = v.compile();
    let d = only(&c);
    assert_at(&c, d, Code::UnknownProperty, "services/checkoutservice.kdl", "timout=\"2s\"");
    assert_eq!(d.message, "`calls` has no property `timout`");
    assert_eq!(d.help.as_deref(), Some("did you mean `timeout`?"));
}

#[test]
fn a_grpc_operation_routed_to_the_http_frontend_is_a_kind_mismatch() {
    let v = Variant::new();
    v.edit("gateway.kdl", "to \"frontend\"\n", "to \"frontend\" operation=\"hipstershop.CartService/GetCart\"\n");
    let c = v.compile();
    let d = only(&c);
    assert_at(&c, d, Code::OperationKindMismatch, "gateway.kdl", "operation=\"hipstershop.CartService/GetCart\"");
    assert_eq!(
        d.message,
        "`hipstershop.CartService/GetCart` is a grpc operation, but service `frontend` serves no grpc API"
    );
    let label = &d.secondary[0];
    assert_eq!(file(&c, label.span), "services/frontend.kdl");
    assert_eq!(text(&c, label.span), "\"frontend\"");
    assert_eq!(label.message, "serves `frontend-http` (rest)");
}

#[test]
fn the_datastore_takes_no_operations() {
    // redis-cart's port carries plain TCP, so a call to it names no operation.
    let v = Variant::new();
    v.edit("services/cartservice.kdl", "calls \"redis-cart\"\n", "calls \"redis-cart\" operation=\"GET /cart\"\n");
    let c = v.compile();
    let d = only(&c);
    assert_at(&c, d, Code::HttpSettingOnTcp, "services/cartservice.kdl", "operation=\"GET /cart\"");
    let label = &d.secondary[0];
    assert_eq!(file(&c, label.span), "services/redis-cart.kdl");
    assert_eq!(text(&c, label.span), "protocol=\"redis\"");
    assert_eq!(label.message, "a plain-TCP port");
}

#[test]
fn routes_are_checked_against_the_frontend_openapi() {
    // The frontend's OpenAPI file is a real schema: naming one of its
    // operations checks clean, a near miss gets the right one suggested.
    let v = Variant::new();
    let route = "to \"frontend\"\n";
    v.edit("gateway.kdl", route, "to \"frontend\" operation=\"GET /product/{id}\"\n");
    let c = v.compile();
    assert!(c.diagnostics.is_empty(), "{}", summary(&c));

    v.edit("gateway.kdl", "GET /product/{id}", "GET /products/{id}");
    let c = v.compile();
    let d = only(&c);
    assert_at(&c, d, Code::UnknownOperation, "gateway.kdl", "operation=\"GET /products/{id}\"");
    assert_eq!(d.help.as_deref(), Some("did you mean `GET /product/{id}`?"));
    let label = &d.secondary[0];
    assert_eq!(file(&c, label.span), "apis/frontend.yaml");
    assert_eq!(text(&c, label.span), "/product/{id}");
}

#[test]
fn independent_errors_in_different_files_are_all_reported() {
    let v = Variant::new();
    let corpus = demo_proto().to_string_lossy().replace('\\', "/");
    v.edit("services/checkoutservice.kdl", "calls \"paymentservice\"", "calls \"paymentservce\"")
        .edit(
            "services/frontend.kdl",
            "operation=\"hipstershop.CartService/GetCart\"",
            "operation=\"hipstershop2.CartService/GetCart\"",
        )
        .edit("services/emailservice.kdl", &corpus, "../protos/demo.proto")
        .edit("services/recommendationservice.kdl", "timeout=\"1s\"", "timeout=\"soon\"")
        .edit("services/adservice.kdl", "port=9555", "port=95550")
        .edit("gateway.kdl", "listener \"http\" port=80\n", "listener \"http\" port=800000\n");
    let c = v.compile();
    let got: Vec<(&str, &str, &str)> =
        c.diagnostics.iter().map(|d| (d.code.id(), file(&c, primary(d)), text(&c, primary(d)))).collect();
    let mut want = vec![
        ("MESH0004", "gateway.kdl", "port=800000"),
        ("MESH0004", "services/adservice.kdl", "port=95550"),
        ("MESH0007", "services/checkoutservice.kdl", "\"paymentservce\""),
        ("MESH0009", "services/emailservice.kdl", "schema=\"../protos/demo.proto\""),
        ("MESH0008", "services/frontend.kdl", "operation=\"hipstershop2.CartService/GetCart\""),
        ("MESH0004", "services/recommendationservice.kdl", "timeout=\"soon\""),
    ];
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want, "\n{}", summary(&c));
    assert_eq!(c.errors(), 6);
    assert!(c.emit().is_err(), "a spec with errors emits nothing");
}

#[test]
fn a_method_guessed_by_meaning_gets_the_methods_sharing_its_words() {
    let v = Variant::new();
    v.edit(
        "services/checkoutservice.kdl",
        "operation=\"hipstershop.CartService/EmptyCart\"",
        "operation=\"hipstershop.CartService/ClearCart\"",
    );
    let c = v.compile();
    let d = only(&c);
    assert_eq!(d.code, Code::UnknownOperation);
    // GetCart is closest by edits, EmptyCart shares a word; AddItem is neither.
    assert_eq!(
        d.help.as_deref(),
        Some("did you mean `hipstershop.CartService/GetCart` or `hipstershop.CartService/EmptyCart`?")
    );
}
