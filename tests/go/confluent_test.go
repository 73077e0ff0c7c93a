package clients

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func TestConfluentProduceConsume(t *testing.T) {
	b := startBroker(t)
	topic := fmt.Sprintf("go-%d", time.Now().UnixNano())

	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": b.bootstrap})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}})
	if err != nil || res[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("create topic: %v %v", err, res)
	}
	admin.Close()

	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":  b.bootstrap,
		"enable.idempotence": true,
		"compression.type":   "lz4",
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	ts0 := time.UnixMilli(1_700_000_000_000)
	deliveries := make(chan kafka.Event, n)
	for i := 0; i < n; i++ {
		msg := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(i % 3)},
			Key:            []byte(fmt.Sprintf("k%d", i)),
			Value:          []byte(fmt.Sprintf("v%d", i)),
			Headers:        []kafka.Header{{Key: "i", Value: []byte(fmt.Sprint(i))}},
			Timestamp:      ts0.Add(time.Duration(i) * time.Millisecond),
		}
		for {
			err := p.Produce(msg, deliveries)
			if err == nil {
				break
			}
			if err.(kafka.Error).Code() != kafka.ErrQueueFull {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := 0; i < n; i++ {
		m := (<-deliveries).(*kafka.Message)
		if m.TopicPartition.Error != nil {
			t.Fatalf("delivery: %v", m.TopicPartition.Error)
		}
	}
	p.Close()

	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  b.bootstrap,
		"group.id":           "unused",
		"enable.auto.commit": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tps []kafka.TopicPartition
	for part := int32(0); part < 3; part++ {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: part, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]*kafka.Message)
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < n && time.Now().Before(deadline) {
		ev := c.Poll(500)
		switch e := ev.(type) {
		case *kafka.Message:
			seen[string(e.Value)] = e
		case kafka.Error:
			t.Fatalf("consumer error: %v", e)
		}
	}
	if len(seen) != n {
		t.Fatalf("consumed %d of %d", len(seen), n)
	}
	for i := 0; i < n; i++ {
		m := seen[fmt.Sprintf("v%d", i)]
		if m == nil {
			t.Fatalf("message %d missing", i)
		}
		if m.TopicPartition.Partition != int32(i%3) || int(m.TopicPartition.Offset) != i/3 {
			t.Fatalf("message %d at %v", i, m.TopicPartition)
		}
		if !bytes.Equal(m.Key, []byte(fmt.Sprintf("k%d", i))) {
			t.Fatalf("message %d key %q", i, m.Key)
		}
		if len(m.Headers) != 1 || string(m.Headers[0].Value) != fmt.Sprint(i) {
			t.Fatalf("message %d headers %v", i, m.Headers)
		}
		if !m.Timestamp.Equal(ts0.Add(time.Duration(i) * time.Millisecond)) {
			t.Fatalf("message %d timestamp %v", i, m.Timestamp)
		}
	}
}
