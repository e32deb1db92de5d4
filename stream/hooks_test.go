package stream_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

type tenantKey struct{}

// Put hooks see Put's context and the record, in the order given, and
// the record is sent as they leave it; the caller's record is untouched.
func TestWithPutHook(t *testing.T) {
	ctx := context.Background()
	var order []string
	stamp := func(ctx context.Context, r *stream.Record) {
		order = append(order, "stamp")
		if v, ok := ctx.Value(tenantKey{}).(string); ok {
			r.Headers = append(slices.Clip(r.Headers), stream.Header{Key: "tenant", Value: []byte(v)})
		}
	}
	second := func(_ context.Context, r *stream.Record) {
		order = append(order, "second:"+string(r.Headers[len(r.Headers)-1].Key))
	}
	p, err := stream.OpenProducer(ctx, "mem://put-hook?partitions=1", stream.WithoutWAL(),
		stream.WithPutHook(stamp), stream.WithPutHook(second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	in := stream.Record{ID: "r", Headers: []stream.Header{{Key: "a", Value: []byte("b")}}}
	if err := p.Put(context.WithValue(ctx, tenantKey{}, "acme"), in); err != nil {
		t.Fatal(err)
	}
	if len(in.Headers) != 1 {
		t.Fatalf("the caller's record changed: %v", in.Headers)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"stamp", "second:tenant"}) {
		t.Fatalf("hooks ran as %v, want stamp then second seeing its header", order)
	}
	rd, err := p.Stream().OpenReader(ctx, "0", stream.Earliest())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	recs, err := rd.Fetch(ctx, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("fetch: %d records, %v; want 1", len(recs), err)
	}
	if h := recs[0].Headers; len(h) != 2 || h[1].Key != "tenant" || string(h[1].Value) != "acme" {
		t.Fatalf("sent headers %v, want a and tenant=acme", h)
	}
	if _, err := stream.NewProducer(p.Stream(), stream.WithoutWAL(), stream.WithPutHook(nil)); err == nil || !strings.Contains(err.Error(), "WithPutHook") {
		t.Fatalf("WithPutHook(nil): %v, want an error naming WithPutHook", err)
	}
}

// Middleware wraps every attempt, the first given outermost, and sees the
// attempt in its context; what it returns is the attempt's outcome.
func TestWithHandlerMiddleware(t *testing.T) {
	ctx := context.Background()
	p, err := stream.OpenProducer(ctx, "mem://handler-middleware?partitions=1", stream.WithoutWAL())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Put(ctx, stream.Record{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var calls []string
	mw := func(name string) func(stream.Handler) stream.Handler {
		return func(next stream.Handler) stream.Handler {
			return func(ctx context.Context, r *stream.Record) error {
				a, _ := stream.AttemptOf(ctx)
				calls = append(calls, name+":"+string(rune('0'+a.Number)))
				return next(ctx, r)
			}
		}
	}
	runCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	c, err := stream.OpenConsumer(ctx, "mem://handler-middleware", func(ctx context.Context, r *stream.Record) error {
		calls = append(calls, "handler")
		if len(calls) < 4 {
			return errors.New("once more")
		}
		stop()
		return nil
	}, stream.WithCheckpointStore(checkpoint.NewMemoryStore()), stream.WithOnExhausted(stream.Halt),
		stream.WithRetry(stream.RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Multiplier: 1, MaxInterval: time.Millisecond}),
		stream.WithPollInterval(time.Millisecond),
		stream.WithHandlerMiddleware(mw("outer")), stream.WithHandlerMiddleware(mw("inner")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(runCtx); err != nil {
		t.Fatal(err)
	}
	want := []string{"outer:1", "inner:1", "handler", "outer:2", "inner:2", "handler"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	if _, err := stream.NewConsumer(p.Stream(), func(context.Context, *stream.Record) error { return nil },
		stream.WithCheckpointStore(checkpoint.NewMemoryStore()), stream.WithOnExhausted(stream.Halt),
		stream.WithHandlerMiddleware(func(stream.Handler) stream.Handler { return nil })); err == nil || !strings.Contains(err.Error(), "WithHandlerMiddleware") {
		t.Fatalf("a middleware returning a nil Handler: %v, want an error naming WithHandlerMiddleware", err)
	}
}
