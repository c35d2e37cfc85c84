//! What each proxy counted during a run: its admin endpoint's counters
//! (`GET /stats`) before and after, the differences summed by what they
//! mean. Envoy names a counter `cluster.NAME.upstream_rq_retry`,
//! `http.PREFIX.downstream_rq_total`, ...; the run needs them per proxy,
//! not per cluster.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// What a counter means, by the end of its name.
pub const COUNTERS: &[(&str, &str)] = &[
    ("retries", ".upstream_rq_retry"),
    ("pending_overflow", ".upstream_rq_pending_overflow"),
    ("connection_overflow", ".upstream_cx_overflow"),
    ("ejections", ".outlier_detection.ejections_enforced_total"),
    ("rate_limited", ".rate_limited"),
    ("health_checks", ".health_check.attempt"),
];

/// Requests a sidecar's inbound listeners took: what reached its service.
pub const INBOUND: &str = "inbound_requests";

/// Every integer counter and gauge of the proxy at `admin`, by name.
pub fn read(admin: SocketAddr) -> Result<BTreeMap<String, u64>, String> {
    let fail = |e: std::io::Error| format!("the admin endpoint {admin}: {e}");
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_secs(2)).map_err(fail)?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(fail)?;
    write!(stream, "GET /stats HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n").map_err(fail)?;
    let mut raw = Vec::new();
    stream.take(64 << 20).read_to_end(&mut raw).map_err(fail)?;
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok(parse(body))
}

/// `name: value` lines with an integer value (histograms are left out).
pub fn parse(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(": ")?;
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// What changed between two readings, summed by meaning; zeros left out.
pub fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for (name, now) in after {
        let grown = now.saturating_sub(before.get(name).copied().unwrap_or(0));
        if grown == 0 {
            continue;
        }
        if let Some((meaning, _)) = COUNTERS.iter().find(|(_, suffix)| name.ends_with(suffix)) {
            *out.entry(*meaning).or_default() += grown;
        }
        if name.starts_with("http.inbound") && name.ends_with(".downstream_rq_total") {
            *out.entry(INBOUND).or_default() += grown;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{delta, parse, INBOUND};

    #[test]
    fn counters_are_summed_by_meaning() {
        let before = parse("cluster.a.upstream_rq_retry: 1\nhttp.inbound_x_http.downstream_rq_total: 10\n");
        let after = parse(
            "cluster.a.upstream_rq_retry: 4\ncluster.b.upstream_rq_retry: 2\n\
             cluster.a.upstream_rq_pending_overflow: 3\n\
             http.inbound_x_http.downstream_rq_total: 25\nhttp.outbound.downstream_rq_total: 7\n\
             gateway.http_local_rate_limit.rate_limited: 9\ncluster.a.health_check.attempt: 3\n\
             cluster.a.upstream_rq_time: P0(nan,1.0) P25(nan,2.0)\n",
        );
        let d = delta(&before, &after);
        assert_eq!(d.get("retries"), Some(&5));
        assert_eq!(d.get("pending_overflow"), Some(&3));
        assert_eq!(d.get("rate_limited"), Some(&9));
        assert_eq!(d.get(INBOUND), Some(&15));
        assert_eq!(d.get("health_checks"), Some(&3));
        assert_eq!(d.get("ejections"), None);
    }
}
