//! The open-loop load generator: requests are started on a fixed schedule
//! (request `i` at `start + i / rate`), each in its own task, whether or not
//! earlier ones have been answered, and each one's latency is measured from
//! its *intended* start. A server that stalls therefore shows as the
//! latency of every request scheduled during the stall, instead of holding
//! the next sends back and hiding it (coordinated omission). Connections are
//! kept alive and pooled per client; the pool opens another one whenever
//! every open one is busy, so it grows to what the demand needs, up to
//! [`MAX_IN_FLIGHT`] requests at once per client: past that a request waits
//! for a free slot (its latency still counted from its intended start)
//! instead of a stall turning into a burst of connection attempts that
//! overflows the server's accept backlog.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::histogram::Histogram;

/// Requests one client has in flight at most.
pub const MAX_IN_FLIGHT: usize = 256;

/// When request `index` of a run is due.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    /// Requests per second.
    pub rate: f64,
    pub count: u64,
}

impl Schedule {
    pub fn intended(&self, index: u64) -> Instant {
        self.start + Duration::from_secs_f64(index as f64 / self.rate)
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status (a gRPC status as the HTTP status it maps to); 0: no answer.
    pub status: u16,
    /// Answered by the upstream (`x-envoy-upstream-service-time`), not by a proxy itself.
    pub upstream: bool,
}

impl Answer {
    pub const NONE: Answer = Answer { status: 0, upstream: false };
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Latency from the intended start, in microseconds.
    pub latency: Histogram,
    /// Answers by status (0: no answer: refused, reset, timed out).
    pub statuses: std::collections::BTreeMap<u16, u64>,
    /// 429 and 503 answered by a proxy itself: shed load.
    pub shed: u64,
    /// Unanswered, or 5xx other than shed load.
    pub errors: u64,
    /// From the first intended start to the last answer.
    pub elapsed: Duration,
    /// How late the generator itself was at the worst send (its own lag, in µs).
    pub worst_send_lag: u64,
}

impl Tally {
    fn add(&mut self, answer: Answer, latency: Duration) {
        self.latency.record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        *self.statuses.entry(answer.status).or_default() += 1;
        if matches!(answer.status, 429 | 503) && !answer.upstream {
            self.shed += 1;
        } else if answer.status == 0 || answer.status >= 500 {
            self.errors += 1;
        }
    }

    pub fn answered(&self) -> u64 {
        self.latency.count() - self.statuses.get(&0).copied().unwrap_or(0)
    }

