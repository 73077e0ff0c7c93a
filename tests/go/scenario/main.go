// Command scenario runs one client-level scenario with franz-go (kgo and kadm) against a broker
// and prints what the application observes as JSON (step -> outcome). test_client_scenarios.py
// runs it against Apache Kafka and against StrikeMQ and compares the two step by step.
//
//	go run ./scenario -bootstrap 127.0.0.1:9092 -prefix run1
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

var out = map[string]any{}

// t0 is the base of the record timestamps, reported as offsets from it: recent, so that no
// retention check deletes the records, and the same in both runs.
var t0 = time.Now().Add(-time.Minute).UnixMilli()

// outcome turns an error into what an application would branch on: the Kafka error name.
func outcome(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return "error: " + ke.Message
	}
	return "error: " + err.Error()
}

func step(name string, f func() (any, error)) {
	v, err := f()
	if err != nil {
		out[name] = outcome(err)
		return
	}
	out[name] = v
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "broker address")
	prefix := flag.String("prefix", "run", "prefix of the topic and group names")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topic := *prefix + "-franz"
	group := *prefix + "-franz-group"

	cl, err := kgo.NewClient(kgo.SeedBrokers(*bootstrap))
	must(err)
	defer cl.Close()
	adm := kadm.NewClient(cl)

	step("create topic with configs", func() (any, error) {
		r, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000"), "cleanup.policy": kadm.StringPtr("compact,delete")}, topic)
		if err == nil {
			err = r.Err
		}
		return "ok", err
	})
	step("create it again", func() (any, error) {
		r, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		if err == nil {
			err = r.Err
		}
		return "ok", err
	})
	step("create with replication factor 3", func() (any, error) {
		r, err := adm.CreateTopic(ctx, 1, 3, nil, topic+"-rf")
		if err == nil {
			err = r.Err
		}
		return "ok", err
	})
	step("create with an invalid config", func() (any, error) {
		r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("12")}, topic+"-bad")
		if err == nil {
			err = r.Err
		}
		return []any{"ok", r.ErrMessage}, err
	})
	waitForLeaders(ctx, adm, topic, 3)
	step("list topic", func() (any, error) {
		d, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return nil, err
		}
		t := d[topic]
		var parts [][]any
		for _, p := range t.Partitions.Sorted() {
			parts = append(parts, []any{p.Partition, len(p.Replicas), len(p.ISR), p.Leader >= 0, p.Err == nil})
		}
		return map[string]any{"partitions": parts, "internal": t.IsInternal, "err": t.Err == nil}, nil
	})
	step("describe configs", func() (any, error) {
		rc, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return nil, err
		}
		r, err := rc.On(topic, nil)
		if err != nil {
			return nil, err
		}
		m := map[string]any{}
		for _, c := range r.Configs {
			var syn []string
			for _, s := range c.Synonyms {
				v := "<null>"
				if s.Value != nil {
					v = *s.Value
				}
				syn = append(syn, s.Key+"="+v+"/"+s.Source.String())
			}
			m[c.Key] = []any{c.MaybeValue(), c.Source.String(), c.Sensitive, syn}
		}
		return m, nil
	})

	// Default producer: idempotent, acks=all.
	producer, err := kgo.NewClient(kgo.SeedBrokers(*bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	must(err)
	step("produce idempotent", func() (any, error) {
		var offsets [][]any
		for i := 0; i < 9; i++ {
			r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
				Timestamp: time.UnixMilli(t0 + int64(i)), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}}
			res := producer.ProduceSync(ctx, r)
			if err := res.FirstErr(); err != nil {
				return nil, err
			}
			offsets = append(offsets, []any{r.Partition, r.Offset})
		}
		return offsets, nil
	})
	step("produce a keyless record to a compacted topic", func() (any, error) {
		res := producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("no key")})
		return "ok", res.FirstErr()
	})
	producer.Close()
	for _, acks := range []struct {
		name string
		acks kgo.Acks
	}{{"leader", kgo.LeaderAck()}, {"none", kgo.NoAck()}} {
		p, err := kgo.NewClient(kgo.SeedBrokers(*bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(acks.acks), kgo.DisableIdempotentWrite())
		must(err)
		step("produce acks="+acks.name, func() (any, error) {
			r := &kgo.Record{Topic: topic, Partition: 1, Key: []byte("a-" + acks.name), Value: []byte("v")}
			if err := p.ProduceSync(ctx, r).FirstErr(); err != nil {
				return nil, err
			}
			return r.Offset, nil
		})
		p.Close()
	}
	step("read everything back", func() (any, error) {
		c, err := kgo.NewClient(kgo.SeedBrokers(*bootstrap), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart()}}))
		if err != nil {
			return nil, err
		}
		defer c.Close()
		var got [][]any
		deadline := time.Now().Add(20 * time.Second)
		for len(got) < 11 && time.Now().Before(deadline) {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			fs := c.PollFetches(pctx)
			pcancel()
			fs.EachRecord(func(r *kgo.Record) {
				// Records produced without a timestamp carry the time they were sent.
				ts := int64(-1)
				if len(r.Key) > 0 && r.Key[0] == 'k' {
					ts = r.Timestamp.UnixMilli() - t0
				}
				got = append(got, []any{r.Partition, r.Offset, string(r.Key), string(r.Value), len(r.Headers), ts})
			})
		}
		sort.Slice(got, func(i, j int) bool {
			if got[i][0].(int32) != got[j][0].(int32) {
				return got[i][0].(int32) < got[j][0].(int32)
			}
			return got[i][1].(int64) < got[j][1].(int64)
		})
		return got, nil
	})
	step("start and end offsets", func() (any, error) {
		s, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return nil, err
		}
		e, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return nil, err
		}
		var r [][]any
		for p := int32(0); p < 3; p++ {
			so, _ := s.Lookup(topic, p)
			eo, _ := e.Lookup(topic, p)
			r = append(r, []any{p, so.Offset, eo.Offset})
		}
		return r, nil
	})

	// A consumer group with franz-go's default cooperative-sticky balancer.
	ends := map[int32]int64{}
	if e, err := adm.ListEndOffsets(ctx, topic); err == nil {
		e.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	}
	var members []*kgo.Client
	for i := 0; i < 2; i++ {
		m, err := kgo.NewClient(kgo.SeedBrokers(*bootstrap), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(10*time.Second))
		must(err)
		members = append(members, m)
	}
	step("two members read every record", func() (any, error) {
		// Distinct records, and a group that has settled (cooperative-sticky rebalances in
		// two rounds): a partition moving before any commit is read again, depending on timing.
		seen := map[string]bool{}
		perPartition := map[int32]int{}
		deadline := time.Now().Add(40 * time.Second)
		for time.Now().Before(deadline) {
			for _, m := range members {
				pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
				fs := m.PollFetches(pctx)
				pcancel()
				fs.EachRecord(func(r *kgo.Record) {
					k := fmt.Sprintf("%d:%d", r.Partition, r.Offset)
					if !seen[k] {
						seen[k] = true
						perPartition[r.Partition]++
					}
				})
			}
			if len(seen) == 11 && settled(ctx, adm, group, topic, 2) && caughtUp(members, topic, ends) {
				break
			}
		}
		return perPartition, nil
	})
	step("commit", func() (any, error) {
		for _, m := range members {
			if err := m.CommitUncommittedOffsets(ctx); err != nil {
				return nil, err
			}
		}
		return "ok", nil
	})
	step("fetch committed offsets", func() (any, error) {
		o, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return nil, err
		}
		r := map[string]int64{}
		o.Each(func(x kadm.OffsetResponse) { r[fmt.Sprintf("%s-%d", x.Topic, x.Partition)] = x.At })
		return r, nil
	})
	step("describe the group", func() (any, error) {
		d, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return nil, err
		}
		g := d[group]
		return []any{g.State, g.ProtocolType, g.Protocol, len(g.Members), len(g.AssignedPartitions()[topic]), g.Err == nil}, nil
	})
	step("delete a group with members", func() (any, error) {
		r, err := adm.DeleteGroup(ctx, group)
		if err == nil {
			err = r.Err
		}
		return "ok", err
	})
	members[1].Close()
	step("the member left takes every partition", func() (any, error) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			d, err := adm.DescribeGroups(ctx, group)
			g := d[group]
			if err == nil && g.State == "Stable" && len(g.Members) == 1 && len(g.AssignedPartitions()[topic]) == 3 {
				return 3, nil
			}
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			members[0].PollFetches(pctx)
			pcancel()
		}
		return "not rebalanced", nil
	})
	members[0].Close()
	step("group state when empty", func() (any, error) {
		d, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return nil, err
		}
		return d[group].State, nil
	})
	step("delete the empty group", func() (any, error) {
		r, err := adm.DeleteGroup(ctx, group)
		if err == nil {
			err = r.Err
		}
		return "ok", err
	})
	step("delete the group again", func() (any, error) {
		r, err := adm.DeleteGroup(ctx, group)
		if err == nil {
			err = r.Err
		}
		return "ok", err
	})
	step("delete records", func() (any, error) {
		o := kadm.Offsets{}
		o.AddOffset(topic, 2, 2, -1)
		r, err := adm.DeleteRecords(ctx, o)
		if err != nil {
			return nil, err
		}
		x, _ := r.Lookup(topic, 2)
		return x.LowWatermark, x.Err
	})
	step("delete records past the end", func() (any, error) {
		o := kadm.Offsets{}
		o.AddOffset(topic, 2, 100, -1)
		r, err := adm.DeleteRecords(ctx, o)
		if err != nil {
			return nil, err
		}
		x, _ := r.Lookup(topic, 2)
		return x.LowWatermark, x.Err
	})
	step("alter configs", func() (any, error) {
		r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")},
			{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		}, topic)
		if err != nil {
			return nil, err
		}
		if x, err := r.On(topic, nil); err != nil || x.Err != nil {
			return nil, errors.Join(err, x.Err)
		}
		rc, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return nil, err
		}
		c, _ := rc.On(topic, nil)
		vals := map[string]string{}
		for _, e := range c.Configs {
			if e.Key == "retention.ms" || e.Key == "cleanup.policy" {
				vals[e.Key] = e.MaybeValue() + "/" + e.Source.String()
			}
		}
		return vals, nil
	})
	step("alter configs with an unknown name", func() (any, error) {
		r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.config", Value: kadm.StringPtr("1")}}, topic)
		if err != nil {
			return nil, err
		}
		x, err := r.On(topic, nil)
		if err == nil {
			err = x.Err
		}
		return "ok", err
	})
	step("add partitions", func() (any, error) {
		r, err := adm.CreatePartitions(ctx, 2, topic)
		if err != nil {
			return nil, err
		}
		return "ok", r[topic].Err
	})
	step("set fewer partitions", func() (any, error) {
		r, err := adm.UpdatePartitions(ctx, 2, topic)
		if err != nil {
			return nil, err
		}
		return "ok", r[topic].Err
	})
	step("delete topic", func() (any, error) {
		r, err := adm.DeleteTopic(ctx, topic)
		if err == nil {
			err = r.Err
		}
		return "ok", err
	})
	step("delete the topic again", func() (any, error) {
		r, err := adm.DeleteTopic(ctx, topic)
		if err == nil {
			err = r.Err
		}
		return "ok", err
	})
	transactions(ctx, *bootstrap, *prefix, adm)
	b, err := json.MarshalIndent(out, "", "  ")
	must(err)
	fmt.Println(string(b))
}

