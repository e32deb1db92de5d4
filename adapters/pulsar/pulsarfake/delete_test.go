package pulsarfake_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/unistream-go/unistream/adapters/pulsar/pulsarfake"
)

// TestDeleteTopicSurvivesRestart deletes a partitioned and a plain topic;
// the journal remembers it, so a broker restarted on the same data folder
// does not bring them back. A topic that does not exist is
// ErrTopicNotFound.
func TestDeleteTopicSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() *pulsarfake.Broker {
		b, err := pulsarfake.NewBroker(pulsarfake.WithDataDir(dir), pulsarfake.WithAddr(freeAddr(t)))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := start()
	for name, parts := range map[string]int{"gone-parts": 2, "gone-plain": 0, "stays": 1} {
		if err := b.CreateTopic(name, parts); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"gone-parts", "gone-plain"} {
		if err := b.DeleteTopic(name); err != nil {
			t.Fatalf("DeleteTopic(%s): %v", name, err)
		}
	}
	if err := b.DeleteTopic("gone-plain"); !errors.Is(err, pulsarfake.ErrTopicNotFound) {
		t.Errorf("second DeleteTopic: %v, want ErrTopicNotFound", err)
	}
	want := []string{"persistent://public/default/stays"}
	if got := b.Topics(); !slices.Equal(got, want) {
		t.Errorf("topics after the deletes %v, want %v", got, want)
	}
	b.Close()
	b = start()
	defer b.Close()
	if got := b.Topics(); !slices.Equal(got, want) {
		t.Errorf("topics after a restart %v, want %v", got, want)
	}
}
