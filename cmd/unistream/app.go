package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
	"github.com/unistream-go/unistream/stream/dlq"
)

// defaultConnectTimeout bounds opening a stream when connect_timeout is unset.
const defaultConnectTimeout = 10 * time.Second

// globals are the root command's persistent flags.
type globals struct {
	configPath string
	output     string
	verbose    bool
	logLevel   string // --log-level
	logFormat  string // --log-format
	// logSet says --log-level or --log-format was given: only then do the
	// consumer and producer log their events (WithLogger), which the
	// command's own display shows already.
	logSet bool
}

// logLevels are the values of --log-level.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func (g *globals) check() error {
	if g.output != "text" && g.output != "json" {
		return &usageError{fmt.Errorf("--output %q: expected text or json", g.output)}
	}
	if _, ok := logLevels[g.logLevel]; !ok {
		return &usageError{fmt.Errorf("--log-level %q: expected debug, info, warn or error", g.logLevel)}
	}
	if g.logFormat != "" && g.logFormat != "text" && g.logFormat != "json" {
		return &usageError{fmt.Errorf("--log-format %q: expected text or json", g.logFormat)}
	}
	return nil
}

// logger returns the logger of the command's log lines, written to w at
// --log-level in --log-format (by default text, or json with --output
// json). Call it after check.
func (g *globals) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevels[g.logLevel]}
	if g.logFormat == "json" || (g.logFormat == "" && g.json()) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// engineLogger returns the option that makes the consumer or producer log
// its events on w, when --log-level or --log-format was given, or nil.
func (g *globals) engineLogger(w io.Writer) stream.Option {
	if !g.logSet {
		return nil
	}
	return stream.WithLogger(g.logger(w))
}

func (g *globals) json() bool { return g.output == "json" }

// bindings maps a command's flags to configuration keys.
type bindings struct {
	flags map[string]string // flag name -> config key
}

// bind adds a string flag that sets the configuration key.
func (b *bindings) bind(fs *pflag.FlagSet, flag, key, usage string) {
	if b.flags == nil {
		b.flags = map[string]string{}
	}
	b.flags[flag] = key
	exp := ""
	for _, k := range config.Keys() {
		if k.Name == key {
			exp = k.Expected
		}
	}
	v := &keyValue{typ: typeOf(exp)}
	f := fs.VarPF(v, flag, "", fmt.Sprintf("%s: %s (config %s, env %s)", usage, exp, key, envOf(key)))
	if v.typ == "bool" {
		f.NoOptDefVal = "true"
	}
}

// keyValue is a flag whose text the configuration checks (so that flags,
// the environment and the file report bad values alike); typ names its
// kind in --help.
type keyValue struct{ s, typ string }

func (v *keyValue) String() string     { return v.s }
func (v *keyValue) Set(s string) error { v.s = s; return nil }
func (v *keyValue) Type() string       { return v.typ }

// typeOf names a key's kind from its expected form.
func typeOf(expected string) string {
	switch {
	case strings.HasPrefix(expected, "an integer"):
		return "int"
	case strings.Contains(expected, "duration"):
		return "duration"
	case strings.HasPrefix(expected, "a URL"):
		return "url"
	case expected == "true or false":
		return "bool"
	case strings.HasPrefix(expected, "a number"):
		return "float"
	case strings.HasPrefix(expected, "a byte size"):
		return "size"
	}
	return "string"
}

func envOf(key string) string {
	return config.EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// load reads the configuration: the file (--config or UNISTREAM_CONFIG),
// then the environment, then the bound flags that were given.
func (g *globals) load(cmd *cobra.Command, b *bindings) (*config.Config, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	path := g.configPath
	if path == "" {
		path = os.Getenv("UNISTREAM_CONFIG")
	}
	cfg := &config.Config{}
	if path != "" {
		c, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		return nil, err
	}
	if b != nil {
		var err error
		cmd.Flags().Visit(func(f *pflag.Flag) {
			key, ok := b.flags[f.Name]
			if !ok || err != nil {
				return
			}
			if e := cfg.Set(key, f.Value.String(), "flag --"+f.Name); e != nil {
				err = &usageError{e}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// need returns an error naming the ways to set a missing key.
func need(key, flag string) error {
	via := "--" + flag + ", "
	if flag == "" {
		via = ""
	}
	return &usageError{fmt.Errorf("no %s given: set it with %s%s or %s in the --config file", key, via, envOf(key), key)}
}

func connectTimeout(cfg *config.Config) time.Duration {
	if cfg.ConnectTimeout > 0 {
		return cfg.ConnectTimeout
	}
	return defaultConnectTimeout
}

// openStream opens a stream by URL, bounded by the connect timeout.
func openStream(ctx context.Context, cfg *config.Config, rawURL string) (*stream.Stream, error) {
	d := connectTimeout(cfg)
	octx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	s, err := stream.Open(octx, rawURL)
	if err != nil {
		if octx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("%w (no answer within the connect timeout %s; is the broker running? change it with --connect-timeout or connect_timeout)", err, d)
		}
		return nil, err
	}
	return s, nil
}

// openStore opens the checkpoint store; mem:// is refused where the state
// must outlive the command unless allowMem.
func openStore(ctx context.Context, cfg *config.Config, allowMem bool) (checkpoint.Store, error) {
	if cfg.Checkpoint == "" {
		return nil, need("checkpoint", "checkpoint")
	}
	if !allowMem && strings.HasPrefix(cfg.Checkpoint, "mem:") {
		return nil, &usageError{fmt.Errorf("checkpoint %s: a memory store lives only as long as one command; expected a persistent store such as file:///DIR", cfg.Checkpoint)}
	}
	return checkpoint.Open(ctx, cfg.Checkpoint)
}

// openSink opens the DLQ sink, bounded by the connect timeout.
func openSink(ctx context.Context, cfg *config.Config) (dlq.Sink, error) {
	octx, cancel := context.WithTimeout(ctx, connectTimeout(cfg))
	defer cancel()
	return dlq.Open(octx, cfg.DLQ)
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// interrupted reports whether err is only the graceful stop of ctx.
func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
