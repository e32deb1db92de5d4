package config

import (
	"errors"
	"fmt"

	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
	"github.com/unistream-go/unistream/stream/driver"
)

// CheckURLs checks the stream, checkpoint and DLQ URLs that are set the
// way opening them would (stream.CheckURL, checkpoint.CheckURL,
// dlq.CheckURL: the scheme, and the target and options with the backend's
// own parser), without connecting to anything or creating anything. Each
// problem is an error that starts with the key and where it was set
// ("stream (from flag --stream): …") and goes on with the bad option and
// what was expected; they are joined. unchecked names the keys whose
// scheme cannot be checked without opening (driver.ErrURLNotChecked), with
// why.
func (c *Config) CheckURLs() (unchecked []string, err error) {
	var errs []error
	for _, u := range []struct {
		key, value string
		check      func(string) error
	}{
		{"stream", c.Stream, stream.CheckURL},
		{"checkpoint", c.Checkpoint, checkpoint.CheckURL},
		{"dlq", c.DLQ, dlq.CheckURL},
	} {
		if u.value == "" {
			continue
		}
		err := u.check(u.value)
		if err == nil {
			continue
		}
		where := u.key
		if src := c.Source(u.key); src != "" {
			where += " (from " + src + ")"
		}
		if errors.Is(err, driver.ErrURLNotChecked) {
			unchecked = append(unchecked, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	return unchecked, errors.Join(errs...)
}
