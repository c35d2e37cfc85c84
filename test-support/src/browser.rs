//! A headless Chromium driven over WebDriver (W3C, JSON over HTTP) through
//! Debian's `chromedriver` (a small HTTP/1.1 exchange of its own, since
//! chromedriver keeps connections open): open pages, run scripts, type into elements, read the browser's console
//! log, take screenshots. The binaries come from `$MESHC_CHROMIUM` and
//! `$MESHC_CHROMEDRIVER`, else `/usr/bin/chromium` and
//! `/usr/bin/chromedriver` (`scripts/test` installs them); when they are
//! missing the test panics, it does not skip.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use crate::ports::free_port;

/// One request to chromedriver, reading the answer by its
/// `content-length` (chromedriver keeps connections open, so reading to
/// the end would wait for its idle timeout): (status, body).
fn exchange(port: u16, method: &str, path: &str, body: &[u8]) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn binary(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found (set ${var}); install it: apt-get install -y chromium chromium-driver (scripts/test does)",
        path.display()
    );
    path
}

/// A Chromium session; the browser and its driver stop on drop.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height` window.
    pub fn start(width: u32, height: u32) -> Browser {
        let chromium = binary("MESHC_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = binary("MESHC_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut browser = Browser { driver, port, session: String::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready = || {
            exchange(port, "GET", "/status", b"")
                .is_ok_and(|(_, body)| serde_json::from_str::<Value>(&body).is_ok_and(|v| v["value"]["ready"] == true))
        };
        while !ready() {
            assert!(Instant::now() < deadline, "chromedriver did not become ready on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"), "--hide-scrollbars"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = browser.command("POST", "/session", Some(&capabilities));
        browser.session =
            created["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {created}")).to_string();
        browser
    }

    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map_or_else(Vec::new, |b| b.to_string().into_bytes());
        let (status, text) =
            exchange(self.port, method, path, &body).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}: {text}"));
        assert!(status == 200, "WebDriver {method} {path} answered {status}: {text}");
        value["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` and waits until the page has loaded.
    pub fn goto(&self, url: &str) {
        self.command("POST", &self.session_path("/url"), Some(&json!({"url": url})));
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.execute("return document.readyState", &[]) != "complete" {
            assert!(Instant::now() < deadline, "{url} did not finish loading");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page and returns its result.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.command("POST", &self.session_path("/execute/sync"), Some(&json!({"script": script, "args": args})))
    }

    /// The element `css` selects first (a WebDriver element reference).
    pub fn find(&self, css: &str) -> Value {
        self.command("POST", &self.session_path("/element"), Some(&json!({"using": "css selector", "value": css})))
    }

    /// Types `text` into `element` as key presses.
    pub fn send_keys(&self, element: &Value, text: &str) {
        let id =
            element.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).expect("an element reference");
        self.command("POST", &self.session_path(&format!("/element/{id}/value")), Some(&json!({"text": text})));
    }

    /// The browser console's entries since the last call (level, message).
    pub fn console(&self) -> Vec<(String, String)> {
        let entries = self.command("POST", &self.session_path("/se/log"), Some(&json!({"type": "browser"})));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| (e["level"].as_str().unwrap_or("").to_string(), e["message"].as_str().unwrap_or("").to_string()))
            .collect()
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", &self.session_path("/screenshot"), None);
        decode_base64(encoded.as_str().expect("a base64 screenshot"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = exchange(self.port, "DELETE", &self.session_path(""), b"");
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (padding and whitespace ignored).
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut n) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}
