//! Mutual TLS and service-to-service authorization in the real Envoy: two
//! sidecars built from the spec, with certificates `meshc certs` issued.
//! The call succeeds over mTLS and the callee's app learns the caller's
//! SPIFFE ID; a client without a certificate, or with the certificate of an
//! identity the authorization does not admit, is refused; reissuing the
//! certificates rotates them in the running proxies without dropping traffic.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{envoy_validate, free_port, http_request, write_files, EnvoyProcess, Upstream};

struct Ports {
    web_outbound: u16,
    orders_inbound: u16,
}

/// `web` calls `orders`, whose authorization admits only `web`; `intruder`
/// is a workload of the mesh that may not call it.
fn spec(certs: &Path, app: u16, ports: &Ports) -> String {
    format!(
        r#"
mtls {{
    mode "strict"
    trust-domain "test.local"
    cert-dir "{certs}"
}}
service "web" {{
    owner "t"
    address "127.0.0.1" port={web_app}
    sidecar inbound-port={web_inbound} outbound-port={web_outbound}
    calls "orders" timeout="2s"
}}
service "orders" {{
    owner "t"
    address "orders.internal" port={app}
    // Callers reach orders' sidecar; it hands requests to the app on {app}.
    endpoints {{
        endpoint "127.0.0.1" port={orders_inbound}
    }}
    sidecar inbound-port={orders_inbound} outbound-port={orders_outbound}
    traffic {{ outlier-detection consecutive-5xx=100 }}
    authorization {{
        allow "web" {{
            header "x-tenant" exact="acme"
        }}
    }}
}}
service "intruder" {{
    owner "t"
    address "127.0.0.1" port={intruder}
}}
"#,
        certs = certs.display(),
        web_app = free_port(),
        web_inbound = free_port(),
        web_outbound = ports.web_outbound,
        orders_inbound = ports.orders_inbound,
        orders_outbound = free_port(),
        intruder = free_port(),
    )
}

