//! Every route of the REST API, through the in-process broker (`Broker::builder()`), with the
//! Kafka side checked over the wire where a route reads or writes what Kafka clients see.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use strikemq_codec::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use strikemq_codec::messages::*;
use strikemq_codec::StrBytes;
use strikemq_testkit::*;

fn start(dir: &std::path::Path) -> strikemq::RunningBroker {
    strikemq::Broker::builder()
        .bind("127.0.0.1".parse().unwrap())
        .port(0)
        .http_port(0)
        .io_threads(1)
        .default_partitions(2)
        .data_dir(dir)
        .start()
        .unwrap()
}

fn get(addr: SocketAddr, path: &str) -> HttpAnswer {
    http(addr, "GET", path, None)
}

/// The error code of an error answer, checking its shape: {"error": {"code", "message"}}.
fn error_of(a: &HttpAnswer) -> (u16, String) {
    let e = &a.body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error says why: {a:?}"
    );
    assert_eq!(a.content_type, "application/json", "{a:?}");
    (a.status, e["code"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn health_openapi_and_broker_info() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let rest = broker.http_addr().unwrap();
    let health = get(rest, "/health");
    assert_eq!(health.status, 200);
    for path in ["/openapi.yaml", "/v1/openapi.yaml"] {
        let spec = get(rest, path);
        assert_eq!(spec.status, 200, "{path}");
        assert_eq!(spec.content_type, "application/yaml");
        let text = spec.body.as_str().unwrap();
        assert!(text.starts_with("openapi:"), "{path}: {text:.40}");
        for route in ["/v1/topics", "/v1/groups", "/v1/broker"] {
            assert!(text.contains(route), "{path} documents {route}");
        }
    }
    let info = get(rest, "/v1/broker");
    assert_eq!(info.status, 200);
    let b = &info.body;
    assert_eq!(b["kafka_port"], broker.kafka_addr().port());
    assert_eq!(b["http_port"], rest.port());
    assert_eq!(b["broker_id"], 0);
    assert_eq!(b["io_threads"], 1);
    assert_eq!(b["topics"], 0);
    assert_eq!(
        b["cluster_id"].as_str().unwrap(),
        broker.broker().store().cluster_id()
    );
    assert_eq!(
        b["data_dir"].as_str().unwrap(),
        dir.path().display().to_string()
    );
    broker.shutdown().unwrap();
}

#[test]
fn topics_are_created_listed_described_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let rest = broker.http_addr().unwrap();
    let created = http(
        rest,
        "POST",
        "/v1/topics",
        Some(&json!({"name": "orders", "partitions": 3, "configs": {"retention.ms": 60000}})),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["partitions"], 3);
    assert_eq!(created.body["configs"]["retention.ms"], "60000");
    let id = created.body["topic_id"].as_str().unwrap().to_owned();
    // Without "partitions": the broker's default.
    let default = http(rest, "POST", "/v1/topics", Some(&json!({"name": "plain"})));
    assert_eq!(default.body["partitions"], 2, "{default:?}");
    // Refusals, each with its status and code.
    let cases = [
        (json!({"name": "orders"}), 409, "topic_exists"),
        (json!({"name": "bad name"}), 400, "invalid_topic_name"),
        (
            json!({"name": "x", "partitions": 0}),
            400,
            "invalid_partitions",
        ),
        (
            json!({"name": "x", "configs": {"cleanup.policy": "nope"}}),
            400,
            "invalid_config",
        ),
        (json!({"name": "x", "colour": "red"}), 400, "bad_request"),
        (json!(["not", "an", "object"]), 400, "bad_request"),
    ];
    for (body, status, code) in cases {
        let a = http(rest, "POST", "/v1/topics", Some(&body));
        assert_eq!(error_of(&a), (status, code.to_owned()), "{body}");
    }
    // Kafka clients see the topic as created.
    let mut c = KafkaClient::connect(broker.kafka_addr());
    let meta: MetadataResponse = c.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    );
    let orders = meta
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.as_str()) == Some("orders"))
        .expect("orders in Metadata");
    assert_eq!(orders.partitions.len(), 3);
    assert_eq!(orders.topic_id.to_string(), id);
    assert_eq!(produce(&mut c, "orders", &["a", "b"]), 0);

    let list = get(rest, "/v1/topics");
    let mut names: Vec<&str> = list.body["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["orders", "plain"]);
    let described = get(rest, "/v1/topics/orders");
    assert_eq!(described.status, 200);
    assert_eq!(described.body["topic_id"], id.as_str());
    let p0 = &described.body["partitions"][0];
    assert_eq!(
        (p0["start_offset"].as_i64(), p0["end_offset"].as_i64()),
        (Some(0), Some(2))
    );
    assert!(p0["size_bytes"].as_i64().unwrap() > 0);
    assert_eq!(
        error_of(&get(rest, "/v1/topics/nope")),
        (404, "unknown_topic".to_owned())
    );

    let deleted = http(rest, "DELETE", "/v1/topics/orders", None);
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["partitions_removed"], 3);
    assert_eq!(get(rest, "/v1/topics/orders").status, 404);
    assert_eq!(
        error_of(&http(rest, "DELETE", "/v1/topics/orders", None)),
        (404, "unknown_topic".to_owned())
    );
    broker.shutdown().unwrap();
}

