package dlq

// RecordKey names the record an envelope holds by where its consumer read
// it: the consumer name and the record's source scheme, stream, partition
// and pointer. Two envelopes with one RecordKey hold the same record,
// dead-lettered twice: a crash between the DLQ write and the checkpoint
// save that records it makes the restarted consumer dead-letter the record
// again, which the at-least-once contract allows. RecordKey is comparable,
// for use as a map key.
type RecordKey struct {
	Consumer, Scheme, Stream, Partition string
	// Pointer is the source pointer's bytes.
	Pointer string
}

// RecordKey returns the key of the record e holds.
func (e *Envelope) RecordKey() RecordKey {
	return RecordKey{Consumer: e.Consumer, Scheme: e.Source.Scheme, Stream: e.Source.Stream,
		Partition: e.Source.Partition, Pointer: string(e.Source.Pointer)}
}

// Duplicates returns, for each envelope of envs, the index in envs of the
// first envelope before it that holds the same record (the same
// RecordKey), or -1 if there is none. An envelope without a source
// pointer is never taken for a duplicate: nothing says which record it
// holds. Read a DLQ whole (ReadFile, a FileReader, DecodeRecord on each
// record of a DLQ stream) and call Duplicates to show or replay each
// record once.
func Duplicates(envs []Envelope) []int {
	out := make([]int, len(envs))
	first := make(map[RecordKey]int, len(envs))
	for i := range envs {
		out[i] = -1
		if len(envs[i].Source.Pointer) == 0 {
			continue
		}
		k := envs[i].RecordKey()
		if j, ok := first[k]; ok {
			out[i] = j
			continue
		}
		first[k] = i
	}
	return out
}

// Unique returns envs without the envelopes Duplicates finds (keeping the
// first envelope of each record, in order) and how many it left out. envs
// is not changed.
func Unique(envs []Envelope) (unique []Envelope, duplicates int) {
	dup := Duplicates(envs)
	unique = make([]Envelope, 0, len(envs))
	for i := range envs {
		if dup[i] >= 0 {
			duplicates++
			continue
		}
		unique = append(unique, envs[i])
	}
	return unique, duplicates
}
