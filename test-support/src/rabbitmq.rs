//! RabbitMQ, driven by `rabbitmqctl` (as root, like `scripts/test`):
//! importing definitions files, reading back what the broker then holds,
//! and a vhost per test that is deleted again with everything in it; and
//! a node of a test's own ([`RabbitNode`]) where the shared one must not
//! change (plugins).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{loud, tool_bin, unique_name};

/// The `rabbitmqctl` binary: `$MESHC_RABBITMQCTL`, else `rabbitmqctl` on
/// the `PATH`, else `/usr/sbin/rabbitmqctl`.
fn rabbitmqctl_bin() -> PathBuf {
    tool_bin("MESHC_RABBITMQCTL", "rabbitmqctl").unwrap_or_else(|| PathBuf::from("/usr/sbin/rabbitmqctl"))
}

/// The shared RabbitMQ node on this machine, reached by `rabbitmqctl`;
/// panics loudly when its AMQP port (`$MESHC_RABBITMQ`, default
/// `127.0.0.1:5672`) does not answer or `rabbitmqctl` cannot reach the
/// node: tests that need a broker never skip (`scripts/test` starts it).
pub fn shared_rabbitmq() -> Rabbit {
    let text = std::env::var("MESHC_RABBITMQ").ok().filter(|v| !v.is_empty()).unwrap_or("127.0.0.1:5672".into());
    let addr: SocketAddr =
        text.parse().unwrap_or_else(|_| panic!("{}", loud(&format!("MESHC_RABBITMQ={text} is not ip:port"))));
    if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        panic!("{}", loud(&format!("RabbitMQ does not answer at {addr} ({e}): run ./scripts/test, which starts it")));
    }
    let rabbit = Rabbit { ctl: rabbitmqctl_bin(), node: None };
    if let Err(e) = rabbit.run(&["status", "-q"]) {
        panic!("{}", loud(&format!("rabbitmqctl cannot reach the RabbitMQ node (run the tests as root): {e}")));
    }
    rabbit
}

/// `rabbitmqctl` against the node.
#[derive(Clone, Debug)]
pub struct Rabbit {
    ctl: PathBuf,
    /// A node of the test's own: its name and the home holding its cookie.
    node: Option<(String, PathBuf)>,
}

