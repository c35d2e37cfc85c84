//! `meshc build --xds-dir DIR`: the Envoy bootstraps read their listeners
//! and clusters from watched files (file-based xDS), the split loses and
//! adds nothing, Envoy accepts every file of the shop built that way, and
//! a running Envoy picks up a rebuild (a call's new timeout, the callee's
//! new endpoint) within seconds, without a restart or a failed request.

use crate::support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_yaml_ng::Value;
use support::{
    envoy_validate, free_port, http_request, repo_root, try_http_request, write_files, EnvoyProcess, Upstream,
};

fn meshc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshc")).args(args).env("NO_COLOR", "1").output().expect("meshc runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn build(args: &[&str]) {
    let out = meshc(args);
    assert!(out.status.success(), "meshc {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
}

fn yaml(file: &Path) -> Value {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The proxies' bootstraps in `envoy_dir`: `(node id, path)`, in name order.
fn bootstraps(envoy_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = fs::read_dir(envoy_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

/// The resources of a file-based xDS source, each checked to carry `type_url`, without it.
fn resources(file: &Path, type_url: &str) -> Value {
    let doc = yaml(file);
    let items = doc["resources"].as_sequence().unwrap_or_else(|| panic!("{}: no resources", file.display()));
    let stripped = items
        .iter()
        .map(|item| {
            let mut item = item.as_mapping().expect("a resource is a mapping").clone();
            let found = item.remove("@type");
            assert_eq!(found.as_ref().and_then(Value::as_str), Some(type_url), "{}", file.display());
            Value::Mapping(item)
        })
        .collect();
    Value::Sequence(stripped)
}

/// A split bootstrap with its listeners and clusters put back as static resources.
fn reassembled(bootstrap: &Path, xds_dir: &Path, node: &str) -> Value {
    let mut doc = yaml(bootstrap);
    let map = doc.as_mapping_mut().unwrap();
    let dynamic = map.remove("dynamic_resources").expect("dynamic_resources");
    let dir = xds_dir.join(node);
    for (key, file) in [("lds_config", "lds.yaml"), ("cds_config", "cds.yaml")] {
        let source = &dynamic[key];
        assert_eq!(source["path_config_source"]["path"].as_str(), Some(path(&dir.join(file))), "{node}");
        assert_eq!(source["path_config_source"]["watched_directory"]["path"].as_str(), Some(path(&dir)), "{node}");
        assert_eq!(source["resource_api_version"].as_str(), Some("V3"), "{node}");
    }
    assert!(!map.contains_key("static_resources"), "{node}");
    let mut resources_map = serde_yaml_ng::Mapping::new();
    resources_map.insert(
        "clusters".into(),
        resources(&dir.join("cds.yaml"), "type.googleapis.com/envoy.config.cluster.v3.Cluster"),
    );
    resources_map.insert(
        "listeners".into(),
        resources(&dir.join("lds.yaml"), "type.googleapis.com/envoy.config.listener.v3.Listener"),
    );
    map.insert("static_resources".into(), Value::Mapping(resources_map));
    doc
}

/// Each proxy of the shop built with `--xds-dir` is the static build's
/// bootstrap split in two: the same listeners and clusters in its watched
/// files, the same node, admin and stats settings in its bootstrap; and
/// Envoy accepts each split bootstrap and each proxy's resources.
#[test]
fn the_shops_split_configs_hold_exactly_the_static_ones_and_envoy_accepts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path().canonicalize().unwrap();
    let shop = repo_root().join("examples/shop");
    let certs = tmp.join("certs");
    build(&["certs", path(&shop), "--cert-dir", path(&certs)]);
    let (plain, split) = (tmp.join("static"), tmp.join("split"));
    build(&["build", path(&shop), "-o", path(&plain), "--cert-dir", path(&certs)]);
    let xds_dir = split.join("envoy");
    build(&["build", path(&shop), "-o", path(&split), "--cert-dir", path(&certs), "--xds-dir", path(&xds_dir)]);

    let expected = bootstraps(&plain.join("envoy"));
    let found = bootstraps(&xds_dir);
    let names = |list: &[(String, PathBuf)]| list.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&found), names(&expected));
    assert!(found.len() >= 9 && found.iter().any(|(n, _)| n.starts_with("gateway-")), "{:?}", names(&found));
    let mut failures = Vec::new();
    for (node, bootstrap) in &found {
        let whole = reassembled(bootstrap, &xds_dir, node);
        let static_form = yaml(&plain.join("envoy").join(format!("{node}.yaml")));
        assert!(whole == static_form, "{node}: the split form differs from the static one");
        // The split bootstrap itself (validate mode does not open the xDS files) ...
        if let Err(e) = envoy_validate(bootstrap) {
            failures.push(format!("{}:\n{e}", bootstrap.display()));
        }
        // ... and its resources, as Envoy reads them, in a bootstrap of their own.
        let file = tmp.join(format!("{node}-resources.yaml"));
        fs::write(&file, serde_yaml_ng::to_string(&whole).unwrap()).unwrap();
        if let Err(e) = envoy_validate(&file) {
            failures.push(format!("{} (resources):\n{e}", bootstrap.display()));
        }
    }
    assert!(failures.is_empty(), "Envoy refused:\n{}", failures.join("\n\n"));
    // Every other artifact is the same as without the flag.
    let other = |dir: &Path| {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).unwrap() {
                let p = entry.unwrap().path();
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                if p.is_dir() {
                    stack.push(p);
                } else if !rel.starts_with("envoy/") && !rel.starts_with(".") {
                    files.push((rel, fs::read(&p).unwrap()));
                }
            }
        }
        files.sort();
        files
    };
    let (a, b) = (other(&plain), other(&split));
    assert!(!a.is_empty());
    assert_eq!(a.iter().map(|f| &f.0).collect::<Vec<_>>(), b.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs with --xds-dir");
    }
}

