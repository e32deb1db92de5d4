package kinesisfake

import "slices"

// fault is one injected fault: the next n calls of op on stream fail with
// code, or (indexes set) the next PutRecords fails some entries.
type fault struct {
	stream  string // "" = any stream
	op      string
	n       int
	code    string
	indexes []int
	follow  bool // fail the later entries of a failed entry's shard too
}

func (s *Server) addFault(f *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Throttle makes the next n calls of operation op (such as "GetRecords" or
// "PutRecords") on stream fail with ProvisionedThroughputExceededException
// (LimitExceededException for control-plane operations). An empty stream
// matches every stream.
func (s *Server) Throttle(stream, op string, n int) {
	code := ErrLimitExceeded
	switch op {
	case "GetRecords", "PutRecord", "PutRecords":
		code = ErrThroughputExceeded
	}
	s.Fail(stream, op, n, code)
}

// Fail makes the next n calls of operation op on stream fail whole with the
// error code (InternalFailure answers HTTP 500, other codes 400). An empty
// stream matches every stream.
func (s *Server) Fail(stream, op string, n int, code string) {
	if n <= 0 {
		return
	}
	s.addFault(&fault{stream: stream, op: op, n: n, code: code})
}

// FailRecords makes the next PutRecords call on stream fail the entries at
// the given indexes with ProvisionedThroughputExceededException, and every
// later entry of the same call that goes to the shard of a failed entry,
// as a shard over its write limit does on AWS (so that a shard never gets
// a hole). Nothing of a failed entry is stored.
func (s *Server) FailRecords(stream string, indexes ...int) {
	s.addFault(&fault{stream: stream, op: "PutRecords", n: 1, indexes: slices.Clone(indexes), follow: true})
}

// FailRecordsOnly is FailRecords without the later entries of the failed
// entries' shards: only the given entries fail, so later entries of their
// shards are stored after a hole (AWS does not promise the order of
// PutRecords entries). Clients must notice.
func (s *Server) FailRecordsOnly(stream string, indexes ...int) {
	s.addFault(&fault{stream: stream, op: "PutRecords", n: 1, indexes: slices.Clone(indexes)})
}

// ExpireIterators makes every shard iterator handed out so far expired:
// GetRecords answers ExpiredIteratorException for them.
func (s *Server) ExpireIterators() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireAt = s.now()
}

// Clear removes the injected faults of stream; an empty stream removes
// every fault.
func (s *Server) Clear(stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = slices.DeleteFunc(s.faults, func(f *fault) bool { return stream == "" || f.stream == stream })
}

// takeFault consumes the first whole-call fault of op on stream. The
// caller holds s.mu.
func (s *Server) takeFault(stream, op string) *apiError {
	for i, f := range s.faults {
		if f.op != op || f.indexes != nil || (f.stream != "" && f.stream != stream) {
			continue
		}
		f.n--
		if f.n <= 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return errf(f.code, "injected fault: %s on stream %s", op, stream)
	}
	return nil
}

// takePartial consumes the first PutRecords entry fault of stream. The
// caller holds s.mu.
func (s *Server) takePartial(stream string) *fault {
	for i, f := range s.faults {
		if f.op == "PutRecords" && f.indexes != nil && (f.stream == "" || f.stream == stream) {
			s.faults = slices.Delete(s.faults, i, i+1)
			return f
		}
	}
	return nil
}
