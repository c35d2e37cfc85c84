//! The identity provider of a local run: for every JWT issuer the proxies
//! check (the plan's `issuers`), a P-256 key made for the run. The proxies
//! get its public half in place of the issuer's remote JWKS
//! (`rewrite::local_jwks`); the contract runner gets tokens it signs
//! ([`TokenSource`]); and a local STS (RFC 8693) trades a token it signed
//! for one of the issuer a token exchanger's STS issues for, so calls that
//! exchange the user's token work on one machine. Nothing leaves the run:
//! the keys live in memory only.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Map, Value};

use crate::contracts::plan::{Auth, ClaimTest, ClaimType};
use crate::contracts::TokenSource;
use crate::http_server::{self, HttpService, Versions};

/// How long tokens of the run are valid.
const TOKEN_LIFETIME_SECS: u64 = 3600;
/// The `sub` of the tokens the runner asks for.
const RUNNER_SUBJECT: &str = "meshc-contract-runner";
/// The STS reads form bodies up to this size.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// One signing key per issuer (`iss`) of the run.
pub struct LocalIssuers {
    keys: BTreeMap<String, IssuerKey>,
    rng: SystemRandom,
}

struct IssuerKey {
    kid: String,
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for LocalIssuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIssuers").field("issuers", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl LocalIssuers {
    /// Makes a key for each issuer (by `iss`).
    pub fn new<'a>(issuers: impl IntoIterator<Item = &'a str>) -> Result<LocalIssuers, String> {
        LocalIssuers::with_keys(issuers, &BTreeMap::new())
    }

    /// A key for each issuer: the given one (an unencrypted PKCS#8 P-256
    /// key in PEM, `--issuer-key`), under its RFC 7638 thumbprint as `kid`,
    /// else one made for the run. A given key of another issuer is kept too.
    pub fn with_keys<'a>(
        issuers: impl IntoIterator<Item = &'a str>,
        given: &BTreeMap<String, Vec<u8>>,
    ) -> Result<LocalIssuers, String> {
        let rng = SystemRandom::new();
        let mut keys = BTreeMap::new();
        for (issuer, pem) in given {
            let key = key_from_pem(pem, &rng).map_err(|e| format!("the signing key of {issuer}: {e}"))?;
            keys.insert(issuer.clone(), IssuerKey { kid: thumbprint(&key), key });
        }
        for (index, issuer) in issuers.into_iter().enumerate() {
            if keys.contains_key(issuer) {
                continue;
            }
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| format!("making a signing key for {issuer}"))?;
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .map_err(|_| format!("reading the signing key of {issuer}"))?;
            keys.insert(issuer.to_string(), IssuerKey { kid: format!("meshc-up-{index}"), key });
        }
        Ok(LocalIssuers { keys, rng })
    }

    /// Whether the run holds `issuer`'s key.
    pub fn has(&self, issuer: &str) -> bool {
        self.keys.contains_key(issuer)
    }

    /// A key of `issuer` made here, under `kid`: another key than the
    /// issuer's, claiming to be it (a forged-`kid` probe).
    pub fn impostor(issuer: &str, kid: &str) -> Result<LocalIssuers, String> {
        let mut impostor = LocalIssuers::new([issuer])?;
        if let Some(key) = impostor.keys.get_mut(issuer) {
            key.kid = kid.to_string();
        }
        Ok(impostor)
    }

    /// The issuer's public key as a JWKS document.
    pub fn jwks(&self, issuer: &str) -> Option<String> {
        let key = self.keys.get(issuer)?;
        // An uncompressed P-256 point: 0x04 || x || y.
        let point = key.key.public_key().as_ref();
        Some(
            json!({ "keys": [{
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": key.kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }]})
            .to_string(),
        )
    }

    /// A JWT of `issuer` with `claims` (`iss`, `iat` and `exp` added).
    pub fn sign(&self, issuer: &str, claims: Map<String, Value>) -> Result<String, String> {
        let key = self.keys.get(issuer).ok_or_else(|| format!("the run has no key for issuer `{issuer}`"))?;
        let now = now();
        let mut claims = claims;
        claims.insert("iss".into(), json!(issuer));
        claims.insert("iat".into(), json!(now));
        claims.entry("exp").or_insert(json!(now + TOKEN_LIFETIME_SECS));
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": key.kid });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
        );
        let signature = key.key.sign(&self.rng, input.as_bytes()).map_err(|_| "signing a token".to_string())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
    }

    /// The claims of a token one of the run's keys signed, unexpired.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, String> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWS compact token".into());
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| "a part is not base64url".to_string());
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| "the header is not JSON")?;
        if header["alg"] != "ES256" {
            return Err(format!("algorithm {} (the run signs ES256)", header["alg"]));
        }
        let key =
            self.keys.values().find(|k| header["kid"] == k.kid.as_str()).ok_or("no key of the run has its kid")?;
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.key.public_key().as_ref());
        let signed = &token[..token.len() - signature.len() - 1];
        public.verify(signed.as_bytes(), &decode(signature)?).map_err(|_| "the signature does not verify")?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&decode(payload)?).map_err(|_| "the claims are not a JSON object")?;
        match claims.get("exp").and_then(Value::as_u64) {
            Some(exp) if exp > now() => Ok(claims),
            _ => Err("expired or without `exp`".into()),
        }
    }
}

