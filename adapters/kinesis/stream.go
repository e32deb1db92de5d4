package kinesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/unistream-go/unistream/stream/driver"
)

// Errors of the adapter, possibly wrapped: match them with errors.Is.
var (
	// ErrClosed is returned by a closed Stream, Reader or Writer.
	ErrClosed = errors.New("kinesis: closed")
	// ErrThrottled is wrapped by the per-record error of a record that
	// Kinesis refused with ProvisionedThroughputExceeded.
	ErrThrottled = errors.New("kinesis: provisioned throughput exceeded")
	// ErrStreamNotFound is wrapped by Open's error when the stream does not
	// exist.
	ErrStreamNotFound = errors.New("kinesis: stream not found")
)

// shardMapTTL is how long the writer trusts its cached map of open shards
// before it lists them again; an unknown shard in a PutRecords result
// makes it list them at the next Write.
const shardMapTTL = 10 * time.Second

// activeWait bounds the wait for a created or resharded stream to be ACTIVE.
const activeWait = 2 * time.Minute

// Stream is a Kinesis data stream as a driver.Stream. Every method is safe
// for concurrent use. All readers and writers share one SDK client and its
// connection pool; Close closes the pool's connections.
type Stream struct {
	o      Options
	client *kinesis.Client
	tr     *http.Transport

	readSlots chan struct{} // one per GetRecords call in flight (max_concurrent_reads)

	closedFlag atomic.Bool // read by the transport
	bgCtx      context.Context
	bgCancel   context.CancelFunc // ends the readers' background calls

	mu       sync.Mutex
	closed   bool
	shardMap []shardRange // open shards by hash key range
	mapAt    time.Time
	mapStale bool
}

var (
	_ driver.Stream  = (*Stream)(nil)
	_ driver.Schemer = (*Stream)(nil)
	_ driver.Aser    = (*Stream)(nil)
)

// Scheme returns "kinesis", the adapter's URL scheme (driver.Schemer).
func (s *Stream) Scheme() string { return "kinesis" }

// As implements driver.Aser, for stream.Stream.As: a **kinesis.Client
// target (of aws-sdk-go-v2) gets the stream's client; a **Stream target
// gets the stream itself. Any other target returns false.
func (s *Stream) As(target any) bool {
	return driver.SetAs(target, s.client) || driver.SetAs(target, s)
}

// shardRange is an open shard's hash key range, as 16 big-endian bytes.
type shardRange struct {
	id         string
	start, end [16]byte
}

// Open connects to Kinesis with the options o and returns the stream they
// name. It creates the stream first when o.CreateStream is set, and waits
// until it is ACTIVE; otherwise the stream must exist. Zero fields take
// their defaults, so o may be a struct literal as well as the result of
// NewOptions or ParseURL.
func Open(ctx context.Context, o Options) (*Stream, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Stream{o: o, readSlots: make(chan struct{}, o.MaxConcurrentReads)}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	client, tr, err := newClient(ctx, o, &s.closedFlag)
	if err != nil {
		s.bgCancel()
		return nil, err
	}
	s.client, s.tr = client, tr
	if err := s.prepare(ctx); err != nil {
		s.bgCancel()
		tr.CloseIdleConnections()
		return nil, err
	}
	return s, nil
}

// newClient builds the SDK client of o.
func newClient(ctx context.Context, o Options, closed *atomic.Bool) (*kinesis.Client, *http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: &closingTransport{tr: tr, closed: closed}}
	region := o.Region
	if region == "" && o.ARN != "" {
		if a, err := parseARN(o.ARN); err == nil {
			region = a.region
		}
	}
	var cfg aws.Config
	if o.AccessKeyID != "" {
		cfg = aws.Config{
			Region:      region,
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)),
			HTTPClient:  hc,
		}
	} else {
		lo := []func(*config.LoadOptions) error{config.WithHTTPClient(hc)}
		if region != "" {
			lo = append(lo, config.WithRegion(region))
		}
		if o.Profile != "" {
			lo = append(lo, config.WithSharedConfigProfile(o.Profile))
		}
		var err error
		cfg, err = config.LoadDefaultConfig(ctx, lo...)
		if err != nil {
			return nil, nil, fmt.Errorf("kinesis: open %s: load the AWS configuration: %w", o.Stream, err)
		}
	}
	if cfg.Region == "" {
		if o.Endpoint == "" {
			return nil, nil, fmt.Errorf("kinesis: open %s: no region: set region=NAME (or AWS_REGION, or a region in the shared config)", o.Stream)
		}
		cfg.Region = DefaultRegion
	}
	client := kinesis.NewFromConfig(cfg, func(ko *kinesis.Options) {
		if o.Endpoint != "" {
			ko.BaseEndpoint = aws.String(o.Endpoint)
		}
		ko.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.RateLimiter = ratelimit.None
		})
	})
	return client, tr, nil
}