impl Rabbit {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.ctl);
        if let Some((node, home)) = &self.node {
            command.env("HOME", home).args(["-n", node]);
        }
        command
    }

    /// Runs `rabbitmqctl ARGS`; `Err` has its output when it fails.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.ctl.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        Err(format!(
            "rabbitmqctl {} exited with {}:\n{stdout}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// `rabbitmqctl ARGS --formatter json -q`, parsed.
    fn json(&self, args: &[&str]) -> Result<Value, String> {
        let mut all = args.to_vec();
        all.extend(["--formatter", "json", "-q"]);
        let text = self.run(&all)?;
        serde_json::from_str(&text).map_err(|e| format!("rabbitmqctl {} printed no JSON ({e}): {text}", args.join(" ")))
    }

    /// A new vhost with a unique name starting with `prefix`, deleted with
    /// everything in it when the guard is dropped.
    pub fn vhost(&self, prefix: &str) -> RabbitVhost {
        let name = unique_name(prefix);
        self.run(&["add_vhost", &name, "-q"]).unwrap_or_else(|e| panic!("{e}"));
        RabbitVhost { rabbit: self.clone(), name }
    }

    /// A vhost that something else (an imported definitions file) creates,
    /// deleted when the guard is dropped.
    pub fn adopt_vhost(&self, name: &str) -> RabbitVhost {
        RabbitVhost { rabbit: self.clone(), name: name.to_string() }
    }

    /// `rabbitmqctl import_definitions` of the file `file`, given on
    /// standard input (the node, not rabbitmqctl, would read a path, as
    /// its own user): what `Err` holds is the broker's refusal.
    pub fn import_definitions(&self, file: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        self.import_definitions_text(&text)
    }

    /// `rabbitmqctl import_definitions` of `definitions` (on standard input).
    pub fn import_definitions_text(&self, definitions: &str) -> Result<(), String> {
        let mut child = self
            .command()
            .args(["import_definitions", "--format", "json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.ctl.display()))?;
        let mut stdin = child.stdin.take().expect("a piped stdin");
        let written = stdin.write_all(definitions.as_bytes());
        drop(stdin);
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        written.map_err(|e| format!("writing the definitions to rabbitmqctl: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "rabbitmqctl import_definitions exited with {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// What the node holds in `vhost`, read back after an import: its
    /// queues (name, type, durable, auto_delete, arguments as an object,
    /// the policy RabbitMQ applies to it and that policy's definition),
    /// exchanges (name, type, durable, auto_delete, internal, arguments)
    /// and bindings (source, destination, destination_type, routing_key,
    /// arguments), each sorted by name; the default exchange's implicit
    /// bindings are left out. Polls until `expected_queues` queues are
    /// there (10 s at most), since an import may finish after
    /// `rabbitmqctl` returns.
    pub fn read_vhost(&self, vhost: &str, expected_queues: usize) -> Result<VhostState, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let queues = loop {
            let queues = self.json(&[
                "list_queues",
                "-p",
                vhost,
                "name",
                "type",
                "durable",
                "auto_delete",
                "arguments",
                "policy",
            ])?;
            let queues = rows(queues, &["arguments"]);
            if queues.len() >= expected_queues || Instant::now() > deadline {
                break queues;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let exchanges = self.json(&[
            "list_exchanges",
            "-p",
            vhost,
            "name",
            "type",
            "durable",
            "auto_delete",
            "internal",
            "arguments",
        ])?;
        let exchanges: Vec<Value> =
            rows(exchanges, &["arguments"]).into_iter().filter(|e| !is_builtin_exchange(&e["name"])).collect();
        let bindings = self.json(&[
            "list_bindings",
            "-p",
            vhost,
            "source_name",
            "destination_name",
            "destination_kind",
            "routing_key",
            "arguments",
        ])?;
        let bindings: Vec<Value> = rows(bindings, &["arguments"])
            .into_iter()
            .filter(|b| b["source_name"] != "")
            .map(|b| {
                serde_json::json!({
                    "source": b["source_name"],
                    "destination": b["destination_name"],
                    "destination_type": b["destination_kind"],
                    "routing_key": b["routing_key"],
                    "arguments": b["arguments"],
                })
            })
            .collect();
        let policies = self.json(&["list_policies", "-p", vhost])?;
        let mut policies = match policies {
            Value::Array(rows) => rows,
            _ => Vec::new(),
        };
        // rabbitmqctl prints a policy's definition as a JSON string.
        for policy in &mut policies {
            if let Some(text) = policy["definition"].as_str() {
                policy["definition"] = serde_json::from_str(text).unwrap_or(Value::Null);
            }
        }
        policies.sort_by_key(|p| p["name"].to_string());
        // The definition of the policy RabbitMQ applies to each queue.
        let mut queues = queues;
        for queue in &mut queues {
            let applied = policies.iter().find(|p| p["name"] == queue["policy"] && queue["policy"] != "");
            queue["effective_policy_definition"] = applied.map_or(Value::Null, |p| p["definition"].clone());
        }
        Ok(VhostState { queues, exchanges, bindings, policies })
    }
}

/// `amq.*` and the default exchange: every vhost has them.
fn is_builtin_exchange(name: &Value) -> bool {
    name.as_str().is_some_and(|n| n.is_empty() || n.starts_with("amq."))
}

/// rabbitmqctl's JSON rows, with the AMQP tables among `tables` (a list of
/// `[key, type, value]`) turned into objects, sorted by their first field's
/// value.
fn rows(value: Value, tables: &[&str]) -> Vec<Value> {
    let Value::Array(mut rows) = value else { return Vec::new() };
    for row in &mut rows {
        for field in tables {
            if let Some(table) = row.get_mut(*field) {
                *table = amqp_table(table);
            }
        }
    }
    rows.sort_by_key(|r| r.to_string());
    rows
}

/// `[["x-max-length","long",5], ...]` as `{"x-max-length": 5, ...}`.
fn amqp_table(table: &Value) -> Value {
    let mut object = serde_json::Map::new();
    for entry in table.as_array().into_iter().flatten() {
        if let (Some(key), Some(value)) = (entry.get(0).and_then(Value::as_str), entry.get(2)) {
            object.insert(key.to_string(), value.clone());
        }
    }
    Value::Object(object)
}

/// A vhost's queues, exchanges, bindings and policies, as the node reports them.
#[derive(Clone, Debug)]
pub struct VhostState {
    pub queues: Vec<Value>,
    pub exchanges: Vec<Value>,
    pub bindings: Vec<Value>,
    pub policies: Vec<Value>,
}

impl VhostState {
    pub fn queue(&self, name: &str) -> Option<&Value> {
        self.queues.iter().find(|q| q["name"] == name)
    }

    pub fn exchange(&self, name: &str) -> Option<&Value> {
        self.exchanges.iter().find(|e| e["name"] == name)
    }
}

/// A vhost on the shared node, deleted (with its queues, exchanges,
/// bindings and policies) when dropped, also when the test panics.
pub struct RabbitVhost {
    rabbit: Rabbit,
    pub name: String,
}

impl Drop for RabbitVhost {
    fn drop(&mut self) {
        if let Err(e) = self.rabbit.run(&["delete_vhost", &self.name, "-q"]) {
            if !e.contains("does_not_exist") && !e.contains("not found") {
                eprintln!("deleting vhost {}: {e}", self.name);
            }
        }
    }
}

/// A RabbitMQ node of the test's own, for what the shared one must not
/// change: named `<unique>@localhost`, its data, logs and Erlang cookie in a
/// temp dir, listening on free ports on 127.0.0.1 for AMQP and for the
/// `rabbitmq_prometheus` plugin (enabled in its own plugins file), its
/// distribution port free too. Dropping it stops the node and deletes the dir.
pub struct RabbitNode {
    pub rabbit: Rabbit,
    pub amqp_port: u16,
    pub prometheus_port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

/// RabbitMQ's own scripts, not Debian's wrappers in /usr/sbin (which run
/// them as the `rabbitmq` user, who cannot read the test's temp dir).
const RABBITMQ_BIN: &str = "/usr/lib/rabbitmq/bin";

impl RabbitNode {
    /// Starts the node and waits until it has booted; panics loudly when it cannot.
    pub fn start() -> RabbitNode {
        let bin = Path::new(RABBITMQ_BIN);
        if !bin.join("rabbitmq-server").is_file() {
            panic!("{}", loud(&format!("no rabbitmq-server in {RABBITMQ_BIN}: install Debian's rabbitmq-server")));
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        let home = dir.path().to_path_buf();
        let (amqp_port, prometheus_port, dist_port) = (crate::free_port(), crate::free_port(), crate::free_port());
        let node = format!("{}@localhost", unique_name("meshc-rabbit"));
        let cookie = home.join(".erlang.cookie");
        std::fs::write(&cookie, unique_name("cookie")).expect("writing the cookie");
        std::fs::set_permissions(&cookie, std::os::unix::fs::PermissionsExt::from_mode(0o400)).expect("chmod");
        std::fs::write(home.join("enabled_plugins"), "[rabbitmq_prometheus].\n").expect("plugins file");
        let config = format!(
            "listeners.tcp.default = 127.0.0.1:{amqp_port}\nprometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = {prometheus_port}\n"
        );
        std::fs::write(home.join("rabbitmq.conf"), config).expect("config file");
        let log = std::fs::File::create(home.join("server.log")).expect("log file");
        let child = Command::new(bin.join("rabbitmq-server"))
            .current_dir(&home)
            .env("HOME", &home)
            .env("RABBITMQ_NODENAME", &node)
            .env("RABBITMQ_MNESIA_BASE", home.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", home.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", home.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", home.join("rabbitmq.conf"))
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("{}", loud(&format!("cannot start rabbitmq-server: {e}"))));
        let rabbit = Rabbit { ctl: bin.join("rabbitmqctl"), node: Some((node, home.clone())) };
        let mut started = RabbitNode { rabbit, amqp_port, prometheus_port, child, dir };
        // Boot takes seconds; `await_startup` fails until the node is reachable.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let error = match started.rabbit.run(&["await_startup", "--timeout", "60"]) {
                Ok(_) => return started,
                Err(e) => e,
            };
            let exited = started.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let why = format!("the test's RabbitMQ node did not start (exit: {exited:?}): {error}");
                panic!("{}\n{}", loud(&why), started.log());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The server's output and its log files.
    pub fn log(&self) -> String {
        let mut text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        for entry in std::fs::read_dir(self.dir.path().join("log")).into_iter().flatten().flatten() {
            text.push_str(&format!("\n--- {} ---\n", entry.path().display()));
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        text
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- rabbitmq node log -----\n{}\n----- end -----", self.log());
        }
        let _ = self.rabbit.run(&["stop"]);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
