//! How the adapter reaches brokers: rskafka's client, and the connections
//! the group protocol ([`super::group`]) speaks over. Both take the
//! broker's TLS (its CA, or the system's roots) and SASL credentials
//! (`user:password` with PLAIN or SCRAM), read once, at connect time.

mod sasl;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::{Client, ClientBuilder, Credentials as SaslCredentials, SaslConfig};
use rskafka::BackoffConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::super::config::{Credentials, SaslMechanism, Tls};
use super::super::{check_readable, read_credentials, ConnectError};
use super::{BrokerConfig, CLIENT_DEADLINE, CLIENT_ID};

/// A connection to one broker for the requests rskafka does not speak:
/// plain TCP or TLS, authenticated when the broker has credentials.
pub(super) type Stream = Box<dyn Io>;

/// What a [`Stream`] is: any tokio byte stream.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How to reach a broker's nodes: the bootstrap addresses and how to talk
/// to them, for rskafka's client and for the adapter's own connections.
pub(super) struct Connector {
    bootstrap: Vec<String>,
    tls: Option<Arc<ClientConfig>>,
    sasl: Option<Sasl>,
}

/// A broker's SASL login. Its `Debug` leaves the password out.
struct Sasl {
    mechanism: SaslMechanism,
    user: String,
    password: String,
    /// Where the credentials were read (`credentials file /x`): errors name it.
    source: String,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("bootstrap", &self.bootstrap)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|s| (s.mechanism, &s.user)))
            .finish()
    }
}

impl Connector {
    /// Reads the broker's credentials and TLS roots. Errors name the
    /// variable or file, never the secret.
    pub fn new(config: &BrokerConfig) -> Result<Connector, ConnectError> {
        let tls = match &config.tls {
            Some(tls) => Some(Arc::new(tls_config(tls, &config.name)?)),
            None => None,
        };
        let sasl = match (&config.credentials, config.sasl) {
            (Some(credentials), Some(mechanism)) => Some(sasl_login(credentials, mechanism, &config.name)?),
            _ => None,
        };
        Ok(Connector { bootstrap: config.addresses.clone(), tls, sasl })
    }

    /// The addresses a client starts from (`host:port`).
    pub fn bootstrap(&self) -> &[String] {
        &self.bootstrap
    }

    /// A connection to the node at `address` (`host:port`), ready for
    /// requests: TLS-wrapped and SASL-authenticated as the broker says.
    pub async fn connect(&self, address: &str) -> Result<Stream, String> {
        let tcp = TcpStream::connect(address).await.map_err(|e| format!("{address}: {e}"))?;
        let mut stream: Stream = match &self.tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = server_name(address)?;
                let tls = TlsConnector::from(Arc::clone(config)).connect(name, tcp).await;
                Box::new(tls.map_err(|e| format!("{address}: TLS: {e}"))?)
            }
        };
        if let Some(sasl) = &self.sasl {
            sasl::authenticate(&mut stream, sasl.mechanism, &sasl.user, &sasl.password)
                .await
                .map_err(|e| format!("{address}: {e} ({})", sasl.describe()))?;
        }
        Ok(stream)
    }

    /// rskafka's client for the broker; the error says how it connected.
    pub async fn client(&self) -> Result<Client, String> {
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.,
            deadline: Some(CLIENT_DEADLINE),
        };
        let mut builder = ClientBuilder::new(self.bootstrap.clone()).client_id(CLIENT_ID).backoff_config(backoff);
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(Arc::clone(tls));
        }
        if let Some(sasl) = &self.sasl {
            let credentials = SaslCredentials::new(sasl.user.clone(), sasl.password.clone());
            builder = builder.sasl_config(match sasl.mechanism {
                SaslMechanism::Plain => SaslConfig::Plain(credentials),
                SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
                SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
            });
        }
        builder.build().await.map_err(|e| match &self.sasl {
            Some(sasl) => format!("{e} ({})", sasl.describe()),
            None => e.to_string(),
        })
    }
}

impl Sasl {
    /// `SASL SCRAM-SHA-512 as "shop", credentials file /x`: never the password.
    fn describe(&self) -> String {
        format!("SASL {} as {:?}, {}", sasl::mechanism_name(self.mechanism), self.user, self.source)
    }
}

