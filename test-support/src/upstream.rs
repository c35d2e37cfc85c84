//! Tiny HTTP/1.1 upstream servers on free 127.0.0.1 ports (std threads
//! only): a named backend that answers with its name, or a responder that
//! decides status, content type, body and delay. Each records the requests
//! it saw.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::http::{find, find_header, http_date, parse_header_lines};
use crate::lock;
use crate::ports::bind_fresh;

/// One request seen by an [`Upstream`]. Header names are lowercased.
#[derive(Clone, Debug)]
pub struct UpstreamRequest {
    pub method: String,
    /// The request target as sent: path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When its head had been read.
    pub arrived: Instant,
    /// When the answer was about to be written (after its delay); `None` until then.
    pub answered: Option<Instant>,
}

impl UpstreamRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What an [`Upstream`] answers one request with.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// How long to wait before answering (a slow backend).
    pub delay: Duration,
}

impl Answer {
    /// `status` with a JSON `body`, at once.
    pub fn json(status: u16, body: impl Into<String>) -> Answer {
        Answer { status, content_type: "application/json", body: body.into(), delay: Duration::ZERO }
    }

    /// The same answer, after `delay`.
    pub fn after(self, delay: Duration) -> Answer {
        Answer { delay, ..self }
    }
}

/// (status, content type, body), at once.
impl From<(u16, &'static str, String)> for Answer {
    fn from((status, content_type, body): (u16, &'static str, String)) -> Answer {
        Answer { status, content_type, body, delay: Duration::ZERO }
    }
}

/// Decides the answer to each request.
pub type Responder = Box<dyn Fn(&UpstreamRequest) -> Answer + Send + Sync>;

struct UpstreamState {
    /// Whether responses carry a `date` header (RFC 9110 origin servers should).
    send_date: bool,
    /// Overrides the default status and `<name> <METHOD> <path>` body.
    responder: Option<Responder>,
    name: String,
    status: u16,
    stop: AtomicBool,
    hits: AtomicUsize,
    requests: Mutex<Vec<UpstreamRequest>>,
    conns: Mutex<Vec<JoinHandle<()>>>,
}

/// A tiny HTTP/1.1 server on a free 127.0.0.1 port (std threads only). It
/// answers every request with `200`, header `x-upstream: <name>` and body
/// `<name> <METHOD> <path>`, keeps connections alive unless asked to close,
/// and records what it saw. Dropping it stops it.
pub struct Upstream {
    port: u16,
    state: Arc<UpstreamState>,
    accept: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn start(name: &str) -> Upstream {
        Self::start_with_status(name, 200)
    }

    /// Like [`Upstream::start`], but answers every request with `status`
    /// (same header and body).
    pub fn start_with_status(name: &str, status: u16) -> Upstream {
        Self::spawn(name, status, true, None)
    }

    /// Like [`Upstream::start`], but without a `date` header, as some origins answer.
    pub fn start_without_date(name: &str) -> Upstream {
        Self::spawn(name, 200, false, None)
    }

    /// Like [`Upstream::start`], but `respond` decides each response's
    /// status, content type and body (a JSON API, say), and a delay.
    pub fn start_responding<A: Into<Answer>>(
        name: &str,
        respond: impl Fn(&UpstreamRequest) -> A + Send + Sync + 'static,
    ) -> Upstream {
        Self::spawn(name, 200, true, Some(Box::new(move |request: &UpstreamRequest| respond(request).into())))
    }

    /// Like [`Upstream::start_responding`] for a JSON API: `respond` gives
    /// the status, the JSON body and how long to wait before answering (the
    /// GraphQL gateway's REST backends, the token exchanger's STS).
    pub fn start_json(
        name: &str,
        respond: impl Fn(&UpstreamRequest) -> (u16, String, Duration) + Send + Sync + 'static,
    ) -> Upstream {
        Self::start_responding(name, move |request: &UpstreamRequest| {
            let (status, body, delay) = respond(request);
            Answer::json(status, body).after(delay)
        })
    }

    /// Like [`Upstream::start`], on `port` (a stopped upstream's, to bring it back).
    pub fn restart_on(name: &str, port: u16) -> Upstream {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("binding the stopped upstream's port again");
        Self::spawn_on(listener, name, 200, true, None)
    }

    fn spawn(name: &str, status: u16, send_date: bool, responder: Option<Responder>) -> Upstream {
        Self::spawn_on(bind_fresh(), name, status, send_date, responder)
    }

    fn spawn_on(
        listener: TcpListener,
        name: &str,
        status: u16,
        send_date: bool,
        responder: Option<Responder>,
    ) -> Upstream {
        let port = listener.local_addr().expect("local_addr").port();
        let state = Arc::new(UpstreamState {
            name: name.to_string(),
            status,
            send_date,
            responder,
            stop: AtomicBool::new(false),
            hits: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
        });
        let st = Arc::clone(&state);
        let accept = thread::Builder::new()
            .name(format!("upstream-{name}-accept"))
            .spawn(move || accept_loop(listener, st))
            .expect("spawning the upstream accept thread");
        Upstream { port, state, accept: Some(accept) }
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, as a config names it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Number of requests answered so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// The requests seen so far, in order.
    pub fn requests(&self) -> Vec<UpstreamRequest> {
        lock(&self.state.requests).clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Unblock the accept() call.
        let _ = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], self.port)), Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        // Connection threads poll the stop flag between reads.
        let conns = std::mem::take(&mut *lock(&self.state.conns));
        for handle in conns {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, st: Arc<UpstreamState>) {
    for conn in listener.incoming() {
        if st.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let st2 = Arc::clone(&st);
        let spawned = thread::Builder::new()
            .name(format!("upstream-{}-conn", st.name))
            .spawn(move || serve_connection(stream, &st2));
        if let Ok(handle) = spawned {
            let mut conns = lock(&st.conns);
            conns.retain(|h| !h.is_finished());
            conns.push(handle);
        }
    }
}

/// Buffered reads from a socket with a short read timeout, giving up when
/// `stop` is set.
struct ConnReader<'a> {
    stream: &'a TcpStream,
    buf: Vec<u8>,
    stop: &'a AtomicBool,
}

