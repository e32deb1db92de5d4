package memstream

import "github.com/unistream-go/unistream/stream/driver"

// init registers the mem URL scheme; see parseURL for the URL form.
func init() { driver.Register("mem", driver.OpenerFunc(openURL)) }
