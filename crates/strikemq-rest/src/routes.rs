//! The endpoints.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use strikemq_broker::{Broker, KafkaError};
use strikemq_codec::batch::{batches, decode_records, BatchBuilder, NewRecord};
use strikemq_codec::ResponseError;
use strikemq_storage::{PartitionLog, Topic};

use crate::http::{Request, Response};
use crate::records::{parse_message, partition_for_key, record_json};
use crate::BrokerInfo;

/// The OpenAPI document of this API.
pub(crate) const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 1000;
const MAX_TIMEOUT_MS: u64 = 30_000;
const READ_CHUNK: usize = 1024 * 1024;

pub(crate) struct Api {
    broker: Arc<Broker>,
    info: BrokerInfo,
    http_port: u16,
    /// Round-robin for messages with neither key nor partition.
    next_partition: AtomicUsize,
}

/// An error response on its way out.
type Fail = Box<Response>;

fn fail(status: u16, code: &str, message: impl Into<String>) -> Fail {
    Box::new(Response::error(status, code, message))
}

/// A storage failure, as the broker's Kafka error for it (a partition whose files cannot be
/// opened is a 500 `storage_error`).
fn storage_fail(e: strikemq_storage::StorageError) -> Fail {
    refusal(KafkaError::from(e))
}

/// The HTTP form of a Kafka error: a status, a stable code for scripts, and the message.
fn refusal(r: KafkaError) -> Fail {
    let (status, code) = match r.error {
        ResponseError::TopicAlreadyExists => (409, "topic_exists"),
        ResponseError::NonEmptyGroup => (409, "group_not_empty"),
        ResponseError::InvalidTopicException => (400, "invalid_topic_name"),
        ResponseError::InvalidPartitions => (400, "invalid_partitions"),
        ResponseError::PolicyViolation => (400, "policy_violation"),
        ResponseError::InvalidReplicationFactor => (400, "invalid_replication_factor"),
        ResponseError::InvalidConfig => (400, "invalid_config"),
        ResponseError::UnknownTopicOrPartition => (404, "unknown_topic_or_partition"),
        ResponseError::GroupIdNotFound => (404, "unknown_group"),
        ResponseError::MessageTooLarge => (413, "message_too_large"),
        ResponseError::CorruptMessage | ResponseError::InvalidRecord => (400, "invalid_record"),
        ResponseError::KafkaStorageError => (500, "storage_error"),
        _ => (500, "internal_error"),
    };
    fail(status, code, r.message())
}

fn percent_decode(s: &str) -> Result<String, Fail> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        fail(400, "bad_request", format!("bad percent-encoding in {s:?}"))
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| fail(400, "bad_request", "the URL is not UTF-8"))
}

fn query_params(q: &str) -> Result<BTreeMap<String, String>, Fail> {
    let mut out = BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k)?, percent_decode(v)?);
    }
    Ok(out)
}

fn param<T: std::str::FromStr>(
    params: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<T>, Fail> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            fail(
                400,
                "bad_parameter",
                format!("{name}={v:?} is not a valid value"),
            )
        }),
    }
}

fn json_body(req: &Request) -> Result<Value, Fail> {
    if let Some(ct) = &req.content_type {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" {
            return Err(fail(
                415,
                "unsupported_media_type",
                format!("send application/json, not {mime}"),
            ));
        }
    }
    if req.body.is_empty() {
        return Err(fail(400, "bad_json", "the request needs a JSON body"));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| fail(400, "bad_json", format!("malformed JSON: {e}")))
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut r = Response::error(405, "method_not_allowed", format!("allowed: {allow}"));
    r.allow = Some(allow);
    r
}

impl Api {
    pub(crate) fn new(broker: Arc<Broker>, info: BrokerInfo, http_port: u16) -> Api {
        Api {
            broker,
            info,
            http_port,
            next_partition: AtomicUsize::new(0),
        }
    }

    pub(crate) fn handle(&self, req: Request) -> Response {
        let started = Instant::now();
        let resp = match self.route(&req) {
            Ok(r) => r,
            Err(e) => *e,
        };
        tracing::debug!(method = %req.method, path = %req.path, status = resp.status, micros = started.elapsed().as_micros() as u64, "http request");
        resp
    }

