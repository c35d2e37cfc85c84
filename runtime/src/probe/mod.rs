//! Penetration probes: the attacks meshc derives from the spec
//! (`probes/plan.json`, [`plan`]), run against a running mesh through real
//! Envoy (`meshc-runtime up OUT --probe`), each judged against what the
//! spec declares: a route's 401/403, a sidecar's refusal, a limit's 429, a
//! validator's 400, a gateway's refusal of a malformed request. Every
//! finding names the spec line it tests; reports as JUnit and SARIF
//! ([`report`]). See docs/testing.md.

pub mod plan;
pub mod report;
pub mod tokens;
pub mod wire;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use self::plan::{Kind, Probe, ProbePlan};
use self::tokens::ProbeTokens;
use self::wire::{Answer, Tls};
use crate::local_mesh::identity::Forgery;

/// Where the probes go and what they sign with.
pub struct Target<'a> {
    /// Each gateway's listener, by gateway name.
    pub gateways: BTreeMap<String, SocketAddr>,
    /// Each sidecar's inbound listener, by service and port name.
    pub inbounds: BTreeMap<(String, String), SocketAddr>,
    /// The workloads' certificates (`meshc certs --cert-dir`).
    pub cert_dir: Option<PathBuf>,
    /// Tokens the proxies accept, and their forgeries.
    pub tokens: &'a dyn ProbeTokens,
    /// A probe whose gateway, sidecar or certificates the target lacks is
    /// skipped (a standalone run given only some addresses), not an error
    /// (`up`, which knows every listener of the mesh).
    pub skip_unaddressed: bool,
}

/// How a probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The mesh refused the attack as the spec declares.
    Passed,
    /// It did not: what happened instead.
    Finding(String),
    /// The probe could not judge (its control failed, a target is missing).
    Error(String),
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub id: String,
    pub kind: Kind,
    pub attack: String,
    pub subject: String,
    /// `file:line` of what it tests.
    pub source: String,
    pub verdict: Verdict,
    pub duration: Duration,
}

/// Runs every probe of `plan`, in order.
pub fn run(plan: &ProbePlan, target: &Target) -> Vec<ProbeResult> {
    plan.probes
        .iter()
        .map(|probe| {
            let started = Instant::now();
            let verdict = match probe.skip.clone().or_else(|| unavailable(probe, target)) {
                Some(reason) => Verdict::Skipped(reason),
                None => judge(probe, target),
            };
            ProbeResult {
                id: probe.id.clone(),
                kind: probe.kind,
                attack: probe.attack.clone(),
                subject: probe.subject.clone(),
                source: probe.source.clone(),
                verdict,
                duration: started.elapsed(),
            }
        })
        .collect()
}

/// Why the target cannot serve the probe: no address or certificates for
/// it (when those are skipped), or no token it needs.
fn unavailable(probe: &Probe, target: &Target) -> Option<String> {
    if target.skip_unaddressed {
        if let Some(service) = probe.service.as_ref().filter(|_| probe.kind == Kind::Authorization) {
            if !target.inbounds.contains_key(&(service.name.clone(), service.port.clone())) {
                let name = &service.name;
                return Some(format!("no address of `{name}`'s sidecar given (--service {name}=HOST:PORT)"));
            }
            if target.cert_dir.is_none() {
                return Some("no workload certificates given (--cert-dir DIR)".into());
            }
        }
        if let Some(gateway) = probe.gateway.as_ref().filter(|_| probe.kind != Kind::Authorization) {
            let name = &gateway.name;
            let Some(addr) = target.gateways.get(name) else {
                return Some(format!("no address of gateway `{name}` given (--gateway {name}=HOST:PORT)"));
            };
            // Fresh clients are other loopback addresses, which reach only a gateway on this machine.
            let by_client = probe.limit.as_ref().is_some_and(|l| l.key == "client-ip");
            if by_client && !addr.ip().is_loopback() {
                return Some(format!("a limit per client address takes fresh clients, which only a gateway on this machine's loopback gets (`{name}` is at {addr})"));
            }
        }
    }
    let auth = probe.auth.as_ref()?;
    // Every probe with a route's auth sends a valid token: the auth probes' control, the others' request.
    let attack = match probe.kind {
        Kind::Auth => forgery_of(probe).ok().flatten(),
        _ => None,
    };
    [Some(Forgery::Valid), attack].into_iter().flatten().find_map(|f| target.tokens.unavailable(&auth.issuer, &f))
}

