//! The one place where internal errors become Kafka error codes.

use strikemq_codec::kafka_protocol::ResponseError;
use strikemq_codec::BatchError;
use strikemq_storage::StorageError;

/// The Kafka error for a storage failure.
pub(crate) fn storage_error(e: &StorageError) -> ResponseError {
    match e {
        StorageError::InvalidBatch(b) => batch_error(b),
        StorageError::EmptyAppend => ResponseError::InvalidRecord,
        StorageError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
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

pub(crate) fn code(e: ResponseError) -> i16 {
    e.code()
}