impl TokenSource for LocalIssuers {
    /// A token of the issuer for its first audience, holding a value that
    /// meets each claim condition, as the claim's declared type holds it.
    fn token(&self, auth: &Auth) -> Result<String, String> {
        self.sign(&auth.issuer, claims_for(auth, RUNNER_SUBJECT, &[]))
    }
}

/// How a probe's token differs from one that passes (`meshc-runtime up --probe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forgery {
    /// None: the token passes.
    Valid,
    /// Its `exp` has passed.
    Expired,
    /// Unsigned, `alg: none`.
    AlgNone,
    /// Signed by another key under the issuer's `kid`.
    ForgedKid,
    /// Signed by another issuer of the run, or one the run does not know.
    OtherIssuer,
    /// For an audience the issuer does not name.
    OtherAudience,
    /// Without these claims.
    Without(Vec<String>),
}

impl LocalIssuers {
    /// A token meeting `auth` for `subject` (its `sub`), then broken as
    /// `forgery` says.
    pub fn forged(&self, auth: &Auth, subject: &str, forgery: &Forgery) -> Result<String, String> {
        let without = match forgery {
            Forgery::Without(claims) => claims.as_slice(),
            _ => &[],
        };
        let mut claims = claims_for(auth, subject, without);
        match forgery {
            Forgery::Valid | Forgery::Without(_) => self.sign(&auth.issuer, claims),
            Forgery::Expired => {
                claims.insert("exp".into(), json!(now().saturating_sub(600)));
                self.sign(&auth.issuer, claims)
            }
            Forgery::OtherAudience => {
                claims.insert("aud".into(), json!("meshc-probe-other-audience"));
                self.sign(&auth.issuer, claims)
            }
            Forgery::OtherIssuer => match self.keys.keys().find(|i| **i != auth.issuer) {
                Some(other) => self.sign(other, claims),
                None => {
                    let stranger = LocalIssuers::new(["https://meshc-probe.invalid"])?;
                    stranger.sign("https://meshc-probe.invalid", claims)
                }
            },
            Forgery::ForgedKid => {
                let kid = self.keys.get(&auth.issuer).map(|k| k.kid.clone()).ok_or("the run has no key for it")?;
                LocalIssuers::impostor(&auth.issuer, &kid)?.sign(&auth.issuer, claims)
            }
            Forgery::AlgNone => {
                let now = now();
                claims.insert("iss".into(), json!(auth.issuer));
                claims.insert("iat".into(), json!(now));
                claims.insert("exp".into(), json!(now + TOKEN_LIFETIME_SECS));
                let header = json!({ "alg": "none", "typ": "JWT" });
                Ok(format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
                ))
            }
        }
    }
}

