package io.strikemq.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Transactions with the Java client: commits and aborts as read_committed and read_uncommitted
 * consumers see them, a consume-transform-produce loop with sendOffsetsToTransaction, a fenced
 * zombie, and the Admin client's view of transactions.
 */
class JavaTransactionTest {
    private static StrikeMq broker;

    @BeforeAll
    static void start() throws Exception {
        broker = new StrikeMq();
    }

    @AfterAll
    static void stop() throws Exception {
        broker.close();
    }

    private static String name(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static void createTopics(String... names) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        try (Admin a = Admin.create(p)) {
            List<NewTopic> topics = new ArrayList<>();
            for (String n : names) {
                topics.add(new NewTopic(n, 1, (short) 1));
            }
            a.createTopics(topics).all().get();
        }
    }

    private static KafkaProducer<String, String> producer(String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        KafkaProducer<String, String> producer = new KafkaProducer<>(p);
        producer.initTransactions();
        return producer;
    }

    private static KafkaConsumer<String, String> consumer(String group, String isolation) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    /** The values of partition 0 up to its end as the isolation level sees it. */
    private static List<String> readAll(String topic, String isolation) {
        TopicPartition tp = new TopicPartition(topic, 0);
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer(name("reader"), isolation)) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp);
            long deadline = System.currentTimeMillis() + 30_000;
            while (c.position(tp) < end && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    out.add(r.value());
                }
            }
            assertTrue(c.position(tp) >= end, "did not reach the end of " + topic);
        }
        return out;
    }

    @Test
    void commitsAreReadAndAbortsAreNot() throws Exception {
        String topic = name("tx");
        createTopics(topic);
        try (KafkaProducer<String, String> p = producer(name("tid"))) {
            p.beginTransaction();
            for (int i = 0; i < 5; i++) {
                p.send(new ProducerRecord<>(topic, "c" + i));
            }
            p.commitTransaction();
            p.beginTransaction();
            for (int i = 0; i < 3; i++) {
                p.send(new ProducerRecord<>(topic, "a" + i));
            }
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "last"));
            p.commitTransaction();
        }
        assertEquals(List.of("c0", "c1", "c2", "c3", "c4", "last"), readAll(topic, "read_committed"));
        assertEquals(List.of("c0", "c1", "c2", "c3", "c4", "a0", "a1", "a2", "last"),
                readAll(topic, "read_uncommitted"));
    }

    @Test
    void consumeTransformProduceCommitsOffsetsWithTheOutput() throws Exception {
        String input = name("in");
        String output = name("out");
        String group = name("ctp");
        createTopics(input, output);
        try (KafkaProducer<String, String> plain = producer(name("feeder"))) {
            plain.beginTransaction();
            for (int i = 0; i < 10; i++) {
                plain.send(new ProducerRecord<>(input, Integer.toString(i)));
            }
            plain.commitTransaction();
        }
        try (KafkaConsumer<String, String> c = consumer(group, "read_committed");
                KafkaProducer<String, String> p = producer(name("ctp-tid"))) {
            c.subscribe(List.of(input));
            List<ConsumerRecord<String, String>> batch = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 30_000;
            while (batch.size() < 10 && System.currentTimeMillis() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(batch::add);
            }
            assertEquals(10, batch.size());
            // The first attempt aborts: neither its output nor its offsets count.
            for (boolean abort : new boolean[] {true, false}) {
                p.beginTransaction();
                for (ConsumerRecord<String, String> r : batch) {
                    p.send(new ProducerRecord<>(output, "x" + r.value()));
                }
                p.sendOffsetsToTransaction(
                        Map.of(new TopicPartition(input, 0), new OffsetAndMetadata(10)), c.groupMetadata());
                if (abort) {
                    p.abortTransaction();
                } else {
                    p.commitTransaction();
                }
            }
            Map<TopicPartition, OffsetAndMetadata> committed =
                    c.committed(java.util.Set.of(new TopicPartition(input, 0)));
            assertEquals(10, committed.get(new TopicPartition(input, 0)).offset());
        }
        List<String> out = readAll(output, "read_committed");
        assertEquals(10, out.size(), out.toString());
        assertEquals("x0", out.get(0));
    }

    @Test
    void aSecondProducerFencesTheFirst() throws Exception {
        String topic = name("zombie");
        String tid = name("zombie-tid");
        createTopics(topic);
        try (KafkaProducer<String, String> zombie = producer(tid)) {
            zombie.beginTransaction();
            zombie.send(new ProducerRecord<>(topic, "zombie")).get();
            try (KafkaProducer<String, String> fresh = producer(tid)) {
                fresh.beginTransaction();
                fresh.send(new ProducerRecord<>(topic, "fresh"));
                fresh.commitTransaction();
            }
            KafkaException e = assertThrows(KafkaException.class, zombie::commitTransaction);
            Throwable cause = e instanceof ProducerFencedException || e instanceof InvalidProducerEpochException
                    ? e : e.getCause();
            assertTrue(cause instanceof ProducerFencedException || cause instanceof InvalidProducerEpochException,
                    "not fenced: " + e);
        }
        assertEquals(List.of("fresh"), readAll(topic, "read_committed"));
    }

    @Test
    void adminDescribesAndListsTransactions() throws Exception {
        String topic = name("admin-tx");
        String tid = name("admin-tid");
        createTopics(topic);
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        try (KafkaProducer<String, String> p = producer(tid); Admin a = Admin.create(ap)) {
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "open")).get();
            TransactionDescription open = a.describeTransactions(List.of(tid)).description(tid).get();
            assertEquals(TransactionState.ONGOING, open.state());
            assertEquals(List.of(new TopicPartition(topic, 0)), new ArrayList<>(open.topicPartitions()));
            Collection<TransactionListing> listed = a.listTransactions().all().get();
            assertTrue(listed.stream().anyMatch(l -> l.transactionalId().equals(tid)
                    && l.state() == TransactionState.ONGOING), listed.toString());
            p.commitTransaction();
            assertEquals(TransactionState.COMPLETE_COMMIT,
                    a.describeTransactions(List.of(tid)).description(tid).get().state());
        }
    }
}
