package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	// The Redis checkpoint store (redis:// and rediss://) for --checkpoint.
	// go-redis is pure Go, so the lite build (make demo) keeps it too.
	_ "github.com/unistream-go/unistream/stream/checkpoint/redis"
)

// go-redis logs to standard error through a logger of its own; the CLI
// sends those lines to slog, as the other client libraries' logs, at
// debug level: they repeat what the store's errors say (a failed dial,
// per retry), and --log-level debug shows them.
func init() { goredis.SetLogger(redisLog{}) }

// redisLog is go-redis's logger writing to slog's default logger.
type redisLog struct{}

// Printf logs one line of go-redis at debug level.
func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().Log(ctx, slog.LevelDebug, strings.TrimSpace(fmt.Sprintf(format, v...)), "lib", "go-redis")
}
