package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is one adapter's adapter.yaml, checked.
type Spec struct {
	// File is the spec's path as shown in errors; Dir is the adapter folder
	// the generated files go to.
	File, Dir string
	// Scheme is the URL scheme ("mem").
	Scheme string
	// Package is the Go package name of the adapter folder.
	Package string
	// Title is the backend's name in the docs ("In-memory").
	Title string
	// Description is one paragraph on the backend, for the docs.
	Description string
	// URL describes the URL forms and the hand-written target parser.
	URL URLSpec
	// Opener is the hand-written func(context.Context, Options) (driver.Stream, error).
	Opener string
	// Validate optionally names a hand-written func(Options) error that
	// Options.Validate calls last, for checks between options; empty for none.
	Validate string
	// Conformance says whether to write the conformance test entry.
	Conformance bool
	// Options are the adapter's options in spec order.
	Options []*OptionSpec
	// Pointer documents the pointer's fields and human form.
	Pointer PointerSpec
	// Capabilities declares the adapter's limits and features.
	Capabilities CapSpec
}

// URLSpec is the url section of a spec.
type URLSpec struct {
	// Forms are the URL forms, such as "mem://NAME?OPTIONS"; the first is
	// quoted in errors.
	Forms []string
	// Example is a complete URL that must parse; it seeds the fuzz test.
	Example string
	// TargetType is the hand-written type embedded in Options for the part
	// of the URL before the query; it has Validate() error and String() string.
	TargetType string
	// TargetParse is the hand-written func(*url.URL) (TargetType, error).
	TargetParse string
	// TargetDoc explains the target, for the docs.
	TargetDoc string
}

// The option types of a spec.
const (
	typeInt      = "int"
	typeInt64    = "int64"
	typeString   = "string"
	typeBool     = "bool"
	typeDuration = "duration"
	typeSize     = "size"
	typeEnum     = "enum"
	typeStrings  = "strings"
	typeCustom   = "custom"
)

var optionTypes = []string{typeInt, typeInt64, typeString, typeBool, typeDuration, typeSize, typeEnum, typeStrings, typeCustom}

// OptionSpec is one option of a spec.
type OptionSpec struct {
	Line int
	// Name is the Go field name.
	Name string
	// Type is one of optionTypes.
	Type string
	// GoType and Imports are for custom options only.
	GoType  string
	Imports []string
	// Default is the default as text in URL syntax (a list's items joined
	// with commas); HasDefault says whether the spec gave one.
	Default    string
	HasDefault bool
	// DefaultList is the default of a strings option.
	DefaultList []string
	// Query is the URL query key, Env the environment variable; either may
	// be empty.
	Query, Env string
	// With is the functional option's name; empty for none.
	With string
	// Secret options are redacted by String and in errors.
	Secret bool
	// Required options must be set by the URL, the environment or code.
	Required bool
	// Min and Max bound numbers, sizes and durations (text, as in the spec).
	Min, Max string
	// MaxConst names an exported constant holding Max.
	MaxConst string
	// OneOf lists the valid values of enum, string and strings options.
	OneOf []string
	// Doc is the one-line description.
	Doc string

	// Parsed bounds and default, set by check.
	minV, maxV *int64
	defV       int64
}

// PointerSpec is the pointer section of a spec.
type PointerSpec struct {
	Form    string
	Example string
	Fields  []PointerField
}

// PointerField is one field of a pointer.
type PointerField struct {
	Name, Type, Doc string
}

// CapSpec is the capabilities section of a spec. A limit is a number, a
// size, or the name of an int or size option; 0 means no limit.
type CapSpec struct {
	MaxBatchRecords, MaxBatchBytes, MaxRecordBytes CapLimit
	PerKeyOrder, Resharding, ConsumerGroups        bool
}

// CapLimit is a capability limit: a fixed value or an option's value.
type CapLimit struct {
	Value  int64
	Option string
}

// SpecError is a list of spec problems, each "file:line: what is wrong".
type SpecError struct {
	Problems []string
}

// Error lists the problems, one a line.
func (e *SpecError) Error() string { return strings.Join(e.Problems, "\n") }

// loader reads one spec file, collecting problems with their line.
type loader struct {
	file     string
	problems []string
}

