package kinesis_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/kinesis"
)

func TestParseURL(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		url     string
		stream  string
		arn     string
		wantErr string
	}{
		{url: "kinesis://orders?region=eu-west-1", stream: "orders"},
		{url: "kinesis://my_stream.v2-a", stream: "my_stream.v2-a"},
		{url: "kinesis:///arn:aws:kinesis:eu-west-1:123456789012:stream/orders", stream: "orders", arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/orders"},
		{url: "kinesis://orders?endpoint=http://127.0.0.1:4567&access_key_id=a&secret_access_key=b", stream: "orders"},
		{url: "kinesis://orders:4567", wantErr: "port"},
		{url: "kinesis://orders/x", wantErr: "path"},
		{url: "kinesis://", wantErr: "no stream"},
		{url: "kinesis:///arn:aws:s3:::bucket", wantErr: "expected arn:aws:kinesis"},
		{url: "kinesis:///arn:aws:kinesis:eu-west-1:12x:stream/orders", wantErr: "account"},
		{url: "kinesis://user:pw@orders", wantErr: "user information"},
		{url: "kinesis://orders?access_key_id=a", wantErr: "secret_access_key"},
		{url: "kinesis://orders?endpoint=ftp://x", wantErr: "endpoint"},
		{url: "kinesis://orders?region=EU_WEST", wantErr: "region"},
		{url: "kinesis://orders?shards=3", wantErr: "create_stream"},
		{url: "kinesis://orders?max_batch_records=20000", wantErr: "max_batch_records"},
		{url: "kinesis://orders?poll_interval=fast", wantErr: "poll_interval"},
		{url: "kinesis://orders?nope=1", wantErr: "unknown"},
		{url: "kinesis:///arn:aws:kinesis:eu-west-1:123456789012:stream/orders?region=us-east-1", wantErr: "region"},
		{url: "kinesis://orders?profile=p&access_key_id=a&secret_access_key=b", wantErr: "profile"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		o, err := kinesis.ParseURLEnv(u, noEnv)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want one mentioning %q", tc.url, err, tc.wantErr)
			}
			continue
		}
		if err != nil || o.Stream != tc.stream || o.ARN != tc.arn {
			t.Errorf("%s: %+v, %v; want stream %q arn %q", tc.url, o.Target, err, tc.stream, tc.arn)
		}
	}
}

func TestOptionsRedact(t *testing.T) {
	u, _ := url.Parse("kinesis://orders?access_key_id=AKID&secret_access_key=TOPSECRET&session_token=TOKEN")
	o, err := kinesis.ParseURLEnv(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := o.String(); strings.Contains(s, "TOPSECRET") || strings.Contains(s, "TOKEN") || !strings.Contains(s, "AKID") {
		t.Errorf("String() = %s: want the secrets redacted", s)
	}
	u, _ = url.Parse("kinesis://orders?secret_access_key=TOPSECRET&access_key_id=a&max_record_bytes=x")
	if _, err := kinesis.ParseURLEnv(u, nil); err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("error %v must not show the secret", err)
	}
}
