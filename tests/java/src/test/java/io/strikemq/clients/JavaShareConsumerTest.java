package io.strikemq.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.admin.ShareMemberDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Share groups (KIP-932) with {@code KafkaShareConsumer}: members sharing one partition, implicit
 * and explicit acknowledgement, released records delivered again with a higher delivery count, a
 * closed member's records going to another, and records past the delivery limit archived.
 */
class JavaShareConsumerTest {
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
        assumeTrue(!version.startsWith("3."), "KafkaShareConsumer speaks the 4.x share protocol");
    }

    private static String topic(Admin admin, int partitions) throws Exception {
        String topic = "share-" + UUID.randomUUID().toString().substring(0, 8);
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
        return topic;
    }

    /** Sets group configs (resource type GROUP), as a service would before its consumers start. */
    private static void groupConfigs(Admin admin, String group, Map<String, String> configs) throws Exception {
        List<AlterConfigOp> ops = new ArrayList<>();
        configs.forEach((k, v) -> ops.add(new AlterConfigOp(new ConfigEntry(k, v), AlterConfigOp.OpType.SET)));
        admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.GROUP, group), ops))
                .all().get();
    }

    private static KafkaShareConsumer<String, String> member(String group, String name, boolean explicit) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "10");
        p.put("share.acknowledgement.mode", explicit ? "explicit" : "implicit");
        return new KafkaShareConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    private static void produce(String topic, int count) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, 0, null, "m" + i));
            }
            producer.flush();
        }
    }

    @Test
    void twoMembersShareOnePartitionAndEachRecordIsDeliveredOnce() throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrap()))) {
            String topic = topic(admin, 1);
            String group = "g-" + topic;
            groupConfigs(admin, group, Map.of("share.auto.offset.reset", "earliest"));
            produce(topic, 200);
            Map<String, Integer> seen = new HashMap<>();
            Map<String, Integer> perMember = new HashMap<>();
            try (KafkaShareConsumer<String, String> a = member(group, "a", false);
                    KafkaShareConsumer<String, String> b = member(group, "b", false)) {
                a.subscribe(List.of(topic));
                b.subscribe(List.of(topic));
                long end = System.currentTimeMillis() + 60_000;
                while (seen.size() < 200 && System.currentTimeMillis() < end) {
                    for (var c : List.of(a, b)) {
                        String name = c == a ? "a" : "b";
                        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                            seen.merge(r.value(), 1, Integer::sum);
                            perMember.merge(name, 1, Integer::sum);
                            assertEquals(1, (int) r.deliveryCount().orElse((short) 0));
                        }
                    }
                }
                assertEquals(200, seen.size(), "every record delivered");
                assertTrue(seen.values().stream().allMatch(n -> n == 1), "no record delivered twice");

                ShareGroupDescription d = admin.describeShareGroups(List.of(group)).all().get().get(group);
                assertEquals(2, d.members().size());
                for (ShareMemberDescription m : d.members()) {
                    assertEquals(List.of(new TopicPartition(topic, 0)),
                            new ArrayList<>(m.assignment().topicPartitions()),
                            "both members are assigned the one partition");
                }
            }
        }
    }

    @Test
    void releasedRecordsComeBackRejectedOnesDoNotAndTheLimitArchives() throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrap()))) {
            String topic = topic(admin, 1);
            String group = "g-" + topic;
            groupConfigs(admin, group, Map.of(
                    "share.auto.offset.reset", "earliest",
                    "share.delivery.count.limit", "3"));
            produce(topic, 10);
            Map<String, List<Integer>> deliveries = new HashMap<>();
            try (KafkaShareConsumer<String, String> c = member(group, "explicit", true)) {
                c.subscribe(List.of(topic));
                long end = System.currentTimeMillis() + 60_000;
                // m0 is always released, m1 rejected, the others accepted.
                while (System.currentTimeMillis() < end
                        && !(deliveries.getOrDefault("m0", List.of()).size() == 3 && deliveries.size() == 10)) {
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                        deliveries.computeIfAbsent(r.value(), k -> new ArrayList<>())
                                .add((int) r.deliveryCount().orElse((short) 0));
                        AcknowledgeType t = switch (r.value()) {
                            case "m0" -> AcknowledgeType.RELEASE;
                            case "m1" -> AcknowledgeType.REJECT;
                            default -> AcknowledgeType.ACCEPT;
                        };
                        c.acknowledge(r, t);
                    }
                    c.commitSync();
                }
                // Poll a while longer: nothing may come back.
                long quiet = System.currentTimeMillis() + 2_000;
                while (System.currentTimeMillis() < quiet) {
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                        deliveries.computeIfAbsent(r.value(), k -> new ArrayList<>())
                                .add((int) r.deliveryCount().orElse((short) 0));
                        c.acknowledge(r, AcknowledgeType.ACCEPT);
                    }
                    c.commitSync();
                }
            }
            assertEquals(List.of(1, 2, 3), deliveries.get("m0"),
                    "a released record comes back with a higher count until the limit (3) archives it");
            assertEquals(List.of(1), deliveries.get("m1"), "a rejected record is not delivered again");
            for (int i = 2; i < 10; i++) {
                assertEquals(List.of(1), deliveries.get("m" + i), "accepted m" + i + " once");
            }
        }
    }

    @Test
    void aClosedMembersUnacknowledgedRecordsGoToAnotherMember() throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrap()))) {
            String topic = topic(admin, 1);
            String group = "g-" + topic;
            groupConfigs(admin, group, Map.of("share.auto.offset.reset", "earliest"));
            produce(topic, 5);
            List<String> first = new ArrayList<>();
            try (KafkaShareConsumer<String, String> a = member(group, "a", true)) {
                a.subscribe(List.of(topic));
                long end = System.currentTimeMillis() + 30_000;
                while (first.isEmpty() && System.currentTimeMillis() < end) {
                    for (ConsumerRecord<String, String> r : a.poll(Duration.ofMillis(200))) {
                        first.add(r.value());
                    }
                }
                // a goes away without acknowledging what it holds.
            }
            assertFalse(first.isEmpty(), "the first member got records");
            Map<String, Integer> again = new HashMap<>();
            try (KafkaShareConsumer<String, String> b = member(group, "b", false)) {
                b.subscribe(List.of(topic));
                long end = System.currentTimeMillis() + 30_000;
                while (again.size() < 5 && System.currentTimeMillis() < end) {
                    for (ConsumerRecord<String, String> r : b.poll(Duration.ofMillis(200))) {
                        again.put(r.value(), (int) r.deliveryCount().orElse((short) 0));
                    }
                }
            }
            assertEquals(5, again.size(), "the second member gets every record");
            for (String v : first) {
                assertEquals(2, (int) again.get(v), v + " is delivered a second time");
            }
        }
    }
}