    fn route(&self, req: &Request) -> Result<Response, Fail> {
        let segments: Vec<String> = req
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect::<Result<_, _>>()?;
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let m = req.method.as_str();
        match (segs.as_slice(), m) {
            (["health"], "GET" | "HEAD") => Ok(Response {
                status: 200,
                content_type: "text/plain",
                body: b"ok".to_vec(),
                allow: None,
            }),
            (["health"], _) => Ok(method_not_allowed("GET")),
            (["openapi.yaml"] | ["v1", "openapi.yaml"], "GET") => Ok(Response {
                status: 200,
                content_type: "application/yaml",
                body: OPENAPI_YAML.as_bytes().to_vec(),
                allow: None,
            }),
            (["openapi.yaml"] | ["v1", "openapi.yaml"], _) => Ok(method_not_allowed("GET")),
            (["v1", "broker"], "GET") => Ok(self.broker_info()),
            (["v1", "broker"], _) => Ok(method_not_allowed("GET")),
            (["v1", "topics"], "GET") => Ok(self.list_topics()),
            (["v1", "topics"], "POST") => self.create_topic(req),
            (["v1", "topics"], _) => Ok(method_not_allowed("GET, POST")),
            (["v1", "topics", name], "GET") => self.describe_topic(name),
            (["v1", "topics", name], "DELETE") => self.delete_topic(name),
            (["v1", "topics", _], _) => Ok(method_not_allowed("GET, DELETE")),
            (["v1", "topics", name, "messages"], "GET") => self.peek(name, req),
            (["v1", "topics", name, "messages"], "POST") => self.produce(name, req),
            (["v1", "topics", _, "messages"], _) => Ok(method_not_allowed("GET, POST")),
            (["v1", "groups"], "GET") => Ok(self.list_groups()),
            (["v1", "groups"], _) => Ok(method_not_allowed("GET")),
            (["v1", "groups", id], "GET") => self.describe_group(id),
            (["v1", "groups", id], "DELETE") => self.delete_group(id),
            (["v1", "groups", _], _) => Ok(method_not_allowed("GET, DELETE")),
            _ => Err(fail(
                404,
                "not_found",
                format!("no endpoint at {}", req.path),
            )),
        }
    }