func (l *loader) errf(line int, format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf("%s:%d: %s", l.file, line, fmt.Sprintf(format, args...)))
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// LoadSpec reads and checks the spec at path; file is the name used in
// errors and dir the folder of the generated files. A problem with the
// spec is a *SpecError.
func LoadSpec(path, file, dir string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	return ParseSpec(data, file, dir)
}

// ParseSpec checks the spec text data; file names it in errors.
func ParseSpec(data []byte, file, dir string) (*Spec, error) {
	l := &loader{file: file}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		line, msg := 1, err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			if m[1] != "" {
				line, _ = strconv.Atoi(m[1])
			}
			msg = m[2]
		}
		if err.Error() == "EOF" {
			msg = "the spec is empty: expected a mapping with scheme, description, url, opener, options, pointer and capabilities"
		}
		l.errf(line, "invalid YAML: %s", msg)
		return nil, &SpecError{l.problems}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		l.errf(line, "a second YAML document: expected one spec per file")
	}
	s := &Spec{File: file, Dir: dir, Conformance: true}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	l.spec(root, s)
	if len(l.problems) > 0 {
		return nil, &SpecError{l.problems}
	}
	return s, nil
}

// field is one key of a mapping with its value.
type field struct {
	key string
	k   *yaml.Node
	v   *yaml.Node
}

// mapping checks that n is a mapping whose keys are among known (required
// ones marked with a leading '!') and returns its fields by key.
func (l *loader) mapping(n *yaml.Node, what string, known ...string) map[string]field {
	out := map[string]field{}
	if n.Kind == yaml.AliasNode {
		l.errf(n.Line, "%s: YAML aliases are not supported: write the value out", what)
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errf(n.Line, "%s: expected a mapping of keys (%s), got %s", what, keyList(known), kindName(n))
		return nil
	}
	names := make([]string, len(known))
	for i, k := range known {
		names[i] = strings.TrimPrefix(k, "!")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.errf(k.Line, "%s: expected a plain key, got %s", what, kindName(k))
			continue
		}
		if !slices.Contains(names, k.Value) {
			l.errf(k.Line, "%s: unknown key %q (valid keys: %s)", what, k.Value, keyList(known))
			continue
		}
		if prev, dup := out[k.Value]; dup {
			l.errf(k.Line, "%s: key %q is given twice (first on line %d)", what, k.Value, prev.k.Line)
			continue
		}
		if v.Kind == yaml.AliasNode {
			l.errf(v.Line, "%s: %s: YAML aliases are not supported: write the value out", what, k.Value)
			continue
		}
		out[k.Value] = field{key: k.Value, k: k, v: v}
	}
	for _, k := range known {
		if name, ok := strings.CutPrefix(k, "!"); ok {
			if _, has := out[name]; !has {
				l.errf(n.Line, "%s: missing required key %q", what, name)
			}
		}
	}
	return out
}

