//! `meshc-runtime grpc-mock` as a process: descriptor set and responses
//! from files, a request line per call on stdout.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use meshc_runtime::call_unary;
use serde_json::{json, Value};

const CONVERT: &str = "/hipstershop.CurrencyService/Convert";

/// Kills the server when the test ends, passing or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn descriptor_set(dir: &Path) -> (std::path::PathBuf, meshc_runtime::prost_reflect::DescriptorPool) {
    let protos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/online-boutique/protos");
    let mut compiler = protox::Compiler::new([protos]).unwrap();
    compiler.include_imports(true);
    compiler.open_file("demo.proto").unwrap();
    let path = dir.join("demo.pb");
    std::fs::write(&path, compiler.encode_file_descriptor_set()).unwrap();
    (path, compiler.descriptor_pool())
}

#[test]
fn grpc_mock_serves_from_files_and_prints_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (descriptor, pool) = descriptor_set(dir.path());
    let responses = dir.path().join("responses.json");
    let templates = json!({ CONVERT: { "currencyCode": "{{toCode}}", "units": 7 } });
    std::fs::write(&responses, templates.to_string()).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_meshc-runtime"))
        .args(["grpc-mock", "--descriptor"])
        .arg(&descriptor)
        .args(["--listen", "127.0.0.1:0", "--responses"])
        .arg(&responses)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr: SocketAddr = first.strip_prefix("listening on ").expect(&first).parse().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{first}");

    let request = json!({ "toCode": "EUR" });
    assert_eq!(call_unary(&pool, addr, CONVERT, &request).unwrap(), json!({ "currencyCode": "EUR", "units": "7" }));
    let logged: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(logged, json!({ "method": CONVERT, "request": request }));
}

#[test]
fn grpc_mock_rejects_a_bad_responses_file() {
    let dir = tempfile::tempdir().unwrap();
    let (descriptor, _) = descriptor_set(dir.path());
    let responses = dir.path().join("responses.json");
    std::fs::write(&responses, json!({ "/hipstershop.CurrencyService/Convrt": {} }).to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meshc-runtime"))
        .args(["grpc-mock", "--descriptor"])
        .arg(&descriptor)
        .arg("--responses")
        .arg(&responses)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no method `Convrt`") && stderr.contains("Convert"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_meshc-runtime"))
        .args(["grpc-mock", "--descriptor"])
        .arg(&responses)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FileDescriptorSet"));
}
