//! Moving one Envoy bootstrap onto 127.0.0.1 and the run's ports: pure
//! functions over the parsed config, by the names the plan gives.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::{Mapping, Value};

use super::plan::{ListenerRole, LocalTarget, Plan, Proxy};

/// What gets a port of its own in a run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// A proxy's listener, by its name in the config.
    Listener { proxy: String, name: String },
    /// A proxy's admin endpoint.
    Admin { proxy: String },
    /// The app behind a sidecar, per service port.
    App { service: String, port: String },
    /// A helper that is not an app (validator, token exchanger).
    Helper { name: String },
    /// The run's STS, which the token exchangers ask.
    Sts,
}

/// Every slot of a run, in a stable order: per proxy its admin and the
/// listeners its config has (`listeners`: proxy name → listener names),
/// per service port its app, per helper that is not an app its own.
pub fn slots(plan: &Plan, listeners: &BTreeMap<String, Vec<String>>) -> Vec<Slot> {
    let mut out = Vec::new();
    for proxy in &plan.proxies {
        out.push(Slot::Admin { proxy: proxy.name.clone() });
        for name in listeners.get(&proxy.name).into_iter().flatten() {
            out.push(Slot::Listener { proxy: proxy.name.clone(), name: name.clone() });
        }
    }
    for service in &plan.services {
        for port in &service.ports {
            out.push(Slot::App { service: service.name.clone(), port: port.name.clone() });
        }
    }
    for helper in plan.helpers.iter().filter(|h| h.service.is_none()) {
        out.push(Slot::Helper { name: helper.name.clone() });
    }
    if plan.helpers.iter().any(|h| h.issues.is_some()) {
        out.push(Slot::Sts);
    }
    out
}

/// The run's ports by slot, and what the configs' addresses become.
#[derive(Debug, Default)]
pub struct Assignment {
    pub ports: BTreeMap<Slot, u16>,
    /// A service's `host:port` → the port of that service port's inbound
    /// listener on its sidecar.
    pub addresses: BTreeMap<String, u16>,
}

impl Assignment {
    /// Pairs `slots` with `ports` (as many, distinct) and derives where each
    /// service address now is. `Err` when the counts differ or a port repeats.
    pub fn new(plan: &Plan, slots: Vec<Slot>, ports: Vec<u16>) -> Result<Assignment, String> {
        if slots.len() != ports.len() {
            return Err(format!("{} slots but {} ports", slots.len(), ports.len()));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(port) = ports.iter().find(|p| !seen.insert(**p)) {
            return Err(format!("port {port} was handed out twice"));
        }
        let ports: BTreeMap<Slot, u16> = slots.into_iter().zip(ports).collect();
        let mut addresses = BTreeMap::new();
        for service in &plan.services {
            let Some(sidecar) = plan.sidecar(&service.name) else { continue };
            for port in &service.ports {
                let inbound = sidecar
                    .listeners
                    .iter()
                    .find(|l| l.role == ListenerRole::Inbound && l.port.as_deref() == Some(port.name.as_str()));
                let slot = inbound.map(|l| Slot::Listener { proxy: sidecar.name.clone(), name: l.name.clone() });
                if let Some(local) = slot.and_then(|s| ports.get(&s)) {
                    for address in &port.addresses {
                        addresses.insert(address.clone(), *local);
                    }
                }
            }
        }
        Ok(Assignment { ports, addresses })
    }

    pub fn port(&self, slot: &Slot) -> Option<u16> {
        self.ports.get(slot).copied()
    }

    /// Where a helper listens: its own slot, or the app slot it serves as.
    pub fn helper_port(&self, plan: &Plan, name: &str) -> Option<u16> {
        let helper = plan.helpers.iter().find(|h| h.name == name)?;
        match (&helper.service, &helper.port) {
            (Some(service), Some(port)) => self.port(&Slot::App { service: service.clone(), port: port.clone() }),
            _ => self.port(&Slot::Helper { name: name.to_string() }),
        }
    }
}

/// A cluster endpoint left as built: nothing of the run answers there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub cluster: String,
    pub address: String,
}

/// Refuses a bootstrap whose listeners and clusters are in xDS files
/// (`meshc build --xds-dir`): a run rewrites the static form's ports.
pub fn static_form(config: &Value) -> Result<(), String> {
    match config.get("dynamic_resources") {
        Some(_) => Err("its listeners and clusters are in xDS files (`meshc build --xds-dir`); \
                        a local run rewrites the static form: build without `--xds-dir`"
            .into()),
        None => Ok(()),
    }
}

