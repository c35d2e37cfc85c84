//! gRPC resolvers: a field's arguments as the method's input message, one
//! unary call over HTTP/2, the output message as JSON.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use apollo_compiler::response::{JsonMap, JsonValue};
use bytes::Bytes;
use prost_reflect::prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, SerializeOptions};
use tonic::Code;

use super::config::Grpc;
use crate::client;

/// One HTTP/2 connection per upstream, shared by concurrent calls and
/// reopened when it closes.
pub(crate) struct Channels {
    open: Mutex<HashMap<String, h2::client::SendRequest<Bytes>>>,
}

impl Channels {
    pub fn new() -> Self {
        Channels { open: Mutex::new(HashMap::new()) }
    }

    /// The connection for `upstream`, made to `connect`.
    async fn connection(&self, upstream: &str, connect: &str) -> Result<h2::client::SendRequest<Bytes>, tonic::Status> {
        let cached = self.open.lock().unwrap_or_else(|e| e.into_inner()).get(upstream).cloned();
        if let Some(connection) = cached {
            if let Ok(ready) = connection.ready().await {
                return Ok(ready);
            }
        }
        let fresh = client::connect(connect).await?;
        self.open.lock().unwrap_or_else(|e| e.into_inner()).insert(upstream.to_string(), fresh.clone());
        Ok(fresh)
    }
}

/// What one gRPC call did.
pub(crate) struct Outcome {
    /// The gRPC status name (`OK`, `NOT_FOUND`), when an answer arrived.
    pub status: Option<String>,
    pub result: Result<JsonValue, String>,
}

/// Calls `grpc` with a field's coerced `arguments` as the input message.
/// The output message is the value: JSON names, default values included,
/// 64-bit integers as strings, enums by name.
pub(crate) async fn call(
    channels: &Channels,
    proxy: Option<SocketAddr>,
    grpc: &Grpc,
    arguments: &JsonMap,
    timeout: Duration,
) -> Outcome {
    let connect = proxy.map_or_else(|| grpc.upstream.clone(), |p| p.to_string());
    let fail = |e: String| format!("{} {}: {e}", grpc.upstream, grpc.path);
    let input = grpc.method.input();
    let message = match DynamicMessage::deserialize_with_options(
        input.clone(),
        JsonValue::Object(arguments.clone()),
        &DeserializeOptions::new(),
    ) {
        Ok(message) => message,
        Err(e) => {
            let message = fail(format!("the arguments are not a valid {}: {e}", input.full_name()));
            return Outcome { status: None, result: Err(message) };
        }
    };
    // Tell the server the deadline too (`m`: milliseconds).
    let deadline = format!("{}m", timeout.as_millis().clamp(1, 99_999_999));
    let exchange = async {
        let connection = channels.connection(&grpc.upstream, &connect).await?;
        let metadata = [("grpc-timeout", deadline.as_str())];
        client::unary(connection, &grpc.upstream, &grpc.path, message.encode_to_vec(), &metadata).await
    };
    let response = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => {
            let message = fail(format!("no answer within {} ms", timeout.as_millis()));
            return Outcome { status: None, result: Err(message) };
        }
        // Below gRPC: no status from the server.
        Ok(Err(failure)) => return Outcome { status: None, result: Err(fail(failure.message().to_string())) },
        Ok(Ok(Err(status))) => {
            let name = code_name(status.code());
            let message = fail(format!("gRPC status {name} ({}): {}", status.code() as i32, status.message()));
            return Outcome { status: Some(name.to_string()), result: Err(message) };
        }
        Ok(Ok(Ok(bytes))) => bytes,
    };
    let output = grpc.method.output();
    let result = DynamicMessage::decode(output.clone(), response)
        .map_err(|e| fail(format!("the response is not a valid {}: {e}", output.full_name())))
        .and_then(|reply| {
            reply
                .serialize_with_options(
                    serde_json::value::Serializer,
                    &SerializeOptions::new().skip_default_fields(false),
                )
                .map(JsonValue::from)
                .map_err(|e| fail(format!("the response as JSON: {e}")))
        });
    Outcome { status: Some(code_name(Code::Ok).to_string()), result }
}

/// The canonical name of a status code, as in `grpc-status` docs.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
