//! The token exchanger: an HTTP service for Envoy's `ext_authz` filter that
//! trades the caller's bearer token for one scoped to an audience, by
//! OAuth 2.0 Token Exchange (RFC 8693) with a security token service (STS).
//!
//! Envoy calls it with `path_prefix: /exchange/AUDIENCE` (one filter per
//! audience), so a request arrives as `/exchange/payments/orders/17` with
//! the original `authorization: Bearer T`. The exchanger POSTs `T` and the
//! audience to the STS and answers 200 with `authorization: Bearer NEW`,
//! which Envoy copies onto the upstream request (`allowed_upstream_headers`).
//! Exchanged tokens are cached per (subject token, audience). See
//! `docs/runtime.md` ("Token exchange") for the config and status codes.
//!
//! ```no_run
//! use meshc_runtime::{serve_token_exchange, TokenExchange};
//! let config = r#"{"listen": "127.0.0.1:9292", "sts": {"url": "http://127.0.0.1:8080/token"},
//!                  "audiences": ["payments"]}"#;
//! let exchanger = TokenExchange::from_json(config).unwrap();
//! let handle = serve_token_exchange(exchanger, "127.0.0.1:0".parse().unwrap()).unwrap();
//! println!("ext_authz HTTP service on 127.0.0.1:{}", handle.port());
//! // dropping `handle` stops the server.
//! ```

mod cache;
mod server;
mod sts;

pub(crate) use sts::{ACCESS_TOKEN_TYPE, GRANT_TYPE};

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

pub use server::{serve_token_exchange, Exchange, Outcome, TokenExchangeHandle};

/// `timeout_ms` when the config names none.
const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// The largest `timeout_ms` accepted.
const MAX_TIMEOUT_MS: u64 = 60_000;

/// A token exchanger's config, checked: where it listens, the STS, the
/// audiences it exchanges for, and how long an STS call may take. Serve it
/// with [`serve_token_exchange`].
#[derive(Debug, Clone)]
pub struct TokenExchange {
    listen: SocketAddr,
    sts: sts::StsUrl,
    audiences: Vec<String>,
    timeout: Duration,
}

impl TokenExchange {
    /// Loads a config's JSON, exactly `{"listen", "sts": {"url"},
    /// "audiences", "timeout_ms"?}`. `Err` says which key is wrong and why:
    /// unknown, missing or mistyped keys, a non-loopback `listen`, an STS URL
    /// that is not `http://HOST[:PORT]/PATH` (https is refused: there is no
    /// TLS client), an empty, duplicated or non-segment audience, a zero or
    /// huge timeout.
    pub fn from_json(text: &str) -> Result<TokenExchange, String> {
        let file: ConfigFile = crate::config::from_json(text)?;
        let listen = file.listen.parse::<SocketAddr>().map_err(|_| {
            format!("`listen`: {:?} is not an IP address and port (e.g. \"127.0.0.1:9292\")", file.listen)
        })?;
        if !listen.ip().is_loopback() {
            return Err(format!(
                "`listen`: {listen} is not a loopback address (the exchanger serves its pod's Envoy only)"
            ));
        }
        let sts = sts::StsUrl::parse(&file.sts.url).map_err(|e| format!("`sts.url`: {e}"))?;
        if file.audiences.is_empty() {
            return Err("`audiences` is empty: name at least one audience".into());
        }
        let mut seen = HashSet::new();
        for (i, audience) in file.audiences.iter().enumerate() {
            check_audience(audience).map_err(|e| format!("`audiences[{i}]` ({audience:?}): {e}"))?;
            if !seen.insert(audience.as_str()) {
                return Err(format!("`audiences[{i}]`: {audience:?} is listed twice"));
            }
        }
        let timeout_ms = match file.timeout_ms {
            None => DEFAULT_TIMEOUT_MS,
            Some(ms @ 1..=MAX_TIMEOUT_MS) => ms,
            Some(ms) => return Err(format!("`timeout_ms`: expected an integer from 1 to {MAX_TIMEOUT_MS}, not {ms}")),
        };
        Ok(TokenExchange { listen, sts, audiences: file.audiences, timeout: Duration::from_millis(timeout_ms) })
    }

    /// The config's `listen` address.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The STS token endpoint, as configured.
    pub fn sts_url(&self) -> &str {
        self.sts.as_str()
    }