func keyList(known []string) string {
	names := make([]string, len(known))
	for i, k := range known {
		names[i] = strings.TrimPrefix(k, "!")
	}
	return strings.Join(names, ", ")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("the scalar %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// str returns a scalar's text; ok is false (and a problem recorded) for a
// non-scalar or null value.
func (l *loader) str(f field, what string) (string, bool) {
	if f.v.Kind != yaml.ScalarNode || f.v.Tag == "!!null" {
		l.errf(f.v.Line, "%s: %s: expected a single value, got %s", what, f.key, kindName(f.v))
		return "", false
	}
	return f.v.Value, true
}

// nonEmpty is str for a value that must not be empty.
func (l *loader) nonEmpty(f field, what string) (string, bool) {
	s, ok := l.str(f, what)
	if ok && strings.TrimSpace(s) == "" {
		l.errf(f.v.Line, "%s: %s is empty: expected some text", what, f.key)
		return "", false
	}
	return s, ok
}

func (l *loader) boolean(f field, what string) (bool, bool) {
	if f.v.Kind != yaml.ScalarNode || f.v.Tag != "!!bool" {
		l.errf(f.v.Line, "%s: %s: expected true or false, got %s", what, f.key, kindName(f.v))
		return false, false
	}
	b, err := strconv.ParseBool(f.v.Value)
	if err != nil {
		l.errf(f.v.Line, "%s: %s: expected true or false, got %q", what, f.key, f.v.Value)
		return false, false
	}
	return b, true
}

// list returns the scalar items of a sequence.
func (l *loader) list(f field, what string) ([]string, bool) {
	if f.v.Kind != yaml.SequenceNode {
		l.errf(f.v.Line, "%s: %s: expected a list, got %s", what, f.key, kindName(f.v))
		return nil, false
	}
	out := make([]string, 0, len(f.v.Content))
	ok := true
	for _, it := range f.v.Content {
		if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
			l.errf(it.Line, "%s: %s: expected a list of single values, got %s", what, f.key, kindName(it))
			ok = false
			continue
		}
		out = append(out, it.Value)
	}
	return out, ok
}

var (
	schemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	queryRE  = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)
	envRE    = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

func isIdent(s string) bool { return token.IsIdentifier(s) }

func isExported(s string) bool { return token.IsIdentifier(s) && token.IsExported(s) }

// reservedNames are the exported identifiers the generated options file
// declares: no generated constant or functional option may take them.
var reservedNames = []string{"Options", "Option", "DefaultOptions", "NewOptions", "ParseURL", "ParseURLEnv", "FromEnv"}

// spec reads the top-level mapping.
func (l *loader) spec(n *yaml.Node, s *Spec) {
	const what = "spec"
	m := l.mapping(n, what, "!scheme", "package", "!title", "!description", "!url", "!opener", "validate", "conformance", "options", "!pointer", "!capabilities")
	if m == nil {
		return
	}
	if f, ok := m["scheme"]; ok {
		if v, ok := l.str(f, what); ok {
			if !schemeRE.MatchString(v) {
				l.errf(f.v.Line, "scheme %q: expected a lower-case URL scheme (a letter, then letters, digits, '+', '-' or '.')", v)
			}
			s.Scheme = v
		}
	}
	s.Package = filepath.Base(s.Dir)
	if f, ok := m["package"]; ok {
		if v, ok := l.str(f, what); ok {
			s.Package = v
			if !isIdent(v) {
				l.errf(f.v.Line, "package %q: expected a Go package name", v)
			}
		}
	} else if !isIdent(s.Package) {
		l.errf(n.Line, "the folder name %q is not a Go package name: add a package key", s.Package)
	}
	if f, ok := m["title"]; ok {
		if v, ok := l.nonEmpty(f, what); ok {
			s.Title = strings.Join(strings.Fields(v), " ")
		}
	}
	if f, ok := m["description"]; ok {
		if v, ok := l.nonEmpty(f, what); ok {
			s.Description = strings.Join(strings.Fields(v), " ")
		}
	}
	if f, ok := m["opener"]; ok {
		if v, ok := l.str(f, what); ok {
			if !isIdent(v) {
				l.errf(f.v.Line, "opener %q: expected the name of a hand-written func(context.Context, Options) (driver.Stream, error)", v)
			}
			s.Opener = v
		}
	}
	if f, ok := m["validate"]; ok {
		if v, ok := l.str(f, what); ok {
			if !isIdent(v) {
				l.errf(f.v.Line, "validate %q: expected the name of a hand-written func(Options) error", v)
			}
			s.Validate = v
		}
	}
	if f, ok := m["conformance"]; ok {
		if v, ok := l.boolean(f, what); ok {
			s.Conformance = v
		}
	}
	if f, ok := m["url"]; ok {
		l.url(f.v, s)
	}
	if f, ok := m["options"]; ok {
		l.options(f, s)
	}
	if f, ok := m["pointer"]; ok {
		l.pointer(f.v, s)
	}
	if f, ok := m["capabilities"]; ok {
		l.capabilities(f.v, s)
	}
	if s.URL.Example != "" && s.Scheme != "" && len(l.problems) == 0 {
		l.checkExample(m["url"].v, s)
	}
}

func (l *loader) url(n *yaml.Node, s *Spec) {
	const what = "url"
	m := l.mapping(n, what, "!forms", "!example", "!target")
	if m == nil {
		return
	}
	if f, ok := m["forms"]; ok {
		if forms, ok := l.list(f, what); ok {
			if len(forms) == 0 {
				l.errf(f.v.Line, "url: forms is empty: expected at least one URL form such as %s://NAME?OPTIONS", s.Scheme)
			}
			for _, form := range forms {
				if s.Scheme != "" && !strings.HasPrefix(form, s.Scheme+":") {
					l.errf(f.v.Line, "url: form %q: expected it to start with the scheme %q", form, s.Scheme+":")
				}
			}
			s.URL.Forms = forms
		}
	}
	if f, ok := m["example"]; ok {
		if v, ok := l.str(f, what); ok {
			u, err := url.Parse(v)
			switch {
			case err != nil:
				l.errf(f.v.Line, "url: example %q: %v", v, err)
			case s.Scheme != "" && u.Scheme != s.Scheme:
				l.errf(f.v.Line, "url: example %q: expected the scheme %q", v, s.Scheme)
			default:
				s.URL.Example = v
			}
		}
	}
	if f, ok := m["target"]; ok {
		const what = "url: target"
		t := l.mapping(f.v, what, "!type", "!parse", "doc")
		if t == nil {
			return
		}
		if f, ok := t["type"]; ok {
			if v, ok := l.str(f, what); ok {
				if !isIdent(v) {
					l.errf(f.v.Line, "url: target: type %q: expected the name of a hand-written struct type", v)
				}
				s.URL.TargetType = v
			}
		}
		if f, ok := t["parse"]; ok {
			if v, ok := l.str(f, what); ok {
				if !isIdent(v) {
					l.errf(f.v.Line, "url: target: parse %q: expected the name of a hand-written func(*url.URL) (%s, error)", v, s.URL.TargetType)
				}
				s.URL.TargetParse = v
			}
		}
		if f, ok := t["doc"]; ok {
			if v, ok := l.str(f, what); ok {
				s.URL.TargetDoc = strings.Join(strings.Fields(v), " ")
			}
		}
	}
}

func (l *loader) options(f field, s *Spec) {
	if f.v.Kind != yaml.SequenceNode {
		l.errf(f.v.Line, "options: expected a list of options, got %s", kindName(f.v))
		return
	}
	names, queries, envs, withs, consts := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	dup := func(seen map[string]int, v string, line int, what string) {
		if v == "" {
			return
		}
		if first, ok := seen[v]; ok {
			l.errf(line, "%s %q is used twice (first on line %d)", what, v, first)
			return
		}
		seen[v] = line
	}
	for _, n := range f.v.Content {
		o := l.option(n)
		if o == nil {
			continue
		}
		dup(names, o.Name, o.Line, "option name")
		dup(queries, o.Query, o.Line, "URL query key")
		dup(envs, o.Env, o.Line, "environment variable")
		dup(withs, o.With, o.Line, "functional option")
		dup(consts, o.MaxConst, o.Line, "constant")
		s.Options = append(s.Options, o)
	}
	if len(s.Options) > 64 {
		l.errf(f.v.Line, "options: %d options: expected at most 64", len(s.Options))
	}
	// Generated constants must not collide with each other.
	for _, o := range s.Options {
		if o.HasDefault && o.Type != typeStrings {
			if line, ok := consts["Default"+o.Name]; ok {
				l.errf(line, "constant %q collides with the default constant of option %s", "Default"+o.Name, o.Name)
			}
		}
	}
}

// optionKeys are the keys of an option; the required ones start with '!'.
var optionKeys = []string{"!name", "!type", "go_type", "imports", "default", "query", "env", "with",
	"secret", "required", "min", "max", "max_const", "one_of", "!doc"}

// optReader reads and checks one option of a spec: the option being built,
// its keys and how errors name it ("option Partitions").
type optReader struct {
	l    *loader
	o    *OptionSpec
	m    map[string]field
	what string
}

// option reads one item of the options list: each key on its own, then,
// if they are all fine, the rules between them.
func (l *loader) option(n *yaml.Node) *OptionSpec {
	what := optionWhat(n)
	m := l.mapping(n, what, optionKeys...)
	if m == nil {
		return nil
	}
	r := &optReader{l: l, o: &OptionSpec{Line: n.Line}, m: m, what: what}
	bad := len(l.problems)
	r.readIdentity()
	r.readNames()
	r.readFlags()
	r.readOneOf()
	r.readDefault()
	if len(l.problems) > bad || r.o.Type == "" || r.o.Name == "" {
		return r.o
	}
	r.check()
	return r.o
}

// optionWhat names an option in errors by its name, if it has a plain one.
func optionWhat(n *yaml.Node) string {
	what := "option"
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode {
			what = "option " + v.Value
		}
	}
	return what
}

