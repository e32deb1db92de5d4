package main

// The PostgreSQL checkpoint store (postgres:// and postgresql://
// --checkpoint URLs). pgx is pure Go and small, so the lite build keeps
// it too.
import _ "github.com/unistream-go/unistream/stream/checkpoint/postgres"