fn judge(probe: &Probe, target: &Target) -> Verdict {
    let outcome = match probe.kind {
        Kind::Auth => auth(probe, target),
        Kind::Authorization => authorization(probe, target),
        Kind::RateLimit => rate_limit(probe, target),
        Kind::Validation => gateway_attack(probe, target, probe.request.body.as_deref().map(str::as_bytes)),
        Kind::Parsing => parsing(probe, target),
    };
    outcome.unwrap_or_else(Verdict::Error)
}

/// A fresh `sub` per token, so that limits keyed by it start afresh.
fn subject() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("meshc-probe-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Another loopback client address, so that limits keyed by it start afresh.
fn client_address() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % (250 * 250);
    Ipv4Addr::new(127, 1 + (n / 250) as u8, (n % 250) as u8, 2)
}

fn gateway_addr(probe: &Probe, target: &Target) -> Result<SocketAddr, String> {
    let name = &probe.gateway.as_ref().ok_or("the probe names no gateway")?.name;
    target.gateways.get(name).copied().ok_or_else(|| format!("gateway `{name}` has no listener in this mesh"))
}

/// The probe's request headers at its gateway: `Host`, the route's match
/// headers, the request's own, then `extra`.
fn gateway_headers(probe: &Probe, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    let entry = probe.gateway.as_ref();
    let host = entry.and_then(|g| g.host.clone()).unwrap_or_else(|| "localhost".into());
    headers.push(("host".to_string(), host));
    for pair in entry.map(|g| g.headers.as_slice()).unwrap_or_default().iter().chain(&probe.request.headers) {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(&pair.name)) {
            headers.push((pair.name.clone(), pair.value.clone()));
        }
    }
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.clone())));
    headers
}

/// A token for the probe's route, broken as `forgery` says; `None` without `auth`.
fn token(probe: &Probe, target: &Target, sub: &str, forgery: &Forgery) -> Result<Option<String>, String> {
    probe.auth.as_ref().map(|auth| target.tokens.forged(auth, sub, forgery)).transpose()
}

fn bearer(token: Option<String>) -> Vec<(&'static str, String)> {
    token.map(|t| vec![("authorization", format!("Bearer {t}"))]).unwrap_or_default()
}

/// Passed when the answer is one of `expect` from the proxy (or a refusal, if that passes).
fn verdict_of(probe: &Probe, answer: &Answer) -> Verdict {
    let refused = matches!(answer, Answer::Refused(_));
    let expected = answer.status().is_some_and(|s| probe.expect.contains(&s)) && !answer.from_upstream();
    if expected || (refused && probe.refused_passes) {
        return Verdict::Passed;
    }
    let wanted = match (probe.expect.as_slice(), probe.refused_passes) {
        ([], _) => "a refused connection".to_string(),
        (statuses, refusal) => {
            let list: Vec<String> = statuses.iter().map(u16::to_string).collect();
            format!("{} from the proxy{}", list.join(" or "), if refusal { " or a refused connection" } else { "" })
        }
    };
    Verdict::Finding(format!("{}: expected {wanted}, got {}", probe.attack, answer.describe()))
}

/// The token an auth probe's attack sends; `None`: none at all.
fn forgery_of(probe: &Probe) -> Result<Option<Forgery>, String> {
    Ok(match probe.attack.as_str() {
        "no-token" => None,
        "expired-token" => Some(Forgery::Expired),
        "alg-none" => Some(Forgery::AlgNone),
        "forged-kid" => Some(Forgery::ForgedKid),
        "other-issuer" => Some(Forgery::OtherIssuer),
        "other-audience" => Some(Forgery::OtherAudience),
        a if a.starts_with("missing-claim:") || a.starts_with("missing-role:") => {
            Some(Forgery::Without(probe.without_claims.clone()))
        }
        other => return Err(format!("unknown auth attack `{other}`")),
    })
}

