//! A group subscriber's membership in its Kafka consumer group: it joins
//! (the leader assigns every member's partitions with the range assignor),
//! reads only the partitions assigned to it from the group's committed
//! offsets, heartbeats every third of its session timeout, and when the
//! coordinator says the group rebalances (or went on without it, or
//! moved) stops its readers after the event each has in hand, then joins
//! again. Dropped, it leaves the group, so the others take its partitions
//! at once instead of after its session timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::group::membership::{self, Partitions};
use super::group::{Generation, Group, GroupError, Joined};
use super::{Cluster, Pipeline, RESUME_MAX};
use crate::event_bus::{Stats, SubscribeError};

/// How long the first join may keep failing before `subscribe` gives up.
const FIRST_JOIN_DEADLINE: Duration = Duration::from_secs(30);
/// The first pause before joining again after a failed join.
const REJOIN_FIRST: Duration = Duration::from_millis(200);

/// Joins `group` for `pipeline` and starts reading the partitions assigned
/// to this member; the returned task keeps it in the group.
pub(super) async fn start(
    cluster: Arc<Cluster>,
    pipeline: Arc<Pipeline>,
    group: Group,
) -> Result<JoinHandle<()>, SubscribeError> {
    let topic = pipeline.topic().stream.clone();
    cluster.ensure_topic(pipeline.topic()).await.map_err(|e| SubscribeError::Broker(e.message))?;
    let mut member = Member {
        cluster,
        session: pipeline.consumer.session_timeout,
        pipeline,
        group: Arc::new(group),
        topic,
        member_id: String::new(),
    };
    let started = tokio::time::Instant::now();
    let mut pause = REJOIN_FIRST;
    let assigned = loop {
        match member.join().await {
            Ok(assigned) => break assigned,
            Err(e) if e.fatal() || started.elapsed() > FIRST_JOIN_DEADLINE => {
                return Err(SubscribeError::Broker(format!(
                    "broker {:?}: group {:?}: cannot join: {e}",
                    member.cluster.name,
                    member.group.name()
                )))
            }
            Err(e) => member.after_failed_join(&e, &mut pause).await,
        }
    };
    Ok(tokio::spawn(member.run(assigned)))
}

/// One member of a group, reading one topic.
struct Member {
    cluster: Arc<Cluster>,
    pipeline: Arc<Pipeline>,
    group: Arc<Group>,
    /// The topic's Kafka name.
    topic: String,
    session: Duration,
    /// Given by the coordinator at the first join; empty before.
    member_id: String,
}

/// A generation's readers of this member's partitions.
struct Assigned {
    generation: Generation,
    /// Set to stop the readers.
    stop: watch::Sender<bool>,
    readers: JoinSet<()>,
}

impl Member {
    /// Joins (or rejoins) the group, gets this member's partitions and
    /// starts their readers.
    async fn join(&mut self) -> Result<Assigned, GroupError> {
        let subscription = membership::subscription(std::slice::from_ref(&self.topic));
        // Members stop their readers after the event in hand: a rebalance
        // waits up to three session timeouts for them.
        let rebalance = self.session * 3;
        let joined = self.group.join(&self.member_id, self.session, rebalance, &subscription).await?;
        self.member_id.clone_from(&joined.generation.member);
        let assignments = if joined.leader == joined.generation.member { self.assign(&joined).await? } else { vec![] };
        let assignment = self.group.sync(&joined.generation, &assignments).await?;
        let partitions = membership::assigned(&assignment).map_err(GroupError::Connection)?;
        let mine = partitions.get(&self.topic).cloned().unwrap_or_default();

        let (stop, stopped) = watch::channel(false);
        let mut readers = Vec::with_capacity(mine.len());
        for partition in mine {
            let commits = Some((Arc::clone(&self.group), joined.generation.clone()));
            let reader = self
                .cluster
                .reader(&self.pipeline, &self.topic, partition, commits, Some(stopped.clone()))
                .await
                .map_err(GroupError::Connection)?;
            readers.push(reader);
        }
        let mut tasks = JoinSet::new();
        for reader in readers {
            tasks.spawn(reader.run(Arc::clone(&self.pipeline)));
        }
        Ok(Assigned { generation: joined.generation, stop, readers: tasks })
    }

    /// The leader's part: every member's partitions, by the range assignor
    /// over the topics they subscribe to (other clients' members included).
    async fn assign(&self, joined: &Joined) -> Result<Vec<(String, Vec<u8>)>, GroupError> {
        // A subscription that does not read is taken as subscribing to
        // nothing: the others still get their partitions.
        let members: Vec<(String, Vec<String>)> = joined
            .members
            .iter()
            .map(|(id, metadata)| (id.clone(), membership::subscribed_topics(metadata).unwrap_or_default()))
            .collect();
        let all = self.cluster.topic_partitions().await.map_err(GroupError::Connection)?;
        let wanted: Partitions =
            all.into_iter().filter(|(topic, _)| members.iter().any(|(_, topics)| topics.contains(topic))).collect();
        let assigned = membership::range(&members, &wanted);
        Ok(assigned.iter().map(|(member, partitions)| (member.clone(), membership::assignment(partitions))).collect())
    }

    /// Heartbeats until the group wants the member to join again, stops
    /// its readers (each after the event in hand, committed) and joins;
    /// never returns (the subscription's drop ends it).
    async fn run(mut self, mut assigned: Assigned) {
        loop {
            let why = self.heartbeat(&assigned.generation).await;
            let _ = assigned.stop.send(true);
            while assigned.readers.join_next().await.is_some() {}
            if why.unknown_member() {
                self.member_id.clear();
            }
            let mut pause = REJOIN_FIRST;
            assigned = loop {
                match self.join().await {
                    Ok(assigned) => break assigned,
                    Err(e) => self.after_failed_join(&e, &mut pause).await,
                }
            };
        }
    }

    /// Heartbeats every third of the session timeout: the error that ends
    /// the generation.
    async fn heartbeat(&self, generation: &Generation) -> GroupError {
        let mut ticks = tokio::time::interval(self.session / 3);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(e) = self.group.heartbeat(generation).await {
                return e;
            }
        }
    }

    /// Before joining again after a failed join: a new member id when the
    /// coordinator forgot this one, and a pause, doubling.
    async fn after_failed_join(&mut self, error: &GroupError, pause: &mut Duration) {
        if error.unknown_member() {
            self.member_id.clear();
        }
        Stats::add(&self.pipeline.stats.reconnects);
        tokio::time::sleep(*pause).await;
        *pause = (*pause * 2).min(RESUME_MAX);
    }
}

impl Drop for Member {
    /// Leaves the group (on the runtime, since drop cannot wait), so its
    /// partitions move at once; a runtime shutting down sends nothing, and
    /// the coordinator drops the member after its session timeout.
    fn drop(&mut self) {
        if self.member_id.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let group = Arc::clone(&self.group);
            let member = std::mem::take(&mut self.member_id);
            runtime.spawn(async move {
                let _ = group.leave(&member).await;
            });
        }
    }
}
