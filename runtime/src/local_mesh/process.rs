//! Child processes of a run (Envoys, `--run` commands): each in a process
//! group of its own, so that stopping it stops what it started too; killed
//! and reaped when dropped.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a stopped group has to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

pub struct Process {
    child: Child,
    pub log: PathBuf,
}

impl Process {
    /// Starts `command` with stdout and stderr in `log`, as the leader of a
    /// new process group.
    pub fn spawn(mut command: Command, log: &Path) -> io::Result<Process> {
        let out = File::create(log)?;
        let err = out.try_clone()?;
        let child =
            command.stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err)).process_group(0).spawn()?;
        Ok(Process { child, log: log.to_path_buf() })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of its log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// SIGTERM to the group, SIGKILL after [`GRACE`], then reaps the leader.
    pub fn stop(&mut self) {
        if self.exited().is_none() {
            signal_group(self.pid(), libc::SIGTERM);
            let deadline = Instant::now() + GRACE;
            while self.exited().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
        }
        // Also the group's other members, should the leader be gone already.
        signal_group(self.pid(), libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal_group(leader: u32, signal: libc::c_int) {
    if let Ok(pgid) = libc::pid_t::try_from(leader) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// The status of `GET path` on `addr` (one HTTP/1.1 connection), for
/// readiness checks.
pub fn get_status(addr: SocketAddr, path: &str) -> io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 16];
    let n = stream.read(&mut head)?;
    let text = String::from_utf8_lossy(&head[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP answer: {text:?}")))
}

/// Waits until `ready` holds, `process` (if any) exits, or `timeout` passes.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut process: Option<&mut Process>,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(p) = process.as_deref_mut() {
            if let Some(status) = p.exited() {
                return Err(format!("{what} exited ({status}) before it was ready:\n{}", p.log_tail()));
            }
        }
        if Instant::now() >= deadline {
            let log = process.map(|p| format!(":\n{}", p.log_tail())).unwrap_or_default();
            return Err(format!("{what} was not ready within {} s{log}", timeout.as_secs()));
        }
        thread::sleep(Duration::from_millis(50));
    }
}
