//! Reading back the broker's internal logs (committed offsets, transaction state) at start.

use strikemq_codec::batch::{batches, decode_records, Record};
use strikemq_storage::{PartitionLog, StorageError};

const READ_CHUNK: usize = 1024 * 1024;

/// Calls `f` with every record of `log`, in order; returns how many there were.
pub(crate) fn replay(log: &PartitionLog, mut f: impl FnMut(Record)) -> Result<usize, StorageError> {
    let mut offset = log.log_start_offset();
    let mut count = 0;
    while offset < log.log_end_offset() {
        let read = log.read(offset, READ_CHUNK)?;
        if read.records.is_empty() {
            break;
        }
        for batch in batches(&read.records) {
            let batch = batch?;
            offset = batch.last_offset() + 1;
            for record in decode_records(&batch)? {
                count += 1;
                f(record);
            }
        }
    }
    Ok(count)
}