#[test]
fn a_relative_xds_dir_is_made_absolute_in_the_bootstrap() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().canonicalize().unwrap();
    write_files(
        &cwd.join("ws"),
        &[("mesh.kdl", "service \"web\" {\n    owner \"t\"\n    address \"127.0.0.1\" port=8080\n}\n")],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_meshc"))
        .args(["build", "ws", "-o", "out", "--backend", "envoy-sidecar", "--xds-dir", "x/../xds/"])
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = yaml(&cwd.join("out/envoy/sidecar-web.yaml"));
    let expected = format!("{}/xds/sidecar-web/lds.yaml", cwd.display());
    assert_eq!(doc["dynamic_resources"]["lds_config"]["path_config_source"]["path"].as_str(), Some(expected.as_str()));
    assert!(
        cwd.join("out/envoy/sidecar-web/lds.yaml").is_file() && cwd.join("out/envoy/sidecar-web/cds.yaml").is_file()
    );
}

/// A caller `web` whose sidecar listens on `outbound`, calling `orders`
/// at `orders_port` with `timeout`; monitored, so Envoy's admin endpoint
/// is on `admin`.
fn spec(ports: &Ports, orders_port: u16, timeout: &str) -> String {
    format!(
        r#"
monitoring {{
    admin-port {admin}
    metrics-port {metrics}
}}
service "web" {{
    owner "team-web"
    address "127.0.0.1" port={web}
    sidecar inbound-port={inbound} outbound-port={outbound}
    slo-exempt reason="test"
    calls "orders" timeout="{timeout}"
}}
service "orders" {{
    owner "team-orders"
    address "127.0.0.1" port={orders_port}
    slo-exempt reason="test"
}}
"#,
        admin = ports.admin,
        metrics = ports.metrics,
        web = ports.web,
        inbound = ports.inbound,
        outbound = ports.outbound,
    )
}

struct Ports {
    admin: u16,
    metrics: u16,
    web: u16,
    inbound: u16,
    outbound: u16,
}

/// Every answer of the clients: `(keeps its connection alive, 200's body or what failed)`.
type Answers = Arc<Mutex<Vec<(bool, Result<String, String>)>>>;

