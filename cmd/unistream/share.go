package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/unistream-go/unistream/config"
	"github.com/unistream-go/unistream/stream"
	"github.com/unistream-go/unistream/stream/checkpoint"
)

// bindSharing adds the flags of the group and lease modes.
func bindSharing(fs *pflag.FlagSet, b *bindings) {
	b.bind(fs, "group", "consumer.group", "share the stream as a member of the backend's consumer group NAME (Kafka, Pulsar; not Kinesis: use --leases)")
	b.bind(fs, "leases", "consumer.leases", "share the stream with other workers through leases in the checkpoint store (any backend; file, dynamodb or postgres store)")
	b.bind(fs, "worker-id", "consumer.worker_id", "with --leases, this worker's name in its leases, unique among running workers (default: HOSTNAME-PID-RANDOM)")
	b.bind(fs, "lease-duration", "consumer.lease_duration", "with --leases, how long a lease lasts unrenewed: a dead worker's partitions move after about this long (default 10s)")
	b.bind(fs, "lease-renew-interval", "consumer.lease_renew_interval", "with --leases, how often leases are renewed and rebalanced (default a third of --lease-duration)")
}

// sharing returns the group or lease mode of cfg ("" when the consumer
// runs alone).
func sharing(cfg *config.Config) string {
	switch {
	case cfg.Consumer.Group != "":
		return "--group " + cfg.Consumer.Group
	case cfg.Consumer.Leases:
		return "--leases"
	}
	return ""
}

// checkSharedStore refuses a memory checkpoint store (or none) in group or
// lease mode: each process would have its own, so a partition that moves
// would start over in the process that takes it.
func checkSharedStore(cfg *config.Config) error {
	mode := sharing(cfg)
	if mode == "" {
		return nil
	}
	if cfg.Checkpoint == "" {
		return &usageError{fmt.Errorf("%s: no checkpoint store given: the processes sharing the stream need one store they all reach: set --checkpoint to %s", mode, config.SharedStores)}
	}
	if strings.HasPrefix(cfg.Checkpoint, "mem:") {
		return &usageError{fmt.Errorf("%s: checkpoint %s lives in this process only: the processes sharing the stream need one store they all reach: %s", mode, checkpoint.RedactURL(cfg.Checkpoint), config.SharedStores)}
	}
	return nil
}

// sharingOption returns the consumer option of the lease mode over store,
// logging lease changes to w, or nil. In group mode it checks that the
// stream's backend has groups (WithGroup itself is in cfg.ConsumerOptions).
func sharingOption(g *globals, cfg *config.Config, s *stream.Stream, store checkpoint.Store, w io.Writer) (stream.ConsumerOption, error) {
	if cfg.Consumer.Group != "" {
		if !s.Capabilities().ConsumerGroups {
			scheme := "this"
			if s.Scheme() != "" {
				scheme = "the " + s.Scheme()
			}
			return nil, &usageError{fmt.Errorf("--group %s: %s backend has no consumer groups (Kafka consumer groups and Pulsar Failover subscriptions do): share stream %s with --leases and a checkpoint store with leases, %s",
				cfg.Consumer.Group, scheme, s.Name(), config.SharedStores)}
		}
		return nil, nil
	}
	o, err := cfg.Leases(store, stream.WithLeaseLogger(g.logger(w)))
	if err != nil {
		return nil, &usageError{err}
	}
	return o, nil
}
