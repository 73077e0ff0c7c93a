package clients

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// createTopics makes one-partition topics with franz-go's admin client.
func createTopics(t *testing.T, bootstrap string, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
}

// readCommitted returns the values of a topic as a read_committed consumer sees them, once
// `want` of them arrived (or after 30 s).
func readCommitted(t *testing.T, bootstrap, topic string, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	// Nothing more arrives: an aborted record would show up here.
	short, cancelShort := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancelShort()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	return got
}

// franz-go: a transactional producer committing and aborting, and GroupTransactSession's
// consume-transform-produce loop with one aborted round.
func TestFranzGoTransactions(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	suffix := time.Now().UnixNano()
	in, out, group := fmt.Sprintf("franz-in-%d", suffix), fmt.Sprintf("franz-out-%d", suffix), fmt.Sprintf("franz-g-%d", suffix)
	createTopics(t, b.bootstrap, in, out)

	feeder, err := kgo.NewClient(kgo.SeedBrokers(b.bootstrap), kgo.TransactionalID(fmt.Sprintf("feed-%d", suffix)),
		kgo.DefaultProduceTopic(in))
	if err != nil {
		t.Fatal(err)
	}
	defer feeder.Close()
	for _, round := range []struct {
		values []string
		commit kgo.TransactionEndTry
	}{{[]string{"0", "1", "2"}, kgo.TryCommit}, {[]string{"lost"}, kgo.TryAbort}, {[]string{"3", "4"}, kgo.TryCommit}} {
		if err := feeder.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range round.values {
			if err := feeder.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := feeder.EndTransaction(ctx, round.commit); err != nil {
			t.Fatal(err)
		}
	}
	if got := readCommitted(t, b.bootstrap, in, 5); strings.Join(got, ",") != "0,1,2,3,4" {
		t.Fatalf("read_committed saw %v", got)
	}

	s, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(b.bootstrap), kgo.TransactionalID(fmt.Sprintf("ctp-%d", suffix)),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequireStableFetchOffsets(), kgo.DefaultProduceTopic(out))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen, aborted := 0, false
	for seen < 5 && ctx.Err() == nil {
		fs := s.PollFetches(ctx)
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) == 0 {
			continue
		}
		if err := s.Begin(); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := s.ProduceSync(ctx, &kgo.Record{Value: append([]byte("x"), r.Value...)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		// The first round is aborted: its output never shows and its records come again.
		end := kgo.TryCommit
		if !aborted {
			end, aborted = kgo.TryAbort, true
		}
		committed, err := s.End(ctx, end)
		if err != nil {
			t.Fatal(err)
		}
		if committed {
			seen += len(recs)
		}
	}
	got := readCommitted(t, b.bootstrap, out, 5)
	sort.Strings(got)
	if strings.Join(got, ",") != "x0,x1,x2,x3,x4" {
		t.Fatalf("output %v", got)
	}
	adm, err := kgo.NewClient(kgo.SeedBrokers(b.bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	offsets, err := kadm.NewClient(adm).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offsets.Lookup(in, 0); !ok || o.At != 8 { // after its last record (offset 7)
		t.Fatalf("committed offset %v %v", o, ok)
	}
}

// Sarama: a transactional sync producer committing and aborting.
func TestSaramaTransactions(t *testing.T) {
	b := startBroker(t)
	topic := fmt.Sprintf("sarama-tx-%d", time.Now().UnixNano())
	createTopics(t, b.bootstrap, topic)
	c := saramaConfig()
	c.Producer.Transaction.ID = topic
	p, err := sarama.NewSyncProducer([]string{b.bootstrap}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, round := range []struct {
		value  string
		commit bool
	}{{"c1", true}, {"a1", false}, {"c2", true}} {
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(round.value)}); err != nil {
			t.Fatal(err)
		}
		if round.commit {
			err = p.CommitTxn()
		} else {
			err = p.AbortTxn()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := readCommitted(t, b.bootstrap, topic, 2); strings.Join(got, ",") != "c1,c2" {
		t.Fatalf("read_committed saw %v", got)
	}
}

// confluent-kafka-go: a transactional producer committing and aborting.
func TestConfluentGoTransactions(t *testing.T) {
	b := startBroker(t)
	topic := fmt.Sprintf("confluent-tx-%d", time.Now().UnixNano())
	createTopics(t, b.bootstrap, topic)
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": b.bootstrap, "transactional.id": topic})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	for _, round := range []struct {
		value  string
		commit bool
	}{{"c1", true}, {"a1", false}, {"c2", true}} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		delivered := make(chan kafka.Event, 1)
		err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte(round.value)}, delivered)
		if err != nil {
			t.Fatal(err)
		}
		if m := (<-delivered).(*kafka.Message); m.TopicPartition.Error != nil {
			t.Fatal(m.TopicPartition.Error)
		}
		if round.commit {
			err = p.CommitTransaction(ctx)
		} else {
			err = p.AbortTransaction(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := readCommitted(t, b.bootstrap, topic, 2); strings.Join(got, ",") != "c1,c2" {
		t.Fatalf("read_committed saw %v", got)
	}
}
