//! The one place where internal errors become Kafka error codes, and the one Kafka error value
//! (code and message) that handlers answer with and the REST API maps to HTTP statuses.

use strikemq_codec::BatchError;
use strikemq_codec::ResponseError;
use strikemq_storage::StorageError;

/// A Kafka error and, where there is more to say than the code's name, a message:
/// what a request or an operation was refused with. Kafka responses carry the message in their
/// `error_message` fields (null when there is none); the REST API maps the code to an HTTP status
/// and puts [`KafkaError::message`] in its JSON body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct KafkaError {
    /// The Kafka error.
    pub error: ResponseError,
    /// What went wrong, beyond the code's name; `None` answers a null `error_message`.
    pub detail: Option<String>,
}

impl KafkaError {
    /// An error with a message.
    pub fn new(error: ResponseError, message: impl Into<String>) -> KafkaError {
        KafkaError {
            error,
            detail: Some(message.into()),
        }
    }

    pub(crate) fn invalid_request(message: String) -> KafkaError {
        KafkaError::new(ResponseError::InvalidRequest, message)
    }

    pub(crate) fn invalid_config(message: String) -> KafkaError {
        KafkaError::new(ResponseError::InvalidConfig, message)
    }

    pub(crate) fn storage(message: String) -> KafkaError {
        KafkaError::new(ResponseError::KafkaStorageError, message)
    }

    /// The error code on the wire.
    pub fn code(&self) -> i16 {
        self.error.code()
    }

    /// The message, or the code's name (`UnknownTopicOrPartition`).
    pub fn message(&self) -> String {
        self.detail
            .clone()
            .unwrap_or_else(|| self.error.to_string())
    }
}

impl From<ResponseError> for KafkaError {
    fn from(error: ResponseError) -> KafkaError {
        KafkaError {
            error,
            detail: None,
        }
    }
}

impl From<StorageError> for KafkaError {
    fn from(e: StorageError) -> KafkaError {
        KafkaError::new(storage_error(&e), e.to_string())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kafka_error_says_its_message_or_the_codes_name() {
        let bare = KafkaError::from(ResponseError::UnknownTopicOrPartition);
        assert_eq!(bare.code(), 3);
        assert_eq!(bare.detail, None, "a null error_message on the wire");
        assert_eq!(bare.message(), "UnknownTopicOrPartition");
        let said = KafkaError::new(ResponseError::InvalidConfig, "retention.ms: not a number");
        assert_eq!(said.to_string(), "retention.ms: not a number");
        let disk = KafkaError::from(StorageError::UnknownTopic("t".into()));
        assert_eq!(disk.error, ResponseError::UnknownTopicOrPartition);
        assert!(disk.message().contains('t'), "{}", disk.message());
    }
}
