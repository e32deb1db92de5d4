// Command unistream runs, inspects and repairs unistream consumers and
// producers, runs embedded brokers for local development, and shows the
// engine at work with `unistream demo`.
//
//	unistream demo                                    # producer + consumer on embedded Kafka
//	unistream serve                                   # embedded brokers on loopback, until Ctrl-C
//	unistream produce kafka://127.0.0.1:9092/orders < records.jsonl
//	unistream consume kafka://127.0.0.1:9092/orders --exec ./handle.sh --dlq file:///tmp/orders.dlq.jsonl
//	unistream tail kafka://127.0.0.1:9092/orders --from earliest
//	unistream checkpoint show|retry|skip|reset
//	unistream dlq show|replay
//	unistream conformance --stream 'kafka://broker:9092/{name}?create_topic=true&partitions={partitions}'
//	unistream version
//
// Every command takes --config FILE (a YAML file, see package config);
// UNISTREAM_* environment variables override it and flags override both.
// --log-level and --log-format set the log lines on stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

// Exit codes.
const (
	exitError     = 1
	exitUsage     = 2
	exitInterrupt = 130
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { // owned by main: the first signal stops gracefully, the second at once
		<-sigs
		fmt.Fprintln(os.Stderr, "unistream: stopping: finishing in-flight work and saving (press Ctrl-C again to exit at once)")
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "unistream: exiting at once")
		os.Exit(exitInterrupt)
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// --log-level and --log-format replace slog's default logger, which
	// redirects the log package, while the command runs.
	defer func(l *slog.Logger, w io.Writer, flags int) {
		slog.SetDefault(l)
		log.SetOutput(w)
		log.SetFlags(flags)
	}(slog.Default(), log.Writer(), log.Flags())
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "unistream:", err)
	var ue *usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	return exitError
}

// usageError is a bad command line: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitCodeError ends the program with a chosen code.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "unistream",
		Short: "One consumer and producer engine over Kafka, Pulsar, Kinesis and memory",
		Long: `unistream consumes and produces records on Kafka, Pulsar, Kinesis and the
in-memory backend with one engine: checkpoints committed per batch,
retries with backoff, a dead-letter queue or a durable halt, and a
crash-safe producer. Streams, checkpoint stores and DLQs are chosen by URL.

Configuration: --config FILE (YAML; keys listed by 'unistream config keys'),
then UNISTREAM_* environment variables, then flags, each overriding the last.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%s: %w (see %s --help)", cmd.CommandPath(), err, cmd.CommandPath())}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "YAML configuration file (env UNISTREAM_CONFIG)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "show every attempt and batch")
	pf.StringVar(&g.logLevel, "log-level", "info", "level of the log lines on stderr: debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "", "format of the log lines on stderr: text or json (default text, json with --output json)")
	// The log flags configure slog's default logger, on stderr, before any
	// command runs: the backends' client libraries log through it.
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := g.check(); err != nil {
			return err
		}
		g.logSet = cmd.Flags().Changed("log-level") || cmd.Flags().Changed("log-format")
		slog.SetDefault(g.logger(cmd.ErrOrStderr()))
		return nil
	}
	root.AddCommand(
		newDemoCmd(g),
		newServeCmd(g),
		newProduceCmd(g),
		newConsumeCmd(g),
		newTailCmd(g),
		newCheckpointCmd(g),
		newDLQCmd(g),
		newConformanceCmd(g),
		newConfigCmd(g),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := g.check(); err != nil {
					return err
				}
				if g.output == "json" {
					return writeJSON(cmd.OutOrStdout(), map[string]string{"version": version})
				}
				fmt.Fprintln(cmd.OutOrStdout(), "unistream", version)
				return nil
			},
		},
	)
	// Arguments errors (cobra.ExactArgs …) are usage errors too.
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		args := c.Args
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return &usageError{fmt.Errorf("%s: %w (see %s --help)", cmd.CommandPath(), err, cmd.CommandPath())}
			}
			return nil
		}
	}
	for _, s := range c.Commands() {
		wrapArgs(s)
	}
}
