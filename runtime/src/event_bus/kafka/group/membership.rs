//! What a consumer group's members tell each other through the
//! coordinator, in Kafka's `ConsumerProtocol` encoding (protocol type
//! `consumer`), so members of other Kafka clients in the same group read
//! meshc's and meshc reads theirs; and the `range` assignor, as the Java
//! client's `RangeAssignor` computes it.

use std::collections::BTreeMap;

use super::super::wire::{put_bytes, put_i16, put_i32, put_str, Wire};

/// The group protocol type of consumers.
pub(crate) const PROTOCOL_TYPE: &str = "consumer";
/// The assignor meshc offers (and, as leader, runs).
pub(crate) const RANGE: &str = "range";

/// Partition ids by topic.
pub(crate) type Partitions = BTreeMap<String, Vec<i32>>;

/// A member's subscription (version 0: topics, no user data).
pub(crate) fn subscription(topics: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    put_i16(&mut out, 0);
    put_i32(&mut out, topics.len() as i32);
    for topic in topics {
        put_str(&mut out, topic);
    }
    put_bytes(&mut out, None);
    out
}

/// The topics of a member's subscription, of any version (later versions
/// only add fields after the topics).
pub(crate) fn subscribed_topics(metadata: &[u8]) -> Result<Vec<String>, String> {
    let mut r = Wire::new(metadata);
    let _version = r.i16()?;
    (0..r.count()?).map(|_| r.string()).collect()
}

/// A member's assignment (version 0: partitions by topic, no user data).
pub(crate) fn assignment(partitions: &Partitions) -> Vec<u8> {
    let mut out = Vec::new();
    put_i16(&mut out, 0);
    put_i32(&mut out, partitions.len() as i32);
    for (topic, ids) in partitions {
        put_str(&mut out, topic);
        put_i32(&mut out, ids.len() as i32);
        for &id in ids {
            put_i32(&mut out, id);
        }
    }
    put_bytes(&mut out, None);
    out
}

/// The partitions of an assignment of any version; empty bytes assign
/// nothing (what a coordinator gives a member the leader left out).
pub(crate) fn assigned(bytes: &[u8]) -> Result<Partitions, String> {
    let mut partitions = Partitions::new();
    if bytes.is_empty() {
        return Ok(partitions);
    }
    let mut r = Wire::new(bytes);
    let _version = r.i16()?;
    for _ in 0..r.count()? {
        let topic = r.string()?;
        let ids: Result<Vec<i32>, String> = (0..r.count()?).map(|_| r.i32()).collect();
        partitions.entry(topic).or_default().extend(ids?);
    }
    Ok(partitions)
}

/// The range assignment: per topic, its partitions in order split into
/// contiguous runs over the members subscribed to it, sorted by member id,
/// the first `partitions % members` getting one more. Every member has an
/// entry, maybe empty; partitions of a topic no one knows are left out.
pub(crate) fn range(members: &[(String, Vec<String>)], partitions: &Partitions) -> BTreeMap<String, Partitions> {
    let mut out: BTreeMap<String, Partitions> = members.iter().map(|(id, _)| (id.clone(), Partitions::new())).collect();
    for (topic, ids) in partitions {
        let mut subscribers: Vec<&str> =
            members.iter().filter(|(_, topics)| topics.contains(topic)).map(|(id, _)| id.as_str()).collect();
        subscribers.sort_unstable();
        subscribers.dedup();
        if subscribers.is_empty() {
            continue;
        }
        let mut ids = ids.clone();
        ids.sort_unstable();
        let (each, extra) = (ids.len() / subscribers.len(), ids.len() % subscribers.len());
        let mut start = 0;
        for (i, member) in subscribers.into_iter().enumerate() {
            let length = each + usize::from(i < extra);
            if length > 0 {
                let run = ids[start..start + length].to_vec();
                out.entry(member.to_string()).or_default().insert(topic.clone(), run);
            }
            start += length;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn range_splits_each_topic_in_runs_by_member_id() {
        // The Java RangeAssignor's example: two members, two topics of three partitions.
        let members = [("c1".to_string(), topics(&["t0", "t1"])), ("c0".to_string(), topics(&["t0", "t1"]))];
        let partitions = Partitions::from([("t0".into(), vec![2, 0, 1]), ("t1".into(), vec![0, 1, 2])]);
        let assigned = range(&members, &partitions);
        assert_eq!(assigned["c0"], Partitions::from([("t0".into(), vec![0, 1]), ("t1".into(), vec![0, 1])]));
        assert_eq!(assigned["c1"], Partitions::from([("t0".into(), vec![2]), ("t1".into(), vec![2])]));

        // More members than partitions: the last get nothing, but an entry.
        let members = [("a".into(), topics(&["t"])), ("b".into(), topics(&["t"])), ("c".into(), topics(&["t"]))];
        let assigned = range(&members, &Partitions::from([("t".into(), vec![0, 1])]));
        assert_eq!(assigned["a"]["t"], [0]);
        assert_eq!(assigned["b"]["t"], [1]);
        assert!(assigned["c"].is_empty());

        // Only subscribers of a topic share it.
        let members = [("a".into(), topics(&["t", "u"])), ("b".into(), topics(&["t"]))];
        let assigned = range(&members, &Partitions::from([("t".into(), vec![0, 1, 2, 3]), ("u".into(), vec![0, 1])]));
        assert_eq!(assigned["a"], Partitions::from([("t".into(), vec![0, 1]), ("u".into(), vec![0, 1])]));
        assert_eq!(assigned["b"], Partitions::from([("t".into(), vec![2, 3])]));
    }

    #[test]
    fn subscriptions_and_assignments_read_back() {
        let subscribed = subscription(&topics(&["orders", "payments"]));
        // The Java client's version 0 layout: version, topics, null user data.
        let mut expected = vec![0, 0, 0, 0, 0, 2, 0, 6];
        expected.extend_from_slice(b"orders");
        expected.extend_from_slice(&[0, 8]);
        expected.extend_from_slice(b"payments");
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(subscribed, expected);
        assert_eq!(subscribed_topics(&subscribed).unwrap(), ["orders", "payments"]);

        let partitions = Partitions::from([("orders".into(), vec![1, 3])]);
        assert_eq!(assigned(&assignment(&partitions)).unwrap(), partitions);
        assert!(assigned(&[]).unwrap().is_empty());
        // A version 1 subscription (owned partitions after the user data) reads the same.
        let mut v1 = subscribed.clone();
        v1[1] = 1;
        v1.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(subscribed_topics(&v1).unwrap(), ["orders", "payments"]);
    }

    #[test]
    fn cut_short_metadata_is_an_error() {
        assert!(subscribed_topics(&[0, 0, 0, 0, 0, 9]).is_err());
        assert!(assigned(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 1]).is_err());
    }
}
