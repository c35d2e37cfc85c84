//! RabbitMQ, driven by `rabbitmqctl` (as root, like `scripts/test`):
//! importing definitions files, reading back what the broker then holds,
//! and a vhost per test that is deleted again with everything in it.

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
    let rabbit = Rabbit { ctl: rabbitmqctl_bin() };
    if let Err(e) = rabbit.run(&["status", "-q"]) {
        panic!("{}", loud(&format!("rabbitmqctl cannot reach the RabbitMQ node (run the tests as root): {e}")));
    }
    rabbit
}

/// `rabbitmqctl` against the node.
#[derive(Clone, Debug)]
pub struct Rabbit {
    ctl: PathBuf,
}

impl Rabbit {
    /// Runs `rabbitmqctl ARGS`; `Err` has its output when it fails.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.ctl)
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
        let mut child = Command::new(&self.ctl)
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