    /// The audiences it exchanges for, in config order.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// How long one STS call (connect, request, whole answer) may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// The config file as written; [`TokenExchange::from_json`] checks the values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `listen`, `sts`, `audiences` and optionally `timeout_ms`")]
struct ConfigFile {
    listen: String,
    sts: StsFile,
    audiences: Vec<String>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `url`")]
struct StsFile {
    url: String,
}

/// An audience is one path segment of `/exchange/AUDIENCE/...`: unreserved
/// URL characters and `:` only, so it needs no percent-encoding.
fn check_audience(audience: &str) -> Result<(), String> {
    if audience.is_empty() {
        return Err("empty".into());
    }
    match audience.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | ':'))) {
        None if audience == "." || audience == ".." => Err("not a path segment".into()),
        None => Ok(()),
        Some(c) => Err(format!("{c:?} is not allowed (letters, digits, `-`, `.`, `_`, `~` and `:` only)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn load(json: Value) -> Result<TokenExchange, String> {
        TokenExchange::from_json(&json.to_string())
    }

    fn config() -> Value {
        serde_json::json!({
            "listen": "127.0.0.1:9292",
            "sts": {"url": "http://sts.internal:8080/token"},
            "audiences": ["payments", "loyalty"],
        })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut config = config();
        config[key] = value;
        config
    }

    fn error(json: Value) -> String {
        load(json).expect_err("should not load")
    }

    #[test]
    fn the_documented_config_loads() {
        let exchanger = load(with("timeout_ms", 1500.into())).unwrap();
        assert_eq!(exchanger.listen(), "127.0.0.1:9292".parse().unwrap());
        assert_eq!(exchanger.sts_url(), "http://sts.internal:8080/token");
        assert_eq!(exchanger.audiences(), ["payments", "loyalty"]);
        assert_eq!(exchanger.timeout(), Duration::from_millis(1500));
        assert_eq!(load(config()).unwrap().timeout(), Duration::from_millis(2000));
        assert!(load(with("listen", "[::1]:0".into())).is_ok());
        assert!(load(with("sts", serde_json::json!({"url": "http://10.0.0.7"}))).is_ok());
        assert!(load(with("audiences", serde_json::json!(["urn:shop:payments", "a.b-c_d~e"]))).is_ok());
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let e = error(with("timeout", 5.into()));
        assert!(e.contains("unknown field `timeout`") && e.contains("`timeout_ms`"), "{e}");
        let e = error(with("sts", serde_json::json!({"url": "http://sts/token", "client_id": "x"})));
        assert!(e.starts_with("`sts.client_id`: unknown field `client_id`, expected `url`"), "{e}");
        for key in ["listen", "sts", "audiences"] {
            let mut config = config();
            config.as_object_mut().unwrap().remove(key);
            assert!(error(config).contains(&format!("missing field `{key}`")), "{key}");
        }
        assert!(error(with("sts", serde_json::json!({}))).starts_with("`sts`: missing field `url`"));
        assert!(error(serde_json::json!([])).contains("expected an object"));
        assert!(TokenExchange::from_json("{").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn sts_urls_must_be_plain_http() {
        let url = |u: &str| error(with("sts", serde_json::json!({ "url": u })));
        let e = url("https://sts.internal/token");
        assert!(e.contains("`sts.url`") && e.contains("https") && e.contains("TLS"), "{e}");
        assert!(url("ftp://sts.internal/token").contains("scheme `ftp`"));
        let e = url("sts.internal:8080/token");
        assert!(e.contains("http://"), "{e}");
        assert!(url("/token").contains("http://"));
        let e = url("http://");
        assert!(e.contains("not a URL") || e.contains("host"), "{e}");
        assert!(url("http://a b/token").contains("not a URL"));
        assert!(url("http://user:pw@sts/token").contains("credentials"));
        assert!(url("http://sts/token#x").contains("fragment"));
        assert!(error(with("sts", "http://sts/token".into())).contains("expected an object"));
    }

    #[test]
    fn audiences_listen_and_timeout_are_checked() {
        assert!(error(with("audiences", serde_json::json!([]))).contains("`audiences` is empty"));
        assert!(error(with("audiences", "payments".into())).starts_with("`audiences`: invalid type: string"));
        assert!(error(with("audiences", serde_json::json!([""]))).contains("`audiences[0]`"));
        let e = error(with("audiences", serde_json::json!(["a", 1])));
        assert!(e.starts_with("`audiences[1]`: invalid type: integer `1`, expected a string"), "{e}");
        assert!(error(with("audiences", serde_json::json!(["pay/ments"]))).contains("'/' is not allowed"));
        assert!(error(with("audiences", serde_json::json!([".."]))).contains("not a path segment"));
        assert!(error(with("audiences", serde_json::json!(["a", "a"]))).contains("listed twice"));
        assert!(error(with("listen", "0.0.0.0:9292".into())).contains("not a loopback address"));
        assert!(error(with("listen", "localhost:9292".into())).contains("not an IP address and port"));
        assert!(error(with("listen", 9292.into())).contains("expected a string"));
        for bad in [serde_json::json!(0), serde_json::json!(-1), serde_json::json!(1.5), serde_json::json!("2000")] {
            assert!(error(with("timeout_ms", bad.clone())).contains("`timeout_ms`"), "{bad}");
        }
        assert!(error(with("timeout_ms", 60_001.into())).contains("1 to 60000"));
    }
}
