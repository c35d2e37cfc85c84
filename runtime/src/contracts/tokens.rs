//! Where the runner gets the end user's tokens interactions need (their
//! `auth`) when it goes through the mesh: given ones, by issuer
//! (`meshc-runtime contracts --token ISSUER=TOKEN`), or ones `up` signs
//! with the keys it gave the proxies (`local_mesh::identity`).

use std::collections::BTreeMap;

use super::plan::Auth;

/// Hands out bearer tokens for interactions' `auth`.
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A token meeting `auth`, or why there is none.
    fn token(&self, auth: &Auth) -> Result<String, String>;
}

/// Tokens given per issuer (`iss`): the same one whatever the claims asked.
#[derive(Debug, Clone, Default)]
pub struct GivenTokens(pub BTreeMap<String, String>);

impl TokenSource for GivenTokens {
    fn token(&self, auth: &Auth) -> Result<String, String> {
        self.0.get(&auth.issuer).cloned().ok_or_else(|| {
            format!("the request needs a token of issuer `{}`: give --token {}=TOKEN", auth.issuer, auth.issuer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_tokens_are_chosen_by_issuer_and_a_missing_one_says_which() {
        let tokens = GivenTokens(BTreeMap::from([("https://a.test".to_string(), "t-a".to_string())]));
        let auth = |issuer: &str| Auth { audiences: vec![], claims: vec![], issuer: issuer.to_string() };
        assert_eq!(tokens.token(&auth("https://a.test")).unwrap(), "t-a");
        let e = tokens.token(&auth("https://b.test")).unwrap_err();
        assert!(e.contains("--token https://b.test=TOKEN"), "{e}");
    }
}
