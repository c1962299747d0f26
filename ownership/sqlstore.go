package ownership

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/balance"
	"github.com/ehstream/ehstream/offsets"
	"github.com/google/uuid"
)

// DefaultTable holds the ownership records unless SQLOptions.Table says
// otherwise.
const DefaultTable = "ehstream_ownership"

// SQLOptions holds NewSQLStore's optional settings; nil means defaults.
type SQLOptions struct {
	// Table holds the ownership records; "" means DefaultTable.
	Table string
}

// SQLStore is an azeventhubs.CheckpointStore in the database of an
// offsets.Store: ownership records in a table of their own, and as
// checkpoints the positions that offsets.Store.CommitOffsets keeps for one
// job.
//
// Ownership records belong to a consumer group, as in Event Hubs, where one
// reader of a group's partition at a time holds it: every job and every
// stock Processor of the group shares them. Checkpoints belong to the job
// the store was made for: ListCheckpoints and SetCheckpoint read and write
// that job's positions.
//
// A record's ETag is a random UUID, new at every claim, so an ETag seen
// once never matches again, even if the row is deleted and claimed anew;
// LastModifiedTime is the database's clock at the claim, in milliseconds.
//
// Names are mapped as package offsets keeps them: the SDK's
// FullyQualifiedNamespace ("ns.servicebus.windows.net", or "localhost:5672"
// for an emulator) becomes its host without the port, in lower case (see
// Namespace), and hub and consumer group names are kept in lower case, as
// Event Hubs ignores their case. Records are returned with the names the
// caller asked with.
type SQLStore struct {
	positions *offsets.Store
	db        *sql.DB
	dialect   offsets.Dialect
	table     string
	job       string
	// clock is the SQL expression of the database's time, in
	// milliseconds since 1970: the time of every claim.
	clock string
}

var _ azeventhubs.CheckpointStore = (*SQLStore)(nil)

// NewSQLStore returns the store of job's checkpoints and its consumer
// groups' ownership in positions' database, creating the ownership table
// if needed. job is the offsets.Job's Name whose positions the checkpoints
// are.
//
// Open a SQLite database with a busy timeout (Open does), so that racing
// claims wait for each other: a claim that fails on a locked database is
// an error, which stops a Processor, not a lost claim.
func NewSQLStore(ctx context.Context, positions *offsets.Store, job string, opts *SQLOptions) (*SQLStore, error) {
	if strings.TrimSpace(job) == "" {
		return nil, errors.New("ownership: the job's name is empty: checkpoints are the positions of a job")
	}
	return newSQLStore(ctx, positions, job, opts)
}

// newSQLStore is NewSQLStore, allowing no job for a store that only shows
// ownership (Open with ReadOnly).
func newSQLStore(ctx context.Context, positions *offsets.Store, job string, opts *SQLOptions) (*SQLStore, error) {
	if opts == nil {
		opts = &SQLOptions{}
	}
	s := &SQLStore{positions: positions, db: positions.DB(), dialect: positions.Dialect(), table: opts.Table, job: job}
	if s.table == "" {
		s.table = DefaultTable
	}
	if err := offsets.ValidateTableName(s.table); err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
	}
	if strings.EqualFold(s.table, positions.Table()) {
		return nil, fmt.Errorf("ownership: table %s holds the positions: give ownership another", s.table)
	}
	var err error
	if s.clock, err = clockOf(s.dialect); err != nil {
		return nil, err
	}
	ddl := `CREATE TABLE IF NOT EXISTS ` + s.table + ` (
	namespace      TEXT   NOT NULL,
	eventhub       TEXT   NOT NULL,
	consumer_group TEXT   NOT NULL,
	partition_id   TEXT   NOT NULL,
	owner_id       TEXT   NOT NULL,
	modified_ms    BIGINT NOT NULL,
	etag           TEXT   NOT NULL,
	job            TEXT,
	PRIMARY KEY (namespace, eventhub, consumer_group, partition_id))`
	for range 3 { // concurrent CREATEs in PostgreSQL can collide; the loser retries
		if _, err = s.db.ExecContext(ctx, ddl); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ownership: creating table %s: %w", s.table, err)
	}
	if err := offsets.AddColumn(ctx, s.db, s.dialect, s.table, "job", "TEXT"); err != nil {
		return nil, fmt.Errorf("ownership: upgrading table %s: %w", s.table, err)
	}
	return s, nil
}