// str returns the text of key, if given as a single value.
func (r *optReader) str(key string) (field, string, bool) {
	f, ok := r.m[key]
	if !ok {
		return f, "", false
	}
	v, ok := r.l.str(f, r.what)
	return f, v, ok
}

// line is the line of key, or of the option if key is not given.
func (r *optReader) line(key string) int {
	if f, ok := r.m[key]; ok {
		return f.k.Line
	}
	return r.o.Line
}

// readIdentity reads name, type and doc.
func (r *optReader) readIdentity() {
	l, o, what := r.l, r.o, r.what
	if f, v, ok := r.str("name"); ok {
		o.Name = v
		if !isExported(v) {
			l.errf(f.v.Line, "%s: name: expected an exported Go identifier such as MaxBatchBytes", what)
		}
	}
	if f, v, ok := r.str("type"); ok {
		if !slices.Contains(optionTypes, v) {
			l.errf(f.v.Line, "%s: type %q is unknown (valid types: %s)", what, v, strings.Join(optionTypes, ", "))
		}
		o.Type = v
	}
	if f, ok := r.m["doc"]; ok {
		if v, ok := l.nonEmpty(f, what); ok {
			if strings.ContainsAny(v, "\n\r") {
				l.errf(f.v.Line, "%s: doc: expected one line", what)
			}
			o.Doc = strings.TrimSpace(v)
		}
	}
}

