package main

import (
	"errors"
	"strings"
	"testing"
)

// baseSpec is a valid spec of 34 lines; the error cases edit it.
const baseSpec = `scheme: x
title: X
description: A backend.
url:
  forms: ["x://NAME"]
  example: x://n?count=2
  target:
    type: Target
    parse: parseTarget
opener: open
options:
  - name: Count
    type: int
    default: 1
    min: 1
    max: 9
    query: count
    env: X_COUNT
    doc: a count
pointer:
  form: x:N
  example: x:1
  fields:
    - name: n
      type: uint64
      doc: a number
capabilities:
  max_batch_records: 0
  max_batch_bytes: 0
  max_record_bytes: Count
  per_key_order: true
  resharding: false
  consumer_groups: false
`

func TestBaseSpecIsValid(t *testing.T) {
	s, err := ParseSpec([]byte(baseSpec), "x/adapter.yaml", "x")
	if err != nil {
		t.Fatal(err)
	}
	if s.Scheme != "x" || s.Package != "x" || len(s.Options) != 1 || !s.Conformance || s.Capabilities.MaxRecordBytes.Option != "Count" {
		t.Errorf("ParseSpec = %+v", s)
	}
}

func TestSpecErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replaced once in baseSpec; old "" means new is the whole spec
		want     string
	}{
		{"empty file", "", "", "x/adapter.yaml:1: invalid YAML: the spec is empty"},
		{"bad YAML", "", "scheme: x\n  title: [\n", "x/adapter.yaml:2: invalid YAML: mapping values are not allowed in this context"},
		{"not a mapping", "", "- a\n- b\n", "x/adapter.yaml:1: spec: expected a mapping of keys"},
		{"two documents", "consumer_groups: false\n", "consumer_groups: false\n---\nscheme: y\n", "x/adapter.yaml:35: a second YAML document"},
		{"unknown top key", "opener: open\n", "opener: open\nopenr: open\n", `x/adapter.yaml:11: spec: unknown key "openr" (valid keys: scheme, package, title, description, url, opener, validate, conformance, options, pointer, capabilities)`},
		{"duplicate key", "opener: open\n", "opener: open\nopener: o2\n", `x/adapter.yaml:11: spec: key "opener" is given twice (first on line 10)`},
		{"missing key", "opener: open\n", "", `x/adapter.yaml:1: spec: missing required key "opener"`},
		{"bad scheme", "scheme: x", "scheme: X_Y", `x/adapter.yaml:1: scheme "X_Y": expected a lower-case URL scheme`},
		{"scheme is a list", "scheme: x", "scheme: [x]", `x/adapter.yaml:1: spec: scheme: expected a single value, got a list`},
		{"bad package", "scheme: x\n", "scheme: x\npackage: 9x\n", `x/adapter.yaml:2: package "9x": expected a Go package name`},
		{"empty description", "description: A backend.", "description: ''", `x/adapter.yaml:3: spec: description is empty`},
		{"form without scheme", `forms: ["x://NAME"]`, `forms: ["y://NAME"]`, `x/adapter.yaml:5: url: form "y://NAME": expected it to start with the scheme "x:"`},
		{"no forms", `forms: ["x://NAME"]`, `forms: []`, `x/adapter.yaml:5: url: forms is empty`},
		{"example scheme", "example: x://n?count=2", "example: y://n", `x/adapter.yaml:6: url: example "y://n": expected the scheme "x"`},
		{"example unknown key", "example: x://n?count=2", "example: x://n?cnt=2", `x/adapter.yaml:6: url: example "x://n?cnt=2": query key "cnt" is not an option's query key`},
		{"example bad value", "example: x://n?count=2", "example: x://n?count=10", `x/adapter.yaml:6: url: example "x://n?count=10": count="10": expected an integer from 1 to 9`},
		{"target not a mapping", "  target:\n    type: Target\n    parse: parseTarget\n", "  target: Target\n", `x/adapter.yaml:7: url: target: expected a mapping of keys (type, parse, doc), got the scalar "Target"`},
		{"bad target type", "type: Target", "type: Tar get", `x/adapter.yaml:8: url: target: type "Tar get": expected the name of a hand-written struct type`},
		{"bad opener", "opener: open", "opener: open()", `x/adapter.yaml:10: opener "open()": expected the name of a hand-written func`},
		{"bad validate", "opener: open\n", "opener: open\nvalidate: check()\n", `x/adapter.yaml:11: validate "check()": expected the name of a hand-written func(Options) error`},
		{"conformance not bool", "opener: open\n", "opener: open\nconformance: yes\n", `x/adapter.yaml:11: spec: conformance: expected true or false, got the scalar "yes"`},
		{"options not a list", "options:\n", "options: {}\nx_:\n", `x/adapter.yaml:11: options: expected a list of options, got a mapping`},
		{"option not exported", "name: Count", "name: count", `x/adapter.yaml:12: option count: name: expected an exported Go identifier`},
		{"option reserved", "name: Count", "name: Options", `x/adapter.yaml:12: option Options: the generated name DefaultOptions is reserved by the generated code: pick another name`},
		{"option unknown type", "type: int", "type: integer", `x/adapter.yaml:13: option Count: type "integer" is unknown (valid types: int, int64, string, bool, duration, size, enum, strings, custom)`},
		{"option unknown key", "    doc: a count\n", "    doc: a count\n    dflt: 3\n", `x/adapter.yaml:20: option Count: unknown key "dflt"`},
		{"option missing doc", "    doc: a count\n", "", `x/adapter.yaml:12: option Count: missing required key "doc"`},
		{"doc on two lines", "doc: a count", "doc: \"a\\ncount\"", `x/adapter.yaml:19: option Count: doc: expected one line`},
		{"default not a number", "default: 1", "default: one", `x/adapter.yaml:14: option Count: default "one": expected an integer`},
		{"default below min", "default: 1", "default: 0", `x/adapter.yaml:14: option Count: default "0": expected an integer from 1 to 9`},
		{"zero value below min", "    default: 1\n", "", `x/adapter.yaml:12: option Count: the zero value "0" (no default is given): expected an integer from 1 to 9`},
		{"min not a number", "min: 1", "min: low", `x/adapter.yaml:15: option Count: min "low": expected an integer`},
		{"max below min", "max: 9", "max: 0", `x/adapter.yaml:16: option Count: max 0 is below min 1`},
		{"min on a string", "type: int\n    default: 1\n", "type: string\n    default: a\n", `x/adapter.yaml:15: option Count: min applies only to type int or int64 or size or duration, not string`},
		{"one_of on an int", "    doc: a count\n", "    doc: a count\n    one_of: [1, 2]\n", `x/adapter.yaml:20: option Count: one_of applies only to type string or enum or strings, not int`},
		{"secret int", "    doc: a count\n", "    doc: a count\n    secret: true\n", `x/adapter.yaml:20: option Count: secret applies only to type string or strings, not int`},
		{"bad query key", "query: count", "query: Count", `x/adapter.yaml:17: option Count: query "Count": expected a lower-case key`},
		{"bad env", "env: X_COUNT", "env: x-count", `x/adapter.yaml:18: option Count: env "x-count": expected an upper-case variable name`},
		{"bad with", "    doc: a count\n", "    doc: a count\n    with: setCount\n", `x/adapter.yaml:20: option Count: with "setCount": expected an exported Go identifier`},
		{"unsettable", "    query: count\n    env: X_COUNT\n", "    with: \"-\"\n", `x/adapter.yaml:12: option Count: nothing can set it: give query, env or with`},
		{"required with default", "    doc: a count\n", "    doc: a count\n    required: true\n", `x/adapter.yaml:14: option Count: a required option has no default`},
		{"max_const without max", "    max: 9\n", "    max_const: MaxCount\n", `x/adapter.yaml:16: option Count: max_const needs max`},
		{"enum without one_of", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: enum\n", `x/adapter.yaml:12: option Count: an enum needs one_of`},
		{"enum default not listed", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: enum\n    one_of: [a, b]\n    default: c\n", `x/adapter.yaml:15: option Count: default "c": expected one of a or b`},
		{"one_of duplicate", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: enum\n    one_of: [a, a]\n    default: a\n", `x/adapter.yaml:14: option Count: one_of: "a" is listed twice`},
		{"bad size default", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: size\n    default: 5 MiB\n", `x/adapter.yaml:14: option Count: default "5 MiB": expected a size`},
		{"bad duration default", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: duration\n    default: 5\n", `x/adapter.yaml:14: option Count: default "5": expected a duration`},
		{"bad bool default", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: bool\n    default: maybe\n", `x/adapter.yaml:14: option Count: default "maybe": expected true or false`},
		{"list default scalar", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: strings\n    default: a,b\n", `x/adapter.yaml:14: option Count: default: expected a list, got the scalar "a,b"`},
		{"custom without go_type", "type: int\n    default: 1\n    min: 1\n    max: 9\n    query: count\n    env: X_COUNT\n", "type: custom\n", `x/adapter.yaml:12: option Count: a custom option needs go_type`},
		{"custom with query", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: custom\n    go_type: func()\n", `x/adapter.yaml:15: option Count: a custom option is set only in code: remove query`},
		{"custom bad go_type", "type: int\n    default: 1\n    min: 1\n    max: 9\n    query: count\n    env: X_COUNT\n", "type: custom\n    go_type: func(\n", `x/adapter.yaml:14: option Count: go_type "func(" is not a Go type`},
		{"go_type on an int", "    doc: a count\n", "    doc: a count\n    go_type: int\n", `x/adapter.yaml:20: option Count: go_type applies only to type custom, not int`},
		{"option name a list", "name: Count", "name: [Count]", `x/adapter.yaml:12: option: name: expected a single value, got a list`},
		{"option doc empty", "doc: a count", "doc: ' '", `x/adapter.yaml:19: option Count: doc is empty: expected some text`},
		{"option min a list", "min: 1", "min: [1]", `x/adapter.yaml:15: option Count: min: expected a single value, got a list`},
		{"option default a list", "default: 1", "default: [1]", `x/adapter.yaml:14: option Count: default: expected a single value, got a list`},
		{"option secret not bool", "    doc: a count\n", "    doc: a count\n    secret: yes\n", `x/adapter.yaml:20: option Count: secret: expected true or false, got the scalar "yes"`},
		{"option required not bool", "    doc: a count\n", "    doc: a count\n    required: 1\n", `x/adapter.yaml:20: option Count: required: expected true or false, got the scalar "1"`},
		{"imports not a list", "    doc: a count\n", "    doc: a count\n    imports: time\n", `x/adapter.yaml:20: option Count: imports: expected a list, got the scalar "time"`},
		{"bad import", "    doc: a count\n", "    doc: a count\n    imports: [\"a b\"]\n", `x/adapter.yaml:20: option Count: imports: "a b": expected an import path such as time`},
		{"imports on an int", "    doc: a count\n", "    doc: a count\n    imports: [time]\n", `x/adapter.yaml:20: option Count: imports applies only to type custom, not int`},
		{"one_of empty", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: enum\n    one_of: []\n", `x/adapter.yaml:14: option Count: one_of is empty: expected the valid values`},
		{"one_of comma", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: enum\n    one_of: [a, \"b,c\"]\n    default: a\n", `x/adapter.yaml:14: option Count: one_of: "b,c": expected a non-empty value without commas`},
		{"with reserved", "    doc: a count\n", "    doc: a count\n    with: NewOptions\n", `x/adapter.yaml:20: option Count: the generated name NewOptions is reserved by the generated code: pick another with`},
		{"max_const reserved", "    max: 9\n", "    max: 9\n    max_const: ParseURL\n", `x/adapter.yaml:17: option Count: the generated name ParseURL is reserved by the generated code: pick another max_const`},
		{"max_const not exported", "    max: 9\n", "    max: 9\n    max_const: maxCount\n", `x/adapter.yaml:17: option Count: max_const "maxCount": expected an exported Go identifier such as MaxPartitions`},
		{"name Options without default", "", strings.NewReplacer("name: Count", "name: Options", "    default: 1\n    min: 1\n", "    min: 0\n", "bytes: Count", "bytes: Options").Replace(baseSpec), ""},
		{"max not a number", "max: 9", "max: high", `x/adapter.yaml:16: option Count: max "high": expected an integer`},
		{"required skips the zero value", "    default: 1\n", "    required: true\n", ""},
		{"strings default item empty", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: strings\n    default: [a, \"\"]\n", `x/adapter.yaml:14: option Count: default item "": expected a non-empty value without commas`},
		{"strings default item not listed", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: strings\n    one_of: [a, b]\n    default: [a, c]\n", `x/adapter.yaml:15: option Count: default item "c": expected a comma-separated list of a or b`},
		{"string default not listed", "type: int\n    default: 1\n    min: 1\n    max: 9\n", "type: string\n    one_of: [a, b]\n    default: c\n", `x/adapter.yaml:15: option Count: default "c": expected one of a or b`},
		{"custom with -", "type: int\n    default: 1\n    min: 1\n    max: 9\n    query: count\n    env: X_COUNT\n", "type: custom\n    go_type: int\n    with: \"-\"\n", `x/adapter.yaml:15: option Count: a custom option is set only by its functional option: with cannot be -`},
		{"custom with required", "type: int\n    default: 1\n    min: 1\n    max: 9\n    query: count\n    env: X_COUNT\n", "type: custom\n    go_type: int\n    required: true\n", `x/adapter.yaml:15: option Count: a custom option is set only in code: remove required`},
		{"option not a mapping", "pointer:\n", "  - Count\npointer:\n", `x/adapter.yaml:20: option: expected a mapping of keys (name, type, go_type, imports, default, query, env, with, secret, required, min, max, max_const, one_of, doc), got the scalar "Count"`},
		{"one_of not a list", "    doc: a count\n", "    doc: a count\n    one_of: a\n", `x/adapter.yaml:20: option Count: one_of: expected a list, got the scalar "a"`},
		{"duplicate option", "pointer:\n", "  - name: Count\n    type: int\n    default: 1\n    query: count2\n    doc: again\npointer:\n", `x/adapter.yaml:20: option name "Count" is used twice (first on line 12)`},
		{"duplicate query key", "pointer:\n", "  - name: Count2\n    type: int\n    query: count\n    doc: again\npointer:\n", `x/adapter.yaml:20: URL query key "count" is used twice (first on line 12)`},
		{"duplicate env", "pointer:\n", "  - name: Count2\n    type: int\n    env: X_COUNT\n    doc: again\npointer:\n", `x/adapter.yaml:20: environment variable "X_COUNT" is used twice (first on line 12)`},
		{"pointer fields empty", "  fields:\n    - name: n\n      type: uint64\n      doc: a number\n", "  fields: []\n", `x/adapter.yaml:23: pointer: fields: expected a non-empty list of fields`},
		{"pointer field missing doc", "      doc: a number\n", "", `x/adapter.yaml:24: pointer field: missing required key "doc"`},
		{"capability unknown option", "max_record_bytes: Count", "max_record_bytes: Size", `x/adapter.yaml:30: capabilities: max_record_bytes: "Size" is not an option of this spec`},
		{"capability bad number", "max_batch_records: 0", "max_batch_records: -1", `x/adapter.yaml:28: capabilities: max_batch_records "-1": expected an integer of at least 0`},
		{"capability size", "max_batch_bytes: 0", "max_batch_bytes: 5MiB", ""},
		{"capability missing", "  consumer_groups: false\n", "", `x/adapter.yaml:28: capabilities: missing required key "consumer_groups"`},
		{"capability not bool", "resharding: false", "resharding: no", `x/adapter.yaml:32: capabilities: resharding: expected true or false, got the scalar "no"`},
		{"alias", "scheme: x\n", "scheme: &s x\npackage: *s\n", `x/adapter.yaml:2: spec: package: YAML aliases are not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.new
			if tt.old != "" {
				if !strings.Contains(baseSpec, tt.old) {
					t.Fatalf("the base spec has no %q", tt.old)
				}
				text = strings.Replace(baseSpec, tt.old, tt.new, 1)
			}
			_, err := ParseSpec([]byte(text), "x/adapter.yaml", "x")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error = %v, want a *SpecError", err)
			}
			found := false
			for _, p := range se.Problems {
				found = found || strings.HasPrefix(p, tt.want)
				if !strings.HasPrefix(p, "x/adapter.yaml:") {
					t.Errorf("problem %q does not start with file:line", p)
				}
			}
			if !found {
				t.Errorf("problems:\n%s\nwant one starting with:\n%s", se, tt.want)
			}
		})
	}
}

// TestSpecErrorsAll checks that every problem of a spec is reported at once.
func TestSpecErrorsAll(t *testing.T) {
	text := strings.NewReplacer("title: X", "title: ''", "query: count", "query: Count", "resharding: false", "resharding: 1").Replace(baseSpec)
	_, err := ParseSpec([]byte(text), "a.yaml", "x")
	var se *SpecError
	if !errors.As(err, &se) || len(se.Problems) != 3 {
		t.Fatalf("error = %v, want 3 problems", err)
	}
	for i, line := range []string{"a.yaml:2:", "a.yaml:17:", "a.yaml:32:"} {
		if !strings.HasPrefix(se.Problems[i], line) {
			t.Errorf("problem %d = %q, want it to start with %s", i, se.Problems[i], line)
		}
	}
}
