//! The broker's own files beside the partition logs, all under `<data-dir>/meta/`: small files
//! replaced atomically, and internal logs (committed offsets; next, transaction state). Storage
//! owns their names and their layout, so callers never join paths into the data directory.
//!
//! Every file format carries its version, so that a later release can tell an old file from a
//! damaged one and a file written by a newer release is refused with a clear error instead of
//! being misread. The small text files follow Kafka's checkpoint files: a first line with the
//! format version, then the content ([`encode_versioned`]). Files written before versions
//! existed (release 0.1.0: the content alone) are read as version 0.

use std::path::{Path, PathBuf};

use crate::error::{IoContext, StorageError};
use crate::partition::{LogConfig, PartitionLog};
use crate::store::write_atomically;

/// The small files kept in `meta/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaFile {
    /// The first id of the next block of producer ids (a versioned number).
    ProducerIds,
    /// The dynamic broker configs (JSON with a `version` field).
    BrokerConfigs,
    /// Group configs (resource type GROUP; JSON with a `version` field).
    GroupConfigs,
}

impl MetaFile {
    /// The file's name in `meta/`.
    pub fn file_name(self) -> &'static str {
        match self {
            MetaFile::ProducerIds => "producer_ids",
            MetaFile::BrokerConfigs => "broker_configs.json",
            MetaFile::GroupConfigs => "group_configs.json",
        }
    }
}

/// The internal logs kept in `meta/`, each a [`PartitionLog`] directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalLog {
    /// Committed offsets and group membership (Kafka's `__consumer_offsets`).
    ConsumerOffsets,
    /// Transactional ids and their transactions (Kafka's `__transaction_state`).
    TransactionState,
}

impl InternalLog {
    /// The log's directory name in `meta/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            InternalLog::ConsumerOffsets => "consumer_offsets",
            InternalLog::TransactionState => "transaction_state",
        }
    }
}

/// `<data-dir>/meta/`: the broker's small files and internal logs.
#[derive(Debug, Clone)]
pub struct MetaStore {
    dir: PathBuf,
}

impl MetaStore {
    /// The `meta/` directory of a data directory, created if missing.
    pub(crate) fn open(data_dir: &Path) -> Result<MetaStore, StorageError> {
        let dir = data_dir.join("meta");
        std::fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        Ok(MetaStore { dir })
    }

    /// The `meta/` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a file lives (for messages).
    pub fn path(&self, file: MetaFile) -> PathBuf {
        self.dir.join(file.file_name())
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A file's bytes, or `None` if it was never written.
    pub fn read(&self, file: MetaFile) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.path(file);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).ctx("read", &path),
        }
    }

    /// Replaces a file so that a crash leaves the old or the new content, never a mix.
    pub fn write(&self, file: MetaFile, bytes: &[u8]) -> Result<(), StorageError> {
        write_atomically(&self.path(file), bytes)
    }

    /// A number kept in a versioned text file, or `None` if the file was never written.
    pub fn read_number(&self, file: MetaFile) -> Result<Option<i64>, StorageError> {
        match self.read(file)? {
            None => Ok(None),
            Some(bytes) => decode_versioned(&self.path(file), &bytes, NUMBER_VERSION)
                .and_then(|(_, body)| parse_number(&self.path(file), body))
                .map(Some),
        }
    }

    /// Replaces a versioned number file.
    pub fn write_number(&self, file: MetaFile, n: i64) -> Result<(), StorageError> {
        self.write(file, &encode_versioned(NUMBER_VERSION, &n.to_string()))
    }

    /// Opens (or creates) an internal log.
    pub fn open_log(
        &self,
        log: InternalLog,
        config: LogConfig,
    ) -> Result<PartitionLog, StorageError> {
        PartitionLog::open(self.dir.join(log.dir_name()), config)
    }

    /// Replaces an internal log by one that `fill` writes from scratch (compaction of a log that
    /// only the latest record per key matters in): the new log is written beside the old one,
    /// then swapped in by renames, so a crash leaves one of the two whole. The old log must be
    /// closed and dropped by the caller first. Returns the new log, opened.
    pub fn rewrite_log(
        &self,
        log: InternalLog,
        config: LogConfig,
        fill: impl FnOnce(&PartitionLog) -> Result<(), StorageError>,
    ) -> Result<PartitionLog, StorageError> {
        let dir = self.dir.join(log.dir_name());
        let fresh = dir.with_extension("compacting");
        let old = dir.with_extension("old");
        let _ = std::fs::remove_dir_all(&fresh);
        let _ = std::fs::remove_dir_all(&old);
        {
            let new = PartitionLog::open(&fresh, config.clone())?;
            fill(&new)?;
            new.close()?;
        }
        std::fs::rename(&dir, &old).ctx("rename", &dir)?;
        std::fs::rename(&fresh, &dir).ctx("rename", &fresh)?;
        std::fs::remove_dir_all(&old).ctx("remove", &old)?;
        PartitionLog::open(&dir, config)
    }
}

