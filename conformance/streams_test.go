package conformance_test

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/unistream-go/unistream/conformance"
	"github.com/unistream-go/unistream/stream/memstream"
)

// limitedCluster is a memstream "cluster" with an account shard limit, as
// Kinesis has: creating a stream that would take the shards of the
// existing ones above limit fails with LimitExceededException.
type limitedCluster struct {
	prefix string
	limit  int

	mu      sync.Mutex
	n       int
	live    map[string]int // stream name -> shards
	peak    int
	deleted []string
	failDel error
}

func newLimitedCluster(t *testing.T, limit int) *limitedCluster {
	c := &limitedCluster{prefix: strings.ReplaceAll(t.Name(), "/", "-"), limit: limit, live: map[string]int{}}
	t.Cleanup(func() {
		for name := range c.live {
			memstream.Default().Delete(name)
		}
	})
	return c
}

func (c *limitedCluster) harness() conformance.Harness {
	return conformance.Harness{
		Name: "mem",
		NewStream: func(t conformance.T, spec conformance.StreamSpec) (string, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			sum := 0
			for _, n := range c.live {
				sum += n
			}
			if sum+spec.Partitions > c.limit {
				return "", fmt.Errorf("LimitExceededException: shard limit: %d shards in use, %d asked. Limit: %d", sum, spec.Partitions, c.limit)
			}
			c.n++
			name := fmt.Sprintf("%s-%d", c.prefix, c.n)
			c.live[name] = spec.Partitions
			c.peak = max(c.peak, sum+spec.Partitions)
			return fmt.Sprintf("mem://%s?partitions=%d", name, spec.Partitions), nil
		},
		DeleteStream: func(t conformance.T, url string) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.failDel != nil {
				return c.failDel
			}
			name := strings.TrimPrefix(streamLabel(url), "mem://")
			memstream.Default().Delete(name)
			delete(c.live, name)
			c.deleted = append(c.deleted, name)
			return nil
		},
	}
}

func streamLabel(url string) string {
	url, _, _ = strings.Cut(url, "?")
	return url
}

// twoScenarios make streams of 4 (round trip) and 2 + 1 (DLQ) partitions,
// each once per store (memory, file).
var twoScenarios = regexp.MustCompile(`^(01_round_trip|05_exhausted_to_dlq)$`)

// TestStreamsDeletedWithinShardLimit runs scenarios whose streams add up to
// far more shards than the cluster allows: each scenario deletes its
// streams when it ends, so the next one finds its shards free, and the
// report lists each stream as deleted.
func TestStreamsDeletedWithinShardLimit(t *testing.T) {
	c := newLimitedCluster(t, 4)
	h := c.harness()
	h.MaxShards = 4
	var log bytes.Buffer
	rep := conformance.RunStandalone(h, &log, twoScenarios)
	if rep.Failed() {
		t.Fatalf("report failed: %+v\n%s", rep.Results, log.String())
	}
	if len(c.live) != 0 {
		t.Errorf("streams left on the cluster: %v", c.live)
	}
	var listed []string
	for _, r := range rep.Results {
		if len(r.Streams) == 0 {
			t.Errorf("%s/%s lists no streams", r.Scenario, r.Store)
		}
		for _, s := range r.Streams {
			if s.State != conformance.StreamDeleted || s.Partitions == 0 {
				t.Errorf("%s/%s: stream %+v, want deleted with its partitions", r.Scenario, r.Store, s)
			}
			listed = append(listed, s.Name)
		}
	}
	slices.Sort(listed)
	deleted := slices.Clone(c.deleted)
	slices.Sort(deleted)
	if !slices.Equal(listed, deleted) || len(listed) != 6 {
		t.Errorf("report lists streams %v, the cluster deleted %v; want the same 6", listed, deleted)
	}
	if c.peak > 4 {
		t.Errorf("peak %d shards, budget 4", c.peak)
	}
	if !strings.Contains(log.String(), "deleted stream "+c.prefix) {
		t.Errorf("log lacks the deletions:\n%s", log.String())
	}
}

