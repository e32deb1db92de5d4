package conformance

// This file holds the env helpers that make streams: URLs and splits.

// split splits partition p of st through the harness and counts the net
// new partitions against the shard budget.
func (e *env) split(st *strm, p string) []string {
	e.t.Helper()
	children, err := e.h.Split(e.t, st.url, p)
	if err != nil {
		e.t.Fatalf("Split(%s): %v", p, err)
	}
	if len(children) > 1 {
		e.h.ledger.grow(st.url, len(children)-1)
	}
	return children
}

// mustURL makes a fresh stream with n partitions and returns its URL,
// without opening it (the caller opens and closes it).
func (e *env) mustURL(n int) string {
	e.t.Helper()
	url, err := e.h.NewStream(e.t, StreamSpec{Partitions: n})
	if err != nil {
		e.t.Fatalf("harness %s: NewStream: %v", e.h.Name, err)
	}
	e.lastURL = url
	return url
}
