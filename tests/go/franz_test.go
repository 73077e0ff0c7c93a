package clients

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// franz-go with its defaults (idempotent producer, cooperative-sticky consumer groups).
func TestFranzGoProduceGroupAndAdmin(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topic := fmt.Sprintf("franz-%d", time.Now().UnixNano())

	adm, err := kgo.NewClient(kgo.SeedBrokers(b.bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	admin := kadm.NewClient(adm)
	created, err := admin.CreateTopics(ctx, 4, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, topic)
	if err != nil || created[topic].Err != nil {
		t.Fatalf("create: %v %v", err, created[topic].Err)
	}
	listed, err := admin.ListTopics(ctx, topic)
	if err != nil || len(listed[topic].Partitions) != 4 {
		t.Fatalf("list: %v %v", err, listed)
	}
	configs, err := admin.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := configs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && c.MaybeValue() == "3600000" {
			found = true
		}
	}
	if !found {
		t.Fatalf("retention.ms not described: %v", rc.Configs)
	}

	producer, err := kgo.NewClient(kgo.SeedBrokers(b.bootstrap), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := 0; i < n; i++ {
		producer.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%50)), Value: []byte(fmt.Sprintf("v%d", i))}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := producer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	producer.Close()

	seen := map[string]bool{}
	consumers := make([]*kgo.Client, 2)
	for i := range consumers {
		c, err := kgo.NewClient(kgo.SeedBrokers(b.bootstrap), kgo.ConsumerGroup("franz-group"), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.SessionTimeout(6*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		consumers[i] = c
		defer c.Close()
	}
	for len(seen) < n && ctx.Err() == nil {
		for _, c := range consumers {
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fetches := c.PollFetches(pctx)
			pcancel()
			fetches.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		}
	}
	if len(seen) != n {
		t.Fatalf("consumed %d distinct of %d", len(seen), n)
	}
	for _, c := range consumers {
		if err := c.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Cooperative rebalancing may still be finishing its second round: keep both members polling.
	var g kadm.DescribedGroup
	for ctx.Err() == nil {
		groups, err := admin.DescribeGroups(ctx, "franz-group")
		if err != nil {
			t.Fatal(err)
		}
		g = groups["franz-group"]
		if g.State == "Stable" && len(g.Members) == 2 {
			break
		}
		for _, c := range consumers {
			pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
			c.PollFetches(pctx)
			pcancel()
		}
	}
	if g.State != "Stable" || len(g.Members) != 2 {
		t.Fatalf("group: %s with %d members", g.State, len(g.Members))
	}
	offsets, err := admin.FetchOffsets(ctx, "franz-group")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	var parts []int32
	offsets.Each(func(o kadm.OffsetResponse) {
		total += o.At
		parts = append(parts, o.Partition)
	})
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	if total != n || len(parts) != 4 {
		t.Fatalf("committed %d over partitions %v", total, parts)
	}
}
