//! A consumer group on the Kafka wire protocol, which rskafka does not
//! speak: FindCoordinator v0, the classic membership protocol (JoinGroup
//! v2, SyncGroup v1, Heartbeat v1, LeaveGroup v1: versions every Kafka
//! since 0.11 and Tansu answer, and JoinGroup below v4 needs no
//! MEMBER_ID_REQUIRED round) and the group's offsets (OffsetFetch v1,
//! OffsetCommit v2, carrying the member's generation).

pub(crate) mod membership;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::transport::{Connector, Stream};
use super::wire::{exchange, put_bytes, put_i16, put_i32, put_i64, put_str, Wire};
use super::REQUEST_TIMEOUT;

const API_OFFSET_COMMIT: i16 = 8;
const API_OFFSET_FETCH: i16 = 9;
const API_FIND_COORDINATOR: i16 = 10;
const API_JOIN_GROUP: i16 = 11;
const API_HEARTBEAT: i16 = 12;
const API_LEAVE_GROUP: i16 = 13;
const API_SYNC_GROUP: i16 = 14;

/// The error codes the group protocol acts on (Kafka's `Errors`).
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const MEMBER_ID_REQUIRED: i16 = 79;
const GROUP_MAX_SIZE_REACHED: i16 = 81;

/// A member's place in its group: what its commits and heartbeats carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Generation {
    pub id: i32,
    pub member: String,
}

/// Why a group request failed.
#[derive(Debug)]
pub(crate) enum GroupError {
    /// The coordinator answered this error code.
    Answer { api: &'static str, code: i16 },
    /// No coordinator, or its connection broke or timed out.
    Connection(String),
}

impl GroupError {
    /// Whether the coordinator forgot the member: it joins with a new id.
    pub fn unknown_member(&self) -> bool {
        matches!(self, GroupError::Answer { code: UNKNOWN_MEMBER_ID, .. })
    }

    /// Whether trying again cannot help: the group's protocol, the session
    /// timeout or permissions are refused.
    pub fn fatal(&self) -> bool {
        matches!(
            self,
            GroupError::Answer {
                code: INCONSISTENT_GROUP_PROTOCOL
                    | INVALID_SESSION_TIMEOUT
                    | GROUP_AUTHORIZATION_FAILED
                    | GROUP_MAX_SIZE_REACHED,
                ..
            }
        )
    }
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Answer { api, code } => write!(f, "{api} answered error code {code}"),
            GroupError::Connection(e) => f.write_str(e),
        }
    }
}

/// What JoinGroup answered a member that joined.
pub(crate) struct Joined {
    pub generation: Generation,
    pub leader: String,
    /// For the leader: every member's id and subscription; else empty.
    pub members: Vec<(String, Vec<u8>)>,
}

/// A consumer group's coordinator, over one connection (made again, the
/// coordinator looked up again, after any error).
pub(crate) struct Group {
    connector: Arc<Connector>,
    name: String,
    connection: Mutex<Option<(Stream, i32)>>,
}

