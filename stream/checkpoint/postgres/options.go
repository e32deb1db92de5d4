package postgres

import (
	"fmt"
	"strings"
)

// Option configures a Store.
type Option func(*config) error

type config struct {
	table  string // validated, unquoted: "name" or "schema.name"
	create bool
}

// DefaultTable is the table a Store uses without WithTable.
const DefaultTable = "unistream_checkpoints"

// OptionError reports an invalid option value and what was expected.
type OptionError struct {
	Option   string
	Value    any
	Expected string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("postgres checkpoint store: option %s: got %v, expected %s", e.Option, e.Value, e.Expected)
}

// tableExpected describes a valid table name in errors.
const tableExpected = "a table name of 1 to 63 lower-case letters, digits and '_', not starting with a digit, optionally qualified by a schema name of the same form (schema.table)"

// WithTable sets the table (default DefaultTable): "name", or
// "schema.name" for a table outside the search path. Names are lower-case
// SQL identifiers (letters, digits, '_'), and are always quoted in SQL.
func WithTable(name string) Option {
	return func(c *config) error {
		if !validTable(name) {
			return &OptionError{Option: "WithTable", Value: fmt.Sprintf("%q", name), Expected: tableExpected}
		}
		c.table = name
		return nil
	}
}

// WithCreateTable sets whether New creates the table when it is missing
// (default true). Without it, a missing table is an error, for a role
// that may not create tables.
func WithCreateTable(create bool) Option {
	return func(c *config) error {
		c.create = create
		return nil
	}
}

// newConfig applies the options over the defaults.
func newConfig(opts []Option) (config, error) {
	c := config{table: DefaultTable, create: true}
	for _, o := range opts {
		if o == nil {
			return c, &OptionError{Option: "Option", Value: nil, Expected: "a non-nil option"}
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// validTable reports whether name is "ident" or "ident.ident" with each
// identifier of 1 to 63 bytes from [a-z0-9_], not starting with a digit.
func validTable(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 63 || ('0' <= p[0] && p[0] <= '9') {
			return false
		}
		for _, c := range []byte(p) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
				return false
			}
		}
	}
	return true
}
