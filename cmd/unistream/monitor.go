package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/unistream-go/unistream/stream"
)

// display says how a monitor shows progress.
type display uint8

const (
	displayPlain   display = iota // a line per notable event, a summary at the end
	displayLive                   // a status line per partition, redrawn in place (a terminal)
	displayVerbose                // a line per batch and per attempt, as the demo shows
	displayJSON                   // a JSON object per event
)

func chooseDisplay(g *globals, w io.Writer) display {
	switch {
	case g.json():
		return displayJSON
	case g.verbose:
		return displayVerbose
	case isTerminal(w):
		return displayLive
	}
	return displayPlain
}

// partStats are one partition's counts.
type partStats struct {
	Partition string `json:"partition"`
	Processed int    `json:"processed"`
	Succeeded int    `json:"succeeded"`
	Retries   int    `json:"retries"`
	DLQ       int    `json:"dead_lettered"`
	Skipped   int    `json:"skipped"`
	Pending   int    `json:"pending"`
	Halted    bool   `json:"halted,omitempty"`
	Committed string `json:"committed,omitempty"`
	// StoreError is the checkpoint store's last error while the partition
	// waits for the store to come back ("" when it works).
	StoreError string `json:"checkpoint_store_error,omitempty"`
	// The lag after the last batch, when the backend tells it.
	LagRecords *int64 `json:"lag_records,omitempty"`
	LagMillis  *int64 `json:"lag_ms,omitempty"`
}

// monitor is the consumer's observer: it counts per partition and shows
// progress as its display says. It is safe for concurrent use.
type monitor struct {
	w     io.Writer
	disp  display
	s     *stream.Stream
	start time.Time

	mu      sync.Mutex
	parts   map[string]*partStats
	lines   int // live lines drawn
	total   int // final outcomes
	onFinal func(total int)

	stop chan struct{}
	done chan struct{}
}

func newMonitor(w io.Writer, disp display, s *stream.Stream) *monitor {
	m := &monitor{w: w, disp: disp, s: s, start: time.Now(), parts: map[string]*partStats{}}
	if disp == displayLive {
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		go m.redraw() // owned by m: ends on Close
	}
	return m
}

func (m *monitor) redraw() {
	defer close(m.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.mu.Lock()
			m.drawLocked()
			m.mu.Unlock()
		}
	}
}

func (m *monitor) drawLocked() {
	if m.lines > 0 {
		fmt.Fprintf(m.w, "\x1b[%dA", m.lines)
	}
	ids := m.idsLocked()
	for _, id := range ids {
		fmt.Fprintf(m.w, "\r\x1b[K%s\n", m.statusLocked(m.parts[id]))
	}
	m.lines = len(ids)
}

func (m *monitor) statusLocked(p *partStats) string {
	state := "running"
	if p.Halted {
		state = "HALTED"
	}
	store := ""
	if p.StoreError != "" {
		store = ", checkpoint store unavailable: " + p.StoreError
	}
	return fmt.Sprintf("partition %-6s %-7s processed %d (ok %d, DLQ %d, skipped %d), retries %d, pending in batch %d%s, committed %s%s",
		p.Partition, state, p.Processed, p.Succeeded, p.DLQ, p.Skipped, p.Retries, p.Pending, lagText(p.LagRecords, p.LagMillis), orNone(p.Committed), store)
}

// lagParts splits a lag into its known parts (nil: not told).
func lagParts(l stream.Lag) (records, millis *int64) {
	if l.Records >= 0 {
		records = &l.Records
	}
	if l.Time >= 0 {
		ms := l.Time.Milliseconds()
		millis = &ms
	}
	return records, millis
}

// lagText is the status line's lag: ", lag 12 records", ", lag 1.5s",
// both, or nothing when the backend does not tell.
func lagText(records, millis *int64) string {
	var parts []string
	if records != nil {
		parts = append(parts, fmt.Sprintf("%d records", *records))
	}
	if millis != nil {
		parts = append(parts, (time.Duration(*millis) * time.Millisecond).String())
	}
	if len(parts) == 0 {
		return ""
	}
	return ", lag " + strings.Join(parts, " / ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (m *monitor) idsLocked() []string {
	ids := make([]string, 0, len(m.parts))
	for id := range m.parts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if len(ids[i]) != len(ids[j]) {
			return len(ids[i]) < len(ids[j])
		}
		return ids[i] < ids[j]
	})
	return ids
}