// clockOf is the SQL expression of the database's time, in milliseconds
// since 1970, in dialect.
func clockOf(dialect offsets.Dialect) (string, error) {
	switch dialect {
	case offsets.PostgreSQL:
		return `floor(extract(epoch from clock_timestamp()) * 1000)::bigint`, nil
	case offsets.SQLite:
		// julianday is kept in whole milliseconds; unixepoch('subsec')
		// would need SQLite 3.42, RETURNING needs only 3.35.
		return `CAST(round((julianday('now') - 2440587.5) * 86400000) AS INTEGER)`, nil
	}
	return "", fmt.Errorf("ownership: dialect %q: want %q or %q", dialect, offsets.SQLite, offsets.PostgreSQL)
}

// Table is the table holding the ownership records.
func (s *SQLStore) Table() string { return s.table }

// Job is the name of the job whose positions are the checkpoints.
func (s *SQLStore) Job() string { return s.job }

// Namespace is how the SQL store and package offsets name the namespace
// the SDK calls fullyQualifiedNamespace: its host without a port, in lower
// case, as offsets.JobFor names a job's namespace ("localhost:5672" is
// "localhost"; "NS.servicebus.windows.net" is "ns.servicebus.windows.net").
func Namespace(fullyQualifiedNamespace string) string {
	if u, err := url.Parse("sb://" + fullyQualifiedNamespace); err == nil && u.Hostname() != "" {
		return strings.ToLower(u.Hostname())
	}
	return strings.ToLower(fullyQualifiedNamespace)
}

// key is the record's primary key as the table keeps it.
func key(namespace, hub, group, partition string) []any {
	return []any{Namespace(namespace), strings.ToLower(hub), strings.ToLower(group), partition}
}

func checkNames(what, namespace, hub, group string) error {
	for _, f := range []struct{ name, v string }{{"namespace", namespace}, {"event hub", hub}, {"consumer group", group}} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("ownership: %s: the %s is empty", what, f.name)
		}
	}
	return nil
}

// ClaimOwnership claims each of ownerships for its OwnerID: a record with
// an ETag is claimed only if the stored record still has that ETag, one
// without only if there is no record for its partition yet. It returns
// the records claimed, each with its new ETag and the database's time of
// the claim as LastModifiedTime; a claim that lost (to another claim, or a
// stale ETag) is left out, and is not an error. An OwnerID of ""
// relinquishes the partition.
func (s *SQLStore) ClaimOwnership(ctx context.Context, ownerships []azeventhubs.Ownership, _ *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	insert := s.dialect.Rebind(`INSERT INTO ` + s.table + ` (namespace, eventhub, consumer_group, partition_id, owner_id, modified_ms, etag, job)
		VALUES (?, ?, ?, ?, ?, ` + s.clock + `, ?, NULLIF(?, '')) ON CONFLICT DO NOTHING RETURNING modified_ms`)
	update := s.dialect.Rebind(`UPDATE ` + s.table + ` SET owner_id = ?, modified_ms = ` + s.clock + `, etag = ?, job = NULLIF(?, '')
		WHERE namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ? AND etag = ? RETURNING modified_ms`)
	var claimed []azeventhubs.Ownership
	for _, o := range ownerships {
		if err := checkNames("claiming ownership", o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup); err != nil {
			return nil, err
		}
		if o.PartitionID == "" {
			return nil, errors.New("ownership: claiming ownership: the partition is empty")
		}
		k := key(o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup, o.PartitionID)
		etag := uuid.NewString()
		var ms int64
		var err error
		if o.ETag == nil {
			err = s.db.QueryRowContext(ctx, insert, append(k, o.OwnerID, etag, s.job)...).Scan(&ms)
		} else {
			err = s.db.QueryRowContext(ctx, update, append(append([]any{o.OwnerID, etag, s.job}, k...), string(*o.ETag))...).Scan(&ms)
		}
		if errors.Is(err, sql.ErrNoRows) {
			continue // claimed by another first, or the ETag is stale
		}
		if err != nil {
			return nil, fmt.Errorf("ownership: claiming partition %s of %s/%s (consumer group %s) for %q: %w",
				o.PartitionID, o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup, o.OwnerID, err)
		}
		o.ETag = (*azcore.ETag)(&etag)
		o.LastModifiedTime = time.UnixMilli(ms).UTC()
		claimed = append(claimed, o)
	}
	return claimed, nil
}

