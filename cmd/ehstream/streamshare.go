package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/sqlsink"
)

// shareFlags are stream's flags for running as one of several replicas,
// and --take-over for running without them beside replicas.
type shareFlags struct {
	store      *string
	ownerID    *string
	interval   *time.Duration
	expiration *time.Duration
	strategy   *string
	takeOver   *bool
	given      []string // the replicas' flags given, as "--owner-id"
}

func addShareFlags(fs *flag.FlagSet) *shareFlags {
	host, _ := os.Hostname()
	return &shareFlags{
		store: fs.String("ownership", "", "share the consumer group's partitions with other replicas of the job through the SDKs' ownership protocol, over STORE: "+
			"a postgres:// URL, sqlite:PATH, blob:STORAGE-CONNECTION-STRING/CONTAINER, or blob:https://ACCOUNT.blob.core.windows.net/CONTAINER signed in with --credential (default: this process reads every partition)"+envNote("ownership")),
		ownerID:    fs.String("owner-id", fmt.Sprintf("%s-%d", host, os.Getpid()), "this replica's owner ID in the ownership records; unique per replica"),
		interval:   fs.Duration("ownership-interval", balance.DefaultUpdateInterval, "how often a replica renews and balances its claims"),
		expiration: fs.Duration("ownership-expiration", balance.DefaultExpiration, "how long a claim holds without renewal (a crashed replica's partitions move after it)"),
		strategy:   fs.String("ownership-strategy", string(balance.Balanced), "balanced (free partitions up to the share at once, one a round from live owners) or greedy (a replica's whole share at once, from live owners too)"),
		takeOver: fs.Bool("take-over", false, "without --ownership: start even when ownership records in the --sink database show live replicas on the consumer group "+
			"(this stream reads every partition, taking theirs)"),
	}
}

// noteGiven notes which of the replicas' flags fs was given.
func (f *shareFlags) noteGiven(fs *flag.FlagSet) {
	f.given = givenFlags(fs, "owner-id", "ownership-interval", "ownership-expiration", "ownership-strategy")
}

// check checks the flags; withCredential says whether the hub flags sign
// in with a credential, which a blob container URL needs.
func (f *shareFlags) check(withCredential bool) error {
	if *f.store == "" {
		if len(f.given) > 0 {
			return usageError{fmt.Errorf("%s without --ownership: they say how replicas share the consumer group through an ownership store; "+
				"give --ownership STORE (the replicas' store), or leave them out (without --ownership this process reads every partition)", strings.Join(f.given, ", "))}
		}
		return nil
	}
	if *f.takeOver {
		return usageError{errors.New("--take-over with --ownership: replicas share the partitions through the store; --take-over is for a stream without --ownership beside live replicas")}
	}
	if err := ownership.CheckSpec(*f.store); err != nil {
		return usageError{fmt.Errorf("--ownership: %v", err)}
	}
	if strings.HasPrefix(*f.store, "blob:https://") && !withCredential {
		return usageError{fmt.Errorf("--ownership %s signs in with Microsoft Entra ID: sign in to the hub with --namespace and --credential, and the store uses the same credential (or give blob:STORAGE-CONNECTION-STRING/CONTAINER)", ownership.Redact(*f.store))}
	}
	switch {
	case strings.TrimSpace(*f.ownerID) == "":
		return usageError{fmt.Errorf("--owner-id is empty; give each replica its own")}
	case *f.interval <= 0:
		return usageError{fmt.Errorf("--ownership-interval %s: want a positive duration", *f.interval)}
	case *f.expiration <= *f.interval:
		return usageError{fmt.Errorf("--ownership-expiration %s: must exceed --ownership-interval %s", *f.expiration, *f.interval)}
	case *f.strategy != string(balance.Balanced) && *f.strategy != string(balance.Greedy):
		return usageError{fmt.Errorf("--ownership-strategy %q: want balanced or greedy", *f.strategy)}
	}
	return nil
}

// sharedStore is the ownership store of a replica, opened before the job
// stores anything.
type sharedStore struct {
	flags *shareFlags
	store azeventhubs.CheckpointStore
	io.Closer
}

// open opens the ownership store and refuses a job whose consumer group
// is in use by another job's replicas, before the job stores its starting
// positions: a refused run leaves nothing behind that a run with its own
// consumer group would trip on.
func (f *shareFlags) open(ctx context.Context, conf *eventhubs.Conf, job offsets.Job) (*sharedStore, error) {
	// A blob container URL signs in as the hub does (--credential).
	store, closer, err := ownership.Open(ctx, *f.store, job.Name, &ownership.Options{Credential: conf.Credential()})
	if err != nil {
		return nil, err
	}
	if err := eventhubs.CheckOwnershipJob(ctx, conf, store, f.ownershipOptions()); err != nil {
		closer.Close()
		return nil, err
	}
	return &sharedStore{flags: f, store: store, Closer: closer}, nil
}

// ownershipOptions are the replica's settings the flags give.
func (f *shareFlags) ownershipOptions() *eventhubs.OwnershipOptions {
	return &eventhubs.OwnershipOptions{OwnerID: *f.ownerID, Strategy: balance.Strategy(*f.strategy), UpdateInterval: *f.interval, Expiration: *f.expiration,
		WriteCheckpoints: strings.HasPrefix(*f.store, "blob:")}
}

// share makes ds a replica over the store. Newly owned partitions start
// from the job's positions in the sink's offsets table, which the batch
// transactions keep; a Blob store also gets checkpoints, for stock SDK
// processors sharing the group.
func (s *sharedStore) share(ds *eventhubs.DirectStream, positions *offsets.Store, job offsets.Job, onChange func(balance.Change)) error {
	opts := s.flags.ownershipOptions()
	opts.OnChange, opts.Positions = onChange, positions.StoredPositions(job)
	if host, err := ds.Conf().NamespaceHost(); err == nil && !strings.EqualFold(host, job.Namespace) {
		// The positions are stored for another name of the namespace
		// (offsets.Store.Resume): the ownership records go under it too,
		// so that replicas reaching the hub by either name share them.
		opts.Namespace = job.Namespace
	}
	return ds.SetOwnershipStore(s.store, opts)
}

// checkNoReplicas refuses, unless --take-over, a stream without
// --ownership on a consumer group that replicas share: it reads every
// partition with owner level 0, as they do, and would take theirs. It sees
// replicas whose ownership records are in the sink's database (the usual
// deployment: --ownership and --sink the same PostgreSQL, as
// deploy/kubernetes has it), renewed within the SDKs' default expiration;
// replicas keeping their records in another database or in Blob Storage,
// it cannot.
func (f *shareFlags) checkNoReplicas(ctx context.Context, sk *sqlsink.Sink, conf *eventhubs.Conf) error {
	if *f.takeOver {
		return nil
	}
	err := ownership.CheckNoLiveOwners(ctx, sk.Store, conf, nil)
	var live *ownership.LiveOwnersError
	if !errors.As(err, &live) {
		return err
	}
	job := live.Job()
	if job == "" {
		job = "JOB"
	}
	return fmt.Errorf("%w (their ownership records are in %s)\n"+
		"(run it as one of them: --ownership STORE, their store, with --job %s and an --owner-id of its own; or stop them first: a replica that stops gives its claims up, "+
		"a killed one's hold %s; or --take-over to start all the same)", err, sk.Desc, job, live.Expiration)
}