func (m *monitor) part(id string) *partStats {
	p := m.parts[id]
	if p == nil {
		p = &partStats{Partition: id}
		m.parts[id] = p
	}
	return p
}

// willRetry reports whether the failed attempt of e will be retried.
func (m *monitor) willRetry(e stream.Event) bool { return !e.Final }

// Observe counts e and shows it.
func (m *monitor) Observe(e stream.Event) {
	m.mu.Lock()
	p := m.part(e.Partition)
	final := false
	switch e.Kind {
	case stream.EventBatchFetched:
		p.Pending += e.Count
		if e.Lag != nil {
			p.LagRecords, p.LagMillis = lagParts(*e.Lag)
		}
	case stream.EventAttemptSucceeded:
		p.Processed++
		p.Succeeded++
		p.Pending--
		final = true
	case stream.EventAttemptFailed:
		if m.willRetry(e) {
			p.Retries++
		}
	case stream.EventDeadLettered:
		p.Processed++
		p.DLQ++
		p.Pending--
		final = true
	case stream.EventSkipped:
		p.Processed++
		p.Skipped++
		p.Pending--
		final = true
	case stream.EventHalted:
		p.Halted = true
	case stream.EventCommitted:
		p.Halted = false
		p.Committed = m.s.FormatPointer(e.Partition, e.Pointer)
	case stream.EventBatchDone:
		p.Pending = 0
	case stream.EventCheckpointError:
		p.StoreError = e.Err.Error()
	case stream.EventCheckpointRecovered:
		p.StoreError = ""
	}
	if p.Pending < 0 {
		p.Pending = 0
	}
	if final {
		m.total++
	}
	m.showLocked(e, p)
	total, cb := m.total, m.onFinal
	m.mu.Unlock()
	if final && cb != nil {
		cb(total)
	}
}

func (m *monitor) showLocked(e stream.Event, p *partStats) {
	switch m.disp {
	case displayJSON:
		if e.Kind != stream.EventCheckpointSaved { // one per save: for metrics and debug logs
			writeJSON(m.w, eventJSON(m.s, e))
		}
	case displayVerbose:
		val := ""
		if e.Record != nil {
			val = fmt.Sprintf("%s/%s %s", e.Partition, e.Record.ID, preview(e.Record.Value))
		}
		switch e.Kind {
		case stream.EventBatchFetched:
			fmt.Fprintf(m.w, "--- partition %s: pulled %d records ---\n", e.Partition, e.Count)
		case stream.EventAttemptSucceeded:
			fmt.Fprintf(m.w, "✅ %s\n", val)
		case stream.EventAttemptFailed:
			if m.willRetry(e) {
				fmt.Fprintf(m.w, "❌ %s  (attempt %d: %v; retry in %s)\n", val, e.Attempt, e.Err, max(e.Delay, 0).Round(time.Millisecond))
			} else {
				fmt.Fprintf(m.w, "❌ %s  (attempt %d: %v; no attempts left)\n", val, e.Attempt, e.Err)
			}
		case stream.EventBatchDone:
			fmt.Fprintf(m.w, "--- partition %s: batch done, elapsed = %.2f sec ---\n", e.Partition, e.Elapsed.Seconds())
		default:
			m.plainLocked(e, val)
		}
	case displayPlain:
		val := ""
		if e.Record != nil {
			val = fmt.Sprintf("%s/%s %s", e.Partition, e.Record.ID, preview(e.Record.Value))
		}
		m.plainLocked(e, val)
	}
}

