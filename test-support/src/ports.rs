//! Ports on 127.0.0.1 for servers a test starts: never one this process
//! has handed out before.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Mutex, OnceLock};

use crate::lock;

/// `127.0.0.1:0`: where a server binds to get a free loopback port from the
/// kernel (it reports the port it got).
pub fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Ports handed out by this process; never handed out twice, so a
/// `dead_port()` stays dead and two `free_port()`s never collide.
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Ports below the kernel's ephemeral range (`ip_local_port_range`): the
/// kernel never picks them for a `:0` bind or as an outgoing connection's
/// source port, so one handed out here stays free until the server it is
/// for (Envoy, often on 0.0.0.0) binds it, however many connections other
/// tests of this process open meanwhile. (Ports the kernel picked raced
/// with those: "Address already in use" at Envoy's start.)
fn below_ephemeral() -> std::ops::Range<u16> {
    let first_ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    first_ephemeral.saturating_sub(16384).max(1024)..first_ephemeral
}

/// A listener on 127.0.0.1 at a port this process has not handed out yet,
/// below the ephemeral range and free on every address; kept by the caller.
pub(crate) fn bind_fresh() -> TcpListener {
    let range = below_ephemeral();
    let size = u32::from(range.end - range.start);
    // Start where another test process (another crate's binary) is unlikely to.
    let start = std::process::id().wrapping_mul(7919) % size.max(1);
    for offset in 0..size {
        let port = range.start + ((start + offset) % size) as u16;
        if !lock(handed_out()).insert(port) {
            continue;
        }
        // Free on every address (Envoy binds some listeners to 0.0.0.0), then held on loopback.
        if TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).is_err() {
            continue;
        }
        if let Ok(listener) = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))) {
            return listener;
        }
    }
    panic!("could not find a fresh port on 127.0.0.1 in {range:?}");
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, read,
/// released), for a server that binds it later (Envoy).
pub fn free_port() -> u16 {
    bind_fresh().local_addr().expect("local_addr").port()
}

/// A port on 127.0.0.1 where nothing listens: connections to it are refused.
pub fn dead_port() -> u16 {
    free_port()
}
