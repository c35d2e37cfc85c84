//! Requests as bytes: a probe writes exactly what it means to send
//! (conflicting lengths, control characters, duplicate headers), which an
//! HTTP client would refuse or normalise, over plain TCP or mutual TLS.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How long one exchange may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Answers are read up to this size (a probe reads statuses and headers).
const MAX_ANSWER: usize = 1 << 20;

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP response: its status and headers (names lower-cased).
    Response { status: u16, headers: Vec<(String, String)> },
    /// The connection was refused, reset or closed without a response.
    Refused(String),
}

impl Answer {
    /// Whether the response came from an upstream (Envoy's router adds
    /// `x-envoy-upstream-service-time` to those, never to its own replies;
    /// a request validator's rejection, which Envoy passes on with the
    /// validator's headers, says `x-meshc-validator`).
    pub fn from_upstream(&self) -> bool {
        match self {
            Answer::Response { headers, .. } => {
                let has = |name: &str| headers.iter().any(|(n, _)| n == name);
                has("x-envoy-upstream-service-time") && !has("x-meshc-validator")
            }
            Answer::Refused(_) => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Response { status, .. } => Some(*status),
            Answer::Refused(_) => None,
        }
    }

    /// `403 (local)`, `200 (from the upstream)`, `refused: ...`.
    pub fn describe(&self) -> String {
        match self {
            Answer::Response { status, .. } if self.from_upstream() => format!("{status} from the upstream"),
            Answer::Response { status, .. } => format!("{status} from the proxy"),
            Answer::Refused(why) => format!("refused ({why})"),
        }
    }
}

/// A request line, headers (in order, as given) and body, with
/// `Content-Length` added for a body unless `raw_framing` (the headers frame it).
pub fn request_bytes(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    raw_framing: bool,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let (Some(body), false) = (body, raw_framing) {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(body.unwrap_or_default());
    out
}

/// Sends `bytes` over a new connection (from `source`'s address if given) and reads the answer.
pub fn exchange(addr: SocketAddr, source: Option<std::net::Ipv4Addr>, bytes: &[u8]) -> Answer {
    let stream = match connect(addr, source) {
        Ok(stream) => stream,
        Err(e) => return Answer::Refused(format!("connecting: {e}")),
    };
    talk(stream, bytes)
}

fn connect(addr: SocketAddr, source: Option<std::net::Ipv4Addr>) -> io::Result<TcpStream> {
    let stream = match source {
        None => TcpStream::connect_timeout(&addr, TIMEOUT)?,
        Some(ip) => {
            // A socket bound to another loopback address: another client to the proxy.
            let socket = socket_from(ip)?;
            let stream = TcpStream::from(socket);
            connect_from(&stream, addr)?;
            stream
        }
    };
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

fn socket_from(ip: std::net::Ipv4Addr) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: socket(2) returns a new descriptor we own, or -1.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor nothing else owns.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let address = sockaddr(SocketAddr::from((ip, 0)));
    // SAFETY: `address` is a valid sockaddr_in of the size passed.
    let bound = unsafe {
        libc::bind(fd, std::ptr::addr_of!(address).cast(), std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
    };
    if bound != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

fn connect_from(stream: &TcpStream, addr: SocketAddr) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let address = sockaddr(addr);
    // SAFETY: a valid descriptor and sockaddr_in of the size passed; a blocking connect.
    let connected = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            std::ptr::addr_of!(address).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if connected != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr(addr: SocketAddr) -> libc::sockaddr_in {
    let ip = match addr {
        SocketAddr::V4(v4) => *v4.ip(),
        SocketAddr::V6(_) => std::net::Ipv4Addr::LOCALHOST,
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    }
}

/// Writes, then reads to the end (the request asked to close).
fn talk(mut stream: impl Read + Write, bytes: &[u8]) -> Answer {
    // A proxy may answer and close before the whole request is written (an
    // oversized body): what it answered counts, not the broken pipe.
    let written = stream.write_all(bytes).and_then(|()| stream.flush());
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.len() > MAX_ANSWER || head_complete(&answer) {
                    break;
                }
            }
            Err(e) => {
                if answer.is_empty() {
                    let why = written.err().map_or_else(|| e.to_string(), |w| format!("{w}; {e}"));
                    return Answer::Refused(why);
                }
                break;
            }
        }
    }
    parse(&answer).unwrap_or_else(|| Answer::Refused("closed without an HTTP response".into()))
}

fn head_complete(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"\r\n\r\n")
}

