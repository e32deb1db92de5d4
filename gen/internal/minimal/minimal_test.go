package minimal

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/unistream-go/unistream/stream/driver"
)

func TestNoOptions(t *testing.T) {
	u, _ := url.Parse("minimal:x")
	o, err := ParseURLEnv(u, func(string) (string, bool) { return "1", true })
	if err != nil {
		t.Fatal(err)
	}
	if s := o.String(); s != `minimal.Options{Name:"x"}` {
		t.Errorf("String() = %s", s)
	}
	if o.Capabilities() != (driver.Capabilities{}) || o.IsSet("Name") {
		t.Errorf("Capabilities() = %+v", o.Capabilities())
	}
	u, _ = url.Parse("minimal:x?a=1")
	if _, err := ParseURLEnv(u, nil); err == nil || !strings.Contains(err.Error(), `minimal: URL query key "a" is unknown (valid keys: none)`) {
		t.Errorf("unknown key: %v", err)
	}
	if o, err := FromEnv(nil); err != nil || o.String() != `minimal.Options{Name:""}` {
		t.Errorf("FromEnv: %v, %v", o, err)
	}
	o2 := NewOptions(nil)
	o2.Apply()
	op, ok := driver.Lookup("minimal")
	if !ok {
		t.Fatal("not registered")
	}
	if _, err := op.Open(context.Background(), &url.URL{Scheme: "minimal", Opaque: "y"}); !errors.Is(err, ErrNoBackend) {
		t.Errorf("Open: %v", err)
	}
}