// readNames reads the keys that are names or text: query, env, go_type,
// min, max, max_const and with.
func (r *optReader) readNames() {
	o := r.o
	r.text("query", &o.Query, queryRE, "a lower-case key (a letter, then letters, digits, '_', '-' or '.')")
	r.text("env", &o.Env, envRE, "an upper-case variable name such as UNISTREAM_MEM_PARTITIONS")
	r.text("go_type", &o.GoType, nil, "")
	r.text("min", &o.Min, nil, "")
	r.text("max", &o.Max, nil, "")
	r.text("max_const", &o.MaxConst, nil, "")
	o.With = "With" + o.Name
	if f, v, ok := r.str("with"); ok {
		o.With = v
		if v == "-" {
			o.With = ""
		} else if !isExported(v) {
			r.l.errf(f.v.Line, "%s: with %q: expected an exported Go identifier such as WithPartitions, or - for none", r.what, v)
		}
	}
}

// text sets *dst to the text of key, checked against re if not nil.
func (r *optReader) text(key string, dst *string, re *regexp.Regexp, expected string) {
	if f, v, ok := r.str(key); ok {
		if re != nil && !re.MatchString(v) {
			r.l.errf(f.v.Line, "%s: %s %q: expected %s", r.what, key, v, expected)
		}
		*dst = v
	}
}

// readFlags reads secret, required and imports.
func (r *optReader) readFlags() {
	l, o, what := r.l, r.o, r.what
	if f, ok := r.m["secret"]; ok {
		o.Secret, _ = l.boolean(f, what)
	}
	if f, ok := r.m["required"]; ok {
		o.Required, _ = l.boolean(f, what)
	}
	if f, ok := r.m["imports"]; ok {
		o.Imports, _ = l.list(f, what)
		for _, imp := range o.Imports {
			if imp == "" || strings.ContainsAny(imp, " \"\\`") {
				l.errf(f.v.Line, "%s: imports: %q: expected an import path such as time", what, imp)
			}
		}
	}
}

// readOneOf reads one_of: distinct values without commas.
func (r *optReader) readOneOf() {
	l, what := r.l, r.what
	f, ok := r.m["one_of"]
	if !ok {
		return
	}
	vs, ok := l.list(f, what)
	if !ok {
		return
	}
	if len(vs) == 0 {
		l.errf(f.v.Line, "%s: one_of is empty: expected the valid values", what)
	}
	seen := map[string]bool{}
	for _, v := range vs {
		if v == "" || strings.Contains(v, ",") {
			l.errf(f.v.Line, "%s: one_of: %q: expected a non-empty value without commas", what, v)
		}
		if seen[v] {
			l.errf(f.v.Line, "%s: one_of: %q is listed twice", what, v)
		}
		seen[v] = true
	}
	r.o.OneOf = vs
}

