//! A partition log on its own, no broker: append record batches, read them back from the
//! memory-mapped segments, find an offset by timestamp, close, reopen (recovery) and append on.
//!
//! Run with `cargo run -p strikemq-storage --example partition_log [DIR]`; without `DIR` the log
//! goes to a temporary directory that is removed afterwards.

use bytes::Bytes;
use strikemq_batch::{batches, decode_records, BatchBuilder, NewRecord};
use strikemq_storage::{LogConfig, PartitionLog};

fn batch(first_ts: i64, values: &[&str]) -> Bytes {
    let mut builder = BatchBuilder::new();
    for (i, v) in values.iter().enumerate() {
        builder = builder.record(NewRecord {
            timestamp: first_ts + i as i64,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(v.to_string())),
            headers: vec![("source".into(), Some(Bytes::from_static(b"example")))],
        });
    }
    builder.build()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => temp.path().join("orders-0"),
    };
    // Small segments so that a few appends roll over to new segment files.
    let config = LogConfig {
        segment_bytes: 4096,
        ..LogConfig::default()
    };

    let log = PartitionLog::open(&dir, config.clone())?;
    let start = log.log_end_offset();
    let t0 = 1_700_000_000_000;
    for round in 0..50 {
        let info = log.append(&batch(t0 + round * 10, &["created", "paid", "shipped"]))?;
        assert_eq!(info.last_offset - info.base_offset, 2);
    }
    println!(
        "{}: offsets {}..{}, {} segments, {} bytes",
        dir.display(),
        log.log_start_offset(),
        log.log_end_offset(),
        log.segment_count(),
        log.size_bytes()
    );

    // Read from an offset: whole batches, zero-copy out of the mapped segment.
    let read = log.read(start + 30, 1 << 20)?;
    let mut shown = 0;
    for b in batches(&read.records) {
        for r in decode_records(&b?)? {
            if r.offset >= start + 30 && shown < 3 {
                println!(
                    "  offset {} ts {} {}={}",
                    r.offset,
                    r.timestamp,
                    String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()),
                    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                );
                shown += 1;
            }
        }
    }
    assert_eq!(shown, 3);

    // Which offset was written at (or after) a point in time?
    let found = log
        .offset_for_timestamp(t0 + 100)?
        .ok_or("no record at or after that time")?;
    println!(
        "first record at or after {}: offset {} ({})",
        t0 + 100,
        found.offset,
        found.timestamp
    );

    // Close and reopen: the last segment is scanned and any torn tail cut off.
    let end = log.log_end_offset();
    log.close()?;
    drop(log);
    let log = PartitionLog::open(&dir, config)?;
    assert_eq!(log.log_end_offset(), end);
    let info = log.append(&batch(t0 + 1000, &["returned"]))?;
    assert_eq!(info.base_offset, end);
    println!(
        "reopened at offset {end}; appended one more at {}",
        info.base_offset
    );
    Ok(())
}