/// The format version of the versioned number files (`producer_ids`, a partition's
/// `log-start-offset`).
pub(crate) const NUMBER_VERSION: u32 = 1;

/// A small text file in Kafka's checkpoint style: the format version on the first line, then
/// the content.
pub fn encode_versioned(version: u32, content: &str) -> Vec<u8> {
    format!("{version}\n{content}\n").into_bytes()
}

/// Reads a file written by [`encode_versioned`]: its version and content. A file of one line is
/// the unversioned form of release 0.1.0 (version 0, the line is the content). A version above
/// `newest` was written by a newer release: an error, not a guess.
pub fn decode_versioned<'a>(
    path: &Path,
    bytes: &'a [u8],
    newest: u32,
) -> Result<(u32, &'a str), StorageError> {
    let corrupt = |reason: String| StorageError::CorruptMetadata {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| corrupt("not UTF-8 text".to_owned()))?;
    let text = text.trim_end_matches('\n');
    let Some((first, rest)) = text.split_once('\n') else {
        return Ok((0, text.trim()));
    };
    let version: u32 = first
        .trim()
        .parse()
        .map_err(|_| corrupt(format!("not a format version: {:?}", first.trim())))?;
    if version > newest {
        return Err(corrupt(format!(
            "format version {version} was written by a newer StrikeMQ (this one reads up to {newest})"
        )));
    }
    Ok((version, rest.trim()))
}

fn parse_number(path: &Path, s: &str) -> Result<i64, StorageError> {
    s.parse().map_err(|_| StorageError::CorruptMetadata {
        path: path.to_path_buf(),
        reason: format!("not a number: {s:?}"),
    })
}

/// Reads a versioned number file written by [`MetaStore::write_number`] or by a partition, or
/// `None` if it does not exist.
pub(crate) fn read_number_file(path: &Path) -> Result<Option<i64>, StorageError> {
    match std::fs::read(path) {
        Ok(bytes) => decode_versioned(path, &bytes, NUMBER_VERSION)
            .and_then(|(_, body)| parse_number(path, body))
            .map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("read", path),
    }
}

/// Replaces a versioned number file.
pub(crate) fn write_number_file(path: &Path, n: i64) -> Result<(), StorageError> {
    write_atomically(path, &encode_versioned(NUMBER_VERSION, &n.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_files_read_back_and_unversioned_ones_are_version_zero() {
        let p = Path::new("x");
        let bytes = encode_versioned(1, "42");
        assert_eq!(bytes, b"1\n42\n");
        assert_eq!(decode_versioned(p, &bytes, 1).unwrap(), (1, "42"));
        // What 0.1.0 wrote: the content alone.
        assert_eq!(decode_versioned(p, b"42", 1).unwrap(), (0, "42"));
        assert_eq!(decode_versioned(p, b"42\n", 1).unwrap(), (0, "42"));
    }

    #[test]
    fn a_newer_format_or_a_damaged_header_is_an_error() {
        let p = Path::new("x");
        let newer = decode_versioned(p, b"2\n42\n", 1).unwrap_err().to_string();
        assert!(newer.contains("newer StrikeMQ"), "{newer}");
        assert!(decode_versioned(p, b"v1\n42\n", 1).is_err());
        assert!(decode_versioned(p, &[0xff, b'\n', b'1'], 1).is_err());
    }

    #[test]
    fn numbers_round_trip_through_the_meta_store() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open(dir.path()).unwrap();
        assert_eq!(meta.read_number(MetaFile::ProducerIds).unwrap(), None);
        meta.write_number(MetaFile::ProducerIds, 3000).unwrap();
        assert_eq!(meta.read_number(MetaFile::ProducerIds).unwrap(), Some(3000));
        std::fs::write(meta.path(MetaFile::ProducerIds), b"x\ny\n").unwrap();
        assert!(meta.read_number(MetaFile::ProducerIds).is_err());
    }

    #[test]
    fn a_rewritten_internal_log_replaces_the_old_one() {
        use crate::testutil::{batch, values};
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open(dir.path()).unwrap();
        let log = meta
            .open_log(InternalLog::ConsumerOffsets, LogConfig::default())
            .unwrap();
        log.append(&batch("old", 5, 0)).unwrap();
        log.close().unwrap();
        drop(log);
        let log = meta
            .rewrite_log(InternalLog::ConsumerOffsets, LogConfig::default(), |new| {
                new.append(&batch("new", 1, 0)).map(|_| ())
            })
            .unwrap();
        assert_eq!(log.log_end_offset(), 1);
        let read = log.read(0, 1 << 20).unwrap();
        assert_eq!(values(&read.records), [(0, "new-0".to_owned())]);
        let names: Vec<_> = std::fs::read_dir(meta.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["consumer_offsets"], "no leftovers of the swap");
    }
}