/// An ECDSA P-256 key from an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
fn key_from_pem(pem: &[u8], rng: &SystemRandom) -> Result<EcdsaKeyPair, String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer;
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| format!("not a PKCS#8 PEM private key ({e})"))?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_pkcs8_der(), rng)
        .map_err(|_| "not an ECDSA P-256 key (ES256)".to_string())
}

/// The key's JWK thumbprint (RFC 7638): SHA-256 over its required members, in order.
fn thumbprint(key: &EcdsaKeyPair) -> String {
    let point = key.public_key().as_ref();
    let jwk = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..])
    );
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, jwk.as_bytes()))
}

/// The claims of a token meeting `auth` for `subject`, but for those named in `without`.
fn claims_for(auth: &Auth, subject: &str, without: &[String]) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(subject));
    if let Some(audience) = auth.audiences.first() {
        claims.insert("aud".into(), json!(audience));
    }
    for condition in auth.claims.iter().filter(|c| !without.contains(&c.claim)) {
        let value = condition.value.as_deref().unwrap_or("present");
        let ty = condition.ty.unwrap_or(match condition.test {
            ClaimTest::Contains => ClaimType::StringList,
            _ => ClaimType::String,
        });
        let slot = claims.entry(condition.claim.clone()).or_insert(Value::Null);
        *slot = with_value(std::mem::take(slot), ty, value);
    }
    claims
}

/// `current` with `value` added as a claim of type `ty` holds it: lists
/// gain it (a space-delimited one as another word), scalars become it.
fn with_value(current: Value, ty: ClaimType, value: &str) -> Value {
    match (ty, current) {
        (ClaimType::StringList, Value::Array(mut items)) => {
            items.push(json!(value));
            Value::Array(items)
        }
        (ClaimType::StringList, _) => json!([value]),
        (ClaimType::SpaceDelimited, Value::String(words)) => json!(format!("{words} {value}")),
        (ClaimType::SpaceDelimited | ClaimType::String, _) => json!(value),
        (ClaimType::Number, _) => value.parse::<f64>().map_or(json!(1), |n| json!(n)),
        (ClaimType::Boolean, _) => json!(value != "false"),
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// One exchange the local STS answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsExchange {
    /// The issuer asked for (the path's).
    pub issues: String,
    pub audience: Option<String>,
    pub status: u16,
    /// Why it refused, if it did.
    pub error: Option<String>,
}

/// The local STS; dropping it stops it.
pub struct LocalStsHandle {
    service: HttpService<StsExchange>,
    issues: Vec<String>,
}

impl LocalStsHandle {
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// The token endpoint of issuer number `index` of `issues`.
    pub fn url(&self, index: usize) -> String {
        format!("http://{}/token/{index}", self.addr())
    }

    /// Where `issuer` is in `issues`.
    pub fn index_of(&self, issuer: &str) -> Option<usize> {
        self.issues.iter().position(|i| i == issuer)
    }

    /// Every exchange so far.
    pub fn exchanges(&self) -> Vec<StsExchange> {
        self.service.requests()
    }
}

/// Serves an RFC 8693 token endpoint per issuer of `issues` at
/// `/token/INDEX`: a `subject_token` the run signed (any of its issuers)
/// becomes a token of that issuer for the requested `audience`, on the
/// subject's behalf (`sub` kept).
pub fn serve_sts(issuers: Arc<LocalIssuers>, issues: Vec<String>, addr: SocketAddr) -> io::Result<LocalStsHandle> {
    let served = Arc::new(issues.clone());
    let service = http_server::serve_http("the local STS", "local-sts", addr, Versions::Http1, move || {
        move |request| exchange(Arc::clone(&issuers), Arc::clone(&served), request)
    })?;
    Ok(LocalStsHandle { service, issues })
}

async fn exchange(
    issuers: Arc<LocalIssuers>,
    issues: Arc<Vec<String>>,
    request: Request<Incoming>,
) -> (Response<Full<Bytes>>, Option<StsExchange>) {
    let index = request.uri().path().strip_prefix("/token/").and_then(|i| i.parse::<usize>().ok());
    let Some(issuer) = index.and_then(|i| issues.get(i)).cloned() else {
        return (http_server::plain_text(StatusCode::NOT_FOUND, "no such token endpoint"), None);
    };
    let body = match http_server::read_body(request.into_body(), MAX_FORM_BYTES).await {
        Ok(body) => body,
        Err((status, text)) => return (http_server::plain_text(status, text), None),
    };
    let form = parse_form(&body);
    let audience = form.get("audience").cloned();
    let answer = trade(&issuers, &issuer, &form);
    let (status, error, body) = match answer {
        Ok(token) => (
            StatusCode::OK,
            None,
            json!({
                "access_token": token,
                "issued_token_type": crate::token_exchange::ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_SECS,
            }),
        ),
        Err((error, description)) => (
            StatusCode::BAD_REQUEST,
            Some(format!("{error}: {description}")),
            json!({ "error": error, "error_description": description }),
        ),
    };
    let record = StsExchange { issues: issuer, audience, status: status.as_u16(), error };
    let response = Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| http_server::plain_text(StatusCode::INTERNAL_SERVER_ERROR, "building the answer"));
    (response, Some(record))
}

