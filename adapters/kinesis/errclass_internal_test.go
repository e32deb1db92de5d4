package kinesis

import (
	"fmt"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/unistream-go/unistream/stream/driver"
)

func TestClassifyKinesisCodes(t *testing.T) {
	for code, perm := range errorCodes {
		err := classify(fmt.Errorf("PutRecords: %w", &smithy.GenericAPIError{Code: code, Message: "m"}))
		if driver.IsPermanent(err) != perm {
			t.Errorf("%s: permanent = %v, want %v", code, !perm, perm)
		}
	}
	if driver.IsPermanent(classify(&smithy.GenericAPIError{Code: "SomethingNew"})) {
		t.Error("an unknown code is permanent")
	}
}
