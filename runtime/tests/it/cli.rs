//! `meshc-runtime grpc-mock` as a process: descriptor set and responses
//! from files, a request line per call on stdout.

use crate::support;

use std::path::{Path, PathBuf};

use meshc_runtime::call_unary;
use meshc_runtime::prost_reflect::DescriptorPool;
use serde_json::json;
use support::{boutique, meshc_runtime, Serving};

const CONVERT: &str = "/hipstershop.CurrencyService/Convert";

fn descriptor_set(dir: &Path) -> (PathBuf, DescriptorPool) {
    let compiler = boutique();
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

    let mut server = Serving::start(
        meshc_runtime()
            .args(["grpc-mock", "--descriptor"])
            .arg(&descriptor)
            .args(["--listen", "127.0.0.1:0", "--responses"])
            .arg(&responses),
    );
    let addr = server.addr;
    assert!(addr.ip().is_loopback() && addr.port() != 0, "listening on {addr}");

    let request = json!({ "toCode": "EUR" });
    assert_eq!(call_unary(&pool, addr, CONVERT, &request).unwrap(), json!({ "currencyCode": "EUR", "units": "7" }));
    assert_eq!(server.next_json(), json!({ "method": CONVERT, "request": request }));
}

#[test]
fn grpc_mock_rejects_a_bad_responses_file() {
    let dir = tempfile::tempdir().unwrap();
    let (descriptor, _) = descriptor_set(dir.path());
    let responses = dir.path().join("responses.json");
    std::fs::write(&responses, json!({ "/hipstershop.CurrencyService/Convrt": {} }).to_string()).unwrap();
    let out = meshc_runtime()
        .args(["grpc-mock", "--descriptor"])
        .arg(&descriptor)
        .arg("--responses")
        .arg(&responses)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no method `Convrt`") && stderr.contains("Convert"), "{stderr}");

    let out = meshc_runtime().args(["grpc-mock", "--descriptor"]).arg(&responses).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FileDescriptorSet"));
}
