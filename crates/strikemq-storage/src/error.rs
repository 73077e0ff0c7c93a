//! Storage errors.

use std::path::PathBuf;

use strikemq_batch::BatchError;

/// What can go wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A topic has no partition with this index.
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The index asked for.
        partition: i32,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A record batch handed to `append` failed validation; nothing was written.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// An idempotent producer skipped or repeated sequence numbers (KIP-98).
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrderSequence {
        /// The producer.
        producer_id: i64,
        /// The sequence that would follow what was written.
        expected: i32,
        /// The batch's first sequence.
        got: i32,
    },
    /// A batch from an older epoch of an idempotent producer.
    #[error("producer {producer_id}: epoch {epoch} is older than the current {current}")]
    InvalidProducerEpoch {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The epoch the log has seen.
        current: i16,
    },
    /// An append with no batch in it.
    #[error("no record batch to append")]
    EmptyAppend,
    /// The topic does not exist.
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// The topic exists already.
    #[error("topic {0} already exists")]
    TopicExists(String),
    /// The name differs from an existing topic's only in '.' and '_'.
    #[error("topic '{name}' collides with existing topic: {existing}")]
    TopicCollision {
        /// The new name.
        name: String,
        /// The topic it collides with.
        existing: String,
    },
    /// The topic name breaks Kafka's rules.
    #[error("Topic name is invalid: {reason}")]
    InvalidTopicName {
        /// The name.
        name: String,
        /// Which rule it breaks, in Kafka's words.
        reason: String,
    },
    /// CreatePartitions asked for no more partitions than the topic has.
    #[error(
        "topic {topic} has {current} partitions, which is not fewer than the requested {requested}"
    )]
    PartitionCountNotIncreased {
        /// The topic.
        topic: String,
        /// Partitions it has.
        current: usize,
        /// Partitions asked for.
        requested: i32,
    },
    /// A partition count below one.
    #[error("invalid partition count {0}")]
    InvalidPartitions(i32),
    /// The offset is outside `[log start, log end]`.
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// Requested.
        offset: i64,
        /// First offset kept.
        log_start: i64,
        /// Next offset to be written.
        log_end: i64,
    },
    /// The data directory is held by another process (another broker serving it).
    #[error("data directory {dir} is in use by another process{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    DirectoryLocked {
        /// The data directory.
        dir: PathBuf,
        /// The process holding it, when its lock file says.
        pid: Option<u32>,
    },
    /// A metadata file that does not parse.
    #[error("corrupt metadata {path}: {reason}")]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T, StorageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T, StorageError> {
        self.map_err(|source| StorageError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
