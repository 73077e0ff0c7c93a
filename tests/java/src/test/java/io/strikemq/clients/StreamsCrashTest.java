package io.strikemq.clients;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
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
 * Exactly-once Kafka Streams across a crash: a word count with {@code exactly_once_v2} runs in a
 * child JVM that is killed (SIGKILL) in the middle of its input, then started again with the
 * same application id and state directory. The final counts read with read_committed are exact:
 * nothing counted twice, nothing lost.
 */
class StreamsCrashTest {
    /** The Streams application, run in its own JVM: {@code main(bootstrap, app id, input, output, state dir)}. */
    public static void main(String[] args) throws Exception {
        Properties sp = new Properties();
        sp.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        sp.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
        sp.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        sp.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 50);
        sp.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        sp.put(StreamsConfig.STATE_DIR_CONFIG, args[4]);
        sp.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        // Small fetches: the input is worked through in many transactions, so the kill lands in
        // the middle of it.
        sp.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 20);
        // The killed instance leaves the group at its session timeout: the broker's minimum,
        // not Streams' 45 s.
        sp.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
        sp.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);
        StreamsBuilder b = new StreamsBuilder();
        b.stream(args[2], Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(line -> Arrays.asList(line.split(" ")))
                .groupBy((k, word) -> word, Grouped.with(Serdes.String(), Serdes.String()))
                .count()
                .toStream()
                .to(args[3], Produced.with(Serdes.String(), Serdes.Long()));
        KafkaStreams streams = new KafkaStreams(b.build(), sp);
        streams.start();
        Thread.sleep(Long.MAX_VALUE);
    }

    private static Process app(String... args) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(List.of(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                StreamsCrashTest.class.getName(), args[0], args[1], args[2], args[3], args[4]));
        pb.redirectErrorStream(true);
        pb.redirectOutput(new File(args[4], "app.log"));
        return pb.start();
    }

    /** The latest count of every word in the output, read with read_committed. */
    private static Map<String, Long> counts(String bootstrap, String output, Map<String, Long> expected, long waitMs) {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, "reader-" + UUID.randomUUID());
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class.getName());
        Map<String, Long> latest = new HashMap<>();
        try (KafkaConsumer<String, Long> c = new KafkaConsumer<>(cp)) {
            c.subscribe(List.of(output));
            long deadline = System.currentTimeMillis() + waitMs;
            while (!latest.equals(expected) && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, Long> r : c.poll(Duration.ofMillis(200))) {
                    latest.put(r.key(), r.value());
                }
            }
        }
        return latest;
    }

    @Test
    void countsAreExactAfterTheAppIsKilledMidRun() throws Exception {
        try (StrikeMq broker = new StrikeMq()) {
            String suffix = UUID.randomUUID().toString().substring(0, 8);
            String input = "crash-lines-" + suffix;
            String output = "crash-counts-" + suffix;
            String appId = "crash-wordcount-" + suffix;
            Properties admin = new Properties();
            admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
            try (Admin a = Admin.create(admin)) {
                a.createTopics(List.of(new NewTopic(input, 2, (short) 1), new NewTopic(output, 2, (short) 1)))
                        .all().get();
            }
            Map<String, Long> expected = new HashMap<>();
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
                for (int i = 0; i < 20_000; i++) {
                    String line = "w" + (i % 13) + " w" + (i % 7) + " common";
                    p.send(new ProducerRecord<>(input, null, line));
                    for (String w : line.split(" ")) {
                        expected.merge(w, 1L, Long::sum);
                    }
                }
            }
            Path state = Files.createTempDirectory("streams-crash-");
            String[] args = {broker.bootstrap(), appId, input, output, state.toString()};
            Process first = app(args);
            // Kill it once some of the input is counted, well before all of it is.
            Map<String, Long> partial = counts(broker.bootstrap(), output, Map.of("common", -1L), 0);
            long deadline = System.currentTimeMillis() + 60_000;
            while (partial.getOrDefault("common", 0L) < 400 && System.currentTimeMillis() < deadline) {
                partial = counts(broker.bootstrap(), output, Map.of("common", -1L), 300);
            }
            first.destroyForcibly();
            first.waitFor(10, TimeUnit.SECONDS);
            long countedBefore = partial.getOrDefault("common", 0L);
            assertTrue(countedBefore < expected.get("common"), "the app finished before it was killed");
            Process second = app(args);
            try {
                Map<String, Long> done = counts(broker.bootstrap(), output, expected, 120_000);
                assertEquals(expected, done, "counts after the crash (common was at " + countedBefore + ")");
            } finally {
                second.destroyForcibly();
                second.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
