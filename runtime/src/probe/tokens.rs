//! The tokens a probe sends: valid ones for its control requests and the
//! request a limit or validator judges, forged ones for its attack. `up
//! --probe` signs them all with the run's keys ([`LocalIssuers`]); a
//! standalone run against staging ([`StagingTokens`]) signs with a test
//! issuer's key (`--issuer-key`) or breaks a real token it was given
//! (`--token-env`) in the ways that need no key, and says which probes it
//! cannot serve, so they are skipped with the reason.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::contracts::plan::Auth;
use crate::local_mesh::identity::{Forgery, LocalIssuers};

/// Where a probe's tokens come from.
pub trait ProbeTokens {
    /// Why no token of `issuer` broken as `forgery` says can be made here, if none can.
    fn unavailable(&self, issuer: &str, forgery: &Forgery) -> Option<String>;

    /// A token meeting `auth` for `subject` (its `sub`), broken as `forgery` says.
    fn forged(&self, auth: &Auth, subject: &str, forgery: &Forgery) -> Result<String, String>;
}

impl ProbeTokens for LocalIssuers {
    fn unavailable(&self, issuer: &str, _: &Forgery) -> Option<String> {
        (!self.has(issuer)).then(|| format!("the run has no key of issuer `{issuer}`"))
    }

    fn forged(&self, auth: &Auth, subject: &str, forgery: &Forgery) -> Result<String, String> {
        LocalIssuers::forged(self, auth, subject, forgery)
    }
}

/// A standalone run's tokens: an issuer's key, else a token of it.
pub struct StagingTokens {
    keys: LocalIssuers,
    tokens: BTreeMap<String, String>,
}

impl StagingTokens {
    /// `keys`: issuer to PKCS#8 PEM (`--issuer-key`); `tokens`: issuer to a valid token (`--token-env`).
    pub fn new(keys: &BTreeMap<String, Vec<u8>>, tokens: BTreeMap<String, String>) -> Result<StagingTokens, String> {
        Ok(StagingTokens { keys: LocalIssuers::with_keys([], keys)?, tokens })
    }
}

impl ProbeTokens for StagingTokens {
    fn unavailable(&self, issuer: &str, forgery: &Forgery) -> Option<String> {
        if self.keys.has(issuer) {
            return None;
        }
        if !self.tokens.contains_key(issuer) {
            return Some(format!(
                "no token of issuer `{issuer}`: pass --token-env {issuer}=VAR or --issuer-key {issuer}=FILE"
            ));
        }
        match forgery {
            Forgery::Valid | Forgery::AlgNone | Forgery::ForgedKid | Forgery::OtherIssuer => None,
            Forgery::Expired | Forgery::OtherAudience | Forgery::Without(_) => Some(format!(
                "changing a claim of a token of `{issuer}` takes its signing key (--issuer-key {issuer}=FILE)"
            )),
        }
    }

    fn forged(&self, auth: &Auth, subject: &str, forgery: &Forgery) -> Result<String, String> {
        if self.keys.has(&auth.issuer) {
            return self.keys.forged(auth, subject, forgery);
        }
        let token = self.tokens.get(&auth.issuer).ok_or_else(|| format!("no token of issuer `{}`", auth.issuer))?;
        let (header, claims) = decode(token)?;
        match forgery {
            Forgery::Valid => Ok(token.clone()),
            Forgery::AlgNone => {
                let header = json!({ "alg": "none", "typ": "JWT" });
                Ok(format!("{}.{}.", encode(&header), encode(&Value::Object(claims))))
            }
            Forgery::ForgedKid => {
                let kid = header.get("kid").and_then(Value::as_str).unwrap_or("meshc-probe");
                LocalIssuers::impostor(&auth.issuer, kid)?.sign(&auth.issuer, claims)
            }
            Forgery::OtherIssuer => {
                let stranger = "https://meshc-probe.invalid";
                LocalIssuers::new([stranger])?.sign(stranger, claims)
            }
            other => Err(format!("{other:?} takes the signing key of `{}`", auth.issuer)),
        }
    }
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A JSON object: a token's header or claims.
type Object = Map<String, Value>;

/// A compact JWS's header and claims (not verified: the gateway does that).
fn decode(token: &str) -> Result<(Object, Object), String> {
    let mut parts = token.split('.');
    let mut part = |what: &str| -> Result<Object, String> {
        let text = parts.next().ok_or_else(|| format!("the given token has no {what}"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| format!("the given token's {what} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("the given token's {what} is not a JSON object"))
    };
    Ok((part("header")?, part("claims")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(issuer: &str) -> Auth {
        Auth { audiences: vec!["api".into()], claims: Vec::new(), issuer: issuer.into() }
    }

    fn parts(token: &str) -> (Value, Value) {
        let (header, claims) = decode(token).unwrap();
        (Value::Object(header), Value::Object(claims))
    }

    #[test]
    fn a_given_token_is_broken_only_where_no_key_is_needed_and_the_rest_say_why() {
        let real = LocalIssuers::new(["https://idp.test"]).unwrap();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("tester"));
        claims.insert("aud".into(), json!("api"));
        let token = real.sign("https://idp.test", claims).unwrap();
        let given =
            StagingTokens::new(&BTreeMap::new(), BTreeMap::from([("https://idp.test".to_string(), token.clone())]))
                .unwrap();
        let auth = auth("https://idp.test");
        assert_eq!(given.forged(&auth, "x", &Forgery::Valid).unwrap(), token);
        let (header, claims) = parts(&given.forged(&auth, "x", &Forgery::AlgNone).unwrap());
        assert_eq!((header["alg"].as_str(), claims["sub"].as_str()), (Some("none"), Some("tester")));
        let forged = given.forged(&auth, "x", &Forgery::ForgedKid).unwrap();
        assert_eq!(parts(&forged).0["kid"], parts(&token).0["kid"]);
        assert!(real.verify(&forged).unwrap_err().contains("signature"), "signed by another key");
        assert_eq!(
            parts(&given.forged(&auth, "x", &Forgery::OtherIssuer).unwrap()).1["iss"],
            "https://meshc-probe.invalid"
        );
        for forgery in [Forgery::Valid, Forgery::AlgNone, Forgery::ForgedKid, Forgery::OtherIssuer] {
            assert_eq!(given.unavailable("https://idp.test", &forgery), None, "{forgery:?}");
        }
        for forgery in [Forgery::Expired, Forgery::OtherAudience, Forgery::Without(vec!["scope".into()])] {
            let why = given.unavailable("https://idp.test", &forgery).unwrap();
            assert!(why.contains("--issuer-key https://idp.test=FILE"), "{forgery:?}: {why}");
        }
        let why = given.unavailable("https://other.test", &Forgery::Valid).unwrap();
        assert!(why.contains("--token-env https://other.test=VAR"), "{why}");
    }
}
