//! Every request decoder: any frame decodes to a request or an error. The decoders reserve
//! memory from counts on the wire, so this runs on the broker's own allocator, as the binary does.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use strikemq_codec::request::decode_request;

#[global_allocator]
static ALLOCATOR: strikemq::GuardedAllocator = strikemq::GuardedAllocator;

fuzz_target!(|data: &[u8]| {
    let _ = decode_request(Bytes::copy_from_slice(data));
});
