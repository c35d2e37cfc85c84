//! Message brokers for event-bus tests: an own NATS server with JetStream
//! (`$MESHC_NATS_SERVER`, else `/usr/sbin/nats-server`) on a free port and
//! a store directory that survives [`NatsProcess::restart`], the shared
//! RabbitMQ on 127.0.0.1:5672 (or `$RABBITMQ_ADDR`), and a TCP [`Relay`] in
//! front of a broker whose connections a test cuts mid-run.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::lock;
use crate::ports::{bind_fresh, free_port};

/// The shared RabbitMQ's AMQP address: `$RABBITMQ_ADDR` or 127.0.0.1:5672.
pub fn rabbitmq_addr() -> String {
    std::env::var("RABBITMQ_ADDR").unwrap_or_else(|_| "127.0.0.1:5672".to_string())
}

/// A name no other test run uses: `prefix-` and 12 hex digits.
pub fn unique_name(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.write_u32(std::process::id());
    format!("{prefix}-{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

/// Waits until `addr` accepts TCP connections; panics after `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < timeout, "nothing listens on {addr} after {timeout:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A `nats-server -js` of this test, killed on drop. Its JetStream store is
/// a temporary directory kept across restarts.
pub struct NatsProcess {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsProcess {
    /// Starts a server on a free loopback port and waits until it listens.
    pub fn start() -> NatsProcess {
        let mut server = NatsProcess { port: free_port(), store: tempfile::tempdir().expect("tempdir"), child: None };
        server.spawn();
        server
    }

    fn binary() -> PathBuf {
        std::env::var_os("MESHC_NATS_SERVER").map_or_else(|| PathBuf::from("/usr/sbin/nats-server"), PathBuf::from)
    }

    fn spawn(&mut self) {
        let child = Command::new(Self::binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", Self::binary().display()));
        self.child = Some(child);
        wait_for_port(self.addr(), Duration::from_secs(10));
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Stops the server as a rolling restart does (SIGTERM: it closes its
    /// connections and writes its state), waits `down`, and starts it again
    /// on the same port with the same store.
    pub fn restart(&mut self, down: Duration) {
        if let Some(mut child) = self.child.take() {
            let terminated = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let start = Instant::now();
            while terminated.as_ref().is_ok_and(|s| s.success()) && start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        thread::sleep(down);
        self.spawn();
    }

    /// Kills the server (SIGKILL: a crash, no state written), waits `down`,
    /// and starts it again on the same port with the same store.
    pub fn crash_and_restart(&mut self, down: Duration) {
        self.kill();
        thread::sleep(down);
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsProcess {
    fn drop(&mut self) {
        self.kill();
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