// readDefault reads default: a list for a strings option, else one value.
func (r *optReader) readDefault() {
	o := r.o
	f, ok := r.m["default"]
	if !ok {
		return
	}
	o.HasDefault = true
	if o.Type == typeStrings {
		o.DefaultList, _ = r.l.list(f, r.what)
		o.Default = strings.Join(o.DefaultList, ",")
	} else if v, ok := r.l.str(f, r.what); ok {
		o.Default = v
	}
}

// check checks the rules between an option's keys.
func (r *optReader) check() {
	r.checkTypeKeys()
	if r.o.Type == typeCustom {
		r.checkCustom()
		return
	}
	r.checkReserved()
	r.checkSettable()
	r.checkMaxConst()
	r.checkBounds()
	if r.o.Required {
		return
	}
	r.checkDefault()
}

// checkTypeKeys checks that the keys given apply to the option's type.
func (r *optReader) checkTypeKeys() {
	only := func(key string, types ...string) {
		if _, ok := r.m[key]; ok && !slices.Contains(types, r.o.Type) {
			r.l.errf(r.line(key), "%s: %s applies only to type %s, not %s", r.what, key, strings.Join(types, " or "), r.o.Type)
		}
	}
	only("go_type", typeCustom)
	only("imports", typeCustom)
	only("min", typeInt, typeInt64, typeSize, typeDuration)
	only("max", typeInt, typeInt64, typeSize, typeDuration)
	only("max_const", typeInt, typeInt64, typeSize, typeDuration)
	only("one_of", typeString, typeEnum, typeStrings)
	only("secret", typeString, typeStrings)
}

// checkCustom checks a custom option: a Go type, set only by its
// functional option.
func (r *optReader) checkCustom() {
	l, o, what := r.l, r.o, r.what
	if o.GoType == "" {
		l.errf(o.Line, "%s: a custom option needs go_type, the Go type of the field", what)
	} else if _, err := parser.ParseExpr(o.GoType); err != nil {
		l.errf(r.line("go_type"), "%s: go_type %q is not a Go type: %v", what, o.GoType, err)
	}
	for _, key := range []string{"default", "query", "env", "required"} {
		if _, ok := r.m[key]; ok {
			l.errf(r.line(key), "%s: a custom option is set only in code: remove %s", what, key)
		}
	}
	if o.With == "" {
		l.errf(r.line("with"), "%s: a custom option is set only by its functional option: with cannot be -", what)
	}
}

// checkReserved checks that the names the option generates are not those
// of the generated code.
func (r *optReader) checkReserved() {
	o := r.o
	for _, g := range []struct{ key, name string }{{"name", "Default" + o.Name}, {"with", o.With}, {"max_const", o.MaxConst}} {
		if slices.Contains(reservedNames, g.name) && (g.key != "name" || o.HasDefault) {
			r.l.errf(r.line(g.key), "%s: the generated name %s is reserved by the generated code: pick another %s", r.what, g.name, g.key)
		}
	}
}

// checkSettable checks that an enum has values, that something can set
// the option and that a required option has no default.
func (r *optReader) checkSettable() {
	l, o, what := r.l, r.o, r.what
	if o.Type == typeEnum && len(o.OneOf) == 0 {
		l.errf(o.Line, "%s: an enum needs one_of, the list of valid values", what)
	}
	if o.Query == "" && o.Env == "" && o.With == "" {
		l.errf(o.Line, "%s: nothing can set it: give query, env or with", what)
	}
	if o.Required && o.HasDefault {
		l.errf(r.line("default"), "%s: a required option has no default: remove default or required", what)
	}
}

// checkMaxConst checks max_const: an exported name, with max.
func (r *optReader) checkMaxConst() {
	l, o, what := r.l, r.o, r.what
	if o.MaxConst == "" {
		return
	}
	if !isExported(o.MaxConst) {
		l.errf(r.line("max_const"), "%s: max_const %q: expected an exported Go identifier such as MaxPartitions", what, o.MaxConst)
	}
	if o.Max == "" {
		l.errf(r.line("max_const"), "%s: max_const needs max", what)
	}
}

