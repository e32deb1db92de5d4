package postgres_test

import (
	"fmt"
	"net/url"

	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/checkpoint/postgres"
)

// ParseURL splits a store URL into the connection string for Connect and
// the store's options; checkpoint.CheckURL checks one without connecting.
func ExampleParseURL() {
	u, _ := url.Parse("postgres://app@db.internal:5432/orders?table=billing_checkpoints&sslmode=verify-full")
	conn, opts, err := postgres.ParseURL(u)
	fmt.Println(conn, len(opts), err)
	fmt.Println(checkpoint.CheckURL("postgres://app@db.internal/orders?table=Billing"))
	// Output:
	// postgres://app@db.internal:5432/orders?sslmode=verify-full 1 <nil>
	// checkpoint: store URL postgres://app@db.internal/orders?table=Billing: postgres store URL parameter table="Billing": expected a table name of 1 to 63 lower-case letters, digits and '_', not starting with a digit, optionally qualified by a schema name of the same form (schema.table)
}