// TestShardBudget checks that the suite never creates a stream that would
// take the shards it holds above MaxShards: a scenario that alone needs
// more, or that comes after kept streams, fails naming the budget and the
// need, and the cluster's own limit is never hit.
func TestShardBudget(t *testing.T) {
	tests := []struct {
		name      string
		budget    int
		keep      bool
		want      map[string]conformance.Status
		wantWhy   string
		wantLimit bool
	}{
		{
			name: "a scenario needs more than the budget", budget: 3,
			want: map[string]conformance.Status{
				"01_round_trip/memory": conformance.Fail, "01_round_trip/file": conformance.Fail,
				"05_exhausted_to_dlq/memory": conformance.Pass, "05_exhausted_to_dlq/file": conformance.Pass,
			},
			wantWhy: "shard budget of 3 (MaxShards, --max-shards) exceeded: a stream of 4 shards would make 4; a scenario's streams are deleted when it ends",
		},
		{
			name: "kept streams hold the budget", budget: 6, keep: true,
			want: map[string]conformance.Status{
				"01_round_trip/memory": conformance.Pass, "01_round_trip/file": conformance.Fail,
				"05_exhausted_to_dlq/memory": conformance.Fail, "05_exhausted_to_dlq/file": conformance.Fail,
			},
			wantWhy: "shard budget of 6 (MaxShards, --max-shards) exceeded: a stream of 4 shards would make 8; 4 shards are held by streams this run made and has not deleted yet",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newLimitedCluster(t, tt.budget)
			h := c.harness()
			h.MaxShards, h.KeepStreams = tt.budget, tt.keep
			var log bytes.Buffer
			rep := conformance.RunStandalone(h, &log, twoScenarios)
			got := map[string]conformance.Status{}
			why := ""
			for _, r := range rep.Results {
				got[r.Scenario+"/"+r.Store] = r.Status
				if r.Status == conformance.Fail && why == "" {
					why = r.Reason
				}
				if strings.Contains(r.Reason, "LimitExceeded") {
					t.Errorf("%s/%s hit the cluster's limit: %s", r.Scenario, r.Store, r.Reason)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("results %v, want %v\n%s", got, tt.want, log.String())
			}
			if !strings.Contains(why, tt.wantWhy) {
				t.Errorf("first failure %q, want it to contain %q", why, tt.wantWhy)
			}
			if tt.keep {
				if len(c.deleted) != 0 || len(c.live) == 0 {
					t.Errorf("with KeepStreams: deleted %v, live %v; want none deleted", c.deleted, c.live)
				}
				for _, r := range rep.Results {
					for _, s := range r.Streams {
						if s.State != conformance.StreamKept {
							t.Errorf("%s/%s: stream %+v, want kept", r.Scenario, r.Store, s)
						}
					}
				}
			}
		})
	}
}

// TestStreamDeletionFailure: a stream the harness could not delete fails
// its scenario, is listed as not deleted with the reason, and keeps its
// shards counted.
func TestStreamDeletionFailure(t *testing.T) {
	c := newLimitedCluster(t, 100)
	c.failDel = errors.New("cluster unreachable")
	h := c.harness()
	var log bytes.Buffer
	rep := conformance.RunStandalone(h, &log, regexp.MustCompile(`^12_pointer_codec$`))
	if len(rep.Results) != 1 {
		t.Fatalf("results %+v", rep.Results)
	}
	r := rep.Results[0]
	if r.Status != conformance.Fail || !strings.Contains(r.Reason, "DeleteStream") || !strings.Contains(r.Reason, "cluster unreachable") {
		t.Errorf("result %+v, want a failure naming DeleteStream and its error", r)
	}
	if len(r.Streams) != 1 || r.Streams[0].State != conformance.StreamNotDeleted || r.Streams[0].Err != "cluster unreachable" {
		t.Errorf("streams %+v, want one not deleted with the reason", r.Streams)
	}
}

// TestHarnessTargetExternal: a harness that makes streams on the user's
// cluster says so, and the report says external without UNISTREAM_TARGET;
// its NewStream is used as is.
func TestHarnessTargetExternal(t *testing.T) {
	t.Setenv(conformance.EnvTarget, "")
	c := newLimitedCluster(t, 100)
	h := c.harness()
	h.Target = conformance.External
	rep := conformance.RunStandalone(h, nil, regexp.MustCompile(`^12_pointer_codec$`))
	if rep.Target != conformance.External || rep.Failed() {
		t.Fatalf("report target %q, results %+v; want external, passing", rep.Target, rep.Results)
	}
	if len(c.deleted) != 1 {
		t.Errorf("the harness made and deleted %v, want its one stream", c.deleted)
	}
}
