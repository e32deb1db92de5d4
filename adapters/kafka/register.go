package kafka

import "github.com/unistream-go/unistream/stream/driver"

// init registers the kafka URL scheme; see parseURL for the URL form.
func init() { driver.Register("kafka", driver.OpenerFunc(openURL)) }
