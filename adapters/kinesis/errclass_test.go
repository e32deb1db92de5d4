package kinesis_test

import (
	"context"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/adapters/kinesis/kinesistest"
	"github.com/unistream-go/unistream/stream/driver"
)

// kinesisCodes lists every error code the adapter classifies, with its
// class (true: permanent).
var kinesisCodes = []struct {
	code      string
	permanent bool
}{
	{"ResourceNotFoundException", true},
	{"InvalidArgumentException", true},
	{"AccessDeniedException", true},
	{"ValidationException", true},
	{"KMSDisabledException", true},
	{"KMSInvalidStateException", true},
	{"KMSAccessDeniedException", true},
	{"KMSNotFoundException", true},
	{"KMSOptInRequired", true},
	{"UnrecognizedClientException", true},
	{"InvalidSignatureException", true},
	{"MissingAuthenticationToken", true},
	{"IncompleteSignature", true},
	{"ExpiredTokenException", false},
	{"KMSThrottlingException", false},
	{"ProvisionedThroughputExceededException", false},
	{"LimitExceededException", false},
	{"ResourceInUseException", false},
	{"InternalFailure", false},
	{"ServiceUnavailable", false},
	{"ThrottlingException", false},
	{"ExpiredIteratorException", false},
}

// TestWriteErrorClassOnKinesis fails a PutRecords call with each code and
// checks the class of Write's error at the seam.
func TestWriteErrorClassOnKinesis(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "classes", 1)
	w, err := s.OpenWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, tc := range kinesisCodes {
		t.Run(tc.code, func(t *testing.T) {
			b.Fake().Fail("classes", "PutRecords", 1, tc.code)
			recs := keyed(1, 1, nil)
			res := make([]driver.WriteResult, len(recs))
			err := w.Write(context.Background(), recs, res)
			if err == nil || !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("Write = %v, want the %s", err, tc.code)
			}
			if got := driver.IsPermanent(err); got != tc.permanent {
				t.Errorf("%s: permanent = %v, want %v (%v)", tc.code, got, tc.permanent, err)
			}
		})
	}
}

// TestFetchErrorClassOnKinesis fails GetRecords with a permanent and a
// transient code.
func TestFetchErrorClassOnKinesis(t *testing.T) {
	b := kinesistest.Start(t)
	s := openFake(t, b, "fetchclasses", 1)
	parts, err := s.Partitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenReader(context.Background(), parts[0].ID, driver.Start{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tc := range []struct {
		code      string
		permanent bool
	}{{"AccessDeniedException", true}, {"InternalFailure", false}} {
		b.Fake().Fail("fetchclasses", "GetRecords", 1, tc.code)
		_, err := r.Fetch(context.Background(), 10)
		if err == nil || driver.IsPermanent(err) != tc.permanent {
			t.Errorf("Fetch failing with %s = %v, want permanent = %v", tc.code, err, tc.permanent)
		}
	}
}
