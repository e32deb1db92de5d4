package killtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/postgres"
)

// eoChildEnv, when set, makes the test binary an exactly-once child: its
// value is the child's eoConfig as JSON.
const eoChildEnv = "UNISTREAM_EXACTLYONCE_CHILD"

// eoRandomKills is how many kill points, besides every checkpoint save
// point, each backend's scenario picks at random.
const eoRandomKills = 30

// eoConfig is what the parent tells an exactly-once child.
type eoConfig struct {
	URL        string    `json:"url"`
	Checkpoint string    `json:"checkpoint"` // checkpoint store URL
	Postgres   string    `json:"postgres"`
	Target     string    `json:"target"`  // the table the handler writes a row per record to
	Applied    string    `json:"applied"` // the TxHandler's applied table
	Consumer   string    `json:"consumer"`
	Records    []rec     `json:"records"`
	KillAt     int       `json:"kill_at"` // SIGKILL at this point (from 1); 0: never
	PointsPath string    `json:"points_path"`
	Deadline   time.Time `json:"deadline"`
}

// TestExactlyOnceChild is the child process of TestExactlyOncePostgres;
// it does nothing in a normal run.
func TestExactlyOnceChild(t *testing.T) {
	raw, ok := os.LookupEnv(eoChildEnv)
	if !ok {
		t.Skip("the child process of TestExactlyOncePostgres: runs only when re-executed with " + eoChildEnv + " set")
	}
	var cfg eoConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("%s: %v", eoChildEnv, err)
	}
	if err := runEOChild(cfg); err != nil {
		t.Fatalf("exactly-once child: %v", err)
	}
}

// killPoints counts the child's kill points and SIGKILLs the process at
// the configured one; it logs each point's kind (for the parent's picks).
type killPoints struct {
	at  int
	n   atomic.Int64
	mu  sync.Mutex
	log *os.File
}

func (k *killPoints) point(kind string) {
	n := int(k.n.Add(1))
	k.mu.Lock()
	fmt.Fprintf(k.log, "%d %s\n", n, kind)
	k.mu.Unlock()
	if n == k.at {
		sigkillSelf()
	}
}

// killStore is a checkpoint store with a kill point before and after
// every Save.
type killStore struct {
	checkpoint.Store
	k *killPoints
}

func (s killStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	s.k.point("save-before")
	err := s.Store.Save(ctx, cp)
	s.k.point("save-after")
	return err
}

