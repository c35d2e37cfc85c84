//! The gRPC mock over real HTTP/2 on 127.0.0.1, with the Online Boutique
//! protos (read in place from shared/corpora).

use crate::support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use meshc_runtime::prost_reflect::DescriptorPool;
use meshc_runtime::{call_unary, call_unary_with_metadata, Code, GrpcMock};
use serde_json::json;
use support::{compile_proto, localhost};

const CONVERT: &str = "/hipstershop.CurrencyService/Convert";

fn boutique() -> DescriptorPool {
    support::boutique().descriptor_pool()
}

#[test]
fn convert_answers_the_template_filled_from_the_request() {
    let pool = boutique();
    let mock = GrpcMock::new(pool.clone())
        .respond(CONVERT, json!({ "currencyCode": "first template, replaced by the next" }))
        .respond(CONVERT, json!({ "currencyCode": "{{toCode}}", "units": 42, "nanos": 5 }))
        .spawn(localhost())
        .unwrap();
    assert!(mock.port() != 0);
    assert_eq!(mock.addr().ip().to_string(), "127.0.0.1");

    let request = json!({ "from": { "currencyCode": "USD", "units": "3", "nanos": 250 }, "toCode": "EUR" });
    let reply = call_unary(&pool, mock.addr(), CONVERT, &request).unwrap();
    // int64 travels as a JSON string in the protobuf JSON mapping.
    assert_eq!(reply, json!({ "currencyCode": "EUR", "units": "42", "nanos": 5 }));

    // A request recorded as sent, in arrival order.
    let second = json!({ "from": { "currencyCode": "JPY" }, "toCode": "CHF" });
    let reply = call_unary(&pool, mock.addr(), CONVERT, &second).unwrap();
    assert_eq!(reply["currencyCode"], "CHF");
    assert_eq!(mock.calls(), vec![(CONVERT.to_string(), request), (CONVERT.to_string(), second)]);
}

#[test]
fn concurrent_calls_are_all_answered_and_recorded() {
    let pool = boutique();
    let mock = GrpcMock::new(pool.clone())
        .respond(CONVERT, json!({ "currencyCode": "{{toCode}}" }))
        .spawn(localhost())
        .unwrap();
    let codes: Vec<String> = (0..16).map(|i| format!("C{i:02}")).collect();
    std::thread::scope(|s| {
        for code in &codes {
            let (pool, addr) = (&pool, mock.addr());
            s.spawn(move || {
                let reply = call_unary(pool, addr, CONVERT, &json!({ "toCode": code })).unwrap();
                assert_eq!(reply, json!({ "currencyCode": code }));
            });
        }
    });
    let mut seen: Vec<String> =
        mock.calls().into_iter().map(|(_, request)| request["toCode"].as_str().unwrap().to_string()).collect();
    seen.sort();
    assert_eq!(seen, codes);
}

#[test]
fn unknown_methods_and_methods_without_template_are_unimplemented() {
    let pool = boutique();
    let mock = GrpcMock::new(pool.clone()).spawn(localhost()).unwrap();

    // Not in the descriptor set: answered by path, without decoding.
    let other = compile_proto(
        "other.proto",
        "syntax = \"proto3\"; package other; service Nope { rpc Call(M) returns (M); } message M { string s = 1; }",
    )
    .descriptor_pool();
    let err = call_unary(&other, mock.addr(), "/other.Nope/Call", &json!({ "s": "x" })).unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    assert!(err.message().contains("/other.Nope/Call"), "{err:?}");

    // In the set, no template: the message names the method.
    let err = call_unary(&pool, mock.addr(), CONVERT, &json!({ "toCode": "EUR" })).unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    assert!(err.message().contains(CONVERT), "{err:?}");

    // Bytes that do not decode as the input type: field 1 (`from`, a
    // message) sent as a varint.
    let mismatched = compile_proto(
        "fake.proto",
        "syntax = \"proto3\"; package hipstershop; service CurrencyService { rpc Convert(R) returns (R); } \
         message R { int32 from = 1; }",
    )
    .descriptor_pool();
    let err = call_unary(&mismatched, mock.addr(), CONVERT, &json!({ "from": 7 })).unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    // Only the request the mock could decode is recorded.
    assert_eq!(mock.calls(), vec![(CONVERT.to_string(), json!({ "toCode": "EUR" }))]);
}

#[test]
fn metadata_reaches_the_server() {
    let pool = boutique();
    let mock = GrpcMock::new(pool.clone()).respond(CONVERT, json!({})).spawn(localhost()).unwrap();
    let reply =
        call_unary_with_metadata(&pool, mock.addr(), CONVERT, &json!({}), &[("x-test", "1"), ("authorization", "a")])
            .unwrap();
    assert_eq!(reply, json!({}));
    assert_eq!(mock.calls(), vec![(CONVERT.to_string(), json!({}))]);
}

#[test]
fn drop_stops_the_server_and_closes_the_port() {
    let pool = boutique();
    let mock = GrpcMock::new(pool.clone()).respond(CONVERT, json!({ "units": 1 })).spawn(localhost()).unwrap();
    let addr = mock.addr();
    assert_eq!(call_unary(&pool, addr, CONVERT, &json!({})).unwrap(), json!({ "units": "1" }));
    // An idle client connection must not keep the server alive.
    let idle = TcpStream::connect(addr).unwrap();

    let started = std::time::Instant::now();
    drop(mock);
    assert!(started.elapsed() < Duration::from_secs(5), "drop took {:?}", started.elapsed());
    let err = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    let err = call_unary(&pool, addr, CONVERT, &json!({})).unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    drop(idle);
}

#[test]
fn serves_plain_text_http2_with_prior_knowledge() {
    let mock = GrpcMock::new(boutique()).spawn(localhost()).unwrap();
    let mut tcp = TcpStream::connect(mock.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Client connection preface, then an empty SETTINGS frame: no TLS, no
    // HTTP/1.1 Upgrade, exactly what Envoy sends to an h2 upstream.
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    tcp.write_all(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]).unwrap();
    let mut header = [0u8; 9];
    tcp.read_exact(&mut header).unwrap();
    // The server's preface is a SETTINGS frame (type 0x4) on stream 0.
    assert_eq!(header[3], 0x4, "first frame {header:?}");
    assert_eq!(&header[5..9], &[0, 0, 0, 0], "stream id {header:?}");

    // HTTP/1.1 is not served: gRPC upstreams are HTTP/2 only.
    let mut h1 = TcpStream::connect(mock.addr()).unwrap();
    h1.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    h1.write_all(b"POST /hipstershop.CurrencyService/Convert HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = h1.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

#[test]
fn spawn_refuses_non_loopback_addresses() {
    let err = GrpcMock::new(boutique()).spawn("0.0.0.0:0".parse().unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