#[test]
fn messages_are_produced_and_peeked() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let rest = broker.http_addr().unwrap();
    // Producing to a topic that does not exist creates it, as a Kafka client's Metadata would.
    let produced = http(
        rest,
        "POST",
        "/v1/topics/events/messages",
        Some(&json!({"messages": [
            {"value": "one", "partition": 0},
            {"value": "two", "partition": 0, "key": "k", "headers": {"trace": "t1"}},
            {"value": "AP8=", "encoding": "base64", "partition": 1}
        ]})),
    );
    assert_eq!(produced.status, 200, "{produced:?}");
    let results = produced.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "one batch per partition");
    assert_eq!(results[0]["record_count"], 2);
    // What Kafka consumers read.
    let mut c = KafkaClient::connect(broker.kafka_addr());
    let fetched: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch_request("events", 0, 0));
    assert_eq!(
        fetched_values(&fetched),
        [(0, "one".to_owned()), (1, "two".to_owned())]
    );

    let peek = get(rest, "/v1/topics/events/messages?partition=0&offset=1");
    assert_eq!(peek.status, 200);
    let m = &peek.body["messages"][0];
    assert_eq!(
        (m["offset"].as_i64(), m["value"].as_str()),
        (Some(1), Some("two"))
    );
    assert_eq!(m["key"], "k");
    assert_eq!(peek.body["next_offsets"]["0"], 2);
    // A negative offset counts back from the end; limit bounds the answer.
    let last = get(rest, "/v1/topics/events/messages?partition=0&offset=-1");
    assert_eq!(last.body["messages"][0]["value"], "two");
    let one = get(rest, "/v1/topics/events/messages?limit=1");
    assert_eq!(one.body["messages"].as_array().unwrap().len(), 1);

    // A peek with a timeout is answered by the next append (from a Kafka producer).
    let waiting = std::thread::spawn(move || {
        get(
            rest,
            "/v1/topics/events/messages?partition=0&offset=2&timeout_ms=20000",
        )
    });
    let inner = broker.broker().clone();
    wait_until(Duration::from_secs(10), "the peek to block", || {
        (inner.append_waiters() == 1).then_some(())
    });
    assert_eq!(produce(&mut c, "events", &["late"]), 2);
    let woken = waiting.join().unwrap();
    assert_eq!(woken.body["messages"][0]["value"], "late", "{woken:?}");

    let cases = [
        (
            "POST",
            "/v1/topics/events/messages",
            Some(json!({"messages": []})),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/v1/topics/events/messages",
            Some(json!({"messages": [{"value": "x", "partition": 7}]})),
            400,
            "unknown_partition",
        ),
        (
            "POST",
            "/v1/topics/events/messages",
            Some(json!({"messages": [{"value": "!", "encoding": "base64"}]})),
            400,
            "bad_message",
        ),
        (
            "GET",
            "/v1/topics/events/messages?partition=9",
            None,
            404,
            "unknown_partition",
        ),
        (
            "GET",
            "/v1/topics/events/messages?limit=0",
            None,
            400,
            "bad_parameter",
        ),
        (
            "GET",
            "/v1/topics/events/messages?colour=red",
            None,
            400,
            "bad_parameter",
        ),
        (
            "GET",
            "/v1/topics/nope/messages",
            None,
            404,
            "unknown_topic",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let a = http(rest, method, path, body.as_ref());
        assert_eq!(error_of(&a), (status, code.to_owned()), "{method} {path}");
    }
    broker.shutdown().unwrap();
}