// checkBounds parses min and max into minV and maxV and checks their order.
func (r *optReader) checkBounds() {
	o := r.o
	for _, b := range []struct {
		key  string
		text string
		dst  **int64
	}{{"min", o.Min, &o.minV}, {"max", o.Max, &o.maxV}} {
		if b.text == "" {
			continue
		}
		v, err := parseNumber(o.Type, b.text)
		if err != nil {
			r.l.errf(r.line(b.key), "%s: %s %q: expected %s", r.what, b.key, b.text, kindForm(o.Type))
			continue
		}
		*b.dst = &v
	}
	if o.minV != nil && o.maxV != nil && *o.minV > *o.maxV {
		r.l.errf(r.line("max"), "%s: max %s is below min %s", r.what, o.Max, o.Min)
	}
}

// checkDefault checks that the default, or the zero value if there is
// none, is valid; it sets defV for a number.
func (r *optReader) checkDefault() {
	o := r.o
	def := o.Default
	which := fmt.Sprintf("default %q", def)
	if !o.HasDefault {
		def = zeroText(o.Type)
		which = fmt.Sprintf("the zero value %q (no default is given)", def)
	}
	switch o.Type {
	case typeInt, typeInt64, typeSize, typeDuration:
		r.checkNumberDefault(def, which)
	case typeBool:
		if _, err := strconv.ParseBool(def); err != nil {
			r.l.errf(r.line("default"), "%s: %s: expected true or false", r.what, which)
		}
	case typeString, typeEnum:
		if len(o.OneOf) > 0 && !slices.Contains(o.OneOf, def) {
			r.l.errf(r.line("default"), "%s: %s: expected %s", r.what, which, expected(o))
		}
	case typeStrings:
		r.checkListDefault()
	}
}

// checkNumberDefault checks the default def of a number option, named
// which in errors, against its type and bounds.
func (r *optReader) checkNumberDefault(def, which string) {
	o := r.o
	v, err := parseNumber(o.Type, def)
	if err != nil {
		r.l.errf(r.line("default"), "%s: %s: expected %s", r.what, which, kindForm(o.Type))
		return
	}
	o.defV = v
	if o.minV != nil && v < *o.minV || o.maxV != nil && v > *o.maxV {
		r.l.errf(r.line("default"), "%s: %s: expected %s", r.what, which, expected(o))
	}
}

// checkListDefault checks each item of a strings option's default.
func (r *optReader) checkListDefault() {
	o := r.o
	for _, it := range o.DefaultList {
		line := r.m["default"].v.Line
		if it == "" || strings.Contains(it, ",") {
			r.l.errf(line, "%s: default item %q: expected a non-empty value without commas", r.what, it)
		} else if len(o.OneOf) > 0 && !slices.Contains(o.OneOf, it) {
			r.l.errf(line, "%s: default item %q: expected %s", r.what, it, expected(o))
		}
	}
}

func zeroText(typ string) string {
	switch typ {
	case typeInt, typeInt64, typeSize:
		return "0"
	case typeDuration:
		return "0s"
	case typeBool:
		return "false"
	}
	return ""
}

func (l *loader) pointer(n *yaml.Node, s *Spec) {
	const what = "pointer"
	m := l.mapping(n, what, "!form", "!example", "!fields")
	if m == nil {
		return
	}
	if f, ok := m["form"]; ok {
		s.Pointer.Form, _ = l.nonEmpty(f, what)
	}
	if f, ok := m["example"]; ok {
		s.Pointer.Example, _ = l.nonEmpty(f, what)
	}
	f, ok := m["fields"]
	if !ok {
		return
	}
	if f.v.Kind != yaml.SequenceNode || len(f.v.Content) == 0 {
		l.errf(f.v.Line, "pointer: fields: expected a non-empty list of fields (name, type, doc), got %s", kindName(f.v))
		return
	}
	for _, it := range f.v.Content {
		pm := l.mapping(it, "pointer field", "!name", "!type", "!doc")
		if pm == nil {
			continue
		}
		var pf PointerField
		for _, kd := range []struct {
			key string
			dst *string
		}{{"name", &pf.Name}, {"type", &pf.Type}, {"doc", &pf.Doc}} {
			if f, ok := pm[kd.key]; ok {
				*kd.dst, _ = l.nonEmpty(f, "pointer field")
			}
		}
		s.Pointer.Fields = append(s.Pointer.Fields, pf)
	}
}

