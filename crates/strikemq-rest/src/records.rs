//! Records as JSON: UTF-8 text as strings, anything else base64 with an `"encoding": "base64"`
//! marker, in both directions.

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use strikemq_codec::batch::Record;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A message to produce, parsed from JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewMessage {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<(String, Option<Bytes>)>,
    pub(crate) partition: Option<i32>,
}

fn all_utf8<'a>(fields: impl IntoIterator<Item = &'a Option<Bytes>>) -> bool {
    fields
        .into_iter()
        .all(|f| f.as_ref().is_none_or(|b| std::str::from_utf8(b).is_ok()))
}

fn show(b: &Option<Bytes>, base64: bool) -> Value {
    match b {
        None => Value::Null,
        Some(b) if base64 => Value::String(B64.encode(b)),
        Some(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// A record as JSON. Key and value share one `encoding`; each header has its own.
pub(crate) fn record_json(partition: i32, r: &Record) -> Value {
    let base64 = !all_utf8([&r.key, &r.value]);
    let headers: Vec<Value> = r
        .headers
        .iter()
        .map(|(k, v)| {
            let b64 = !all_utf8([v]);
            let mut h = Map::new();
            h.insert("key".into(), Value::String(k.clone()));
            h.insert("value".into(), show(v, b64));
            if b64 {
                h.insert("encoding".into(), json!("base64"));
            }
            Value::Object(h)
        })
        .collect();
    let mut m = Map::new();
    m.insert("partition".into(), json!(partition));
    m.insert("offset".into(), json!(r.offset));
    m.insert("timestamp".into(), json!(r.timestamp));
    m.insert("key".into(), show(&r.key, base64));
    m.insert("value".into(), show(&r.value, base64));
    m.insert("headers".into(), Value::Array(headers));
    if base64 {
        m.insert("encoding".into(), json!("base64"));
    }
    Value::Object(m)
}

fn encoding_is_base64(obj: &Map<String, Value>) -> Result<bool, String> {
    match obj.get("encoding") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(s)) if s == "base64" => Ok(true),
        Some(Value::String(s)) if s == "utf8" || s == "utf-8" => Ok(false),
        Some(other) => Err(format!(
            "unknown encoding {other}; use \"base64\" or leave it out"
        )),
    }
}

fn field(v: Option<&Value>, base64: bool, what: &str) -> Result<Option<Bytes>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if base64 => B64
            .decode(s)
            .map(|b| Some(Bytes::from(b)))
            .map_err(|e| format!("{what} is not valid base64: {e}")),
        Some(Value::String(s)) => Ok(Some(Bytes::from(s.clone()))),
        // Numbers, booleans and objects are sent as their JSON text, as REST proxies do.
        Some(other) => Ok(Some(Bytes::from(other.to_string()))),
    }
}

/// Parses one entry of `{"messages": [...]}`.
pub(crate) fn parse_message(v: &Value) -> Result<NewMessage, String> {
    let obj = v.as_object().ok_or("each message must be a JSON object")?;
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "key" | "value" | "headers" | "partition" | "encoding"
        ) {
            return Err(format!("unknown message field {k:?}"));
        }
    }
    let base64 = encoding_is_base64(obj)?;
    let key = field(obj.get("key"), base64, "key")?;
    let value = field(obj.get("value"), base64, "value")?;
    let partition = match obj.get("partition") {
        None | Some(Value::Null) => None,
        Some(p) => Some(
            p.as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .filter(|p| *p >= 0)
                .ok_or("partition must be a non-negative integer")?,
        ),
    };
    let headers = match obj.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        // {"name": "value", ...}
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), field(Some(v), false, "header value")?)))
            .collect::<Result<_, String>>()?,
        // [{"key": ..., "value": ..., "encoding": ...}, ...]: order and repeats kept.
        Some(Value::Array(items)) => items
            .iter()
            .map(|h| {
                let h = h.as_object().ok_or("each header must be an object")?;
                let k = h
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or("each header needs a string \"key\"")?;
                let b64 = encoding_is_base64(h)?;
                Ok((k.to_owned(), field(h.get("value"), b64, "header value")?))
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("headers must be an object or an array".into()),
    };
    Ok(NewMessage {
        key,
        value,
        headers,
        partition,
    })
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), so that keyed messages land where a Kafka
/// producer would put them.
pub(crate) fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a key: `toPositive(murmur2(key)) % n`.
pub(crate) fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) as usize % partitions.max(1)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Computed with org.apache.kafka.common.utils.Utils.murmur2 of kafka-clients 4.1.0, and
        // the partition out of 6 its default partitioner picks.
        let cases: &[(&str, i32, i32)] = &[
            ("", 275646681, 3),
            ("k", -1567496736, 2),
            ("ab", 316155434, 2),
            ("abc", 479470107, 3),
            ("order-17", 1568318961, 3),
            ("customer:4711", 1904446729, 1),
            ("strikemq partitions like kafka", 1859126936, 2),
        ];
        for (input, hash, partition) in cases {
            assert_eq!(murmur2(input.as_bytes()), *hash, "{input:?}");
            assert_eq!(
                partition_for_key(input.as_bytes(), 6),
                *partition,
                "{input:?}"
            );
        }
    }

    #[test]
    fn text_and_binary_fields() {
        let r = Record {
            offset: 3,
            timestamp: 9,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(&[0xff, 0x00])),
            headers: vec![("h".into(), Some(Bytes::from_static(b"x")))],
        };
        let j = record_json(1, &r);
        assert_eq!(j["encoding"], "base64");
        assert_eq!(j["value"], "/wA=");
        assert_eq!(j["key"], "aw==");
        assert_eq!(j["headers"][0]["value"], "x");
        let back =
            parse_message(&json!({"key": j["key"], "value": j["value"], "encoding": "base64"}))
                .unwrap();
        assert_eq!(back.value.as_deref(), Some(&[0xff, 0x00][..]));
        assert_eq!(back.key.as_deref(), Some(&b"k"[..]));
        assert!(parse_message(&json!({"value": "%%%", "encoding": "base64"})).is_err());
        assert!(parse_message(&json!({"vaule": "typo"})).is_err());
        assert!(parse_message(&json!({"partition": -1})).is_err());
        let m = parse_message(&json!({"value": "v", "headers": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]})).unwrap();
        assert_eq!(m.headers.len(), 2);
    }
}