// readCommitted returns "offset:value" of every record of partition 0 of a topic up to its last
// stable offset, once that caught up with the end (Kafka writes markers after answering a
// commit, so right after one it may not have yet).
func readCommitted(ctx context.Context, bootstrap string, adm *kadm.Client, topic string) []string {
	deadline := time.Now().Add(10 * time.Second)
	var end int64
	for time.Now().Before(deadline) {
		stable, err1 := adm.ListCommittedOffsets(ctx, topic)
		all, err2 := adm.ListEndOffsets(ctx, topic)
		if err1 == nil && err2 == nil {
			s, _ := stable.Lookup(topic, 0)
			a, _ := all.Lookup(topic, 0)
			end = a.Offset
			if s.Offset == a.Offset {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	must(err)
	defer cl.Close()
	var got []string
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var at int64
	for at < end-1 && pctx.Err() == nil {
		fs := cl.PollFetches(pctx)
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value))
			at = r.Offset
		})
		// Past the last record: markers and aborted records end the partition.
		if len(got) > 0 && fs.NumRecords() == 0 {
			break
		}
	}
	return got
}

// transactions: a transactional producer committing and aborting, what read_committed readers
// see, and GroupTransactSession's consume-transform-produce with one aborted round. No step
// shows a producer epoch: Kafka 4.1 bumps it at every commit (transaction version 2), StrikeMQ at
// every InitProducerId (version 1).
func transactions(ctx context.Context, bootstrap, prefix string, adm *kadm.Client) {
	tx, outTopic, group := prefix+"-franz-tx", prefix+"-franz-tx-out", prefix+"-franz-ctp"
	for _, t := range []string{tx, outTopic} {
		r, err := adm.CreateTopic(ctx, 1, 1, nil, t)
		must(err)
		must(r.Err)
		waitForLeaders(ctx, adm, t, 1)
	}
	p, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.TransactionalID(prefix+"-franz-txid"), kgo.DefaultProduceTopic(tx),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	must(err)
	defer p.Close()
	step("transactions: commit, abort, commit", func() (any, error) {
		for _, round := range []struct {
			values []string
			end    kgo.TransactionEndTry
		}{{[]string{"c0", "c1"}, kgo.TryCommit}, {[]string{"a0"}, kgo.TryAbort}, {[]string{"c2", "c3"}, kgo.TryCommit}} {
			if err := p.BeginTransaction(); err != nil {
				return nil, err
			}
			for _, v := range round.values {
				if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
					return nil, err
				}
			}
			if err := p.EndTransaction(ctx, round.end); err != nil {
				return nil, err
			}
		}
		return "ok", nil
	})
	step("read_committed reads", func() (any, error) { return readCommitted(ctx, bootstrap, adm, tx), nil })
	step("consume-transform-produce, aborted once, then committed", func() (any, error) {
		s, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(bootstrap), kgo.TransactionalID(prefix+"-franz-ctp-txid"),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(tx), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequireStableFetchOffsets(),
			kgo.DefaultProduceTopic(outTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			return nil, err
		}
		defer s.Close()
		seen, aborted := 0, false
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for seen < 4 && pctx.Err() == nil {
			var recs []*kgo.Record
			s.PollFetches(pctx).EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
			if len(recs) == 0 {
				continue
			}
			if err := s.Begin(); err != nil {
				return nil, err
			}
			for _, r := range recs {
				if err := s.ProduceSync(pctx, &kgo.Record{Value: append([]byte("x"), r.Value...)}).FirstErr(); err != nil {
					return nil, err
				}
			}
			end := kgo.TryCommit
			if !aborted {
				end, aborted = kgo.TryAbort, true
			}
			committed, err := s.End(pctx, end)
			if err != nil {
				return nil, err
			}
			if committed {
				seen += len(recs)
			}
		}
		// With transaction.version 2 Kafka writes the commit's markers after EndTxn answers,
		// so the committed offset shows a moment later: wait for it, as a client would.
		var at int64
		for wait := time.Now().Add(10 * time.Second); time.Now().Before(wait); time.Sleep(100 * time.Millisecond) {
			offsets, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return nil, err
			}
			if o, ok := offsets.Lookup(tx, 0); ok && o.Err == nil && o.At > 0 {
				at = o.At
				break
			}
		}
		return []any{seen, readCommitted(ctx, bootstrap, adm, outTopic), at}, nil
	})
}

// caughtUp tells whether the members' consumed (uncommitted) positions cover every partition up
// to its end, so that what they commit does not depend on when the last rebalance happened.
func caughtUp(members []*kgo.Client, topic string, ends map[int32]int64) bool {
	at := map[int32]int64{}
	for _, m := range members {
		for p, o := range m.UncommittedOffsets()[topic] {
			at[p] = o.Offset
		}
	}
	for p, end := range ends {
		if at[p] != end {
			return false
		}
	}
	return len(ends) > 0
}

// settled tells whether the group is Stable with this many members sharing all three partitions.
func settled(ctx context.Context, adm *kadm.Client, group, topic string, members int) bool {
	d, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return false
	}
	g := d[group]
	return g.State == "Stable" && len(g.Members) == members && len(g.AssignedPartitions()[topic]) == 3
}

func waitForLeaders(ctx context.Context, adm *kadm.Client, topic string, partitions int) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		d, err := adm.ListTopics(ctx, topic)
		if err == nil && d[topic].Err == nil && len(d[topic].Partitions) == partitions {
			ready := true
			for _, p := range d[topic].Partitions {
				ready = ready && p.Leader >= 0
			}
			if ready {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
