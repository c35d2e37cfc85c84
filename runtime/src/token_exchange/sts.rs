//! The STS side: its URL, the RFC 8693 request and reading the answer.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::http_client::{self, error_chain, HttpClient};

/// STS answers above this are malformed.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Longest STS `error_description` (or non-JSON body) passed on.
const MAX_DESCRIPTION_CHARS: usize = 300;

pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An `http://HOST[:PORT][/PATH][?QUERY]` URL.
#[derive(Debug, Clone)]
pub(crate) struct StsUrl {
    text: String,
    uri: http::Uri,
}

impl StsUrl {
    pub fn parse(text: &str) -> Result<StsUrl, String> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(format!(
                "{text:?}: https is not supported (meshc-runtime has no TLS client); use an http:// URL, \
                 e.g. through a local Envoy that originates TLS to the STS"
            ));
        }
        if text.contains('#') {
            return Err(format!("{text:?}: a fragment (`#...`) has no place in a token endpoint URL"));
        }
        let uri: http::Uri =
            text.parse().map_err(|e| format!("{text:?} is not a URL ({e}); expected http://HOST[:PORT]/PATH"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => return Err(format!("{text:?}: scheme `{other}` is not supported; use http://")),
            None => return Err(format!("{text:?}: expected an absolute http:// URL")),
        }
        let Some(authority) = uri.authority() else {
            return Err(format!("{text:?}: expected an absolute http:// URL with a host"));
        };
        if authority.as_str().contains('@') {
            return Err(format!("{text:?}: credentials in the URL are not supported"));
        }
        if authority.host().is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        Ok(StsUrl { text: text.to_string(), uri })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// What the STS answered.
#[derive(Debug)]
pub(crate) enum Answer {
    /// 200 with a bearer access token; `expires_in` in seconds, if given.
    Token { access_token: String, expires_in: Option<u64> },
    /// 4xx: its `error` and `error_description` (or the start of a non-JSON
    /// body as the description).
    Refused { status: u16, error: Option<String>, description: Option<String> },
    /// 5xx, an unexpected status, no answer in time, no connection, or a
    /// 200 without a usable token: what went wrong, and the status if one
    /// arrived.
    Unavailable { status: Option<u16>, detail: String },
}

/// The client the exchanger calls the STS with.
pub(crate) struct StsClient(HttpClient);

impl StsClient {
    /// Must be called inside the tokio runtime that makes the calls.
    pub fn new() -> Self {
        StsClient(http_client::pooled())
    }

    /// Exchanges `subject_token` for a token for `audience`, the whole call
    /// (connect, request, answer body) within `timeout`.
    pub async fn exchange(&self, url: &StsUrl, subject_token: &str, audience: &str, timeout: Duration) -> Answer {
        let body = form(&[
            ("grant_type", GRANT_TYPE),
            ("subject_token", subject_token),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("audience", audience),
        ]);
        let request = http::Request::post(url.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(request) => request,
            Err(e) => return Answer::Unavailable { status: None, detail: format!("building the STS request: {e}") },
        };
        let call = async {
            let response =
                self.0.request(request).await.map_err(|e| (None, format!("calling the STS: {}", error_chain(&e))))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| (Some(status), format!("reading the STS answer: {e}")))?
                .to_bytes();
            Ok::<_, (Option<u16>, String)>((status, body))
        };
        match tokio::time::timeout(timeout, call).await {
            Err(_) => Answer::Unavailable {
                status: None,
                detail: format!("the STS did not answer within {} ms", timeout.as_millis()),
            },
            Ok(Err((status, detail))) => Answer::Unavailable { status, detail },
            Ok(Ok((status, body))) => read_answer(status, &body),
        }
    }
}

/// The answer to a call that got `status` and `body`.
pub(crate) fn read_answer(status: u16, body: &[u8]) -> Answer {
    match status {
        200 => read_token(body).unwrap_or_else(|detail| Answer::Unavailable { status: Some(200), detail }),
        400..=499 => {
            let json = serde_json::from_slice::<Value>(body).ok();
            let field = |name: &str| {
                json.as_ref().and_then(|j| j.get(name)).and_then(Value::as_str).map(|s| excerpt(s.as_bytes()))
            };
            let error = field("error");
            let description = match (&json, field("error_description")) {
                (_, Some(description)) => Some(description),
                (None, None) if !body.iter().all(u8::is_ascii_whitespace) => Some(excerpt(body)),
                _ => None,
            };
            Answer::Refused { status, error, description }
        }
        _ => Answer::Unavailable { status: Some(status), detail: format!("the STS answered HTTP {status}") },
    }
}

