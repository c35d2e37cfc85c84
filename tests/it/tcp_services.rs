//! Plain-TCP ports, services with several ports, and workloads that listen
//! nowhere: what the spec may say about them (codes and spans), what every
//! backend makes of them, and a real TCP round trip — Redis's own protocol
//! to the machine's Redis (127.0.0.1:6379) — through the caller's and the
//! callee's Envoy sidecars, in plaintext and over mutual TLS.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use meshc::diag::Code;
use serde_json::Value;
use support::istio_crds::{validate, yaml_documents};
use support::{build_workspace, codes, compile_mesh, envoy_validate, free_port, human, span_text, write_files};

/// The first diagnostic with `code`: its primary span's text.
fn at(c: &meshc::driver::Compilation, code: Code) -> String {
    let d = c.diagnostics.iter().find(|d| d.code == code).unwrap_or_else(|| panic!("no {code:?}:\n{}", human(c)));
    span_text(c, d.primary.as_ref().unwrap().span)
}

const CACHE: &str = r#"
service "cache" {
    owner "t"
    address "cache.shop.svc.cluster.local" port=6379 protocol="redis"
    traffic { health-check "tcp" interval="5s" }
}
"#;

#[test]
fn http_settings_on_a_tcp_call_are_refused_at_the_setting() {
    for (call, span) in [
        (r#"calls "cache" timeout="1s""#, r#"timeout="1s""#),
        (r#"calls "cache" operation="GET /x""#, r#"operation="GET /x""#),
        (r#"calls "cache" forward-token=#true"#, "forward-token=#true"),
        ("calls \"cache\" {\n        retries 2\n    }", "retries 2"),
    ] {
        let mesh = format!("service \"web\" {{\n    owner \"t\"\n    {call}\n}}\n{CACHE}");
        let (_d, c) = compile_mesh(&mesh);
        assert_eq!(codes(&c), [Code::HttpSettingOnTcp], "{call}: {}", human(&c));
        assert_eq!(at(&c, Code::HttpSettingOnTcp), span, "{call}");
    }
    // What a TCP call may say: how long the connection may stay silent, and where the app dials.
    let mesh = format!(
        "service \"web\" {{\n    owner \"t\"\n    calls \"cache\" idle-timeout=\"5m\" local-port=16379\n}}\n{CACHE}"
    );
    let (_d, c) = compile_mesh(&mesh);
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
}

#[test]
fn http_only_settings_of_a_tcp_service_are_refused() {
    let tcp = |body: &str| {
        format!(
            "service \"web\" {{\n    owner \"t\"\n    address \"web.shop.svc.cluster.local\" port=8080\n    calls \"db\"\n}}\nservice \"db\" {{\n    owner \"t\"\n    address \"db.shop.svc.cluster.local\" port=5432 protocol=\"postgres\"\n    {body}\n}}"
        )
    };
    let (_d, c) = compile_mesh(&tcp("authorization {\n        allow \"web\" { operation \"GET /x\" }\n    }"));
    assert!(codes(&c).contains(&Code::HttpSettingOnTcp), "{}", human(&c));
    assert_eq!(at(&c, Code::HttpSettingOnTcp), r#""GET /x""#);
    let (_d, c) = compile_mesh(&tcp("traffic { health-check \"http\" path=\"/healthz\" }"));
    assert_eq!(codes(&c), [Code::HttpSettingOnTcp], "{}", human(&c));
    // Callers only: fine on TCP.
    let callers_only = tcp("authorization {\n        allow \"web\"\n    }\n    traffic { health-check \"tcp\" }");
    let (_d, c) = compile_mesh(&format!("mtls {{ mode \"strict\" }}\n{callers_only}"));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    // A gateway does not proxy raw TCP.
    let gateway = "gateway \"public\" {\n    listener \"http\" port=8080\n    route \"r\" {\n        match path-prefix=\"/\"\n        to \"db\"\n    }\n}";
    let (_d, c) = compile_mesh(&format!("{}\n{gateway}", tcp("traffic { health-check \"tcp\" }")));
    assert!(codes(&c).contains(&Code::HttpSettingOnTcp), "{}", human(&c));
    assert_eq!(at(&c, Code::HttpSettingOnTcp), r#""db""#);
    // `protocol` marks a port without an API.
    let mesh = "service \"db\" {\n    owner \"t\"\n    address \"db.svc\" port=5432 protocol=\"postgres\"\n    api \"db-http\" kind=\"rest\" schema=\"db.yaml\"\n}";
    let (_d, c) = compile_mesh(mesh);
    assert!(codes(&c).contains(&Code::InvalidValue), "{}", human(&c));
    assert_eq!(at(&c, Code::InvalidValue), r#"protocol="postgres""#);
}

#[test]
fn a_workload_that_listens_nowhere_calls_but_is_never_called() {
    let worker = "service \"mailer\" {\n    owner \"t\"\n    calls \"cache\" idle-timeout=\"1m\"\n}";
    let (_d, c) = compile_mesh(&format!("{worker}\n{CACHE}"));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let artifacts = c.emit().unwrap();
    let paths: Vec<&str> = artifacts.iter().map(|a| a.path.as_str()).collect();
    assert!(paths.contains(&"envoy/sidecar-mailer.yaml"), "its calls are proxied: {paths:?}");
    assert!(!paths.contains(&"kubernetes/mailer.yaml"), "no Service for what listens nowhere: {paths:?}");
    let sidecar = yaml(&artifacts, "envoy/sidecar-mailer.yaml");
    let listeners = sidecar["static_resources"]["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1, "no inbound listener: {listeners:?}");

    // Calling it, routing to it or composing it is an error at the reference.
    let caller = "service \"web\" {\n    owner \"t\"\n    address \"web.svc\" port=8080\n    calls \"mailer\"\n}";
    let (_d, c) = compile_mesh(&format!("{worker}\n{CACHE}\n{caller}"));
    assert_eq!(codes(&c), [Code::TargetListensNowhere], "{}", human(&c));
    assert_eq!(at(&c, Code::TargetListensNowhere), "calls \"mailer\"");
    // What only a listening service has needs an address.
    let (_d, c) =
        compile_mesh("service \"mailer\" {\n    owner \"t\"\n    api \"m\" kind=\"rest\" schema=\"m.yaml\"\n}");
    assert!(codes(&c).contains(&Code::MissingRequired), "{}", human(&c));
    assert_eq!(at(&c, Code::MissingRequired), "\"mailer\"");
}

const BROKER: &str = r#"
service "broker" {
    owner "t"
    address "broker.shop.svc.cluster.local"
    port "amqp" 5672 protocol="amqp"
    port "management" 15672
    traffic { outlier-detection consecutive-5xx=5 }
}
"#;

#[test]
fn a_call_to_a_service_with_several_ports_names_its_port() {
    let call = |props: &str| {
        format!("service \"web\" {{\n    owner \"t\"\n    address \"web.svc\" port=8080\n    calls \"broker\"{props}\n}}\n{BROKER}")
    };
    let (_d, c) = compile_mesh(&call(""));
    assert_eq!(codes(&c), [Code::MissingRequired], "{}", human(&c));
    assert!(human(&c).contains("port=\"amqp\""), "{}", human(&c));
    let (_d, c) = compile_mesh(&call(" port=\"ampq\""));
    assert_eq!(codes(&c), [Code::UnknownPort], "{}", human(&c));
    assert!(human(&c).contains("did you mean `amqp`?"), "{}", human(&c));
    assert_eq!(at(&c, Code::UnknownPort), "port=\"ampq\"");
    let (_d, c) = compile_mesh(&call(" port=\"amqp\" timeout=\"1s\""));
    assert_eq!(codes(&c), [Code::HttpSettingOnTcp], "{}", human(&c));
    let (_d, c) = compile_mesh(&call(" port=\"management\" timeout=\"1s\""));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    // Both ports from one caller, with the ports Envoy listens on in the pod.
    let mesh = format!(
        "service \"web\" {{\n    owner \"t\"\n    address \"web.svc\" port=8080\n    calls \"broker\" port=\"amqp\"\n    calls \"broker\" port=\"management\" timeout=\"1s\"\n}}\n{BROKER}"
    );
    let (_d, c) = compile_mesh(&mesh);
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
    let artifacts = c.emit().unwrap();

    let broker = yaml(&artifacts, "envoy/sidecar-broker.yaml");
    let inbound: Vec<(String, u64, String)> = broker["static_resources"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let filters = l["filter_chains"][0]["filters"].as_array().unwrap();
            (
                l["name"].as_str().unwrap().to_string(),
                l["address"]["socket_address"]["port_value"].as_u64().unwrap(),
                filters.last().unwrap()["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        inbound,
        [
            ("inbound.amqp".into(), 15006, "envoy.filters.network.tcp_proxy".into()),
            ("inbound.management".into(), 15007, "envoy.filters.network.http_connection_manager".into()),
        ]
    );

    let web = yaml(&artifacts, "envoy/sidecar-web.yaml");
    let listeners = web["static_resources"]["listeners"].as_array().unwrap();
    let tcp = listeners.iter().find(|l| l["address"]["socket_address"]["port_value"] == 5672).expect("AMQP on 5672");
    assert_eq!(tcp["address"]["socket_address"]["address"], "127.0.0.1");
    assert_eq!(tcp["filter_chains"][0]["filters"][0]["typed_config"]["cluster"], "outbound.broker.amqp");
    let outbound = listeners.iter().find(|l| l["name"] == "outbound").unwrap();
    let hosts = &outbound["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"];
    assert_eq!(hosts[0]["name"], "broker.management");
    assert_eq!(hosts[0]["domains"][1], "broker:15672");

    let kube = yaml(&artifacts, "kubernetes/broker.yaml");
    let ports: Vec<(&str, &str, u64, &str)> = kube["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["appProtocol"].as_str().unwrap(),
                p["port"].as_u64().unwrap(),
                p["targetPort"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports, [("amqp", "tcp", 5672, "mesh-inbound"), ("management", "http", 15672, "mesh-inbound-1")]);
    let istio = artifacts.iter().find(|a| a.path == "istio/service-broker.yaml").unwrap();
    assert!(istio.contents.contains("port: 15672"), "the routes match the HTTP port:\n{}", istio.contents);
}

#[test]
fn listeners_of_one_pod_on_one_port_are_a_conflict() {
    let other = CACHE.replace("\"cache\"", "\"sessions\"").replace("cache.shop", "sessions.shop");
    let web = |call: &str| {
        format!("service \"web\" {{\n    owner \"t\"\n    address \"web.svc\" port=8080\n    calls \"cache\"\n    {call}\n}}\n{CACHE}\n{other}")
    };
    let (_d, c) = compile_mesh(&web("calls \"sessions\""));
    assert_eq!(codes(&c), [Code::PodPortConflict], "{}", human(&c));
    let (_d, c) = compile_mesh(&web("calls \"sessions\" local-port=8080"));
    assert_eq!(codes(&c), [Code::PodPortConflict], "the app's own port: {}", human(&c));
    assert_eq!(at(&c, Code::PodPortConflict), "local-port=8080");
    let (_d, c) = compile_mesh(&web("calls \"sessions\" local-port=16379"));
    assert!(c.diagnostics.is_empty(), "{}", human(&c));
}

#[test]
fn every_config_of_tcp_and_multi_port_meshes_passes_envoy_and_istio() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = format!(
        "mtls {{ mode \"permissive\" }}\nservice \"web\" {{\n    owner \"t\"\n    address \"web.svc\" port=8080\n    calls \"broker\" port=\"amqp\" idle-timeout=\"10m\"\n    calls \"broker\" port=\"management\" timeout=\"1s\"\n    calls \"cache\" local-port=16379\n}}\nservice \"worker\" {{\n    owner \"t\"\n    calls \"broker\" port=\"amqp\"\n}}\n{BROKER}\n{CACHE}"
    );
    write_files(&dir.path().join("ws"), &[("mesh.kdl", &mesh)]);
    let written = build_workspace(&dir.path().join("ws"), &dir.path().join("out"));
    let envoy: Vec<&PathBuf> = written.iter().filter(|p| p.to_string_lossy().contains("/envoy/")).collect();
    assert_eq!(envoy.len(), 4, "web, worker, broker, cache: {envoy:?}");
    for config in envoy {
        envoy_validate(config).unwrap_or_else(|e| panic!("{}:\n{e}", config.display()));
    }
    let istio_files: Vec<&PathBuf> = written.iter().filter(|p| p.to_string_lossy().contains("/istio/")).collect();
    assert!(!istio_files.is_empty());
    for path in istio_files {
        for doc in yaml_documents(&std::fs::read_to_string(path).unwrap()) {
            validate(&doc).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        }
    }
}

fn yaml(artifacts: &[meshc::emit::Artifact], path: &str) -> Value {
    let artifact = artifacts.iter().find(|a| a.path == path).unwrap_or_else(|| panic!("no {path}"));
    serde_yaml_ng::from_str(&artifact.contents).unwrap()
}

// ---------------------------------------------------------------------------
// Live: Redis through two sidecars
// ---------------------------------------------------------------------------

const REDIS: u16 = 6379;

/// `worker` (listening nowhere) calls `cache`, the machine's Redis, through
/// its sidecar's TCP listener; `cache`'s sidecar takes the connection on
/// its inbound port and hands it to Redis on 127.0.0.1:6379.
fn redis_mesh(mtls: bool, worker_local: u16, cache_inbound: u16, idle: &str) -> String {
    // Authorization needs identities, which only mTLS proves.
    let (mtls, authorization) = match mtls {
        true => (
            "mtls { mode \"strict\"; trust-domain \"test.local\" }",
            "authorization {\n        allow \"worker\"\n    }",
        ),
        false => ("", ""),
    };
    format!(
        r#"{mtls}
service "worker" {{
    owner "t"
    calls "cache" local-port={worker_local} idle-timeout="{idle}"
}}
service "cache" {{
    owner "t"
    address "cache.internal" port={REDIS} protocol="redis"
    endpoints {{
        endpoint "127.0.0.1" port={cache_inbound}
    }}
    sidecar inbound-port={cache_inbound} outbound-port={cache_outbound}
    traffic {{ health-check "tcp" interval="5s" }}
    {authorization}
}}
"#,
        cache_outbound = free_port(),
    )
}

/// Sends one Redis command (inline form) and reads one reply line.
fn redis(stream: &mut TcpStream, command: &str) -> String {
    stream.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) => reply.push(byte[0]),
        }
    }
    String::from_utf8_lossy(&reply).trim_end().to_string()
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
}

/// Builds and starts both sidecars; `(cache, worker, worker's local port, cache's inbound port)`.
fn start_redis_mesh(
    dir: &std::path::Path,
    mtls: bool,
    idle: &str,
) -> (support::EnvoyProcess, support::EnvoyProcess, u16, u16) {
    TcpStream::connect(("127.0.0.1", REDIS)).expect("the machine's Redis on 127.0.0.1:6379");
    let (local, inbound) = (free_port(), free_port());
    write_files(&dir.join("ws"), &[("mesh.kdl", &redis_mesh(mtls, local, inbound, idle))]);
    let written = build_workspace(&dir.join("ws"), &dir.join("out"));
    let start = |name: &str| {
        let path = written.iter().find(|p| p.ends_with(format!("envoy/sidecar-{name}.yaml"))).unwrap();
        envoy_validate(path).unwrap_or_else(|e| panic!("rejected by Envoy:\n{e}"));
        support::EnvoyProcess::start(path)
    };
    let (cache, worker) = (start("cache"), start("worker"));
    cache.wait_ready(inbound);
    worker.wait_ready(local);
    (cache, worker, local, inbound)
}

/// A key of this run only, removed at the end.
fn round_trip(port: u16) {
    let key = format!("meshc-test-{}-{}", std::process::id(), free_port());
    let mut stream = connect(port);
    assert_eq!(redis(&mut stream, "PING"), "+PONG");
    assert_eq!(redis(&mut stream, &format!("SET {key} through-two-sidecars")), "+OK");
    assert_eq!(redis(&mut stream, &format!("GET {key}")), "$20");
    assert_eq!(redis(&mut stream, ""), "through-two-sidecars");
    assert_eq!(redis(&mut stream, &format!("DEL {key}")), ":1");
}

#[test]
fn redis_answers_through_two_sidecars_in_plaintext_and_closes_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (_cache, _worker, local, _inbound) = start_redis_mesh(dir.path(), false, "1s");
    round_trip(local);
    // Silent for longer than idle-timeout: the worker's sidecar closes the connection.
    let mut stream = connect(local);
    assert_eq!(redis(&mut stream, "PING"), "+PONG");
    std::thread::sleep(Duration::from_millis(2500));
    let mut buf = [0u8; 16];
    assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)), "the idle connection is closed");
}

#[test]
fn redis_answers_through_two_sidecars_over_mtls_and_plaintext_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_cache, _worker, local, inbound) = start_redis_mesh(dir.path(), true, "1m");
    round_trip(local);
    // Straight to cache's sidecar without a certificate: no Redis reply.
    let mut stream = connect(inbound);
    let reply = redis(&mut stream, "PING");
    assert!(!reply.contains("PONG"), "a plaintext client reaches nothing (TLS refuses it): {reply:?}");
}
