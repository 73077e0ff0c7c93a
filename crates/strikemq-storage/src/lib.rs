//! # strikemq-storage
//!
//! Append-only partition logs for Kafka record batches, on disk:
//!
//! - [`PartitionLog`]: segments of record batches stored exactly as produced (only the base offset is
//!   assigned, the client's CRC32C stays intact), an offset index and a time index per segment,
//!   zero-copy reads of memory-mapped segments, and recovery that cuts a torn tail after a crash.
//!   Appends to one partition serialise on that partition's lock; readers never take it.
//! - [`Store`]: the topics of a data directory, their ids and configs, created and deleted
//!   atomically.
//!
//! ```
//! use bytes::Bytes;
//! use strikemq_batch::{BatchBuilder, NewRecord};
//! use strikemq_storage::{LogConfig, PartitionLog};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let log = PartitionLog::open(dir.path().join("orders-0"), LogConfig::default()).unwrap();
//! let batch = BatchBuilder::new()
//!     .record(NewRecord { timestamp: 1_700_000_000_000, value: Some(Bytes::from("hello")), ..Default::default() })
//!     .build();
//! let appended = log.append(&batch).unwrap();
//! assert_eq!(appended.base_offset, 0);
//! let read = log.read(0, 1 << 20).unwrap();
//! assert_eq!(read.high_watermark, 1);
//! assert_eq!(read.records.len(), batch.len());
//! ```

#![deny(missing_docs)]

mod aborted;
mod compaction;
mod error;
mod files;
mod meta;
mod partition;
mod producers;
mod segment;
mod store;

pub use aborted::AbortedTxn;
pub use compaction::{CompactionPolicy, CompactionResult};
pub use error::StorageError;
pub use files::{FileOps, RealFiles};
pub use meta::{decode_versioned, encode_versioned, InternalLog, MetaFile, MetaStore};
pub use partition::{
    AppendInfo, FetchBound, Isolation, LogConfig, PartitionLog, ReadResult, TimestampedOffset,
    Written,
};
pub use producers::ProducerSnapshot;
pub use store::{
    validate_topic_name, write_atomically, Store, StoreConfig, Topic, MAX_TOPIC_NAME_LEN,
};
pub use uuid::Uuid;

#[cfg(test)]
mod testutil;