// ListOwnership lists the consumer group's ownership records, relinquished
// ones (OwnerID "") included, by partition.
func (s *SQLStore) ListOwnership(ctx context.Context, fullyQualifiedNamespace, eventHubName, consumerGroup string, _ *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	if err := checkNames("listing ownership", fullyQualifiedNamespace, eventHubName, consumerGroup); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.dialect.Rebind(`SELECT partition_id, owner_id, modified_ms, etag FROM `+s.table+`
		WHERE namespace = ? AND eventhub = ? AND consumer_group = ? ORDER BY partition_id`),
		key(fullyQualifiedNamespace, eventHubName, consumerGroup, "")[:3]...)
	if err != nil {
		return nil, fmt.Errorf("ownership: listing ownership in %s: %w", s.table, err)
	}
	defer rows.Close()
	var out []azeventhubs.Ownership
	for rows.Next() {
		o := azeventhubs.Ownership{FullyQualifiedNamespace: fullyQualifiedNamespace, EventHubName: eventHubName, ConsumerGroup: consumerGroup}
		var ms int64
		var etag string
		if err := rows.Scan(&o.PartitionID, &o.OwnerID, &ms, &etag); err != nil {
			return nil, fmt.Errorf("ownership: listing ownership in %s: %w", s.table, err)
		}
		o.LastModifiedTime = time.UnixMilli(ms).UTC()
		o.ETag = (*azcore.ETag)(&etag)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ownership: listing ownership in %s: %w", s.table, err)
	}
	return out, nil
}

// hasJob refuses checkpoints to a store opened without a job.
func (s *SQLStore) hasJob() error {
	if s.job == "" {
		return errors.New("ownership: the store was opened without a job (read-only, to show ownership): it has no checkpoints")
	}
	return nil
}

// jobOf is the store's job reading the hub and group the SDK names.
func (s *SQLStore) jobOf(fullyQualifiedNamespace, eventHubName, consumerGroup string) offsets.Job {
	return offsets.Job{Name: s.job, Namespace: Namespace(fullyQualifiedNamespace), EventHub: eventHubName, ConsumerGroup: consumerGroup}
}

