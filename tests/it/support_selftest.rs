//! Self-test of the test harness (the `meshc-test-support` crate), against the REAL
//! Envoy: hand-written bootstrap configs prove that validation, starting,
//! proxying, local replies and clean-up work before the compiler's emitter
//! exists.

use crate::support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::*;

/// A minimal Envoy v3 bootstrap: one static listener on `listen_port`
/// (http_connection_manager → router) with routes `prefix → port` to one
/// STRICT_DNS cluster per route, and a `local_reply_config` that turns 503
/// into a JSON body.
fn bootstrap(listen_port: u16, routes: &[(&str, u16)]) -> String {
    let mut route_yaml = String::new();
    let mut cluster_yaml = String::new();
    for (i, (prefix, port)) in routes.iter().enumerate() {
        route_yaml.push_str(&format!(
            r#"
              - match: {{ prefix: "{prefix}" }}
                route: {{ cluster: c{i}, timeout: 5s }}"#
        ));
        cluster_yaml.push_str(&format!(
            r#"
  - name: c{i}
    type: STRICT_DNS
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: c{i}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.1, port_value: {port} }}"#
        ));
    }
    format!(
        r#"static_resources:
  listeners:
  - name: ingress
    address:
      socket_address: {{ address: 127.0.0.1, port_value: {listen_port} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          codec_type: AUTO
          route_config:
            name: local
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:{route_yaml}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          local_reply_config:
            mappers:
            - filter:
                status_code_filter:
                  comparison:
                    op: EQ
                    value: {{ default_value: 503, runtime_key: selftest.local_reply.status }}
              body_format_override:
                json_format:
                  error: upstream_unavailable
                  code: "%RESPONSE_CODE%"
                  flags: "%RESPONSE_FLAGS%"
                  details: "%RESPONSE_CODE_DETAILS%"
  clusters:{cluster_yaml}
"#
    )
}

fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    write_files(dir, &[("envoy.yaml", yaml)]);
    dir.join("envoy.yaml")
}

#[test]
fn envoy_binary_is_found_and_is_1_40() {
    let bin = envoy_bin();
    assert!(bin.is_file(), "{}", bin.display());
    let out = std::process::Command::new(&bin).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/1.40.0/"), "unexpected envoy --version: {text}");
}

#[test]
fn envoy_proxies_to_upstream_and_maps_503_to_json() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start("alpha");
    let dead = dead_port();
    let listen = free_port();
    let config = write_config(dir.path(), &bootstrap(listen, &[("/dead", dead), ("/", upstream.port())]));
    envoy_validate(&config).unwrap_or_else(|e| panic!("hand-written bootstrap is invalid:\n{e}"));

    let envoy = EnvoyProcess::start(&config);
    envoy.wait_ready(listen);

    // Through Envoy to the upstream.
    let resp = http_request(listen, "GET", "/hello?x=1", &[("x-test", "one")]);
    assert_eq!(resp.status, 200, "{resp:?}\n{}", envoy.log());
    assert_eq!(resp.header("x-upstream"), Some("alpha"));
    assert_eq!(resp.header("X-Upstream"), Some("alpha"), "header() is case-insensitive");
    assert_eq!(resp.body, "alpha GET /hello?x=1");
    assert_eq!(upstream.hits(), 1);
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/hello?x=1");
    assert_eq!(seen[0].header("x-test"), Some("one"));
    assert!(seen[0].header("x-request-id").is_some(), "Envoy adds x-request-id: {:?}", seen[0]);

    // A body goes through and is read by the upstream; Envoy reuses its
    // keep-alive connection to the upstream.
    let resp = http_request_with_body(listen, "POST", "/submit", &[], b"payload-123");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, "alpha POST /submit");
    for i in 0..5 {
        let resp = http_request(listen, "GET", &format!("/n/{i}"), &[]);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, format!("alpha GET /n/{i}"));
    }
    assert_eq!(upstream.hits(), 7);
    let seen = upstream.requests();
    assert_eq!(seen[1].body, b"payload-123");
    assert_eq!(seen[6].path, "/n/4");

    // A route to a port where nothing listens: 503, rewritten to JSON.
    let resp = http_request(listen, "GET", "/dead/x", &[]);
    assert_eq!(resp.status, 503, "{resp:?}");
    assert_eq!(resp.header("content-type"), Some("application/json"), "{resp:?}");
    let json: serde_json::Value =
        serde_json::from_str(&resp.body).unwrap_or_else(|e| panic!("local reply is not JSON ({e}): {:?}", resp.body));
    assert_eq!(json["error"], "upstream_unavailable", "{json}");
    // Envoy 1.40 keeps the type of a lone command operator: a number.
    assert_eq!(json["code"], serde_json::json!(503), "{json}");
    assert_eq!(json["flags"], "UF", "{json}");
    assert!(
        json["details"].as_str().is_some_and(|d| d.starts_with("upstream_reset_before_response_started")),
        "{json}"
    );
    assert_eq!(upstream.hits(), 7, "the dead route must not reach the upstream");
    assert!(envoy.is_running(), "{}", envoy.log());
}