// runEOChild consumes the stream with a TxHandler writing one row per
// record into the target table, with kill points around every checkpoint
// save and inside and after every transaction, until every partition is
// committed to its last record.
func runEOChild(cfg eoConfig) (err error) {
	ctx, cancel := context.WithDeadline(context.Background(), cfg.Deadline)
	defer cancel()
	s, err := stream.Open(ctx, cfg.URL)
	if err != nil {
		return err
	}
	defer s.Close()
	codec := s.Driver().Codec()
	last := lastPointers(codec, cfg.Records)
	store, err := checkpoint.Open(ctx, cfg.Checkpoint)
	if err != nil {
		return err
	}
	defer checkpoint.CloseStore(store)
	logf, err := os.OpenFile(cfg.PointsPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	k := &killPoints{at: cfg.KillAt, log: logf}
	pool, err := pgxpool.New(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	target := pgx.Identifier{cfg.Target}.Sanitize()
	h, err := postgres.NewTxHandler(ctx, pool, cfg.Consumer, func(ctx context.Context, tx pgx.Tx, r *stream.Record) error {
		k.point("tx-begin")
		if _, err := tx.Exec(ctx, "INSERT INTO "+target+" (consumer, id) VALUES ($1, $2)", cfg.Consumer, r.ID); err != nil {
			return err
		}
		k.point("tx-end")
		return nil
	}, postgres.WithAppliedTable(cfg.Applied))
	if err != nil {
		return err
	}

	// Done once every partition is committed to its last record.
	var mu sync.Mutex
	left := map[string]bool{}
	for p := range last {
		cp, err := store.Load(ctx, checkpoint.Key{Consumer: cfg.Consumer, Stream: s.Name(), Partition: p})
		if err != nil {
			return err
		}
		if cp.Committed == nil || codec.Compare(cp.Committed, last[p]) < 0 {
			left[p] = true
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if len(left) == 0 {
		return nil
	}
	obs := stream.ObserverFunc(func(e stream.Event) {
		if e.Kind != stream.EventCommitted {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if lp, ok := last[e.Partition]; ok && codec.Compare(e.Pointer, lp) >= 0 {
			delete(left, e.Partition)
		}
		if len(left) == 0 {
			stop()
		}
	})
	c, err := stream.NewConsumer(s, func(ctx context.Context, r *stream.Record) error {
		err := h.Handle(ctx, r)
		k.point("handled")
		return err
	}, stream.WithName(cfg.Consumer), stream.WithCheckpointStore(killStore{store, k}), stream.WithBatchSize(batchSize),
		stream.WithOnExhausted(stream.Halt), stream.WithPollInterval(5*time.Millisecond), stream.WithObserver(obs))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Run(runCtx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if len(left) > 0 {
		return fmt.Errorf("stopped before partitions %v were committed (deadline %v)", left, cfg.Deadline)
	}
	return nil
}

// withTable returns the PostgreSQL URL u with the checkpoint store's table
// parameter.
func withTable(u, table string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "table=" + table
}

// eoPostgresURL is the PostgreSQL server of the exactly-once test.
func eoPostgresURL() string {
	if u := os.Getenv("UNISTREAM_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// TestExactlyOncePostgres proves postgres.TxHandler's exactly-once effects
// with real process deaths, on kfake, kinesisfake and pulsarfake: a child
// process consumes 30 records over two partitions with the PostgreSQL
// checkpoint store, its handler writing one row per record in the
// TxHandler's transaction, and is killed with
// SIGKILL at a kill point (before and after every checkpoint save, after a
// transaction's first statement, before its commit, and after it), then
// restarted to the end. Every save point of a first, unkilled run is
// tried, and eoRandomKills points picked at random; after each, the target
// table must hold exactly one row per record.
func TestExactlyOncePostgres(t *testing.T) {
	if _, ok := os.LookupEnv(eoChildEnv); ok {
		t.Skip("in a child process only TestExactlyOnceChild runs")
	}
	if _, ok := os.LookupEnv(childEnv); ok {
		t.Skip("in a child process only TestKillChild runs")
	}
	if sigkillUnsupported != "" {
		t.Skip(sigkillUnsupported)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, eoPostgresURL())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		t.Skipf("no PostgreSQL server answers at 127.0.0.1:5432 (%v): start one with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set UNISTREAM_TEST_POSTGRES", err)
	}
	t.Cleanup(pool.Close) // after the parallel subtests
	deadline := time.Now().Add(4 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
		deadline = d.Add(-10 * time.Second)
	}
	for _, b := range backends {
		if b.recreate {
			continue // a memstream stream dies with its process
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			eo := &eoScenario{t: t, pool: pool, deadline: deadline}
			eo.run(b)
		})
	}
}

// eoScenario is one backend's run of TestExactlyOncePostgres.
type eoScenario struct {
	t        *testing.T
	pool     *pgxpool.Pool
	deadline time.Time
	cfg      eoConfig
	dir      string
}

func (eo *eoScenario) run(b backend) {
	t := eo.t
	ctx, cancel := context.WithDeadline(context.Background(), eo.deadline)
	defer cancel()
	name := fmt.Sprintf("eo-%s-%d", b.name, time.Now().UnixNano())
	url := b.start(t)(t, name, 2)
	s, err := stream.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	written, err := writeRecords(ctx, s.Driver())
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	tag := strings.ReplaceAll(name, "-", "_")
	target, applied, cps := tag+"_target", tag+"_applied", tag+"_cp"
	t.Cleanup(func() {
		for _, tb := range []string{target, applied, cps} {
			_, _ = eo.pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{tb}.Sanitize())
		}
	})
	if _, err := eo.pool.Exec(ctx, "CREATE TABLE "+pgx.Identifier{target}.Sanitize()+" (consumer text NOT NULL, id text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	eo.dir = t.TempDir()
	eo.cfg = eoConfig{URL: url, Postgres: eoPostgresURL(), Target: target, Applied: applied, Records: written, Deadline: eo.deadline,
		Checkpoint: withTable(eoPostgresURL(), cps)}

	// A first run without a kill lists the kill points.
	kinds := eo.scenario(ctx, "dry", 0)
	var picks []int
	for i, k := range kinds {
		if strings.HasPrefix(k, "save-") {
			picks = append(picks, i+1)
		}
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	for range eoRandomKills {
		picks = append(picks, 1+rng.IntN(len(kinds)))
	}
	slices.Sort(picks)
	picks = slices.Compact(picks)
	t.Logf("%d kill points in an unkilled run (%d at checkpoint saves); trying %d of them (random seed %d)", len(kinds), countPrefix(kinds, "save-"), len(picks), seed)

	// Two scenarios at a time: each is two processes at most.
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	var killed atomic.Int32
	for _, at := range picks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if eo.scenarioKilled(ctx, at) {
				killed.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d of %d scenarios were killed at their point (a later point may not come in a run whose timing differs)", killed.Load(), len(picks))
	if int(killed.Load()) < len(picks)/2 {
		t.Errorf("only %d of %d scenarios reached their kill point", killed.Load(), len(picks))
	}
}

func countPrefix(ss []string, prefix string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// scenarioKilled runs a child killed at point at, then children to the
// end, checks the target, and reports whether the kill happened.
func (eo *eoScenario) scenarioKilled(ctx context.Context, at int) bool {
	consumer := fmt.Sprintf("kill-at-%d", at)
	cfg := eo.config(consumer, at)
	killed, out, err := eo.child(ctx, cfg)
	if err != nil {
		eo.t.Errorf("%s: child: %v\nits output:\n%s", consumer, err, out)
		return false
	}
	if killed {
		eo.scenario(ctx, consumer, 0)
	} else {
		eo.check(ctx, consumer)
	}
	return killed
}

// config is the child configuration of one consumer.
func (eo *eoScenario) config(consumer string, killAt int) eoConfig {
	cfg := eo.cfg
	cfg.Consumer, cfg.KillAt = consumer, killAt
	cfg.PointsPath = filepath.Join(eo.dir, consumer+fmt.Sprintf("-kill%d.points", killAt))
	return cfg
}

// scenario runs an unkilled child for consumer to the end, checks the
// target, and returns the kinds of the kill points it passed.
func (eo *eoScenario) scenario(ctx context.Context, consumer string, _ int) []string {
	t := eo.t
	cfg := eo.config(consumer, 0)
	killed, out, err := eo.child(ctx, cfg)
	if err != nil || killed {
		t.Errorf("%s: child (no kill): killed %v, %v\nits output:\n%s", consumer, killed, err, out)
		return nil
	}
	eo.check(ctx, consumer)
	data, err := os.ReadFile(cfg.PointsPath)
	if err != nil {
		t.Error(err)
		return nil
	}
	var kinds []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 {
			kinds = append(kinds, f[1])
		}
	}
	return kinds
}

// check fails the test unless the target holds exactly one row for each
// record for consumer.
func (eo *eoScenario) check(ctx context.Context, consumer string) {
	t := eo.t
	rows, err := eo.pool.Query(ctx, "SELECT id, count(*) FROM "+pgx.Identifier{eo.cfg.Target}.Sanitize()+" WHERE consumer = $1 GROUP BY id", consumer)
	if err != nil {
		t.Error(err)
		return
	}
	got := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Error(err)
			return
		}
		got[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Error(err)
		return
	}
	for _, r := range eo.cfg.Records {
		if got[r.ID] != 1 {
			t.Errorf("%s: record %s applied %d times, want exactly once", consumer, r.ID, got[r.ID])
		}
	}
	if len(got) != len(eo.cfg.Records) {
		t.Errorf("%s: %d distinct records applied, want %d", consumer, len(got), len(eo.cfg.Records))
	}
}

// child runs one child process; killed reports a SIGKILL at its point.
func (eo *eoScenario) child(ctx context.Context, cfg eoConfig) (killed bool, output []byte, err error) {
	output, runErr, err := execChild(ctx, eo.deadline, "TestExactlyOnceChild", eoChildEnv, cfg)
	if err != nil {
		return false, output, err
	}
	var ee *exec.ExitError
	switch {
	case runErr == nil:
		return false, output, nil
	case errors.As(runErr, &ee) && cfg.KillAt > 0 && killedBySIGKILL(ee.ProcessState):
		return true, output, nil
	}
	return false, output, fmt.Errorf("ended with %v", runErr)
}
