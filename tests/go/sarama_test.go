package clients

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func saramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V4_1_0_0
	c.ClientID = "strikemq-sarama-test"
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Partitioner = sarama.NewHashPartitioner
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	return c
}

// groupHandler records every message of a claim and marks it consumed.
type groupHandler struct {
	mu   sync.Mutex
	got  map[int32][]*sarama.ConsumerMessage
	want int
	done chan struct{}
	once sync.Once
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.got[m.Partition] = append(h.got[m.Partition], m)
		n := 0
		for _, ms := range h.got {
			n += len(ms)
		}
		h.mu.Unlock()
		s.MarkMessage(m, "")
		if n >= h.want {
			s.Commit()
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

// Sarama (IBM/sarama): admin, an idempotent acks=all producer, a consumer group that commits, and
// the committed offsets read back through the admin client.
func TestSaramaProduceGroupAndAdmin(t *testing.T) {
	b := startBroker(t)
	topic := fmt.Sprintf("sarama-%d", time.Now().UnixNano())
	cfg := saramaConfig()

	admin, err := sarama.NewClusterAdmin([]string{b.bootstrap}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	retention := "7200000"
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention},
	}, false); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err == nil {
		t.Fatal("creating the topic twice succeeded")
	} else if terr, ok := err.(*sarama.TopicError); !ok || terr.Err != sarama.ErrTopicAlreadyExists {
		t.Fatalf("second create: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, e := range entries {
		if e.Name == "retention.ms" && e.Value == retention && !e.Default {
			seen = true
		}
	}
	if !seen {
		t.Fatalf("retention.ms not described as set: %+v", entries)
	}

	producer, err := sarama.NewSyncProducer([]string{b.bootstrap}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	sent := map[int32][]string{}
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("v%03d", i)
		p, off, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i%20)), Value: sarama.StringEncoder(v),
			Headers: []sarama.RecordHeader{{Key: []byte("i"), Value: []byte(fmt.Sprint(i))}},
		})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if off != int64(len(sent[p])) {
			t.Fatalf("record %d got offset %d in partition %d, want %d", i, off, p, len(sent[p]))
		}
		sent[p] = append(sent[p], v)
	}
	if err := producer.Close(); err != nil {
		t.Fatal(err)
	}

	group := topic + "-g"
	cg, err := sarama.NewConsumerGroup([]string{b.bootstrap}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &groupHandler{got: map[int32][]*sarama.ConsumerMessage{}, want: n, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				errs <- err
				return
			}
		}
	}()
	select {
	case <-h.done:
	case err := <-errs:
		t.Fatalf("consume: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatalf("consumed %d of %d", len(h.got), n)
	}
	cancel()
	if err := cg.Close(); err != nil {
		t.Fatal(err)
	}
	for p, values := range sent {
		got := h.got[p]
		if len(got) != len(values) {
			t.Fatalf("partition %d: %d records, want %d", p, len(got), len(values))
		}
		for i, m := range got {
			if string(m.Value) != values[i] || m.Offset != int64(i) || len(m.Headers) != 1 {
				t.Fatalf("partition %d record %d: %q at %d, want %q", p, i, m.Value, m.Offset, values[i])
			}
		}
	}

	offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		blk := offsets.GetBlock(topic, p)
		if blk == nil || blk.Err != sarama.ErrNoError || blk.Offset != int64(len(sent[p])) {
			t.Fatalf("committed offset of partition %d: %+v, want %d", p, blk, len(sent[p]))
		}
	}
	groups, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(groups) != 1 || groups[0].State != "Empty" {
		t.Fatalf("describe group: %v %+v", err, groups)
	}

	if err := admin.DeleteRecords(topic, map[int32]int64{0: 1}); err != nil && len(sent[0]) > 0 {
		t.Fatalf("delete records: %v", err)
	}
	if err := admin.DeleteTopic(topic); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	if err := admin.DeleteTopic(topic); err == nil {
		t.Fatal("deleting the topic twice succeeded")
	}
}