// noRetry makes one call without the SDK's retries: the reader and the
// writer (and above them the engines) handle failures of GetRecords and
// PutRecords themselves, so that a failure is seen, counted and backed off
// where the contract says.
func noRetry(o *kinesis.Options) { o.Retryer = aws.NopRetryer{} }

// prepare creates the stream if asked and checks that it exists.
func (s *Stream) prepare(ctx context.Context) error {
	if s.o.CreateStream {
		rctx, cancel := s.reqCtx(ctx)
		_, err := s.client.CreateStream(rctx, &kinesis.CreateStreamInput{StreamName: aws.String(s.o.Stream), ShardCount: aws.Int32(int32(s.o.Shards))})
		cancel()
		if err != nil && apiCode(err) != "ResourceInUseException" {
			return fmt.Errorf("kinesis: create stream %s with %d shards: %w", s.o.Stream, s.o.Shards, err)
		}
	}
	if err := s.waitActive(ctx); err != nil {
		if apiCode(err) == "ResourceNotFoundException" {
			return fmt.Errorf("kinesis: open %s: the stream does not exist (create it, or add create_stream=true&shards=N to the URL): %w: %w",
				s.o.Stream, ErrStreamNotFound, err)
		}
		return fmt.Errorf("kinesis: open %s: %w", s.o.Stream, err)
	}
	return nil
}