/// The names of a config's listeners, in config order.
pub fn listener_names(config: &Value) -> Result<Vec<String>, String> {
    let listeners = config.get("static_resources").and_then(|s| s.get("listeners"));
    let Some(listeners) = listeners else { return Ok(Vec::new()) };
    let list = listeners.as_sequence().ok_or("`static_resources.listeners` is not a list")?;
    list.iter()
        .enumerate()
        .map(|(i, l)| {
            l.get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("`static_resources.listeners[{i}].name` is missing or not a string"))
        })
        .collect()
}

/// Every file a config reads: `filename`s (certificates, keys, CAs) and
/// the SDS files of `path_config_source`s (which name certificates in turn,
/// see [`files_read_by_sds`]).
pub fn files_read(config: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Mapping(map) => {
                for (key, value) in map {
                    match (key.as_str(), value.as_str()) {
                        (Some("filename"), Some(path)) => out.push(path.to_string()),
                        (Some("path_config_source"), _) => {
                            out.extend(value.get("path").and_then(Value::as_str).map(str::to_string))
                        }
                        _ => walk(value, out),
                    }
                }
            }
            Value::Sequence(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Tagged(tagged) => walk(&tagged.value, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(config, &mut out);
    out.sort();
    out.dedup();
    out
}

/// The files an SDS file (YAML `resources`) names.
pub fn files_read_by_sds(text: &str) -> Vec<String> {
    serde_yaml_ng::from_str::<Value>(text).map(|doc| files_read(&doc)).unwrap_or_default()
}

/// Moves `config`, the bootstrap of `proxy`, onto the run's ports: its
/// admin endpoint and every listener onto 127.0.0.1 at their slots; the
/// clusters the plan names towards the app, admin or helper; every other
/// cluster endpoint that is a service's address towards that port's
/// inbound listener. Endpoints nothing of the run serves are returned.
pub fn rewrite(
    plan: &Plan,
    proxy: &Proxy,
    assignment: &Assignment,
    config: &mut Value,
) -> Result<Vec<External>, String> {
    let name = &proxy.name;
    let admin =
        assignment.port(&Slot::Admin { proxy: name.clone() }).ok_or_else(|| format!("{name}: no admin port"))?;
    let root = config.as_mapping_mut().ok_or_else(|| format!("{}: not a YAML mapping", proxy.config))?;
    let admin_entry = root.entry("admin".into()).or_insert_with(|| Value::Mapping(Mapping::new()));
    set(admin_entry, "address", socket_address(admin))?;
    let Some(resources) = root.get_mut("static_resources") else { return Ok(Vec::new()) };
    if let Some(listeners) = resources.get_mut("listeners").and_then(Value::as_sequence_mut) {
        for (i, listener) in listeners.iter_mut().enumerate() {
            let listener_name = listener.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let slot = Slot::Listener { proxy: name.clone(), name: listener_name.clone() };
            let port = assignment
                .port(&slot)
                .ok_or_else(|| format!("{}: listener {i} `{listener_name}` has no port", proxy.config))?;
            set(listener, "address", socket_address(port))?;
        }
    }
    let mut external = Vec::new();
    if let Some(clusters) = resources.get_mut("clusters").and_then(Value::as_sequence_mut) {
        rewrite_clusters(plan, proxy, assignment, clusters, &mut external)?;
    }
    let unserved: BTreeSet<&str> = external.iter().map(|e| e.cluster.as_str()).collect();
    listen_without_keys(config, &unserved);
    Ok(external)
}

/// Gives every JWT provider of an issuer in `keys` (`iss` → JWKS) the
/// run's keys inline in place of its remote or file JWKS, so the tokens
/// the run signs verify. Returns the clusters the replaced remote JWKS
/// were fetched through.
pub fn use_local_keys(config: &mut Value, keys: &BTreeMap<String, String>) -> BTreeSet<String> {
    fn walk(value: &mut Value, keys: &BTreeMap<String, String>, unused: &mut BTreeSet<String>) {
        match value {
            Value::Mapping(map) => {
                let issuer = map.get("issuer").and_then(Value::as_str).and_then(|i| keys.get(i));
                let provider = map.contains_key("remote_jwks") || map.contains_key("local_jwks");
                match issuer.filter(|_| provider) {
                    Some(jwks) => {
                        let jwks = jwks.clone();
                        if let Some(remote) = map.remove("remote_jwks") {
                            let cluster = remote.get("http_uri").and_then(|u| u.get("cluster")).and_then(Value::as_str);
                            unused.extend(cluster.map(str::to_string));
                        }
                        let mut inline = Mapping::new();
                        inline.insert("inline_string".into(), jwks.into());
                        map.insert("local_jwks".into(), Value::Mapping(inline));
                    }
                    None => map.values_mut().for_each(|v| walk(v, keys, unused)),
                }
            }
            Value::Sequence(items) => items.iter_mut().for_each(|v| walk(v, keys, unused)),
            _ => {}
        }
    }
    let mut unused = BTreeSet::new();
    walk(config, keys, &mut unused);
    unused
}

/// A remote JWKS nothing of the run serves would hold the proxy's
/// listeners back until it is fetched (Envoy's default): they start at
/// once instead, and requests that need its tokens are refused (401).
fn listen_without_keys(value: &mut Value, unserved: &BTreeSet<&str>) {
    match value {
        Value::Mapping(map) => {
            if let Some(jwks) = map.get_mut("remote_jwks") {
                let cluster = jwks.get("http_uri").and_then(|u| u.get("cluster")).and_then(Value::as_str);
                if cluster.is_some_and(|c| unserved.contains(c)) {
                    if let Some(fetch) = jwks.get_mut("async_fetch").and_then(Value::as_mapping_mut) {
                        fetch.insert("fast_listener".into(), true.into());
                    }
                }
            }
            map.values_mut().for_each(|v| listen_without_keys(v, unserved));
        }
        Value::Sequence(items) => items.iter_mut().for_each(|v| listen_without_keys(v, unserved)),
        _ => {}
    }
}

fn rewrite_clusters(
    plan: &Plan,
    proxy: &Proxy,
    assignment: &Assignment,
    clusters: &mut [Value],
    external: &mut Vec<External>,
) -> Result<(), String> {
    for cluster in clusters {
        let cluster_name = cluster.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let local = match proxy.clusters.iter().find(|c| c.name == cluster_name) {
            Some(local) => Some(local_port(plan, proxy, assignment, local)?),
            None => None,
        };
        for address in endpoint_addresses(cluster) {
            let host_port = host_port(address);
            match local.or_else(|| assignment.addresses.get(&host_port).copied()) {
                Some(port) => *address = socket_address(port).get("socket_address").cloned().unwrap_or_default(),
                None => external.push(External { cluster: cluster_name.clone(), address: host_port }),
            }
        }
    }
    Ok(())
}

fn local_port(
    plan: &Plan,
    proxy: &Proxy,
    assignment: &Assignment,
    local: &super::plan::LocalCluster,
) -> Result<u16, String> {
    let missing = || format!("{}: cluster `{}` has no port in this run", proxy.name, local.name);
    match local.target {
        LocalTarget::Admin => assignment.port(&Slot::Admin { proxy: proxy.name.clone() }),
        LocalTarget::App => {
            let service = proxy.service.clone().ok_or_else(missing)?;
            assignment.port(&Slot::App { service, port: local.port.clone().ok_or_else(missing)? })
        }
        LocalTarget::Helper => assignment.helper_port(plan, local.helper.as_deref().ok_or_else(missing)?),
    }
    .ok_or_else(missing)
}

/// The `socket_address` mappings of a cluster's endpoints.
fn endpoint_addresses(cluster: &mut Value) -> Vec<&mut Value> {
    let Some(endpoints) =
        cluster.get_mut("load_assignment").and_then(|a| a.get_mut("endpoints")).and_then(Value::as_sequence_mut)
    else {
        return Vec::new();
    };
    endpoints
        .iter_mut()
        .filter_map(|e| e.get_mut("lb_endpoints").and_then(Value::as_sequence_mut))
        .flatten()
        .filter_map(|lb| {
            lb.get_mut("endpoint").and_then(|e| e.get_mut("address")).and_then(|a| a.get_mut("socket_address"))
        })
        .collect()
}

/// `host:port` of a `socket_address` (`[v6]:port` for IPv6 literals).
fn host_port(socket_address: &Value) -> String {
    let host = socket_address.get("address").and_then(Value::as_str).unwrap_or_default();
    let port = socket_address.get("port_value").and_then(Value::as_u64).unwrap_or_default();
    match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

/// `{socket_address: {address: 127.0.0.1, port_value: PORT}}`.
fn socket_address(port: u16) -> Value {
    let mut inner = Mapping::new();
    inner.insert("address".into(), "127.0.0.1".into());
    inner.insert("port_value".into(), u64::from(port).into());
    let mut outer = Mapping::new();
    outer.insert("socket_address".into(), Value::Mapping(inner));
    Value::Mapping(outer)
}

fn set(target: &mut Value, key: &str, value: Value) -> Result<(), String> {
    let map = target.as_mapping_mut().ok_or_else(|| format!("the parent of `{key}` is not a mapping"))?;
    map.insert(key.into(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gateway calling `api` (two versions by host) and a sidecar of `api`
    /// with a validator and a remote JWKS.
    fn plan() -> Plan {
        Plan::from_json(
            r#"{
              "helpers": [{"config": "validation/gateway-edge.json", "kind": "validator", "name": "validator-edge"}],
              "mesh": "m",
              "proxies": [
                {"clusters": [{"name": "meshc.admin", "target": "admin"},
                              {"helper": "validator-edge", "name": "meshc.validator", "target": "helper"}],
                 "config": "envoy/gateway-edge.yaml", "kind": "gateway", "listeners": [], "name": "gateway-edge"},
                {"clusters": [{"name": "inbound.api", "port": "http", "target": "app"}],
                 "config": "envoy/sidecar-api.yaml", "kind": "sidecar",
                 "listeners": [{"name": "inbound", "port": "http", "role": "inbound"}, {"name": "outbound", "role": "outbound"}],
                 "name": "sidecar-api", "service": "api"}
              ],
              "services": [{"identity": "spiffe://td/ns/m/sa/api", "name": "api",
                            "ports": [{"addresses": ["api-v1.m.svc:8080", "api.m.svc:8080"], "name": "http", "number": 8080, "protocol": "http"}]}],
              "version": 1
            }"#,
        )
        .unwrap()
    }

    const GATEWAY: &str = r#"
admin: {address: {socket_address: {address: 127.0.0.1, port_value: 15000}}}
static_resources:
  listeners:
  - name: http
    address: {socket_address: {address: 0.0.0.0, port_value: 8080}}
    filter_chains:
    - filters:
      - typed_config:
          http_filters:
          - typed_config:
              providers:
                users: {remote_jwks: {async_fetch: {}, http_uri: {cluster: meshc.jwks.users, uri: "https://idp/jwks"}}}
  clusters:
  - name: api.http|v1
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: api-v1.m.svc, port_value: 8080}}}}]}]}
  - name: meshc.validator
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 9191}}}}]}]}
  - name: meshc.jwks.users
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: idp, port_value: 443}}}}]}]}
"#;

    #[test]
    fn providers_of_the_runs_issuers_get_its_keys_inline_and_others_are_left() {
        let mut config: Value = serde_yaml_ng::from_str(
            r#"
providers:
  users: {issuer: "https://idp", remote_jwks: {async_fetch: {}, http_uri: {cluster: meshc.jwks.users, uri: "https://idp/jwks"}}}
  staff: {issuer: "https://staff", local_jwks: {inline_string: "{}"}}
  partners: {issuer: "https://partners", remote_jwks: {http_uri: {cluster: c, uri: "https://p/jwks"}}}
"#,
        )
        .unwrap();
        let keys = BTreeMap::from([
            ("https://idp".to_string(), "K1".to_string()),
            ("https://staff".to_string(), "K2".to_string()),
        ]);
        let unused = use_local_keys(&mut config, &keys);
        assert_eq!(unused, BTreeSet::from(["meshc.jwks.users".to_string()]));
        let provider = |name: &str| &config["providers"][name];
        assert_eq!(provider("users")["local_jwks"]["inline_string"].as_str(), Some("K1"));
        assert!(provider("users").get("remote_jwks").is_none());
        assert_eq!(provider("staff")["local_jwks"]["inline_string"].as_str(), Some("K2"));
        assert!(provider("partners").get("remote_jwks").is_some(), "an issuer the run has no key for stays");
    }

    fn listeners() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            ("gateway-edge".to_string(), vec!["http".to_string()]),
            ("sidecar-api".to_string(), vec!["inbound".to_string(), "outbound".to_string()]),
        ])
    }

    fn assignment(plan: &Plan) -> Assignment {
        let slots = slots(plan, &listeners());
        let ports = (0..slots.len()).map(|i| 20000 + u16::try_from(i).unwrap()).collect();
        Assignment::new(plan, slots, ports).unwrap()
    }

    fn endpoint(config: &Value, cluster: &str) -> (String, u64) {
        let clusters = config["static_resources"]["clusters"].as_sequence().unwrap();
        let c = clusters.iter().find(|c| c["name"].as_str() == Some(cluster)).unwrap();
        let a = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"];
        (a["address"].as_str().unwrap().to_string(), a["port_value"].as_u64().unwrap())
    }

    #[test]
    fn every_slot_gets_a_port_of_its_own_and_service_addresses_lead_to_the_inbound_listener() {
        let plan = plan();
        let slots = slots(&plan, &listeners());
        assert_eq!(
            slots,
            vec![
                Slot::Admin { proxy: "gateway-edge".into() },
                Slot::Listener { proxy: "gateway-edge".into(), name: "http".into() },
                Slot::Admin { proxy: "sidecar-api".into() },
                Slot::Listener { proxy: "sidecar-api".into(), name: "inbound".into() },
                Slot::Listener { proxy: "sidecar-api".into(), name: "outbound".into() },
                Slot::App { service: "api".into(), port: "http".into() },
                Slot::Helper { name: "validator-edge".into() },
            ]
        );
        let assignment = assignment(&plan);
        assert_eq!(assignment.addresses.get("api.m.svc:8080"), Some(&20003));
        assert_eq!(assignment.addresses.get("api-v1.m.svc:8080"), Some(&20003));
        assert_eq!(assignment.helper_port(&plan, "validator-edge"), Some(20006));
    }

    #[test]
    fn a_port_handed_out_twice_or_a_count_mismatch_is_refused() {
        let plan = plan();
        let slots = slots(&plan, &listeners());
        let mut twice: Vec<u16> = (0..slots.len()).map(|i| 20000 + u16::try_from(i).unwrap()).collect();
        twice[1] = 20000;
        assert_eq!(Assignment::new(&plan, slots.clone(), twice).unwrap_err(), "port 20000 was handed out twice");
        assert_eq!(Assignment::new(&plan, slots, vec![1]).unwrap_err(), "7 slots but 1 ports");
    }

    #[test]
    fn the_gateway_moves_to_loopback_and_its_clusters_to_the_sidecar_and_helper() {
        let plan = plan();
        let assignment = assignment(&plan);
        let mut config: Value = serde_yaml_ng::from_str(GATEWAY).unwrap();
        let external = rewrite(&plan, &plan.proxies[0], &assignment, &mut config).unwrap();
        assert_eq!(config["admin"]["address"]["socket_address"]["port_value"].as_u64(), Some(20000));
        let listener = &config["static_resources"]["listeners"][0]["address"]["socket_address"];
        assert_eq!((listener["address"].as_str(), listener["port_value"].as_u64()), (Some("127.0.0.1"), Some(20001)));
        assert_eq!(endpoint(&config, "api.http|v1"), ("127.0.0.1".into(), 20003));
        assert_eq!(endpoint(&config, "meshc.validator"), ("127.0.0.1".into(), 20006));
        // Nothing of the run serves the identity provider: left as built, reported,
        // and its keys no longer hold the listener back.
        assert_eq!(endpoint(&config, "meshc.jwks.users"), ("idp".into(), 443));
        assert_eq!(external, vec![External { cluster: "meshc.jwks.users".into(), address: "idp:443".into() }]);
        let providers = &config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
            ["http_filters"][0]["typed_config"]["providers"];
        assert_eq!(providers["users"]["remote_jwks"]["async_fetch"]["fast_listener"].as_bool(), Some(true));
    }

    #[test]
    fn an_aggregate_clusters_members_move_like_any_cluster_and_the_aggregate_stays() {
        let plan = plan();
        let assignment = assignment(&plan);
        let mut config: Value = serde_yaml_ng::from_str(
            r#"
static_resources:
  clusters:
  - name: api.http
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: api.m.svc, port_value: 8080}}}}]}]}
  - name: api.http>api-v1.http
    cluster_type: {name: envoy.clusters.aggregate, typed_config: {clusters: [api.http, api-v1.http]}}
    lb_policy: CLUSTER_PROVIDED
  - name: api-v1.http
    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: api-v1.m.svc, port_value: 8080}}}}]}]}