impl Group {
    pub fn new(connector: Arc<Connector>, name: String) -> Group {
        Group { connector, name, connection: Mutex::new(None) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Joins (or rejoins, with its `member` id; empty the first time) with
    /// a subscription to `topics`; waits until every member has joined.
    /// A coordinator that first hands out a member id (MEMBER_ID_REQUIRED,
    /// which Tansu answers even below JoinGroup v4) is asked again with it.
    pub async fn join(
        &self,
        member: &str,
        session: Duration,
        rebalance: Duration,
        subscription: &[u8],
    ) -> Result<Joined, GroupError> {
        let first = self.join_once(member, session, rebalance, subscription).await?;
        match first {
            Ok(joined) => Ok(joined),
            Err(given) => match self.join_once(&given, session, rebalance, subscription).await? {
                Ok(joined) => Ok(joined),
                Err(_) => Err(GroupError::Answer { api: "JoinGroup", code: MEMBER_ID_REQUIRED }),
            },
        }
    }

    /// One JoinGroup: `Ok(Err(member id))` when the coordinator requires it.
    async fn join_once(
        &self,
        member: &str,
        session: Duration,
        rebalance: Duration,
        subscription: &[u8],
    ) -> Result<Result<Joined, String>, GroupError> {
        let mut body = Vec::new();
        put_str(&mut body, &self.name);
        put_i32(&mut body, millis(session));
        put_i32(&mut body, millis(rebalance));
        put_str(&mut body, member);
        put_str(&mut body, membership::PROTOCOL_TYPE);
        put_i32(&mut body, 1);
        put_str(&mut body, membership::RANGE);
        put_bytes(&mut body, Some(subscription));
        // The coordinator holds the answer until the rebalance completes.
        let answer = self.request(API_JOIN_GROUP, 2, &body, rebalance + REQUEST_TIMEOUT).await?;
        let parse = || -> Result<(i16, Joined), String> {
            let mut r = Wire::new(&answer);
            let _throttle = r.i32()?;
            let code = r.i16()?;
            let id = r.i32()?;
            let _protocol = r.string()?; // range: the only one offered
            let leader = r.string()?;
            let member = r.string()?;
            let members =
                (0..r.count()?).map(|_| Ok((r.string()?, r.bytes()?.to_vec()))).collect::<Result<_, String>>()?;
            Ok((code, Joined { generation: Generation { id, member }, leader, members }))
        };
        let (code, joined) = parse().map_err(GroupError::Connection)?;
        if code == MEMBER_ID_REQUIRED && !joined.generation.member.is_empty() {
            return Ok(Err(joined.generation.member));
        }
        self.check("JoinGroup", code).await?;
        Ok(Ok(joined))
    }

    /// Ends the join: the leader hands every member's assignment over, the
    /// others none; each gets its own assignment back.
    pub async fn sync(
        &self,
        generation: &Generation,
        assignments: &[(String, Vec<u8>)],
    ) -> Result<Vec<u8>, GroupError> {
        let mut body = Vec::new();
        put_str(&mut body, &self.name);
        put_i32(&mut body, generation.id);
        put_str(&mut body, &generation.member);
        put_i32(&mut body, assignments.len() as i32);
        for (member, assignment) in assignments {
            put_str(&mut body, member);
            put_bytes(&mut body, Some(assignment));
        }
        let answer = self.request(API_SYNC_GROUP, 1, &body, REQUEST_TIMEOUT).await?;
        let mut r = Wire::new(&answer);
        let _throttle = r.i32().map_err(GroupError::Connection)?;
        let code = r.i16().map_err(GroupError::Connection)?;
        self.check("SyncGroup", code).await?;
        Ok(r.bytes().map_err(GroupError::Connection)?.to_vec())
    }

    /// Tells the coordinator the member is alive; an error says to rejoin.
    pub async fn heartbeat(&self, generation: &Generation) -> Result<(), GroupError> {
        let mut body = Vec::new();
        put_str(&mut body, &self.name);
        put_i32(&mut body, generation.id);
        put_str(&mut body, &generation.member);
        self.simple(API_HEARTBEAT, "Heartbeat", &body).await
    }

    /// Leaves the group: its partitions move to the others at once.
    pub async fn leave(&self, member: &str) -> Result<(), GroupError> {
        let mut body = Vec::new();
        put_str(&mut body, &self.name);
        put_str(&mut body, member);
        self.simple(API_LEAVE_GROUP, "LeaveGroup", &body).await
    }

    /// The committed offset of `topic`'s `partition`, `None` when none is.
    pub async fn fetch(&self, topic: &str, partition: i32) -> Result<Option<i64>, GroupError> {
        let mut body = Vec::new();
        put_str(&mut body, &self.name);
        put_i32(&mut body, 1);
        put_str(&mut body, topic);
        put_i32(&mut body, 1);
        put_i32(&mut body, partition);
        let answer = self.request(API_OFFSET_FETCH, 1, &body, REQUEST_TIMEOUT).await?;
        let mut r = Wire::new(&answer);
        let mut read = || -> Result<Result<Option<i64>, i16>, String> {
            for _ in 0..r.count()? {
                let _name = r.string()?;
                for _ in 0..r.count()? {
                    let at = r.i32()?;
                    let offset = r.i64()?;
                    let _metadata = r.string()?;
                    let code = r.i16()?;
                    if at == partition {
                        return Ok(if code == 0 { Ok((offset >= 0).then_some(offset)) } else { Err(code) });
                    }
                }
            }
            Ok(Ok(None))
        };
        match read().map_err(GroupError::Connection)? {
            Ok(offset) => Ok(offset),
            Err(code) => Err(self
                .check("OffsetFetch", code)
                .await
                .err()
                .unwrap_or(GroupError::Answer { api: "OffsetFetch", code })),
        }
    }

    /// Commits `offset` (the next to read) for `topic`'s `partition` as
    /// the member of `generation`.
    pub async fn commit(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        generation: &Generation,
    ) -> Result<(), GroupError> {
        let mut body = Vec::new();
        put_str(&mut body, &self.name);
        put_i32(&mut body, generation.id);
        put_str(&mut body, &generation.member);
        put_i64(&mut body, -1); // retention: the broker's
        put_i32(&mut body, 1);
        put_str(&mut body, topic);
        put_i32(&mut body, 1);
        put_i32(&mut body, partition);
        put_i64(&mut body, offset);
        put_i16(&mut body, -1); // metadata: null
        let answer = self.request(API_OFFSET_COMMIT, 2, &body, REQUEST_TIMEOUT).await?;
        let mut r = Wire::new(&answer);
        let mut codes = Vec::new();
        let mut read = || -> Result<(), String> {
            for _ in 0..r.count()? {
                let _name = r.string()?;
                for _ in 0..r.count()? {
                    let _at = r.i32()?;
                    codes.push(r.i16()?);
                }
            }
            Ok(())
        };
        read().map_err(GroupError::Connection)?;
        for code in codes {
            self.check("OffsetCommit", code).await?;
        }
        Ok(())
    }

    /// A request whose answer is a throttle time and an error code.
    async fn simple(&self, api: i16, name: &'static str, body: &[u8]) -> Result<(), GroupError> {
        let answer = self.request(api, 1, body, REQUEST_TIMEOUT).await?;
        let mut r = Wire::new(&answer);
        let _throttle = r.i32().map_err(GroupError::Connection)?;
        let code = r.i16().map_err(GroupError::Connection)?;
        self.check(name, code).await
    }

    /// `Err` for an error code; one that says the coordinator moved also
    /// drops the connection, so the next request looks it up again.
    async fn check(&self, api: &'static str, code: i16) -> Result<(), GroupError> {
        if code == 0 {
            return Ok(());
        }
        if matches!(code, NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE | COORDINATOR_LOAD_IN_PROGRESS) {
            *self.connection.lock().await = None;
        }
        Err(GroupError::Answer { api, code })
    }

    /// Sends one request to the coordinator: the answer's body.
    async fn request(&self, api: i16, version: i16, body: &[u8], timeout: Duration) -> Result<Vec<u8>, GroupError> {
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            *slot = Some((self.coordinator().await.map_err(GroupError::Connection)?, 0));
        }
        let Some((stream, correlation)) = slot.as_mut() else {
            return Err(GroupError::Connection("no coordinator connection".into()));
        };
        *correlation = correlation.wrapping_add(1);
        let answer = tokio::time::timeout(timeout, exchange(stream, api, version, *correlation, body)).await;
        match answer {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                *slot = None;
                Err(GroupError::Connection(format!("the group coordinator: {e}")))
            }
            Err(_) => {
                *slot = None;
                Err(GroupError::Connection("the group coordinator did not answer".into()))
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
                put_str(&mut body, &self.name);
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

/// A duration in whole milliseconds, as the protocol's `int32`s take it.
fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}
