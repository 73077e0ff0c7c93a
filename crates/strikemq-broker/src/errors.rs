//! The one place where internal errors become Kafka error codes.

use strikemq_codec::BatchError;
use strikemq_codec::ResponseError;
use strikemq_storage::StorageError;

/// The Kafka error for a storage failure.
/// A partition's log, opened on first use: UNKNOWN_TOPIC_OR_PARTITION without the topic or the
/// partition, KAFKA_STORAGE_ERROR (logged) when its files cannot be opened.
pub(crate) fn partition_log(
    topic: Option<&strikemq_storage::Topic>,
    partition: i32,
) -> Result<&std::sync::Arc<strikemq_storage::PartitionLog>, ResponseError> {
    let topic = topic.ok_or(ResponseError::UnknownTopicOrPartition)?;
    topic.partition(partition).map_err(|e| {
        let err = storage_error(&e);
        if err == ResponseError::KafkaStorageError {
            tracing::error!(topic = topic.name(), partition, error = %e, "cannot open the partition");
        }
        err
    })
}

pub(crate) fn storage_error(e: &StorageError) -> ResponseError {
    match e {
        StorageError::InvalidBatch(b) => batch_error(b),
        StorageError::EmptyAppend => ResponseError::InvalidRecord,
        StorageError::UnknownTopic(_) | StorageError::UnknownPartition { .. } => {
            ResponseError::UnknownTopicOrPartition
        }
        StorageError::TopicExists(_) => ResponseError::TopicAlreadyExists,
        StorageError::InvalidTopicName { .. } | StorageError::TopicCollision { .. } => {
            ResponseError::InvalidTopicException
        }
        StorageError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        StorageError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        StorageError::Io { .. } | StorageError::CorruptMetadata { .. } => {
            ResponseError::KafkaStorageError
        }
        _ => ResponseError::UnknownServerError,
    }
}

/// The Kafka error for a batch that fails validation. Kafka answers INVALID_RECORD for batches
/// that break the v3+ Produce rules (magic 2 only) and CORRUPT_MESSAGE for damaged bytes.
pub(crate) fn batch_error(e: &BatchError) -> ResponseError {
    match e {
        BatchError::UnsupportedMagic(_) => ResponseError::InvalidRecord,
        BatchError::UnknownCompression(_) => ResponseError::UnsupportedCompressionType,
        _ => ResponseError::CorruptMessage,
    }
}

pub(crate) const NONE: i16 = 0;

/// Kafka's default message for INVALID_REQUEST, sent where Kafka has no more specific one.
pub(crate) const INVALID_REQUEST_MESSAGE: &str = "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.";

pub(crate) fn code(e: ResponseError) -> i16 {
    e.code()
}
