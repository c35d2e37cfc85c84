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

/// Binds 127.0.0.1:0 until the kernel picks a port this process has not
/// handed out yet, and keeps that listener.
pub(crate) fn bind_fresh() -> TcpListener {
    for _ in 0..1000 {
        let listener = TcpListener::bind(localhost()).expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if lock(handed_out()).insert(port) {
            return listener;
        }
    }
    panic!("could not find a fresh port on 127.0.0.1");
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
