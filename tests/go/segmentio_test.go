package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// segmentio/kafka-go: topics through its Client, a Writer with acks=all, a group Reader that
// commits, and the committed offsets read back.
func TestSegmentioProduceGroupAndAdmin(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topic := fmt.Sprintf("segmentio-%d", time.Now().UnixNano())
	addr, err := net.ResolveTCPAddr("tcp", b.bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	client := &kafka.Client{Addr: addr, Timeout: 20 * time.Second}

	created, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "delete"}},
	}}})
	if err != nil || created.Errors[topic] != nil {
		t.Fatalf("create: %v %v", err, created)
	}
	again, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: 1,
	}}})
	if err != nil || !errors.Is(again.Errors[topic], kafka.TopicAlreadyExists) {
		t.Fatalf("second create: %v %v, want TOPIC_ALREADY_EXISTS", err, again)
	}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != 2 {
		t.Fatalf("metadata: %v %+v", err, meta)
	}

	w := &kafka.Writer{
		Addr: addr, Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchSize: 50, BatchTimeout: 5 * time.Millisecond,
	}
	const n = 400
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key: []byte(fmt.Sprintf("k%d", i%25)), Value: []byte(fmt.Sprintf("v%03d", i)),
			Headers: []kafka.Header{{Key: "i", Value: []byte(fmt.Sprint(i))}},
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	group := topic + "-g"
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{b.bootstrap}, GroupID: group, Topic: topic,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond,
		StartOffset: kafka.FirstOffset, HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second,
	})
	got := map[int][]kafka.Message{}
	for i := 0; i < n; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch after %d: %v", i, err)
		}
		got[m.Partition] = append(got[m.Partition], m)
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Every record exactly once, in offset order per partition, keys always in the same partition.
	seen := map[string]bool{}
	keyPartition := map[string]int{}
	for p, ms := range got {
		for i, m := range ms {
			if m.Offset != int64(i) {
				t.Fatalf("partition %d record %d has offset %d", p, i, m.Offset)
			}
			if seen[string(m.Value)] {
				t.Fatalf("%s consumed twice", m.Value)
			}
			seen[string(m.Value)] = true
			if q, ok := keyPartition[string(m.Key)]; ok && q != p {
				t.Fatalf("key %s in partitions %d and %d", m.Key, q, p)
			}
			keyPartition[string(m.Key)] = p
			if len(m.Headers) != 1 || m.Headers[0].Key != "i" {
				t.Fatalf("headers: %+v", m.Headers)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), n)
	}

	offsets, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, po := range offsets.Topics[topic] {
		if po.Error != nil || po.CommittedOffset != int64(len(got[po.Partition])) {
			t.Fatalf("committed offset of partition %d: %d (%v), want %d", po.Partition, po.CommittedOffset, po.Error, len(got[po.Partition]))
		}
	}

	deleted, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil || deleted.Errors[topic] != nil {
		t.Fatalf("delete: %v %v", err, deleted)
	}
	deleted, err = client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil || !errors.Is(deleted.Errors[topic], kafka.UnknownTopicOrPartition) {
		t.Fatalf("second delete: %v %v, want UNKNOWN_TOPIC_OR_PARTITION", err, deleted)
	}
}
