package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/unistream-go/unistream/config"
)

func newConfigCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "config",
		Short: "List the configuration keys, or check a configuration",
	}
	keys := &cobra.Command{
		Use:   "keys",
		Short: "List every configuration key with its environment variable and expected form",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.check(); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				var out []map[string]string
				for _, k := range config.Keys() {
					out = append(out, map[string]string{"key": k.Name, "env": k.Env(), "expected": k.Expected, "doc": k.Doc})
				}
				return writeJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tENVIRONMENT\tEXPECTED\tMEANING")
			for _, k := range config.Keys() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, k.Env(), k.Expected, k.Doc)
			}
			return tw.Flush()
		},
	}
	var b bindings
	check := &cobra.Command{
		Use:   "check",
		Short: "Read --config, the UNISTREAM_* environment and the flags, check them, and print where each key came from or the errors",
		Long: `check reads the configuration (--config, the UNISTREAM_* environment, the
flags) and checks every key the way the commands that use it would: the
consumer and producer options, and the stream, checkpoint and DLQ URLs with
their backends' own parsers (an unknown option, a bad value), without
connecting to anything or creating anything. It prints where each key came
from and "configuration OK", or the errors, each naming the key, the bad
option and what was expected, and exits non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd, &b)
			if err != nil {
				return err
			}
			if _, err := cfg.ConsumerOptions(); err != nil {
				return err
			}
			if _, err := cfg.ProducerOptions(); err != nil {
				return err
			}
			unchecked, err := cfg.CheckURLs()
			if err != nil {
				return err
			}
			for _, m := range unchecked {
				fmt.Fprintln(cmd.ErrOrStderr(), "unistream: warning: not checked:", m)
			}
			w := cmd.OutOrStdout()
			for _, k := range config.Keys() {
				if src := cfg.Source(k.Name); src != "" {
					fmt.Fprintf(w, "%s (from %s)\n", k.Name, src)
				}
			}
			fmt.Fprintln(w, "configuration OK")
			return nil
		},
	}
	b.bind(check.Flags(), "stream", "stream", "stream URL")
	bindConsumer(check.Flags(), &b)
	root.AddCommand(keys, check)
	return root
}
