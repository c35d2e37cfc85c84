//! The plumbing the runtime's servers share: binding a loopback address,
//! serving in a background thread with its own current-thread tokio runtime,
//! and a handle that stops the server when dropped ([`spawn`], used by the
//! gRPC mock); for the HTTP/1.1 services (the request validator, the GraphQL
//! gateway) also the accept loop, the record of answered requests and
//! reading request bodies ([`serve_http`]; HTTP/1.1, or HTTP/2 with prior
//! knowledge on the same port too for the contract mock's REST and gRPC).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::sync::watch;
use tokio::task::LocalSet;

/// A server running in a background thread. Dropping it tells the server to
/// stop and waits for its thread, which then drops its runtime: that closes
/// the port and cancels the tasks still open.
pub(crate) struct Background {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds `addr` before returning (a loopback address, else `InvalidInput`:
/// "`what` listens on loopback addresses only"; port 0 picks a free port),
/// then runs `serve(listener, stopped)` in a thread named `name-PORT` with
/// its own current-thread tokio runtime, on a [`LocalSet`] so that it may
/// spawn tasks that are not `Send`. `serve` is called inside the runtime and
/// is to return once `stopped` turns true.
pub(crate) fn spawn<S, F>(what: &str, name: &'static str, addr: SocketAddr, serve: S) -> io::Result<Background>
where
    S: FnOnce(tokio::net::TcpListener, watch::Receiver<bool>) -> F + Send + 'static,
    F: Future<Output = ()> + 'static,
{
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} listens on loopback addresses only, not {addr}"),
        ));
    }
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (stop, stopped) = watch::channel(false);
    let thread = std::thread::Builder::new().name(format!("{name}-{}", addr.port())).spawn(move || {
        let local = LocalSet::new();
        local.block_on(&runtime, async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => serve(listener, stopped).await,
                Err(e) => eprintln!("{name} on {addr}: {e}"),
            }
        });
        drop(local);
        drop(runtime);
    })?;
    Ok(Background { addr, stop, thread: Some(thread) })
}

/// An HTTP service started by [`serve_http`]: where it listens and the
/// requests it recorded. Dropping it stops the service, closes its port and
/// drops open connections.
pub(crate) struct HttpService<T> {
    server: Background,
    record: Arc<Mutex<Vec<T>>>,
}

impl<T: Clone> HttpService<T> {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// What the handler recorded so far (and not taken), in the order the
    /// answers were made.
    pub(crate) fn requests(&self) -> Vec<T> {
        self.record.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Like [`HttpService::requests`], emptying the record.
    pub(crate) fn take_requests(&self) -> Vec<T> {
        std::mem::take(&mut *self.record.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The HTTP versions a service's connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Versions {
    Http1,
    /// HTTP/1.1, or HTTP/2 with prior knowledge (told apart by the
    /// connection's first bytes), as gRPC clients and Envoy speak it.
    Http1AndHttp2,
}

/// Serves HTTP on `addr` (see [`spawn`] for `what`, `name` and the
/// thread), speaking `versions`, until the service is dropped.
/// `make_handler` builds the handler once, on the serving thread inside its
/// runtime; the handler answers every request of every connection, and what
/// it returns next to the response (if anything) is recorded before the
/// response is sent. Connections (and HTTP/2 streams) run as local tasks,
/// so neither the handler nor its futures need be `Send`.
pub(crate) fn serve_http<T, M, H, F, B>(
    what: &str,
    name: &'static str,
    addr: SocketAddr,
    versions: Versions,
    make_handler: M,
) -> io::Result<HttpService<T>>
where
    T: Send + 'static,
    M: FnOnce() -> H + Send + 'static,
    H: Fn(Request<Incoming>) -> F + 'static,
    F: Future<Output = (Response<B>, Option<T>)> + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let record = Arc::new(Mutex::new(Vec::new()));
    let recording = Arc::clone(&record);
    let server = spawn(what, name, addr, move |listener, stopped| {
        accept(listener, stopped, versions, Rc::new(make_handler()), recording)
    })?;
    Ok(HttpService { server, record })
}

/// Runs HTTP/2 streams as local tasks of the serving thread's [`LocalSet`],
/// so that they need not be `Send`.
#[derive(Clone, Copy)]
struct LocalExecutor;

impl<F: Future<Output = ()> + 'static> hyper::rt::Executor<F> for LocalExecutor {
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}

/// Accepts connections until `stopped` turns true.
async fn accept<T, H, F, B>(
    listener: tokio::net::TcpListener,
    mut stopped: watch::Receiver<bool>,
    versions: Versions,
    handler: Rc<H>,
    record: Arc<Mutex<Vec<T>>>,
) where
    T: 'static,
    H: Fn(Request<Incoming>) -> F + 'static,
    F: Future<Output = (Response<B>, Option<T>)> + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
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
                let (handler, record) = (Rc::clone(&handler), Arc::clone(&record));
                tokio::task::spawn_local(async move {
                    let service = service_fn(move |request| {
                        let answer = handler(request);
                        let record = Arc::clone(&record);
                        async move {
                            let (response, entry) = answer.await;
                            if let Some(entry) = entry {
                                record.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let io = TokioIo::new(stream);
                    match versions {
                        Versions::Http1 => {
                            let _ = http1::Builder::new().serve_connection(io, service).await;
                        }
                        Versions::Http1AndHttp2 => {
                            let _ = auto::Builder::new(LocalExecutor).serve_connection(io, service).await;
                        }
                    }
                });
            }
        }
    }
}

/// The whole request body, at most `limit` bytes; else the status to refuse
/// it with (413 over the limit, 400 when it could not be read) and why.
pub(crate) async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, (StatusCode, String)> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err((StatusCode::PAYLOAD_TOO_LARGE, e.to_string())),
        Err(e) => Err((StatusCode::BAD_REQUEST, e.to_string())),
    }
}

/// A `text/plain` response.
pub(crate) fn plain_text(status: StatusCode, text: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(text.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}