// ListCheckpoints returns the job's positions in the hub and consumer group
// as checkpoints: for a partition whose stored position (the next sequence
// number to process) is P > 0, a Checkpoint with SequenceNumber P-1 and no
// Offset. A Processor starts after a checkpoint's sequence number, so it
// starts at P, where the job goes on. A partition at position 0 has no
// checkpoint: nothing of it was processed, and a Processor starts it at its
// StartPositions (give Earliest to start where the job would).
func (s *SQLStore) ListCheckpoints(ctx context.Context, fullyQualifiedNamespace, eventHubName, consumerGroup string, _ *azeventhubs.ListCheckpointsOptions) ([]azeventhubs.Checkpoint, error) {
	if err := checkNames("listing checkpoints", fullyQualifiedNamespace, eventHubName, consumerGroup); err != nil {
		return nil, err
	}
	if err := s.hasJob(); err != nil {
		return nil, err
	}
	ps, err := s.positions.Positions(ctx, s.jobOf(fullyQualifiedNamespace, eventHubName, consumerGroup))
	if err != nil {
		return nil, err
	}
	var out []azeventhubs.Checkpoint
	for _, p := range ps {
		if p.Next <= 0 {
			continue
		}
		seq := p.Next - 1
		out = append(out, azeventhubs.Checkpoint{FullyQualifiedNamespace: fullyQualifiedNamespace, EventHubName: eventHubName,
			ConsumerGroup: consumerGroup, PartitionID: p.Partition, SequenceNumber: &seq})
	}
	return out, nil
}

// SetCheckpoint stores the job's position of the checkpoint's partition as
// the sequence number after the checkpoint's (the last event processed),
// whatever it was, as a Processor's UpdateCheckpoint asks (see
// offsets.Store.SetPosition). The Offset is not kept: positions are
// sequence numbers. A checkpoint without a SequenceNumber is an error.
func (s *SQLStore) SetCheckpoint(ctx context.Context, checkpoint azeventhubs.Checkpoint, _ *azeventhubs.SetCheckpointOptions) error {
	c := checkpoint
	if err := checkNames("setting a checkpoint", c.FullyQualifiedNamespace, c.EventHubName, c.ConsumerGroup); err != nil {
		return err
	}
	if err := s.hasJob(); err != nil {
		return err
	}
	if c.SequenceNumber == nil {
		return fmt.Errorf("ownership: checkpoint of partition %s of %s/%s has no sequence number: the store keeps positions as sequence numbers",
			c.PartitionID, c.FullyQualifiedNamespace, c.EventHubName)
	}
	return s.positions.SetPosition(ctx, s.jobOf(c.FullyQualifiedNamespace, c.EventHubName, c.ConsumerGroup), c.PartitionID, *c.SequenceNumber+1)
}

// OwnershipJobs returns the job each record of the consumer group was
// claimed for, by partition ID: the job of the store that made the claim
// ("" for a record from before records named their job). Replicas of one
// job share a consumer group; a second job on it is refused
// (balance.JobStore).
func (s *SQLStore) OwnershipJobs(ctx context.Context, fullyQualifiedNamespace, eventHubName, consumerGroup string) (map[string]string, error) {
	if err := checkNames("listing ownership", fullyQualifiedNamespace, eventHubName, consumerGroup); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.dialect.Rebind(`SELECT partition_id, COALESCE(job, '') FROM `+s.table+`
		WHERE namespace = ? AND eventhub = ? AND consumer_group = ?`), key(fullyQualifiedNamespace, eventHubName, consumerGroup, "")[:3]...)
	if err != nil {
		return nil, fmt.Errorf("ownership: listing the jobs of the ownership records in %s: %w", s.table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var partition, job string
		if err := rows.Scan(&partition, &job); err != nil {
			return nil, fmt.Errorf("ownership: listing the jobs of the ownership records in %s: %w", s.table, err)
		}
		out[partition] = job
	}
	return out, rows.Err()
}

// Now is the database's clock, the one that stamps claims, so that
// replicas judge expiry by it and not by their own (balance.Clock).
func (s *SQLStore) Now(ctx context.Context) (time.Time, error) {
	var ms int64
	if err := s.db.QueryRowContext(ctx, `SELECT `+s.clock).Scan(&ms); err != nil {
		return time.Time{}, fmt.Errorf("ownership: reading the database's clock: %w", err)
	}
	return time.UnixMilli(ms).UTC(), nil
}

var (
	_ balance.JobStore = (*SQLStore)(nil)
	_ balance.Clock    = (*SQLStore)(nil)
)
