// Package kinesisfake is an in-process Amazon Kinesis Data Streams
// emulator for tests: an HTTP server on 127.0.0.1 that speaks the JSON 1.1
// protocol the AWS SDKs use (Content-Type application/x-amz-json-1.1,
// operation in the X-Amz-Target header "Kinesis_20131202.Op"), so the real
// aws-sdk-go-v2 Kinesis client talks to it over a real socket. Any SigV4
// signature is accepted.
//
// It implements CreateStream, DeleteStream, DescribeStream,
// DescribeStreamSummary, ListStreams, ListShards (pagination, ShardFilter,
// lineage, sequence number ranges), PutRecord, PutRecords,
// GetShardIterator (TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER,
// AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP), GetRecords (MillisBehindLatest,
// iterator expiry, a nil NextShardIterator at the end of a closed shard),
// SplitShard and MergeShards. Records go to shards by the MD5 of their
// partition key (or their explicit hash key), as on AWS; sequence numbers
// are 56-digit decimals that increase. Errors have the AWS shape ({"__type":
// ..., "message": ...}).
//
// Faults are injected with Go methods: Throttle, Fail, FailRecords,
// ExpireIterators and DropConnections.
//
//	srv, err := kinesisfake.Start()
//	if err != nil { ... }
//	defer srv.Close()
//	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "y", ""), HTTPClient: srv.HTTPClient()}
//	client := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(srv.Endpoint()) })
package kinesisfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of the server's options.
const (
	// DefaultIteratorExpiry is how long a shard iterator stays valid, as on AWS.
	DefaultIteratorExpiry = 5 * time.Minute
	// DefaultRegion is the region in stream ARNs.
	DefaultRegion = "us-east-1"
	// DefaultAccount is the account id in stream ARNs.
	DefaultAccount = "000000000000"
	// MaxRecordBytes is the largest record: data plus partition key, 1 MiB.
	MaxRecordBytes = 1 << 20
	// MaxPutRecordsBytes bounds a PutRecords request's data and keys: 5 MiB.
	MaxPutRecordsBytes = 5 << 20
	// MaxPutRecordsEntries bounds a PutRecords request's records.
	MaxPutRecordsEntries = 500
	// MaxGetRecordsBytes bounds the data a GetRecords call returns: 10 MiB.
	MaxGetRecordsBytes = 10 << 20
)

// The error codes the server answers with.
const (
	ErrResourceNotFound   = "ResourceNotFoundException"
	ErrResourceInUse      = "ResourceInUseException"
	ErrInvalidArgument    = "InvalidArgumentException"
	ErrThroughputExceeded = "ProvisionedThroughputExceededException"
	ErrExpiredIterator    = "ExpiredIteratorException"
	ErrLimitExceeded      = "LimitExceededException"
	ErrInternalFailure    = "InternalFailure"
	ErrSerialization      = "SerializationException"
	ErrUnknownOperation   = "UnknownOperationException"
	ErrExpiredNextToken   = "ExpiredNextTokenException"
)

// Option configures New.
type Option func(*config)

type config struct {
	addr          string
	expiry        time.Duration
	region        string
	account       string
	createDelay   time.Duration
	updateDelay   time.Duration
	logger        *slog.Logger
	now           func() time.Time
	getRecordsMax int
}

// Addr sets the listen address (default "127.0.0.1:0", a free port).
func Addr(addr string) Option { return func(c *config) { c.addr = addr } }

// IteratorExpiry sets how long shard iterators stay valid (default 5 min).
func IteratorExpiry(d time.Duration) Option { return func(c *config) { c.expiry = d } }

// Region sets the region in ARNs (default us-east-1).
func Region(r string) Option { return func(c *config) { c.region = r } }

// Account sets the account id in ARNs (default 000000000000).
func Account(a string) Option { return func(c *config) { c.account = a } }

// CreateDelay makes a new stream stay CREATING this long (default 0: it is
// ACTIVE at once).
func CreateDelay(d time.Duration) Option { return func(c *config) { c.createDelay = d } }

// UpdateDelay makes a stream stay UPDATING this long after a split or a
// merge (default 0).
func UpdateDelay(d time.Duration) Option { return func(c *config) { c.updateDelay = d } }

// Logger logs every request at debug level and failures at warn level
// (default: no logging).
func Logger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Clock replaces time.Now (tests of iterator expiry).
func Clock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	cfg config
	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	streams  map[string]*stream
	gen      uint64 // stream creations
	counter  uint64 // sequence number counter
	expireAt time.Time
	faults   []*fault
	calls    map[string]int

	clientTr *http.Transport // of HTTPClient

	connMu sync.Mutex
	conns  map[net.Conn]http.ConnState
	drop   map[net.Conn]bool // close when idle
	served chan struct{}
}