    fn broker_info(&self) -> Response {
        let store = self.broker.store();
        let cfg = self.broker.config();
        Response::json(
            200,
            &json!({
                "version": self.info.version,
                "broker_id": cfg.node_id,
                "cluster_id": store.cluster_id(),
                "uptime_seconds": self.info.started.elapsed().as_secs(),
                "kafka_port": self.info.kafka_port,
                "http_port": self.http_port,
                "advertised_host": cfg.advertised_host,
                "advertised_port": cfg.advertised_port,
                "io_threads": self.info.io_threads,
                "backend": self.info.backend,
                "data_dir": self.info.data_dir.display().to_string(),
                "topics": store.topics().len(),
                "config": self.info.config,
            }),
        )
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, Fail> {
        self.broker.store().topic(name).ok_or_else(|| {
            fail(
                404,
                "unknown_topic",
                format!("topic {name:?} does not exist"),
            )
        })
    }

    fn list_topics(&self) -> Response {
        let topics: Vec<Value> = self
            .broker
            .store()
            .topics()
            .iter()
            .map(|t| {
                // A partition whose files cannot be opened counts for nothing here; describing
                // the topic reports the error.
                let start: i64 = t.partitions().flatten().map(|p| p.log_start_offset()).sum();
                let end: i64 = t.partitions().flatten().map(|p| p.log_end_offset()).sum();
                json!({
                    "name": t.name(),
                    "partitions": t.partition_count(),
                    "start_offset": start,
                    "end_offset": end,
                })
            })
            .collect();
        Response::json(200, &json!({ "topics": topics }))
    }

    fn create_topic(&self, req: &Request) -> Result<Response, Fail> {
        let body = json_body(req)?;
        let obj = body
            .as_object()
            .ok_or_else(|| fail(400, "bad_request", "expected a JSON object"))?;
        for k in obj.keys() {
            if !matches!(k.as_str(), "name" | "partitions" | "configs") {
                return Err(fail(400, "bad_request", format!("unknown field {k:?}")));
            }
        }
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(400, "bad_request", "\"name\" (a string) is required"))?;
        let partitions = match obj.get("partitions") {
            None | Some(Value::Null) => self.broker.config().default_partitions,
            Some(p) => p
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .filter(|p| *p >= 1)
                .ok_or_else(|| {
                    fail(
                        400,
                        "invalid_partitions",
                        "\"partitions\" must be an integer of at least 1",
                    )
                })?,
        };
        let mut configs = BTreeMap::new();
        match obj.get("configs") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(_) | Value::Bool(_) => v.to_string(),
                        _ => {
                            return Err(fail(
                                400,
                                "invalid_config",
                                format!("config {k:?} must be a string, number or boolean"),
                            ))
                        }
                    };
                    configs.insert(k.clone(), v);
                }
            }
            Some(_) => return Err(fail(400, "invalid_config", "\"configs\" must be an object")),
        }
        let topic = self
            .broker
            .create_topic(name, partitions, configs)
            .map_err(refusal)?;
        Ok(Response::json(
            201,
            &json!({
                "name": topic.name(),
                "topic_id": topic.id().to_string(),
                "partitions": topic.partition_count(),
                "configs": topic.configs(),
            }),
        ))
    }

    fn describe_topic(&self, name: &str) -> Result<Response, Fail> {
        let t = self.topic(name)?;
        let partitions: Vec<Value> = t
            .partitions()
            .enumerate()
            .map(|(i, p)| {
                let p = p.map_err(storage_fail)?;
                Ok(json!({
                    "partition": i,
                    "start_offset": p.log_start_offset(),
                    "end_offset": p.log_end_offset(),
                    "last_stable_offset": p.last_stable_offset(),
                    "size_bytes": p.size_bytes(),
                }))
            })
            .collect::<Result<_, Fail>>()?;
        Ok(Response::json(
            200,
            &json!({
                "name": t.name(),
                "topic_id": t.id().to_string(),
                "partitions": partitions,
                "configs": t.configs(),
            }),
        ))
    }

    fn delete_topic(&self, name: &str) -> Result<Response, Fail> {
        self.topic(name)?;
        let n = self.broker.delete_topic(name).map_err(refusal)?;
        Ok(Response::json(
            200,
            &json!({"deleted": name, "partitions_removed": n}),
        ))
    }

    fn peek(&self, name: &str, req: &Request) -> Result<Response, Fail> {
        let t = self.topic(name)?;
        let params = query_params(&req.query)?;
        for k in params.keys() {
            if !matches!(
                k.as_str(),
                "partition" | "offset" | "limit" | "timeout_ms" | "isolation"
            ) {
                return Err(fail(
                    400,
                    "bad_parameter",
                    format!("unknown parameter {k:?}"),
                ));
            }
        }
        let limit: usize = param(&params, "limit")?.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(fail(
                400,
                "bad_parameter",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset: Option<i64> = param(&params, "offset")?;
        let committed_only = match params.get("isolation").map(String::as_str) {
            None | Some("read_uncommitted") => false,
            Some("read_committed") => true,
            Some(other) => {
                return Err(fail(
                    400,
                    "bad_parameter",
                    format!("isolation must be read_uncommitted or read_committed, not {other:?}"),
                ))
            }
        };
        let timeout_ms: u64 = param(&params, "timeout_ms")?.unwrap_or(0);
        if timeout_ms > MAX_TIMEOUT_MS {
            return Err(fail(
                400,
                "bad_parameter",
                format!("timeout_ms is at most {MAX_TIMEOUT_MS}"),
            ));
        }
        let partitions: Vec<i32> = match param::<i32>(&params, "partition")? {
            Some(p) if t.has_partition(p) => vec![p],
            Some(p) => {
                return Err(fail(
                    404,
                    "unknown_partition",
                    format!("topic {name:?} has no partition {p}"),
                ))
            }
            None => (0..t.partition_count() as i32).collect(),
        };
        // Where each partition starts: an offset, or counted back from the end when negative.
        let starts: Vec<i64> = partitions
            .iter()
            .map(|&p| {
                let log = t.partition(p).map_err(storage_fail)?;
                Ok(match offset {
                    None => log.log_start_offset(),
                    Some(o) if o < 0 => (log.log_end_offset() + o).max(log.log_start_offset()),
                    Some(o) => o.max(log.log_start_offset()),
                })
            })
            .collect::<Result<_, Fail>>()?;
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            let seq = self.broker.append_sequence();
            let mut messages = Vec::new();
            let mut next = serde_json::Map::new();
            for (&p, &start) in partitions.iter().zip(&starts) {
                let log = t.partition(p).map_err(storage_fail)?;
                let end = read_records(
                    log,
                    p,
                    start,
                    limit - messages.len().min(limit),
                    committed_only,
                    &mut messages,
                )
                .map_err(|e| fail(500, "internal_error", e))?;
                next.insert(p.to_string(), json!(end));
            }
            if !messages.is_empty() || Instant::now() >= deadline {
                return Ok(Response::json(
                    200,
                    &json!({"topic": name, "messages": messages, "next_offsets": next}),
                ));
            }
            self.broker.wait_for_append(seq, deadline);
        }
    }

    fn produce(&self, name: &str, req: &Request) -> Result<Response, Fail> {
        let body = json_body(req)?;
        let list = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or_else(|| fail(400, "bad_request", "expected {\"messages\": [...]}"))?;
        if list.is_empty() {
            return Err(fail(400, "bad_request", "\"messages\" is empty"));
        }
        let messages = list
            .iter()
            .enumerate()
            .map(|(i, m)| {
                parse_message(m).map_err(|e| fail(400, "bad_message", format!("message {i}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let topic = match self.broker.store().topic(name) {
            Some(t) => t,
            // A Kafka client would have created it through Metadata.
            None if self.broker.config().auto_create_topics => {
                match self.broker.create_topic(
                    name,
                    self.broker.config().default_partitions,
                    BTreeMap::new(),
                ) {
                    Ok(t) => t,
                    // Created by someone else in the meantime.
                    Err(r) if r.error == ResponseError::TopicAlreadyExists => self.topic(name)?,
                    Err(r) => return Err(refusal(r)),
                }
            }
            None => {
                return Err(fail(
                    404,
                    "unknown_topic",
                    format!("topic {name:?} does not exist"),
                ))
            }
        };
        let n = topic.partition_count();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut per_partition: BTreeMap<i32, BatchBuilder> = BTreeMap::new();
        for (i, m) in messages.into_iter().enumerate() {
            let p = match (m.partition, &m.key) {
                (Some(p), _) if (p as usize) < n => p,
                (Some(p), _) => {
                    return Err(fail(
                        400,
                        "unknown_partition",
                        format!("message {i}: topic {name:?} has no partition {p}"),
                    ))
                }
                (None, Some(k)) => partition_for_key(k, n),
                (None, None) => (self.next_partition.fetch_add(1, Ordering::Relaxed) % n) as i32,
            };
            let b = per_partition.remove(&p).unwrap_or_default();
            per_partition.insert(
                p,
                b.record(NewRecord {
                    timestamp: now_ms,
                    key: m.key,
                    value: m.value,
                    headers: m.headers,
                }),
            );
        }
        let mut results = Vec::new();
        for (p, builder) in per_partition {
            let base = self
                .broker
                .produce_batch(name, p, &builder.build())
                .map_err(refusal)?;
            results.push(json!({
                "topic": name,
                "partition": p,
                "base_offset": base,
                "record_count": builder.len(),
            }));
        }
        Ok(Response::json(200, &json!({ "results": results })))
    }

    fn list_groups(&self) -> Response {
        let groups: Vec<Value> = self
            .broker
            .list_groups_overview()
            .into_iter()
            .map(|o| {
                let (l, d) = (&o.listing, &o.description);
                json!({
                    "group_id": l.group_id,
                    "state": l.state.as_str(),
                    "protocol_type": l.protocol_type,
                    "protocol": d.as_ref().map(|d| d.protocol_name.clone()).unwrap_or_default(),
                    "generation_id": d.as_ref().map_or(0, |d| d.generation_id),
                    "member_count": d.as_ref().map_or(0, |d| d.members.len()),
                })
            })
            .collect();
        Response::json(200, &json!({ "groups": groups }))
    }

    fn describe_group(&self, id: &str) -> Result<Response, Fail> {
        let desc = self.broker.describe_group(id);
        let committed = self.broker.committed_offsets(id);
        let Some(desc) = desc else {
            return Err(fail(
                404,
                "unknown_group",
                format!("group {id:?} does not exist"),
            ));
        };
        let store = self.broker.store();
        let members: Vec<Value> = desc
            .members
            .iter()
            .map(|m| {
                json!({
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "client_host": m.client_host,
                    "assignment": assignment_json(&desc.protocol_type, &m.assignment),
                })
            })
            .collect();
        let offsets: Vec<Value> = committed
            .iter()
            .map(|(tp, c)| {
                let end = store
                    .topic(&tp.topic)
                    .and_then(|t| t.partition(tp.partition).ok().map(|l| l.log_end_offset()));
                json!({
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "committed_offset": c.offset,
                    "end_offset": end,
                    "lag": end.map(|e| (e - c.offset).max(0)),
                    "metadata": c.metadata,
                })
            })
            .collect();
        Ok(Response::json(
            200,
            &json!({
                "group_id": id,
                "state": desc.state.as_str(),
                "generation_id": desc.generation_id,
                "protocol_type": desc.protocol_type,
                "protocol": desc.protocol_name,
                "members": members,
                "offsets": offsets,
            }),
        ))
    }

    fn delete_group(&self, id: &str) -> Result<Response, Fail> {
        self.broker.delete_group(id).map_err(refusal)?;
        Ok(Response::json(200, &json!({ "deleted": id })))
    }
}

/// Reads up to `limit` records of one partition from `start`; returns the next offset to read.
/// Records of transactions say so (`"transaction": "committed" | "aborted" | "open"`); with
/// `committed_only` (read_committed) the read stops at the last stable offset and skips the
/// records of aborted transactions, as a read_committed consumer does.
fn read_records(
    log: &PartitionLog,
    partition: i32,
    start: i64,
    limit: usize,
    committed_only: bool,
    out: &mut Vec<Value>,
) -> Result<i64, String> {
    let mut offset = start;
    let mut taken = 0;
    let end = if committed_only {
        log.last_stable_offset()
    } else {
        log.log_end_offset()
    };
    let aborted = log.aborted_transactions(start, end);
    let open: Vec<(i64, i64)> = log
        .producers()
        .into_iter()
        .filter(|p| p.current_txn_start_offset >= 0)
        .map(|p| (p.producer_id, p.current_txn_start_offset))
        .collect();
    while taken < limit && offset < end {
        let read = log.read(offset, READ_CHUNK).map_err(|e| e.to_string())?;
        if read.records.is_empty() {
            break;
        }
        for batch in batches(&read.records) {
            let batch = batch.map_err(|e| e.to_string())?;
            let next = batch.last_offset() + 1;
            if batch.base_offset() >= end {
                return Ok(offset);
            }
            let state = batch.is_transactional().then(|| {
                let (pid, at) = (batch.producer_id(), batch.base_offset());
                if aborted
                    .iter()
                    .any(|a| a.producer_id == pid && (a.first_offset..=a.last_offset).contains(&at))
                {
                    "aborted"
                } else if open.iter().any(|&(p, first)| p == pid && at >= first) {
                    "open"
                } else {
                    "committed"
                }
            });
            let hidden = committed_only && state == Some("aborted");
            if !batch.is_control() && !hidden {
                for r in decode_records(&batch).map_err(|e| e.to_string())? {
                    if r.offset < offset || taken >= limit {
                        continue;
                    }
                    let mut json = record_json(partition, &r);
                    if let (Some(state), Value::Object(m)) = (state, &mut json) {
                        m.insert("transaction".into(), json!(state));
                    }
                    out.push(json);
                    taken += 1;
                    offset = r.offset + 1;
                }
            }
            if taken >= limit {
                return Ok(offset);
            }
            offset = offset.max(next);
        }
    }
    Ok(offset)
}

/// A consumer group member's assignment as topic -> partitions, or base64 for other protocols.
fn assignment_json(protocol_type: &str, bytes: &Bytes) -> Value {
    use strikemq_codec::messages::ConsumerProtocolAssignment;
    use strikemq_codec::Decodable;
    if bytes.is_empty() {
        return json!({});
    }
    if protocol_type == "consumer" && bytes.len() >= 2 {
        let version = i16::from_be_bytes([bytes[0], bytes[1]]);
        let mut rest = bytes.slice(2..);
        if let Ok(a) = ConsumerProtocolAssignment::decode(&mut rest, version.clamp(0, 3)) {
            let mut map = serde_json::Map::new();
            for tp in a.assigned_partitions {
                map.insert(tp.topic.to_string(), json!(tp.partitions));
            }
            return Value::Object(map);
        }
    }
    use base64::Engine;
    json!({"encoding": "base64", "data": base64::engine::general_purpose::STANDARD.encode(bytes)})
}
