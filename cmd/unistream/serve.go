package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

type serveOptions struct {
	ports    map[string]*int
	backends []string
}

func newServeCmd(g *globals) *cobra.Command {
	o := serveOptions{ports: map[string]*int{}}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the embedded brokers on loopback ports for local development, until Ctrl-C",
		Long: `serve runs the embedded brokers this binary holds on fixed loopback ports
and prints the URLs to use, until it is interrupted: what LocalStack or a
compose file gives, with no Docker. Every process on the machine can use
them (produce, consume, your own programs). Their data lives in memory and
is gone when serve stops.`,
		Example: `  unistream serve
  unistream serve --kafka-port 19092 --backends kafka`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.check(); err != nil {
				return err
			}
			return runServe(cmd.Context(), g, o, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	var names []string
	for _, b := range embeddedBackends {
		if b.port == 0 {
			continue
		}
		p := new(int)
		o.ports[b.name] = p
		fs.IntVar(p, b.name+"-port", b.port, "loopback port of the embedded "+b.name+" broker")
		if b.start != nil {
			names = append(names, b.name)
		}
	}
	fs.StringSliceVar(&o.backends, "backends", names, "the brokers to run")
	return cmd
}

func runServe(ctx context.Context, g *globals, o serveOptions, w io.Writer) error {
	var started []runningBackend
	defer func() {
		for _, r := range started {
			r.Close()
		}
	}()
	var urls []map[string]string
	for _, name := range o.backends {
		b, err := lookupBackend(name)
		if err != nil {
			return &usageError{fmt.Errorf("serve --backends: %w", err)}
		}
		p, ok := o.ports[name]
		if !ok {
			return &usageError{fmt.Errorf("serve --backends: %s runs only inside one process; expected one of the brokers with a port", name)}
		}
		r, err := b.start(ctx, embedOptions{port: *p})
		if err != nil {
			return fmt.Errorf("serve: start %s on port %d: %w (change it with --%s-port)", name, *p, err, name)
		}
		started = append(started, r)
		urls = append(urls, map[string]string{"backend": name, "addr": r.Addr(), "url": r.URL("TOPIC", 4)})
	}
	for _, u := range urls {
		if g.json() {
			writeJSON(w, u)
			continue
		}
		fmt.Fprintf(w, "%-8s %s\n         stream URL: %s\n", u["backend"], u["addr"], strings.Replace(u["url"], "TOPIC", "{stream}", 1))
	}
	if !g.json() {
		fmt.Fprintln(w, "serving; press Ctrl-C to stop")
	}
	<-ctx.Done()
	if !g.json() {
		fmt.Fprintln(w, "stopped")
	}
	return nil
}
