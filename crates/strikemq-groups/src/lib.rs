//! # strikemq-groups
//!
//! Kafka's consumer group protocols as a deterministic state machine: the classic protocol
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, offset commits) and the KIP-848 consumer
//! protocol ([`GroupCoordinator::consumer_heartbeat`], server-side `uniform` and `range`
//! assignors, member epochs, revocation before reassignment) and KIP-932 share groups
//! ([`GroupCoordinator::share_heartbeat`]: members sharing partitions, records acquired under a
//! lock, acknowledged, released and redelivered up to a delivery limit). [`GroupCoordinator`] never reads a clock, sleeps,
//! spawns or does I/O: every call takes `now`, answers at once ([`Reply::Now`]) or parks the caller
//! under a [`Waiter`] id ([`Reply::Wait`]) whose answer later shows up in
//! [`GroupCoordinator::take_completions`], and [`GroupCoordinator::tick`] applies the timeouts
//! that are due and tells when the next one is.
//!
//! Groups follow Kafka's states (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead),
//! member ids are handed out per KIP-394, static members (KIP-345) take their old place without a
//! rebalance, and committed offsets are kept per group. [`offsets_log`] turns commits and
//! membership changes ([`GroupCoordinator::take_membership_changes`]) into records for a durable
//! log and back.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use strikemq_groups::{GroupConfig, GroupCoordinator, JoinRequest, Reply};
//!
//! let mut groups = GroupCoordinator::new(GroupConfig::default());
//! let now = Instant::now();
//! let join = JoinRequest {
//!     group_id: "orders".into(),
//!     session_timeout_ms: 10_000,
//!     rebalance_timeout_ms: 30_000,
//!     protocol_type: "consumer".into(),
//!     protocols: vec![("range".into(), Bytes::new())],
//!     client_id: "app".into(),
//!     require_known_member_id: true,
//!     ..JoinRequest::default()
//! };
//! // KIP-394: the first join only hands out a member id.
//! let Reply::Now(first) = groups.join(join.clone(), now) else { unreachable!() };
//! assert!(first.error.is_some());
//! // Joining with it starts a rebalance that completes at once: the member is alone.
//! let rejoin = JoinRequest { member_id: first.member_id.clone(), waiter: 1, ..join };
//! assert!(matches!(groups.join(rejoin, now), Reply::Wait));
//! let done = groups.take_completions();
//! assert_eq!(done.len(), 1);
//! ```

#![deny(missing_docs)]

mod assignors;
mod consumer;
mod coordinator;
mod group;
pub mod offsets_log;
mod share;

pub use consumer::{
    Assignment, ConsumerGroupChange, ConsumerGroupDescription, ConsumerGroupRecord,
    ConsumerHeartbeat, ConsumerHeartbeatResponse, ConsumerMemberDescription, ConsumerMemberRecord,
    MemberState, TopicView, ASSIGNORS, LEAVE_EPOCH, STATIC_LEAVE_EPOCH,
};
pub use coordinator::{
    Completion, GroupConfig, GroupCoordinator, GroupDescription, GroupListing, GroupMetadata,
    JoinMember, JoinRequest, JoinResponse, MemberDescription, MemberMetadata, MembershipChange,
    OffsetChange, Reply, SyncRequest, SyncResponse, TopicPartition, Waiter,
};
pub use group::{CommittedOffset, GroupState};
pub use share::{
    ack, AckBatch, AcquiredRange, ShareChange, ShareGroupDescription, ShareHeartbeat,
    ShareHeartbeatResponse, ShareKey, ShareMemberDescription, SharePartitionState,
    ShareSessionView, ShareSettings, SHARE_ASSIGNOR,
};
pub use strikemq_codec::ResponseError;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod consumer_tests;