/// The status and headers of a response's head.
fn parse(bytes: &[u8]) -> Option<Answer> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    // A refused gRPC request is an HTTP 200 with a gRPC status: read it as
    // the HTTP status it stands for (gRPC's HTTP mapping, reversed).
    let grpc = headers.iter().find(|(n, _)| n == "grpc-status").and_then(|(_, v)| v.parse::<u8>().ok());
    let status = match (status, grpc) {
        (200, Some(16)) => 401,
        (200, Some(7)) => 403,
        (200, Some(3)) => 400,
        (200, Some(8)) => 429,
        (200, Some(12)) => 404,
        (200, Some(14)) => 503,
        (200, Some(n)) if n != 0 => 500,
        _ => status,
    };
    Some(Answer::Response { status, headers })
}

/// Mutual TLS as a workload: its certificate and key from `cert_dir`
/// (`NAME.pem`, `NAME-key.pem`, as `meshc certs` writes them), or none.
pub struct Tls {
    config: Arc<ClientConfig>,
}

impl Tls {
    /// `workload`: `Some(NAME)` presents NAME's certificate; `None` presents none.
    pub fn new(cert_dir: &Path, workload: Option<&str>) -> Result<Tls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = cert_dir.join("ca.pem");
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&ca).map_err(|e| format!("{}: {e}", ca.display()))? {
            roots
                .add(cert.map_err(|e| format!("{}: {e}", ca.display()))?)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| format!("the mesh's trust: {e}"))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(MeshServer { inner }));
        let mut config = match workload {
            Some(name) => {
                let cert_path = cert_dir.join(format!("{name}.pem"));
                let key_path = cert_dir.join(format!("{name}-key.pem"));
                let certs = CertificateDer::pem_file_iter(&cert_path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("{}: {e}", cert_path.display()))?;
                let key =
                    PrivateKeyDer::from_pem_file(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
                builder.with_client_auth_cert(certs, key).map_err(|e| format!("{}: {e}", cert_path.display()))?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { config: Arc::new(config) })
    }

    /// Sends `bytes` over a new TLS connection to `addr`.
    pub fn exchange(&self, addr: SocketAddr, bytes: &[u8]) -> Answer {
        let stream = match connect(addr, None) {
            Ok(stream) => stream,
            Err(e) => return Answer::Refused(format!("connecting: {e}")),
        };
        let name = ServerName::try_from("localhost").expect("a valid name");
        let connection = match rustls::ClientConnection::new(Arc::clone(&self.config), name) {
            Ok(connection) => connection,
            Err(e) => return Answer::Refused(format!("TLS: {e}")),
        };
        talk(rustls::StreamOwned::new(connection, stream), bytes)
    }
}

/// The mesh's servers prove a SPIFFE identity (a URI name), not a host
/// name: the chain must lead to the mesh's CA; the name is not checked
/// (a probe judges whether the server refuses the caller).
#[derive(Debug)]
struct MeshServer {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for MeshServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_upstream_answers_are_told_apart() {
        let local = parse(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n").unwrap();
        assert_eq!((local.status(), local.from_upstream()), (Some(401), false));
        let routed = parse(b"HTTP/1.1 200 OK\r\nX-Envoy-Upstream-Service-Time: 3\r\n\r\n{}").unwrap();
        assert_eq!((routed.status(), routed.from_upstream()), (Some(200), true));
        let grpc = parse(b"HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: 7\r\n\r\n").unwrap();
        assert_eq!(grpc.status(), Some(403));
        let validator =
            parse(b"HTTP/1.1 400 Bad\r\nx-envoy-upstream-service-time: 1\r\nx-meshc-validator: rejected\r\n\r\n");
        assert!(!validator.unwrap().from_upstream());
        assert!(parse(b"SSH-2.0\r\n\r\n").is_none());
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_none());
    }

    #[test]
    fn requests_are_written_as_given_and_framed_unless_told_not_to() {
        let headers = vec![("host".to_string(), "a".to_string()), ("host".to_string(), "b".to_string())];
        let framed = request_bytes("POST", "/x", &headers, Some(b"{}"), false);
        assert_eq!(
            String::from_utf8(framed).unwrap(),
            "POST /x HTTP/1.1\r\nhost: a\r\nhost: b\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
        );
        let raw = request_bytes("POST", "/x", &[], Some(b"0\r\n\r\n"), true);
        assert!(!String::from_utf8(raw).unwrap().contains("content-length"));
    }
}
