package kinesisfake

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrValidation is the code of a request that breaks a field constraint.
const ErrValidation = "ValidationException"

var handlers = map[string]func(*Server, []byte) (any, *apiError){
	"CreateStream":          (*Server).createStream,
	"DeleteStream":          (*Server).deleteStream,
	"DescribeStream":        (*Server).describeStream,
	"DescribeStreamSummary": (*Server).describeStreamSummary,
	"ListStreams":           (*Server).listStreams,
	"ListShards":            (*Server).listShards,
	"PutRecord":             (*Server).putRecord,
	"PutRecords":            (*Server).putRecords,
	"GetShardIterator":      (*Server).getShardIterator,
	"GetRecords":            (*Server).getRecords,
	"SplitShard":            (*Server).splitShard,
	"MergeShards":           (*Server).mergeShards,
}

// epoch is a timestamp as JSON 1.1 carries it: seconds since 1970 as a
// number.
type epoch float64

func toEpoch(t time.Time) epoch { return epoch(float64(t.UnixNano()) / 1e9) }

func (e epoch) time() time.Time {
	sec, frac := math.Modf(float64(e))
	return time.Unix(int64(sec), int64(math.Round(frac*1e9)))
}

// streamRef names a stream by name or ARN.
type streamRef struct {
	StreamName string
	StreamARN  string
}

func (s *Server) arn(name string) string {
	return "arn:aws:kinesis:" + s.cfg.region + ":" + s.cfg.account + ":stream/" + name
}

// lookup finds a stream. The caller holds s.mu.
func (s *Server) lookup(ref streamRef) (*stream, *apiError) {
	name := ref.StreamName
	if ref.StreamARN != "" {
		i := strings.LastIndex(ref.StreamARN, ":stream/")
		if !strings.HasPrefix(ref.StreamARN, "arn:") || i < 0 {
			return nil, errf(ErrInvalidArgument, "StreamARN %q: expected arn:aws:kinesis:REGION:ACCOUNT:stream/NAME", ref.StreamARN)
		}
		arnName := ref.StreamARN[i+len(":stream/"):]
		if name != "" && name != arnName {
			return nil, errf(ErrInvalidArgument, "StreamName %q and StreamARN %q name different streams", name, ref.StreamARN)
		}
		name = arnName
	}
	if name == "" {
		return nil, errf(ErrInvalidArgument, "expected StreamName or StreamARN")
	}
	st, ok := s.streams[name]
	if !ok || (ref.StreamARN != "" && ref.StreamARN != st.arn) {
		return nil, errf(ErrResourceNotFound, "Stream %s under account %s not found.", name, s.cfg.account)
	}
	if st.status != "ACTIVE" && !s.now().Before(st.readyAt) {
		st.status = "ACTIVE"
	}
	return st, nil
}

