package redis_test

import (
	"fmt"

	"github.com/unistream-go/unistream/stream/checkpoint"
	_ "github.com/unistream-go/unistream/stream/checkpoint/redis" // registers redis:// and rediss://
)

// A store URL is checked without connecting; a mistake is named with what
// was expected, and the password is never shown.
func Example_checkURL() {
	fmt.Println(checkpoint.CheckURL("redis://:s3cret@cache.internal:6379/2?prefix=billing:"))
	fmt.Println(checkpoint.CheckURL("rediss://:s3cret@cache.internal:6380/two"))
	fmt.Println(checkpoint.CheckURL("redis://:s3cret@cache.internal?prefx=billing:"))
	// Output:
	// <nil>
	// checkpoint: store URL rediss://:xxxxx@cache.internal:6380/two: redis store URL path "/two": expected a database number such as /0 (redis://[USER:PASSWORD@]HOST[:PORT][/DB]?prefix=PREFIX&dial_timeout=DURATION&timeout=DURATION (rediss:// for TLS; all but the host optional))
	// checkpoint: store URL redis://:xxxxx@cache.internal?prefx=billing:: redis store URL parameter "prefx" is unknown: expected prefix, dial_timeout or timeout (redis://[USER:PASSWORD@]HOST[:PORT][/DB]?prefix=PREFIX&dial_timeout=DURATION&timeout=DURATION (rediss:// for TLS; all but the host optional))
}
