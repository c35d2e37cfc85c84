//! The runtime's test support: what every test shares comes from the
//! `meshc-test-support` crate (re-exported here: ports, the HTTP/1.1 client,
//! upstreams, the real Envoy); this module adds protos compiled with protox
//! and the `meshc-runtime` command as a process.

// Each test module uses only some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Lines};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::Value;

pub use meshc_test_support::*;

// ---------------------------------------------------------------------------
// Protos.

/// The Online Boutique protos (read in place from the shared corpora), with
/// `demo.proto` and its imports compiled.
pub fn boutique() -> protox::Compiler {
    let protos = corpora().join("online-boutique/protos");
    compile(&protos, "demo.proto")
}

/// One `.proto` file written to a temporary directory as `name`, compiled
/// with its imports.
pub fn compile_proto(name: &str, source: &str) -> protox::Compiler {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), source).unwrap();
    compile(dir.path(), name)
}

fn compile(dir: &Path, file: &str) -> protox::Compiler {
    let mut compiler = protox::Compiler::new([dir]).unwrap();
    compiler.include_imports(true);
    compiler.open_file(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    compiler
}

// ---------------------------------------------------------------------------
// The command.

/// `meshc-runtime` (this crate's binary), to be given arguments.
pub fn meshc_runtime() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshc-runtime"))
}

/// A process, killed when the test ends, passing or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `meshc-runtime` subcommand serving: where it listens (its first line,
/// `listening on ADDR`) and the lines it prints after that.
pub struct Serving {
    pub addr: SocketAddr,
    lines: Lines<BufReader<ChildStdout>>,
    /// Dropped last: the process is killed when the test is done with it.
    _process: Killed,
}

impl Serving {
    /// Starts `command` with its stdout piped and reads `listening on ADDR`.
    pub fn start(command: &mut Command) -> Serving {
        let mut process = Killed(command.stdout(Stdio::piped()).spawn().unwrap());
        let mut lines = BufReader::new(process.0.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first.strip_prefix("listening on ").expect(&first).parse().unwrap();
        Serving { addr, lines, _process: process }
    }

    /// The next line it prints, as JSON (one line per request).
    pub fn next_json(&mut self) -> Value {
        serde_json::from_str(&self.lines.next().unwrap().unwrap()).unwrap()
    }
}