#[test]
fn envoy_validate_reports_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = bootstrap(free_port(), &[("/", dead_port())]);
    yaml = yaml.replace("connect_timeout: 1s", "connect_timeout: 1s\n    no_such_field: 1");
    let config = write_config(dir.path(), &yaml);
    let err = envoy_validate(&config).expect_err("config with an unknown field must be rejected");
    assert!(err.contains("no_such_field"), "{err}");
}

#[test]
#[should_panic(expected = "Envoy exited")]
fn wait_ready_panics_when_envoy_exits() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "static_resources: { listeners: 42 }\n");
    let envoy = EnvoyProcess::start(&config);
    envoy.wait_ready(free_port());
}

#[cfg(target_os = "linux")]
#[test]
fn dropping_envoy_kills_it_and_two_can_run_at_once() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let up_a = Upstream::start("a");
    let up_b = Upstream::start("b");
    let (port_a, port_b) = (free_port(), free_port());
    let config_a = write_config(dir_a.path(), &bootstrap(port_a, &[("/", up_a.port())]));
    let config_b = write_config(dir_b.path(), &bootstrap(port_b, &[("/", up_b.port())]));
    let envoy_a = EnvoyProcess::start(&config_a);
    let envoy_b = EnvoyProcess::start(&config_b);
    envoy_a.wait_ready(port_a);
    envoy_b.wait_ready(port_b);
    assert_eq!(http_request(port_a, "GET", "/", &[]).header("x-upstream"), Some("a"));
    assert_eq!(http_request(port_b, "GET", "/", &[]).header("x-upstream"), Some("b"));

    let pid = envoy_a.pid();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(envoy_a);
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "Envoy {pid} still exists after drop");
    assert!(TcpStream::connect(("127.0.0.1", port_a)).is_err(), "listener of a dropped Envoy");
    assert_eq!(http_request(port_b, "GET", "/", &[]).status, 200);
}

#[test]
fn upstream_keep_alive_bodies_and_close() {
    let up = Upstream::start("u");
    let mut s = TcpStream::connect(("127.0.0.1", up.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Three requests on one connection: Content-Length body, chunked body,
    // then HEAD with Connection: close.
    s.write_all(
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-One: 1\r\n\r\nhello\
          PUT /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nT: v\r\n\r\n\
          HEAD /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap(); // EOF proves Connection: close is honoured
    assert_eq!(raw.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{raw}");
    assert!(raw.contains("x-upstream: u\r\n"), "{raw}");
    assert!(raw.contains("\r\n\r\nu POST /a"), "{raw}");
    assert!(raw.contains("\r\n\r\nu PUT /b"), "{raw}");
    assert!(raw.ends_with("connection: close\r\n\r\n"), "HEAD has no body: {raw}");
    assert_eq!(up.hits(), 3);
    let reqs = up.requests();
    assert_eq!((reqs[0].method.as_str(), reqs[0].path.as_str()), ("POST", "/a"));
    assert_eq!(reqs[0].body, b"hello");
    assert_eq!(reqs[0].header("x-one"), Some("1"));
    assert_eq!(reqs[1].body, b"abcde");
    assert_eq!(reqs[2].method, "HEAD");

    // The client helper against the upstream directly.
    let resp = http_request(up.port(), "DELETE", "/z", &[("Host", "example")]);
    assert_eq!((resp.status, resp.body.as_str()), (200, "u DELETE /z"));
    assert_eq!(up.requests()[3].header("host"), Some("example"));
    assert_eq!(up.requests()[3].header("connection"), Some("close"));
}

#[test]
fn upstream_with_status_and_drop_stops_it() {
    let up = Upstream::start_with_status("flaky", 503);
    let port = up.port();
    let resp = http_request(port, "GET", "/", &[]);
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("x-upstream"), Some("flaky"));
    // An idle keep-alive connection must not keep the upstream alive.
    let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    drop(up);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "upstream still listening");
}

#[test]
fn ports_are_distinct_and_dead_port_refuses() {
    let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
    let mut dedup = ports.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), ports.len());
    let dead = dead_port();
    assert!(!ports.contains(&dead));
    assert!(TcpStream::connect(("127.0.0.1", dead)).is_err());
    assert!(try_http_request(dead, "GET", "/", &[], b"").is_err());
}

