package io.strikemq.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Consumer groups with the Java client's classic protocol. */
class JavaGroupTest {
    private static StrikeMq broker;

    @BeforeAll
    static void start() throws Exception {
        broker = new StrikeMq();
    }

    @AfterAll
    static void stop() throws Exception {
        broker.close();
    }

    private static KafkaConsumer<String, String> member(String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    private static void produce(String topic, int from, int to) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = from; i < to; i++) {
                producer.send(new ProducerRecord<>(topic, i % 6, null, "m" + i));
            }
            producer.flush();
        }
    }

    @Test
    void membersSplitPartitionsCommitAndResume() throws Exception {
        String topic = "jg-" + UUID.randomUUID().toString().substring(0, 8);
        String group = "group-" + topic;
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrap()))) {
            admin.createTopics(List.of(new NewTopic(topic, 6, (short) 1))).all().get();
        }
        Set<String> seen = new HashSet<>();
        List<KafkaConsumer<String, String>> members = List.of(member(group), member(group));
        members.forEach(c -> c.subscribe(List.of(topic)));
        // Let the group settle first: records read before a rebalance and not committed are read
        // again by the partition's next owner, on Kafka as here.
        long deadline = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < deadline && members.stream().anyMatch(c -> c.assignment().size() != 3)) {
            for (KafkaConsumer<String, String> c : members) {
                assertTrue(c.poll(Duration.ofMillis(100)).isEmpty());
            }
        }
        produce(topic, 0, 600);
        while (System.currentTimeMillis() < deadline && seen.size() < 600) {
            for (KafkaConsumer<String, String> c : members) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    assertTrue(seen.add(r.value()), "delivered twice: " + r.value());
                }
            }
        }
        assertEquals(600, seen.size());
        Set<Integer> all = new TreeSet<>();
        for (KafkaConsumer<String, String> c : members) {
            assertEquals(3, c.assignment().size());
            c.assignment().forEach(tp -> assertTrue(all.add(tp.partition()), "partition owned twice"));
        }
        assertEquals(Set.of(0, 1, 2, 3, 4, 5), all);

        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrap()))) {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            assertEquals(2, d.members().size());
            assertEquals("range", d.partitionAssignor());
        }

        for (KafkaConsumer<String, String> c : members) {
            c.commitSync();
            c.close();
        }
        produce(topic, 600, 660);
        try (KafkaConsumer<String, String> again = member(group)) {
            Set<TopicPartition> tps = new HashSet<>();
            for (int p = 0; p < 6; p++) tps.add(new TopicPartition(topic, p));
            Map<TopicPartition, OffsetAndMetadata> committed = again.committed(tps);
            committed.values().forEach(o -> assertEquals(100L, o.offset()));
            again.subscribe(List.of(topic));
            List<String> fresh = new ArrayList<>();
            deadline = System.currentTimeMillis() + 30_000;
            while (fresh.size() < 60 && System.currentTimeMillis() < deadline) {
                again.poll(Duration.ofMillis(200)).forEach(r -> fresh.add(r.value()));
            }
            Set<String> expected = new HashSet<>();
            for (int i = 600; i < 660; i++) expected.add("m" + i);
            assertEquals(expected, new HashSet<>(fresh), "resumed exactly after the committed offsets");
            assertEquals(60, fresh.size());
        }
    }
}
