//! SASL on the adapter's own connections: `SaslHandshake` v1 names the
//! mechanism, then `SaslAuthenticate` v0 carries each token (rsasl, the
//! SASL code rskafka's client uses, computes them).

use rsasl::prelude::{Mechname, SASLClient, SASLConfig};

use super::super::super::config::SaslMechanism;
use super::super::wire::{exchange, put_i32, put_str, Wire};
use super::Stream;

const API_SASL_HANDSHAKE: i16 = 17;
const API_SASL_AUTHENTICATE: i16 = 36;
/// SCRAM takes two rounds, PLAIN one: a broker asking for more misbehaves.
const MAX_ROUNDS: i32 = 4;

/// The mechanism's name on the wire.
pub(super) fn mechanism_name(mechanism: SaslMechanism) -> &'static str {
    match mechanism {
        SaslMechanism::Plain => "PLAIN",
        SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
        SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
    }
}

/// Authenticates `stream` as `user`. Errors never hold the password.
pub(super) async fn authenticate(
    stream: &mut Stream,
    mechanism: SaslMechanism,
    user: &str,
    password: &str,
) -> Result<(), String> {
    let name = mechanism_name(mechanism);
    let mut body = Vec::new();
    put_str(&mut body, name);
    let answer = exchange(stream, API_SASL_HANDSHAKE, 1, 1, &body).await?;
    check_handshake(&answer, name)?;
    let config = SASLConfig::with_credentials(None, user.to_string(), password.to_string())
        .map_err(|e| format!("SASL {name}: {e}"))?;
    let wanted = Mechname::parse(name.as_bytes()).map_err(|e| format!("SASL {name}: {e}"))?;
    let mut session = SASLClient::new(config).start_suggested(&[wanted]).map_err(|e| format!("SASL {name}: {e}"))?;
    let mut received: Option<Vec<u8>> = None;
    for round in 0..MAX_ROUNDS {
        let mut token = Vec::new();
        let state = session.step(received.as_deref(), &mut token).map_err(|e| format!("SASL {name}: {e}"))?;
        if state.has_sent_message() {
            let mut body = Vec::new();
            put_i32(&mut body, i32::try_from(token.len()).map_err(|_| "SASL token too large")?);
            body.extend_from_slice(&token);
            let answer = exchange(stream, API_SASL_AUTHENTICATE, 0, 2 + round, &body).await?;
            received = Some(read_authenticate(&answer, name)?);
        }
        if state.is_finished() {
            return Ok(());
        }
    }
    Err(format!("SASL {name}: the broker asked for more than {MAX_ROUNDS} rounds"))
}

/// A `SaslHandshake` answer: error code, then the broker's mechanisms.
fn check_handshake(answer: &[u8], name: &str) -> Result<(), String> {
    let mut r = Wire::new(answer);
    let code = r.i16()?;
    if code == 0 {
        return Ok(());
    }
    let offered: Vec<String> = (0..r.count()?).map(|_| r.string()).collect::<Result<_, _>>()?;
    Err(format!("the broker does not take SASL {name} (error code {code}; it offers {})", offered.join(", ")))
}

/// A `SaslAuthenticate` v0 answer: error code, error message, the
/// broker's token.
fn read_authenticate(answer: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let mut r = Wire::new(answer);
    let code = r.i16()?;
    let message = r.string()?;
    if code != 0 {
        let message = if message.is_empty() { String::new() } else { format!(": {message}") };
        return Err(format!("SASL {name} authentication failed (error code {code}{message})"));
    }
    r.bytes().map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_handshake_lists_what_the_broker_offers() {
        // error 33 (UnsupportedSaslMechanism), ["SCRAM-SHA-512"]
        let mut answer = vec![0, 33, 0, 0, 0, 1, 0, 13];
        answer.extend_from_slice(b"SCRAM-SHA-512");
        let error = check_handshake(&answer, "PLAIN").unwrap_err();
        assert_eq!(error, "the broker does not take SASL PLAIN (error code 33; it offers SCRAM-SHA-512)");
        assert!(check_handshake(&[0, 0, 0, 0, 0, 0], "PLAIN").is_ok());
    }

    #[test]
    fn a_failed_authentication_carries_the_brokers_message() {
        let mut answer = vec![0, 58, 0, 3];
        answer.extend_from_slice(b"bad");
        answer.extend_from_slice(&[255, 255, 255, 255]);
        assert_eq!(
            read_authenticate(&answer, "SCRAM-SHA-256").unwrap_err(),
            "SASL SCRAM-SHA-256 authentication failed (error code 58: bad)"
        );
        assert_eq!(read_authenticate(&[0, 0, 255, 255, 0, 0, 0, 2, 7, 8], "PLAIN").unwrap(), vec![7, 8]);
        assert!(read_authenticate(&[0, 0, 255, 255, 0, 0, 0, 9], "PLAIN").is_err());
    }
}
