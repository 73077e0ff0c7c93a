// One client-level scenario with the Apache Kafka Java client (Admin, Producer, Consumer), run by
// test_client_scenarios.py against Apache Kafka and against StrikeMQ. It prints what the
// application observes as JSON (step -> outcome); the test compares both runs step by step.
//
//   java -cp <kafka classpath>:<dir> JavaScenario <bootstrap> <prefix>

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class JavaScenario {
    static final Map<String, Object> out = new LinkedHashMap<>();
    static String bootstrap;
    static String prefix;
    /** Record timestamps are t0 + i and reported as offsets from t0: recent, so that no retention
     * check deletes them, and the same in both runs. */
    static final long t0 = System.currentTimeMillis() - 60_000;

    interface Step { Object run() throws Exception; }

    /** Runs a step and records its value, or the class of the exception it failed with. */
    static Object step(String name, Step s) {
        Object v;
        try {
            v = s.run();
        } catch (ExecutionException e) {
            v = "error: " + e.getCause().getClass().getSimpleName();
        } catch (Exception e) {
            v = "error: " + e.getClass().getSimpleName();
        }
        out.put(name, v);
        return v;
    }

    static Properties props(Object... kv) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return p;
    }

    static KafkaConsumer<String, String> consumer(Object... kv) {
        Properties p = props(kv);
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    static List<Object> describe(ConsumerRecord<String, String> r) {
        List<String> headers = new ArrayList<>();
        for (Header h : r.headers()) headers.add(h.key() + "=" + (h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8)));
        return List.of(r.partition(), r.offset(), String.valueOf(r.key()), String.valueOf(r.value()), headers, r.timestamp() - t0, r.timestampType().toString());
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        prefix = args[1];
        String topic = prefix + "-java";
        String group = prefix + "-java-group";
        try (Admin admin = Admin.create(props())) {
            step("create topic with configs", () -> {
                admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
                        .configs(Map.of("retention.ms", "3600000", "max.message.bytes", "50000")))).all().get();
                return "ok";
            });
            step("create it again", () -> { admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get(); return "ok"; });
            step("create with replication factor 3", () -> { admin.createTopics(List.of(new NewTopic(topic + "-rf", 1, (short) 3))).all().get(); return "ok"; });
            step("create with an invalid config", () -> {
                admin.createTopics(List.of(new NewTopic(topic + "-bad", 1, (short) 1).configs(Map.of("cleanup.policy", "sometimes")))).all().get();
                return "ok";
            });
            step("create with an invalid name", () -> { admin.createTopics(List.of(new NewTopic("bad/" + topic, 1, (short) 1))).all().get(); return "ok"; });
            waitForLeaders(admin, topic, 3);
            step("describe topic", () -> {
                TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                return Map.of("partitions", d.partitions().stream().map(p -> List.of(p.partition(), p.replicas().size(), p.isr().size(), p.leader() != null)).collect(Collectors.toList()),
                        "internal", d.isInternal(), "has id", !d.topicId().equals(Uuid.ZERO_UUID));
            });
            step("describe configs", () -> {
                ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
                Config c = admin.describeConfigs(List.of(r)).all().get().get(r);
                Map<String, Object> m = new TreeMap<>();
                for (ConfigEntry e : c.entries()) m.put(e.name(), List.of(String.valueOf(e.value()), e.source().toString(), e.isReadOnly(), e.isSensitive(), e.type().toString()));
                return m;
            });
            step("describe an unknown topic", () -> admin.describeTopics(List.of(topic + "-none")).allTopicNames().get().size());
            step("list topics includes it", () -> admin.listTopics().names().get().contains(topic));

            for (String acks : List.of("0", "1", "all")) {
                Properties p = props("acks", acks, "enable.idempotence", acks.equals("all") ? "true" : "false", "linger.ms", "0");
                p.put("key.serializer", StringSerializer.class.getName());
                p.put("value.serializer", StringSerializer.class.getName());
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                    step("produce acks=" + acks, () -> {
                        List<Object> offsets = new ArrayList<>();
                        for (int i = 0; i < 3; i++) {
                            ProducerRecord<String, String> rec = new ProducerRecord<>(topic, i, t0 + i, "k-" + acks + "-" + i, "v" + i);
                            rec.headers().add("h", ("x" + i).getBytes(StandardCharsets.UTF_8));
                            RecordMetadata md = producer.send(rec).get();
                            offsets.add(List.of(md.partition(), md.offset()));
                        }
                        return offsets;
                    });
                    step("produce over max.message.bytes acks=" + acks, () -> {
                        RecordMetadata md = producer.send(new ProducerRecord<>(topic, 0, "big", "x".repeat(60_000))).get();
                        return md.offset();
                    });
                }
            }
            step("read everything back", () -> {
                try (KafkaConsumer<String, String> c = consumer()) {
                    List<TopicPartition> tps = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1), new TopicPartition(topic, 2));
                    c.assign(tps);
                    c.seekToBeginning(tps);
                    List<List<Object>> got = new ArrayList<>();
                    long deadline = System.currentTimeMillis() + 20_000;
                    while (got.size() < 9 && System.currentTimeMillis() < deadline)
                        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) got.add(describe(r));
                    got.sort(Comparator.comparing((List<Object> l) -> (Integer) l.get(0)).thenComparing(l -> (Long) l.get(1)));
                    return got;
                }
            });
            step("offsets: earliest, latest, max timestamp, by time", () -> {
                TopicPartition tp = new TopicPartition(topic, 1);
                return List.of(
                        admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).all().get().get(tp).offset(),
                        admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all().get().get(tp).offset(),
                        admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).all().get().get(tp).offset(),
                        admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(t0 + 1))).all().get().get(tp).offset());
            });

            // A consumer group: two members, then one leaves and the other takes everything.
            List<KafkaConsumer<String, String>> members = new ArrayList<>();
            for (int i = 0; i < 2; i++)
                members.add(consumer("group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", "false",
                        "session.timeout.ms", "10000", "heartbeat.interval.ms", "500", "client.id", "member-" + i));
            for (KafkaConsumer<String, String> m : members) m.subscribe(List.of(topic));
            step("two members split the partitions", () -> {
                // Distinct records: a partition that moves in a rebalance before anything was
                // committed is read again from the start, on either broker, depending on timing.
                Set<String> seen = new TreeSet<>();
                long deadline = System.currentTimeMillis() + 30_000;
                while (System.currentTimeMillis() < deadline) {
                    for (KafkaConsumer<String, String> m : members)
                        for (ConsumerRecord<String, String> r : m.poll(Duration.ofMillis(100))) seen.add(r.partition() + ":" + r.offset());
                    int a = members.get(0).assignment().size(), b = members.get(1).assignment().size();
                    if (a + b == 3 && a > 0 && b > 0 && seen.size() == 9 && stable(admin, group, 2) && caughtUp(members, 3)) break;
                }
                List<Integer> sizes = members.stream().map(m -> m.assignment().size()).sorted().collect(Collectors.toList());
                Map<String, Long> perPartition = new TreeMap<>(seen.stream().collect(Collectors.groupingBy(k -> k.split(":")[0], Collectors.counting())));
                return Map.of("assignment sizes", sizes, "records per partition", perPartition);
            });
            step("commit", () -> {
                for (KafkaConsumer<String, String> m : members) m.commitSync();
                return "ok";
            });
            step("committed offsets", () -> new TreeMap<>(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
                    .entrySet().stream().collect(Collectors.toMap(e -> e.getKey().toString(), e -> e.getValue().offset()))));
            step("describe the group", () -> {
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                return List.of(d.groupState().toString(), d.members().size(), d.partitionAssignor(), d.isSimpleConsumerGroup(), d.type().toString());
            });
            step("delete a group with members", () -> { admin.deleteConsumerGroups(List.of(group)).all().get(); return "ok"; });
            members.get(1).close();
            step("the member left takes every partition", () -> {
                long deadline = System.currentTimeMillis() + 30_000;
                while (members.get(0).assignment().size() != 3 && System.currentTimeMillis() < deadline) members.get(0).poll(Duration.ofMillis(100));
                return members.get(0).assignment().size();
            });
            members.get(0).close();
            step("group state when empty", () -> admin.describeConsumerGroups(List.of(group)).all().get().get(group).groupState().toString());
            step("alter group offsets", () -> {
                admin.alterConsumerGroupOffsets(group, Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(1, "meta"))).all().get();
                OffsetAndMetadata o = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().get(new TopicPartition(topic, 0));
                return List.of(o.offset(), o.metadata());
            });
            step("delete group offsets", () -> {
                admin.deleteConsumerGroupOffsets(group, Set.of(new TopicPartition(topic, 0))).all().get();
                return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().keySet().stream().map(Object::toString).sorted().collect(Collectors.toList());
            });
            step("list groups includes it", () -> admin.listConsumerGroups().all().get().stream().anyMatch(g -> g.groupId().equals(group)));
            step("delete the empty group", () -> { admin.deleteConsumerGroups(List.of(group)).all().get(); return "ok"; });
            step("delete the group again", () -> { admin.deleteConsumerGroups(List.of(group)).all().get(); return "ok"; });

            step("delete records", () -> {
                TopicPartition tp = new TopicPartition(topic, 2);
                return admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(2))).lowWatermarks().get(tp).get().lowWatermark();
            });
            step("earliest after delete records", () -> {
                TopicPartition tp = new TopicPartition(topic, 2);
                return admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).all().get().get(tp).offset();
            });
            step("delete records past the end", () -> {
                admin.deleteRecords(Map.of(new TopicPartition(topic, 2), RecordsToDelete.beforeOffset(100))).all().get();
                return "ok";
            });
            step("incremental alter configs", () -> {
                ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
                admin.incrementalAlterConfigs(Map.of(r, List.of(
                        new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                        new AlterConfigOp(new ConfigEntry("max.message.bytes", ""), AlterConfigOp.OpType.DELETE)))).all().get();
                Config c = admin.describeConfigs(List.of(r)).all().get().get(r);
                return List.of(c.get("retention.ms").value(), c.get("max.message.bytes").value(), c.get("max.message.bytes").source().toString());
            });
            step("incremental alter with a bad value", () -> {
                ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
                admin.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all().get();
                return "ok";
            });
            step("add partitions", () -> { admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get(); return "ok"; });
            step("remove partitions", () -> { admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all().get(); return "ok"; });
            step("describe cluster", () -> {
                DescribeClusterResult c = admin.describeCluster();
                return List.of(c.nodes().get().size(), c.controller().get() != null, c.clusterId().get() != null);
            });
            transactions(admin);
            step("delete topic", () -> { admin.deleteTopics(List.of(topic)).all().get(); return "ok"; });
            step("delete the topic again", () -> { admin.deleteTopics(List.of(topic)).all().get(); return "ok"; });
        }
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        System.out.println(mapper.writeValueAsString(out));
    }

    static KafkaProducer<String, String> txnProducer(String id) {
        Properties p = props("transactional.id", id);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        KafkaProducer<String, String> producer = new KafkaProducer<>(p);
        producer.initTransactions();
        return producer;
    }

    /** [offset, value] of every record of partition 0 up to its end, as `isolation` reads it. */
    static List<List<Object>> readPartition(String topic, String isolation) {
        TopicPartition tp = new TopicPartition(topic, 0);
        List<List<Object>> got = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer("isolation.level", isolation)) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp);
            long deadline = System.currentTimeMillis() + 20_000;
            while (c.position(tp) < end && System.currentTimeMillis() < deadline)
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) got.add(List.of(r.offset(), r.value()));
        }
        return got;
    }

    /** Latest offsets once the last stable offset caught up with the end: Kafka writes the
     * markers after answering a commit, so right after one it may not have yet. */
    static List<Long> settled(Admin admin, String topic) throws Exception {
        long deadline = System.currentTimeMillis() + 10_000;
        List<Long> now = latest(admin, topic);
        while (!now.get(0).equals(now.get(1)) && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
            now = latest(admin, topic);
        }
        return now;
    }

    static List<Long> latest(Admin admin, String topic) throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        List<Long> out = new ArrayList<>();
        for (IsolationLevel level : List.of(IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED))
            out.add(admin.listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(level)).all().get().get(tp).offset());
        return out;
    }

    /** Transactions: commits and aborts as both isolation levels read them, the last stable
     * offset, consume-transform-produce with sendOffsetsToTransaction, fencing, and the Admin
     * client's view. No step shows a producer epoch: Kafka 4.1 bumps it at every commit
     * (transaction version 2), StrikeMQ at every InitProducerId (version 1). */
    static void transactions(Admin admin) throws Exception {
        String tx = prefix + "-java-tx";
        String out = prefix + "-java-tx-out";
        String tid = prefix + "-java-txid";
        admin.createTopics(List.of(new NewTopic(tx, 1, (short) 1), new NewTopic(out, 1, (short) 1))).all().get();
        waitForLeaders(admin, tx, 1);
        waitForLeaders(admin, out, 1);
        KafkaProducer<String, String> p = txnProducer(tid);
        step("transactions: commit, abort, commit", () -> {
            p.beginTransaction();
            p.send(new ProducerRecord<>(tx, 0, "k", "c0"));
            p.send(new ProducerRecord<>(tx, 0, "k", "c1"));
            p.commitTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(tx, 0, "k", "a0"));
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            p.send(new ProducerRecord<>(tx, 0, "k", "c2"));
            p.commitTransaction();
            return "ok";
        });
        settled(admin, tx);
        step("read_committed reads", () -> readPartition(tx, "read_committed"));
        step("read_uncommitted reads", () -> readPartition(tx, "read_uncommitted"));
        step("latest offsets, read_committed and read_uncommitted", () -> latest(admin, tx));
        step("an open transaction holds the last stable offset", () -> {
            p.beginTransaction();
            p.send(new ProducerRecord<>(tx, 0, "k", "open")).get();
            List<Long> open = latest(admin, tx);
            List<List<Object>> read = readPartition(tx, "read_committed");
            p.commitTransaction();
            return List.of(open, read.size(), settled(admin, tx));
        });
        step("describe the transaction", () -> {
            TransactionDescription d = admin.describeTransactions(List.of(tid)).description(tid).get();
            return List.of(d.state().toString(), d.topicPartitions().size(), d.transactionTimeoutMs());
        });
        step("list transactions by state", () -> admin.listTransactions(new ListTransactionsOptions()
                        .filterStates(List.of(TransactionState.COMPLETE_COMMIT))).all().get().stream()
                .map(TransactionListing::transactionalId).filter(t -> t.startsWith(prefix)).sorted().collect(Collectors.toList()));
        String ctpGroup = prefix + "-java-ctp";
        step("consume-transform-produce, aborted once, then committed", () -> {
            try (KafkaConsumer<String, String> c = consumer("group.id", ctpGroup, "isolation.level", "read_committed",
                    "auto.offset.reset", "earliest", "enable.auto.commit", "false")) {
                c.subscribe(List.of(tx));
                List<ConsumerRecord<String, String>> batch = new ArrayList<>();
                long deadline = System.currentTimeMillis() + 30_000;
                while (batch.size() < 4 && System.currentTimeMillis() < deadline) c.poll(Duration.ofMillis(200)).forEach(batch::add);
                for (boolean abort : new boolean[] {true, false}) {
                    p.beginTransaction();
                    for (ConsumerRecord<String, String> r : batch) p.send(new ProducerRecord<>(out, 0, r.key(), r.value().toUpperCase()));
                    long next = batch.get(batch.size() - 1).offset() + 1;
                    p.sendOffsetsToTransaction(Map.of(new TopicPartition(tx, 0), new OffsetAndMetadata(next)), c.groupMetadata());
                    // Flushed first: the aborted records reach the log (and take offsets) on
                    // either broker, rather than being dropped unsent depending on timing.
                    p.flush();
                    if (abort) p.abortTransaction(); else p.commitTransaction();
                }
                settled(admin, out);
                return List.of(batch.size(), readPartition(out, "read_committed"),
                        admin.listConsumerGroupOffsets(ctpGroup).partitionsToOffsetAndMetadata().get().get(new TopicPartition(tx, 0)).offset());
            }
        });
        step("a second producer with the same id fences the first", () -> {
            p.beginTransaction();
            p.send(new ProducerRecord<>(tx, 0, "k", "zombie")).get();
            try (KafkaProducer<String, String> fresh = txnProducer(tid)) {
                fresh.beginTransaction();
                fresh.send(new ProducerRecord<>(tx, 0, "k", "fresh"));
                fresh.commitTransaction();
            }
            try {
                p.commitTransaction();
                return "committed";
            } catch (KafkaException e) {
                return "error: " + e.getClass().getSimpleName();
            } finally {
                p.close(Duration.ZERO);
            }
        });
        step("after the fencing, read_committed reads", () -> {
            settled(admin, tx);
            return readPartition(tx, "read_committed");
        });
    }

    /** Whether every member has read its partitions to the end (`end` records each), so that
     * what it commits does not depend on when the last rebalance happened. */
    static boolean caughtUp(List<KafkaConsumer<String, String>> members, long end) {
        for (KafkaConsumer<String, String> m : members)
            for (TopicPartition tp : m.assignment()) {
                try {
                    if (m.position(tp, Duration.ofMillis(200)) != end) return false;
                } catch (Exception e) {
                    return false;
                }
            }
        return true;
    }

    /** Whether the group has finished rebalancing with this many members. */
    static boolean stable(Admin admin, String group, int members) {
        try {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            return d.groupState() == GroupState.STABLE && d.members().size() == members;
        } catch (Exception e) {
            return false;
        }
    }

    static void waitForLeaders(Admin admin, String topic, int partitions) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            try {
                TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                if (d.partitions().size() == partitions && d.partitions().stream().allMatch(p -> p.leader() != null)) return;
            } catch (ExecutionException e) {
                // not there yet
            }
            Thread.sleep(100);
        }
    }
}
