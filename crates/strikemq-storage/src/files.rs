//! The seam between the logs and the file system. Every write, resize and sync of a segment or an
//! index goes through a [`FileOps`], so tests can make the disk full, fail a sync, or keep a copy of
//! what each sync made durable and "crash" back to it. Reads go through the segments' memory maps
//! and never fail once mapped, so they are not part of the seam.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// File operations a partition log performs. `path` names the file for errors and for
/// implementations that keep per-file state.
pub trait FileOps: Send + Sync + std::fmt::Debug {
    /// Writes all of `buf` at `pos`.
    fn write_at(&self, file: &File, path: &Path, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Appends all of `buf` to a file opened for appending.
    fn append(&self, file: &mut File, path: &Path, buf: &[u8]) -> io::Result<()>;
    /// Truncates or extends the file.
    fn set_len(&self, file: &File, path: &Path, len: u64) -> io::Result<()>;
    /// Makes the file's data durable.
    fn sync(&self, file: &File, path: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFiles;

impl FileOps for RealFiles {
    fn write_at(&self, file: &File, _path: &Path, buf: &[u8], pos: u64) -> io::Result<()> {
        file.write_all_at(buf, pos)
    }
    fn append(&self, file: &mut File, _path: &Path, buf: &[u8]) -> io::Result<()> {
        file.write_all(buf)
    }
    fn set_len(&self, file: &File, _path: &Path, len: u64) -> io::Result<()> {
        file.set_len(len)
    }
    fn sync(&self, file: &File, _path: &Path) -> io::Result<()> {
        file.sync_data()
    }
}

/// The default: [`RealFiles`].
pub(crate) fn real() -> Arc<dyn FileOps> {
    Arc::new(RealFiles)
}

#[cfg(test)]
pub(crate) mod faults {
    //! A [`FileOps`] for tests: a disk that can be full, syncs that can fail, and a record of what
    //! each file held at its last sync, to simulate a power cut.

    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use parking_lot::Mutex;

    use super::*;

    #[derive(Debug, Default)]
    pub(crate) struct Faulty {
        /// Writes fail with ENOSPC after writing half of their bytes (a torn write).
        pub(crate) full: AtomicBool,
        /// Syncs fail with EIO.
        pub(crate) failing_sync: AtomicBool,
        /// Successful syncs so far.
        pub(crate) syncs: AtomicU64,
        /// What each file held when it was last synced.
        durable: Mutex<HashMap<PathBuf, Vec<u8>>>,
    }

    fn no_space() -> io::Error {
        io::Error::from_raw_os_error(28) // ENOSPC
    }

    impl FileOps for Faulty {
        fn write_at(&self, file: &File, path: &Path, buf: &[u8], pos: u64) -> io::Result<()> {
            if self.full.load(Ordering::Acquire) {
                let _ = RealFiles.write_at(file, path, &buf[..buf.len() / 2], pos);
                return Err(no_space());
            }
            RealFiles.write_at(file, path, buf, pos)
        }
        fn append(&self, file: &mut File, path: &Path, buf: &[u8]) -> io::Result<()> {
            if self.full.load(Ordering::Acquire) {
                let _ = RealFiles.append(file, path, &buf[..buf.len() / 2]);
                return Err(no_space());
            }
            RealFiles.append(file, path, buf)
        }
        fn set_len(&self, file: &File, path: &Path, len: u64) -> io::Result<()> {
            RealFiles.set_len(file, path, len)
        }
        fn sync(&self, file: &File, path: &Path) -> io::Result<()> {
            if self.failing_sync.load(Ordering::Acquire) {
                return Err(io::Error::from_raw_os_error(5)); // EIO
            }
            RealFiles.sync(file, path)?;
            self.durable
                .lock()
                .insert(path.to_owned(), std::fs::read(path)?);
            self.syncs.fetch_add(1, Ordering::AcqRel);
            Ok(())
        }
    }

    impl Faulty {
        /// Rewrites every log file under `dir` as a power cut could leave it: what its last sync
        /// made durable, plus a prefix (`keep` of 0..=1, as a fraction) of what was written after.
        /// Index files lose everything written since their last sync.
        pub(crate) fn power_cut(&self, dir: &Path, keep: f64) {
            let durable = self.durable.lock();
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    continue;
                }
                let now = std::fs::read(&path).unwrap();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if !name.ends_with(".log") {
                    if name.ends_with("index") {
                        std::fs::write(&path, durable.get(&path).cloned().unwrap_or_default())
                            .unwrap();
                    }
                    continue;
                }
                let old = durable.get(&path).cloned().unwrap_or_default();
                // The written-but-unsynced region is where the two differ.
                let start = old.iter().zip(&now).take_while(|(a, b)| a == b).count();
                let end = now
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(i, b)| old.get(*i) != Some(b))
                    .map_or(start, |(i, _)| i + 1);
                let cut = start + ((end.saturating_sub(start)) as f64 * keep) as usize;
                let mut after = now[..cut.min(now.len())].to_vec();
                if old.len() > after.len() {
                    after.extend_from_slice(&old[after.len()..]);
                }
                std::fs::write(&path, after).unwrap();
            }
        }
    }
}
