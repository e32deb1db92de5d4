package optvalue

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseAndFormatSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		show    string
		wantErr string
	}{
		{"0", 0, "0B", ""},
		{"1000", 1000, "1000B", ""},
		{"64KiB", 64 << 10, "64KiB", ""},
		{"5mib", 5 << 20, "5MiB", ""},
		{"2MB", 2e6, "2000000B", ""},
		{"1GB", 1e9, "1000000000B", ""},
		{"3TiB", 3 << 40, "3TiB", ""},
		{"", 0, "", "not a number of bytes"},
		{"KiB", 0, "", "not a number of bytes"},
		{"12 KiB", 0, "", `unknown unit " KiB"`},
		{"1PiB", 0, "", `unknown unit "PiB"`},
		{"9999999999TiB", 0, "", "too large"},
		{"99999999999999999999", 0, "", "value out of range"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.wantErr != "" {
			if err == nil || Cause(err).Error() != tt.wantErr {
				t.Errorf("ParseSize(%q) = %d, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if s := FormatSize(int64(got)); s != tt.show {
			t.Errorf("FormatSize(%d) = %q, want %q", got, s, tt.show)
		}
	}
}

func TestLists(t *testing.T) {
	if v, err := ParseList(""); err != nil || v != nil {
		t.Errorf(`ParseList("") = %v, %v`, v, err)
	}
	if v, err := ParseList("a,b"); err != nil || len(v) != 2 || FormatList(v) != `"a,b"` {
		t.Errorf(`ParseList("a,b") = %v, %v`, v, err)
	}
	if _, err := ParseList("a,,b"); err == nil || err.Error() != "item 2 is empty" {
		t.Errorf(`ParseList("a,,b") error = %v`, err)
	}
	if !OneOf("b", "a", "b") || OneOf("c", "a", "b") {
		t.Error("OneOf")
	}
	if !AllOf([]string{"a", "b"}, "a", "b") || AllOf([]string{"a", "c"}, "a", "b") {
		t.Error("AllOf")
	}
}

func TestShowAndCause(t *testing.T) {
	if Redact(true) != "***" || Redact(false) != `""` {
		t.Error("Redact")
	}
	var f func()
	if ShowCustom(f) != "unset" || ShowCustom(func() {}) != "set" || ShowCustom(nil) != "unset" {
		t.Error("ShowCustom")
	}
	_, err := strconv.Atoi("x")
	if !errors.Is(Cause(err), strconv.ErrSyntax) {
		t.Errorf("Cause(%v) = %v", err, Cause(err))
	}
	other := errors.New("other")
	if Cause(other) != other {
		t.Error("Cause changed a non-strconv error")
	}
	if v, err := ParseInt64("-42"); err != nil || v != -42 {
		t.Errorf("ParseInt64 = %d, %v", v, err)
	}
}

func TestParseHostPorts(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "a", want: "a:9092"},
		{in: "a:1,b:65535", want: "a:1,b:65535"},
		{in: "[::1]:7,[::2]", want: "[::1]:7,[::2]:9092"},
		{in: "a,,b", wantErr: `x list "a,,b": empty entry`},
		{in: "::1", wantErr: "an IPv6 address goes in brackets: [::1]:9092"},
		{in: ":80", wantErr: "empty host"},
		{in: "a:0", wantErr: `port "0": expected a number from 1 to 65535`},
		{in: "a:080", wantErr: `port "080"`},
		{in: "a:x", wantErr: `port "x"`},
		{in: "[::1", wantErr: `x "[::1": expected HOST:PORT`},
	} {
		got, err := ParseHostPorts("x", tt.in, 9092)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHostPorts(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != tt.want {
			t.Errorf("ParseHostPorts(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