fn meshc(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_meshc")).args(args).output().expect("meshc runs");
    assert!(output.status.success(), "meshc {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A temporary workspace with the spec, its (empty) certificate directory,
/// orders' app and the sidecars' ports.
fn workspace() -> (tempfile::TempDir, PathBuf, Upstream, Ports) {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let app = Upstream::start("orders-app");
    let ports = Ports { web_outbound: free_port(), orders_inbound: free_port() };
    std::fs::create_dir_all(&certs).unwrap();
    write_files(&dir.path().join("ws"), &[("mesh.kdl", &spec(&certs.canonicalize().unwrap(), app.port(), &ports))]);
    (dir, certs, app, ports)
}

/// `meshc certs DIR -o CERTS`.
fn issue(dir: &Path, certs: &Path) {
    meshc(&["certs", dir.to_str().unwrap(), "-o", certs.to_str().unwrap()]);
}

/// Builds the spec and starts both sidecars.
fn start(dir: &Path) -> (EnvoyProcess, EnvoyProcess) {
    let out = dir.join("out");
    meshc(&["build", dir.join("ws").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let start = |name: &str| {
        let path = out.join(format!("envoy/sidecar-{name}.yaml"));
        envoy_validate(&path).unwrap();
        EnvoyProcess::start(&path)
    };
    (start("orders"), start("web"))
}

/// An HTTPS request to orders' sidecar with curl, as a client holding
/// `identity`'s certificate (or none): the status, or curl's error.
fn curl_orders(certs: &Path, port: u16, identity: Option<&str>) -> Result<u16, String> {
    let mut command = Command::new("curl");
    command.args([
        "--silent",
        "--show-error",
        "--max-time",
        "5",
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code}",
    ]);
    command.arg("--cacert").arg(certs.join("ca.pem"));
    if let Some(name) = identity {
        command.arg("--cert").arg(certs.join(format!("{name}.pem")));
        command.arg("--key").arg(certs.join(format!("{name}-key.pem")));
    }
    // The certificate names orders.internal; resolve it to the local sidecar.
    command.args(["--resolve", &format!("orders.internal:{port}:127.0.0.1")]);
    command.args(["--header", "x-tenant: acme"]);
    command.arg(format!("https://orders.internal:{port}/orders/1"));
    let output = command.output().expect("curl runs (Debian package curl)");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).parse().expect("a status"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The serial number of the certificate orders' sidecar presents.
fn served_serial(certs: &Path, port: u16) -> String {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-showcerts"])
        .arg("-cert")
        .arg(certs.join("web.pem"))
        .arg("-key")
        .arg(certs.join("web-key.pem"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs (Debian package openssl)");
    let text = String::from_utf8_lossy(&output.stdout);
    let pem: String = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
        .map(|body| format!("-----BEGIN CERTIFICATE-----{body}-----END CERTIFICATE-----\n"))
        .unwrap_or_else(|| panic!("no certificate from the sidecar: {text}"));
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), pem.as_bytes()).unwrap();
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).trim().to_string()
}

/// A call from web's app, for tenant `acme` (orders admits web's calls with that header).
fn call_orders(port: u16) -> support::HttpResponse {
    http_request(port, "GET", "/orders/1", &[("host", "orders"), ("x-tenant", "acme")])
}

#[test]
fn calls_travel_over_mtls_and_strangers_are_refused() {
    let (dir, certs, app, ports) = workspace();
    issue(&dir.path().join("ws"), &certs);
    // Keys are the owner's alone.
    for key in ["ca-key.pem", "web-key.pem", "orders-key.pem"] {
        let mode = std::fs::metadata(certs.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    let (orders, web) = start(dir.path());
    orders.wait_ready(ports.orders_inbound);
    web.wait_ready(ports.web_outbound);

    let response = call_orders(ports.web_outbound);
    assert_eq!(response.status, 200, "{}", response.body);
    // The rule's condition: without the tenant header, web is refused too.
    let other_tenant =
        http_request(ports.web_outbound, "GET", "/orders/1", &[("host", "orders"), ("x-tenant", "evil")]);
    assert_eq!(other_tenant.status, 403);
    let seen = &app.requests()[0];
    let client = seen.header("x-forwarded-client-cert").expect("orders' sidecar names the caller");
    assert!(client.contains("URI=spiffe://test.local/ns/default/sa/web"), "{client}");

    // No certificate: the TLS handshake fails, nothing reaches the app.
    let hits = app.hits();
    let refused = curl_orders(&certs, ports.orders_inbound, None).expect_err("a client without a certificate");
    assert!(!refused.is_empty());
    // A certificate of the mesh, but an identity orders does not admit: 403 from its RBAC.
    assert_eq!(curl_orders(&certs, ports.orders_inbound, Some("intruder")), Ok(403));
    // The admitted identity itself gets through (with the tenant header).
    assert_eq!(curl_orders(&certs, ports.orders_inbound, Some("web")), Ok(200));
    assert_eq!(app.hits(), hits + 1, "only the admitted request reached the app");
}

#[test]
fn reissued_certificates_are_picked_up_without_dropping_traffic() {
    let (dir, certs, _app, ports) = workspace();
    issue(&dir.path().join("ws"), &certs);
    let ca = std::fs::read_to_string(certs.join("ca.pem")).unwrap();
    let (orders, web) = start(dir.path());
    orders.wait_ready(ports.orders_inbound);
    web.wait_ready(ports.web_outbound);
    assert_eq!(call_orders(ports.web_outbound).status, 200);
    let before = served_serial(&certs, ports.orders_inbound);
    assert!(before.starts_with("serial="), "{before}");

    // Rotation: new keys and certificates from the same CA, renamed into place.
    issue(&dir.path().join("ws"), &certs);
    assert_eq!(std::fs::read_to_string(certs.join("ca.pem")).unwrap(), ca, "the trust bundle is kept");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // Traffic keeps flowing while the proxies reload.
        assert_eq!(call_orders(ports.web_outbound).status, 200);
        if served_serial(&certs, ports.orders_inbound) != before {
            break;
        }
        assert!(Instant::now() < deadline, "orders' sidecar still serves {before}");
        std::thread::sleep(Duration::from_millis(200));
    }
    for _ in 0..5 {
        assert_eq!(call_orders(ports.web_outbound).status, 200, "calls succeed with the new certificates");
    }
}

#[test]
fn meshc_certs_and_cert_manager_name_the_same_identities() {
    let (dir, certs, _app, _) = workspace();
    issue(&dir.path().join("ws"), &certs);
    let out = dir.path().join("out");
    meshc(&["build", dir.path().join("ws").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    for workload in ["web", "orders", "intruder"] {
        let text = std::fs::read_to_string(out.join(format!("cert-manager/{workload}.yaml"))).unwrap();
        let certificate: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        let uri = certificate["spec"]["uris"][0].as_str().unwrap().to_string();
        assert_eq!(uri, format!("spiffe://test.local/ns/default/sa/{workload}"));
        let san = Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(certs.join(format!("{workload}.pem")))
            .output()
            .unwrap();
        let san = String::from_utf8_lossy(&san.stdout);
        assert!(san.contains(&format!("URI:{uri}")), "{workload}: {san}");
    }
    // No build output holds a private key.
    for entry in walk(&out) {
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(!text.contains("PRIVATE KEY"), "{} holds a key", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
