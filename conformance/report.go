package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// testEvent is one line of `go test -json` (cmd/test2json).
type testEvent struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

var (
	markerRE = regexp.MustCompile(regexp.QuoteMeta(BackendMarker) + `(\S+) target=(\S+)`)
	// fileLineRE matches the "file.go:12: " prefix of a test log line.
	fileLineRE = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)
	// freshNameRE matches the numbered names of fresh streams, which
	// differ between runs of one scenario: notes say "conformance-N".
	freshNameRE = regexp.MustCompile(`\bconformance-(\d{8}t\d{6}-)?\d+\b`)
)

// testNode is one test of the -json stream.
type testNode struct {
	name    string
	action  string // pass, fail, skip
	elapsed float64
	output  []string
}

// pkgTests are the TestConformance tests of one package of the -json
// stream, and the package's own events.
type pkgTests struct {
	tests   map[string]*testNode
	order   []string
	elapsed float64 // the package's own elapsed time
	output  []string
}

// testJSON collects the events of `go test -json` per package.
type testJSON struct {
	pkgs     map[string]*pkgTests
	pkgOrder []string
}

// ParseTestJSON reads the output of `go test -json` and returns one Report
// per test binary that ran Run (a top-level test whose name starts with
// TestConformance): the scenarios' results per store, skip reasons, first
// failure messages, and the skip reasons of parts of passing scenarios as
// Notes. Other tests and packages are ignored.
func ParseTestJSON(r io.Reader) ([]Report, error) {
	j := testJSON{pkgs: map[string]*pkgTests{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 || b[0] != '{' {
			continue // go test prints non-JSON lines for build failures
		}
		var ev testEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			return nil, fmt.Errorf("conformance: go test -json line %d: %w", line, err)
		}
		j.add(ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("conformance: read go test -json: %w", err)
	}
	var reps []Report
	for _, pkg := range j.pkgOrder {
		reps = append(reps, j.pkgs[pkg].reports(pkg)...)
	}
	return reps, nil
}

// add records one event: of a TestConformance test, or of the package of
// one seen before.
func (j *testJSON) add(ev testEvent) {
	if ev.Test == "" {
		if p := j.pkgs[ev.Package]; p != nil {
			switch ev.Action {
			case "pass", "fail":
				p.elapsed = ev.Elapsed
			case "output":
				p.output = append(p.output, strings.TrimRight(ev.Output, "\n"))
			}
		}
		return
	}
	if !strings.HasPrefix(ev.Test, "TestConformance") {
		return
	}
	p := j.pkgs[ev.Package]
	if p == nil {
		p = &pkgTests{tests: map[string]*testNode{}}
		j.pkgs[ev.Package] = p
		j.pkgOrder = append(j.pkgOrder, ev.Package)
	}
	n := p.tests[ev.Test]
	if n == nil {
		n = &testNode{name: ev.Test}
		p.tests[ev.Test] = n
		p.order = append(p.order, ev.Test)
	}
	switch ev.Action {
	case "output":
		n.output = append(n.output, strings.TrimRight(ev.Output, "\n"))
	case "pass", "fail", "skip":
		n.action, n.elapsed = ev.Action, ev.Elapsed
	}
}

// reports gives a Report per top-level test of package pkg.
func (p *pkgTests) reports(pkg string) []Report {
	roots := map[string]bool{}
	for _, name := range p.order {
		if !strings.Contains(name, "/") {
			roots[name] = true
		}
	}
	var reps []Report
	for _, name := range p.order {
		if roots[name] {
			reps = append(reps, p.report(pkg, name))
		}
	}
	return reps
}

// report gives the Report of the top-level test name of package pkg.
func (p *pkgTests) report(pkg, name string) Report {
	root := p.tests[name]
	rep := Report{Backend: pkg[strings.LastIndexByte(pkg, '/')+1:], Target: Embedded, Elapsed: seconds(root.elapsed)}
	if root.action == "" {
		rep.Elapsed = seconds(p.elapsed) // the binary died before the test ended
	}
	unfinished := p.unfinished()
	for _, o := range root.output {
		if m := markerRE.FindStringSubmatch(o); m != nil {
			rep.Backend, rep.Target = m[1], Target(m[2])
		}
	}
	if root.action == "skip" {
		rep.Results = append(rep.Results, Result{Scenario: "(all)", Status: Skip, Reason: message(root)})
	}
	prefix := name + "/"
	for _, sn := range p.children(name) {
		scenario := strings.TrimPrefix(sn.name, prefix)
		var stores []*testNode
		for _, c := range p.children(sn.name) {
			if strings.HasPrefix(c.name[len(sn.name)+1:], "store=") {
				stores = append(stores, c)
			}
		}
		if len(stores) == 0 || sn.action == "skip" {
			rep.Results = append(rep.Results, p.result(sn, scenario, "", unfinished))
			continue
		}
		for _, c := range stores {
			rep.Results = append(rep.Results, p.result(c, scenario, strings.TrimPrefix(c.name[len(sn.name)+1:], "store="), unfinished))
		}
	}
	return rep
}

// unfinished is the reason of a test that did not end, with the panic
// that stopped the test binary if it printed one.
func (p *pkgTests) unfinished() string {
	unfinished := "did not finish: the test binary stopped while it ran"
	for _, o := range p.output {
		if strings.HasPrefix(o, "panic: ") {
			unfinished += " (" + o + ")"
			break
		}
	}
	return unfinished
}

// children are the direct subtests of parent.
func (p *pkgTests) children(parent string) []*testNode {
	var out []*testNode
	for _, n := range p.order {
		if rest, ok := strings.CutPrefix(n, parent+"/"); ok && !strings.Contains(rest, "/") {
			out = append(out, p.tests[n])
		}
	}
	return out
}

// descendants are the subtests of parent at any depth.
func (p *pkgTests) descendants(parent string) []*testNode {
	var out []*testNode
	for _, n := range p.order {
		if strings.HasPrefix(n, parent+"/") {
			out = append(out, p.tests[n])
		}
	}
	return out
}

// result is the Result of the test n of scenario with store; unfinished
// is the reason if n did not end.
func (p *pkgTests) result(n *testNode, scenario, store, unfinished string) Result {
	res := Result{Scenario: scenario, Store: store, Elapsed: seconds(n.elapsed)}
	switch n.action {
	case "pass":
		res.Status = Pass
	case "skip":
		res.Status, res.Reason = Skip, message(n)
	case "":
		res.Status, res.Reason = Fail, unfinished
	default:
		res.Status = Fail
		res.Reason = firstFailure(append([]*testNode{n}, p.descendants(n.name)...))
	}
	for _, d := range p.descendants(n.name) {
		if d.action == "skip" && n.action != "skip" {
			res.Notes = append(res.Notes, d.name[len(n.name)+1:]+": "+message(d))
		}
	}
	return res
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// logLines returns a test's own log lines, without the runner's lines and
// the file:line prefixes.
func logLines(n *testNode) []string {
	var out []string
	for _, o := range n.output {
		t := strings.TrimSpace(o)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") || t == "PASS" || t == "FAIL" {
			continue
		}
		if loc := fileLineRE.FindString(o); loc != "" {
			out = append(out, strings.TrimSpace(o[len(loc):]))
		} else if len(out) > 0 {
			out[len(out)-1] += " " + t // a continuation line
		}
	}
	return out
}

// message is a skipped test's reason: its last log line.
func message(n *testNode) string {
	l := logLines(n)
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// firstFailure is the first log line of the failed tests among ns.
func firstFailure(ns []*testNode) string {
	for _, n := range ns {
		if n.action != "fail" {
			continue
		}
		for _, l := range logLines(n) {
			if !strings.HasPrefix(l, BackendMarker) {
				return l
			}
		}
	}
	return ""
}

// Markdown renders reports as the backend × scenario matrix of
// conformance/REPORT.md: one row per scenario, one column per backend and
// checkpoint store, each cell pass / skip / FAIL with a numbered note
// giving the reason.
func Markdown(reports []Report) string {
	m := newMatrix(reports)
	var b strings.Builder
	b.WriteString("# Conformance report\n\n")
	b.WriteString("Generated by `make conformance` (`go test -race -json -run '^TestConformance$'` over PKGS, default ./..., ")
	b.WriteString("then `go run ./conformance/cmd/report`): every scenario of package conformance against every backend; ")
	b.WriteString("columns are backend · checkpoint store, and a scenario that uses no store shows one result in both. ")
	b.WriteString("A scenario (or part) is skipped only for a missing capability, which its note names.\n\n")
	writeTotals(&b, reports)
	var notes mdNotes
	m.write(&b, &notes)
	notes.write(&b)
	return b.String()
}

// writeTotals writes the table of pass, skip and fail counts per report.
func writeTotals(b *strings.Builder, reports []Report) {
	b.WriteString("| backend | target | pass | skip | fail | run time |\n|---|---|---|---|---|---|\n")
	for _, rep := range reports {
		var p, s, f int
		for _, r := range rep.Results {
			switch r.Status {
			case Pass:
				p++
			case Skip:
				s++
			case Fail:
				f++
			}
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %d | %s |\n", rep.Backend, rep.Target, p, s, f, rep.Elapsed)
	}
}

// mdCol is a column of the matrix: a backend, with a checkpoint store if
// its scenarios ran with several.
type mdCol struct{ backend, store string }

// matrix is the scenario × column table of Markdown.
type matrix struct {
	cols      []mdCol
	scenarios []string // sorted
	cells     map[mdCol]map[string]Result
}

func newMatrix(reports []Report) *matrix {
	m := &matrix{cells: map[mdCol]map[string]Result{}}
	seenScenario := map[string]bool{}
	for _, rep := range reports {
		var stores []string
		for _, r := range rep.Results {
			if r.Store != "" && !contains(stores, r.Store) {
				stores = append(stores, r.Store)
			}
		}
		if len(stores) == 0 {
			stores = []string{""}
		}
		for _, s := range stores {
			c := mdCol{rep.Backend, s}
			m.cols = append(m.cols, c)
			m.cells[c] = map[string]Result{}
		}
		for _, r := range rep.Results {
			if !seenScenario[r.Scenario] {
				seenScenario[r.Scenario] = true
				m.scenarios = append(m.scenarios, r.Scenario)
			}
			for _, s := range stores {
				if r.Store == "" || r.Store == s {
					m.cells[mdCol{rep.Backend, s}][r.Scenario] = r
				}
			}
		}
	}
	sort.SliceStable(m.scenarios, func(i, j int) bool { return m.scenarios[i] < m.scenarios[j] })
	return m
}

// write writes the matrix, numbering the reasons of its cells in notes.
func (m *matrix) write(b *strings.Builder, notes *mdNotes) {
	b.WriteString("\n| scenario |")
	for _, c := range m.cols {
		if c.store == "" {
			fmt.Fprintf(b, " %s |", c.backend)
		} else {
			fmt.Fprintf(b, " %s · %s |", c.backend, c.store)
		}
	}
	b.WriteString("\n|---|")
	for range m.cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, sc := range m.scenarios {
		fmt.Fprintf(b, "| %s |", strings.ReplaceAll(sc, "_", " "))
		for _, c := range m.cols {
			r, ok := m.cells[c][sc]
			fmt.Fprintf(b, " %s |", mdCell(r, ok, notes))
		}
		b.WriteString("\n")
	}
}

// mdCell is the text of the cell of r (ok: the column has a result for
// the scenario).
func mdCell(r Result, ok bool, notes *mdNotes) string {
	switch {
	case !ok:
		return "—"
	case r.Status == Pass && len(r.Notes) == 0:
		return "pass"
	case r.Status == Pass:
		var refs []string
		for _, n := range r.Notes {
			refs = append(refs, fmt.Sprint(notes.add(n)))
		}
		return fmt.Sprintf("pass, %d part(s) skipped [%s]", len(r.Notes), strings.Join(refs, ","))
	case r.Status == Skip:
		return fmt.Sprintf("skip [%d]", notes.add(r.Reason))
	default:
		return fmt.Sprintf("**FAIL** [%d]", notes.add(r.Reason))
	}
}

// mdNotes are the numbered notes of a report, each text once.
type mdNotes struct {
	texts []string
	index map[string]int
}

// add returns the number of the note text, adding it if it is new.
func (n *mdNotes) add(text string) int {
	text = freshNameRE.ReplaceAllString(text, "conformance-N")
	if i, ok := n.index[text]; ok {
		return i
	}
	if n.index == nil {
		n.index = map[string]int{}
	}
	n.texts = append(n.texts, text)
	n.index[text] = len(n.texts)
	return len(n.texts)
}

// write writes the notes, if there are any.
func (n *mdNotes) write(b *strings.Builder) {
	if len(n.texts) > 0 {
		b.WriteString("\nNotes:\n\n")
		for i, t := range n.texts {
			fmt.Fprintf(b, "%d. %s\n", i+1, strings.ReplaceAll(t, "|", "\\|"))
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
