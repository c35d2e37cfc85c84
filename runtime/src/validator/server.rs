//! The validator as an HTTP/1.1 service (hyper), in a background thread.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use super::{Validator, Verdict};

/// Bodies above this are refused with 413 without being checked. Envoy
/// buffers at most `with_request_body.max_request_bytes` (meshc: 1 MiB).
const MAX_BODY_BYTES: usize = 16 << 20;

/// One request the service checked, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRequest {
    pub method: String,
    /// The request target: path and query string.
    pub path_and_query: String,
    /// In arrival order, names lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The route that matched, if any.
    pub route: Option<String>,
    /// Why it was rejected, for rejects.
    pub detail: Option<String>,
    pub verdict: Verdict,
}

/// A running validator service. Dropping it stops the server and closes
/// its port.
pub struct ValidatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for ValidatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorHandle").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl ValidatorHandle {
    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request checked so far (and not taken by
    /// [`ValidatorHandle::take_requests`]), in arrival order. A request is
    /// recorded before its answer is sent.
    pub fn requests(&self) -> Vec<CheckedRequest> {
        self.shared.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Like [`ValidatorHandle::requests`], emptying the record.
    pub fn take_requests(&self) -> Vec<CheckedRequest> {
        std::mem::take(&mut *self.shared.log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for ValidatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Shared {
    validator: Validator,
    log: Mutex<Vec<CheckedRequest>>,
}

/// Serves `validator` as an ext_authz HTTP service on `addr` (a loopback
/// address; port 0 picks a free port): HTTP/1.1, every method and path.
/// Binds before returning, then serves in a background thread with its own
/// current-thread tokio runtime until the handle is dropped.
pub fn serve_validator(validator: Validator, addr: SocketAddr) -> io::Result<ValidatorHandle> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the validator listens on loopback addresses only, not {addr}"),
        ));
    }
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let shared = Arc::new(Shared { validator, log: Mutex::new(Vec::new()) });
    let (stop, stopped) = watch::channel(false);
    let serving = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name(format!("validator-{}", addr.port()))
        .spawn(move || serve(runtime, listener, serving, stopped))?;
    Ok(ValidatorHandle { addr, shared, stop, thread: Some(thread) })
}

/// Accepts connections until `stopped` turns true, then drops the runtime,
/// which closes the listener and cancels open connections.
fn serve(
    runtime: tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    runtime.block_on(async move {
        let addr = listener.local_addr().ok();
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => return eprintln!("validator on {addr:?}: {e}"),
        };
        loop {
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => break,
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => {
                            // Out of file descriptors and the like: back off.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let service = service_fn(move |request| answer(Arc::clone(&shared), request));
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                    });
                }
            }
        }
    });
    drop(runtime);
}

async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let status = if e.is::<http_body_util::LengthLimitError>() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return Ok(plain(status, format!("validator: reading the request body: {e}\n")));
        }
    };
    let method = parts.method.as_str().to_string();
    let path_and_query = parts.uri.path_and_query().map_or_else(|| parts.uri.to_string(), |p| p.as_str().to_string());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let decision = shared.validator.decide(&method, &path_and_query, &headers, &body);
    let response = match &decision.verdict {
        Verdict::Allow => Response::new(Full::new(Bytes::new())),
        Verdict::Reject { status, content_type, body } => {
            let mut response = Response::new(Full::new(Bytes::from(body.clone())));
            *response.status_mut() = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
            if let Ok(value) = content_type.parse() {
                response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
            }
            response
        }
    };
    shared.log.lock().unwrap_or_else(|e| e.into_inner()).push(CheckedRequest {
        method,
        path_and_query,
        headers,
        body: body.to_vec(),
        route: decision.route,
        detail: decision.detail,
        verdict: decision.verdict,
    });
    Ok(response)
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    response
}
