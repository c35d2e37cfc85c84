//! The three probes. Each returns `Err(why)` on failure; the caller bounds
//! it with the check's timeout.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost_reflect::prost::encoding::{decode_varint, encode_varint};

use super::config::Probe;
use crate::client;

/// Most of an HTTP body read (then dropped) or a gRPC answer taken: health answers are small.
const BODY_LIMIT: usize = 64 * 1024;
/// `grpc.health.v1.HealthCheckResponse.ServingStatus` names, by number.
const SERVING_STATUS: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

pub(crate) type ProbeClient = Client<HttpConnector, Empty<Bytes>>;

/// An HTTP/1.1 client for the HTTP probes of one monitor (keep-alive per instance).
pub(crate) fn http_client() -> ProbeClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

pub(crate) async fn run(probe: &Probe, address: &str, http: &ProbeClient) -> Result<(), String> {
    match probe {
        Probe::Http { path, first, last } => http_get(http, address, path, *first..=*last).await,
        Probe::Grpc { service } => grpc_health(address, service).await,
        Probe::Tcp => tokio::net::TcpStream::connect(address).await.map(drop).map_err(|e| format!("connect: {e}")),
    }
}

async fn http_get(
    http: &ProbeClient,
    address: &str,
    path: &str,
    accepted: std::ops::RangeInclusive<u16>,
) -> Result<(), String> {
    let request = http::Request::get(format!("http://{address}{path}"))
        .header(http::header::USER_AGENT, "meshc-health/1")
        .body(Empty::new())
        .map_err(|e| format!("request: {e}"))?;
    let response = http.request(request).await.map_err(|e| crate::http_client::error_chain(&e))?;
    let status = response.status().as_u16();
    // Read (a bounded part of) the body so the connection can serve the next probe.
    let _ = Limited::new(response.into_body(), BODY_LIMIT).collect().await;
    if accepted.contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP status {status}, expected {} to {}", accepted.start(), accepted.end()))
    }
}

/// `grpc.health.v1.Health/Check` over h2c; passes when the answer is SERVING.
async fn grpc_health(address: &str, service: &str) -> Result<(), String> {
    let connection = client::connect(address).await.map_err(|s| s.message().to_string())?;
    let path = "/grpc.health.v1.Health/Check";
    let answer = client::unary_limited(connection, address, path, check_request(service), &[], BODY_LIMIT)
        .await
        .map_err(|s| s.message().to_string())?;
    let message = answer.map_err(|s| format!("gRPC status {:?}: {}", s.code(), s.message()))?;
    match serving_status(message)? {
        1 => Ok(()),
        n => Err(format!("{} ({n})", SERVING_STATUS.get(n as usize).copied().unwrap_or("an unknown status"))),
    }
}

/// `HealthCheckRequest { string service = 1; }`, encoded.
fn check_request(service: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(service.len() + 6);
    if !service.is_empty() {
        out.push(0x0a); // field 1, length-delimited
        encode_varint(service.len() as u64, &mut out);
        out.extend_from_slice(service.as_bytes());
    }
    out
}

/// Field 1 (`ServingStatus status`) of a `HealthCheckResponse`; 0 when absent.
fn serving_status(mut message: Bytes) -> Result<u64, String> {
    let malformed = |e: &dyn std::fmt::Display| format!("malformed HealthCheckResponse: {e}");
    let mut status = 0;
    while !message.is_empty() {
        let key = decode_varint(&mut message).map_err(|e| malformed(&e))?;
        match key & 7 {
            0 => {
                let value = decode_varint(&mut message).map_err(|e| malformed(&e))?;
                if key >> 3 == 1 {
                    status = value;
                }
            }
            1 | 5 => {
                let width = if key & 7 == 1 { 8 } else { 4 };
                if message.len() < width {
                    return Err(malformed(&"truncated"));
                }
                let _ = message.split_to(width);
            }
            2 => {
                let len = decode_varint(&mut message).map_err(|e| malformed(&e))?;
                if (message.len() as u64) < len {
                    return Err(malformed(&"truncated"));
                }
                let _ = message.split_to(len as usize);
            }
            other => return Err(malformed(&format!("wire type {other}"))),
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_service_and_the_answer_gives_its_status() {
        assert_eq!(check_request(""), Vec::<u8>::new());
        assert_eq!(check_request("a.B"), vec![0x0a, 3, b'a', b'.', b'B']);
        assert_eq!(serving_status(Bytes::from_static(&[0x08, 1])), Ok(1));
        assert_eq!(serving_status(Bytes::new()), Ok(0));
        // Unknown fields are skipped.
        assert_eq!(serving_status(Bytes::from_static(&[0x12, 1, b'x', 0x08, 2])), Ok(2));
        assert!(serving_status(Bytes::from_static(&[0x12, 5, b'x'])).is_err());
    }
}
