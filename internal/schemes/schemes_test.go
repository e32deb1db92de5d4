package schemes_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/internal/schemes"
)

type opener interface{ Name() string }

type named string

func (n named) Name() string { return string(n) }

func TestRegistry(t *testing.T) {
	r := schemes.New[opener]("test")
	r.Register("b", named("B"))
	r.Register("a", named("A"))
	if o, ok := r.Lookup("a"); !ok || o.Name() != "A" {
		t.Fatalf(`Lookup("a") = %v, %t; want A`, o, ok)
	}
	if o, ok := r.Lookup("c"); ok || o != nil {
		t.Fatalf(`Lookup("c") = %v, %t; want nothing`, o, ok)
	}
	if got := r.Schemes(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Schemes = %v, want [a b]", got)
	}
	for _, tc := range []struct {
		scheme string
		o      opener
		want   string
	}{
		{"", named("x"), "test: Register with an empty scheme or a nil opener"},
		{"x", nil, "test: Register with an empty scheme or a nil opener"},
		{"a", named("again"), "test: Register called twice for scheme a"},
	} {
		t.Run(fmt.Sprintf("%q", tc.scheme), func(t *testing.T) {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), tc.want) {
					t.Fatalf("panic = %v, want %q", p, tc.want)
				}
			}()
			r.Register(tc.scheme, tc.o)
		})
	}
	if o, _ := r.Lookup("a"); o.Name() != "A" {
		t.Fatalf("a failed second Register replaced the opener: %v", o)
	}
}
