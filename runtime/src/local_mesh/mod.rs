//! `meshc-runtime up`: a build's whole mesh on one machine. From the plan
//! meshc writes (`runtime/local-mesh.json`), every proxy's config is moved
//! onto 127.0.0.1 with free ports (`rewrite`), the helpers and each
//! sidecar's app start in process or as commands, then every proxy in real
//! Envoy; dropping the [`LocalMesh`] stops all of it. See
//! docs/runtime.md#the-mesh-on-one-machine.

pub mod contracts;
pub mod identity;
pub mod load;
pub mod plan;
pub mod probes;
mod process;
pub mod rewrite;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_yaml_ng::Value;

use self::identity::{LocalIssuers, LocalStsHandle};
use self::plan::{HelperKind, ListenerRole, Plan, ProxyKind};
use self::process::Process;
use self::rewrite::{Assignment, External, Slot};
use crate::contracts::{ContractMock, ContractMockHandle, MockPlan};
use crate::{
    serve_graphql, serve_token_exchange, serve_validator, GraphqlGateway, GraphqlHandle, TokenExchange,
    TokenExchangeHandle, Validator, ValidatorHandle,
};

/// How long one Envoy or app has to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What `up` is told beside the build's output.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// The Envoy binary.
    pub envoy: PathBuf,
    /// `--run SERVICE=COMMAND`: the service's app is this shell command.
    pub commands: BTreeMap<String, String>,
    /// `--issuer-key ISSUER=FILE`: the issuer signs with this key (PKCS#8
    /// PEM, P-256) instead of one made for the run, so that another process
    /// holding it (`meshc-runtime probe`) makes tokens the proxies accept.
    pub issuer_keys: BTreeMap<String, Vec<u8>>,
}

/// One line of the table `up` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `proxy`, `app` or `helper`.
    pub kind: &'static str,
    pub name: String,
    /// `LISTENER=ADDR` pairs, or the app's address.
    pub address: String,
    /// An Envoy's admin address, an app's pid or what serves it.
    pub detail: String,
}

/// A running mesh; dropping it stops every process and server of the run
/// (the proxies first).
pub struct LocalMesh {
    envoys: Vec<(String, Process)>,
    apps: Vec<RunningApp>,
    helpers: Vec<RunningHelper>,
    rows: Vec<Row>,
    gateways: Vec<(String, SocketAddr)>,
    external: Vec<External>,
    sidecars: BTreeMap<String, SocketAddr>,
    /// Each sidecar's inbound listener, by service and port name.
    inbounds: BTreeMap<(String, String), SocketAddr>,
    /// Each proxy's admin endpoint, by proxy name.
    admins: BTreeMap<String, SocketAddr>,
    /// Each service's sidecar proxy, by service.
    sidecar_proxies: BTreeMap<String, String>,
    cert_dir: Option<PathBuf>,
    issuers: Arc<LocalIssuers>,
    sts: Option<LocalStsHandle>,
    dir: tempfile::TempDir,
}

