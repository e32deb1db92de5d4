package redis

import (
	"crypto/tls"
	"errors"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

// permanentPrefixes are the starts of Redis error replies that retrying
// cannot cure: the credentials or the ACL refuse the command, a key holds
// another type, or the server does not know a command or database the
// store needs. An operator must act.
var permanentPrefixes = []string{
	"NOAUTH",               // authentication required, none given
	"WRONGPASS",            // wrong user name or password
	"NOPERM",               // the ACL user may not run the command or touch the key
	"WRONGTYPE",            // a key holds another type (mapped to ErrCorrupt where the key is known)
	"ERR AUTH",             // AUTH with a password the server does not have
	"ERR invalid password", // older servers
	"ERR Client sent AUTH", // older servers: AUTH without requirepass
	"ERR unknown command",  // EVALSHA, HSET… renamed or disabled
	"ERR DB index is out of range",
	"ERR SELECT is not allowed in cluster mode",
}

// classify marks an error of the Redis client with its class for
// checkpoint.IsPermanent:
//
//   - the replies of permanentPrefixes (NOAUTH, WRONGPASS, NOPERM,
//     WRONGTYPE, unknown command, database out of range) and a TLS
//     certificate that does not verify are marked checkpoint.Permanent;
//   - everything else is transient: connection errors and timeouts, a
//     closed pool, a done context, LOADING (the server is loading its
//     data), BUSY (a script runs), TRYAGAIN, MASTERDOWN, CLUSTERDOWN,
//     READONLY (a failover), MISCONF (the server cannot persist), the
//     maximum number of clients, and OOM: the server is at maxmemory with
//     the noeviction policy. OOM is transient rather than ErrTooLarge
//     because it says the server is full, not that this checkpoint is too
//     large (Save refuses those itself, see WithMaxDocumentBytes): the
//     consumer pauses the partition and retries until memory is freed,
//     and the error names maxmemory for the operator.
//
// The error keeps its message and still matches the client's types.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var re goredis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range permanentPrefixes {
			if strings.HasPrefix(msg, p) {
				return checkpoint.Permanent(err)
			}
		}
		return err
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return checkpoint.Permanent(err)
	}
	return err
}

// scrubbed is an error whose message had a secret replaced; errors.Is
// and errors.As still see the wrapped error. It keeps the scrubbed
// message, not the secret, so that no formatting of it shows the secret.
type scrubbed struct {
	err error
	msg string
}

func (e *scrubbed) Error() string { return e.msg }

func (e *scrubbed) Unwrap() error { return e.err }

// scrub returns err with every occurrence of secret in its message
// replaced; err itself if secret is empty or absent.
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &scrubbed{err: err, msg: strings.ReplaceAll(err.Error(), secret, "xxxxx")}
}