/// A 200 answer's token (RFC 6749 section 5.1, RFC 8693 section 2.2.1).
fn read_token(body: &[u8]) -> Result<Answer, String> {
    let json: Value = serde_json::from_slice(body).map_err(|e| format!("the STS answer is not JSON: {e}"))?;
    let Value::Object(json) = json else {
        return Err("the STS answer is not a JSON object".into());
    };
    let access_token = match json.get("access_token") {
        Some(Value::String(token)) if !token.is_empty() => token,
        _ => return Err("the STS answer has no `access_token` string".into()),
    };
    if http::HeaderValue::from_str(&format!("Bearer {access_token}")).is_err() {
        return Err("the STS's `access_token` cannot be a header value".into());
    }
    match json.get("token_type") {
        None => {}
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(Value::String(kind)) => {
            return Err(format!("the STS issued a token of type {:?}, not Bearer", excerpt(kind.as_bytes())))
        }
        Some(_) => return Err("the STS answer's `token_type` is not a string".into()),
    }
    let expires_in = match json.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64().or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)) {
            Some(seconds) => Some(seconds),
            None => return Err("the STS answer's `expires_in` is not a number of seconds".into()),
        },
    };
    Ok(Answer::Token { access_token: access_token.clone(), expires_in })
}

/// `application/x-www-form-urlencoded` (the WHATWG serializer: `*-._` and
/// alphanumerics as they are, space as `+`, other bytes of the UTF-8 as
/// `%XX`).
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    // `%20` is the one byte the form serializer writes otherwise: as `+`.
    let encode = |text: &str| utf8_percent_encode(text, FORM).to_string().replace("%20", "+");
    pairs.iter().map(|(name, value)| format!("{}={}", encode(name), encode(value))).collect::<Vec<_>>().join("&")
}

/// What the form serializer percent-encodes: all but alphanumerics and `*-._`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');

/// At most [`MAX_DESCRIPTION_CHARS`] of `bytes`, lossily decoded.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(MAX_DESCRIPTION_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_urlencoded() {
        assert_eq!(
            form(&[("grant_type", GRANT_TYPE), ("subject_token", "a b+c/d=e&f~é*")]),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &subject_token=a+b%2Bc%2Fd%3De%26f%7E%C3%A9*"
        );
    }

    #[test]
    fn answers_are_read() {
        let token = |json: &str| read_answer(200, json.as_bytes());
        assert!(matches!(
            token(r#"{"access_token": "t", "token_type": "bearer", "expires_in": 60}"#),
            Answer::Token { access_token, expires_in: Some(60) } if access_token == "t"
        ));
        assert!(matches!(token(r#"{"access_token": "t"}"#), Answer::Token { expires_in: None, .. }));
        for bad in [
            "nope",
            "[]",
            r#"{"token_type": "Bearer"}"#,
            r#"{"access_token": ""}"#,
            r#"{"access_token": "a\nb"}"#,
            r#"{"access_token": "t", "token_type": "N_A"}"#,
            r#"{"access_token": "t", "expires_in": "60"}"#,
        ] {
            assert!(matches!(token(bad), Answer::Unavailable { status: Some(200), .. }), "{bad}");
        }
        assert!(matches!(
            read_answer(400, br#"{"error": "invalid_target", "error_description": "no"}"#),
            Answer::Refused { status: 400, error: Some(e), description: Some(d) } if e == "invalid_target" && d == "no"
        ));
        assert!(matches!(
            read_answer(401, b"go away"),
            Answer::Refused { status: 401, error: None, description: Some(d) } if d == "go away"
        ));
        assert!(matches!(read_answer(503, b""), Answer::Unavailable { status: Some(503), .. }));
        assert!(matches!(read_answer(302, b""), Answer::Unavailable { status: Some(302), .. }));
    }
}