/// `GET /orders/1` on `connection`, opened first if there is none, kept
/// unless the response says `connection: close`. The body of a 200, or
/// what went wrong.
fn keep_alive_request(port: u16, connection: &mut Option<BufReader<TcpStream>>) -> Result<String, String> {
    if connection.is_none() {
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        *connection = Some(BufReader::new(stream));
    }
    let reader = connection.as_mut().unwrap();
    let result: Result<(String, String, bool), String> = (|| {
        reader
            .get_mut()
            .write_all(b"GET /orders/1 HTTP/1.1\r\nhost: orders\r\n\r\n")
            .map_err(|e| format!("write: {e}"))?;
        let mut status_line = String::new();
        reader.read_line(&mut status_line).map_err(|e| format!("read: {e}"))?;
        let status =
            status_line.split_whitespace().nth(1).ok_or_else(|| format!("status line {status_line:?}"))?.to_string();
        let (mut length, mut close) = (None, false);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| format!("header line {line:?}"))?;
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse::<usize>().ok(),
                "connection" => close = value.trim().eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = vec![0; length.ok_or("a response without content-length")?];
        reader.read_exact(&mut body).map_err(|e| format!("read body: {e}"))?;
        let body = String::from_utf8_lossy(&body).into_owned();
        Ok((status, body, close))
    })();
    match result {
        Ok((status, body, close)) => {
            if close {
                *connection = None;
            }
            if status == "200" {
                Ok(body)
            } else {
                Err(format!("{status} {body}"))
            }
        }
        Err(e) => {
            *connection = None;
            Err(format!("keep-alive: {e}"))
        }
    }
}

/// Seconds Envoy has been up in its current epoch (`/server_info`).
fn uptime(admin: u16) -> u64 {
    let info = http_request(admin, "GET", "/server_info", &[]).json();
    let text = info["uptime_current_epoch"].as_str().expect("uptime_current_epoch");
    text.trim_end_matches('s').parse().unwrap_or_else(|e| panic!("uptime {text}: {e}"))
}

