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
//! `meshc-runtime token-exchange --config FILE.json [--listen 127.0.0.1:PORT]`
//! serves an RFC 8693 token exchanger as an Envoy ext_authz HTTP service
//! until killed. It prints `listening on ADDR` first, then one JSON line per
//! decision (never a token): `{"path", "audience", "outcome", "status",
//! "sts_status", "detail", "ms"}`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use meshc_runtime::{
    serve_graphql, serve_token_exchange, serve_validator, GraphqlGateway, GrpcMock, ServedRequest, TokenExchange,
    Validator, Verdict,
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
    /// Exchange bearer tokens for audience-scoped ones (RFC 8693) as an Envoy ext_authz HTTP service.
    TokenExchange {
        /// `{"listen", "sts": {"url"}, "audiences", "timeout_ms"}`.
        #[arg(long, value_name = "FILE.json")]
        config: PathBuf,
        /// Overrides the config's `listen` (loopback; port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
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
    }
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
