//! A minimal blocking gRPC client: one unary call over plain-text HTTP/2
//! with prior knowledge, JSON in and out.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use prost_reflect::prost::Message;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MethodDescriptor};
use serde_json::Value;
use tonic::{Code, Status};

/// How long one call may take in all.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls the unary method `full_method` (`/pkg.Service/Method`) of the server
/// at `addr` with `request` (protobuf JSON mapping, types from `pool`), and
/// returns the response as JSON (default values omitted).
///
/// A non-OK gRPC status comes back as `Err` with its code and message;
/// failures below gRPC (connect, HTTP/2, non-200 responses) as
/// `UNAVAILABLE` or `INTERNAL`, a call over 10 s as `DEADLINE_EXCEEDED`.
/// Runs on its own thread and runtime, so it may be called from anywhere,
/// async code included.
pub fn call_unary(
    pool: &DescriptorPool,
    addr: SocketAddr,
    full_method: &str,
    request: &Value,
) -> Result<Value, Status> {
    call_unary_with_metadata(pool, addr, full_method, request, &[])
}

/// [`call_unary`] with extra request headers (gRPC metadata), e.g.
/// `("authorization", "Bearer x")`.
pub fn call_unary_with_metadata(
    pool: &DescriptorPool,
    addr: SocketAddr,
    full_method: &str,
    request: &Value,
    metadata: &[(&str, &str)],
) -> Result<Value, Status> {
    let reply = call_unary_message(pool, addr, None, full_method, request, metadata, CALL_TIMEOUT)?;
    serde_json::to_value(&reply).map_err(|e| Status::internal(format!("response as JSON: {e}")))
}

/// [`call_unary_with_metadata`] within `timeout`, returning the response as
/// a dynamic message, so the caller chooses how to show it (the contract
/// runner keeps default values).
/// `authority`: the `:authority` to name (a proxy at `addr` routes by it);
/// `None`: `addr` itself.
pub(crate) fn call_unary_message(
    pool: &DescriptorPool,
    addr: SocketAddr,
    authority: Option<&str>,
    full_method: &str,
    request: &Value,
    metadata: &[(&str, &str)],
    timeout: Duration,
) -> Result<DynamicMessage, Status> {
    let method = find_method(pool, full_method)?;
    let message = DynamicMessage::deserialize_with_options(method.input(), request.clone(), &DeserializeOptions::new())
        .map_err(|e| Status::invalid_argument(format!("request is not a valid {}: {e}", method.input().full_name())))?;
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let target = addr.to_string();
    let authority = authority.unwrap_or(&target);
    let response = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Status::internal(format!("tokio runtime: {e}")))?;
                // Dropping the runtime afterwards closes the connection.
                runtime.block_on(async {
                    let call = async {
                        let connection = connect(&target).await?;
                        unary(connection, authority, &path, message.encode_to_vec(), metadata).await?
                    };
                    tokio::time::timeout(timeout, call)
                        .await
                        .unwrap_or_else(|_| Err(Status::deadline_exceeded(format!("{path} on {addr}: no answer"))))
                })
            })
            .join()
            .unwrap_or_else(|_| Err(Status::internal("the gRPC client thread panicked")))
    })?;
    DynamicMessage::decode(method.output(), response)
        .map_err(|e| Status::internal(format!("response is not a valid {}: {e}", method.output().full_name())))
}

fn find_method(pool: &DescriptorPool, full_method: &str) -> Result<MethodDescriptor, Status> {
    let trimmed = full_method.strip_prefix('/').unwrap_or(full_method);
    trimmed
        .rsplit_once('/')
        .and_then(|(service, method)| pool.get_service_by_name(service)?.methods().find(|m| m.name() == method))
        .ok_or_else(|| Status::invalid_argument(format!("no method {full_method} in the descriptor pool")))
}

/// Opens a plain-text HTTP/2 connection (prior knowledge) to `target`
/// (`host:port`; a host name is resolved now) and drives it in a task on
/// the current tokio runtime. The connection can carry many calls at once
/// ([`unary`]); it closes when every handle is dropped or the runtime ends.
pub(crate) async fn connect(target: &str) -> Result<h2::client::SendRequest<Bytes>, Status> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| Status::unavailable(format!("{what} {target}: {e}"));
    let tcp = tokio::net::TcpStream::connect(target).await.map_err(|e| unavailable("connecting to", &e))?;
    let _ = tcp.set_nodelay(true);
    let (client, connection) =
        h2::client::handshake(tcp).await.map_err(|e| unavailable("HTTP/2 handshake with", &e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// One unary gRPC exchange on `client` (a connection to `target`, see
/// [`connect`]): sends `message` (encoded protobuf) to `path`
/// (`/pkg.Service/Method`) and returns the response message, or the
/// server's non-OK status as the inner `Err`. The outer `Err` is a failure
/// below gRPC, made here: `UNAVAILABLE` (transport) or `INTERNAL` (a
/// non-200 or malformed response).
pub(crate) async fn unary(
    client: h2::client::SendRequest<Bytes>,
    target: &str,
    path: &str,
    message: Vec<u8>,
    metadata: &[(&str, &str)],
) -> Result<Result<Bytes, Status>, Status> {
    unary_limited(client, target, path, message, metadata, usize::MAX).await
}

/// [`unary`], refusing (`RESOURCE_EXHAUSTED`) a response body over `limit`
/// bytes instead of reading on.
pub(crate) async fn unary_limited(
    client: h2::client::SendRequest<Bytes>,
    target: &str,
    path: &str,
    message: Vec<u8>,
    metadata: &[(&str, &str)],
    limit: usize,
) -> Result<Result<Bytes, Status>, Status> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| Status::unavailable(format!("{what} {target}: {e}"));
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(format!("http://{target}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in metadata {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(()).map_err(|e| Status::invalid_argument(format!("request headers: {e}")))?;
    let mut client = client.ready().await.map_err(|e| unavailable("HTTP/2 to", &e))?;
    let (response, mut send) = client.send_request(request, false).map_err(|e| unavailable("sending to", &e))?;
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0); // not compressed
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    send.send_data(Bytes::from(frame), true).map_err(|e| unavailable("sending to", &e))?;

    let response = response.await.map_err(|e| unavailable("response from", &e))?;
    let (head, mut body) = response.into_parts();
    if head.status != http::StatusCode::OK {
        return Err(Status::internal(format!("{path} on {target}: HTTP status {}", head.status)));
    }
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| unavailable("response body from", &e))?;
        if data.len().saturating_add(chunk.len()) > limit {
            return Err(Status::resource_exhausted(format!("{path} on {target}: a response over {limit} bytes")));
        }
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.map_err(|e| unavailable("response trailers from", &e))?;

    // A trailers-only response carries the status in its headers.
    let status = trailers
        .as_ref()
        .and_then(Status::from_header_map)
        .or_else(|| Status::from_header_map(&head.headers))
        .ok_or_else(|| Status::internal(format!("{path} on {target}: response without grpc-status")))?;
    if status.code() != Code::Ok {
        return Ok(Err(status));
    }
    if data.len() < 5 {
        return Err(Status::internal(format!("{path} on {target}: OK without a response message")));
    }
    let compressed = data.get_u8();
    let len = data.get_u32() as usize;
    if compressed != 0 || data.len() != len {
        return Err(Status::internal(format!(
            "{path} on {target}: expected one uncompressed message of {len} bytes, got flag {compressed} and {} bytes",
            data.len()
        )));
    }
    Ok(Ok(data.freeze()))
}
