package stream_test

import (
	"context"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/stream"
)

func TestOpenErrorsNameTheURLWithoutSecrets(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"mem://orders?partitions=0&sasl_password=SECRET1", "partitions"},
		{"nosuch://h/t?api_token=SECRET1&x=1", `unknown scheme "nosuch"`},
		{"nosuch://user:SECRET1@h/t", `unknown scheme "nosuch"`},
		{"mem://orders?partitions=2&access_key=SECRET1&bogus=1", "bogus"},
		{"://bad?password=SECRET1", "malformed URL"},
		{"orders?token=SECRET1", "no scheme"},
	}
	for _, tt := range tests {
		_, err := stream.Open(context.Background(), tt.url)
		if err == nil {
			t.Errorf("Open(%q) succeeded, want an error", tt.url)
			continue
		}
		if strings.Contains(err.Error(), "SECRET1") {
			t.Errorf("Open(%q) error leaks the secret: %v", tt.url, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) = %v, want it to mention %q", tt.url, err, tt.want)
		}
	}
}
