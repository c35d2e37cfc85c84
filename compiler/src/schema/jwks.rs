//! JWKS files (`jwks "FILE"` of a `jwt-issuer`): the issuer's public keys,
//! inlined into the gateway's config at build time. Checked for what Envoy
//! and Istio need: a JSON object whose `keys` is a non-empty array of keys,
//! each with a `kty` Envoy verifies (`RSA`, `EC`, `oct`, `OKP`) and that
//! type's public parameters. Private parameters and symmetric (`oct`) keys
//! are secrets, refused without quoting them: a JWKS is shipped in configs
//! and docs.

use serde_json::Value;

use super::json_spans::{self, JsonSpans};
use super::Parsed;
use crate::model::values::SecretKind;

/// Public parameters each key type needs.
const KEY_TYPES: &[(&str, &[&str])] =
    &[("RSA", &["n", "e"]), ("EC", &["crv", "x", "y"]), ("OKP", &["crv", "x"]), ("oct", &["k"])];
/// Private parameters of RSA, EC and OKP keys (`k` is oct's, refused with the type).
const PRIVATE: &[&str] = &["d", "p", "q", "dp", "dq", "qi"];

pub(super) fn load(text: &str) -> Parsed {
    let value: Value = serde_json::from_str(text).map_err(|e| json_spans::syntax_error(text, &e))?;
    let spans = JsonSpans::new(text);
    let at = |pointer: &str| spans.as_ref().and_then(|s| s.locate(pointer)).or(Some(0..text.len().min(1)));
    let Some(keys) = value.get("keys").and_then(Value::as_array) else {
        return Err(("a JWKS is an object with a `keys` array".into(), at("")));
    };
    if keys.is_empty() {
        return Err(("the JWKS holds no keys, so no token could be verified".into(), at("/keys")));
    }
    for (i, key) in keys.iter().enumerate() {
        let pointer = format!("/keys/{i}");
        let Some(kty) = key.get("kty").and_then(Value::as_str) else {
            return Err((format!("key {i} has no `kty`"), at(&pointer)));
        };
        let Some((_, needs)) = KEY_TYPES.iter().find(|(t, _)| *t == kty) else {
            return Err((
                format!("key {i} has `kty` `{kty}`; JWT keys are RSA, EC, OKP or oct"),
                at(&format!("{pointer}/kty")),
            ));
        };
        if let Some(missing) = needs.iter().find(|p| key.get(**p).and_then(Value::as_str).is_none()) {
            return Err((format!("key {i} ({kty}) has no `{missing}`"), at(&pointer)));
        }
        // A secret is reported at the spec's `jwks` (the caller's span), never
        // at its place in the file: that would quote the key.
        if kty == "oct" {
            return Ok(secret(SecretKind::SymmetricJwk, format!("{pointer}/k")));
        }
        if let Some(private) = PRIVATE.iter().find(|p| key.get(**p).is_some()) {
            return Ok(secret(SecretKind::PrivateJwk, format!("{pointer}/{private}")));
        }
    }
    Ok(super::Loaded { jwks: Some(value.to_string()), ..super::Loaded::default() })
}

/// A JWKS that holds a secret: not loaded, the secret's kind and JSON pointer kept.
fn secret(kind: SecretKind, pointer: String) -> super::Loaded {
    super::Loaded { secret: Some((kind, pointer)), ..super::Loaded::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        load(text).err().expect("rejected").0
    }

    #[test]
    fn accepts_public_keys_and_rejects_the_rest() {
        let ec = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"BB","kid":"k1"}]}"#;
        assert!(load(ec).unwrap().jwks.unwrap().contains("\"kid\":\"k1\""));
        assert!(error("[]").contains("`keys` array"));
        assert!(error(r#"{"keys":[]}"#).contains("no keys"));
        assert!(error(r#"{"keys":[{"crv":"P-256"}]}"#).contains("no `kty`"));
        assert!(error(r#"{"keys":[{"kty":"DSA"}]}"#).contains("RSA, EC, OKP or oct"));
        assert!(error(r#"{"keys":[{"kty":"RSA","n":"AQ"}]}"#).contains("no `e`"));
        let private = load(r#"{"keys":[{"kty":"EC","crv":"P-256","x":"A","y":"B","d":"C"}]}"#).ok().unwrap();
        assert_eq!(private.secret, Some((SecretKind::PrivateJwk, "/keys/0/d".to_string())));
        assert!(private.jwks.is_none());
        let oct = load(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).ok().unwrap();
        assert_eq!(oct.secret, Some((SecretKind::SymmetricJwk, "/keys/0/k".to_string())));
        assert!(load("{").is_err());
    }
}
