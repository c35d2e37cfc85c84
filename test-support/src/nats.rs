//! NATS with JetStream: a request/reply client for the JetStream API
//! (`$JS.API.*`) over the NATS text protocol on a plain TCP connection, the
//! shared server on this machine, and servers a test starts itself (a
//! `nats-server -js` on a free port with a store directory of its own).
//!
//! The protocol is a handful of lines (`CONNECT`, `SUB`, `PUB`, `MSG`,
//! `HMSG`, `PING`/`PONG`), so no client crate is linked for it.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{lock, loud, tool_bin, unique_name};

/// How long one JetStream request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The shared NATS server with JetStream: `$MESHC_NATS` (`host:port`),
/// default `127.0.0.1:4222`. Panics loudly when nothing answers there:
/// tests that need a broker never skip (`scripts/test` starts it).
pub fn shared_nats() -> SocketAddr {
    let text = std::env::var("MESHC_NATS").ok().filter(|v| !v.is_empty()).unwrap_or("127.0.0.1:4222".into());
    let addr = text
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("{}", loud(&format!("MESHC_NATS={text} is not host:port"))));
    if let Err(e) = JetStream::connect(addr) {
        panic!(
            "{}",
            loud(&format!(
                "no NATS server with JetStream answers at {addr} ({e}): run ./scripts/test, which starts it, or set MESHC_NATS"
            ))
        );
    }
    addr
}

