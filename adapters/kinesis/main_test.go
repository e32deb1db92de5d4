package kinesis_test

import (
	"testing"

	"go.uber.org/goleak"

	_ "github.com/unistream-go/unistream/adapters/kinesis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
