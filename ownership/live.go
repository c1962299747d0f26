package ownership

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// LiveOwner is an owner with live claims on a consumer group's partitions.
type LiveOwner struct {
	OwnerID string
	// Job is the job the claims were made for; "" when the records do not
	// say (claims of an older ehstream).
	Job        string
	Partitions []string // sorted
}

func (o LiveOwner) String() string {
	job := ""
	if o.Job != "" {
		job = fmt.Sprintf(" (job %s)", o.Job)
	}
	noun := "partition"
	if len(o.Partitions) > 1 {
		noun = "partitions"
	}
	return fmt.Sprintf("%s%s owns %s %s", o.OwnerID, job, noun, strings.Join(o.Partitions, ", "))
}

// LiveOwnersOptions are LiveOwners' options; nil means defaults.
type LiveOwnersOptions struct {
	// Table holds the ownership records; "" means DefaultTable.
	Table string
	// Expiration is how recently a claim must have been renewed to be
	// live; 0 means balance.DefaultExpiration, the SDKs' (replicas renew
	// every update interval, 10 s by default).
	Expiration time.Duration
}

// LiveOwners reads the ownership records that replicas keep in the
// database of positions when they share it (a SQLStore opened on the same
// database, as `ehstream stream --ownership` with the --sink URL opens
// it), and returns the owners of the consumer's partitions whose claims
// were renewed within the expiration by the database's clock, sorted by
// owner ID. Relinquished and expired claims have no owner. A database
// without the table has no records: LiveOwners returns none, and creates
// nothing.
//
// It sees records in that database only: replicas whose store is another
// database or Azure Blob Storage are not there.
func LiveOwners(ctx context.Context, positions *offsets.Store, consumer balance.Consumer, opts *LiveOwnersOptions) ([]LiveOwner, error) {
	o := LiveOwnersOptions{Table: DefaultTable, Expiration: balance.DefaultExpiration}
	if opts != nil && opts.Table != "" {
		o.Table = opts.Table
	}
	if opts != nil && opts.Expiration > 0 {
		o.Expiration = opts.Expiration
	}
	if err := offsets.ValidateTableName(o.Table); err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
	}
	clock, err := clockOf(positions.Dialect())
	if err != nil {
		return nil, err
	}
	db, dialect := positions.DB(), positions.Dialect()
	if has, err := offsets.HasTable(ctx, db, dialect, o.Table); err != nil || !has {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, dialect.Rebind(`SELECT owner_id, COALESCE(job, ''), partition_id FROM `+o.Table+`
		WHERE namespace = ? AND eventhub = ? AND consumer_group = ? AND owner_id <> '' AND modified_ms >= `+clock+` - ?
		ORDER BY owner_id, partition_id`),
		append(key(consumer.Namespace, consumer.EventHub, consumer.ConsumerGroup, "")[:3], o.Expiration.Milliseconds())...)
	if err != nil {
		return nil, fmt.Errorf("ownership: reading the live claims in %s: %w", o.Table, err)
	}
	defer rows.Close()
	var out []LiveOwner
	for rows.Next() {
		var owner, job, partition string
		if err := rows.Scan(&owner, &job, &partition); err != nil {
			return nil, fmt.Errorf("ownership: reading the live claims in %s: %w", o.Table, err)
		}
		if n := len(out); n == 0 || out[n-1].OwnerID != owner {
			out = append(out, LiveOwner{OwnerID: owner, Job: job})
		}
		last := &out[len(out)-1]
		last.Partitions = append(last.Partitions, partition)
	}
	for i := range out {
		slices.SortFunc(out[i].Partitions, eventhubs.ComparePartitionIDs)
	}
	return out, rows.Err()
}

// LiveOwnersError is CheckNoLiveOwners' error: live replicas hold
// partitions of the consumer group.
type LiveOwnersError struct {
	Consumer balance.Consumer
	Owners   []LiveOwner // as LiveOwners returns them
	// Expiration is how recently the claims were renewed.
	Expiration time.Duration
}

func (e *LiveOwnersError) Error() string {
	said := make([]string, len(e.Owners))
	for i, o := range e.Owners {
		said[i] = o.String()
	}
	return fmt.Sprintf("consumer group %s of hub %s has live replicas (claims renewed within %s): %s; "+
		"a stream reading every partition, with owner level 0 as they do, would take theirs",
		e.Consumer.ConsumerGroup, e.Consumer.EventHub, e.Expiration, strings.Join(said, "; "))
}

// Job is the job of the replicas, "" when their records name none.
func (e *LiveOwnersError) Job() string {
	for _, o := range e.Owners {
		if o.Job != "" {
			return o.Job
		}
	}
	return ""
}

// CheckNoLiveOwners returns a *LiveOwnersError when LiveOwners finds
// replicas with live claims on conf's consumer group in the database of
// positions: a stream that reads every partition (no ownership store)
// would take theirs. Nil when there are none, or no records.
func CheckNoLiveOwners(ctx context.Context, positions *offsets.Store, conf *eventhubs.Conf, opts *LiveOwnersOptions) error {
	ns, err := conf.FullyQualifiedNamespace()
	if err != nil {
		return err
	}
	consumer := balance.Consumer{Namespace: ns, EventHub: conf.EventHubName(), ConsumerGroup: conf.ConsumerGroup()}
	owners, err := LiveOwners(ctx, positions, consumer, opts)
	if err != nil || len(owners) == 0 {
		return err
	}
	e := &LiveOwnersError{Consumer: consumer, Owners: owners, Expiration: balance.DefaultExpiration}
	if opts != nil && opts.Expiration > 0 {
		e.Expiration = opts.Expiration
	}
	return e
}