fn auth(probe: &Probe, target: &Target) -> Result<Verdict, String> {
    let addr = gateway_addr(probe, target)?;
    let forgery = forgery_of(probe)?;
    // The control: the valid token is not refused, so a refusal of the attack is the auth's.
    let control = send_gateway(probe, addr, token(probe, target, &subject(), &Forgery::Valid)?, None)?;
    // Refused by the proxy: the route's checks refuse even a valid token. An
    // upstream's own 401 or 403 (its answer to an empty request) is a pass of the checks.
    if control.status().is_none() || (matches!(control.status(), Some(401 | 403)) && !control.from_upstream()) {
        return Ok(Verdict::Error(format!("the control request with a valid token got {}", control.describe())));
    }
    let attack_token = match &forgery {
        Some(forgery) => token(probe, target, &subject(), forgery)?,
        None => None,
    };
    Ok(verdict_of(probe, &send_gateway(probe, addr, attack_token, None)?))
}

fn send_gateway(
    probe: &Probe,
    addr: SocketAddr,
    token: Option<String>,
    source: Option<Ipv4Addr>,
) -> Result<Answer, String> {
    let headers = gateway_headers(probe, &bearer(token));
    let body = probe.request.body.as_deref().map(str::as_bytes);
    let bytes = wire::request_bytes(&probe.request.method, &probe.request.path, &headers, body, false);
    Ok(wire::exchange(addr, source, &bytes))
}

fn gateway_attack(probe: &Probe, target: &Target, body: Option<&[u8]>) -> Result<Verdict, String> {
    let addr = gateway_addr(probe, target)?;
    let headers = gateway_headers(probe, &bearer(token(probe, target, &subject(), &Forgery::Valid)?));
    let bytes = wire::request_bytes(&probe.request.method, &probe.request.path, &headers, body, false);
    Ok(verdict_of(probe, &wire::exchange(addr, None, &bytes)))
}