"#,
        )
        .unwrap();
        let before = config["static_resources"]["clusters"][1].clone();
        let external = rewrite(&plan, &plan.proxies[0], &assignment, &mut config).unwrap();
        assert!(external.is_empty(), "{external:?}");
        assert_eq!(endpoint(&config, "api.http"), ("127.0.0.1".into(), 20003));
        assert_eq!(endpoint(&config, "api-v1.http"), ("127.0.0.1".into(), 20003));
        assert_eq!(config["static_resources"]["clusters"][1], before, "it names clusters, not addresses");
    }

    #[test]
    fn a_sidecar_s_app_cluster_goes_to_the_app_slot() {
        let plan = plan();
        let assignment = assignment(&plan);
        let mut config: Value = serde_yaml_ng::from_str(
            "static_resources:\n  clusters:\n  - name: inbound.api\n    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}}]}]}\n",
        )
        .unwrap();
        let external = rewrite(&plan, &plan.proxies[1], &assignment, &mut config).unwrap();
        assert!(external.is_empty());
        assert_eq!(endpoint(&config, "inbound.api"), ("127.0.0.1".into(), 20005));
        // A config without an admin endpoint gets one: readiness is asked there.
        assert_eq!(config["admin"]["address"]["socket_address"]["port_value"].as_u64(), Some(20002));
    }

    #[test]
    fn a_bootstrap_reading_xds_files_is_refused_with_the_flag_to_drop() {
        let config: Value = serde_yaml_ng::from_str(
            "dynamic_resources:\n  lds_config: {path_config_source: {path: /x/sidecar-a/lds.yaml}}\n",
        )
        .unwrap();
        assert!(static_form(&config).unwrap_err().contains("without `--xds-dir`"));
        assert!(static_form(&serde_yaml_ng::from_str("static_resources: {listeners: []}\n").unwrap()).is_ok());
    }

    #[test]
    fn a_listener_the_plan_did_not_count_is_an_error_naming_it() {
        let plan = plan();
        let assignment = assignment(&plan);
        let mut config: Value =
            serde_yaml_ng::from_str("static_resources:\n  listeners:\n  - name: extra\n    address: {}\n").unwrap();
        let error = rewrite(&plan, &plan.proxies[1], &assignment, &mut config).unwrap_err();
        assert_eq!(error, "envoy/sidecar-api.yaml: listener 0 `extra` has no port");
    }

    #[test]
    fn certificates_are_found_in_configs_and_in_their_sds_files() {
        let config: Value = serde_yaml_ng::from_str(
            "a:\n  sds_config:\n    path_config_source: {path: /c/api-cert.yaml, watched_directory: {path: /c}}\n  b: [{filename: /c/ca.pem}]\n",
        )
        .unwrap();
        assert_eq!(files_read(&config), vec!["/c/api-cert.yaml", "/c/ca.pem"]);
        let sds = "resources:\n- tls_certificate:\n    certificate_chain: {filename: /c/api.pem}\n    private_key: {filename: /c/api-key.pem}\n";
        assert_eq!(files_read_by_sds(sds), vec!["/c/api-key.pem", "/c/api.pem"]);
    }

    #[test]
    fn a_plan_of_another_version_or_with_a_dangling_helper_is_refused_by_path() {
        let error = Plan::from_json(r#"{"helpers": [], "mesh": "m", "proxies": [], "services": [], "version": 2}"#)
            .unwrap_err();
        assert!(error.starts_with("`version`: 2 is not 1"), "{error}");
        let dangling = r#"{"helpers": [], "mesh": "m", "services": [], "version": 1, "proxies": [
            {"clusters": [{"helper": "nope", "name": "c", "target": "helper"}], "config": "x", "kind": "gateway", "listeners": [], "name": "g"}]}"#;
        assert_eq!(Plan::from_json(dangling).unwrap_err(), "`proxies[0].clusters[0]`: no helper `nope`");
    }
}
