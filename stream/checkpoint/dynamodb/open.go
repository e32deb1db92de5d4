package dynamodb

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/unistream-go/unistream/stream/checkpoint"
)

func init() {
	checkpoint.Register("dynamodb", urlOpener{})
}

// urlOpener is the registered opener of the dynamodb scheme.
type urlOpener struct{}

// Open opens the store of u (see open).
func (urlOpener) Open(ctx context.Context, u *url.URL) (checkpoint.Store, error) { return open(ctx, u) }

// CheckURL reads u with ParseURL and checks the table name and options as
// New does before it connects, without connecting to DynamoDB (the method
// of driver.URLChecker, for checkpoint.CheckURL).
func (urlOpener) CheckURL(u *url.URL) error {
	table, opts, err := ParseURL(u)
	if err != nil {
		return err
	}
	_, err = newConfig(table, opts)
	return err
}

// urlForm describes the store URL in errors.
const urlForm = "dynamodb://TABLE?region=REGION&endpoint=URL&create=true&create_timeout=DURATION (all parameters optional)"

// open opens a store from a URL (see ParseURL), for checkpoint.Open:
//
//	dynamodb://unistream-checkpoints?region=eu-west-1
//	dynamodb://checkpoints?endpoint=http://127.0.0.1:4567&region=us-east-1&create=true
//
// Credentials come from the default AWS chain (environment, shared files,
// SSO, instance role); URLs never carry secrets.
func open(ctx context.Context, u *url.URL) (checkpoint.Store, error) {
	table, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, table, opts...)
}

// ParseURL reads a dynamodb:// store URL into the table name and options.
// Query parameters: region, endpoint, create (true or false) and
// create_timeout (a Go duration). Anything else (a user, a path, an unknown
// or repeated parameter) is an error naming what was expected.
func ParseURL(u *url.URL) (table string, opts []Option, err error) {
	if u.Scheme != "dynamodb" {
		return "", nil, fmt.Errorf("store URL scheme %q: expected %s", u.Scheme, urlForm)
	}
	if u.User != nil {
		return "", nil, fmt.Errorf("a dynamodb store URL takes no user or password (credentials come from the AWS chain): expected %s", urlForm)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return "", nil, fmt.Errorf("a dynamodb store URL takes no path or fragment: expected %s", urlForm)
	}
	table = u.Host
	if table == "" {
		return "", nil, fmt.Errorf("a dynamodb store URL needs a table name: expected %s", urlForm)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("dynamodb store URL query: %w (expected %s)", err, urlForm)
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	create, timeout := false, time.Duration(0)
	for _, k := range keys {
		vs := q[k]
		if len(vs) != 1 {
			return "", nil, fmt.Errorf("dynamodb store URL parameter %q given %d times: expected it once", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "region":
			opts = append(opts, WithRegion(v))
		case "endpoint":
			opts = append(opts, WithEndpoint(v))
		case "create":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return "", nil, fmt.Errorf("dynamodb store URL parameter create=%q: expected true or false", v)
			}
			create = b
		case "create_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return "", nil, fmt.Errorf("dynamodb store URL parameter create_timeout=%q: expected a positive duration such as 30s", v)
			}
			timeout = d
		default:
			return "", nil, fmt.Errorf("dynamodb store URL parameter %q is unknown: expected region, endpoint, create or create_timeout (%s)", k, urlForm)
		}
	}
	if timeout != 0 && !create {
		return "", nil, fmt.Errorf("dynamodb store URL parameter create_timeout without create=true: expected both or neither")
	}
	if create {
		opts = append(opts, WithCreateTable(timeout))
	}
	return table, opts, nil
}
