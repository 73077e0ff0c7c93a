"""Which tests prove which feature for which client. report.py turns this and the results of
./tests/run.sh into the matrix of docs/COMPATIBILITY.md: a cell passes when every test it names
passed in that run.

Test ids, as report.py reads them from the results:
  python:<module>.<test>          pytest, tests/python
  conformance:<module>.<test>     pytest, tests/conformance (against Apache Kafka and StrikeMQ)
  java-4.4:<Class>.<method>       surefire, tests/java with kafka-clients 4.4
  java-3.9:<Class>.<method>       the same tests with kafka-clients 3.9
  go:<TestName>                   go test, tests/go
  node:<test name>                node --test, tests/node
  rdkafka:<test name>             cargo test, tests/rust-rdkafka
A pattern names a test id or, ending in "*", every id starting with what precedes it.
"""

FEATURES = [
    ("produce", "Produce & consume"),
    ("records", "Keys, headers, timestamps"),
    ("compression", "Compression"),
    ("idempotence", "Idempotent producer"),
    ("groups", "Consumer groups"),
    ("offsets", "Committed offsets"),
    ("admin", "Admin"),
    ("kafka", "Same as on Kafka"),
    ("transactions", "Transactions"),
    ("kip848", "Consumer protocol (KIP-848)"),
    ("share", "Share groups"),
    ("streams", "Streams groups"),
]

# Features no client has with StrikeMQ, with the reason: shown as "known deviation" in every row.
NOT_SUPPORTED = {
    "streams": "the streams rebalance protocol (KIP-1071, group.protocol=streams) is not served "
               "yet (issue 20); Kafka Streams runs with the classic protocol.",
}

J44 = "java-4.4:"
J39 = "java-3.9:"


def java(prefix, *, kafka=None):
    return {
        "produce": [prefix + "JavaClientTest.manyMessagesInOrder", prefix + "JavaClientTest.seekByOffsetAndTimestamp"],
        "records": [prefix + "JavaClientTest.idempotentProducerWithKeysHeadersNullsAndPartitions"],
        "compression": [prefix + "JavaClientTest.compressedBatches*"],
        "idempotence": [prefix + "JavaClientTest.idempotentProducerWithKeysHeadersNullsAndPartitions"],
        "groups": [prefix + "JavaGroupTest.membersSplitPartitionsCommitAndResume"],
        "offsets": [prefix + "JavaGroupTest.membersSplitPartitionsCommitAndResume", prefix + "JavaClientTest.seekByOffsetAndTimestamp"],
        "admin": [prefix + "JavaClientTest.adminCreateDescribeDelete", prefix + "JavaClientTest.adminPartitionsRecordsAndCluster",
                  prefix + "JavaClientTest.topicConfigsDescribeAndAlter", prefix + "JavaClientTest.logDirsAndProducers"],
        "kafka": kafka or [],
        "transactions": [prefix + "JavaTransactionTest.*"],
    }


