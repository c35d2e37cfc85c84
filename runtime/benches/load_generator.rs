//! How many requests per second the load generator sustains (docs/benchmarks.md,
//! "Load generator"): the open-loop generator of `meshc-runtime load`
//! against a minimal hyper HTTP/1.1 server on loopback, at rising rates,
//! 3 s each. A rate is sustained when every request was answered 200 and
//! the throughput reached 98 % of the rate; the generator's own lag behind
//! its schedule and the p99 are printed beside (on a shared machine they
//! measure the neighbours as much as the generator). The server runs on its own thread, the
//! generator on one current-thread runtime, as `meshc-runtime load` does.
//!
//! ```sh
//! cargo bench -p meshc-runtime --bench load_generator
//! MESHC_BENCH_RATES=5000,10000 MESHC_BENCH_SECONDS=5 cargo bench -p meshc-runtime --bench load_generator
//! ```
//!
//! `cargo test --benches` runs one short rate as a smoke test.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use meshc_runtime::load::generator::{open_loop, LoadClient, Schedule, Template};

/// A server answering every request `200 {}` at once, on its own thread.
fn serve() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = service_fn(|_| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"{}"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

struct Outcome {
    rate: f64,
    achieved: f64,
    ok: u64,
    sent: u64,
    p50_ms: f64,
    p99_ms: f64,
    lag_ms: f64,
}

fn run(addr: SocketAddr, rate: f64, seconds: f64) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let template = Template {
        method: "GET".into(),
        path: "/bench".into(),
        authority: "bench".into(),
        headers: Vec::new(),
        body: None,
        grpc: false,
        timeout: Duration::from_secs(5),
    };
    runtime.block_on(async {
        let client = LoadClient::new(addr, None, &template).unwrap();
        let sent = (rate * seconds) as u64;
        let tally = open_loop(Schedule { start: Instant::now(), rate, count: sent }, |_| client.send()).await;
        Outcome {
            rate,
            achieved: tally.answered() as f64 / tally.elapsed.as_secs_f64(),
            ok: tally.statuses.get(&200).copied().unwrap_or(0),
            sent,
            p50_ms: tally.latency.percentile(50.0) as f64 / 1000.0,
            p99_ms: tally.latency.percentile(99.0) as f64 / 1000.0,
            lag_ms: tally.worst_send_lag as f64 / 1000.0,
        }
    })
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let rates: Vec<f64> = match std::env::var("MESHC_BENCH_RATES") {
        Ok(list) => list.split(',').filter_map(|r| r.trim().parse().ok()).collect(),
        Err(_) if benching => vec![1000.0, 2500.0, 5000.0, 7500.0, 10000.0, 15000.0, 20000.0],
        Err(_) => vec![500.0],
    };
    let seconds: f64 = std::env::var("MESHC_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(if benching {
        3.0
    } else {
        0.5
    });
    let addr = serve();
    println!(
        "{:>8} {:>10} {:>8} {:>9} {:>9} {:>9}  sustained",
        "rate", "achieved", "ok %", "p50 ms", "p99 ms", "lag ms"
    );
    let mut best = 0.0;
    for rate in rates {
        let o = run(addr, rate, seconds);
        let sustained = o.ok == o.sent && o.achieved >= 0.98 * o.rate;
        if sustained {
            best = f64::max(best, o.rate);
        }
        println!(
            "{:>8.0} {:>10.0} {:>8.2} {:>9.2} {:>9.2} {:>9.2}  {}",
            o.rate,
            o.achieved,
            100.0 * o.ok as f64 / o.sent.max(1) as f64,
            o.p50_ms,
            o.p99_ms,
            o.lag_ms,
            if sustained { "yes" } else { "no" }
        );
    }
    println!("max sustained: {best:.0} requests/s");
    if !benching {
        assert!(best > 0.0, "the smoke rate was not sustained");
    }
}