/// An error the JetStream API answered with (`{"error": {...}}`), or an I/O
/// or protocol failure.
#[derive(Debug)]
pub enum JsError {
    Api { code: u64, err_code: u64, description: String },
    Io(io::Error),
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsError::Api { code, err_code, description } => {
                write!(f, "JetStream API error {code} (err_code {err_code}): {description}")
            }
            JsError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for JsError {
    fn from(e: io::Error) -> Self {
        JsError::Io(e)
    }
}

fn protocol(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// One connection to a NATS server, making JetStream API requests.
pub struct JetStream {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// `_INBOX.<unique>.`: replies come to this prefix plus a request number.
    inbox: String,
    next_request: u64,
    /// What the server said about itself in its `INFO` line.
    pub server_info: Value,
}

impl JetStream {
    /// Connects, announces itself (`CONNECT` with headers, so a request to
    /// no one gets a 503 at once instead of a timeout) and subscribes to
    /// its reply inbox.
    pub fn connect(addr: SocketAddr) -> io::Result<JetStream> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let info =
            line.strip_prefix("INFO ").ok_or_else(|| protocol(format!("expected INFO from {addr}, got {line:?}")))?;
        let server_info: Value = serde_json::from_str(info.trim()).map_err(|e| protocol(format!("INFO: {e}")))?;
        let inbox = format!("_INBOX.{}.", unique_name("js"));
        let mut client = JetStream { reader, writer, inbox, next_request: 0, server_info };
        let connect = r#"{"verbose":false,"pedantic":false,"lang":"meshc-test","version":"0","protocol":1,"headers":true,"no_responders":true}"#;
        write!(client.writer, "CONNECT {connect}\r\nSUB {}* 1\r\nPING\r\n", client.inbox)?;
        client.writer.flush()?;
        loop {
            match client.read_op()? {
                Op::Pong => return Ok(client),
                Op::Err(e) => return Err(protocol(format!("{addr} refused the connection: {e}"))),
                _ => {}
            }
        }
    }

    /// The server's version (`2.9.10`).
    pub fn server_version(&self) -> &str {
        self.server_info["version"].as_str().unwrap_or("")
    }

    /// Sends `payload` to `subject` and waits for the reply's payload.
    pub fn request(&mut self, subject: &str, payload: &[u8]) -> io::Result<Vec<u8>> {
        self.next_request += 1;
        let reply = format!("{}{}", self.inbox, self.next_request);
        write!(self.writer, "PUB {subject} {reply} {}\r\n", payload.len())?;
        self.writer.write_all(payload)?;
        self.writer.write_all(b"\r\n")?;
        self.writer.flush()?;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("no reply to {subject}")));
            }
            match self.read_op()? {
                Op::Msg { subject, status, payload } if subject == reply => {
                    if let Some(status) = status {
                        return Err(protocol(format!("request to {subject} answered with status {status}")));
                    }
                    return Ok(payload);
                }
                Op::Err(e) => return Err(protocol(format!("server error: {e}"))),
                _ => {}
            }
        }
    }

    /// A JetStream API request: `$JS.API.<api>` with a JSON body; an
    /// `error` in the answer is [`JsError::Api`].
    pub fn api(&mut self, api: &str, body: &Value) -> Result<Value, JsError> {
        let payload = if body.is_null() { Vec::new() } else { serde_json::to_vec(body).expect("JSON") };
        let answer = self.request(&format!("$JS.API.{api}"), &payload)?;
        let answer: Value = serde_json::from_slice(&answer)
            .map_err(|e| protocol(format!("$JS.API.{api} answered with no JSON ({e}): {answer:?}")))?;
        if let Some(error) = answer.get("error") {
            return Err(JsError::Api {
                code: error["code"].as_u64().unwrap_or(0),
                err_code: error["err_code"].as_u64().unwrap_or(0),
                description: error["description"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(answer)
    }

    /// Creates a stream from its `StreamConfig` (`config.name` names it); the
    /// answer is its info (`config` as the server keeps it, `state`).
    pub fn stream_create(&mut self, config: &Value) -> Result<Value, JsError> {
        let name = config["name"].as_str().unwrap_or("");
        self.api(&format!("STREAM.CREATE.{name}"), config)
    }

    pub fn stream_info(&mut self, name: &str) -> Result<Value, JsError> {
        self.api(&format!("STREAM.INFO.{name}"), &Value::Null)
    }

    pub fn stream_delete(&mut self, name: &str) -> Result<Value, JsError> {
        self.api(&format!("STREAM.DELETE.{name}"), &Value::Null)
    }

    /// The names of every stream on the server.
    pub fn stream_names(&mut self) -> Result<Vec<String>, JsError> {
        let mut names = Vec::new();
        loop {
            let page = self.api("STREAM.NAMES", &serde_json::json!({ "offset": names.len() }))?;
            let batch: Vec<String> = page["streams"]
                .as_array()
                .map(|a| a.iter().filter_map(|n| n.as_str().map(String::from)).collect())
                .unwrap_or_default();
            let total = page["total"].as_u64().unwrap_or(0) as usize;
            let empty = batch.is_empty();
            names.extend(batch);
            if empty || names.len() >= total {
                return Ok(names);
            }
        }
    }

    /// Creates a durable consumer on `stream` from its `ConsumerConfig`
    /// (`config.durable_name` names it), as `nats consumer add --config`
    /// does; the answer is its info.
    pub fn consumer_create(&mut self, stream: &str, config: &Value) -> Result<Value, JsError> {
        let name = config["durable_name"].as_str().or(config["name"].as_str()).unwrap_or("");
        let body = serde_json::json!({ "stream_name": stream, "config": config });
        self.api(&format!("CONSUMER.DURABLE.CREATE.{stream}.{name}"), &body)
    }

    pub fn consumer_info(&mut self, stream: &str, name: &str) -> Result<Value, JsError> {
        self.api(&format!("CONSUMER.INFO.{stream}.{name}"), &Value::Null)
    }

    /// Reads the next protocol operation, answering the server's `PING`s.
    fn read_op(&mut self) -> io::Result<Op> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the NATS server closed the connection"));
            }
            let line = line.trim_end();
            let mut words = line.split(' ');
            let op = words.next().unwrap_or("").to_ascii_uppercase();
            let args: Vec<&str> = words.filter(|w| !w.is_empty()).collect();
            match op.as_str() {
                "PING" => {
                    self.writer.write_all(b"PONG\r\n")?;
                    self.writer.flush()?;
                }
                "PONG" => return Ok(Op::Pong),
                "+OK" | "INFO" => {}
                "-ERR" => return Ok(Op::Err(line.trim_start_matches("-ERR").trim().to_string())),
                "MSG" => {
                    // MSG <subject> <sid> [reply-to] <#bytes>
                    let len = parse_len(args.last())?;
                    let payload = self.read_payload(len)?;
                    return Ok(Op::Msg { subject: args[0].to_string(), status: None, payload });
                }
                "HMSG" => {
                    // HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>
                    if args.len() < 4 {
                        return Err(protocol(format!("malformed HMSG: {line}")));
                    }
                    let header_len = parse_len(args.get(args.len() - 2))?;
                    let total = parse_len(args.last())?;
                    let mut bytes = self.read_payload(total)?;
                    if header_len > bytes.len() {
                        return Err(protocol(format!("malformed HMSG: {line}")));
                    }
                    let payload = bytes.split_off(header_len);
                    // `NATS/1.0 503` (no responders): a status, not a reply.
                    let head = String::from_utf8_lossy(&bytes);
                    let status = head
                        .lines()
                        .next()
                        .and_then(|l| l.strip_prefix("NATS/1.0"))
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from);
                    return Ok(Op::Msg { subject: args[0].to_string(), status, payload });
                }
                _ => return Err(protocol(format!("unexpected line from the NATS server: {line}"))),
            }
        }
    }

    fn read_payload(&mut self, len: usize) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; len + 2];
        self.reader.read_exact(&mut bytes)?;
        bytes.truncate(len);
        Ok(bytes)
    }
}

