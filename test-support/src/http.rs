//! A minimal HTTP/1.1 client (one request per connection, read to EOF), and
//! the header and framing helpers the upstream servers share with it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response read by [`http_request`]. Header names are lowercased.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(|(k, _)| *k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The body as JSON (panics, showing the body, when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one HTTP/1.1 request to 127.0.0.1:`port` with `Connection: close`
/// and reads the response until EOF. A `Host` header is added unless given.
/// Panics on I/O errors (see [`try_http_request`]).
pub fn http_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request_with_body(port, method, path, headers, b"")
}

/// [`http_request`] with a request body (sent with `Content-Length`).
pub fn http_request_with_body(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    try_http_request(port, method, path, headers, body)
        .unwrap_or_else(|e| panic!("HTTP {method} {path} to 127.0.0.1:{port} failed: {e}"))
}

/// Like [`http_request_with_body`], returning I/O and protocol errors.
pub fn try_http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;

    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        request.push_str(&format!("host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has("connection") {
        request.push_str("connection: close\r\n");
    }
    let wants_length = !body.is_empty() || ["POST", "PUT", "PATCH"].iter().any(|m| method.eq_ignore_ascii_case(m));
    if wants_length && !has("content-length") && !has("transfer-encoding") {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes)?;
    stream.flush()?;

    let mut raw = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset after a complete response still leaves a usable response.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e} (after reading {:?})", String::from_utf8_lossy(&raw)),
                ))
            }
        }
    }
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD"))
}

fn protocol_error(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Parses a complete response (everything read until EOF).
fn parse_response(raw: &[u8], head_request: bool) -> io::Result<HttpResponse> {
    let mut rest = raw;
    loop {
        let end = find(rest, b"\r\n\r\n")
            .ok_or_else(|| protocol_error(format!("incomplete response head: {:?}", String::from_utf8_lossy(raw))))?;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| protocol_error(format!("bad status line {status_line:?}")))?;
        let headers = parse_header_lines(lines);
        if (100..200).contains(&status) && status != 101 {
            continue; // interim response (100 Continue); the real one follows
        }
        let body: Vec<u8> = if head_request || status == 204 || status == 304 {
            Vec::new()
        } else if find_header(&headers, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            decode_chunked(rest)?
        } else if let Some(len) = find_header(&headers, "content-length") {
            let len: usize = len.trim().parse().map_err(|_| protocol_error(format!("bad content-length {len:?}")))?;
            if rest.len() < len {
                return Err(protocol_error(format!(
                    "body shorter than content-length {len}: {:?}",
                    String::from_utf8_lossy(rest)
                )));
            }
            rest[..len].to_vec()
        } else {
            rest.to_vec()
        };
        return Ok(HttpResponse { status, headers, body: String::from_utf8_lossy(&body).into_owned() });
    }
}

fn decode_chunked(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = find(rest, b"\r\n").ok_or_else(|| protocol_error("truncated chunked body".to_string()))?;
        let line = String::from_utf8_lossy(&rest[..eol]).into_owned();
        rest = &rest[eol + 2..];
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| protocol_error(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            return Ok(body); // trailers, if any, are ignored
        }
        if rest.len() < size + 2 {
            return Err(protocol_error("truncated chunk".to_string()));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn parse_header_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as origin servers send in `date`.
pub fn http_date(time: std::time::SystemTime) -> String {
    let secs = time.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month_name =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} GMT", rem / 3600, rem % 3600 / 60, rem % 60)
}
