//! Reading the runtime's JSON configs (validator rules, GraphQL gateway
//! configs, token exchanger configs) into their `#[derive(Deserialize)]`
//! file types. Each type denies unknown fields, so a misspelt or unexpected
//! key is an error; this names where it is.

use serde::de::DeserializeOwned;

/// Deserialises `text` into `T`. `Err` is `not JSON: ...` for syntax
/// errors, else serde's message prefixed by the path of the value that is
/// wrong (for an unknown field, the field itself): `` `routes[0].match.regex`:
/// unknown field `regex`, expected `path` or `prefix` at line 1 column 51``.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            format!("not JSON: {inner}")
        } else if path == "." {
            inner.to_string()
        } else {
            format!("`{path}`: {inner}")
        }
    })?;
    deserializer.end().map_err(|e| format!("not JSON: {e}"))?;
    Ok(value)
}

/// A plan's `format` must be the one this runtime reads.
pub(crate) fn expect_format(found: &str, expected: &str) -> Result<(), String> {
    if found == expected {
        return Ok(());
    }
    Err(format!(
        "`format`: {found:?} is not {expected:?}, the format this meshc-runtime reads; rebuild with the matching meshc"
    ))
}