fn parse_len(word: Option<&&str>) -> io::Result<usize> {
    word.and_then(|w| w.parse().ok()).ok_or_else(|| protocol("a message without a length"))
}

enum Op {
    Pong,
    Err(String),
    Msg { subject: String, status: Option<String>, payload: Vec<u8> },
}

/// Streams created on a shared server by one test: every one is deleted
/// when this is dropped, also when the test panics.
pub struct StreamsGuard {
    addr: SocketAddr,
    names: Mutex<Vec<String>>,
}

impl StreamsGuard {
    pub fn new(addr: SocketAddr) -> StreamsGuard {
        StreamsGuard { addr, names: Mutex::new(Vec::new()) }
    }

    /// Deletes `name` when the guard is dropped.
    pub fn track(&self, name: &str) {
        lock(&self.names).push(name.to_string());
    }
}

impl Drop for StreamsGuard {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *lock(&self.names));
        if names.is_empty() {
            return;
        }
        match JetStream::connect(self.addr) {
            Ok(mut js) => {
                for name in names {
                    if let Err(e) = js.stream_delete(&name) {
                        if !matches!(e, JsError::Api { err_code: 10059, .. }) {
                            eprintln!("deleting stream {name} on {}: {e}", self.addr);
                        }
                    }
                }
            }
            Err(e) => eprintln!("cannot delete streams {names:?} on {}: {e}", self.addr),
        }
    }
}

/// The `nats-server` binary: `$MESHC_NATS_SERVER`, else `nats-server` on
/// the `PATH`, else `/usr/sbin/nats-server`.
pub fn nats_server_bin() -> PathBuf {
    tool_bin("MESHC_NATS_SERVER", "nats-server").unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

/// Runs `nats-server -js` on `port`, storing under `dir/store`, logging
/// (appending) to `log_path`.
fn launch(port: u16, dir: &Path, log_path: &Path, extra: &[String]) -> Child {
    let bin = nats_server_bin();
    Command::new(&bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.join("store"))
        .arg("-l")
        .arg(log_path)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}",
                loud(&format!("cannot start {} ({e}): install nats-server or set MESHC_NATS_SERVER", bin.display()))
            )
        })
}

/// A `nats-server` with JetStream that this test started, on a free port
/// of 127.0.0.1, storing in a temporary directory; killed when dropped.
pub struct NatsServer {
    child: Mutex<Child>,
    pub addr: SocketAddr,
    log_path: PathBuf,
    /// The arguments it was started with beyond port and store, for restarts.
    extra: Vec<String>,
    /// Where the config file of [`NatsServer::start_configured`] is.
    config_dir: Option<tempfile::TempDir>,
    // Last: removed after the process is gone.
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts it and waits until it answers a `PING` (30 s at most). Its
    /// file storage limit is set (1 TB) rather than taken from the disk's
    /// free space at start (75% of it), so a spec's large `max-bytes`
    /// stream (the shop's 10 GiB) is accepted on a machine whose shared
    /// disk is momentarily fuller: a limit only reserves, it writes nothing.
    pub fn start() -> NatsServer {
        let dir = tempfile::Builder::new().prefix("meshc-nats-conf-").tempdir().expect("a temporary directory");
        let path = dir.path().join("nats.conf");
        std::fs::write(&path, "jetstream {\n  max_file_store: 1TB\n}\n").expect("writing the nats-server config");
        let mut server = NatsServer::spawn(crate::free_port(), &["-c".to_string(), path.display().to_string()]);
        server.config_dir = Some(dir);
        server.wait_until(|js| js.is_ok(), "answer");
        server
    }

