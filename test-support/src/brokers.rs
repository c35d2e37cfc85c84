//! Message brokers for event-bus tests: the shared RabbitMQ on
//! 127.0.0.1:5672 (or `$RABBITMQ_ADDR`), and a TCP [`Relay`] in front of a
//! broker whose connections a test cuts mid-run. A NATS server of the
//! test's own, which restarts and crashes on demand, is
//! [`crate::nats::NatsServer`].

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::lock;
use crate::ports::bind_fresh;

/// The shared RabbitMQ's AMQP address: `$RABBITMQ_ADDR` or 127.0.0.1:5672.
pub fn rabbitmq_addr() -> String {
    std::env::var("RABBITMQ_ADDR").unwrap_or_else(|_| "127.0.0.1:5672".to_string())
}

/// Waits until `addr` accepts TCP connections; panics after `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < timeout, "nothing listens on {addr} after {timeout:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP relay on a free loopback port to `target`: every connection is
/// piped both ways until [`Relay::cut`] closes them all.
pub struct Relay {
    addr: SocketAddr,
    state: Arc<RelayState>,
}

struct RelayState {
    /// Both ends of every open relayed connection.
    open: Mutex<Vec<(TcpStream, TcpStream)>>,
    /// While set, new connections are closed at once.
    refusing: AtomicBool,
    stopped: AtomicBool,
}

impl Relay {
    pub fn start(target: SocketAddr) -> Relay {
        let listener = bind_fresh();
        let addr = listener.local_addr().expect("local_addr");
        let state = Arc::new(RelayState {
            open: Mutex::new(Vec::new()),
            refusing: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&state);
        thread::spawn(move || accept(&listener, target, &accepting));
        Relay { addr, state }
    }

    /// Where clients connect: `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every relayed connection at once and refuses new ones for
    /// `down`; returns how many connections were cut.
    pub fn cut(&self, down: Duration) -> usize {
        self.state.refusing.store(true, Ordering::SeqCst);
        let open = std::mem::take(&mut *lock(&self.state.open));
        for (client, server) in &open {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
        thread::sleep(down);
        self.state.refusing.store(false, Ordering::SeqCst);
        open.len()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for (client, server) in std::mem::take(&mut *lock(&self.state.open)) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

fn accept(listener: &TcpListener, target: SocketAddr, state: &Arc<RelayState>) {
    for client in listener.incoming() {
        if state.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if state.refusing.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(client_read), Ok(server_read), Ok(client_keep), Ok(server_keep)) =
            (client.try_clone(), server.try_clone(), client.try_clone(), server.try_clone())
        else {
            continue;
        };
        lock(&state.open).push((client_keep, server_keep));
        thread::spawn(move || pipe(client_read, server));
        thread::spawn(move || pipe(server_read, client));
    }
}

/// Copies `from` to `to` until either side closes, then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
