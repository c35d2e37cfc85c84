//! What the runtime's integration tests share (`mod support;`): protos
//! compiled with protox, the `meshc-runtime` command as a process, a plain
//! HTTP/1.1 client, and the real Envoy.

// Each test file uses only some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::watch;

// ---------------------------------------------------------------------------
// Protos and addresses.

/// `127.0.0.1:0`: a free loopback port.
pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A free loopback port, for a server that binds it later (Envoy).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The Online Boutique protos (read in place from shared/corpora), with
/// `demo.proto` and its imports compiled.
pub fn boutique() -> protox::Compiler {
    let protos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/online-boutique/protos");
    compile(&protos, "demo.proto")
}

/// One `.proto` file written to a temporary directory as `name`, compiled
/// with its imports.
pub fn compile_proto(name: &str, source: &str) -> protox::Compiler {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), source).unwrap();
    compile(dir.path(), name)
}

fn compile(dir: &Path, file: &str) -> protox::Compiler {
    let mut compiler = protox::Compiler::new([dir]).unwrap();
    compiler.include_imports(true);
    compiler.open_file(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    compiler
}

// ---------------------------------------------------------------------------
// The command.

/// `meshc-runtime` (this crate's binary), to be given arguments.
pub fn meshc_runtime() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshc-runtime"))
}

/// A process, killed when the test ends, passing or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `meshc-runtime` subcommand serving: where it listens (its first line,
/// `listening on ADDR`) and the lines it prints after that.
pub struct Serving {
    pub addr: SocketAddr,
    lines: Lines<BufReader<ChildStdout>>,
    /// Dropped last: the process is killed when the test is done with it.
    _process: Killed,
}

impl Serving {
    /// Starts `command` with its stdout piped and reads `listening on ADDR`.
    pub fn start(command: &mut Command) -> Serving {
        let mut process = Killed(command.stdout(Stdio::piped()).spawn().unwrap());
        let mut lines = BufReader::new(process.0.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first.strip_prefix("listening on ").expect(&first).parse().unwrap();
        Serving { addr, lines, _process: process }
    }

    /// The next line it prints, as JSON (one line per request).
    pub fn next_json(&mut self) -> Value {
        serde_json::from_str(&self.lines.next().unwrap().unwrap()).unwrap()
    }
}

// ---------------------------------------------------------------------------
// A plain HTTP/1.1 client.

pub struct Reply {
    pub status: u16,
    /// Names lower case.
    pub headers: Vec<(String, String)>,
    /// De-chunked.
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port` with `connection: close` and a
/// `content-length`; the whole reply.
pub fn http(port: u16, method: &str, target: &str, extra: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no response head: {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..line_end]).trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

// ---------------------------------------------------------------------------
// The real Envoy.

/// `$MESHC_ENVOY`, else the copy `./scripts/test` installs. Never skipped.
pub fn envoy_bin() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = match std::env::var_os("MESHC_ENVOY").filter(|v| !v.is_empty()) {
        Some(value) => root.join(value),
        None => root.join(".tools/envoy/envoy/_bin/envoy"),
    };
    assert!(
        path.is_file(),
        "\n{bar}\n!! Envoy not found at {}: run ./scripts/test (installs it into .tools/) or set MESHC_ENVOY\n{bar}\n",
        path.display(),
        bar = "!".repeat(78)
    );
    path
}

/// A running Envoy; killed on drop (its log is printed when a test fails).
pub struct Envoy {
    child: Child,
    dir: tempfile::TempDir,
}

impl Envoy {
    /// Starts Envoy with the bootstrap `config` and waits (30 s at most)
    /// until it listens on `port`.
    pub fn start(config: &str, port: u16) -> Envoy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("envoy.yaml");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("envoy.log")).unwrap();
        let child = Command::new(envoy_bin())
            .arg("-c")
            .arg(&path)
            .args(["--disable-hot-restart", "--concurrency", "1", "-l", "warning"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", envoy_bin().display()));
        let mut envoy = Envoy { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = envoy.child.try_wait().unwrap() {
                panic!("Envoy exited ({status}) before listening:\n{}", envoy.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return envoy;
            }
            assert!(Instant::now() < deadline, "Envoy did not listen on {port} within 30 s:\n{}", envoy.log());
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("envoy.log")).unwrap_or_default()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- envoy log -----\n{}\n----- end of envoy log -----", self.log());
        }
    }
}

/// A bootstrap's static cluster `name` of one endpoint, 127.0.0.1:`port`
/// (an entry of `static_resources.clusters`).
pub fn cluster(name: &str, port: u16) -> String {
    format!(
        r#"
  - name: {name}
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }} }}"#
    )
}

// ---------------------------------------------------------------------------
// A JSON upstream.

/// One request as it reached a [`JsonUpstream`].
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub arrived: Instant,
    pub answered: Option<Instant>,
}

/// What a [`JsonUpstream`] answers: status, JSON body text, delay.
pub type Handler = dyn Fn(&Hit) -> (u16, String, Duration) + Send + Sync;

/// A tiny HTTP/1.1 upstream (hyper) on 127.0.0.1 answering JSON through a
/// handler and recording every request with its arrival and answer times:
/// the GraphQL gateway's REST backends, the token exchanger's STS.
pub struct JsonUpstream {
    pub port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl JsonUpstream {
    pub fn start(handler: impl Fn(&Hit) -> (u16, String, Duration) + Send + Sync + 'static) -> JsonUpstream {
        let handler: Arc<Handler> = Arc::new(handler);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = watch::channel(false);
        let recorded = Arc::clone(&hits);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    tokio::select! {
                        _ = stopped.wait_for(|stop| *stop) => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let handler = Arc::clone(&handler);
                            let recorded = Arc::clone(&recorded);
                            tokio::spawn(async move {
                                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                                    let handler = Arc::clone(&handler);
                                    let recorded = Arc::clone(&recorded);
                                    async move {
                                        let arrived = Instant::now();
                                        let (parts, body) = request.into_parts();
                                        let body = body.collect().await.unwrap().to_bytes();
                                        let hit = Hit {
                                            method: parts.method.to_string(),
                                            target: parts.uri.to_string(),
                                            headers: parts
                                                .headers
                                                .iter()
                                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                                                .collect(),
                                            body: String::from_utf8(body.to_vec()).unwrap(),
                                            arrived,
                                            answered: None,
                                        };
                                        let (status, text, delay) = handler(&hit);
                                        let index = {
                                            let mut hits = recorded.lock().unwrap();
                                            hits.push(hit);
                                            hits.len() - 1
                                        };
                                        tokio::time::sleep(delay).await;
                                        recorded.lock().unwrap()[index].answered = Some(Instant::now());
                                        let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
                                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                        response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                                        Ok::<_, std::convert::Infallible>(response)
                                    }
                                });
                                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                            });
                        }
                    }
                }
            });
        });
        JsonUpstream { port, hits, stop, thread: Some(thread) }
    }

    /// `127.0.0.1:PORT`.
    pub fn upstream(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for JsonUpstream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
