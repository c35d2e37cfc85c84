//! Group offsets: FindCoordinator v0, OffsetFetch v1 and OffsetCommit v2 on
//! the Kafka wire protocol (a group without members: generation -1), which
//! rskafka does not speak.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::transport::{Connector, Stream};
use super::wire::{exchange, put_i16, put_i32, put_i64, put_str, Wire};
use super::REQUEST_TIMEOUT;

const API_OFFSET_COMMIT: i16 = 8;
const API_OFFSET_FETCH: i16 = 9;
const API_FIND_COORDINATOR: i16 = 10;

/// A consumer group's committed offsets, over one connection to the
/// group's coordinator (made again after any error).
pub(crate) struct Offsets {
    connector: Arc<Connector>,
    group: String,
    connection: Mutex<Option<(Stream, i32)>>,
}

impl Offsets {
    pub fn new(connector: Arc<Connector>, group: String) -> Offsets {
        Offsets { connector, group, connection: Mutex::new(None) }
    }

    /// The committed offset of `topic`'s `partition`, `None` when none is.
    pub async fn fetch(&self, topic: &str, partition: i32) -> Result<Option<i64>, String> {
        let mut body = Vec::new();
        put_str(&mut body, &self.group);
        put_i32(&mut body, 1);
        put_str(&mut body, topic);
        put_i32(&mut body, 1);
        put_i32(&mut body, partition);
        let answer = self.request(API_OFFSET_FETCH, 1, &body).await?;
        let mut r = Wire::new(&answer);
        for _ in 0..r.count()? {
            let _name = r.string()?;
            for _ in 0..r.count()? {
                let at = r.i32()?;
                let offset = r.i64()?;
                let _metadata = r.string()?;
                let code = r.i16()?;
                if at == partition {
                    if code != 0 {
                        return Err(format!("OffsetFetch answered error code {code}"));
                    }
                    return Ok((offset >= 0).then_some(offset));
                }
            }
        }
        Ok(None)
    }

    /// Commits `offset` (the next to read) for `topic`'s `partition`.
    pub async fn commit(&self, topic: &str, partition: i32, offset: i64) -> Result<(), String> {
        let mut body = Vec::new();
        put_str(&mut body, &self.group);
        put_i32(&mut body, -1); // generation: no membership
        put_str(&mut body, ""); // member id
        put_i64(&mut body, -1); // retention: the broker's
        put_i32(&mut body, 1);
        put_str(&mut body, topic);
        put_i32(&mut body, 1);
        put_i32(&mut body, partition);
        put_i64(&mut body, offset);
        put_i16(&mut body, -1); // metadata: null
        let answer = self.request(API_OFFSET_COMMIT, 2, &body).await?;
        let mut r = Wire::new(&answer);
        for _ in 0..r.count()? {
            let _name = r.string()?;
            for _ in 0..r.count()? {
                let _at = r.i32()?;
                let code = r.i16()?;
                if code != 0 {
                    return Err(format!("OffsetCommit answered error code {code}"));
                }
            }
        }
        Ok(())
    }

    /// Sends one request to the coordinator: the answer's body.
    async fn request(&self, api: i16, version: i16, body: &[u8]) -> Result<Vec<u8>, String> {
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            *slot = Some((self.coordinator().await?, 0));
        }
        let (stream, correlation) = slot.as_mut().expect("connected above");
        *correlation = correlation.wrapping_add(1);
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, exchange(stream, api, version, *correlation, body)).await;
        match answer {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                *slot = None;
                Err(e)
            }
            Err(_) => {
                *slot = None;
                Err("the group coordinator did not answer".into())
            }
        }
    }

    /// A connection to the group's coordinator, found through any address.
    async fn coordinator(&self) -> Result<Stream, String> {
        let mut last = String::from("no address");
        for address in self.connector.bootstrap() {
            let found = tokio::time::timeout(REQUEST_TIMEOUT, async {
                let mut stream = self.connector.connect(address).await?;
                let mut body = Vec::new();
                put_str(&mut body, &self.group);
                let answer = exchange(&mut stream, API_FIND_COORDINATOR, 0, 0, &body).await?;
                let mut r = Wire::new(&answer);
                let code = r.i16()?;
                let _node = r.i32()?;
                let host = r.string()?;
                let port = r.i32()?;
                if code != 0 {
                    return Err(format!("FindCoordinator answered error code {code}"));
                }
                let port = u16::try_from(port).map_err(|_| format!("bad port {port}"))?;
                self.connector.connect(&format!("{host}:{port}")).await.map_err(|e| format!("coordinator {e}"))
            })
            .await;
            match found {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => last = format!("{address}: {e}"),
                Err(_) => last = format!("{address}: no answer"),
            }
        }
        Err(last)
    }
}
