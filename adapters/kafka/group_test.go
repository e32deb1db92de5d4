package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/unistream-go/unistream/adapters/kafka"
	"github.com/unistream-go/unistream/adapters/kafka/kafkatest"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/driver"
)

// TestGroupLostOnKafka fences the engine's member out of its group (the
// broker answers a heartbeat with UNKNOWN_MEMBER_ID, as after an expired
// session): franz-go reports the partition lost, the engine cancels the
// handler in flight at once (not after the hour-long drain timeout) and
// saves nothing for it; the member rejoins, gets the partition again and
// handles the record from the checkpoint.
func TestGroupLostOnKafka(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic("orders", 1), kafkatest.KfakeOptions(kfake.GroupMinSessionTimeout(100*time.Millisecond)))
	s, err := stream.Open(context.Background(), c.URL("orders", "fetch_wait", "10ms", "session_timeout", "1s"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ks := s.Driver().(*kafka.Stream)
	write(t, ks, driver.Record{ID: "a", Key: []byte("k"), Value: []byte("1")}, driver.Record{ID: "b", Key: []byte("k"), Value: []byte("2")})

	var mu sync.Mutex
	calls := map[string]int{}
	cancelled := make(chan struct{})
	inflight := make(chan struct{})
	var once sync.Once
	h := func(ctx context.Context, r *stream.Record) error {
		mu.Lock()
		calls[r.ID]++
		n := calls[r.ID]
		mu.Unlock()
		if r.ID == "a" && n == 1 {
			close(inflight)
			<-ctx.Done()
			once.Do(func() { close(cancelled) })
			return ctx.Err()
		}
		return nil
	}
	store := kafka.NewStore(ks)
	cons, err := stream.NewConsumer(s, h, stream.WithGroup("billing"), stream.WithCheckpointStore(store),
		stream.WithOnExhausted(stream.Halt), stream.WithDrainTimeout(time.Hour),
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 5, Initial: time.Millisecond, Multiplier: 1, MaxInterval: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	defer func() { cancel(); <-done }()

	select {
	case <-inflight:
	case <-time.After(30 * time.Second):
		t.Fatal("the record was not handed to the handler within 30s")
	}
	c.Kfake().ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		hb := req.(*kmsg.HeartbeatRequest)
		if hb.Group != "billing" {
			c.Kfake().KeepControl()
			return nil, nil, false
		}
		resp := hb.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	select {
	case <-cancelled:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler in flight was not cancelled within 30s of the member being fenced")
	}
	key := checkpoint.Key{Consumer: "billing", Stream: "orders", Partition: "0"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cp, err := store.Load(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Batch == nil && string(cp.Committed) == string(kafka.PointerAt(1)) {
			mu.Lock()
			defer mu.Unlock()
			if calls["a"] != 2 || calls["b"] != 1 {
				t.Errorf("calls = %v, want a twice (cancelled by the loss, then after the rejoin) and b once", calls)
			}
			if cp.Counts.Succeeded != 2 {
				t.Errorf("counts = %+v, want 2 succeeded", cp.Counts)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not committed past both records within 30s of the loss: %+v", cp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
