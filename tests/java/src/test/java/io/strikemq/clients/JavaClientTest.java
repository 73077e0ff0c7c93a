package io.strikemq.clients;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class JavaClientTest {
    private static StrikeMq broker;

    @BeforeAll
    static void start() throws Exception {
        broker = new StrikeMq();
    }

    @AfterAll
    static void stop() throws Exception {
        broker.close();
    }

    private static String newTopic() {
        return "java-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static Admin admin() {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap()));
    }

    private static void create(String topic, int partitions) throws Exception {
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
        }
    }

    /** The Java 3+/4.x defaults: idempotent, acks=all. */
    private static KafkaProducer<byte[], byte[]> producer(Map<String, Object> extra) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.putAll(extra);
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    private static KafkaConsumer<byte[], byte[]> consumer() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    private static List<ConsumerRecord<byte[], byte[]>> readAll(String topic, Collection<Integer> partitions, int count) {
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            List<TopicPartition> tps = partitions.stream().map(p -> new TopicPartition(topic, p)).collect(Collectors.toList());
            c.assign(tps);
            c.seekToBeginning(tps);
            List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 60_000;
            while (out.size() < count && System.currentTimeMillis() < deadline) {
                c.poll(Duration.ofMillis(500)).forEach(out::add);
            }
            assertEquals(count, out.size(), "records read");
            return out;
        }
    }

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void idempotentProducerWithKeysHeadersNullsAndPartitions() throws Exception {
        String topic = newTopic();
        create(topic, 3);
        long ts0 = 1_700_000_000_000L;
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            for (int i = 0; i < 300; i++) {
                RecordHeaders headers = new RecordHeaders();
                headers.add("i", b(Integer.toString(i)));
                headers.add("dup", b("x"));
                headers.add("dup", b("y"));
                acks.add(p.send(new ProducerRecord<>(topic, i % 3, ts0 + i,
                        i % 7 == 0 ? null : b("k" + i), i % 11 == 0 ? null : b("v" + i), headers)));
            }
            p.flush();
        }
        for (int i = 0; i < 300; i++) {
            RecordMetadata md = acks.get(i).get();
            assertEquals(i % 3, md.partition());
            assertEquals(i / 3, md.offset());
        }
        List<ConsumerRecord<byte[], byte[]>> got = readAll(topic, List.of(0, 1, 2), 300);
        Map<Long, ConsumerRecord<byte[], byte[]>> byTs = got.stream().collect(Collectors.toMap(ConsumerRecord::timestamp, r -> r));
        for (int i = 0; i < 300; i++) {
            ConsumerRecord<byte[], byte[]> r = byTs.get(ts0 + i);
            assertEquals(i % 3, r.partition());
            assertEquals(i / 3, r.offset());
            if (i % 7 == 0) assertNull(r.key()); else assertArrayEquals(b("k" + i), r.key());
            if (i % 11 == 0) assertNull(r.value()); else assertArrayEquals(b("v" + i), r.value());
            assertArrayEquals(b(Integer.toString(i)), r.headers().lastHeader("i").value());
            List<String> dups = new ArrayList<>();
            r.headers().headers("dup").forEach(h -> dups.add(new String(h.value(), StandardCharsets.UTF_8)));
            assertEquals(List.of("x", "y"), dups);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gzip", "snappy", "lz4", "zstd"})
    void compressedBatches(String codec) throws Exception {
        String topic = newTopic();
        create(topic, 1);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, 10))) {
            for (int i = 0; i < 2000; i++) {
                p.send(new ProducerRecord<>(topic, b("value-" + i + "-" + codec)));
            }
            p.flush();
        }
        List<ConsumerRecord<byte[], byte[]>> got = readAll(topic, List.of(0), 2000);
        for (int i = 0; i < 2000; i++) {
            assertEquals(i, got.get(i).offset());
            assertArrayEquals(b("value-" + i + "-" + codec), got.get(i).value());
        }
    }

    @Test
    void seekByOffsetAndTimestamp() throws Exception {
        String topic = newTopic();
        create(topic, 1);
        long ts0 = 1_600_000_000_000L;
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            for (int i = 0; i < 100; i++) {
                p.send(new ProducerRecord<>(topic, 0, ts0 + i * 1000L, null, b("m" + i)));
            }
            p.flush();
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<byte[], byte[]> c = consumer()) {
            assertEquals(Map.of(tp, 0L), c.beginningOffsets(List.of(tp)));
            assertEquals(Map.of(tp, 100L), c.endOffsets(List.of(tp)));
            Map<TopicPartition, OffsetAndTimestamp> found = c.offsetsForTimes(Map.of(tp, ts0 + 41_500L));
            assertEquals(42L, found.get(tp).offset());
            assertEquals(ts0 + 42_000L, found.get(tp).timestamp());
            c.assign(List.of(tp));
            c.seek(tp, 95);
            List<String> values = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 30_000;
            while (values.size() < 5 && System.currentTimeMillis() < deadline) {
                c.poll(Duration.ofMillis(500)).forEach(r -> values.add(new String(r.value(), StandardCharsets.UTF_8)));
            }
            assertEquals(List.of("m95", "m96", "m97", "m98", "m99"), values);
        }
    }

    @Test
    void adminCreateDescribeDelete() throws Exception {
        String topic = newTopic();
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(topic, 4, (short) 1))).all().get();
            Set<String> names = admin.listTopics().names().get();
            assertTrue(names.contains(topic));
            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            assertEquals(4, d.partitions().size());
            assertEquals(0, d.partitions().get(0).leader().id());
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get());
            assertInstanceOf(TopicExistsException.class, e.getCause());
            admin.deleteTopics(List.of(topic)).all().get();
            assertFalse(admin.listTopics().names().get().contains(topic));
            e = assertThrows(ExecutionException.class, () -> admin.deleteTopics(List.of(topic)).all().get());
            assertInstanceOf(UnknownTopicOrPartitionException.class, e.getCause());
        }
    }

    /** The admin client pages through DescribeTopicPartitions (KIP-966) when a response may hold
     *  fewer partitions than the topics have: every partition comes back, once, in order. */
    @Test
    void describeTopicsPagesThroughPartitions() throws Exception {
        String a = newTopic();
        String b = newTopic();
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(a, 5, (short) 1), new NewTopic(b, 3, (short) 1))).all().get();
            var options = new org.apache.kafka.clients.admin.DescribeTopicsOptions().partitionSizeLimitPerResponse(2);
            Map<String, TopicDescription> d = admin.describeTopics(List.of(a, b), options).allTopicNames().get();
            assertEquals(List.of(0, 1, 2, 3, 4),
                    d.get(a).partitions().stream().map(p -> p.partition()).toList());
            assertEquals(List.of(0, 1, 2),
                    d.get(b).partitions().stream().map(p -> p.partition()).toList());
            assertEquals(0, d.get(b).partitions().get(2).leader().id());
        }
    }

    @Test
    void adminPartitionsRecordsAndCluster() throws Exception {
        String topic = newTopic();
        create(topic, 1);
        try (Admin admin = admin()) {
            admin.createPartitions(Map.of(topic, org.apache.kafka.clients.admin.NewPartitions.increaseTo(3))).all().get();
            assertEquals(3, admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size());
            try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
                for (int i = 0; i < 10; i++) {
                    p.send(new ProducerRecord<>(topic, 2, null, b("v" + i)));
                }
                p.flush();
            }
            TopicPartition tp = new TopicPartition(topic, 2);
            long low = admin.deleteRecords(Map.of(tp, org.apache.kafka.clients.admin.RecordsToDelete.beforeOffset(6)))
                    .lowWatermarks().get(tp).get().lowWatermark();
            assertEquals(6L, low);
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                assertEquals(Map.of(tp, 6L), c.beginningOffsets(List.of(tp)));
            }
            var cluster = admin.describeCluster();
            assertEquals(1, cluster.nodes().get().size());
            assertEquals(0, cluster.controller().get().id());
            assertEquals(22, cluster.clusterId().get().length());
        }
    }

    @Test
    void topicConfigsDescribeAndAlter() throws Exception {
        String topic = newTopic();
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1).configs(Map.of("retention.ms", "60000")))).all().get();
            var resource = new org.apache.kafka.common.config.ConfigResource(org.apache.kafka.common.config.ConfigResource.Type.TOPIC, topic);
            var config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
            assertEquals("60000", config.get("retention.ms").value());
            assertEquals(org.apache.kafka.clients.admin.ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, config.get("retention.ms").source());
            assertTrue(config.get("segment.bytes").isDefault());
            admin.incrementalAlterConfigs(Map.of(resource, List.of(
                    new org.apache.kafka.clients.admin.AlterConfigOp(new org.apache.kafka.clients.admin.ConfigEntry("retention.ms", "120000"),
                            org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET)))).all().get();
            assertEquals("120000", admin.describeConfigs(List.of(resource)).all().get().get(resource).get("retention.ms").value());
            ExecutionException e = assertThrows(ExecutionException.class, () -> admin.incrementalAlterConfigs(Map.of(resource, List.of(
                    new org.apache.kafka.clients.admin.AlterConfigOp(new org.apache.kafka.clients.admin.ConfigEntry("cleanup.policy", "sometimes"),
                            org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET)))).all().get());
            assertInstanceOf(org.apache.kafka.common.errors.InvalidConfigurationException.class, e.getCause());
        }
    }

    @Test
    void logDirsAndProducers() throws Exception {
        String topic = newTopic();
        create(topic, 1);
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of())) {
            p.send(new ProducerRecord<>(topic, b("idempotent by default"))).get();
        }
        try (Admin admin = admin()) {
            TopicPartition tp = new TopicPartition(topic, 0);
            var dirs = admin.describeLogDirs(List.of(0)).allDescriptions().get().get(0);
            assertEquals(1, dirs.size());
            var replica = dirs.values().iterator().next().replicaInfos().get(tp);
            assertTrue(replica.size() > 0);
            var producers = admin.describeProducers(List.of(tp)).all().get().get(tp).activeProducers();
            assertEquals(1, producers.size());
            assertEquals(0, producers.get(0).lastSequence());
        }
    }

    @Test
    void manyMessagesInOrder() throws Exception {
        String topic = newTopic();
        create(topic, 1);
        int n = 50_000;
        try (KafkaProducer<byte[], byte[]> p = producer(Map.of(ProducerConfig.LINGER_MS_CONFIG, 5))) {
            IntStream.range(0, n).forEach(i -> p.send(new ProducerRecord<>(topic, b(String.format("%08d", i)))));
            p.flush();
        }
        List<ConsumerRecord<byte[], byte[]>> got = readAll(topic, List.of(0), n);
        for (int i = 0; i < n; i++) {
            assertEquals(i, got.get(i).offset());
            assertArrayEquals(b(String.format("%08d", i)), got.get(i).value());
        }
    }
}