/// Serves one canned response, returning the request head it read.
fn one_shot(response: &'static [u8]) -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        s.write_all(response).unwrap();
        String::from_utf8(head).unwrap()
    });
    (port, handle)
}

#[test]
fn client_decodes_chunked_content_length_and_interim_responses() {
    let (port, server) = one_shot(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-Mixed-Case: Yes\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n4\r\nWiki\r\n6;x=y\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nTrailer: t\r\n\r\n",
    );
    let resp = http_request(port, "GET", "/c", &[("X-Req", "1")]);
    let head = server.join().unwrap();
    assert!(head.starts_with("GET /c HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert!(head.contains("X-Req: 1\r\n"), "{head}");
    assert!(head.contains(&format!("host: 127.0.0.1:{port}\r\n")), "{head}");
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body, "Wikipedia in \r\n\r\nchunks.");
    assert_eq!(resp.header("x-mixed-case"), Some("Yes"));
    assert!(resp.headers.iter().all(|(k, _)| *k == k.to_ascii_lowercase()));
    assert_eq!(resp.header_all("set-cookie"), vec!["a=1", "b=2"]);

    let (port, server) = one_shot(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcTRAILING-GARBAGE");
    let resp = http_request(port, "GET", "/", &[]);
    server.join().unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (404, "abc"));

    let (port, server) = one_shot(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof");
    let resp = http_request(port, "GET", "/", &[]);
    server.join().unwrap();
    assert_eq!(resp.body, "until eof");
}

#[test]
fn write_files_creates_parent_dirs() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("a/b/c.kdl", "x 1\n"), ("top.txt", "t")]);
    assert_eq!(std::fs::read_to_string(dir.path().join("a/b/c.kdl")).unwrap(), "x 1\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("top.txt")).unwrap(), "t");
}

// ------------------------------------------------------------- brokers ----

/// The JetStream client against the shared server: a stream and a durable
/// consumer are created, read back and deleted; a config the server
/// refuses is an API error, not a panic or a hang.
#[test]
fn jetstream_client_creates_reads_and_deletes_streams_on_the_shared_server() {
    let addr = shared_nats();
    let mut js = JetStream::connect(addr).unwrap();
    let name = unique_name("selftest");
    let guard = StreamsGuard::new(addr);
    guard.track(&name);
    let config = serde_json::json!({ "name": name, "subjects": [format!("{name}.>")], "max_msgs": 10 });
    let created = js.stream_create(&config).unwrap();
    assert_eq!(created["config"]["max_msgs"], 10);
    assert_eq!(js.stream_info(&name).unwrap()["config"]["subjects"][0], format!("{name}.>"));
    assert!(js.stream_names().unwrap().contains(&name));
    let consumer = serde_json::json!({ "durable_name": "g", "ack_policy": "explicit", "max_deliver": 3 });
    js.consumer_create(&name, &consumer).unwrap();
    assert_eq!(js.consumer_info(&name, "g").unwrap()["config"]["max_deliver"], 3);
    let refused = js.stream_create(&serde_json::json!({ "name": unique_name("selftest"), "retention": "sometimes" }));
    assert!(matches!(refused, Err(JsError::Api { .. })), "{refused:?}");
    js.stream_delete(&name).unwrap();
    assert!(matches!(js.stream_info(&name), Err(JsError::Api { err_code: 10059, .. })));
}

/// A server of the test's own: JetStream on a free port with its own
/// store, gone when dropped.
#[test]
fn an_own_nats_server_runs_jetstream_and_stops_when_dropped() {
    let server = NatsServer::start();
    let addr = server.addr;
    let mut js = server.connect();
    assert!(!js.server_version().is_empty());
    js.stream_create(&serde_json::json!({ "name": "own", "subjects": ["own.>"], "storage": "memory" })).unwrap();
    assert_eq!(js.stream_names().unwrap(), ["own"]);
    drop(server);
    assert!(JetStream::connect(addr).is_err(), "the server still answers after it was dropped");
}