func (l *loader) capabilities(n *yaml.Node, s *Spec) {
	const what = "capabilities"
	m := l.mapping(n, what, "!max_batch_records", "!max_batch_bytes", "!max_record_bytes",
		"!per_key_order", "!resharding", "!consumer_groups")
	if m == nil {
		return
	}
	limit := func(key string, dst *CapLimit, typ string) {
		f, ok := m[key]
		if !ok {
			return
		}
		v, ok := l.str(f, what)
		if !ok {
			return
		}
		if isExported(v) {
			o := s.option(v)
			switch {
			case o == nil:
				l.errf(f.v.Line, "capabilities: %s: %q is not an option of this spec", key, v)
			case o.Type != typeInt && o.Type != typeSize && slices.Contains(optionTypes, o.Type):
				l.errf(f.v.Line, "capabilities: %s: option %s is of type %s: expected an int or size option", key, v, o.Type)
			}
			dst.Option = v
			return
		}
		x, err := parseNumber(typ, v)
		if err != nil || x < 0 {
			l.errf(f.v.Line, "capabilities: %s %q: expected %s of at least 0 (0: no limit), or the name of an int or size option", key, v, kindForm(typ))
			return
		}
		dst.Value = x
	}
	limit("max_batch_records", &s.Capabilities.MaxBatchRecords, typeInt)
	limit("max_batch_bytes", &s.Capabilities.MaxBatchBytes, typeSize)
	limit("max_record_bytes", &s.Capabilities.MaxRecordBytes, typeSize)
	for _, kd := range []struct {
		key string
		dst *bool
	}{
		{"per_key_order", &s.Capabilities.PerKeyOrder}, {"resharding", &s.Capabilities.Resharding},
		{"consumer_groups", &s.Capabilities.ConsumerGroups},
	} {
		if f, ok := m[kd.key]; ok {
			*kd.dst, _ = l.boolean(f, what)
		}
	}
}

// option returns the option called name, or nil.
func (s *Spec) option(name string) *OptionSpec {
	for _, o := range s.Options {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// checkExample checks the example URL's query against the options, as the
// generated parser will (the target is checked by the generated test).
func (l *loader) checkExample(n *yaml.Node, s *Spec) {
	line := n.Line
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "example" {
			line = n.Content[i+1].Line
		}
	}
	u, _ := url.Parse(s.URL.Example)
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		l.errf(line, "url: example %q: query: %v", s.URL.Example, err)
		return
	}
	for _, k := range sortedKeys(q) {
		var o *OptionSpec
		for _, c := range s.Options {
			if c.Query == k {
				o = c
			}
		}
		if o == nil {
			l.errf(line, "url: example %q: query key %q is not an option's query key", s.URL.Example, k)
			continue
		}
		if err := checkValue(o, q[k][0]); err != nil {
			l.errf(line, "url: example %q: %s=%q: %v", s.URL.Example, k, q[k][0], err)
		}
	}
}

// checkValue checks a value in URL syntax against an option's type and
// constraints, as the generated code does.
func checkValue(o *OptionSpec, v string) error {
	fail := errors.New("expected " + expected(o))
	switch o.Type {
	case typeInt, typeInt64, typeSize, typeDuration:
		x, err := parseNumber(o.Type, v)
		if err != nil || o.minV != nil && x < *o.minV || o.maxV != nil && x > *o.maxV {
			return fail
		}
	case typeBool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fail
		}
	case typeString, typeEnum:
		if len(o.OneOf) > 0 && !slices.Contains(o.OneOf, v) || o.Required && v == "" {
			return fail
		}
	case typeStrings:
		if v == "" {
			if o.Required {
				return fail
			}
			return nil
		}
		for _, it := range strings.Split(v, ",") {
			if it == "" || len(o.OneOf) > 0 && !slices.Contains(o.OneOf, it) {
				return fail
			}
		}
	}
	return nil
}
