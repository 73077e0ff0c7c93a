package io.strikemq.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Produced;
import org.junit.jupiter.api.Test;

/**
 * Kafka Streams word count, at-least-once and exactly-once (v2, transactions): a repartition
 * through an internal topic, a changelog (compacted) internal topic created by Streams itself,
 * the consumer group of the application, and the final counts read back record by record.
 */
class StreamsWordCountTest {
    @Test
    void wordCountEndToEnd() throws Exception {
        wordCount(StreamsConfig.AT_LEAST_ONCE);
    }

    @Test
    void wordCountExactlyOnceV2() throws Exception {
        wordCount(StreamsConfig.EXACTLY_ONCE_V2);
    }

    private static void wordCount(String guarantee) throws Exception {
        try (StrikeMq broker = new StrikeMq()) {
            String suffix = UUID.randomUUID().toString().substring(0, 8);
            String input = "lines-" + suffix;
            String output = "counts-" + suffix;
            Properties admin = new Properties();
            admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
            try (Admin a = Admin.create(admin)) {
                a.createTopics(List.of(new NewTopic(input, 2, (short) 1), new NewTopic(output, 2, (short) 1)))
                        .all().get();
            }

            String[] lines = {
                "the quick brown fox", "jumps over the lazy dog", "the dog barks",
                "a fox and a dog", "quick quick quick",
            };
            Map<String, Long> expected = new HashMap<>();
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
                for (int round = 0; round < 4; round++) {
                    for (String line : lines) {
                        p.send(new ProducerRecord<>(input, null, line)).get();
                        for (String w : line.split(" ")) {
                            expected.merge(w, 1L, Long::sum);
                        }
                    }
                }
            }

            Properties sp = new Properties();
            sp.put(StreamsConfig.APPLICATION_ID_CONFIG, "wordcount-" + suffix);
            sp.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
            sp.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
            sp.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
            sp.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
            sp.put(StreamsConfig.STATE_DIR_CONFIG,
                    java.nio.file.Files.createTempDirectory("streams-state-").toString());
            sp.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
            StreamsBuilder b = new StreamsBuilder();
            b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
                    .flatMapValues(line -> Arrays.asList(line.split(" ")))
                    .groupBy((k, word) -> word, Grouped.with(Serdes.String(), Serdes.String()))
                    .count()
                    .toStream()
                    .to(output, Produced.with(Serdes.String(), Serdes.Long()));

            Map<String, Long> latest = new HashMap<>();
            try (KafkaStreams streams = new KafkaStreams(b.build(), sp)) {
                streams.start();
                Properties cp = new Properties();
                cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
                cp.put(ConsumerConfig.GROUP_ID_CONFIG, "reader-" + suffix);
                cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
                cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
                cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
                cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class.getName());
                try (KafkaConsumer<String, Long> c = new KafkaConsumer<>(cp)) {
                    c.subscribe(List.of(output));
                    long deadline = System.currentTimeMillis() + 90_000;
                    while (!latest.equals(expected) && System.currentTimeMillis() < deadline) {
                        for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(200))) {
                            // Counts only grow, one update at a time per word.
                            Long before = latest.get(r.key());
                            assertTrue(before == null || r.value() > before,
                                    r.key() + " went from " + before + " to " + r.value());
                            latest.put(r.key(), r.value());
                        }
                    }
                }
                assertEquals(KafkaStreams.State.RUNNING, streams.state());
            }
            assertEquals(expected, latest);

            // Streams created its internal topics through CreateTopics, the changelog compacted.
            try (Admin a = Admin.create(admin)) {
                String changelog = "wordcount-" + suffix + "-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog";
                assertTrue(a.listTopics().names().get().contains(changelog), "no changelog topic");
                String policy = a.describeConfigs(List.of(new org.apache.kafka.common.config.ConfigResource(
                                org.apache.kafka.common.config.ConfigResource.Type.TOPIC, changelog)))
                        .all().get().values().iterator().next().get("cleanup.policy").value();
                assertEquals("compact", policy);
            } catch (ExecutionException e) {
                throw new AssertionError(e.getCause());
            }
        }
    }
}