CLIENTS = [
    {
        "name": "kcat (librdkafka)",
        "version": "runtime:kcat",
        "tests": {
            "produce": ["python:test_kcat.test_produce_and_consume_with_keys_and_headers"],
            "records": ["python:test_kcat.test_produce_and_consume_with_keys_and_headers"],
            "groups": ["python:test_groups.test_kcat_balanced_consumer"],
            "offsets": ["python:test_groups.test_kcat_balanced_consumer"],
            "admin": ["python:test_kcat.test_metadata_lists_the_broker"],
        },
    },
    {
        "name": "confluent-kafka (Python, librdkafka)",
        "version": "pip:confluent-kafka",
        "tests": {
            "produce": ["python:test_confluent.test_hundred_thousand_messages", "python:test_confluent.test_several_topics_in_one_producer"],
            "records": ["python:test_confluent.test_keys_values_headers_nulls_and_timestamps",
                        "python:test_confluent.test_consume_from_the_middle_by_offset_and_timestamp"],
            "compression": ["python:test_confluent.test_compressed_batches*"],
            "idempotence": ["python:test_confluent.test_idempotent_producer", "python:test_restart.test_idempotent_producer_keeps_going_across_a_broker_restart"],
            "groups": ["python:test_groups.test_members_share_partitions_and_consume_everything_once",
                       "python:test_groups.test_a_leaving_member_hands_its_partitions_over",
                       "python:test_groups.test_a_killed_member_loses_its_partitions_after_the_session_timeout",
                       "python:test_groups.test_cooperative_sticky_rebalance",
                       "python:test_groups.test_static_member_restart_does_not_rebalance"],
            "offsets": ["python:test_groups.test_committed_offsets_survive_a_broker_restart"],
            "kip848": ["python:test_groups.test_kip848_consumers_split_rebalance_and_survive_a_restart"],
            "transactions": ["python:test_transactions.test_c*", "python:test_transactions.test_a_*",
                             "python:test_transactions.test_an_*", "python:test_transactions.test_the_*"],
            "admin": ["python:test_confluent.test_admin_create_list_delete", "python:test_groups.test_admin_consumer_group_apis",
                      "python:test_admin.test_confluent_create_partitions_delete_records_describe_cluster",
                      "python:test_admin.test_topic_configs_create_describe_alter"],
            "kafka": ["conformance:test_differential.test_create_topic_errors_match*",
                      "conformance:test_differential.test_delete_and_partition_errors_match",
                      "conformance:test_differential.test_topic_config_defaults_match",
                      "conformance:test_differential.test_produce_fetch_and_offsets_match",
                      "conformance:test_differential.test_consumer_groups_match"],
        },
    },
    {
        "name": "kafka-python",
        "version": "pip:kafka-python",
        "tests": {
            "produce": ["python:test_kafka_python.test_produce_and_consume_with_headers_and_keys"],
            "records": ["python:test_kafka_python.test_produce_and_consume_with_headers_and_keys", "python:test_kafka_python.test_gzip_and_offsets_api"],
            "compression": ["python:test_kafka_python.test_gzip_and_offsets_api"],
            "groups": ["python:test_groups.test_kafka_python_group"],
            "offsets": ["python:test_groups.test_kafka_python_group"],
            "admin": ["python:test_kafka_python.test_admin_create_and_delete", "python:test_admin.test_kafka_python_admin_partitions_and_records",
                      "python:test_admin.test_kafka_python_describe_and_alter_configs"],
            "kafka": ["conformance:test_differential.test_api_versions_are_a_subset_of_kafkas"],
            "transactions": ["python:test_transactions.test_kafka_python_transactions"],
        },
    },
    {
        "name": "aiokafka",
        "version": "pip:aiokafka",
        "tests": {**{k: ["python:test_aiokafka.test_aiokafka_produce_and_group_consume"]
                     for k in ("produce", "records", "compression", "idempotence", "groups", "offsets")},
                  "transactions": ["python:test_transactions.test_aiokafka_transactions"]},
    },
    {
        "name": "Apache Kafka Java client",
        "version": "static:4.4.0",
        "tests": {**java(J44, kafka=["conformance:test_client_scenarios.test_java_client_observes_the_same"]),
                  "kip848": [J44 + "JavaConsumerProtocolTest.*"],
                  "share": [J44 + "JavaShareConsumerTest.*"]},
    },
    {
        "name": "Apache Kafka Java client",
        "version": "static:3.9.1",
        "tests": java(J39),
    },
    {
        "name": "Kafka Streams (word count, at-least-once and exactly_once_v2)",
        "version": "static:4.4.0 and 3.9.1",
        "tests": {**{k: [J44 + "StreamsWordCountTest.wordCountEndToEnd", J39 + "StreamsWordCountTest.wordCountEndToEnd"]
                     for k in ("produce", "records", "groups", "offsets", "admin")},
                  "transactions": [J44 + "StreamsWordCountTest.wordCountExactlyOnceV2",
                                   J39 + "StreamsWordCountTest.wordCountExactlyOnceV2",
                                   J44 + "StreamsCrashTest.countsAreExactAfterTheAppIsKilledMidRun",
                                   J39 + "StreamsCrashTest.countsAreExactAfterTheAppIsKilledMidRun"]},
    },
    {
        "name": "franz-go (kgo, kadm)",
        "version": "gomod:github.com/twmb/franz-go",
        "tests": {**{k: ["go:TestFranzGoProduceGroupAndAdmin"] for k in ("produce", "records", "idempotence", "groups", "offsets", "admin")},
                  "kafka": ["conformance:test_client_scenarios.test_franz_go_observes_the_same"],
                  "transactions": ["go:TestFranzGoTransactions"]},
    },
    {
        "name": "Sarama",
        "version": "gomod:github.com/IBM/sarama",
        "tests": {**{k: ["go:TestSaramaProduceGroupAndAdmin"] for k in ("produce", "records", "idempotence", "groups", "offsets", "admin")},
                  "transactions": ["go:TestSaramaTransactions"]},
    },
    {
        "name": "segmentio/kafka-go",
        "version": "gomod:github.com/segmentio/kafka-go",
        "tests": {k: ["go:TestSegmentioProduceGroupAndAdmin"] for k in ("produce", "records", "groups", "offsets", "admin")},
    },
    {
        "name": "confluent-kafka-go (librdkafka)",
        "version": "gomod:github.com/confluentinc/confluent-kafka-go/v2",
        "tests": {**{k: ["go:TestConfluentProduceConsume"] for k in ("produce", "records", "compression", "idempotence", "admin")},
                  "transactions": ["go:TestConfluentGoTransactions"]},
    },
    {
        "name": "kafkajs",
        "version": "npm:kafkajs",
        "tests": {
            "produce": ["node:idempotent producer and a consumer group read every record once"],
            "records": ["node:idempotent producer and a consumer group read every record once"],
            "idempotence": ["node:idempotent producer and a consumer group read every record once"],
            "groups": ["node:idempotent producer and a consumer group read every record once"],
            "offsets": ["node:idempotent producer and a consumer group read every record once"],
            "admin": ["node:admin creates, lists and deletes topics"],
            "transactions": ["node:transactions commit and abort, with offsets sent to the transaction"],
        },
    },
    {
        "name": "rdkafka (Rust, librdkafka)",
        "version": "cargo:rdkafka",
        "tests": {
            "produce": ["rdkafka:produce_and_consume_record_by_record"],
            "records": ["rdkafka:produce_and_consume_record_by_record", "rdkafka:offsets_by_time_and_watermarks"],
            "compression": ["rdkafka:produce_and_consume_record_by_record"],
            "idempotence": ["rdkafka:produce_and_consume_record_by_record"],
            "groups": ["rdkafka:consumer_group_splits_partitions_and_commits"],
            "offsets": ["rdkafka:consumer_group_splits_partitions_and_commits"],
            "transactions": ["rdkafka:transactions_commit_and_abort_for_read_committed_consumers"],
            "kip848": ["rdkafka:consumer_protocol_group_splits_partitions_and_commits"],
        },
    },
    {
        "name": "Raw protocol: every API at every advertised version (kafka-protocol crate)",
        "version": "cargo:kafka-protocol",
        "tests": {"kafka": ["conformance:test_raw_protocol.*"],
                  "kip848": ["conformance:test_raw_protocol.test_answers_match_kafka[ConsumerGroupHeartbeat]",
                             "conformance:test_raw_protocol.test_answers_match_kafka[ConsumerGroupDescribe]"]},
    },
]
