package checkpoint

import (
	"net/url"
	"strings"
	"testing"
)

// TestRedacted: the store URL in an error never shows a password, in the
// user info, a password parameter or an opaque URL.
func TestRedacted(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://u:pw@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u@h/db?sslmode=disable&password=pw&x=1", "postgres://u@h/db?sslmode=disable&password=xxxxx&x=1"},
		{"postgres://u@h/db?PASSWORD=pw", "postgres://u@h/db?PASSWORD=xxxxx"},
		{"postgres:u:pw@h/db", "postgres:u:xxxxx@h/db"},
		{"file:///var/lib/app", "file:///var/lib/app"},
		{"dynamodb://t?region=x", "dynamodb://t?region=x"},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redacted(u); got != tc.want {
			t.Errorf("redacted(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	err := CheckURL("nosuchscheme://u@h/db?password=pw")
	if err == nil || strings.Contains(err.Error(), "pw") {
		t.Fatalf("CheckURL of an unknown scheme: err = %v, want one without the password", err)
	}
}

// TestRedactURL: RedactURL hides the password of a URL, and of a string
// that does not parse as one.
func TestRedactURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://u:pw@h/db?password=pw2", "postgres://u:xxxxx@h/db?password=xxxxx"},
		{"postgres://u:pw@h/db?a=%zz", "postgres://u:xxxxx@h/db?a=%zz"},
		{"postgres://u:p w@h:bad/db?password=pw2", "postgres://u:xxxxx@h:bad/db?password=xxxxx"},
		{"file:///var/lib/app", "file:///var/lib/app"},
		{"mem://", "mem://"},
		{"file:relative/dir", "file:relative/dir"},
	}
	for _, tc := range cases {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
