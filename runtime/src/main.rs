//! `meshc-runtime`: the runtime pieces as a command.
//!
//! `meshc-runtime grpc-mock --descriptor FILE.pb --listen 127.0.0.1:PORT --responses FILE.json`
//! serves a descriptor set's methods from JSON templates until killed. It
//! prints `listening on ADDR` first, then one JSON line per request:
//! `{"method": "/pkg.Service/Method", "request": {...}}`.
//!
//! `meshc-runtime validator --rules FILE.json --listen 127.0.0.1:PORT` serves
//! a gateway's request rules as an Envoy ext_authz HTTP service until
//! killed. It prints `listening on ADDR` first, then one JSON line per
//! checked request: `{"method", "path", "route", "verdict", "detail"}`.
//!
//! `meshc-runtime graphql --config FILE.json --listen 127.0.0.1:PORT` serves
//! a GraphQL API's config until killed. It prints `listening on ADDR` first,
//! then one JSON line per `/graphql` request: `{"method", "status",
//! "operation", "operationName", "fields", "calls", "errors", "ms"}`.
//!
//! `meshc-runtime events publish --config event-bus.json --service S --topic T --json EVENT [--header NAME=VALUE]...`
//! publishes one event as service S's producer of topic T (validated, with
//! tracking headers) and prints `{"event_id": ...}` once the broker
//! acknowledged it. `meshc-runtime events tail --config event-bus.json
//! --topic T [--from-start] [--count N]` prints one JSON line per event of
//! T as sent (`{"topic", "subject", "attempt", "headers", "payload"}`)
//! until killed, stdout is closed or N were printed.
//!
//! `meshc-runtime token-exchange --config FILE.json [--listen 127.0.0.1:PORT]`
//! serves an RFC 8693 token exchanger as an Envoy ext_authz HTTP service
//! until killed. It prints `listening on ADDR` first, then one JSON line per
//! decision (never a token): `{"path", "audience", "outcome", "status",
//! "sts_status", "detail", "ms"}`.
//!
//! `meshc-runtime mock --config OUT/contracts/mocks/NAME.json [--listen 127.0.0.1:PORT]`
//! serves a provider's mock until killed: REST and GraphQL over HTTP/1.1 and
//! gRPC over HTTP/2 on the one port, answering from the config's examples or
//! with answers generated from the schemas (`--listen` defaults to a free
//! port). It prints `listening on ADDR` first, then one JSON line per
//! request: `{"protocol", "method", "path", "query", "headers", "body",
//! "operation", "answer", "status"}` (`answer`: the canned answer's
//! interaction id, `"generated"`, or null for a refused request).
//! `meshc-runtime contracts --plan FILE... [--provider HOST:PORT] [--address NAME=HOST:PORT]...
//! [--gateway NAME=HOST:PORT]... [--token-env ISSUER=VAR]... [--states URL] [--event-bus FILE]
//! [--junit FILE] [--json FILE] [--timeout-ms MS]` runs contract
//! plans (`contracts/providers/NAME.json` or `contracts/consumers/NAME.json`)
//! against live providers: `--provider` for every provider, `--address` per
//! provider (a mock, a sidecar), `--gateway` for a gateway's routes (sent as
//! the gateway takes them, with the end user's token of the issuer
//! `--token-env` names the environment variable of). Before each interaction it POSTs
//! `{"consumer", "state"}` to `--states` per provider state. It prints a
//! summary (each failure with its diff, each skip with its reason), writes
//! JUnit XML and the JSON report (`meshc-contract-report/1`) when asked,
//! and exits 0 only when nothing failed.
//!
//! `meshc-runtime health --config OUT/runtime/health.json [--listen 127.0.0.1:PORT]`
//! probes every instance of the config on its schedule until killed and
//! serves `/metrics` (Prometheus) and `/status` (JSON). It prints
//! `listening on ADDR` first, then one JSON line per state change:
//! `{"service", "instance", "version", "from", "to", "probe"}`.
//!
//! `meshc-runtime up OUT [--run SERVICE=COMMAND]...` runs the mesh of a
//! build (`meshc build ... -o OUT --cert-dir D` after `meshc certs`) on
//! 127.0.0.1 with free ports: every proxy in real Envoy (`$MESHC_ENVOY`,
//! else `envoy` on PATH), the helpers, an app behind each sidecar (the
//! command given, with `$PORT` and `$MESHC_OUTBOUND`). It prints each
//! gateway listener's URL and a table of what runs where, then runs until
//! SIGINT or SIGTERM and stops everything it started. With `--contracts
//! [--junit FILE] [--json FILE]` it runs every service consumer's contract
//! plan through the mesh instead (each from its consumer's sidecar), then
//! stops, exiting 0 only when no contract failed. With `--probe
//! [--probe-plan FILE] [--probe-junit FILE] [--sarif FILE]` it runs the
//! penetration probes of `OUT/probes/plan.json` (or FILE) against the mesh
//! instead, exiting 0 only when every probe passed (docs/testing.md). With
//! `--load [--load-plan FILE] [--load-multiple X] [--load-duration D]
//! [--load-json FILE] [--load-svg-dir DIR]` it runs the load tests of
//! `OUT/load/plan.json` (or FILE) against the mesh instead: each target at
//! its declared load, then at X times it (default 2), D each (default
//! 10s), exiting 0 only when every claim held.
//! `--issuer-key ISSUER=FILE` has the issuer sign with that key (PKCS#8
//! PEM, P-256) instead of one made for the run. After the gateways' URLs it
//! prints each sidecar's inbound listener (`sidecar-SERVICE.PORT inbound: ADDR`).
//!
//! `meshc-runtime probe --plan OUT/probes/plan.json --gateway NAME=HOST:PORT...
//! [--service NAME=HOST:PORT]... [--cert-dir DIR] [--token-env ISSUER=VAR]...
//! [--issuer-key ISSUER=FILE]... [--junit FILE] [--sarif FILE]` runs the
//! penetration probes against a running mesh `up` did not start (staging):
//! the same runner and reports as `up --probe`. A probe whose gateway,
//! sidecar, certificates or tokens were not given is skipped with the
//! reason; it exits 1 when a probe found something or could not judge, or
//! when none ran.
//!
//! `meshc-runtime load --plan FILE [--gateway NAME=HOST:PORT]...
//! [--outbound SERVICE=HOST:PORT]... [--admin PROXY=HOST:PORT]...
//! [--sidecar SERVICE=PROXY]... [--token-env ISSUER=VAR]... [--multiple X]
//! [--duration D] [--json FILE] [--svg-dir DIR]` runs a load-test plan
//! against a mesh running elsewhere (staging): the summary table on stdout,
//! the JSON report and a latency plot per target when asked; exit 1 when a
//! claim failed.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use meshc_runtime::contracts::runner::{ContractTestRunner, RunnerOptions};
use meshc_runtime::contracts::{report, GivenTokens, Plan, PlanResult};
use meshc_runtime::contracts::{AnswerUsed, ContractMock, Received};
use meshc_runtime::{
    event_bus, health, local_mesh, serve_graphql, serve_token_exchange, serve_validator, GraphqlGateway, GrpcMock,
    ServedRequest, TokenExchange, Validator, Verdict,
};