/// The token the form's exchange yields, or the OAuth error and why.
fn trade(
    issuers: &LocalIssuers,
    issuer: &str,
    form: &BTreeMap<String, String>,
) -> Result<String, (&'static str, String)> {
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some(crate::token_exchange::GRANT_TYPE) {
        return Err(("unsupported_grant_type", format!("grant_type must be {}", crate::token_exchange::GRANT_TYPE)));
    }
    let subject = field("subject_token").ok_or(("invalid_request", "no subject_token".to_string()))?;
    let audience = field("audience").ok_or(("invalid_request", "no audience".to_string()))?;
    let claims = issuers.verify(subject).map_err(|e| ("invalid_grant", format!("the subject token: {e}")))?;
    let mut issued = Map::new();
    issued.insert("sub".into(), claims.get("sub").cloned().unwrap_or(json!(RUNNER_SUBJECT)));
    issued.insert("aud".into(), json!(audience));
    issuers.sign(issuer, issued).map_err(|e| ("server_error", e))
}

/// An `application/x-www-form-urlencoded` body (the last of a repeated name wins).
fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    let decode =
        |text: &str| percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned();
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::plan::ClaimCondition;

    fn claims_of(token: &str) -> Value {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn tokens_meet_the_claim_conditions_in_the_declared_shapes_and_verify() {
        let issuers = LocalIssuers::new(["https://auth.test"]).unwrap();
        let condition = |claim: &str, test, ty, value: Option<&str>| ClaimCondition {
            claim: claim.into(),
            test,
            ty,
            value: value.map(str::to_string),
        };
        let auth = Auth {
            audiences: vec!["shop-api".into(), "other".into()],
            claims: vec![
                condition("scope", ClaimTest::Contains, Some(ClaimType::SpaceDelimited), Some("orders:read")),
                condition("scope", ClaimTest::Contains, Some(ClaimType::SpaceDelimited), Some("orders:write")),
                condition("roles", ClaimTest::Contains, Some(ClaimType::StringList), Some("admin")),
                condition("tier", ClaimTest::Equals, Some(ClaimType::String), Some("gold")),
                condition("email", ClaimTest::Present, None, None),
            ],
            issuer: "https://auth.test".into(),
        };
        let token = issuers.token(&auth).unwrap();
        let claims = claims_of(&token);
        assert_eq!(claims["iss"], "https://auth.test");
        assert_eq!(claims["aud"], "shop-api");
        assert_eq!(claims["scope"], "orders:read orders:write");
        assert_eq!(claims["roles"], json!(["admin"]));
        assert_eq!(claims["tier"], "gold");
        assert_eq!(claims["email"], "present");
        assert_eq!(issuers.verify(&token).unwrap()["sub"], RUNNER_SUBJECT);
        let jwks: Value = serde_json::from_str(&issuers.jwks("https://auth.test").unwrap()).unwrap();
        assert_eq!(jwks["keys"][0]["kty"], "EC");
        assert!(issuers.jwks("https://else.test").is_none());
    }

    #[test]
    fn a_given_key_signs_under_its_thumbprint_and_a_bad_one_is_named() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        );
        let given = BTreeMap::from([("https://given.test".to_string(), pem.into_bytes())]);
        let issuers = LocalIssuers::with_keys(["https://given.test", "https://made.test"], &given).unwrap();
        let again = LocalIssuers::with_keys(["https://given.test"], &given).unwrap();
        let token = issuers.sign("https://given.test", Map::new()).unwrap();
        assert!(again.verify(&token).is_ok(), "the same key in another process verifies it");
        let kid = |jwks: &str| serde_json::from_str::<Value>(jwks).unwrap()["keys"][0]["kid"].clone();
        let given_kid = kid(&issuers.jwks("https://given.test").unwrap());
        assert_eq!(given_kid.as_str().map(str::len), Some(43), "a SHA-256 thumbprint: {given_kid}");
        assert_eq!(kid(&again.jwks("https://given.test").unwrap()), given_kid);
        assert_eq!(kid(&issuers.jwks("https://made.test").unwrap()), "meshc-up-1");
        let bad = BTreeMap::from([("https://x.test".to_string(), b"not a key".to_vec())]);
        let error = LocalIssuers::with_keys([], &bad).unwrap_err();
        assert!(error.contains("https://x.test") && error.contains("PKCS#8"), "{error}");
    }

    #[test]
    fn verification_refuses_tampered_foreign_and_expired_tokens() {
        let issuers = LocalIssuers::new(["https://a.test"]).unwrap();
        let token = issuers.sign("https://a.test", Map::new()).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"iss": "https://a.test", "exp": now() + 60}).to_string());
        parts[1] = &forged;
        assert!(issuers.verify(&parts.join(".")).unwrap_err().contains("signature"));
        let other = LocalIssuers::new(["https://a.test"]).unwrap();
        assert!(other.verify(&token).is_err(), "another run's key");
        let mut expired = Map::new();
        expired.insert("exp".into(), json!(now() - 1));
        let old = issuers.sign("https://a.test", expired).unwrap();
        assert!(issuers.verify(&old).unwrap_err().contains("expired"));
        assert!(issuers.verify("a.b").is_err());
    }

    #[test]
    fn the_sts_trades_a_token_of_the_run_for_one_of_the_issuer_asked() {
        let issuers = LocalIssuers::new(["https://users.test", "https://sts.test"]).unwrap();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        let subject = issuers.sign("https://users.test", claims).unwrap();
        let form = |subject: &str| {
            BTreeMap::from([
                ("grant_type".to_string(), crate::token_exchange::GRANT_TYPE.to_string()),
                ("subject_token".to_string(), subject.to_string()),
                ("audience".to_string(), "loyalty".to_string()),
            ])
        };
        let issued = trade(&issuers, "https://sts.test", &form(&subject)).unwrap();
        let claims = issuers.verify(&issued).unwrap();
        assert_eq!(
            (claims["iss"].as_str(), claims["aud"].as_str(), claims["sub"].as_str()),
            (Some("https://sts.test"), Some("loyalty"), Some("alice"))
        );
        assert_eq!(trade(&issuers, "https://sts.test", &form("x.y.z")).unwrap_err().0, "invalid_grant");
        let mut no_grant = form(&subject);
        no_grant.remove("grant_type");
        assert_eq!(trade(&issuers, "https://sts.test", &no_grant).unwrap_err().0, "unsupported_grant_type");
    }

    #[test]
    fn forms_decode_percent_escapes_and_plus() {
        let form = parse_form(b"a=x%3Ay+z&b=&c");
        assert_eq!(form["a"], "x:y z");
        assert_eq!(form["b"], "");
        assert_eq!(form["c"], "");
    }
}