// waitActive waits until the stream is ACTIVE (a stream being created or
// resharded is not) or UPDATING after it was ACTIVE.
func (s *Stream) waitActive(ctx context.Context) error {
	deadline := time.Now().Add(activeWait)
	for {
		rctx, cancel := s.reqCtx(ctx)
		out, err := s.client.DescribeStreamSummary(rctx, &kinesis.DescribeStreamSummaryInput{StreamName: s.nameArg(), StreamARN: s.arnArg()})
		cancel()
		if err != nil {
			return err
		}
		status := types.StreamStatus("")
		if out.StreamDescriptionSummary != nil {
			status = out.StreamDescriptionSummary.StreamStatus
		}
		switch status {
		case types.StreamStatusActive:
			return nil
		case types.StreamStatusDeleting:
			return fmt.Errorf("stream %s is being deleted: %w", s.o.Stream, ErrStreamNotFound)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream %s is still %s after %v: expected ACTIVE", s.o.Stream, status, activeWait)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// nameArg and arnArg name the stream in a request: by ARN when the options
// give one, else by name.
func (s *Stream) nameArg() *string {
	if s.o.ARN != "" {
		return nil
	}
	return aws.String(s.o.Stream)
}

func (s *Stream) arnArg() *string {
	if s.o.ARN == "" {
		return nil
	}
	return aws.String(s.o.ARN)
}

// reqCtx bounds a request by the request timeout.
func (s *Stream) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.RequestTimeout)
}

// getRecords makes one GetRecords call (without the SDK's retries) once
// one of the stream's max_concurrent_reads slots is free; the request
// timeout runs from then.
func (s *Stream) getRecords(ctx context.Context, in *kinesis.GetRecordsInput) (*kinesis.GetRecordsOutput, error) {
	select {
	case s.readSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.readSlots }()
	rctx, cancel := s.reqCtx(ctx)
	defer cancel()
	return s.client.GetRecords(rctx, in, noRetry)
}

// Name returns the stream name.
func (s *Stream) Name() string { return s.o.Stream }

// Options returns the stream's options with the defaults filled in.
func (s *Stream) Options() Options { return s.o }

// Client returns the stream's SDK client, for operations the adapter does
// not wrap.
func (s *Stream) Client() *kinesis.Client { return s.client }

// Codec returns the Kinesis pointer codec.
func (s *Stream) Codec() driver.PointerCodec { return Codec{} }

// Capabilities returns the capabilities adapter.yaml declares
// (Options.Capabilities): the batch and record limits from the options,
// per-key order, and resharding (shards split and merge while reading;
// the engine reads a child after its parents are finished); and
// PlainRecords with envelope=false.
func (s *Stream) Capabilities() driver.Capabilities {
	c := s.o.Capabilities()
	c.PlainRecords = !s.o.Envelope
	return c
}

// check fails on a closed stream or a done context.
func (s *Stream) check(ctx context.Context, op string) error {
	if s.isClosed() {
		return fmt.Errorf("kinesis: %s %s: stream is closed: %w", op, s.o.Stream, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kinesis: %s %s: %w", op, s.o.Stream, err)
	}
	return nil
}

func (s *Stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Partitions lists the stream's shards, closed ones included while they
// are retained, with their parents (ParentShardId and
// AdjacentParentShardId) so that the engine reads a child only after its
// parents are finished. A shard with an ending sequence number is Closed.
func (s *Stream) Partitions(ctx context.Context) ([]driver.Partition, error) {
	if err := s.check(ctx, "list shards of"); err != nil {
		return nil, err
	}
	shards, err := s.listShards(ctx)
	if err != nil {
		return nil, fmt.Errorf("kinesis: list shards of %s: %w", s.o.Stream, err)
	}
	out := make([]driver.Partition, len(shards))
	for i, sh := range shards {
		p := driver.Partition{ID: aws.ToString(sh.ShardId)}
		for _, parent := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if v := aws.ToString(parent); v != "" {
				p.Parents = append(p.Parents, v)
			}
		}
		p.Closed = sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
		out[i] = p
	}
	return out, nil
}

// listShards lists every shard with ListShards, following NextToken, and
// refreshes the writer's shard map.
func (s *Stream) listShards(ctx context.Context) ([]types.Shard, error) {
	var all []types.Shard
	in := &kinesis.ListShardsInput{StreamName: s.nameArg(), StreamARN: s.arnArg()}
	for page := 0; ; page++ {
		if page > 10000 {
			return nil, errors.New("ListShards: more than 10000 pages: the NextToken never ends")
		}
		rctx, cancel := s.reqCtx(ctx)
		out, err := s.client.ListShards(rctx, in)
		cancel()
		if err != nil {
			return nil, err
		}
		all = append(all, out.Shards...)
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	var m []shardRange
	for _, sh := range all {
		if sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil || sh.HashKeyRange == nil {
			continue
		}
		start, ok1 := hashBytes(aws.ToString(sh.HashKeyRange.StartingHashKey))
		end, ok2 := hashBytes(aws.ToString(sh.HashKeyRange.EndingHashKey))
		if ok1 && ok2 {
			m = append(m, shardRange{id: aws.ToString(sh.ShardId), start: start, end: end})
		}
	}
	s.mu.Lock()
	s.shardMap, s.mapAt, s.mapStale = m, time.Now(), false
	s.mu.Unlock()
	return all, nil
}

// hashBytes converts a decimal hash key to 16 big-endian bytes.
func hashBytes(dec string) ([16]byte, bool) {
	var out [16]byte
	v, ok := new(big.Int).SetString(dec, 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 128 {
		return out, false
	}
	v.FillBytes(out[:])
	return out, true
}

// openShards returns the cached map of open shards, listed again when it
// is older than shardMapTTL or known to be stale.
func (s *Stream) openShards(ctx context.Context) ([]shardRange, error) {
	s.mu.Lock()
	m, at, stale := s.shardMap, s.mapAt, s.mapStale
	s.mu.Unlock()
	if m != nil && !stale && time.Since(at) < shardMapTTL {
		return m, nil
	}
	if _, err := s.listShards(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shardMap, nil
}

// markMapStale makes the next Write list the shards again.
func (s *Stream) markMapStale() {
	s.mu.Lock()
	s.mapStale = true
	s.mu.Unlock()
}

// shardOf returns the open shard whose range holds hash key h, or "".
func shardOf(m []shardRange, h [16]byte) string {
	for i := range m {
		if bytes.Compare(h[:], m[i].start[:]) >= 0 && bytes.Compare(h[:], m[i].end[:]) <= 0 {
			return m[i].id
		}
	}
	return ""
}

// Split splits the open shard at the middle of its hash key range, waits
// until the stream is ACTIVE again, and returns the two children. The
// shard is closed; records written to its range go to the children.
func (s *Stream) Split(ctx context.Context, shard string) ([]string, error) {
	if err := s.check(ctx, "split a shard of"); err != nil {
		return nil, err
	}
	shards, err := s.listShards(ctx)
	if err != nil {
		return nil, fmt.Errorf("kinesis: split %s/%s: %w", s.o.Stream, shard, err)
	}
	i := slices.IndexFunc(shards, func(x types.Shard) bool { return aws.ToString(x.ShardId) == shard })
	if i < 0 || shards[i].HashKeyRange == nil {
		return nil, fmt.Errorf("kinesis: split %s/%s: no such shard", s.o.Stream, shard)
	}
	lo, ok1 := new(big.Int).SetString(aws.ToString(shards[i].HashKeyRange.StartingHashKey), 10)
	hi, ok2 := new(big.Int).SetString(aws.ToString(shards[i].HashKeyRange.EndingHashKey), 10)
	if !ok1 || !ok2 || hi.Cmp(lo) <= 0 {
		return nil, fmt.Errorf("kinesis: split %s/%s: its hash key range %v cannot be split", s.o.Stream, shard, shards[i].HashKeyRange)
	}
	mid := new(big.Int).Sub(hi, lo)
	mid.Add(mid, big.NewInt(1)).Rsh(mid, 1).Add(mid, lo)
	rctx, cancel := s.reqCtx(ctx)
	_, err = s.client.SplitShard(rctx, &kinesis.SplitShardInput{StreamName: s.nameArg(), StreamARN: s.arnArg(),
		ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String(mid.String())})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("kinesis: split %s/%s: %w", s.o.Stream, shard, err)
	}
	return s.childrenOf(ctx, "split", shard)
}

// Merge merges two open shards with adjacent hash key ranges, waits until
// the stream is ACTIVE again, and returns the child.
func (s *Stream) Merge(ctx context.Context, shard, adjacent string) (string, error) {
	if err := s.check(ctx, "merge shards of"); err != nil {
		return "", err
	}
	rctx, cancel := s.reqCtx(ctx)
	_, err := s.client.MergeShards(rctx, &kinesis.MergeShardsInput{StreamName: s.nameArg(), StreamARN: s.arnArg(),
		ShardToMerge: aws.String(shard), AdjacentShardToMerge: aws.String(adjacent)})
	cancel()
	if err != nil {
		return "", fmt.Errorf("kinesis: merge %s/%s and %s: %w", s.o.Stream, shard, adjacent, err)
	}
	children, err := s.childrenOf(ctx, "merge", shard)
	if err != nil {
		return "", err
	}
	if len(children) != 1 {
		return "", fmt.Errorf("kinesis: merge %s/%s and %s: %d children listed, expected 1", s.o.Stream, shard, adjacent, len(children))
	}
	return children[0], nil
}

// childrenOf waits for the stream to be ACTIVE and lists the children of
// shard.
func (s *Stream) childrenOf(ctx context.Context, op, shard string) ([]string, error) {
	if err := s.waitActive(ctx); err != nil {
		return nil, fmt.Errorf("kinesis: %s %s/%s: %w", op, s.o.Stream, shard, err)
	}
	shards, err := s.listShards(ctx)
	if err != nil {
		return nil, fmt.Errorf("kinesis: %s %s/%s: %w", op, s.o.Stream, shard, err)
	}
	var out []string
	for _, sh := range shards {
		if aws.ToString(sh.ParentShardId) == shard || aws.ToString(sh.AdjacentParentShardId) == shard {
			out = append(out, aws.ToString(sh.ShardId))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kinesis: %s %s/%s: no child shard listed", op, s.o.Stream, shard)
	}
	return out, nil
}

// Close marks the stream closed (its readers and writers fail with
// ErrClosed afterwards) and closes its idle connections. It is idempotent.
func (s *Stream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closedFlag.Store(true)
	s.bgCancel()
	s.tr.CloseIdleConnections()
	return nil
}

// closingTransport is the stream's HTTP transport: once the stream is
// closed, a request still made does not keep its connection, and a
// response body closed after Close closes the idle connections, so that
// no connection (and no goroutine of it) outlives the stream.
type closingTransport struct {
	tr     *http.Transport
	closed *atomic.Bool
}

// It also sends a copy of the request body: the SDK (smithy-go 1.28)
// closes its request body as soon as the response headers arrive, while
// net/http's write loop may still read it for the end of the body; the
// read then fails, and net/http closes the connection under the response
// being read ("use of closed network connection"). A body of our own is
// never closed early.
func (c *closingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		body, err := readBody(req.Body, req.ContentLength)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read the request body: %w", err)
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	if c.closed.Load() {
		req = req.Clone(req.Context())
		req.Close = true
	}
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &closeHook{ReadCloser: resp.Body, c: c}
	return resp, nil
}

// readBody reads a request body of n bytes (n <= 0: unknown) into one
// buffer of its size, where io.ReadAll would grow one step by step (a
// PutRecords body is up to 5 MiB: the copies were a tenth of a producer's
// CPU). A body longer or shorter than n is read whole all the same.
func readBody(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 || n > 64<<20 {
		return io.ReadAll(r)
	}
	buf := make([]byte, n, n+1)
	if k, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return buf[:k], nil // shorter than announced: net/http will say so
		}
		return nil, err
	}
	rest, err := io.ReadAll(r) // nothing, unless the length was wrong
	return append(buf, rest...), err
}

// closeHook closes the idle connections when a body is closed after the
// stream was.
type closeHook struct {
	io.ReadCloser
	c *closingTransport
}

func (h *closeHook) Close() error {
	err := h.ReadCloser.Close()
	if h.c.closed.Load() {
		h.c.tr.CloseIdleConnections()
	}
	return err
}

// apiCode returns the AWS error code of err ("ResourceNotFoundException"),
// or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
