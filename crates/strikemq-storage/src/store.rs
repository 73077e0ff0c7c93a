//! The topics of a data directory.
//!
//! ```text
//! <data-dir>/
//!   meta/cluster_id              the cluster id, one line
//!   meta/clean_shutdown          present only while the store is closed cleanly: every active
//!                                segment was synced and trimmed to its size (Kafka's
//!                                .kafka_cleanshutdown); removed as soon as the store is opened
//!   meta/topics/<topic>.json     {"name", "id", "partitions", "configs"}, written atomically
//!   <topic>-<partition>/         one PartitionLog per partition (see the segment module)
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{IoContext, StorageError};
use crate::meta::MetaStore;
use crate::partition::{LogConfig, PartitionLog};

/// Kafka's limit on topic name length.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a topic name the way Kafka does: 1 to 249 characters of `[a-zA-Z0-9._-]`, and not `.` or
/// `..`.
pub fn validate_topic_name(name: &str) -> Result<(), StorageError> {
    // Kafka's wording (Topic.validate), so clients show the same message from either broker.
    let fail = |reason: String| {
        Err(StorageError::InvalidTopicName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("the empty string is not allowed".to_owned());
    }
    if name == "." || name == ".." {
        return fail(format!("'{name}' is not allowed"));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return fail(format!(
            "the length of '{name}' is longer than the max allowed length {MAX_TOPIC_NAME_LEN}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return fail(format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// A topic: its id, configs and partition logs.
#[derive(Debug)]
pub struct Topic {
    name: String,
    id: Uuid,
    configs: BTreeMap<String, String>,
    partitions: Vec<Arc<PartitionSlot>>,
}

impl Topic {
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The topic id (KIP-516).
    pub fn id(&self) -> Uuid {
        self.id
    }
    /// Configs set when the topic was created.
    pub fn configs(&self) -> &BTreeMap<String, String> {
        &self.configs
    }
    /// Number of partitions.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }
    /// Whether the topic has a partition with this index (without opening it).
    pub fn has_partition(&self, index: i32) -> bool {
        usize::try_from(index).is_ok_and(|i| i < self.partitions.len())
    }
    /// A partition's log, opened (and recovered after a crash) on first use.
    pub fn partition(&self, index: i32) -> Result<&Arc<PartitionLog>, StorageError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
            .ok_or_else(|| StorageError::UnknownPartition {
                topic: self.name.clone(),
                partition: index,
            })?
            .get()
    }
    /// Every partition log by index, each opened on first use.
    pub fn partitions(
        &self,
    ) -> impl Iterator<Item = Result<&Arc<PartitionLog>, StorageError>> + '_ {
        self.partitions.iter().map(|s| s.get())
    }
    /// Sets `segment.bytes` for every partition: now for the open ones, at open for the others.
    pub fn set_segment_bytes(&self, bytes: u64) {
        for slot in &self.partitions {
            slot.segment_bytes.store(bytes, Ordering::Release);
            if let Some(log) = slot.log.get() {
                log.set_segment_bytes(bytes);
            }
        }
    }
    /// Sets `segment.ms` for every partition: now for the open ones, at open for the others.
    pub fn set_segment_ms(&self, ms: i64) {
        for slot in &self.partitions {
            slot.segment_ms.store(ms, Ordering::Release);
            if let Some(log) = slot.log.get() {
                log.set_segment_ms(ms);
            }
        }
    }
    /// The partition logs opened so far, with their index: the others have not changed since
    /// the store was opened.
    pub fn open_partitions(&self) -> impl Iterator<Item = (i32, &Arc<PartitionLog>)> + '_ {
        self.partitions
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.log.get().map(|l| (i as i32, l)))
    }
}

/// A partition log opened on first use, so that a store with thousands of partitions on disk
/// opens in milliseconds and pays for each partition (its files, maps, a crash recovery) only
/// when something reads or writes it.
#[derive(Debug)]
struct PartitionSlot {
    dir: PathBuf,
    config: LogConfig,
    /// The store was closed cleanly and this log has not been opened since.
    clean: bool,
    log: OnceLock<Arc<PartitionLog>>,
    opening: parking_lot::Mutex<()>,
    /// Topic-level settings to apply when the log is opened (0 / `i64::MIN`: none).
    segment_bytes: AtomicU64,
    segment_ms: AtomicI64,
}

impl PartitionSlot {
    fn lazy(dir: PathBuf, config: LogConfig, clean: bool) -> PartitionSlot {
        PartitionSlot {
            dir,
            config,
            clean,
            log: OnceLock::new(),
            opening: parking_lot::Mutex::new(()),
            segment_bytes: AtomicU64::new(0),
            segment_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// The log of a partition found on disk; its directory must still be there (a request that
    /// resolved a topic just before it was deleted must not bring the directory back).
    fn get(&self) -> Result<&Arc<PartitionLog>, StorageError> {
        self.open(false)
    }

    /// Creates the partition's directory and first segment now (a new topic or partition), so a
    /// bad directory fails the request that creates it.
    fn create(&self) -> Result<&Arc<PartitionLog>, StorageError> {
        self.open(true)
    }

    fn open(&self, create: bool) -> Result<&Arc<PartitionLog>, StorageError> {
        if let Some(log) = self.log.get() {
            return Ok(log);
        }
        let _one_opener = self.opening.lock();
        if let Some(log) = self.log.get() {
            return Ok(log);
        }
        if !create && !self.dir.is_dir() {
            return Err(StorageError::Io {
                op: "open",
                path: self.dir.clone(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        let log = PartitionLog::open_after(self.dir.clone(), self.config.clone(), self.clean)?;
        match self.segment_bytes.load(Ordering::Acquire) {
            0 => {}
            bytes => log.set_segment_bytes(bytes),
        }
        match self.segment_ms.load(Ordering::Acquire) {
            i64::MIN => {}
            ms => log.set_segment_ms(ms),
        }
        Ok(self.log.get_or_init(|| Arc::new(log)))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct TopicMeta {
    /// The file format's version: [`TOPIC_META_VERSION`] when written, absent (0) in files of
    /// release 0.1.0, which hold the same fields.
    #[serde(default)]
    version: u32,
    name: String,
    id: Uuid,
    partitions: u32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

/// The format version of `meta/topics/<topic>.json`.
const TOPIC_META_VERSION: u32 = 1;

/// Settings of a store.
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    /// Applied to every partition log.
    pub log: LogConfig,
}

/// All topics of a data directory.
#[derive(Debug)]
pub struct Store {
    /// Held while the store is open: the exclusive lock on the data directory.
    _lock: std::fs::File,
    dir: PathBuf,
    meta: MetaStore,
    config: StoreConfig,
    cluster_id: String,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
}

impl Store {
    /// Opens (or creates) the data directory and every topic in it.
    pub fn open(dir: impl Into<PathBuf>, config: StoreConfig) -> Result<Store, StorageError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        let lock = lock_data_dir(&dir)?;
        let meta = MetaStore::open(&dir)?;
        let topics_dir = meta.join(TOPICS_DIR);
        std::fs::create_dir_all(&topics_dir).ctx("create dir", &topics_dir)?;
        let cluster_path = meta.join(CLUSTER_ID);
        let cluster_id = match std::fs::read_to_string(&cluster_path) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
            Ok(_) => new_cluster_id(&cluster_path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => new_cluster_id(&cluster_path)?,
            Err(e) => return Err(e).ctx("read", &cluster_path),
        };
        let marker = meta.join(CLEAN_SHUTDOWN);
        let clean = marker.exists();
        let mut topics = HashMap::new();
        for entry in std::fs::read_dir(&topics_dir).ctx("list", &topics_dir)? {
            let path = entry.ctx("list", &topics_dir)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let raw = std::fs::read(&path).ctx("read", &path)?;
            let meta: TopicMeta =
                serde_json::from_slice(&raw).map_err(|e| StorageError::CorruptMetadata {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            if meta.version > TOPIC_META_VERSION {
                return Err(StorageError::CorruptMetadata {
                    path,
                    reason: format!(
                        "format version {} was written by a newer StrikeMQ (this one reads up to {TOPIC_META_VERSION})",
                        meta.version
                    ),
                });
            }
            validate_topic_name(&meta.name)?;
            let topic = open_topic(&dir, &config, meta, clean)?;
            topics.insert(topic.name.clone(), Arc::new(topic));
        }
        if clean {
            // From here on the logs change: a crash must lead to a full recovery.
            std::fs::remove_file(&marker).ctx("remove", &marker)?;
            if let Ok(d) = std::fs::File::open(meta.dir()) {
                let _ = d.sync_all();
            }
        }
        Ok(Store {
            _lock: lock,
            dir,
            meta,
            config,
            cluster_id,
            topics: RwLock::new(topics),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The broker's own files and internal logs, beside the topics.
    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    /// The cluster id, generated on first start and kept.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self.topics.read().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Creates a topic with `partitions` empty partitions. Returns the existing topic's error if
    /// the name is taken.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, StorageError> {
        validate_topic_name(name)?;
        if partitions < 1 {
            return Err(StorageError::InvalidPartitions(partitions));
        }
        let mut topics = self.topics.write();
        if topics.contains_key(name) {
            return Err(StorageError::TopicExists(name.to_owned()));
        }
        // Kafka refuses names that differ only in '.' and '_': metric names would collide.
        let folded = name.replace('.', "_");
        if let Some(existing) = topics.keys().find(|t| t.replace('.', "_") == folded) {
            return Err(StorageError::TopicCollision {
                name: name.to_owned(),
                existing: existing.clone(),
            });
        }
        let meta = TopicMeta {
            version: TOPIC_META_VERSION,
            name: name.to_owned(),
            id: Uuid::new_v4(),
            partitions: partitions as u32,
            configs,
        };
        // Partition directories first: a crash before the metadata is written leaves only empty
        // directories, never a topic without its logs.
        let topic = open_topic(&self.dir, &self.config, meta, false)?;
        for p in &topic.partitions {
            p.create()?;
        }
        self.write_meta(&topic)?;
        let topic = Arc::new(topic);
        topics.insert(name.to_owned(), topic.clone());
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions (Kafka's CreatePartitions); partitions never shrink.
    pub fn add_partitions(&self, name: &str, count: i32) -> Result<Arc<Topic>, StorageError> {
        let mut topics = self.topics.write();
        let old = topics
            .get(name)
            .cloned()
            .ok_or_else(|| StorageError::UnknownTopic(name.to_owned()))?;
        let current = old.partitions.len();
        if count < 1 || (count as usize) <= current {
            return Err(StorageError::PartitionCountNotIncreased {
                topic: name.to_owned(),
                current,
                requested: count,
            });
        }
        let mut partitions = old.partitions.clone();
        for p in current..count as usize {
            let slot = PartitionSlot::lazy(
                self.dir.join(format!("{name}-{p}")),
                self.config.log.clone(),
                false,
            );
            slot.create()?;
            partitions.push(Arc::new(slot));
        }
        let topic = Topic {
            name: old.name.clone(),
            id: old.id,
            configs: old.configs.clone(),
            partitions,
        };
        self.write_meta(&topic)?;
        let topic = Arc::new(topic);
        topics.insert(name.to_owned(), topic.clone());
        tracing::info!(topic = name, partitions = count, "added partitions");
        Ok(topic)
    }

    /// Replaces a topic's configs (validated by the caller) and persists them.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, StorageError> {
        let mut topics = self.topics.write();
        let old = topics
            .get(name)
            .cloned()
            .ok_or_else(|| StorageError::UnknownTopic(name.to_owned()))?;
        let topic = Topic {
            name: old.name.clone(),
            id: old.id,
            configs,
            partitions: old.partitions.clone(),
        };
        self.write_meta(&topic)?;
        let topic = Arc::new(topic);
        topics.insert(name.to_owned(), topic.clone());
        Ok(topic)
    }

    fn write_meta(&self, topic: &Topic) -> Result<(), StorageError> {
        let meta_path = self.meta_path(&topic.name);
        let meta = TopicMeta {
            version: TOPIC_META_VERSION,
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.len() as u32,
            configs: topic.configs.clone(),
        };
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| StorageError::CorruptMetadata {
            path: meta_path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&meta_path, &json)
    }

    /// Deletes a topic and its data. Readers holding slices of its logs keep them valid.
    pub fn delete_topic(&self, name: &str) -> Result<Arc<Topic>, StorageError> {
        let topic = self
            .topics
            .write()
            .remove(name)
            .ok_or_else(|| StorageError::UnknownTopic(name.to_owned()))?;
        let meta_path = self.meta_path(name);
        std::fs::remove_file(&meta_path).ctx("remove", &meta_path)?;
        for p in &topic.partitions {
            match std::fs::remove_dir_all(&p.dir) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other.ctx("remove", &p.dir)?,
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Syncs and trims every active segment, then marks the store as cleanly closed so that the
    /// next start trusts the logs instead of validating their last segments.
    pub fn close(&self) -> Result<(), StorageError> {
        for topic in self.topics.read().values() {
            for (_, p) in topic.open_partitions() {
                p.sync()?;
                p.close()?;
            }
        }
        write_atomically(&self.meta.join(CLEAN_SHUTDOWN), b"")
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.meta.join(TOPICS_DIR).join(format!("{name}.json"))
    }
}

/// The clean-shutdown marker's name in `meta/`.
const CLEAN_SHUTDOWN: &str = "clean_shutdown";
/// The cluster id's file in `meta/`.
const CLUSTER_ID: &str = "cluster_id";
/// The topic metadata files' directory in `meta/`.
const TOPICS_DIR: &str = "topics";

fn open_topic(
    dir: &Path,
    config: &StoreConfig,
    meta: TopicMeta,
    clean: bool,
) -> Result<Topic, StorageError> {
    let partitions = (0..meta.partitions)
        .map(|p| {
            Arc::new(PartitionSlot::lazy(
                dir.join(format!("{}-{p}", meta.name)),
                config.log.clone(),
                clean,
            ))
        })
        .collect();
    Ok(Topic {
        name: meta.name,
        id: meta.id,
        configs: meta.configs,
        partitions,
    })
}

fn new_cluster_id(path: &Path) -> Result<String, StorageError> {
    // Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (22 characters).
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = Uuid::new_v4().into_bytes();
    let mut bits = u128::from_be_bytes(bytes);
    let mut id = String::with_capacity(22);
    for _ in 0..22 {
        id.push(ALPHABET[(bits & 63) as usize] as char);
        bits >>= 6;
    }
    write_atomically(path, id.as_bytes())?;
    Ok(id)
}

/// The data directory's lock file (Kafka's `.lock`).
const LOCK_FILE: &str = ".lock";

/// Takes the exclusive lock on a data directory and writes this process's id into the lock
/// file, or says who holds it. The memory maps of the segments are only safe with one writer
/// per directory, and two brokers appending to the same files would corrupt each other's logs.
/// The lock goes with the process, so a killed broker leaves nothing to clean up.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, StorageError> {
    use std::io::{Read, Seek};
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .ctx("open", &path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(StorageError::DirectoryLocked {
                dir: dir.to_path_buf(),
                pid: holder.trim().parse().ok(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e).ctx("lock", &path),
    }
    file.set_len(0).ctx("write", &path)?;
    file.rewind().ctx("write", &path)?;
    writeln!(file, "{}", std::process::id()).ctx("write", &path)?;
    Ok(file)
}

/// Writes a small file so that a crash leaves either the old or the new content: temp file, fsync,
/// rename, fsync of the directory.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(data).ctx("write", &tmp)?;
        f.sync_all().ctx("sync", &tmp)?;
    }
    std::fs::rename(&tmp, path).ctx("rename", path)?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{batch, values};

    /// Two stores on one directory would both write its segments: the second is refused, and
    /// told which process holds it; once the first is gone, the directory opens again.
    #[test]
    fn a_data_directory_has_one_store_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path(), StoreConfig::default()).unwrap();
        match Store::open(dir.path(), StoreConfig::default()) {
            Err(StorageError::DirectoryLocked { dir: d, pid }) => {
                assert_eq!(d, dir.path());
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("a second store opened the same directory: {other:?}"),
        }
        drop(first);
        Store::open(dir.path(), StoreConfig::default()).unwrap();
    }

    #[test]
    fn topic_names_follow_kafka() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn partitions_open_on_first_use_with_the_topic_settings() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
            let t = store.create_topic("lazy", 3, BTreeMap::new()).unwrap();
            // Created partitions exist at once.
            assert_eq!(t.open_partitions().count(), 3);
            t.partition(1).unwrap().append(&batch("x", 4, 0)).unwrap();
            store.close().unwrap();
        }
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let t = store.topic("lazy").unwrap();
        assert_eq!(t.partition_count(), 3);
        assert_eq!(t.open_partitions().count(), 0);
        assert!(t.has_partition(2) && !t.has_partition(3) && !t.has_partition(-1));
        // Settings given before a partition is opened apply when it is.
        t.set_segment_bytes(4096);
        let p1 = t.partition(1).unwrap();
        assert_eq!(p1.log_end_offset(), 4);
        assert_eq!(
            t.open_partitions().map(|(i, _)| i).collect::<Vec<_>>(),
            vec![1]
        );
        for i in 0..200 {
            p1.append(&batch(&format!("{i:0>100}"), 10, i)).unwrap();
        }
        assert!(
            std::fs::read_dir(dir.path().join("lazy-1"))
                .unwrap()
                .count()
                > 3,
            "no roll"
        );
        assert!(matches!(
            t.partition(3),
            Err(StorageError::UnknownPartition { partition: 3, .. })
        ));
        // A partition directory that vanished is an error, not a new empty log.
        std::fs::remove_dir_all(dir.path().join("lazy-2")).unwrap();
        assert!(matches!(t.partition(2), Err(StorageError::Io { .. })));
        assert!(!dir.path().join("lazy-2").exists());
        assert_eq!(t.partitions().filter(|p| p.is_ok()).count(), 2);
    }

    #[test]
    fn a_clean_shutdown_is_trusted_once_and_a_crash_after_it_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("meta").join(CLEAN_SHUTDOWN);
        {
            let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
            let t = store.create_topic("t", 2, BTreeMap::new()).unwrap();
            for i in 0..50 {
                t.partition(0)
                    .unwrap()
                    .append(&batch(&format!("a{i}"), 3, i))
                    .unwrap();
            }
            store.close().unwrap();
        }
        assert!(marker.exists());
        let log = dir.path().join("t-0").join("00000000000000000000.log");
        {
            // The fast path: the same log end, appends continue at it, and the marker is gone.
            let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
            assert!(!marker.exists());
            let t = store.topic("t").unwrap();
            let p = t.partition(0).unwrap();
            assert_eq!(p.log_end_offset(), 150);
            assert_eq!(p.append(&batch("b", 2, 100)).unwrap().base_offset, 150);
            assert_eq!(
                store
                    .topic("t")
                    .unwrap()
                    .partition(1)
                    .unwrap()
                    .log_end_offset(),
                0
            );
            // A crash: no close, and a torn batch header at the end of the data.
            let size = p.read(0, 1 << 30).unwrap().records.len() as u64;
            drop(t);
            drop(store);
            let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
            std::os::unix::fs::FileExt::write_all_at(&f, &[7u8; 30], size).unwrap();
        }
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let t = store.topic("t").unwrap();
        let p = t.partition(0).unwrap();
        assert_eq!(p.log_end_offset(), 152);
        let all = values(&p.read(0, 1 << 30).unwrap().records);
        assert_eq!(all.len(), 152);
        assert_eq!(all[151], (151, "b-1".into()));
        // A marker next to a log whose tail is torn anyway (left by hand) is not believed.
        store.close().unwrap();
        drop(t);
        drop(store);
        let len = std::fs::metadata(&log).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
        f.set_len(len - 5).unwrap();
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let t = store.topic("t").unwrap();
        let p = t.partition(0).unwrap();
        assert_eq!(p.log_end_offset(), 150);
        assert_eq!(values(&p.read(0, 1 << 30).unwrap().records).len(), 150);
    }

    #[test]
    fn topics_survive_a_restart_and_deletion_removes_data() {
        let dir = tempfile::tempdir().unwrap();
        let (id, cluster) = {
            let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
            let t = store.create_topic("orders", 3, BTreeMap::new()).unwrap();
            t.partition(2).unwrap().append(&batch("v", 2, 5)).unwrap();
            assert!(matches!(
                store.create_topic("orders", 1, BTreeMap::new()),
                Err(StorageError::TopicExists(_))
            ));
            assert!(matches!(
                store.create_topic("bad name", 1, BTreeMap::new()),
                Err(StorageError::InvalidTopicName { .. })
            ));
            assert!(matches!(
                store.create_topic("zero", 0, BTreeMap::new()),
                Err(StorageError::InvalidPartitions(0))
            ));
            store.create_topic("a.b", 1, BTreeMap::new()).unwrap();
            assert!(matches!(
                store.create_topic("a_b", 1, BTreeMap::new()),
                Err(StorageError::TopicCollision { .. })
            ));
            store.delete_topic("a.b").unwrap();
            store.create_topic("gone", 1, BTreeMap::new()).unwrap();
            store.delete_topic("gone").unwrap();
            assert!(!dir.path().join("gone-0").exists());
            store.close().unwrap();
            (t.id(), store.cluster_id().to_owned())
        };
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        assert_eq!(store.cluster_id(), cluster);
        assert_eq!(cluster.len(), 22);
        assert_eq!(store.topics().len(), 1);
        let t = store.topic("orders").unwrap();
        assert_eq!(t.id(), id);
        assert_eq!(store.topic_by_id(id).unwrap().name(), "orders");
        assert_eq!(t.partition_count(), 3);
        let read = t.partition(2).unwrap().read(0, 1 << 20).unwrap();
        assert_eq!(
            values(&read.records),
            vec![(0, "v-0".into()), (1, "v-1".into())]
        );
        assert!(store.topic("gone").is_none());
        // Partitions grow, never shrink, and the new ones survive a restart.
        assert!(matches!(
            store.add_partitions("orders", 3),
            Err(StorageError::PartitionCountNotIncreased { current: 3, .. })
        ));
        let grown = store.add_partitions("orders", 5).unwrap();
        assert_eq!(grown.partition_count(), 5);
        assert_eq!(grown.id(), id);
        drop(store);
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        assert_eq!(store.topic("orders").unwrap().partition_count(), 5);
    }
}