#[test]
fn groups_are_listed_described_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let rest = broker.http_addr().unwrap();
    let mut c = KafkaClient::connect(broker.kafka_addr());
    create_topic(&mut c, "paid", 1);
    produce(&mut c, "paid", &["a", "b", "c", "d", "e"]);
    // A group that only commits offsets (as a consumer with assign() does).
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("billing")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name("paid"))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(3)
                .with_committed_metadata(Some(StrBytes::from_static_str("m")))])]);
    let r: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 8, &commit);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    let list = get(rest, "/v1/groups");
    assert_eq!(list.status, 200);
    let g = &list.body["groups"][0];
    assert_eq!(g["group_id"], "billing");
    assert_eq!(g["member_count"], 0);
    let described = get(rest, "/v1/groups/billing");
    assert_eq!(described.status, 200);
    assert_eq!(described.body["state"], "Empty");
    let o = &described.body["offsets"][0];
    assert_eq!(
        (
            o["topic"].as_str(),
            o["committed_offset"].as_i64(),
            o["end_offset"].as_i64(),
            o["lag"].as_i64()
        ),
        (Some("paid"), Some(3), Some(5), Some(2))
    );
    assert_eq!(o["metadata"], "m");
    assert_eq!(
        error_of(&get(rest, "/v1/groups/nobody")),
        (404, "unknown_group".to_owned())
    );

    let deleted = http(rest, "DELETE", "/v1/groups/billing", None);
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(deleted.body["deleted"], "billing");
    assert_eq!(get(rest, "/v1/groups/billing").status, 404);
    // Kafka clients see the offsets gone too.
    let fetch = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("billing")))
        .with_topics(None);
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 7, &fetch);
    assert!(r.topics.is_empty(), "{r:?}");
    assert_eq!(
        error_of(&http(rest, "DELETE", "/v1/groups/billing", None)),
        (404, "unknown_group".to_owned())
    );
    broker.shutdown().unwrap();
}

#[test]
fn wrong_methods_and_unknown_paths_are_refused_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let rest = broker.http_addr().unwrap();
    let cases: [(&str, &str, &str); 8] = [
        ("POST", "/health", "GET"),
        ("DELETE", "/openapi.yaml", "GET"),
        ("POST", "/v1/broker", "GET"),
        ("DELETE", "/v1/topics", "GET, POST"),
        ("POST", "/v1/topics/t", "GET, DELETE"),
        ("DELETE", "/v1/topics/t/messages", "GET, POST"),
        ("POST", "/v1/groups", "GET"),
        ("POST", "/v1/groups/g", "GET, DELETE"),
    ];
    for (method, path, allow) in cases {
        let a = http(rest, method, path, None);
        assert_eq!(a.status, 405, "{method} {path}");
        assert_eq!(a.allow.as_deref(), Some(allow), "{method} {path}");
        assert!(
            a.body["error"]["code"].is_string(),
            "{method} {path}: {a:?}"
        );
    }
    let missing = get(rest, "/v2/anything");
    assert_eq!(error_of(&missing), (404, "not_found".to_owned()));
    let _: Value = missing.body;
    broker.shutdown().unwrap();
}