#[derive(Parser)]
#[command(name = "meshc-runtime", version, about = "Runtime helpers for testing meshc artifacts")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every unary method of a descriptor set, answering from JSON templates.
    GrpcMock {
        /// A serialized FileDescriptorSet (e.g. `protoc --include_imports --descriptor_set_out`).
        #[arg(long, value_name = "FILE.pb")]
        descriptor: PathBuf,
        /// Loopback address to listen on; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// A JSON object mapping `/pkg.Service/Method` to its response template.
        #[arg(long, value_name = "FILE.json")]
        responses: Option<PathBuf>,
    },
    /// Serve a gateway's request rules as an Envoy ext_authz HTTP service.
    Validator {
        /// The rules file meshc writes (`validation/gateway-NAME.json`).
        #[arg(long, value_name = "FILE.json")]
        rules: PathBuf,
        /// Loopback address to listen on; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Serve a GraphQL API whose root fields are resolved by REST and gRPC upstreams.
    Graphql {
        /// The config meshc writes (`graphql/SERVICE-API.json`).
        #[arg(long, value_name = "FILE.json")]
        config: PathBuf,
        /// Loopback address to listen on; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Run contract plans against live providers; exit 1 when a contract failed.
    Contracts {
        /// A plan meshc writes (`contracts/providers/NAME.json`, `contracts/consumers/NAME.json`); repeatable.
        #[arg(long = "plan", value_name = "FILE", required = true)]
        plans: Vec<PathBuf>,
        /// Where every provider not named by `--address` answers.
        #[arg(long, value_name = "HOST:PORT")]
        provider: Option<String>,
        /// Where one provider answers; repeatable.
        #[arg(long = "address", value_name = "NAME=HOST:PORT")]
        addresses: Vec<String>,
        /// Where a gateway listens: its routes' interactions go through it; repeatable.
        #[arg(long = "gateway", value_name = "NAME=HOST:PORT")]
        gateways: Vec<String>,
        /// The environment variable holding an end-user token of an issuer (its `iss`), for
        /// interactions whose route requires one; repeatable. Never the token itself on the command line.
        #[arg(long = "token-env", value_name = "ISSUER=VAR")]
        token_envs: Vec<String>,
        /// Provider states endpoint: POSTed `{"consumer", "state"}` before each interaction, per state.
        #[arg(long, value_name = "URL")]
        states: Option<String>,
        /// The event bus config message contracts run on (`runtime/event-bus.json`, brokers reachable from here).
        #[arg(long, value_name = "FILE")]
        event_bus: Option<PathBuf>,
        /// Write JUnit XML here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write the JSON report here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// The most one request may take, and how long a provider has to publish an event.
        #[arg(long, value_name = "MS", default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// Probe the spec's health checks and serve the results as Prometheus metrics and JSON.
    Health {
        /// The config meshc writes (`runtime/health.json`).
        #[arg(long, value_name = "FILE.json")]
        config: PathBuf,
        /// Loopback address of `/metrics` and `/status`; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
        listen: SocketAddr,
    },
    /// Publish events or read topics on the event bus (`event-bus.json`).
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Serve a provider's mock from its contract mock config (`contracts/mocks/NAME.json`).
    Mock {
        /// The mock config meshc writes (`contracts/mocks/NAME.json`).
        #[arg(long, value_name = "FILE.json")]
        config: PathBuf,
        /// Loopback address to listen on; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Exchange bearer tokens for audience-scoped ones (RFC 8693) as an Envoy ext_authz HTTP service.
    TokenExchange {
        /// `{"listen", "sts": {"url"}, "audiences", "timeout_ms"}`.
        #[arg(long, value_name = "FILE.json")]
        config: PathBuf,
        /// Overrides the config's `listen` (loopback; port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Run a build's whole mesh on 127.0.0.1 through real Envoy until Ctrl-C.
    Up {
        /// The output of `meshc build` (with `runtime/local-mesh.json`).
        #[arg(value_name = "OUT")]
        out: PathBuf,
        /// The app behind SERVICE's sidecar is this shell command (`$PORT`:
        /// where it listens, `$MESHC_OUTBOUND`: where it sends its calls).
        #[arg(long = "run", value_name = "SERVICE=COMMAND")]
        run: Vec<String>,
        /// Run every service consumer's contract plan through the mesh, then stop; exit 1 when one failed.
        #[arg(long)]
        contracts: bool,
        /// With --contracts: write JUnit XML here.
        #[arg(long, value_name = "FILE", requires = "contracts")]
        junit: Option<PathBuf>,
        /// With --contracts: write the JSON report here.
        #[arg(long, value_name = "FILE", requires = "contracts")]
        json: Option<PathBuf>,
        /// Run the penetration probes (`OUT/probes/plan.json`) against the mesh, then stop; exit 1 on a finding.
        #[arg(long, conflicts_with = "contracts")]
        probe: bool,
        /// With --probe: the plan to run instead (another build's, e.g. the spec's against a weakened mesh).
        #[arg(long, value_name = "FILE", requires = "probe")]
        probe_plan: Option<PathBuf>,
        /// With --probe: write JUnit XML here.
        #[arg(long, value_name = "FILE", requires = "probe")]
        probe_junit: Option<PathBuf>,
        /// With --probe: write a SARIF 2.1.0 log here.
        #[arg(long, value_name = "FILE", requires = "probe")]
        sarif: Option<PathBuf>,
        /// The issuer signs with this key (unencrypted PKCS#8 PEM, P-256) instead of one made for the run; repeatable.
        #[arg(long = "issuer-key", value_name = "ISSUER=FILE")]
        issuer_keys: Vec<String>,
        /// Run the load tests (`OUT/load/plan.json`) against the mesh, then stop; exit 1 when a claim failed.
        #[arg(long, conflicts_with_all = ["contracts", "probe"])]
        load: bool,
        /// With --load: the plan to run instead (another build's).
        #[arg(long, value_name = "FILE", requires = "load")]
        load_plan: Option<PathBuf>,
        /// With --load: the second phase's load, as a multiple of the declared one.
        #[arg(long, value_name = "X", default_value_t = 2.0, requires = "load")]
        load_multiple: f64,
        /// With --load: each phase's length (`10s`, `500ms`, `2m`).
        #[arg(long, value_name = "D", default_value = "10s", requires = "load")]
        load_duration: String,
        /// With --load: write the JSON report here.
        #[arg(long, value_name = "FILE", requires = "load")]
        load_json: Option<PathBuf>,
        /// With --load: write a latency plot (SVG) per target into this directory.
        #[arg(long, value_name = "DIR", requires = "load")]
        load_svg_dir: Option<PathBuf>,
    },
    /// Run the penetration probes against a running mesh (staging); exit 1 on a finding.
    Probe {
        /// The plan meshc writes (`probes/plan.json`).
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        /// Where a gateway listens (plain HTTP); repeatable.
        #[arg(long = "gateway", value_name = "NAME=HOST:PORT")]
        gateways: Vec<String>,
        /// Where a service's sidecar takes mutual TLS; repeatable.
        #[arg(long = "service", value_name = "NAME=HOST:PORT")]
        services: Vec<String>,
        /// The workloads' certificates (`meshc certs --cert-dir`), for the authorization probes.
        #[arg(long, value_name = "DIR")]
        cert_dir: Option<PathBuf>,
        /// The environment variable holding a valid token of an issuer (its `iss`); repeatable.
        /// Probes that must change its claims need the issuer's key instead.
        #[arg(long = "token-env", value_name = "ISSUER=VAR")]
        token_envs: Vec<String>,
        /// A test issuer's signing key (unencrypted PKCS#8 PEM, P-256; `kid`: its RFC 7638 thumbprint); repeatable.
        #[arg(long = "issuer-key", value_name = "ISSUER=FILE")]
        issuer_keys: Vec<String>,
        /// Write JUnit XML here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write a SARIF 2.1.0 log here.
        #[arg(long, value_name = "FILE")]
        sarif: Option<PathBuf>,
    },
    /// Run a load-test plan against a mesh running elsewhere (staging); exit 1 when a claim failed.
    Load {
        /// The plan meshc writes (`load/plan.json`).
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        /// Where a gateway listens; repeatable.
        #[arg(long = "gateway", value_name = "NAME=HOST:PORT")]
        gateways: Vec<String>,
        /// Where a service's calls leave (its sidecar's outbound listener); repeatable.
        #[arg(long = "outbound", value_name = "SERVICE=HOST:PORT")]
        outbounds: Vec<String>,
        /// A proxy's admin endpoint, whose counters are read around each phase; repeatable.
        #[arg(long = "admin", value_name = "PROXY=HOST:PORT")]
        admins: Vec<String>,
        /// The proxy (as `--admin` names it) in front of a service, where requests reaching it are counted.
        #[arg(long = "sidecar", value_name = "SERVICE=PROXY")]
        sidecars: Vec<String>,
        /// The environment variable holding an end-user token of an issuer (its `iss`); repeatable.
        #[arg(long = "token-env", value_name = "ISSUER=VAR")]
        token_envs: Vec<String>,
        /// The second phase's load, as a multiple of the declared one (1: none).
        #[arg(long, value_name = "X", default_value_t = 2.0)]
        multiple: f64,
        /// Each phase's length (`10s`, `500ms`, `2m`).
        #[arg(long, value_name = "D", default_value = "10s")]
        duration: String,
        /// Write the JSON report here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write a latency plot (SVG) per target into this directory.
        #[arg(long, value_name = "DIR")]
        svg_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Publish one event as a service's producer of a topic.
    Publish {
        /// The event bus config meshc writes (`runtime/event-bus.json`).
        #[arg(long, value_name = "FILE.json")]
        config: PathBuf,
        /// The publishing service (its `publishes` entry decides version and subject).
        #[arg(long)]
        service: String,
        #[arg(long)]
        topic: String,
        /// The event, as JSON.
        #[arg(long, value_name = "EVENT")]
        json: String,
        /// Extra headers (`NAME=VALUE`), e.g. for consumers' header filters.
        #[arg(long = "header", value_name = "NAME=VALUE")]
        headers: Vec<String>,
    },
    /// Print a topic's events as JSON lines, as sent, without taking part in any group.
    Tail {
        /// The event bus config meshc writes (`runtime/event-bus.json`).
        #[arg(long, value_name = "FILE.json")]
        config: PathBuf,
        #[arg(long)]
        topic: String,
        /// From the stream's first event (NATS; RabbitMQ keeps no history).
        #[arg(long)]
        from_start: bool,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshc-runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::GrpcMock { descriptor, listen, responses } => grpc_mock(descriptor, listen, responses),
        Command::Validator { rules, listen } => validator(rules, listen),
        Command::Graphql { config, listen } => graphql(config, listen),
        Command::TokenExchange { config, listen } => token_exchange(config, listen),
        Command::Events { command } => events(command),
        Command::Health { config, listen } => health_monitor(config, listen),
        Command::Up {
            out,
            run,
            contracts,
            junit,
            json,
            probe,
            probe_plan,
            probe_junit,
            sarif,
            issuer_keys,
            load,
            load_plan,
            load_multiple,
            load_duration,
            load_json,
            load_svg_dir,
        } => {
            let probes = probe.then_some(ProbeReports { plan: probe_plan, junit: probe_junit, sarif });
            let load = match load {
                true => Some(LoadRun {
                    plan: load_plan,
                    options: load_options(load_multiple, &load_duration)?,
                    json: load_json,
                    svg_dir: load_svg_dir,
                }),
                false => None,
            };
            up(out, run, &issuer_keys, contracts.then_some(Reports { junit, json }), probes, load)
        }
        Command::Probe { plan, gateways, services, cert_dir, token_envs, issuer_keys, junit, sarif } => {
            let addresses = Addresses { gateways, services, cert_dir };
            standalone_probes(&plan, addresses, &token_envs, &issuer_keys, junit, sarif)
        }
        Command::Load {
            plan,
            gateways,
            outbounds,
            admins,
            sidecars,
            token_envs,
            multiple,
            duration,
            json,
            svg_dir,
        } => {
            let endpoints = meshc_runtime::load::Endpoints {
                gateways: addresses("--gateway", &gateways)?,
                outbounds: addresses("--outbound", &outbounds)?,
                admins: addresses("--admin", &admins)?,
                sidecars: pairs("--sidecar", &sidecars)?,
            };
            let tokens = GivenTokens(tokens_from_env(&token_envs)?);
            let loaded = local_mesh::load::read(&plan)?;
            let run = LoadRun { plan: Some(plan), options: load_options(multiple, &duration)?, json, svg_dir };
            let token = |auth: &meshc_runtime::contracts::plan::Auth, _: &str| {
                use meshc_runtime::contracts::TokenSource;
                tokens.token(auth)
            };
            let results = meshc_runtime::load::run(&loaded, &endpoints, &token, &run.options);
            report_load(&loaded, &results, &run)
        }
        Command::Mock { config, listen } => contract_mock(config, listen),
        Command::Contracts {
            plans,
            provider,
            addresses,
            gateways,
            token_envs,
            states,
            event_bus,
            junit,
            json,
            timeout_ms,
        } => {
            let mut options = RunnerOptions {
                provider,
                states,
                timeout: Duration::from_millis(timeout_ms),
                event_bus: event_bus.as_ref().map(load_event_bus).transpose()?,
                ..RunnerOptions::default()
            };
            for address in addresses {
                let (name, target) =
                    address.split_once('=').ok_or_else(|| format!("--address {address:?}: expected NAME=HOST:PORT"))?;
                options.addresses.insert(name.to_string(), target.to_string());
            }
            for gateway in gateways {
                let (name, target) =
                    gateway.split_once('=').ok_or_else(|| format!("--gateway {gateway:?}: expected NAME=HOST:PORT"))?;
                options.gateways.insert(name.to_string(), target.to_string());
            }
            let tokens = GivenTokens(tokens_from_env(&token_envs)?);
            if !tokens.0.is_empty() {
                options.tokens = Some(std::sync::Arc::new(tokens));
            }
            contracts(&plans, options, junit, json)
        }
    }
}

/// `NAME=VALUE` pairs of a repeatable option.
fn pairs(option: &str, entries: &[String]) -> Result<std::collections::BTreeMap<String, String>, String> {
    entries
        .iter()
        .map(|entry| {
            let (name, value) =
                entry.split_once('=').ok_or_else(|| format!("{option} {entry:?}: expected NAME=VALUE"))?;
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

/// `NAME=HOST:PORT` pairs of a repeatable option, resolved.
fn addresses(option: &str, entries: &[String]) -> Result<std::collections::BTreeMap<String, SocketAddr>, String> {
    entries.iter().map(|entry| named_address(option, entry)).collect()
}

/// `10s`, `500ms`, `2m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration; write it like 10s, 500ms or 2m");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        _ => return Err(bad()),
    };
    if duration.is_zero() {
        return Err(bad());
    }
    Ok(duration)
}

fn load_options(multiple: f64, duration: &str) -> Result<meshc_runtime::load::Options, String> {
    if !multiple.is_finite() || multiple <= 0.0 || multiple > 100.0 {
        return Err(format!("the load multiple {multiple} is not between 0 and 100"));
    }
    Ok(meshc_runtime::load::Options { multiple, duration: parse_duration(duration)? })
}

/// What `--load` (and `load`) runs and where it writes its reports.
struct LoadRun {
    plan: Option<PathBuf>,
    options: meshc_runtime::load::Options,
    json: Option<PathBuf>,
    svg_dir: Option<PathBuf>,
}

/// Where `--contracts` writes its reports.
struct Reports {
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
}

/// What `--probe` runs and where it writes its reports.
struct ProbeReports {
    plan: Option<PathBuf>,
    junit: Option<PathBuf>,
    sarif: Option<PathBuf>,
}

/// `--token-env ISSUER=VAR`s: each issuer's token, read from its variable.
fn tokens_from_env(entries: &[String]) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut tokens = std::collections::BTreeMap::new();
    for entry in entries {
        let (issuer, var) =
            entry.rsplit_once('=').ok_or_else(|| format!("--token-env {entry:?}: expected ISSUER=VAR"))?;
        let token = std::env::var(var).map_err(|_| format!("--token-env {issuer}={var}: ${var} is not set"))?;
        tokens.insert(issuer.to_string(), token);
    }
    Ok(tokens)
}

/// `--issuer-key ISSUER=FILE`s: each issuer's key, as the file's bytes.
fn issuer_keys(entries: &[String]) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
    let mut keys = std::collections::BTreeMap::new();
    for entry in entries {
        let (issuer, file) =
            entry.rsplit_once('=').ok_or_else(|| format!("--issuer-key {entry:?}: expected ISSUER=FILE"))?;
        let pem = std::fs::read(file).map_err(|e| format!("--issuer-key {issuer}={file}: {e}"))?;
        keys.insert(issuer.to_string(), pem);
    }
    Ok(keys)
}

/// Where a standalone probe run finds the mesh.
struct Addresses {
    gateways: Vec<String>,
    services: Vec<String>,
    cert_dir: Option<PathBuf>,
}

/// `NAME=HOST:PORT`, the host resolved.
fn named_address(flag: &str, entry: &str) -> Result<(String, SocketAddr), String> {
    use std::net::ToSocketAddrs;
    let (name, target) = entry.split_once('=').ok_or_else(|| format!("{flag} {entry:?}: expected NAME=HOST:PORT"))?;
    let addr = target
        .to_socket_addrs()
        .map_err(|e| format!("{flag} {entry:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{flag} {entry:?}: {target} resolves to no address"))?;
    Ok((name.to_string(), addr))
}

/// `meshc-runtime probe`: the plan against the addresses given, with the
/// tokens given; what they do not cover is skipped, with the reason.
fn standalone_probes(
    plan_path: &std::path::Path,
    given: Addresses,
    token_envs: &[String],
    keys: &[String],
    junit: Option<PathBuf>,
    sarif: Option<PathBuf>,
) -> Result<(), String> {
    use meshc_runtime::probe::{self, tokens::StagingTokens, Target};
    let plan = local_mesh::probes::load(plan_path)?;
    let gateways = addresses("--gateway", &given.gateways)?;
    let services = addresses("--service", &given.services)?;
    // A sidecar's address serves every port of the service the plan probes.
    let inbounds = plan
        .probes
        .iter()
        .filter_map(|p| p.service.as_ref())
        .filter_map(|s| Some(((s.name.clone(), s.port.clone()), *services.get(&s.name)?)))
        .collect();
    let tokens = StagingTokens::new(&issuer_keys(keys)?, tokens_from_env(token_envs)?)?;
    let target = Target { gateways, inbounds, cert_dir: given.cert_dir, tokens: &tokens, skip_unaddressed: true };
    let results = probe::run(&plan, &target);
    report_probes(&plan.mesh, &results, junit, sarif)?;
    // A gate that judged nothing would pass whatever the mesh does.
    let (passed, ..) = probe::report::counts(&results);
    if passed == 0 {
        return Err("no probe ran: give the addresses and tokens the skipped ones name".into());
    }
    Ok(())
}

fn up(
    out: PathBuf,
    run: Vec<String>,
    keys: &[String],
    contracts: Option<Reports>,
    probes: Option<ProbeReports>,
    load: Option<LoadRun>,
) -> Result<(), String> {
    let mut commands = std::collections::BTreeMap::new();
    for entry in run {
        let (service, command) =
            entry.split_once('=').ok_or_else(|| format!("--run {entry:?}: expected SERVICE=COMMAND"))?;
        commands.insert(service.to_string(), command.to_string());
    }
    let envoy = std::env::var_os("MESHC_ENVOY").filter(|v| !v.is_empty()).unwrap_or_else(|| "envoy".into());
    let options = local_mesh::UpOptions { envoy: PathBuf::from(envoy), commands, issuer_keys: issuer_keys(keys)? };
    local_mesh::stop_on_signals();
    let mut mesh = local_mesh::LocalMesh::start(&out, &options)?;
    for (name, addr) in mesh.gateways() {
        println!("{name}: http://{addr}/");
    }
    for ((service, port), addr) in mesh.inbounds() {
        println!("sidecar-{service}.{port} inbound: {addr}");
    }
    print!("{}", mesh.table());
    for external in mesh.external() {
        println!("not run here: {} -> {}", external.cluster, external.address);
    }
    if let Some(reports) = contracts {
        let run = local_mesh::contracts::run_through(&mesh, &out, Duration::from_secs(10));
        drop(mesh);
        let (results, not_run) = run?;
        for skipped in not_run {
            println!("not run: {}: {}", skipped.plan, skipped.reason);
        }
        return report_contracts(&results, reports.junit, reports.json);
    }
    if let Some(reports) = probes {
        let plan_path = reports.plan.unwrap_or_else(|| out.join("probes/plan.json"));
        let plan = local_mesh::probes::load(&plan_path)?;
        let results = local_mesh::probes::run_through(&mesh, &plan);
        drop(mesh);
        return report_probes(&plan.mesh, &results, reports.junit, reports.sarif);
    }
    if let Some(load) = load {
        let plan_path = load.plan.clone().unwrap_or_else(|| out.join("load/plan.json"));
        let plan = local_mesh::load::read(&plan_path)?;
        let results = local_mesh::load::run_through(&mesh, &plan, &load.options);
        drop(mesh);
        return report_load(&plan, &results, &load);
    }
    println!("configs and logs in {}; Ctrl-C stops everything", mesh.run_dir().display());
    let _ = std::io::stdout().flush();
    let result = mesh.wait_for_stop_signal();
    drop(mesh);
    result
}

/// Runs each plan, prints the summary, writes the reports; `Err` when a
/// contract failed.
fn contracts(
    plans: &[PathBuf],
    options: RunnerOptions,
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
) -> Result<(), String> {
    let mut loaded = Vec::new();
    for path in plans {
        loaded.push(Plan::read(path).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let runner = ContractTestRunner::new(options);
    let results: Vec<_> = loaded.iter().map(|plan| runner.run(plan)).collect();
    report_contracts(&results, junit, json)
}

/// Prints the summary, writes the reports; `Err` when a contract failed.
fn report_contracts(results: &[PlanResult], junit: Option<PathBuf>, json: Option<PathBuf>) -> Result<(), String> {
    print!("{}", report::summary(results));
    if let Some(path) = junit {
        std::fs::write(&path, report::junit_xml(results)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = json {
        let text = format!("{:#}\n", report::json_report(results));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let failed: usize = results.iter().map(|r| r.counts().1).sum();
    let total: usize = results.iter().map(|r| r.cases.len()).sum();
    if failed > 0 {
        return Err(format!("{failed} of {total} contracts failed"));
    }
    Ok(())
}

/// Prints the summary, writes the reports; `Err` when a probe found something or could not judge.
fn report_probes(
    mesh: &str,
    results: &[meshc_runtime::probe::ProbeResult],
    junit: Option<PathBuf>,
    sarif: Option<PathBuf>,
) -> Result<(), String> {
    use meshc_runtime::probe::report;
    print!("{}", report::summary(results));
    if let Some(path) = junit {
        std::fs::write(&path, report::junit_xml(mesh, results)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = sarif {
        let text = format!("{:#}\n", report::sarif(results));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let (_, findings, errors, _) = report::counts(results);
    if findings + errors > 0 {
        return Err(format!("{findings} findings, {errors} probes could not judge"));
    }
    Ok(())
}

/// Prints the summary, writes the reports; `Err` when a claim failed or a target could not run.
fn report_load(
    plan: &meshc_runtime::load::plan::LoadPlan,
    results: &[meshc_runtime::load::TargetReport],
    run: &LoadRun,
) -> Result<(), String> {
    use meshc_runtime::load::{report, svg};
    print!("{}", report::summary(results));
    if let Some(path) = &run.json {
        let text = format!("{:#}\n", report::json_report(&plan.mesh, results));
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(dir) = &run.svg_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (result, target) in results.iter().zip(&plan.targets).filter(|(r, _)| !r.phases.is_empty()) {
            let path = dir.join(svg::file_name(&result.id));
            let text = svg::plot(result, &svg::thresholds(target));
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let (_, failed, _) = report::counts(results);
    if failed > 0 {
        return Err(format!("{failed} load-test claims failed"));
    }
    Ok(())
}

fn events(command: EventsCommand) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(async {
        match command {
            EventsCommand::Publish { config, service, topic, json, headers } => {
                let config = load_event_bus(&config)?;
                let event: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| format!("--json: not JSON: {e}"))?;
                let mut extra = event_bus::Headers::new();
                for header in headers {
                    let (name, value) =
                        header.split_once('=').ok_or_else(|| format!("--header {header:?}: expected NAME=VALUE"))?;
                    extra.insert(name.to_string(), value.to_string());
                }
                let bus = event_bus::EventBus::connect(&config, &service).await.map_err(|e| e.to_string())?;
                let id = bus.publish_with_headers(&topic, &event, &extra).await.map_err(|e| e.to_string())?;
                println!("{}", serde_json::json!({ "event_id": id.to_string() }));
                Ok(())
            }
            EventsCommand::Tail { config, topic, from_start, count } => {
                let config = load_event_bus(&config)?;
                let bus = event_bus::EventBus::connect_for_topics(&config, &[topic.as_str()])
                    .await
                    .map_err(|e| e.to_string())?;
                let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
                let _subscription = bus
                    .tail(&topic, from_start, move |event| {
                        let _ = sender.send(event);
                        async {}
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                let mut out = std::io::stdout();
                let mut printed = 0;
                while let Some(event) = events.recv().await {
                    let line = serde_json::json!({
                        "topic": event.topic,
                        "subject": event.subject,
                        "attempt": event.attempt,
                        "headers": event.headers,
                        "payload": event.payload,
                    });
                    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                        return Ok(());
                    }
                    printed += 1;
                    if count.is_some_and(|n| printed >= n) {
                        return Ok(());
                    }
                }
                Ok(())
            }
        }
    })
}

fn load_event_bus(path: &PathBuf) -> Result<std::sync::Arc<event_bus::EventBusConfig>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config = event_bus::EventBusConfig::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(std::sync::Arc::new(config))
}

fn token_exchange(config: PathBuf, listen: Option<SocketAddr>) -> Result<(), String> {
    let text = std::fs::read_to_string(&config).map_err(|e| format!("{}: {e}", config.display()))?;
    let exchanger = TokenExchange::from_json(&text).map_err(|e| format!("{}: {e}", config.display()))?;
    let listen = listen.unwrap_or(exchanger.listen());
    let handle = serve_token_exchange(exchanger, listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    print_requests(
        handle.addr(),
        || handle.take_requests(),
        |exchange| {
            serde_json::json!({
                "path": exchange.path,
                "audience": exchange.audience,
                "outcome": exchange.outcome.as_str(),
                "status": exchange.status,
                "sts_status": exchange.sts_status,
                "detail": exchange.detail,
                "ms": (exchange.duration.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
            })
        },
    )
}

fn health_monitor(config: PathBuf, listen: SocketAddr) -> Result<(), String> {
    let text = std::fs::read_to_string(&config).map_err(|e| format!("{}: {e}", config.display()))?;
    let monitor = health::HealthMonitor::from_json(&text).map_err(|e| format!("{}: {e}", config.display()))?;
    // Queued, and printed after `listening on ADDR` (probes start before it is printed).
    let changes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let queue = std::sync::Arc::clone(&changes);
    let record = move |target: &health::Target, t: &health::Transition| {
        let line = serde_json::json!({
            "service": target.service,
            "instance": target.address,
            "version": target.version,
            "from": t.from,
            "to": t.to,
            "probe": t.probe,
        });
        queue.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    };
    let handle = health::serve_health(monitor, listen, record).map_err(|e| format!("listening on {listen}: {e}"))?;
    let take = || std::mem::take(&mut *changes.lock().unwrap_or_else(|e| e.into_inner()));
    print_requests(handle.addr(), take, serde_json::Value::clone)
}

fn graphql(config: PathBuf, listen: SocketAddr) -> Result<(), String> {
    let text = std::fs::read_to_string(&config).map_err(|e| format!("{}: {e}", config.display()))?;
    let gateway = GraphqlGateway::from_json(&text).map_err(|e| format!("{}: {e}", config.display()))?;
    let handle = serve_graphql(gateway, listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    print_requests(handle.addr(), || handle.take_requests(), served_line)
}

fn served_line(request: &ServedRequest) -> serde_json::Value {
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    let calls: Vec<_> = request
        .calls
        .iter()
        .map(|call| {
            serde_json::json!({
                "field": call.field,
                "upstream": call.upstream,
                "method": call.method,
                "path": call.path,
                "status": call.status,
                "error": call.error,
                "startMs": ms(call.started),
                "ms": ms(call.duration),
            })
        })
        .collect();
    serde_json::json!({
        "method": request.method,
        "status": request.status,
        "operation": request.operation,
        "operationName": request.operation_name,
        "fields": request.root_fields,
        "calls": calls,
        "errors": request.errors,
        "ms": ms(request.duration),
    })
}

fn validator(rules: PathBuf, listen: SocketAddr) -> Result<(), String> {
    let text = std::fs::read_to_string(&rules).map_err(|e| format!("{}: {e}", rules.display()))?;
    let validator = Validator::from_json(&text).map_err(|e| format!("{}: {e}", rules.display()))?;
    let handle = serve_validator(validator, listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    print_requests(
        handle.addr(),
        || handle.take_requests(),
        |request| {
            serde_json::json!({
                "method": request.method,
                "path": request.path_and_query,
                "route": request.route,
                "verdict": if matches!(request.verdict, Verdict::Allow) { "allow" } else { "reject" },
                "detail": request.detail,
            })
        },
    )
}

fn contract_mock(config: PathBuf, listen: SocketAddr) -> Result<(), String> {
    let mock = ContractMock::read(&config).map_err(|e| format!("{}: {e}", config.display()))?;
    let handle = mock.spawn(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    print_requests(handle.addr(), || handle.take_requests(), received_line)
}

fn received_line(request: &Received) -> serde_json::Value {
    let pairs = |pairs: &[(String, String)]| -> Vec<serde_json::Value> {
        pairs.iter().map(|(name, value)| serde_json::json!({ "name": name, "value": value })).collect()
    };
    let protocol = match request.protocol {
        meshc_runtime::contracts::plan::Protocol::Http => "http",
        meshc_runtime::contracts::plan::Protocol::Grpc => "grpc",
        meshc_runtime::contracts::plan::Protocol::Graphql => "graphql",
    };
    let answer = match &request.answer {
        AnswerUsed::Canned(interaction) => serde_json::json!(interaction),
        AnswerUsed::Generated => serde_json::json!("generated"),
        AnswerUsed::Refused => serde_json::Value::Null,
    };
    serde_json::json!({
        "protocol": protocol,
        "method": request.method,
        "path": request.path,
        "query": pairs(&request.query),
        "headers": pairs(&request.headers),
        "body": request.body,
        "operation": request.operation,
        "answer": answer,
        "status": request.status,
    })
}

fn grpc_mock(descriptor: PathBuf, listen: SocketAddr, responses: Option<PathBuf>) -> Result<(), String> {
    let bytes = std::fs::read(&descriptor).map_err(|e| format!("{}: {e}", descriptor.display()))?;
    let mut mock = GrpcMock::from_descriptor_set(&bytes).map_err(|e| format!("{}: {e}", descriptor.display()))?;
    if let Some(path) = responses {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        let serde_json::Value::Object(templates) = json else {
            return Err(format!("{}: expected an object of `/pkg.Service/Method`: template", path.display()));
        };
        for (method, template) in templates {
            mock = mock.try_respond(&method, template).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let handle = mock.spawn(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    let mut seen = 0;
    let new_calls = || {
        let new = handle.calls().split_off(seen);
        seen += new.len();
        new
    };
    print_requests(
        handle.addr(),
        new_calls,
        |(method, request)| serde_json::json!({ "method": method, "request": request }),
    )
}

/// Prints `listening on ADDR`, then every 50 ms one JSON line (`line`) per
/// request that `take` returns, until stdout is closed.
fn print_requests<T>(
    addr: SocketAddr,
    mut take: impl FnMut() -> Vec<T>,
    line: impl Fn(&T) -> serde_json::Value,
) -> Result<(), String> {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        for request in take() {
            if writeln!(out, "{}", line(&request)).and_then(|()| out.flush()).is_err() {
                // stdout closed: nobody is watching any more.
                return Ok(());
            }
        }
    }
}
