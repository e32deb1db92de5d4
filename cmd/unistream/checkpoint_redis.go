package main

// The Redis checkpoint store (redis:// and rediss://) for --checkpoint.
// go-redis is pure Go, so the lite build (make demo) keeps it too.
import _ "github.com/unistream-go/unistream/stream/checkpoint/redis"
