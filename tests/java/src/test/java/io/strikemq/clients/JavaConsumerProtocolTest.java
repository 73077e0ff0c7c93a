package io.strikemq.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Consumer groups with the KIP-848 protocol ({@code group.protocol=consumer}): the broker assigns
 * the partitions. Run with the 4.x clients (3.9's implementation of the protocol is a preview).
 */
class JavaConsumerProtocolTest {
    private static StrikeMq broker;

    @BeforeAll
    static void start() throws Exception {
        broker = new StrikeMq();
    }

    @AfterAll
    static void stop() throws Exception {
        broker.close();
    }

    @BeforeEach
    void needsKafka4Clients() {
        String version = System.getProperty("kafka.version", "");
        assumeTrue(!version.startsWith("3."), "KIP-848 consumers are GA from 4.0");
    }

    private static KafkaConsumer<String, String> member(String group, String name) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    private static void produce(String topic, int partitions, int from, int to) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = from; i < to; i++) {
                producer.send(new ProducerRecord<>(topic, i % partitions, null, "m" + i));
            }
            producer.flush();
        }
    }

    /** Polls every member (committing what it read) until {@code done} holds or 60 s pass. */
    private static void pollUntil(List<KafkaConsumer<String, String>> members, Map<String, Integer> seen,
            java.util.function.BooleanSupplier done) {
        long end = System.currentTimeMillis() + 60_000;
        while (!done.getAsBoolean() && System.currentTimeMillis() < end) {
            for (KafkaConsumer<String, String> c : members) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    seen.merge(r.value(), 1, Integer::sum);
                }
                c.commitSync();
            }
        }
    }

    private static boolean disjointAndComplete(List<KafkaConsumer<String, String>> members, int partitions) {
        Set<TopicPartition> all = new HashSet<>();
        int total = 0;
        for (KafkaConsumer<String, String> c : members) {
            if (c.assignment().isEmpty()) {
                return false;
            }
            total += c.assignment().size();
            all.addAll(c.assignment());
        }
        return total == partitions && all.size() == partitions;
    }

    @Test
    void membersJoinLeaveAndPartitionsGrowWithoutARestart() throws Exception {
        String topic = "kip848-" + UUID.randomUUID().toString().substring(0, 8);
        String group = "group-" + topic;
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrap()))) {
            admin.createTopics(List.of(new NewTopic(topic, 6, (short) 1))).all().get();
            produce(topic, 6, 0, 60);
            Map<String, Integer> seen = new HashMap<>();
            List<KafkaConsumer<String, String>> members = new ArrayList<>();
            members.add(member(group, "m1"));
            members.add(member(group, "m2"));
            members.forEach(c -> c.subscribe(List.of(topic)));
            pollUntil(members, seen, () -> seen.size() == 60 && disjointAndComplete(members, 6));
            assertEquals(60, seen.size());
            assertTrue(disjointAndComplete(members, 6), "two members split six partitions");

            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            assertEquals(GroupType.CONSUMER, d.type());
            assertEquals(2, d.members().size());
            assertEquals("uniform", d.partitionAssignor());

            // A third member: every member ends with two partitions, none held twice.
            members.add(member(group, "m3"));
            members.get(2).subscribe(List.of(topic));
            pollUntil(members, seen, () -> disjointAndComplete(members, 6)
                    && members.stream().allMatch(c -> c.assignment().size() == 2));
            members.forEach(c -> assertEquals(2, c.assignment().size()));

            // One leaves: the other two take its partitions.
            members.remove(0).close();
            pollUntil(members, seen, () -> disjointAndComplete(members, 6));
            assertTrue(disjointAndComplete(members, 6));

            // Partitions added to the subscribed topic are picked up, their records read once.
            admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(8))).all().get();
            produce(topic, 8, 60, 100);
            pollUntil(members, seen, () -> seen.size() == 100 && disjointAndComplete(members, 8));
            assertTrue(disjointAndComplete(members, 8), "the new partitions are assigned");
            assertEquals(100, seen.size());
            assertTrue(seen.values().stream().allMatch(n -> n == 1), "each record read once");

            Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            long sum = committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
            assertEquals(100, sum, "every record committed");
            members.forEach(KafkaConsumer::close);
        }
    }

    /** A broker-side regex (KIP-848's SubscriptionPattern) is re-evaluated as topics come. */
    @Test
    void aPatternSubscriptionPicksUpANewTopic() throws Exception {
        String prefix = "kip848re-" + UUID.randomUUID().toString().substring(0, 8);
        String group = "group-" + prefix;
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrap()))) {
            admin.createTopics(List.of(new NewTopic(prefix + "-a", 2, (short) 1))).all().get();
            try (KafkaConsumer<String, String> c = member(group, "re")) {
                c.subscribe(new SubscriptionPattern(prefix + "-.*"));
                Map<String, Integer> seen = new HashMap<>();
                pollUntil(List.of(c), seen, () -> c.assignment().size() == 2);
                assertEquals(2, c.assignment().size());
                admin.createTopics(List.of(new NewTopic(prefix + "-b", 1, (short) 1))).all().get();
                produce(prefix + "-b", 1, 0, 5);
                pollUntil(List.of(c), seen, () -> seen.size() == 5);
                assertEquals(3, c.assignment().size());
                assertEquals(5, seen.size());
            }
        }
    }
}