// New starts a server (see Start) with options.
func New(opts ...Option) (*Server, error) {
	cfg := config{addr: "127.0.0.1:0", expiry: DefaultIteratorExpiry, region: DefaultRegion, account: DefaultAccount,
		now: time.Now, getRecordsMax: 10000}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.expiry <= 0 {
		return nil, fmt.Errorf("kinesisfake: iterator expiry %v: expected a positive duration", cfg.expiry)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("kinesisfake: listen on %s: %w", cfg.addr, err)
	}
	s := &Server{cfg: cfg, ln: ln, streams: map[string]*stream{}, calls: map[string]int{}, clientTr: http.DefaultTransport.(*http.Transport).Clone(),
		conns: map[net.Conn]http.ConnState{}, drop: map[net.Conn]bool{}, served: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ConnState: s.connState, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: nil}
	go func() { // owned by s: ends when Close shuts the server down
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Start starts a server on a free port of 127.0.0.1 with the default
// options. Close it when done.
func Start() (*Server, error) { return New() }

// Endpoint returns the server's base URL, "http://127.0.0.1:PORT", for the
// SDK's BaseEndpoint.
func (s *Server) Endpoint() string { return "http://" + s.ln.Addr().String() }

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and closes every connection. It is idempotent.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.served
	s.clientTr.CloseIdleConnections()
	return nil
}

// HTTPClient returns an HTTP client for SDK clients of this server (the
// HTTPClient field of kinesis.Options). Close closes its idle
// connections. Its transport sends a copy of each request body: the SDK
// (smithy-go 1.28) closes a request body as soon as the response headers
// arrive, while net/http may still read it for its end, and the failed
// read makes net/http close the connection under the response
// ("use of closed network connection"), at random, more often with a fast
// server like this one.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: copyBodyTransport{s.clientTr}}
}

// copyBodyTransport sends a copy of each request body.
type copyBodyTransport struct{ tr *http.Transport }

func (c copyBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("kinesisfake: read the request body: %w", err)
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	return c.tr.RoundTrip(req)
}

func (s *Server) now() time.Time { return s.cfg.now() }

// connState tracks connections for DropConnections.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
		delete(s.drop, c)
	case http.StateIdle:
		if s.drop[c] {
			delete(s.drop, c)
			delete(s.conns, c)
			c.Close()
			return
		}
		s.conns[c] = st
	default:
		s.conns[c] = st
	}
}

// DropConnections closes every client connection, as a network cut or a
// server restart would; clients reconnect. An idle connection is closed at
// once; one serving a request is closed right after its response, so that
// no request is lost or applied twice. It returns how many connections it
// closed or marked.
func (s *Server) DropConnections() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	n := 0
	for c, st := range s.conns {
		n++
		if st == http.StateIdle || st == http.StateNew {
			delete(s.conns, c)
			c.Close()
			continue
		}
		s.drop[c] = true
	}
	return n
}

// Calls returns how many requests of operation op (such as "GetRecords")
// the server has received, faults included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// apiError is an error answer.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errf(code, format string, args ...any) *apiError {
	status := http.StatusBadRequest
	if code == ErrInternalFailure {
		status = http.StatusInternalServerError
	}
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one JSON 1.1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "Kinesis_20131202.")
	if r.Method != http.MethodPost || !ok || op == "" {
		s.reply(w, "", nil, errf(ErrUnknownOperation, "expected POST with X-Amz-Target Kinesis_20131202.<Operation>, got %s with %q", r.Method, target))
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-amz-json-1.1") {
		s.reply(w, op, nil, errf(ErrSerialization, "Content-Type %q: expected application/x-amz-json-1.1 (CBOR is not supported)", ct))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		s.reply(w, op, nil, errf(ErrSerialization, "read the request body: %v", err))
		return
	}
	h, ok := handlers[op]
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
	if !ok {
		s.reply(w, op, nil, errf(ErrUnknownOperation, "operation %s is not supported by kinesisfake", op))
		return
	}
	out, aerr := h(s, body)
	s.reply(w, op, out, aerr)
}

func (s *Server) reply(w http.ResponseWriter, op string, out any, aerr *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if aerr != nil {
		if s.cfg.logger != nil {
			s.cfg.logger.Warn("kinesisfake: request failed", "op", op, "code", aerr.code, "message", aerr.msg)
		}
		w.Header().Set("X-Amzn-Errortype", aerr.code)
		w.WriteHeader(aerr.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": aerr.code, "message": aerr.msg})
		return
	}
	if s.cfg.logger != nil {
		s.cfg.logger.Debug("kinesisfake: request", "op", op)
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": ErrInternalFailure, "message": err.Error()})
		return
	}
	_, _ = w.Write(b)
}

// decode reads a request body into v.
func decode(body []byte, v any) *apiError {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errf(ErrSerialization, "field %s: expected %s", te.Field, te.Type)
		}
		return errf(ErrSerialization, "request body is not valid JSON: %v", err)
	}
	return nil
}

// CreateStream creates a stream with n shards, as the CreateStream
// operation does (ResourceInUseException if it exists).
func (s *Server) CreateStream(name string, shards int) error {
	body, err := json.Marshal(map[string]any{"StreamName": name, "ShardCount": shards})
	if err != nil {
		return err
	}
	if _, aerr := s.createStream(body); aerr != nil {
		return fmt.Errorf("kinesisfake: create stream %s: %w", name, aerr)
	}
	return nil
}

// Code returns the AWS error code of an error of the server's Go methods
// ("ResourceInUseException"), or "".
func Code(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	return ""
}