/// rabbitmqctl: definitions imported into a vhost of the test's own are
/// read back (queue arguments, bindings, policies as applied), a refused
/// import is an error, and the vhost is gone once the guard is dropped.
#[test]
fn rabbitmq_definitions_are_imported_read_back_and_removed() {
    let rabbit = shared_rabbitmq();
    let vhost = rabbit.vhost("selftest");
    let definitions = serde_json::json!({
        "vhosts": [{ "name": vhost.name }],
        "exchanges": [{ "name": "ex", "vhost": vhost.name, "type": "topic", "durable": true,
                        "auto_delete": false, "internal": false, "arguments": {} }],
        "queues": [{ "name": "ex.g", "vhost": vhost.name, "durable": true, "auto_delete": false,
                     "arguments": { "x-queue-type": "quorum" } }],
        "bindings": [{ "source": "ex", "vhost": vhost.name, "destination": "ex.g", "destination_type": "queue",
                       "routing_key": "a.*.#", "arguments": {} }],
        "policies": [{ "vhost": vhost.name, "name": "ex.g", "pattern": "^ex\\.g$", "apply-to": "queues",
                       "definition": { "delivery-limit": 4 }, "priority": 0 }],
    });
    rabbit.import_definitions_text(&definitions.to_string()).unwrap();
    let state = rabbit.read_vhost(&vhost.name, 1).unwrap();
    let queue = state.queue("ex.g").expect("the queue");
    assert_eq!(queue["type"], "quorum");
    assert_eq!(queue["arguments"]["x-queue-type"], "quorum");
    assert_eq!(queue["policy"], "ex.g");
    assert_eq!(queue["effective_policy_definition"]["delivery-limit"], 4);
    assert_eq!(state.exchange("ex").expect("the exchange")["type"], "topic");
    assert_eq!(state.bindings.len(), 1, "{:?}", state.bindings);
    assert_eq!(state.bindings[0]["routing_key"], "a.*.#");
    let bad = serde_json::json!({ "queues": [{ "name": "q", "vhost": vhost.name, "durable": true,
        "auto_delete": false, "arguments": { "x-queue-type": "sometimes" } }] });
    assert!(rabbit.import_definitions_text(&bad.to_string()).is_err());
    let name = vhost.name.clone();
    drop(vhost);
    let vhosts = rabbit.run(&["list_vhosts", "-q"]).unwrap();
    assert!(!vhosts.lines().any(|l| l.trim() == name), "vhost {name} is still there");
}

/// Tansu and kafka-python: a topic is created with its configs, read back
/// (partitions, replication factor, configs) and deleted; ACL bindings go
/// through kafka-python's types, which refuse an unknown operation.
#[test]
fn a_kafka_broker_of_our_own_creates_describes_and_deletes_topics() {
    let broker = KafkaBroker::start();
    let topic = serde_json::json!({ "name": "selftest", "num_partitions": 3, "replication_factor": 1,
        "configs": { "retention.ms": "60000", "cleanup.policy": "delete" } });
    let created = broker.admin(serde_json::json!({ "op": "create_topics", "topics": [topic] })).unwrap();
    assert_eq!(created["created"], serde_json::json!(["selftest"]));
    let described = broker.admin(serde_json::json!({ "op": "describe_topics", "names": ["selftest"] })).unwrap();
    let selftest = &described["topics"]["selftest"];
    assert_eq!(selftest["num_partitions"], 3);
    assert_eq!(selftest["replication_factor"], 1);
    assert_eq!(selftest["configs"]["retention.ms"], "60000");
    broker.admin(serde_json::json!({ "op": "delete_topics", "names": ["selftest"] })).unwrap();
    let listed = broker.admin(serde_json::json!({ "op": "list_topics" })).unwrap();
    assert!(!listed["topics"].as_array().unwrap().contains(&serde_json::json!("selftest")), "{listed}");
    let acl = |operation: &str| {
        serde_json::json!({ "op": "acls", "acls": [{ "principal": "User:orders", "host": "*", "operation": operation,
            "permission_type": "ALLOW", "resource_type": "TOPIC", "resource_name": "t", "pattern_type": "LITERAL" }] })
    };
    assert_eq!(kafka_admin(&acl("WRITE")).unwrap()["acls"][0]["operation"], "WRITE");
    assert!(kafka_admin(&acl("SCRIBBLE")).is_err());
}