impl ConnReader<'_> {
    /// Reads more bytes; `Ok(false)` on EOF, `Err` on error or stop.
    fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 8192];
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Err(io::Error::other("upstream stopping"));
            }
            match (&*self.stream).read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes bytes up to and including `delim`; `None` on EOF/error/stop.
    fn take_through(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, delim) {
                return Some(self.buf.drain(..i + delim.len()).collect());
            }
            if !self.fill().ok()? {
                return None;
            }
        }
    }

    fn take_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().ok()? {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// A chunked body (RFC 9112 §7.1), trailers discarded.
    fn take_chunked(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.take_through(b"\r\n")?;
            let line = String::from_utf8_lossy(&line);
            let size_text = line.trim().split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).ok()?;
            if size == 0 {
                // Trailer section: lines until an empty one.
                loop {
                    let trailer = self.take_through(b"\r\n")?;
                    if trailer == b"\r\n" {
                        return Some(body);
                    }
                }
            }
            body.extend(self.take_exact(size)?);
            self.take_exact(2)?; // CRLF after the chunk data
        }
    }
}

fn serve_connection(stream: TcpStream, st: &UpstreamState) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut reader = ConnReader { stream: &stream, buf: Vec::new(), stop: &st.stop };
    while let Some(head) = reader.take_through(b"\r\n\r\n") {
        let arrived = Instant::now();
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let version = parts.next().unwrap_or("HTTP/1.1").to_string();
        let headers = parse_header_lines(lines);

        let chunked =
            find_header(&headers, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            match reader.take_chunked() {
                Some(b) => b,
                None => break,
            }
        } else {
            let len = find_header(&headers, "content-length").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
            match reader.take_exact(len) {
                Some(b) => b,
                None => break,
            }
        };

        let connection = find_header(&headers, "connection").unwrap_or("").to_ascii_lowercase();
        let close = connection.contains("close") || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
        let is_head = method.eq_ignore_ascii_case("HEAD");
        let request = UpstreamRequest { method, path, headers, body, arrived, answered: None };
        let Answer { status, content_type, body: response_body, delay } = match &st.responder {
            Some(respond) => respond(&request),
            None => (st.status, "text/plain", format!("{} {} {}", st.name, request.method, request.path)).into(),
        };
        // Recorded before the delay, so a test sees a request still waiting.
        let index = {
            let mut requests = lock(&st.requests);
            requests.push(request);
            requests.len() - 1
        };
        thread::sleep(delay);
        lock(&st.requests)[index].answered = Some(Instant::now());
        st.hits.fetch_add(1, Ordering::SeqCst);

        let mut response = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-upstream: {}\r\nserver: upstream-{}\r\n",
            status,
            reason_phrase(status),
            response_body.len(),
            st.name,
            st.name,
        );
        if st.send_date {
            response.push_str(&format!("date: {}\r\n", http_date(std::time::SystemTime::now())));
        }
        if close {
            response.push_str("connection: close\r\n");
        }
        response.push_str("\r\n");
        if !is_head {
            response.push_str(&response_body);
        }
        if (&stream).write_all(response.as_bytes()).and_then(|_| (&stream).flush()).is_err() {
            break;
        }
        if close {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
