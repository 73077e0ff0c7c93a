//! Golden tests: request frames captured from real clients (tests/golden/capture.py) must decode,
//! re-encode to the very same bytes, and their record batches must pass CRC validation.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use strikemq_codec::batch::{batches, decode_records};
use strikemq_codec::messages::{ApiKey, RequestHeader, RequestKind};
use strikemq_codec::request::{decode_request, RequestBody};
use strikemq_codec::{Decodable, Encodable};

fn golden_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden");
    let mut files = Vec::new();
    for client in std::fs::read_dir(&root).unwrap() {
        for f in std::fs::read_dir(client.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    files
}

/// `03-Metadata-v13.bin` -> (3, 13)
fn expected(path: &Path) -> (i16, i16) {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    let key = stem.split('-').next().unwrap().parse().unwrap();
    let version = stem.rsplit("-v").next().unwrap().parse().unwrap();
    (key, version)
}

#[test]
fn captured_requests_decode_and_re_encode_byte_for_byte() {
    let files = golden_files();
    assert!(files.len() >= 20, "golden frames missing: {}", files.len());
    let mut clients = std::collections::BTreeSet::new();
    for path in files {
        clients.insert(path.parent().unwrap().file_name().unwrap().to_owned());
        let raw = Bytes::from(std::fs::read(&path).unwrap());
        let (key, version) = expected(&path);
        let req = decode_request(raw.clone()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!((req.api_key as i16, req.api_version), (key, version));
        let RequestBody::Kafka(body) = &req.body else {
            panic!("{}: not a served request", path.display())
        };

        // Header and body encoded again by kafka-protocol must give the captured bytes back.
        let api = ApiKey::try_from(key).unwrap();
        let mut rest = raw.clone();
        let header = RequestHeader::decode(&mut rest, api.request_header_version(version)).unwrap();
        let mut again = BytesMut::new();
        header
            .encode(&mut again, api.request_header_version(version))
            .unwrap();
        body.encode(&mut again, version).unwrap();
        assert_eq!(
            &again[..],
            &raw[..],
            "{} does not round-trip",
            path.display()
        );

        if let RequestKind::Produce(p) = body {
            for topic in &p.topic_data {
                for part in &topic.partition_data {
                    let records = part.records.as_ref().expect("records");
                    let mut count = 0;
                    for batch in batches(records) {
                        let batch = batch.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                        count += decode_records(&batch).unwrap().len();
                    }
                    assert!(count > 0, "{}: empty produce", path.display());
                }
            }
        }
    }
    assert!(clients.len() >= 4, "clients: {clients:?}");
}