/// Reads `user:password` from the broker's credentials.
fn sasl_login(credentials: &Credentials, mechanism: SaslMechanism, broker: &str) -> Result<Sasl, ConnectError> {
    let source = credentials.source();
    let secret = read_credentials(credentials, broker)?;
    match secret.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok(Sasl { mechanism, user: user.to_string(), password: password.to_string(), source })
        }
        _ => Err(ConnectError::Credentials(format!(
            "broker {broker:?}: Kafka credentials are `user:password` (the {source} holds something else)"
        ))),
    }
}

/// rustls (on ring) trusting the broker's CA, or the system's roots.
fn tls_config(tls: &Tls, broker: &str) -> Result<ClientConfig, ConnectError> {
    let mut roots = RootCertStore::empty();
    match &tls.ca {
        Some(path) => {
            check_readable(path, broker)?;
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    ConnectError::Credentials(format!(
                        "broker {broker:?}: the TLS CA file {} is not PEM: {e}",
                        path.display()
                    ))
                })?;
            let (added, _) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(ConnectError::Credentials(format!(
                    "broker {broker:?}: the TLS CA file {} holds no certificate",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(ConnectError::Credentials(format!(
                    "broker {broker:?}: TLS without `ca`: the system has no root certificates"
                )));
            }
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Broker(format!("broker {broker:?}: TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The name the broker's certificate must carry: the address's host (a
/// DNS name or an IP address).
fn server_name(address: &str) -> Result<ServerName<'static>, String> {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    ServerName::try_from(host.to_string()).map_err(|e| format!("{address}: TLS: {host:?} is not a server name: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_host() {
        assert_eq!(server_name("kafka-0.svc:9093").unwrap().to_str(), "kafka-0.svc");
        assert_eq!(server_name("127.0.0.1:9093").unwrap().to_str(), "127.0.0.1");
        assert_eq!(server_name("[::1]:9093").unwrap().to_str(), "::1");
    }

    /// The adapter's own SASL (handshake, then SCRAM's first token in
    /// `SaslAuthenticate`), plain and inside TLS, reaches Tansu's SCRAM
    /// server, which knows no users (see `SecuredKafka`) and says so; PLAIN
    /// it does not offer. Errors name the mechanism, the user and the
    /// source only.
    #[tokio::test]
    async fn own_connections_authenticate_with_the_brokers_scram() {
        for tls in [false, true] {
            let broker = meshc_test_support::SecuredKafka::start(true, tls);
            let address = broker.addr.to_string();
            for (mechanism, answer) in [
                (SaslMechanism::ScramSha512, "SASL SCRAM-SHA-512: "),
                (SaslMechanism::ScramSha256, "SASL SCRAM-SHA-256: "),
                // Tansu drops the connection (NoSharedMechanism).
                (SaslMechanism::Plain, "unexpected end of file"),
            ] {
                let connector = Connector {
                    bootstrap: vec![address.clone()],
                    tls: tls.then(|| Arc::new(tls_config(&Tls { ca: Some(broker.ca.clone()) }, "k").unwrap())),
                    sasl: Some(Sasl {
                        mechanism,
                        user: "orders".into(),
                        password: "p4ss-w0rd".into(),
                        source: "credentials file /run/k".into(),
                    }),
                };
                let Err(error) = connector.connect(&address).await else { panic!("{mechanism:?} authenticated") };
                assert!(error.starts_with(&format!("{address}: {answer}")), "{mechanism:?}, tls {tls}: {error}");
                assert!(error.contains("unknown user") || mechanism == SaslMechanism::Plain, "{error}");
                assert!(error.ends_with(", credentials file /run/k)"), "{error}");
                assert!(!error.contains("p4ss"), "{error}");
            }
        }
    }

    #[test]
    fn a_connector_never_shows_the_password() {
        let connector = Connector {
            bootstrap: vec!["k:9092".into()],
            tls: None,
            sasl: Some(Sasl {
                mechanism: SaslMechanism::ScramSha512,
                user: "shop".into(),
                password: "hunter2-secret".into(),
                source: "credentials file /run/k".into(),
            }),
        };
        let shown = format!("{connector:?} {}", connector.sasl.as_ref().unwrap().describe());
        assert!(shown.contains("shop") && shown.contains("/run/k"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
