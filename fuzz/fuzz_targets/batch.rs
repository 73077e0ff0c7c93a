//! Record batches: the zero-copy view, its CRC check, and record decoding with every codec
//! (decompression is bounded, so a bomb is an error, not an allocation).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strikemq_codec::batch::{batches, decode_records, RecordBatch};

fuzz_target!(|data: &[u8]| {
    for batch in batches(data) {
        let Ok(batch) = batch else { break };
        let _ = (
            batch.base_offset(),
            batch.last_offset(),
            batch.records_count(),
        );
        let _ = decode_records(&batch);
    }
    if let Ok(b) = RecordBatch::parse_unchecked(data) {
        let _ = decode_records(&b);
    }
});
