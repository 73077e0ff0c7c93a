import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** A short scenario with the Java client, run by capture.py through its recording proxy. */
public class Capture {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            admin.createTopics(List.of(new NewTopic("golden-java", 1, (short) 1))).all().get();
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("compression.type", "lz4");
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>("golden-java", "k" + i, "v" + i)).get();
                }
            }
            Properties c = new Properties();
            c.put("bootstrap.servers", bootstrap);
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
                TopicPartition tp = new TopicPartition("golden-java", 0);
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                consumer.offsetsForTimes(Map.of(tp, 0L));
                consumer.poll(Duration.ofSeconds(2));
            }
            admin.deleteTopics(List.of("golden-java")).all().get();
        }
    }
}
