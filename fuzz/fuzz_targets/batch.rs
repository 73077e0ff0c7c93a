//! Record batches: the zero-copy view, its CRC check, and record decoding of uncompressed batches.
//! (Compressed batches are left out: decompressing has no output bound yet, see
//! docs/RELIABILITY.md.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use strikemq_codec::batch::{batches, decode_records, Compression, RecordBatch};

fuzz_target!(|data: &[u8]| {
    for batch in batches(data) {
        let Ok(batch) = batch else { break };
        let _ = (
            batch.base_offset(),
            batch.last_offset(),
            batch.records_count(),
        );
        if batch.compression() == Compression::None {
            let _ = decode_records(&batch);
        }
    }
    if let Ok(b) = RecordBatch::parse_unchecked(data) {
        if b.compression() == Compression::None {
            let _ = decode_records(&b);
        }
    }
});