    /// Starts it with the configuration file text `config` (operator mode,
    /// say) and waits until it listens (30 s at most): clients may need
    /// credentials to get further.
    pub fn start_configured(config: &str) -> NatsServer {
        let dir = tempfile::Builder::new().prefix("meshc-nats-conf-").tempdir().expect("a temporary directory");
        let path = dir.path().join("nats.conf");
        std::fs::write(&path, config).expect("writing the nats-server config");
        let mut server = NatsServer::spawn(crate::free_port(), &["-c".to_string(), path.display().to_string()]);
        let addr = server.addr;
        server.wait_until(|_| std::net::TcpStream::connect(addr).is_ok(), "listen");
        server.config_dir = Some(dir);
        server
    }

    /// Starts `nats-server -js` on `port` with `extra` arguments and a store
    /// of its own; does not wait.
    fn spawn(port: u16, extra: &[String]) -> NatsServer {
        let dir = tempfile::Builder::new().prefix("meshc-nats-").tempdir().expect("a temporary directory");
        let log_path = dir.path().join("nats.log");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Mutex::new(launch(port, dir.path(), &log_path, extra));
        NatsServer { child, addr, log_path, extra: extra.to_vec(), config_dir: None, dir }
    }

    /// Stops it as a rolling restart does (SIGTERM: it closes its
    /// connections and writes its state), waits `down`, and starts it again
    /// on the same port with the same store.
    pub fn restart(&mut self, down: Duration) {
        {
            let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
        }
        self.relaunch(down);
    }

    /// Kills it (SIGKILL: a crash, no state written), waits `down`, and
    /// starts it again on the same port with the same store.
    pub fn crash_and_restart(&mut self, down: Duration) {
        self.relaunch(down);
    }

    fn relaunch(&mut self, down: Duration) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        thread::sleep(down);
        *child = launch(self.addr.port(), self.dir.path(), &self.log_path, &self.extra);
        self.wait_until(|js| js.is_ok(), "answer after a restart");
    }

    /// Polls (30 s at most) until a connection passes `ready`; panics with
    /// the log when the server exits or the time is up.
    fn wait_until(&self, ready: impl Fn(io::Result<JetStream>) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = lock(&self.child).try_wait().expect("polling nats-server") {
                panic!("{}{}", loud(&format!("nats-server exited ({status}) before it would {what}")), self.log());
            }
            if ready(JetStream::connect(self.addr)) {
                return;
            }
            if Instant::now() > deadline {
                panic!("{}{}", loud(&format!("nats-server on {} did not {what} within 30 s", self.addr)), self.log());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn connect(&self) -> JetStream {
        JetStream::connect(self.addr).unwrap_or_else(|e| panic!("connecting to {}: {e}\n{}", self.addr, self.log()))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        if thread::panicking() {
            eprintln!("----- nats-server log -----\n{}\n----- end -----", self.log());
        }
    }
}

/// A JetStream cluster of `nats-server`s this test started, routed to each
/// other on free ports, for streams with more than one replica (a single
/// server refuses them); every server is killed when dropped.
pub struct NatsCluster {
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` servers and waits until JetStream answers API requests
    /// (the cluster has elected its metadata leader).
    pub fn start(size: usize) -> NatsCluster {
        let cluster_ports: Vec<u16> = (0..size).map(|_| crate::free_port()).collect();
        let routes = cluster_ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let name = crate::unique_name("meshc");
        let servers: Vec<NatsServer> = cluster_ports
            .iter()
            .enumerate()
            .map(|(i, cluster_port)| {
                let args = [
                    "--cluster".to_string(),
                    format!("nats://127.0.0.1:{cluster_port}"),
                    "--routes".to_string(),
                    routes.clone(),
                    "--cluster_name".to_string(),
                    name.clone(),
                    "-n".to_string(),
                    format!("s{i}"),
                ];
                NatsServer::spawn(crate::free_port(), &args)
            })
            .collect();
        for server in &servers {
            server.wait_until(
                |js| {
                    js.and_then(|mut js| js.request("$JS.API.INFO", b""))
                        .is_ok_and(|r| !r.windows(7).any(|w| w == b"\"error\""))
                },
                "answer JetStream requests",
            );
        }
        NatsCluster { servers }
    }

    pub fn connect(&self) -> JetStream {
        self.servers[0].connect()
    }
}