    pub fn count(&self, pred: impl Fn(u16) -> bool) -> u64 {
        self.statuses.iter().filter(|(s, _)| pred(**s)).map(|(_, n)| n).sum()
    }
}

/// Runs `schedule`, calling `send(index)` for each request at its
/// intended time without waiting for earlier ones; returns the tally once
/// every request has ended. Call it inside a tokio runtime.
pub async fn open_loop<F, Fut>(schedule: Schedule, send: F) -> Tally
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut tasks = tokio::task::JoinSet::new();
    let mut worst_lag = Duration::ZERO;
    for index in 0..schedule.count {
        let intended = schedule.intended(index);
        tokio::time::sleep_until(intended.into()).await;
        worst_lag = worst_lag.max(intended.elapsed());
        let request = send(index);
        let tally = Arc::clone(&tally);
        tasks.spawn(async move {
            let answer = request.await;
            let latency = intended.elapsed();
            tally.lock().unwrap_or_else(|e| e.into_inner()).add(answer, latency);
        });
        // Reap finished tasks as we go, so memory follows what is in flight.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let mut tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
    tally.elapsed = schedule.start.elapsed();
    tally.worst_send_lag = u64::try_from(worst_lag.as_micros()).unwrap_or(u64::MAX);
    tally
}

/// Connects every connection to one address (from one source address, if
/// given), whatever the request's authority: the proxy routes by the
/// `Host`/`:authority`, which may name a host no resolver knows.
#[derive(Clone)]
struct FixedConnector {
    addr: SocketAddr,
    source: Option<IpAddr>,
}

impl tower_service::Service<Uri> for FixedConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let (addr, source) = (self.addr, self.source);
        Box::pin(async move {
            let socket =
                if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
            if let Some(source) = source {
                socket.bind(SocketAddr::new(source, 0))?;
            }
            let stream = socket.connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// One client of a run: its connection pool and the request it repeats.
#[derive(Clone)]
pub struct LoadClient {
    client: Client<FixedConnector, Full<Bytes>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    grpc: bool,
    timeout: Duration,
    slots: Arc<tokio::sync::Semaphore>,
}

/// What a client sends.
#[derive(Debug, Clone)]
pub struct Template {
    pub method: String,
    pub path: String,
    /// `Host` (`:authority` over HTTP/2).
    pub authority: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    /// gRPC over HTTP/2 (prior knowledge); else HTTP/1.1.
    pub grpc: bool,
    /// The most one request may take before it counts as unanswered.
    pub timeout: Duration,
}

impl LoadClient {
    /// A client of `addr`, connecting from `source` if given. Call it inside the tokio runtime.
    pub fn new(addr: SocketAddr, source: Option<IpAddr>, template: &Template) -> Result<LoadClient, String> {
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_idle_timeout(Duration::from_secs(30)).pool_max_idle_per_host(usize::MAX);
        if template.grpc {
            builder.http2_only(true);
        }
        let client = builder.build(FixedConnector { addr, source });
        let uri: Uri = format!("http://{}{}", template.authority, template.path)
            .parse()
            .map_err(|e| format!("`{}` with authority `{}`: {e}", template.path, template.authority))?;
        let method = Method::from_bytes(template.method.as_bytes()).map_err(|e| format!("{}: {e}", template.method))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &template.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header `{name}`: {e}"))?;
            let value = HeaderValue::from_str(value).map_err(|e| format!("header `{name}`: {e}"))?;
            headers.append(name, value);
        }
        if template.grpc {
            headers.insert("te", HeaderValue::from_static("trailers"));
        }
        // An empty message: the smallest request any unary method takes.
        let body = match (&template.body, template.grpc) {
            (Some(body), _) => body.clone(),
            (None, true) => Bytes::from_static(&[0, 0, 0, 0, 0]),
            (None, false) => Bytes::new(),
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
        Ok(LoadClient { client, method, uri, headers, body, grpc: template.grpc, timeout: template.timeout, slots })
    }

    /// Sends the request once and reads the whole answer.
    pub fn send(&self) -> impl Future<Output = Answer> + Send + 'static {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let (client, grpc, timeout) = (self.client.clone(), self.grpc, self.timeout);
        let slots = Arc::clone(&self.slots);
        async move {
            let exchange = async {
                let _slot = slots.acquire_owned().await.ok()?;
                let response = client.request(request).await.ok()?;
                let status = response.status().as_u16();
                let upstream = response.headers().contains_key("x-envoy-upstream-service-time");
                let in_headers = grpc_status(response.headers());
                let body = response.into_body().collect().await.ok()?;
                let code = in_headers.or_else(|| body.trailers().and_then(grpc_status));
                let status = match (grpc, code) {
                    (true, Some(code)) if status == 200 => grpc_as_http(code),
                    _ => status,
                };
                Some(Answer { status, upstream })
            };
            tokio::time::timeout(timeout, exchange).await.ok().flatten().unwrap_or(Answer::NONE)
        }
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// A gRPC status as the HTTP status a proxy maps it from (Envoy's table).
fn grpc_as_http(code: u32) -> u16 {
    match code {
        0 => 200,
        3 | 9 | 11 => 400,
        16 => 401,
        7 => 403,
        5 | 12 => 404,
        8 => 429,
        14 => 503,
        4 => 504,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{open_loop, Answer, Schedule};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn the_schedule_spaces_requests_by_the_rate() {
        let start = Instant::now();
        let schedule = Schedule { start, rate: 200.0, count: 10 };
        assert_eq!(schedule.intended(0), start);
        assert_eq!(schedule.intended(3) - start, Duration::from_millis(15));
    }

    /// Open loop: the first request stalls until the last one has been
    /// sent, so a generator that waited for answers before sending would
    /// never finish; the stall shows in the first request's latency only.
    #[test]
    fn a_stalled_answer_does_not_delay_later_sends() {
        let count = 20;
        let (release, stalled) = tokio::sync::watch::channel(false);
        let started = Arc::new(AtomicU64::new(0));
        let tally = runtime().block_on(async {
            let schedule = Schedule { start: Instant::now(), rate: 1000.0, count };
            let run = open_loop(schedule, |index| {
                let started = Arc::clone(&started);
                let mut stalled = stalled.clone();
                let release = release.clone();
                async move {
                    if started.fetch_add(1, Ordering::SeqCst) + 1 == count {
                        let _ = release.send(true);
                    }
                    if index == 0 {
                        let _ = stalled.wait_for(|released| *released).await;
                    }
                    Answer { status: 200, upstream: true }
                }
            });
            tokio::time::timeout(Duration::from_secs(60), run).await.expect("the run ends")
        });
        assert_eq!(tally.latency.count(), count);
        assert_eq!(tally.statuses.get(&200), Some(&count));
        // The stalled request waited for the last send, due 19 ms after it.
        assert!(tally.latency.max() >= 19_000, "max {} µs", tally.latency.max());
    }

    #[test]
    fn shed_counts_only_the_proxys_own_refusals() {
        let tally = runtime().block_on(open_loop(Schedule { start: Instant::now(), rate: 1e6, count: 4 }, |i| {
            let answer = match i {
                0 => Answer { status: 429, upstream: false },
                1 => Answer { status: 503, upstream: false },
                2 => Answer { status: 503, upstream: true },
                _ => Answer::NONE,
            };
            async move { answer }
        }));
        assert_eq!((tally.shed, tally.errors, tally.answered()), (2, 2, 3));
    }
}
