//! The tracking headers every event carries, set on publish and propagated
//! to the events published while one is handled.

use std::collections::BTreeMap;

use uuid::Uuid;

/// The event's own id, a UUID v4 (NATS: also `Nats-Msg-Id`, for the
/// stream's duplicate window; RabbitMQ: also the `message_id` property).
pub const EVENT_ID: &str = "event-id";
/// The id shared by every event of one flow: the first event's id.
pub const CORRELATION_ID: &str = "correlation-id";
/// The id of the event being handled when this one was published.
pub const CAUSATION_ID: &str = "causation-id";
/// W3C Trace Context: `00-TRACEID-SPANID-FLAGS`.
pub const TRACEPARENT: &str = "traceparent";
/// The topic's name.
pub const EVENT_TYPE: &str = "event-type";
/// The schema version the event was written with.
pub const SCHEMA_VERSION: &str = "schema-version";
/// Always `application/json`.
pub const CONTENT_TYPE: &str = "content-type";
/// On a dead letter: why it was dead-lettered.
pub const DEAD_LETTER_REASON: &str = "dead-letter-reason";
/// On a dead letter: how many times it was delivered.
pub const ATTEMPTS: &str = "attempts";
/// On a dead letter: the topic it was consumed from.
pub const DEAD_LETTER_TOPIC: &str = "dead-letter-topic";
/// On a dead letter: the consumer group (or `ephemeral`) that gave up.
pub const DEAD_LETTER_GROUP: &str = "dead-letter-group";

pub const JSON: &str = "application/json";

/// Header names and values, names in lower case.
pub type Headers = BTreeMap<String, String>;

/// The ids and trace context of one event about to be published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tracking {
    pub event_id: Uuid,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    pub traceparent: String,
}

impl Tracking {
    /// A new flow: the event is its own correlation, a new trace.
    pub fn root() -> Tracking {
        let event_id = Uuid::new_v4();
        let trace_id = Uuid::new_v4().simple().to_string();
        Tracking {
            event_id,
            correlation_id: event_id.to_string(),
            causation_id: None,
            traceparent: format!("00-{trace_id}-{}-01", span_id()),
        }
    }

    /// An event published while `cause` (its headers) is handled: same
    /// correlation and trace, caused by it, a new span in its trace.
    pub fn caused_by(cause: &Headers) -> Tracking {
        let mut tracking = Tracking::root();
        if let Some(id) = cause.get(EVENT_ID) {
            tracking.causation_id = Some(id.clone());
            tracking.correlation_id = cause.get(CORRELATION_ID).unwrap_or(id).clone();
        }
        if let Some((trace_id, flags)) = cause.get(TRACEPARENT).and_then(|t| parse_traceparent(t)) {
            tracking.traceparent = format!("00-{trace_id}-{}-{flags}", span_id());
        }
        tracking
    }

    /// The headers of an event of `topic` written with schema `version`.
    pub fn headers(&self, topic: &str, version: u32) -> Headers {
        let mut headers = Headers::new();
        headers.insert(EVENT_ID.into(), self.event_id.to_string());
        headers.insert(CORRELATION_ID.into(), self.correlation_id.clone());
        if let Some(cause) = &self.causation_id {
            headers.insert(CAUSATION_ID.into(), cause.clone());
        }
        headers.insert(TRACEPARENT.into(), self.traceparent.clone());
        headers.insert(EVENT_TYPE.into(), topic.into());
        headers.insert(SCHEMA_VERSION.into(), version.to_string());
        headers.insert(CONTENT_TYPE.into(), JSON.into());
        headers
    }
}

/// 16 lower-case hex digits, not all zero.
fn span_id() -> String {
    let id = Uuid::new_v4().simple().to_string();
    id[..16].to_string()
}

/// The trace id and flags of a version-00 `traceparent`, if well-formed.
fn parse_traceparent(text: &str) -> Option<(&str, &str)> {
    let mut parts = text.split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let valid = parts.next().is_none()
        && version == "00"
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    valid.then_some((trace, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_event_is_its_own_correlation_and_starts_a_trace() {
        let root = Tracking::root();
        assert_eq!(root.correlation_id, root.event_id.to_string());
        assert_eq!(root.causation_id, None);
        assert!(parse_traceparent(&root.traceparent).is_some(), "{}", root.traceparent);
        assert_eq!(root.event_id.get_version_num(), 4);
        let headers = root.headers("orders-placed", 2);
        assert_eq!(headers[EVENT_TYPE], "orders-placed");
        assert_eq!(headers[SCHEMA_VERSION], "2");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert!(!headers.contains_key(CAUSATION_ID));
    }

    #[test]
    fn a_caused_event_keeps_the_correlation_and_the_trace() {
        let root = Tracking::root();
        let first = root.headers("a", 1);
        let second = Tracking::caused_by(&first);
        assert_eq!(second.causation_id.as_deref(), Some(first[EVENT_ID].as_str()));
        assert_eq!(second.correlation_id, root.event_id.to_string());
        assert_eq!(&second.traceparent[..35], &root.traceparent[..35]);
        assert_ne!(second.traceparent, root.traceparent);
        let third = Tracking::caused_by(&second.headers("b", 1));
        assert_eq!(third.correlation_id, root.event_id.to_string());
        assert_eq!(third.causation_id, Some(second.event_id.to_string()));
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace() {
        let mut cause = Tracking::root().headers("a", 1);
        for bad in ["", "01-aa-bb-01", "00-00000000000000000000000000000000-0000000000000001-01", "00-ABC"] {
            cause.insert(TRACEPARENT.into(), bad.into());
            let caused = Tracking::caused_by(&cause);
            assert!(parse_traceparent(&caused.traceparent).is_some());
            assert!(!caused.traceparent.contains(bad) || bad.is_empty());
        }
    }
}