// validName checks a stream name: 1 to 128 of [a-zA-Z0-9_.-].
func validName(n string) bool {
	if n == "" || len(n) > 128 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// ---- streams ----

func (s *Server) createStream(body []byte) (any, *apiError) {
	var in struct {
		StreamName        string
		ShardCount        *int32
		StreamModeDetails *struct{ StreamMode string }
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if !validName(in.StreamName) {
		return nil, errf(ErrValidation, "StreamName %q: expected 1 to 128 characters of [a-zA-Z0-9_.-]", in.StreamName)
	}
	n := int32(4) // on-demand streams start with 4 shards
	if in.ShardCount != nil {
		n = *in.ShardCount
	} else if in.StreamModeDetails == nil || in.StreamModeDetails.StreamMode != "ON_DEMAND" {
		return nil, errf(ErrInvalidArgument, "ShardCount is required for a PROVISIONED stream")
	}
	if n < 1 || n > seqShardSlots/2 {
		return nil, errf(ErrValidation, "ShardCount %d: expected 1 to %d", n, seqShardSlots/2)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.takeFault(in.StreamName, "CreateStream"); e != nil {
		return nil, e
	}
	if _, ok := s.streams[in.StreamName]; ok {
		return nil, errf(ErrResourceInUse, "Stream %s under account %s already exists.", in.StreamName, s.cfg.account)
	}
	now := s.now()
	s.gen++
	st := &stream{name: in.StreamName, arn: s.arn(in.StreamName), gen: s.gen, status: "CREATING", created: now,
		readyAt: now.Add(s.cfg.createDelay), retention: 24}
	if s.cfg.createDelay <= 0 {
		st.status = "ACTIVE"
	}
	width := new(big.Int).Add(maxHashKey, big.NewInt(1))
	width.Quo(width, big.NewInt(int64(n)))
	for i := range int(n) {
		start := new(big.Int).Mul(width, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, width), big.NewInt(1))
		if i == int(n)-1 {
			end = new(big.Int).Set(maxHashKey)
		}
		s.counter++
		st.shards = append(st.shards, &shard{index: i, id: shardID(i), hashStart: start, hashEnd: end, startN: s.counter, created: now})
	}
	s.streams[in.StreamName] = st
	return nil, nil
}

func (s *Server) deleteStream(body []byte) (any, *apiError) {
	var in streamRef
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.lookup(in)
	if e != nil {
		return nil, e
	}
	if e := s.takeFault(st.name, "DeleteStream"); e != nil {
		return nil, e
	}
	delete(s.streams, st.name)
	return nil, nil
}

type jsonHashKeyRange struct {
	StartingHashKey string
	EndingHashKey   string
}

type jsonSeqRange struct {
	StartingSequenceNumber string
	EndingSequenceNumber   *string `json:",omitempty"`
}

type jsonShard struct {
	ShardId               string
	ParentShardId         *string `json:",omitempty"`
	AdjacentParentShardId *string `json:",omitempty"`
	HashKeyRange          jsonHashKeyRange
	SequenceNumberRange   jsonSeqRange
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (sh *shard) json() jsonShard {
	j := jsonShard{
		ShardId: sh.id, ParentShardId: strp(sh.parent), AdjacentParentShardId: strp(sh.adjacent),
		HashKeyRange:        jsonHashKeyRange{StartingHashKey: sh.hashStart.String(), EndingHashKey: sh.hashEnd.String()},
		SequenceNumberRange: jsonSeqRange{StartingSequenceNumber: sh.startSeq()},
	}
	if sh.closed {
		j.SequenceNumberRange.EndingSequenceNumber = strp(sh.endSeq())
	}
	return j
}

type modeDetails struct{ StreamMode string }

func (s *Server) describeStreamSummary(body []byte) (any, *apiError) {
	var in streamRef
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.lookup(in)
	if e != nil {
		return nil, e
	}
	if e := s.takeFault(st.name, "DescribeStreamSummary"); e != nil {
		return nil, e
	}
	type summary struct {
		StreamName              string
		StreamARN               string
		StreamStatus            string
		StreamModeDetails       modeDetails
		RetentionPeriodHours    int32
		StreamCreationTimestamp epoch
		EnhancedMonitoring      []struct{ ShardLevelMetrics []string }
		EncryptionType          string
		OpenShardCount          int
		ConsumerCount           int
	}
	return map[string]summary{"StreamDescriptionSummary": {
		StreamName: st.name, StreamARN: st.arn, StreamStatus: st.status, StreamModeDetails: modeDetails{"PROVISIONED"},
		RetentionPeriodHours: st.retention, StreamCreationTimestamp: toEpoch(st.created),
		EnhancedMonitoring: []struct{ ShardLevelMetrics []string }{{ShardLevelMetrics: []string{}}},
		EncryptionType:     "NONE", OpenShardCount: len(st.openShards()),
	}}, nil
}

func (s *Server) describeStream(body []byte) (any, *apiError) {
	var in struct {
		streamRef
		Limit                 *int32
		ExclusiveStartShardId string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10000 {
			return nil, errf(ErrValidation, "Limit %d: expected 1 to 10000", *in.Limit)
		}
		limit = int(*in.Limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.lookup(in.streamRef)
	if e != nil {
		return nil, e
	}
	if e := s.takeFault(st.name, "DescribeStream"); e != nil {
		return nil, e
	}
	var shards []jsonShard
	more := false
	for _, sh := range st.shards {
		if in.ExclusiveStartShardId != "" && sh.id <= in.ExclusiveStartShardId {
			continue
		}
		if len(shards) == limit {
			more = true
			break
		}
		shards = append(shards, sh.json())
	}
	type desc struct {
		StreamName              string
		StreamARN               string
		StreamStatus            string
		StreamModeDetails       modeDetails
		Shards                  []jsonShard
		HasMoreShards           bool
		RetentionPeriodHours    int32
		StreamCreationTimestamp epoch
		EnhancedMonitoring      []struct{ ShardLevelMetrics []string }
		EncryptionType          string
	}
	if shards == nil {
		shards = []jsonShard{}
	}
	return map[string]desc{"StreamDescription": {
		StreamName: st.name, StreamARN: st.arn, StreamStatus: st.status, StreamModeDetails: modeDetails{"PROVISIONED"},
		Shards: shards, HasMoreShards: more, RetentionPeriodHours: st.retention, StreamCreationTimestamp: toEpoch(st.created),
		EnhancedMonitoring: []struct{ ShardLevelMetrics []string }{{ShardLevelMetrics: []string{}}}, EncryptionType: "NONE",
	}}, nil
}

func (s *Server) listStreams(body []byte) (any, *apiError) {
	var in struct {
		Limit                    *int32
		ExclusiveStartStreamName string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	limit := 100
	if in.Limit != nil && *in.Limit > 0 {
		limit = int(*in.Limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.streams))
	for n := range s.streams {
		if n > in.ExclusiveStartStreamName {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	more := len(names) > limit
	if more {
		names = names[:limit]
	}
	return map[string]any{"StreamNames": names, "HasMoreStreams": more}, nil
}

// ---- ListShards ----

type shardFilter struct {
	Type      string
	ShardId   string
	Timestamp *epoch
}

// listToken is the state a ListShards NextToken carries.
type listToken struct {
	name   string
	gen    uint64
	after  int // index of the last shard returned
	filter shardFilter
}

func (t listToken) encode() string {
	ts := ""
	if t.filter.Timestamp != nil {
		ts = strconv.FormatFloat(float64(*t.filter.Timestamp), 'f', -1, 64)
	}
	raw := strings.Join([]string{"lst1", t.name, strconv.FormatUint(t.gen, 10), strconv.Itoa(t.after), t.filter.Type, t.filter.ShardId, ts}, "\x00")
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

func decodeListToken(tok string) (listToken, bool) {
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return listToken{}, false
	}
	p := strings.Split(string(raw), "\x00")
	if len(p) != 7 || p[0] != "lst1" {
		return listToken{}, false
	}
	gen, err1 := strconv.ParseUint(p[2], 10, 64)
	after, err2 := strconv.Atoi(p[3])
	if err1 != nil || err2 != nil {
		return listToken{}, false
	}
	t := listToken{name: p[1], gen: gen, after: after, filter: shardFilter{Type: p[4], ShardId: p[5]}}
	if p[6] != "" {
		f, err := strconv.ParseFloat(p[6], 64)
		if err != nil {
			return listToken{}, false
		}
		e := epoch(f)
		t.filter.Timestamp = &e
	}
	return t, true
}

func (s *Server) listShards(body []byte) (any, *apiError) {
	var in struct {
		streamRef
		NextToken               string
		ExclusiveStartShardId   string
		MaxResults              *int32
		ShardFilter             *shardFilter
		StreamCreationTimestamp *epoch
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	max := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10000 {
			return nil, errf(ErrValidation, "MaxResults %d: expected 1 to 10000", *in.MaxResults)
		}
		max = int(*in.MaxResults)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := listToken{after: -1}
	var st *stream
	if in.NextToken != "" {
		if in.StreamName != "" || in.StreamARN != "" || in.ExclusiveStartShardId != "" || in.ShardFilter != nil {
			return nil, errf(ErrInvalidArgument, "NextToken and StreamName (or StreamARN, ExclusiveStartShardId, ShardFilter) cannot be provided together.")
		}
		t, ok := decodeListToken(in.NextToken)
		if !ok {
			return nil, errf(ErrInvalidArgument, "NextToken %q is not a token this server handed out", in.NextToken)
		}
		tok = t
		var e *apiError
		if st, e = s.lookup(streamRef{StreamName: t.name}); e != nil {
			return nil, e
		}
		if st.gen != t.gen {
			return nil, errf(ErrExpiredNextToken, "NextToken belongs to a deleted stream %s", t.name)
		}
	} else {
		var e *apiError
		if st, e = s.lookup(in.streamRef); e != nil {
			return nil, e
		}
		tok.name, tok.gen = st.name, st.gen
		if in.ShardFilter != nil {
			tok.filter = *in.ShardFilter
		}
		if in.ExclusiveStartShardId != "" {
			if sh := st.shardByID(in.ExclusiveStartShardId); sh != nil {
				tok.after = sh.index
			} else if !strings.HasPrefix(in.ExclusiveStartShardId, "shardId-") {
				return nil, errf(ErrInvalidArgument, "ExclusiveStartShardId %q: expected a shard id such as shardId-000000000000", in.ExclusiveStartShardId)
			} else {
				tok.after = len(st.shards) // after every shard
				for _, sh := range st.shards {
					if sh.id > in.ExclusiveStartShardId {
						tok.after = sh.index - 1
						break
					}
				}
			}
		}
	}
	if e := s.takeFault(st.name, "ListShards"); e != nil {
		return nil, e
	}
	keep, e := s.filterFunc(st, tok.filter)
	if e != nil {
		return nil, e
	}
	var out []jsonShard
	next, last := "", tok.after
	for _, sh := range st.shards {
		if sh.index <= tok.after || !keep(sh) {
			continue
		}
		if len(out) == max {
			t := tok
			t.after = last // the index of the last shard returned
			next = t.encode()
			break
		}
		out = append(out, sh.json())
		last = sh.index
	}
	if out == nil {
		out = []jsonShard{}
	}
	res := map[string]any{"Shards": out}
	if next != "" {
		res["NextToken"] = next
	}
	return res, nil
}

// filterFunc returns the ShardFilter's predicate.
func (s *Server) filterFunc(st *stream, f shardFilter) (func(*shard) bool, *apiError) {
	openAt := func(t time.Time) func(*shard) bool {
		if t.Before(st.created) {
			t = st.created
		}
		return func(sh *shard) bool { return !sh.created.After(t) && (!sh.closed || sh.closedT.After(t)) }
	}
	switch f.Type {
	case "", "FROM_TRIM_HORIZON":
		return func(*shard) bool { return true }, nil
	case "AT_TRIM_HORIZON":
		return func(sh *shard) bool { return sh.parent == "" && sh.adjacent == "" }, nil
	case "AT_LATEST":
		return func(sh *shard) bool { return !sh.closed }, nil
	case "AFTER_SHARD_ID":
		sh := st.shardByID(f.ShardId)
		if f.ShardId == "" || sh == nil {
			return nil, errf(ErrInvalidArgument, "ShardFilter AFTER_SHARD_ID needs the ShardId of a shard of %s, got %q", st.name, f.ShardId)
		}
		after := sh.index
		return func(x *shard) bool { return x.index > after }, nil
	case "AT_TIMESTAMP", "FROM_TIMESTAMP":
		if f.Timestamp == nil {
			return nil, errf(ErrInvalidArgument, "ShardFilter %s needs a Timestamp", f.Type)
		}
		t := f.Timestamp.time()
		if f.Type == "AT_TIMESTAMP" {
			return openAt(t), nil
		}
		return func(sh *shard) bool { return !sh.closed || sh.closedT.After(t) }, nil
	}
	return nil, errf(ErrValidation, "ShardFilter.Type %q: expected AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP or FROM_TIMESTAMP", f.Type)
}

// ---- writing ----

type putEntry struct {
	Data            []byte
	PartitionKey    string
	ExplicitHashKey string
}

// check validates one entry and returns its hash key.
func (e *putEntry) check(where string) (*big.Int, *apiError) {
	n := utf8.RuneCountInString(e.PartitionKey)
	if n < 1 || n > 256 || !utf8.ValidString(e.PartitionKey) {
		return nil, errf(ErrValidation, "%s.partitionKey: expected 1 to 256 Unicode characters, got %d", where, n)
	}
	if len(e.Data)+len(e.PartitionKey) > MaxRecordBytes {
		return nil, errf(ErrValidation, "%s: data and partition key are %d bytes: expected at most %d", where, len(e.Data)+len(e.PartitionKey), MaxRecordBytes)
	}
	if e.ExplicitHashKey != "" {
		h, ok := new(big.Int).SetString(e.ExplicitHashKey, 10)
		if !ok || h.Sign() < 0 || h.Cmp(maxHashKey) > 0 || strings.TrimLeft(e.ExplicitHashKey, "0123456789") != "" {
			return nil, errf(ErrInvalidArgument, "%s.explicitHashKey %q: expected a decimal from 0 to 2^128-1", where, e.ExplicitHashKey)
		}
		return h, nil
	}
	return hashKeyOf(e.PartitionKey), nil
}

// writable checks that a stream takes writes. The caller holds s.mu.
func writable(st *stream) *apiError {
	if st.status == "CREATING" {
		return errf(ErrResourceNotFound, "Stream %s is CREATING: it takes writes once ACTIVE", st.name)
	}
	return nil
}

// appendRecord stores one record in shard sh. The caller holds s.mu.
func (s *Server) appendRecord(sh *shard, e *putEntry) record {
	s.counter++
	r := record{n: s.counter, seq: seqString(s.counter, sh.index), partitionKey: e.PartitionKey,
		data: bytes.Clone(e.Data), arrival: s.now()}
	sh.records = append(sh.records, r)
	return r
}

func (s *Server) putRecord(body []byte) (any, *apiError) {
	var in struct {
		streamRef
		putEntry
		SequenceNumberForOrdering string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	h, aerr := in.putEntry.check("record")
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.lookup(in.streamRef)
	if e != nil {
		return nil, e
	}
	if e := writable(st); e != nil {
		return nil, e
	}
	if e := s.takeFault(st.name, "PutRecord"); e != nil {
		return nil, e
	}
	sh := st.route(h)
	if sh == nil {
		return nil, errf(ErrInternalFailure, "no open shard of %s holds hash key %s", st.name, h)
	}
	r := s.appendRecord(sh, &in.putEntry)
	return map[string]string{"SequenceNumber": r.seq, "ShardId": sh.id, "EncryptionType": "NONE"}, nil
}

func (s *Server) putRecords(body []byte) (any, *apiError) {
	var in struct {
		streamRef
		Records []putEntry
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.Records) < 1 || len(in.Records) > MaxPutRecordsEntries {
		return nil, errf(ErrValidation, "records: %d entries: expected 1 to %d", len(in.Records), MaxPutRecordsEntries)
	}
	hashes := make([]*big.Int, len(in.Records))
	total := 0
	for i := range in.Records {
		h, e := in.Records[i].check(fmt.Sprintf("records.%d.member", i+1))
		if e != nil {
			return nil, e
		}
		hashes[i] = h
		total += len(in.Records[i].Data) + len(in.Records[i].PartitionKey)
	}
	if total > MaxPutRecordsBytes {
		return nil, errf(ErrInvalidArgument, "Records size exceeds %d bytes: the request holds %d", MaxPutRecordsBytes, total)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.lookup(in.streamRef)
	if e != nil {
		return nil, e
	}
	if e := writable(st); e != nil {
		return nil, e
	}
	if e := s.takeFault(st.name, "PutRecords"); e != nil {
		return nil, e
	}
	partial := s.takePartial(st.name)
	type result struct {
		SequenceNumber string `json:",omitempty"`
		ShardId        string `json:",omitempty"`
		ErrorCode      string `json:",omitempty"`
		ErrorMessage   string `json:",omitempty"`
	}
	out := make([]result, len(in.Records))
	failedShards := map[*shard]bool{}
	failed := 0
	for i := range in.Records {
		sh := st.route(hashes[i])
		if sh == nil {
			out[i] = result{ErrorCode: ErrInternalFailure, ErrorMessage: "no open shard holds hash key " + hashes[i].String()}
			failed++
			continue
		}
		if partial != nil && (containsInt(partial.indexes, i) || partial.follow && failedShards[sh]) {
			failedShards[sh] = true
			out[i] = result{ErrorCode: ErrThroughputExceeded, ErrorMessage: fmt.Sprintf("Rate exceeded for shard %s in stream %s under account %s.", sh.id, st.name, s.cfg.account)}
			failed++
			continue
		}
		r := s.appendRecord(sh, &in.Records[i])
		out[i] = result{SequenceNumber: r.seq, ShardId: sh.id}
	}
	return map[string]any{"FailedRecordCount": failed, "Records": out, "EncryptionType": "NONE"}, nil
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// ---- reading ----

// iterator is the state a shard iterator carries.
type iterator struct {
	name   string
	gen    uint64
	shard  int
	pos    int // index of the next record in the shard
	issued time.Time
}

func (it iterator) encode() string {
	raw := strings.Join([]string{"itr1", it.name, strconv.FormatUint(it.gen, 10), strconv.Itoa(it.shard), strconv.Itoa(it.pos),
		strconv.FormatInt(it.issued.UnixNano(), 10)}, "\x00")
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

func decodeIterator(s string) (iterator, bool) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return iterator{}, false
	}
	p := strings.Split(string(raw), "\x00")
	if len(p) != 6 || p[0] != "itr1" {
		return iterator{}, false
	}
	gen, e1 := strconv.ParseUint(p[2], 10, 64)
	sh, e2 := strconv.Atoi(p[3])
	pos, e3 := strconv.Atoi(p[4])
	ns, e4 := strconv.ParseInt(p[5], 10, 64)
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil || sh < 0 || pos < 0 {
		return iterator{}, false
	}
	return iterator{name: p[1], gen: gen, shard: sh, pos: pos, issued: time.Unix(0, ns)}, true
}

func (s *Server) getShardIterator(body []byte) (any, *apiError) {
	var in struct {
		streamRef
		ShardId                string
		ShardIteratorType      string
		StartingSequenceNumber string
		Timestamp              *epoch
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.lookup(in.streamRef)
	if e != nil {
		return nil, e
	}
	if e := s.takeFault(st.name, "GetShardIterator"); e != nil {
		return nil, e
	}
	sh := st.shardByID(in.ShardId)
	if sh == nil {
		return nil, errf(ErrResourceNotFound, "Shard %s in stream %s under account %s does not exist", in.ShardId, st.name, s.cfg.account)
	}
	hasSeq := in.StartingSequenceNumber != ""
	pos := 0
	switch in.ShardIteratorType {
	case "TRIM_HORIZON", "LATEST":
		if hasSeq || in.Timestamp != nil {
			return nil, errf(ErrInvalidArgument, "Request specified %s and also a StartingSequenceNumber or Timestamp.", in.ShardIteratorType)
		}
		if in.ShardIteratorType == "LATEST" {
			pos = len(sh.records)
		}
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		if !hasSeq {
			return nil, errf(ErrInvalidArgument, "Request specified %s and no StartingSequenceNumber.", in.ShardIteratorType)
		}
		n, idx, err := parseSeq(in.StartingSequenceNumber)
		if err != nil {
			return nil, errf(ErrInvalidArgument, "StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid: %v",
				in.StartingSequenceNumber, sh.id, st.name, s.cfg.account, err)
		}
		if idx != sh.index || n < sh.startN || (sh.closed && n > sh.endN) {
			return nil, errf(ErrInvalidArgument, "Invalid StartingSequenceNumber. It encodes %s, while it was used in a call to a shard with %s", shardID(idx), sh.id)
		}
		if in.ShardIteratorType == "AFTER_SEQUENCE_NUMBER" {
			n++
		}
		pos = sh.search(n)
	case "AT_TIMESTAMP":
		if in.Timestamp == nil {
			return nil, errf(ErrInvalidArgument, "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP.")
		}
		t := in.Timestamp.time()
		pos = sort.Search(len(sh.records), func(i int) bool { return !sh.records[i].arrival.Before(t) })
	default:
		return nil, errf(ErrValidation, "ShardIteratorType %q: expected AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST or AT_TIMESTAMP", in.ShardIteratorType)
	}
	it := iterator{name: st.name, gen: st.gen, shard: sh.index, pos: pos, issued: s.now()}
	return map[string]string{"ShardIterator": it.encode()}, nil
}

func (s *Server) getRecords(body []byte) (any, *apiError) {
	var in struct {
		ShardIterator string
		Limit         *int32
		StreamARN     string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	limit := s.cfg.getRecordsMax
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 10000 {
			return nil, errf(ErrValidation, "Limit %d: expected 1 to 10000", *in.Limit)
		}
		limit = int(*in.Limit)
	}
	it, ok := decodeIterator(in.ShardIterator)
	if !ok {
		return nil, errf(ErrInvalidArgument, "Invalid ShardIterator.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.lookup(streamRef{StreamName: it.name})
	if e != nil {
		return nil, e
	}
	if st.gen != it.gen || it.shard >= len(st.shards) {
		return nil, errf(ErrResourceNotFound, "Shard %s in stream %s under account %s does not exist", shardID(it.shard), it.name, s.cfg.account)
	}
	if e := s.takeFault(st.name, "GetRecords"); e != nil {
		return nil, e
	}
	now := s.now()
	if now.Sub(it.issued) > s.cfg.expiry || !it.issued.After(s.expireAt) {
		return nil, errf(ErrExpiredIterator, "Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			it.issued.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123), s.cfg.expiry.Milliseconds())
	}
	sh := st.shards[it.shard]
	if it.pos > len(sh.records) {
		return nil, errf(ErrInvalidArgument, "Invalid ShardIterator.")
	}
	type jsonRecord struct {
		SequenceNumber              string
		ApproximateArrivalTimestamp epoch
		Data                        []byte
		PartitionKey                string
	}
	recs := []jsonRecord{}
	bytes := 0
	pos := it.pos
	for pos < len(sh.records) && len(recs) < limit {
		r := &sh.records[pos]
		if len(recs) > 0 && bytes+len(r.data) > MaxGetRecordsBytes {
			break
		}
		bytes += len(r.data)
		recs = append(recs, jsonRecord{SequenceNumber: r.seq, ApproximateArrivalTimestamp: toEpoch(r.arrival), Data: r.data, PartitionKey: r.partitionKey})
		pos++
	}
	behind := int64(0)
	if pos < len(sh.records) {
		behind = max(now.Sub(sh.records[pos].arrival).Milliseconds(), 0)
	}
	out := map[string]any{"Records": recs, "MillisBehindLatest": behind}
	if sh.closed && pos == len(sh.records) {
		var children []map[string]any
		for _, c := range st.shards {
			if c.parent == sh.id || c.adjacent == sh.id {
				parents := []string{c.parent}
				if c.adjacent != "" {
					parents = append(parents, c.adjacent)
				}
				children = append(children, map[string]any{"ShardId": c.id, "ParentShards": parents,
					"HashKeyRange": jsonHashKeyRange{StartingHashKey: c.hashStart.String(), EndingHashKey: c.hashEnd.String()}})
			}
		}
		out["ChildShards"] = children
	} else {
		out["NextShardIterator"] = iterator{name: st.name, gen: st.gen, shard: sh.index, pos: pos, issued: now}.encode()
	}
	return out, nil
}

// ---- resharding ----

// reshardable checks that a stream takes a split or merge. The caller
// holds s.mu.
func reshardable(st *stream) *apiError {
	if st.status != "ACTIVE" {
		return errf(ErrResourceInUse, "Stream %s under account is not ACTIVE: it is %s", st.name, st.status)
	}
	return nil
}

// openShard finds an open shard of st.
func (s *Server) openShard(st *stream, id, field string) (*shard, *apiError) {
	sh := st.shardByID(id)
	if sh == nil || id == "" {
		return nil, errf(ErrResourceNotFound, "%s %q: no such shard in stream %s under account %s", field, id, st.name, s.cfg.account)
	}
	if sh.closed {
		return nil, errf(ErrResourceInUse, "%s %s in stream %s under account %s has already been merged or split, and thus is not eligible for merging or splitting.", field, sh.id, st.name, s.cfg.account)
	}
	return sh, nil
}

// closeShard closes sh and marks the stream UPDATING. The caller holds s.mu.
func (s *Server) closeShard(st *stream, sh *shard, now time.Time) {
	sh.closed, sh.closedT, sh.endN = true, now, s.counter
	s.counter++
	st.readyAt = now.Add(s.cfg.updateDelay)
	if s.cfg.updateDelay > 0 {
		st.status = "UPDATING"
	}
}

func (s *Server) addShard(st *stream, parent, adjacent string, start, end *big.Int, now time.Time) {
	s.counter++
	i := len(st.shards)
	st.shards = append(st.shards, &shard{index: i, id: shardID(i), parent: parent, adjacent: adjacent,
		hashStart: start, hashEnd: end, startN: s.counter, created: now})
}

func (s *Server) splitShard(body []byte) (any, *apiError) {
	var in struct {
		streamRef
		ShardToSplit       string
		NewStartingHashKey string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.lookup(in.streamRef)
	if e != nil {
		return nil, e
	}
	if e := s.takeFault(st.name, "SplitShard"); e != nil {
		return nil, e
	}
	if e := reshardable(st); e != nil {
		return nil, e
	}
	if len(st.shards) >= seqShardSlots {
		return nil, errf(ErrLimitExceeded, "stream %s has %d shards: kinesisfake holds at most %d", st.name, len(st.shards), seqShardSlots)
	}
	sh, e := s.openShard(st, in.ShardToSplit, "ShardToSplit")
	if e != nil {
		return nil, e
	}
	k, ok := new(big.Int).SetString(in.NewStartingHashKey, 10)
	if !ok || strings.TrimLeft(in.NewStartingHashKey, "0123456789") != "" {
		return nil, errf(ErrInvalidArgument, "NewStartingHashKey %q: expected a decimal hash key", in.NewStartingHashKey)
	}
	if k.Cmp(sh.hashStart) <= 0 || k.Cmp(sh.hashEnd) > 0 {
		return nil, errf(ErrInvalidArgument, "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.",
			k, sh.id, st.name, s.cfg.account, sh.hashStart, sh.hashEnd)
	}
	now := s.now()
	s.closeShard(st, sh, now)
	s.addShard(st, sh.id, "", sh.hashStart, new(big.Int).Sub(k, big.NewInt(1)), now)
	s.addShard(st, sh.id, "", k, sh.hashEnd, now)
	return nil, nil
}

func (s *Server) mergeShards(body []byte) (any, *apiError) {
	var in struct {
		streamRef
		ShardToMerge         string
		AdjacentShardToMerge string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, e := s.lookup(in.streamRef)
	if e != nil {
		return nil, e
	}
	if e := s.takeFault(st.name, "MergeShards"); e != nil {
		return nil, e
	}
	if e := reshardable(st); e != nil {
		return nil, e
	}
	a, e := s.openShard(st, in.ShardToMerge, "ShardToMerge")
	if e != nil {
		return nil, e
	}
	b, e := s.openShard(st, in.AdjacentShardToMerge, "AdjacentShardToMerge")
	if e != nil {
		return nil, e
	}
	one := big.NewInt(1)
	lo, hi := a, b
	if b.hashStart.Cmp(a.hashStart) < 0 {
		lo, hi = b, a
	}
	if a == b || new(big.Int).Add(lo.hashEnd, one).Cmp(hi.hashStart) != 0 {
		return nil, errf(ErrInvalidArgument, "Shards %s and %s in stream %s under account %s are not an adjacent pair of shards eligible for merging",
			a.id, b.id, st.name, s.cfg.account)
	}
	now := s.now()
	s.closeShard(st, a, now)
	s.closeShard(st, b, now)
	s.addShard(st, a.id, b.id, lo.hashStart, hi.hashEnd, now)
	return nil, nil
}