// plainLocked prints the events worth a line in every text display.
func (m *monitor) plainLocked(e stream.Event, val string) {
	switch e.Kind {
	case stream.EventDeadLettered:
		fmt.Fprintf(m.w, "✅ DLQ: %s\n", val)
	case stream.EventSkipped:
		fmt.Fprintf(m.w, "⏭  skipped %s: %v\n", val, e.Err)
	case stream.EventHalted:
		fmt.Fprintf(m.w, "🛑 partition %s halted at %s: %v (resume with: unistream checkpoint retry|skip --partition %s)\n", e.Partition, val, e.Err, e.Partition)
	case stream.EventFetchError:
		fmt.Fprintf(m.w, "⚠️  read error on partition %q (attempt %d, retry in %s): %v\n", e.Partition, e.Attempt, e.Delay.Round(time.Millisecond), e.Err)
	case stream.EventCheckpointError:
		if e.Delay > 0 {
			fmt.Fprintf(m.w, "⚠️  checkpoint store unavailable on partition %s (attempt %d, retry in %s): %v\n", e.Partition, e.Attempt, e.Delay.Round(time.Millisecond), e.Err)
		} else {
			fmt.Fprintf(m.w, "⚠️  checkpoint store failed on partition %s: %v\n", e.Partition, e.Err)
		}
	case stream.EventCheckpointRecovered:
		fmt.Fprintf(m.w, "✅ checkpoint store back on partition %s after %d failure(s)\n", e.Partition, e.Attempt)
	}
}

// Close stops redrawing and prints the summary.
func (m *monitor) Close() {
	if m.stop != nil {
		close(m.stop)
		<-m.done
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.disp == displayLive {
		m.drawLocked()
	}
	delete(m.parts, "") // partition-list events
	ids := m.idsLocked()
	if m.disp == displayJSON {
		parts := make([]partStats, 0, len(ids))
		for _, id := range ids {
			parts = append(parts, *m.parts[id])
		}
		writeJSON(m.w, map[string]any{"event": "summary", "processed": m.total, "elapsed_sec": time.Since(m.start).Seconds(), "partitions": parts})
		return
	}
	var sum partStats
	for _, id := range ids {
		p := m.parts[id]
		sum.Processed += p.Processed
		sum.Succeeded += p.Succeeded
		sum.DLQ += p.DLQ
		sum.Skipped += p.Skipped
		sum.Retries += p.Retries
		if m.disp != displayLive {
			fmt.Fprintln(m.w, m.statusLocked(p))
		}
	}
	fmt.Fprintf(m.w, "summary: processed %d: %d succeeded, %d dead-lettered, %d skipped; %d retries; elapsed %.2f sec\n",
		sum.Processed, sum.Succeeded, sum.DLQ, sum.Skipped, sum.Retries, time.Since(m.start).Seconds())
}

// eventJSON is the JSON form of an event.
func eventJSON(s *stream.Stream, e stream.Event) map[string]any {
	o := map[string]any{"event": e.Kind.String(), "time": e.Time.UTC().Format(time.RFC3339Nano)}
	if e.Partition != "" {
		o["partition"] = e.Partition
	}
	if e.Record != nil {
		o["id"] = e.Record.ID
		o["pointer"] = s.FormatPointer(e.Record.Partition, e.Record.Pointer)
	}
	if e.Attempt > 0 {
		o["attempt"] = e.Attempt
	}
	if e.Lag != nil {
		records, millis := lagParts(*e.Lag)
		if records != nil {
			o["lag_records"] = *records
		}
		if millis != nil {
			o["lag_ms"] = *millis
		}
	}
	if e.Count > 0 {
		o["count"] = e.Count
	}
	if e.Err != nil {
		o["error"] = e.Err.Error()
	}
	if e.Delay > 0 {
		o["delay_ms"] = e.Delay.Milliseconds()
	}
	if e.Elapsed > 0 {
		o["elapsed_ms"] = e.Elapsed.Milliseconds()
	}
	if e.Pointer != nil {
		o["committed"] = s.FormatPointer(e.Partition, e.Pointer)
	}
	if e.Kind == stream.EventAttemptFailed {
		o["final"] = e.Final
	}
	return o
}

// preview returns a one-line form of a value, cut at 120 bytes.
func preview(v []byte) string {
	s := strings.ToValidUTF8(string(v), "�")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\n", `\n`), "\r", `\r`)
	if len(s) > 120 {
		cut := 120
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