/// The route timeouts of Envoy's active dynamic listeners (`/config_dump`), sorted.
fn active_route_timeouts(admin: u16) -> Vec<String> {
    let dump = http_request(admin, "GET", "/config_dump", &[]).json();
    let configs = dump["configs"].as_array().expect("configs");
    let listeners = configs
        .iter()
        .find(|c| c["@type"] == "type.googleapis.com/envoy.admin.v3.ListenersConfigDump")
        .expect("a listeners dump");
    let mut out = Vec::new();
    for listener in listeners["dynamic_listeners"].as_array().into_iter().flatten() {
        let active = &listener["active_state"]["listener"];
        for chain in active["filter_chains"].as_array().into_iter().flatten() {
            for filter in chain["filters"].as_array().into_iter().flatten() {
                let hosts = &filter["typed_config"]["route_config"]["virtual_hosts"];
                for host in hosts.as_array().into_iter().flatten() {
                    for route in host["routes"].as_array().into_iter().flatten() {
                        out.extend(route["route"]["timeout"].as_str().map(str::to_string));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// Polls `done` every 50 ms for up to `limit`; the time it took.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_running_envoy_reloads_a_rebuild_without_a_restart_or_a_failed_request() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path().canonicalize().unwrap();
    let ports = Ports {
        admin: free_port(),
        metrics: free_port(),
        web: free_port(),
        inbound: free_port(),
        outbound: free_port(),
    };
    let (first, second) = (Upstream::start("first"), Upstream::start("second"));
    let (ws, out) = (tmp.join("ws"), tmp.join("out"));
    let xds_dir = out.join("envoy");
    let rebuild = |mesh: &str| {
        write_files(&ws, &[("mesh.kdl", mesh)]);
        build(&["build", path(&ws), "-o", path(&out), "--backend", "envoy-sidecar", "--xds-dir", path(&xds_dir)]);
    };
    rebuild(&spec(&ports, first.port(), "5s"));
    let bootstrap = xds_dir.join("sidecar-web.yaml");
    envoy_validate(&bootstrap).unwrap();
    let envoy = EnvoyProcess::start(&bootstrap);
    envoy.wait_ready(ports.outbound);
    let pid = envoy.pid();
    assert_eq!(http_request(ports.outbound, "GET", "/orders/1", &[("host", "orders")]).body, "first GET /orders/1");

    // Requests without a pause until the end, every answer recorded: one
    // client on a new connection each, one keeping its connection alive
    // (as long as Envoy does not close it: a drained listener says
    // `connection: close` on its next response).
    let stop = Arc::new(AtomicBool::new(false));
    let answers: Answers = Arc::default();
    let clients = [false, true].map(|keep_alive| {
        let (stop, answers, port) = (stop.clone(), answers.clone(), ports.outbound);
        thread::spawn(move || {
            let mut connection = None;
            while !stop.load(Ordering::SeqCst) {
                let answer = if keep_alive {
                    keep_alive_request(port, &mut connection)
                } else {
                    match try_http_request(port, "GET", "/orders/1", &[("host", "orders")], b"") {
                        Ok(r) if r.status == 200 => Ok(r.body),
                        Ok(r) => Err(format!("{} {}", r.status, r.body)),
                        Err(e) => Err(e.to_string()),
                    }
                };
                answers.lock().unwrap().push((keep_alive, answer));
            }
        })
    });
    // Up long enough that a restart would show in the uptime (whole
    // seconds, each reading off by up to one: a process restarted during
    // the swap reports at most the time since, plus one).
    assert!(within(Duration::from_secs(10), || uptime(ports.admin) >= 3).is_some());
    let (up_before, measured) = (uptime(ports.admin), Instant::now());

    // 1. The call's timeout: the listener changes (lds.yaml), the clusters do not.
    let route_timeouts = || active_route_timeouts(ports.admin);
    assert_eq!(route_timeouts(), ["0s", "5s"], "the inbound route's and the call's before the change");
    let cds_before = fs::read(xds_dir.join("sidecar-web/cds.yaml")).unwrap();
    rebuild(&spec(&ports, first.port(), "4321ms"));
    assert_eq!(fs::read(xds_dir.join("sidecar-web/cds.yaml")).unwrap(), cds_before, "only the listeners changed");
    let timeout_took = within(Duration::from_secs(5), || route_timeouts().contains(&"4.321s".to_string()));
    assert!(timeout_took.is_some(), "the new timeout is not in the config dump: {:?}", route_timeouts());

    // 2. The callee's endpoint: the cluster now reaches the second upstream.
    assert_eq!(second.hits(), 0);
    rebuild(&spec(&ports, second.port(), "4321ms"));
    let endpoint_took = within(Duration::from_secs(5), || second.hits() > 0);
    assert!(endpoint_took.is_some(), "no request reached the second upstream within 5 s\n{}", envoy.log());
    // Once switched, requests stay on the second upstream.
    let first_hits = first.hits();
    let settled = answers.lock().unwrap().len();
    assert!(within(Duration::from_secs(5), || answers.lock().unwrap().len() >= settled + 20).is_some());
    assert_eq!(first.hits(), first_hits, "requests still reach the first upstream");

    stop.store(true, Ordering::SeqCst);
    clients.into_iter().for_each(|c| c.join().unwrap());
    let answers = answers.lock().unwrap();
    let failed: Vec<&String> = answers.iter().filter_map(|(_, a)| a.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        answers.len(),
        &failed[..failed.len().min(5)]
    );
    for keep_alive in [false, true] {
        let bodies = |name: &str| {
            let from = |(k, a): &&(bool, Result<String, String>)| {
                *k == keep_alive && a.as_ref().is_ok_and(|b| b.starts_with(name))
            };
            answers.iter().filter(from).count()
        };
        assert!(bodies("first ") > 0 && bodies("second ") > 0, "both upstreams answered (keep-alive: {keep_alive})");
    }
    // Never restarted: the same process, its uptime not reset.
    assert!(envoy.is_running());
    assert_eq!(envoy.pid(), pid);
    let up_after = uptime(ports.admin);
    assert!(
        up_after + 1 >= up_before + measured.elapsed().as_secs(),
        "Envoy's uptime was reset: {up_before} s, then {up_after} s"
    );
    eprintln!(
        "reloaded: timeout in {timeout_took:?}, endpoint in {endpoint_took:?}; {} requests, uptime {up_before} s -> {} s",
        answers.len(),
        up_after
    );
    let log = envoy.log();
    assert!(!log.contains("rejected"), "Envoy rejected an update:\n{log}");
}
