package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// benchCheckpoints are the checkpoints BenchmarkStoreSave saves: what the
// engine saves at a batch commit (the committed pointer, the next batch's
// bounds, no record states), and a batch whose records failed (each with
// its state and one handler error), the larger case.
func benchCheckpoints(k checkpoint.Key) map[string]*checkpoint.Checkpoint {
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	commit := &checkpoint.Checkpoint{Key: k, Committed: kafka.PointerAt(41),
		Batch:  &checkpoint.Batch{Seq: 7, First: kafka.PointerAt(42), Last: kafka.PointerAt(541), Size: 500, Running: true},
		Counts: checkpoint.Counts{Succeeded: 123456, Retries: 17}, UpdatedAt: now}
	failed := commit.Clone()
	for i := range 16 {
		r := checkpoint.RecordState{Pointer: kafka.PointerAt(int64(42 + 3*i)), ID: fmt.Sprintf("order-%d", 9000+i),
			Status: checkpoint.Failed, Attempts: 2, FirstAttempt: now, LastAttempt: now.Add(time.Second), NextRetry: now.Add(time.Minute)}
		r.AddError(2, now.Add(time.Second), fmt.Sprintf("payment service: 503 for order %d", 9000+i))
		failed.Batch.Records = append(failed.Batch.Records, r)
	}
	return map[string]*checkpoint.Checkpoint{"commit": commit, "failed-records": failed}
}

var benchGroups int

// BenchmarkStoreSave measures Store.Save in a steady state (a Store that
// loaded or saved the checkpoint before, as the engine's) on the embedded
// broker: as a standalone client, and as the member of the group that owns
// the partition (the engine with stream.WithGroup). Each Save changes the
// counts, as a batch commit does.
func BenchmarkStoreSave(b *testing.B) {
	c := kafkatest.Start(b, kafkatest.Topic("orders", 1))
	ctx := context.Background()
	for _, mode := range []string{"standalone", "member"} {
		for _, shape := range []string{"commit", "failed-records"} {
			b.Run(mode+"/"+shape, func(b *testing.B) {
				s, err := kafka.Open(ctx, kafka.Options{Target: kafka.Target{Brokers: c.Addrs(), Topic: "orders"}})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				benchGroups++
				group := fmt.Sprintf("bench-%s-%s-%d", mode, shape, benchGroups) // each run its own group
				if mode == "member" {
					r := &recorder{}
					m, err := s.JoinGroup(ctx, group, r)
					if err != nil {
						b.Fatal(err)
					}
					defer m.Leave(ctx)
					deadline := time.Now().Add(30 * time.Second)
					for !r.has("0") { // the recorder has no event to wait on
						if time.Now().After(deadline) {
							b.Fatal("member not assigned partition 0 in 30s")
						}
						time.Sleep(time.Millisecond)
					}
				}
				st := kafka.NewStore(s)
				k := checkpoint.Key{Consumer: group, Stream: "orders", Partition: "0"}
				cp := benchCheckpoints(k)[shape]
				if err := st.Save(ctx, cp); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					cp.Counts.Succeeded += 500
					if err := st.Save(ctx, cp); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
