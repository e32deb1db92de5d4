package memstream_test

import (
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/stream/memstream"
)

// conformanceSeq numbers the streams the conformance harness creates, so
// every scenario gets fresh ones in the process-wide Default broker.
var conformanceSeq atomic.Uint64

// conformanceHarness describes memstream to the conformance suite: fresh
// mem:// streams in the Default broker (deleted when the test ends), every
// fault memstream injects, and Split for resharding. memstream starts
// nothing, so it needs no Docker engine on any target.
func conformanceHarness(t *testing.T) conformance.Harness {
	return conformance.Harness{
		Name: "mem",
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			name := fmt.Sprintf("conformance-%d", conformanceSeq.Add(1))
			t.Cleanup(func() { memstream.Default().Delete(name) })
			return fmt.Sprintf("mem://%s?partitions=%d", name, spec.Partitions), nil
		},
		CanInjectFaults: true,
		Faults: func(t conformance.T, rawURL string) (conformance.Faults, error) {
			s, err := memHandle(t, rawURL)
			if err != nil {
				return nil, err
			}
			return memFaults{s}, nil
		},
		CanSplit: true,
		Split: func(t conformance.T, rawURL, partition string) ([]string, error) {
			s, err := memHandle(t, rawURL)
			if err != nil {
				return nil, err
			}
			children, err := s.Split(partition)
			return children[:], err
		},
	}
}

// memHandle returns a handle on the Default broker's stream named by a
// mem:// URL, closed when the test ends.
func memHandle(t conformance.T, rawURL string) (*memstream.Stream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := memstream.Default().Stream(u.Host)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.Close() })
	return s, nil
}

// memFaults injects memstream's faults; it is a conformance.Faults and a
// conformance.PartialWriteFaults.
type memFaults struct{ s *memstream.Stream }

func (f memFaults) FailFetches(n int)          { f.s.FailFetches(n, nil) }
func (f memFaults) FailWrites(n int)           { f.s.FailWrites(n, nil) }
func (f memFaults) FailRecords(indexes ...int) { f.s.FailRecords(indexes...) }
func (f memFaults) Clear()                     { f.s.ClearFaults() }

var _ conformance.PartialWriteFaults = memFaults{}
