package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/memstream"
)

var conformanceSeq atomic.Uint64

// TestConformance runs the conformance suite's consumer scenarios (crash
// and resume, retries, DLQ, halt, leases, store outages, …) on memstream
// with the PostgreSQL store, each scenario on a table of its own.
func TestConformance(t *testing.T) {
	admin(t)
	pg := conformance.StoreFactory{Name: "postgres", New: func(t conformance.T) (checkpoint.Store, error) {
		s, err := New(context.Background(), admin(t), WithTable(tableName(t)))
		if err == nil {
			t.Cleanup(func() { s.Close() })
		}
		return s, err
	}}
	stores := []conformance.StoreFactory{pg}
	conformance.Run(t, conformance.Harness{
		Name: "mem",
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			name := fmt.Sprintf("postgres-conformance-%d", conformanceSeq.Add(1))
			t.Cleanup(func() { memstream.Default().Delete(name) })
			return fmt.Sprintf("mem://%s?partitions=%d", name, spec.Partitions), nil
		},
		Stores:      stores,
		GroupStores: stores,
		LeaseStores: stores,
	})
}