/// Requests until the first 429: it must come right after the declared
/// count, give or take what the bucket refilled meanwhile (it fills at the
/// declared rate). A bucket refilled in one step mid-burst is retried with
/// a fresh key (another client address, another `sub`).
fn rate_limit(probe: &Probe, target: &Target) -> Result<Verdict, String> {
    let addr = gateway_addr(probe, target)?;
    let limit = probe.limit.as_ref().ok_or("no limit")?;
    let fresh_key = limit.key != "route";
    let mut last = String::new();
    for _attempt in 0..if fresh_key { 3 } else { 1 } {
        let sub = subject();
        let source = (limit.key == "client-ip").then(client_address);
        let started = Instant::now();
        let mut admitted = 0u32;
        let mut refused_at = None;
        let ceiling = limit.requests.saturating_mul(2).saturating_add(2);
        while admitted < ceiling {
            let answer = send_gateway(probe, addr, token(probe, target, &sub, &Forgery::Valid)?, source)?;
            match answer.status() {
                Some(429) => {
                    refused_at = Some(admitted + 1);
                    break;
                }
                Some(_) => admitted += 1,
                None => return Ok(Verdict::Error(format!("request {} was {}", admitted + 1, answer.describe()))),
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let refill = (elapsed * f64::from(limit.requests) / limit.per_seconds.max(1) as f64).ceil() as u32;
        match refused_at {
            Some(_) if admitted >= limit.requests && admitted <= limit.requests + refill => return Ok(Verdict::Passed),
            Some(_) if admitted < limit.requests => {
                return Ok(Verdict::Finding(format!(
                    "{}: 429 after {admitted} requests, before the declared {}",
                    probe.attack, limit.requests
                )))
            }
            Some(_) => {
                last = format!(
                    "{}: 429 only after {admitted} requests (declared {}, {refill} refilled in {elapsed:.1}s)",
                    probe.attack, limit.requests
                )
            }
            None => last = format!("{}: no 429 in {admitted} requests (declared {})", probe.attack, limit.requests),
        }
    }
    Ok(Verdict::Finding(last))
}

fn authorization(probe: &Probe, target: &Target) -> Result<Verdict, String> {
    let service = probe.service.as_ref().ok_or("no service")?;
    let addr = target.inbounds.get(&(service.name.clone(), service.port.clone())).copied().ok_or_else(|| {
        format!("`{}` has no sidecar inbound listener for port `{}` in this mesh", service.name, service.port)
    })?;
    let cert_dir = target.cert_dir.as_ref().ok_or("the build names no certificate directory (`--cert-dir`)")?;
    let host = format!("{}.probe", service.name);
    let mut headers = vec![("host".to_string(), host)];
    headers.extend(probe.request.headers.iter().map(|p| (p.name.clone(), p.value.clone())));
    let bytes = wire::request_bytes(&probe.request.method, &probe.request.path, &headers, None, false);
    if let Some(control) = &probe.control {
        let answer = Tls::new(cert_dir, Some(control))?.exchange(addr, &bytes);
        if matches!(answer, Answer::Refused(_)) || answer.status() == Some(403) {
            return Ok(Verdict::Error(format!("the control request from `{control}` got {}", answer.describe())));
        }
    }
    let answer = match probe.from.as_deref() {
        Some("plaintext") => wire::exchange(addr, None, &bytes),
        Some("none") => Tls::new(cert_dir, None)?.exchange(addr, &bytes),
        Some(workload) => Tls::new(cert_dir, Some(workload))?.exchange(addr, &bytes),
        None => return Err("no `from`".into()),
    };
    Ok(verdict_of(probe, &answer))
}

fn parsing(probe: &Probe, target: &Target) -> Result<Verdict, String> {
    let addr = gateway_addr(probe, target)?;
    let method = &probe.request.method;
    let path = &probe.request.path;
    let token = token(probe, target, &subject(), &Forgery::Valid)?;
    let base = gateway_headers(probe, &bearer(token));
    let with = |extra: &[(&str, &str)]| {
        let mut headers = base.clone();
        headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        headers
    };
    let bytes = match probe.attack.as_str() {
        "cl-te" => {
            let smuggled = "0\r\n\r\nGET /meshc-probe-smuggled HTTP/1.1\r\nhost: localhost\r\n\r\n";
            let headers = with(&[("content-length", "4"), ("transfer-encoding", "chunked")]);
            wire::request_bytes("POST", path, &headers, Some(smuggled.as_bytes()), true)
        }
        "te-te" => {
            let headers = with(&[("transfer-encoding", "chunked"), ("transfer-encoding", "identity")]);
            wire::request_bytes("POST", path, &headers, Some(b"0\r\n\r\n"), true)
        }
        "duplicate-host" => {
            let mut headers = base.clone();
            headers.insert(1, ("host".to_string(), "meshc-probe.invalid".to_string()));
            wire::request_bytes(method, path, &headers, None, false)
        }
        "cr-in-header" => wire::request_bytes(method, path, &with(&[("x-meshc-probe", "a\rb")]), None, false),
        "lf-in-header" => {
            wire::request_bytes(method, path, &with(&[("x-meshc-probe", "a\nx-meshc-injected: b")]), None, false)
        }
        "oversized-headers" => {
            let big = "a".repeat(128 * 1024);
            wire::request_bytes(method, path, &with(&[("x-meshc-probe", big.as_str())]), None, false)
        }
        "oversized-body" => {
            let body = vec![b' '; 2 * 1024 * 1024];
            wire::request_bytes(method, path, &with(&[]), Some(&body), false)
        }
        "path-traversal" | "encoded-traversal" | "encoded-slash" => {
            wire::request_bytes(method, path, &with(&[]), None, false)
        }
        // The override header is the plan's: the request as given.
        a if a.starts_with("method-override:") => wire::request_bytes(method, path, &base, None, false),
        other => return Err(format!("unknown parsing attack `{other}`")),
    };
    let answer = wire::exchange(addr, None, &bytes);
    if let (Verdict::Finding(finding), true) = (verdict_of(probe, &answer), header_trick(&probe.attack)) {
        // Normalised is as good as refused: answered as the plain request is, by the same route.
        let plain: Vec<_> = base.iter().filter(|(name, _)| !is_method_override(name)).cloned().collect();
        let plain = wire::request_bytes(method, path, &plain, None, false);
        let control = wire::exchange(addr, None, &plain);
        let same = control.status().is_some() && control.status() == answer.status();
        if same && control.from_upstream() == answer.from_upstream() {
            return Ok(Verdict::Passed);
        }
        return Ok(Verdict::Finding(format!("{finding}; the plain request got {}", control.describe())));
    }
    Ok(verdict_of(probe, &answer))
}

/// Attacks on a header a proxy may refuse or normalise away (a
/// method-override header: route by the request's own method).
fn header_trick(attack: &str) -> bool {
    matches!(attack, "duplicate-host" | "cr-in-header" | "lf-in-header") || attack.starts_with("method-override:")
}

/// A header some frameworks take as the request's method.
fn is_method_override(name: &str) -> bool {
    ["x-http-method-override", "x-http-method", "x-method-override"].iter().any(|h| name.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tokens::StagingTokens;

    const PLAN: &str = r#"{"format": "meshc-probes/1", "mesh": "m", "probes": [
        {"attack": "expired-token", "expect": [401], "id": "gateway:g/r expired-token", "kind": "auth",
         "auth": {"audiences": [], "claims": [], "issuer": "https://idp.test"},
         "gateway": {"headers": [], "name": "g"}, "refused_passes": false,
         "request": {"headers": [], "method": "GET", "path": "/r"}, "source": "g.kdl:3", "subject": "gateway:g/r"},
        {"attack": "cl-te", "expect": [400], "id": "gateway:g cl-te", "kind": "parsing",
         "gateway": {"headers": [], "name": "g"}, "refused_passes": false,
         "request": {"headers": [], "method": "GET", "path": "/r"}, "source": "g.kdl:1", "subject": "gateway:g"},
        {"attack": "exceed:2/1s", "expect": [429], "id": "gateway:g/r exceed:2/1s", "kind": "rate-limit",
         "gateway": {"headers": [], "name": "g"}, "limit": {"key": "client-ip", "per_seconds": 1, "requests": 2},
         "refused_passes": false, "request": {"headers": [], "method": "GET", "path": "/r"},
         "source": "g.kdl:5", "subject": "gateway:g/r"},
        {"attack": "no-certificate", "control": "a", "expect": [403], "from": "none", "id": "service:s no-certificate",
         "kind": "authorization", "refused_passes": true, "request": {"headers": [], "method": "GET", "path": "/"},
         "service": {"name": "s", "port": "http"}, "source": "s.kdl:4", "subject": "service:s"}
    ]}"#;

    fn skipped(results: &[ProbeResult]) -> Vec<String> {
        results
            .iter()
            .map(|r| match &r.verdict {
                Verdict::Skipped(why) => why.clone(),
                other => panic!("{}: {other:?}", r.id),
            })
            .collect()
    }

    #[test]
    fn a_standalone_run_skips_what_it_was_given_no_address_certificate_or_token_for_and_says_why() {
        let plan = ProbePlan::from_json(PLAN).unwrap();
        let tokens = StagingTokens::new(&BTreeMap::new(), BTreeMap::new()).unwrap();
        let mut target = Target {
            gateways: BTreeMap::new(),
            inbounds: BTreeMap::new(),
            cert_dir: None,
            tokens: &tokens,
            skip_unaddressed: true,
        };
        let why = skipped(&run(&plan, &target));
        assert!(why[0].contains("--gateway g=HOST:PORT"), "{why:?}");
        assert!(why[1].contains("--gateway g=HOST:PORT"), "{why:?}");
        assert!(why[2].contains("--gateway g=HOST:PORT"), "{why:?}");
        assert!(why[3].contains("--service s=HOST:PORT"), "{why:?}");
        // Addresses given (never reached: the probes are skipped first), no token nor certificates.
        // Not a loopback address, yet on this machine: nothing leaves it even if a probe ran.
        let elsewhere: SocketAddr = "0.0.0.0:9".parse().unwrap();
        target.gateways.insert("g".into(), elsewhere);
        target.inbounds.insert(("s".into(), "http".into()), elsewhere);
        let plan = ProbePlan::from_json(&PLAN.replace("\"cl-te\"", "\"cl-te\", \"skip\": \"a test\"")).unwrap();
        let why = skipped(&run(&plan, &target));
        assert!(why[0].contains("--token-env https://idp.test=VAR"), "{why:?}");
        assert_eq!(why[1], "a test");
        assert!(why[2].contains("only a gateway on this machine's loopback"), "{why:?}");
        assert!(why[3].contains("--cert-dir DIR"), "{why:?}");
    }
}
