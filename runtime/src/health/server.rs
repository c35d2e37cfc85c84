//! Running the monitor: a task per target on the server's thread, and the
//! HTTP endpoints reading their results.

use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::time::Instant;

use super::config::{HealthMonitor, Target};
use super::probe;
use super::report::{self, TargetReport};
use super::state::Transition;
use crate::http_server::{self, HttpService, Versions};

/// A running monitor. Dropping it stops the probes and the server.
pub struct HealthHandle {
    service: HttpService<()>,
}

impl HealthHandle {
    /// Where `/metrics` and `/status` are served.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }
}

/// Starts probing every target of `monitor` and serves `/metrics` and
/// `/status` on `addr` (loopback; port 0 picks a free port) until the handle
/// is dropped. `on_transition` is called on the monitor's thread for each
/// state change, with the target.
pub fn serve_health(
    monitor: HealthMonitor,
    addr: SocketAddr,
    on_transition: impl Fn(&Target, &Transition) + Send + 'static,
) -> io::Result<HealthHandle> {
    let service = http_server::serve_http("the health monitor", "health", addr, Versions::Http1, move || {
        let reports: Rc<RefCell<Vec<TargetReport>>> =
            Rc::new(RefCell::new(monitor.targets().iter().cloned().map(TargetReport::new).collect()));
        let on_transition = Rc::new(on_transition);
        let http = probe::http_client();
        let started = Instant::now();
        for (index, target) in monitor.targets().iter().cloned().enumerate() {
            let (reports, on_transition, http) = (Rc::clone(&reports), Rc::clone(&on_transition), http.clone());
            tokio::task::spawn_local(async move {
                loop {
                    if !target.jitter.is_zero() {
                        tokio::time::sleep(random_below(target.jitter)).await;
                    }
                    let begun = Instant::now();
                    let result =
                        tokio::time::timeout(target.timeout, probe::run(&target.probe, &target.address, &http))
                            .await
                            .unwrap_or_else(|_| Err(format!("no answer within {} ms", target.timeout.as_millis())));
                    let took = begun.elapsed();
                    let in_start_period = begun.duration_since(started) < target.start_period;
                    let transition = reports.borrow_mut()[index].record(result, took, in_start_period);
                    if let Some(t) = transition {
                        on_transition(&target, &t);
                    }
                    // The interval runs from probe start to probe start; a slow probe delays the next, never overlaps it.
                    tokio::time::sleep_until(begun + target.interval).await;
                }
            });
        }
        move |request: hyper::Request<hyper::body::Incoming>| {
            let response = match request.uri().path() {
                "/metrics" => with_type(report::metrics(&reports.borrow()), "text/plain; version=0.0.4; charset=utf-8"),
                "/status" => with_type(report::status(&reports.borrow()).to_string() + "\n", "application/json"),
                _ => http_server::plain_text(StatusCode::NOT_FOUND, "the health monitor serves /metrics and /status\n"),
            };
            std::future::ready((response, None))
        }
    })?;
    Ok(HealthHandle { service })
}

fn with_type(body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A uniformly spread duration in `0..limit` (std's per-instance random hash keys as the source).
fn random_below(limit: Duration) -> Duration {
    let random = RandomState::new().hash_one(Instant::now());
    let nanos = limit.as_nanos().max(1) as u64;
    Duration::from_nanos(random % nanos)
}
