//! How the adapter reaches brokers: rskafka's client, and the plain
//! connections the group protocol ([`super::group`]) speaks over.

use std::time::Duration;

use rskafka::client::error::Error as KafkaError;
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;
use tokio::net::TcpStream;

use super::{BrokerConfig, CLIENT_DEADLINE, CLIENT_ID};

/// A connection to one broker for the requests rskafka does not speak.
pub(super) type Stream = TcpStream;

/// How to reach a broker's nodes: the bootstrap addresses and how to talk
/// to them, for rskafka's client and for the adapter's own connections.
#[derive(Debug)]
pub(super) struct Connector {
    bootstrap: Vec<String>,
}

impl Connector {
    pub fn new(config: &BrokerConfig) -> Connector {
        Connector { bootstrap: config.addresses.clone() }
    }

    /// The addresses a client starts from (`host:port`).
    pub fn bootstrap(&self) -> &[String] {
        &self.bootstrap
    }

    /// A connection to the node at `address` (`host:port`), ready for requests.
    pub async fn connect(&self, address: &str) -> Result<Stream, String> {
        TcpStream::connect(address).await.map_err(|e| format!("{address}: {e}"))
    }

    /// rskafka's client for the broker.
    pub async fn client(&self) -> Result<Client, KafkaError> {
        build_client(&self.bootstrap).await
    }
}

async fn build_client(addresses: &[String]) -> Result<Client, KafkaError> {
    let backoff = BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
        base: 2.,
        deadline: Some(CLIENT_DEADLINE),
    };
    ClientBuilder::new(addresses.to_vec()).client_id(CLIENT_ID).backoff_config(backoff).build().await
}