/// What answers behind a sidecar.
enum RunningApp {
    Command(#[allow(dead_code)] Process),
    Graphql(#[allow(dead_code)] GraphqlHandle),
    Mock(#[allow(dead_code)] ContractMockHandle),
}

enum RunningHelper {
    Validator(#[allow(dead_code)] ValidatorHandle),
    TokenExchange(#[allow(dead_code)] TokenExchangeHandle),
}

impl LocalMesh {
    /// Starts the mesh a build wrote to `out`, and waits until every proxy
    /// and app is ready.
    pub fn start(out: &Path, options: &UpOptions) -> Result<LocalMesh, String> {
        let plan_path = out.join("runtime/local-mesh.json");
        let text = std::fs::read_to_string(&plan_path)
            .map_err(|e| format!("{}: {e}; `meshc build` writes it (backend envoy-local-mesh)", plan_path.display()))?;
        let plan = Plan::from_json(&text).map_err(|e| format!("{}: {e}", plan_path.display()))?;
        let mut configs = BTreeMap::new();
        for proxy in &plan.proxies {
            let path = out.join(&proxy.config);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let config: Value = serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            rewrite::static_form(&config).map_err(|e| format!("{}: {e}", path.display()))?;
            configs.insert(proxy.name.clone(), config);
        }
        check_files(&plan, out, &configs)?;
        for service in options.commands.keys() {
            plan.service(service).ok_or_else(|| format!("--run {service}=...: the mesh has no service `{service}`"))?;
        }
        let mut listeners = BTreeMap::new();
        for (name, config) in &configs {
            listeners.insert(name.clone(), rewrite::listener_names(config).map_err(|e| format!("{name}: {e}"))?);
        }
        let slots = rewrite::slots(&plan, &listeners);
        let ports = free_ports(slots.len()).map_err(|e| format!("picking free ports: {e}"))?;
        let assignment = Assignment::new(&plan, slots, ports)?;
        if let Some(unknown) = options.issuer_keys.keys().find(|k| !plan.issuers.iter().any(|i| &i.issuer == *k)) {
            let known: Vec<&str> = plan.issuers.iter().map(|i| i.issuer.as_str()).collect();
            return Err(format!("--issuer-key {unknown}=...: the mesh checks no such issuer (its issuers: {known:?})"));
        }
        let issuers = LocalIssuers::with_keys(plan.issuers.iter().map(|i| i.issuer.as_str()), &options.issuer_keys);
        let issuers = Arc::new(issuers?);
        let keys: BTreeMap<String, String> =
            plan.issuers.iter().filter_map(|i| Some((i.issuer.clone(), issuers.jwks(&i.issuer)?))).collect();
        let dir = tempfile::Builder::new()
            .prefix("meshc-up-")
            .tempdir()
            .map_err(|e| format!("creating the run directory: {e}"))?;
        let mut mesh = LocalMesh {
            envoys: Vec::new(),
            apps: Vec::new(),
            helpers: Vec::new(),
            rows: Vec::new(),
            gateways: Vec::new(),
            external: Vec::new(),
            sidecars: BTreeMap::new(),
            inbounds: BTreeMap::new(),
            admins: BTreeMap::new(),
            sidecar_proxies: BTreeMap::new(),
            cert_dir: plan.cert_dir.as_ref().map(PathBuf::from),
            issuers,
            sts: None,
            dir,
        };
        let mut rewritten = Vec::new();
        for proxy in &plan.proxies {
            let mut config = configs.remove(&proxy.name).unwrap_or_default();
            let external = rewrite::rewrite(&plan, proxy, &assignment, &mut config)?;
            // A JWKS endpoint is not fetched once the keys are inline.
            let unused = rewrite::use_local_keys(&mut config, &keys);
            mesh.external.extend(external.into_iter().filter(|e| !unused.contains(&e.cluster)));
            let path = mesh.dir.path().join(format!("{}.yaml", proxy.name));
            let text = serde_yaml_ng::to_string(&config).map_err(|e| format!("{}: {e}", proxy.name))?;
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            rewritten.push(path);
        }
        mesh.external.sort_by(|a, b| (&a.cluster, &a.address).cmp(&(&b.cluster, &b.address)));
        mesh.external.dedup();
        mesh.start_sts(&plan, &assignment)?;
        mesh.start_helpers(&plan, out, &assignment)?;
        mesh.start_apps(&plan, out, &assignment, options)?;
        // Gateways last: their first health checks then find the sidecars
        // ready, so a healthy callee is not left out of rotation (or its
        // route's fallback taken) until enough later checks pass.
        let mut proxies: Vec<(usize, (&plan::Proxy, &PathBuf))> =
            plan.proxies.iter().zip(&rewritten).enumerate().collect();
        proxies.sort_by_key(|(_, (proxy, _))| proxy.kind == ProxyKind::Gateway);
        for (index, (proxy, path)) in proxies {
            mesh.start_envoy(proxy, path, index, &assignment, options)?;
        }
        Ok(mesh)
    }

    /// The rewritten configs and logs.
    pub fn run_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Each gateway's listeners: `(gateway-NAME.LISTENER, address)`.
    pub fn gateways(&self) -> &[(String, SocketAddr)] {
        &self.gateways
    }

    /// A gateway's first listener, by the gateway's name.
    pub fn gateway_listener(&self, gateway: &str) -> Option<SocketAddr> {
        let prefix = format!("gateway-{gateway}.");
        self.gateways.iter().find(|(name, _)| name.starts_with(&prefix)).map(|(_, addr)| *addr)
    }

    /// Each sidecar's inbound listener, by service and port name.
    pub fn inbounds(&self) -> &BTreeMap<(String, String), SocketAddr> {
        &self.inbounds
    }

    /// Where a sidecar's outbound listener is, by service.
    pub fn outbound(&self, service: &str) -> Option<SocketAddr> {
        self.sidecars.get(service).copied()
    }

    /// Where a service's sidecar takes requests for its port `port` (mutual TLS, as in the mesh).
    pub fn inbound(&self, service: &str, port: &str) -> Option<SocketAddr> {
        self.inbounds.get(&(service.to_string(), port.to_string())).copied()
    }

    /// Each proxy's admin endpoint, by proxy name.
    pub fn admins(&self) -> &BTreeMap<String, SocketAddr> {
        &self.admins
    }

    /// Each service's sidecar proxy, by service.
    pub fn sidecar_proxies(&self) -> &BTreeMap<String, String> {
        &self.sidecar_proxies
    }

    /// The certificates the proxies read (`meshc certs --cert-dir`), if the build names them.
    pub fn cert_dir(&self) -> Option<&Path> {
        self.cert_dir.as_deref()
    }

    /// Tokens the run's proxies accept, for interactions' `auth`.
    pub fn tokens(&self) -> Arc<LocalIssuers> {
        Arc::clone(&self.issuers)
    }

    /// The run's STS, when some call exchanges tokens.
    pub fn sts(&self) -> Option<&LocalStsHandle> {
        self.sts.as_ref()
    }

    /// Cluster endpoints nothing of the run serves (collectors, rate limit services, external services).
    pub fn external(&self) -> &[External] {
        &self.external
    }

    /// The pids of every process the run started.
    pub fn pids(&self) -> Vec<u32> {
        let apps = self.apps.iter().filter_map(|a| match a {
            RunningApp::Command(p) => Some(p.pid()),
            _ => None,
        });
        self.envoys.iter().map(|(_, p)| p.pid()).chain(apps).collect()
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The table of what runs where, for people.
    pub fn table(&self) -> String {
        let width = |f: fn(&Row) -> &str| self.rows.iter().map(|r| f(r).len()).max().unwrap_or(0);
        // The proxies' listener lists are long: they go last.
        let (kind, name, detail) = (width(|r| r.kind), width(|r| &r.name), width(|r| &r.detail));
        let mut out = String::new();
        for r in &self.rows {
            let _ = writeln!(out, "{:kind$}  {:name$}  {:detail$}  {}", r.kind, r.name, r.detail, r.address);
        }
        out
    }

    /// Stops the proxies first, then apps and helpers; the run directory goes last.
    pub fn stop(self) {}

    /// An Envoy, a `--run` command or an app that has exited since the start.
    pub fn check_running(&mut self) -> Result<(), String> {
        for (name, envoy) in &mut self.envoys {
            if let Some(status) = envoy.exited() {
                return Err(format!("{name} exited ({status}):\n{}", envoy.log_tail()));
            }
        }
        for app in &mut self.apps {
            if let RunningApp::Command(p) = app {
                if let Some(status) = p.exited() {
                    return Err(format!("a --run command exited ({status}):\n{}", p.log_tail()));
                }
            }
        }
        Ok(())
    }

    /// The STS the token exchangers ask: one endpoint per issuer they issue for.
    fn start_sts(&mut self, plan: &Plan, assignment: &Assignment) -> Result<(), String> {
        let Some(port) = assignment.port(&Slot::Sts) else { return Ok(()) };
        let mut issues: Vec<String> = plan.helpers.iter().filter_map(|h| h.issues.clone()).collect();
        issues.sort();
        issues.dedup();
        let detail = format!("STS issuing for {}", issues.join(", "));
        let sts = identity::serve_sts(Arc::clone(&self.issuers), issues, loopback(port))
            .map_err(|e| format!("the local STS: {e}"))?;
        self.rows.push(Row { kind: "helper", name: "local-sts".into(), address: sts.addr().to_string(), detail });
        self.sts = Some(sts);
        Ok(())
    }

    /// A token exchanger's config asks the run's STS for its issuer.
    fn exchanger_config(&self, text: &str, issues: Option<&str>) -> Result<String, String> {
        let (Some(sts), Some(issues)) = (&self.sts, issues) else { return Ok(text.to_string()) };
        let index = sts.index_of(issues).ok_or_else(|| format!("the local STS does not issue for {issues}"))?;
        let mut config: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        config["sts"]["url"] = sts.url(index).into();
        Ok(config.to_string())
    }

    fn start_helpers(&mut self, plan: &Plan, out: &Path, assignment: &Assignment) -> Result<(), String> {
        for helper in plan.helpers.iter().filter(|h| h.service.is_none()) {
            let port = assignment.helper_port(plan, &helper.name).ok_or_else(|| format!("{}: no port", helper.name))?;
            let addr = loopback(port);
            let path = out.join(&helper.config);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let fail = |e: String| format!("{}: {e}", path.display());
            let running = match helper.kind {
                HelperKind::Validator => RunningHelper::Validator(
                    serve_validator(Validator::from_json(&text).map_err(fail)?, addr)
                        .map_err(|e| fail(e.to_string()))?,
                ),
                HelperKind::TokenExchange => {
                    let text = self.exchanger_config(&text, helper.issues.as_deref()).map_err(fail)?;
                    RunningHelper::TokenExchange(
                        serve_token_exchange(TokenExchange::from_json(&text).map_err(fail)?, addr)
                            .map_err(|e| fail(e.to_string()))?,
                    )
                }
                // Served as its service's app.
                HelperKind::Graphql => continue,
            };
            self.helpers.push(running);
            self.rows.push(Row {
                kind: "helper",
                name: helper.name.clone(),
                address: addr.to_string(),
                detail: helper.config.clone(),
            });
        }
        Ok(())
    }

    fn start_apps(
        &mut self,
        plan: &Plan,
        out: &Path,
        assignment: &Assignment,
        options: &UpOptions,
    ) -> Result<(), String> {
        for service in &plan.services {
            let app_port =
                |port: &str| assignment.port(&Slot::App { service: service.name.clone(), port: port.into() });
            let outbound = outbound_addr(plan, &service.name, assignment);
            if let Some(outbound) = outbound {
                self.sidecars.insert(service.name.clone(), outbound);
            }
            for (port, addr) in inbound_addrs(plan, &service.name, assignment) {
                self.inbounds.insert((service.name.clone(), port), addr);
            }
            let Some(first) = service.ports.first() else { continue };
            let first_addr = loopback(app_port(&first.name).unwrap_or_default());
            if let Some(command) = options.commands.get(&service.name) {
                let mut shell = Command::new("sh");
                shell.arg("-c").arg(command).env("PORT", first_addr.port().to_string());
                for port in &service.ports {
                    let var = format!("PORT_{}", port.name.to_uppercase().replace('-', "_"));
                    shell.env(var, app_port(&port.name).unwrap_or_default().to_string());
                }
                if let Some(outbound) = outbound {
                    shell.env("MESHC_OUTBOUND", outbound.to_string());
                }
                let log = self.dir.path().join(format!("app-{}.log", service.name));
                let mut process = Process::spawn(shell, &log).map_err(|e| format!("--run {}: {e}", service.name))?;
                let what = format!("the app of {} (`{command}`)", service.name);
                process::wait_until(&what, READY_TIMEOUT, Some(&mut process), || accepts(first_addr))?;
                let detail = format!("pid {}, `{command}`", process.pid());
                self.apps.push(RunningApp::Command(process));
                self.rows.push(Row {
                    kind: "app",
                    name: service.name.clone(),
                    address: first_addr.to_string(),
                    detail,
                });
                continue;
            }
            let graphql = plan
                .helpers
                .iter()
                .find(|h| h.kind == HelperKind::Graphql && h.service.as_deref() == Some(&service.name));
            if let Some(helper) = graphql {
                let addr = loopback(assignment.helper_port(plan, &helper.name).unwrap_or_default());
                let path = out.join(&helper.config);
                let fail = |e: String| format!("{}: {e}", path.display());
                let text = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
                let mut gateway = GraphqlGateway::from_json(&text).map_err(fail)?;
                if let Some(outbound) = outbound {
                    gateway = gateway.through_proxy(outbound);
                }
                let handle = serve_graphql(gateway, addr).map_err(|e| fail(e.to_string()))?;
                self.apps.push(RunningApp::Graphql(handle));
                self.rows.push(Row {
                    kind: "app",
                    name: service.name.clone(),
                    address: addr.to_string(),
                    detail: format!("GraphQL gateway, {}", helper.config),
                });
                continue;
            }
            let mock_path = out.join(format!("contracts/mocks/{}.json", service.name));
            if mock_path.is_file() {
                let fail = |e: String| format!("{}: {e}", mock_path.display());
                let plan = MockPlan::read(&mock_path).map_err(|e| fail(e.to_string()))?;
                // The mock serves the port its config names (HTTP/1.1 and gRPC on one port).
                let port = service.ports.iter().find(|p| p.number == plan.listen.port).unwrap_or(first);
                let mock = ContractMock::new(plan).map_err(|e| fail(e.to_string()))?;
                let addr = loopback(app_port(&port.name).unwrap_or_default());
                let handle = mock.spawn(addr).map_err(|e| fail(e.to_string()))?;
                self.apps.push(RunningApp::Mock(handle));
                let detail = format!("contract mock, contracts/mocks/{}.json", service.name);
                self.rows.push(Row { kind: "app", name: service.name.clone(), address: addr.to_string(), detail });
                continue;
            }
            let detail = "nothing (pass --run SERVICE=COMMAND)".to_string();
            self.rows.push(Row { kind: "app", name: service.name.clone(), address: first_addr.to_string(), detail });
        }
        Ok(())
    }

    fn start_envoy(
        &mut self,
        proxy: &plan::Proxy,
        config: &Path,
        index: usize,
        assignment: &Assignment,
        options: &UpOptions,
    ) -> Result<(), String> {
        let admin = loopback(assignment.port(&Slot::Admin { proxy: proxy.name.clone() }).unwrap_or_default());
        let mut command = Command::new(&options.envoy);
        command
            .arg("-c")
            .arg(config)
            .args(["--disable-hot-restart", "--concurrency", "1", "-l", "warning"])
            .arg("--base-id")
            .arg(base_id(index).to_string())
            .current_dir(self.dir.path());
        let log = self.dir.path().join(format!("{}.log", proxy.name));
        let mut envoy = Process::spawn(command, &log)
            .map_err(|e| format!("starting {} ({}): {e}", options.envoy.display(), proxy.name))?;
        process::wait_until(&proxy.name, READY_TIMEOUT, Some(&mut envoy), || {
            process::get_status(admin, "/ready").is_ok_and(|s| s == 200)
        })?;
        let mut listeners: Vec<String> = Vec::new();
        for slot in assignment.ports.keys() {
            if let Slot::Listener { proxy: p, name } = slot {
                if *p == proxy.name {
                    let addr = loopback(assignment.port(slot).unwrap_or_default());
                    listeners.push(format!("{name}={addr}"));
                    if proxy.kind == ProxyKind::Gateway {
                        self.gateways.push((format!("{}.{name}", proxy.name), addr));
                    }
                }
            }
        }
        let detail = format!("admin {admin}, pid {}", envoy.pid());
        self.admins.insert(proxy.name.clone(), admin);
        if let (ProxyKind::Sidecar, Some(service)) = (proxy.kind, &proxy.service) {
            self.sidecar_proxies.insert(service.clone(), proxy.name.clone());
        }
        self.rows.push(Row { kind: "proxy", name: proxy.name.clone(), address: listeners.join(" "), detail });
        self.envoys.push((proxy.name.clone(), envoy));
        Ok(())
    }
}

impl Drop for LocalMesh {
    fn drop(&mut self) {
        // Proxies before what they forward to.
        self.envoys.clear();
        self.apps.clear();
        self.helpers.clear();
        self.sts = None;
    }
}

/// Every file a config reads must exist: certificates come from `meshc certs`.
fn check_files(plan: &Plan, out: &Path, configs: &BTreeMap<String, Value>) -> Result<(), String> {
    let mut missing = Vec::new();
    for file in configs.values().flat_map(rewrite::files_read) {
        if !Path::new(&file).is_file() {
            missing.push(file);
        } else if let Some(text) = file.ends_with(".yaml").then(|| std::fs::read_to_string(&file).ok()).flatten() {
            missing.extend(rewrite::files_read_by_sds(&text).into_iter().filter(|f| !Path::new(f).is_file()));
        }
    }
    missing.sort();
    missing.dedup();
    let Some(first) = missing.first() else { return Ok(()) };
    let dir = plan.cert_dir.clone().unwrap_or_else(|| "CERT_DIR".into());
    Err(format!(
        "{} file(s) the configs read are missing, the first {first}; make the certificates and build with them:\n  meshc certs WORKSPACE --cert-dir {dir}\n  meshc build WORKSPACE -o {} --cert-dir {dir}",
        missing.len(),
        out.display()
    ))
}

/// `count` distinct free loopback ports: all bound at once (so none
/// repeats), released just before the run binds them.
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let held: Vec<TcpListener> = (0..count).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    held.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

fn outbound_addr(plan: &Plan, service: &str, assignment: &Assignment) -> Option<SocketAddr> {
    let sidecar = plan.sidecar(service)?;
    let listener = sidecar.listeners.iter().find(|l| l.role == ListenerRole::Outbound)?;
    let slot = Slot::Listener { proxy: sidecar.name.clone(), name: listener.name.clone() };
    assignment.port(&slot).map(loopback)
}

/// A sidecar's inbound listeners, by the port they take requests for.
fn inbound_addrs(plan: &Plan, service: &str, assignment: &Assignment) -> Vec<(String, SocketAddr)> {
    let Some(sidecar) = plan.sidecar(service) else { return Vec::new() };
    let inbound = sidecar.listeners.iter().filter(|l| l.role == ListenerRole::Inbound);
    inbound
        .filter_map(|l| {
            let slot = Slot::Listener { proxy: sidecar.name.clone(), name: l.name.clone() };
            Some((l.port.clone()?, loopback(assignment.port(&slot)?)))
        })
        .collect()
}

/// Envoy's shared-memory id: distinct per proxy and per run.
fn base_id(index: usize) -> u32 {
    (std::process::id() % 100_000) * 100 + u32::try_from(index % 100).unwrap_or(0)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Set by SIGINT and SIGTERM once [`stop_on_signals`] is installed.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set a flag instead of ending the process, so
/// that the run's children are stopped (they are in process groups of
/// their own and do not see the terminal's Ctrl-C). Install it before
/// [`LocalMesh::start`].
pub fn stop_on_signals() {
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

impl LocalMesh {
    /// Waits for SIGINT or SIGTERM (see [`stop_on_signals`]); `Err` when a
    /// process of the run exits first.
    pub fn wait_for_stop_signal(&mut self) -> Result<(), String> {
        while !STOP.load(std::sync::atomic::Ordering::SeqCst) {
            self.check_running()?;
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }
}
