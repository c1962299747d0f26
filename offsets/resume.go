package offsets

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// Resumed says where Resume found a job.
type Resumed struct {
	// Job is the job as its positions are stored: what CommitOffsets is
	// given from then on. Its Namespace is the spelling the positions are
	// stored under, which may be another name of the namespace than the
	// conf's.
	Job Job
	// Stored is how many partitions had a stored position; 0 on the
	// job's first start.
	Stored int
}

// Resume makes conf start where job stands in the hub conf reaches, and
// stores where partitions without a position start. It is LoadPositions
// for a job that runs, with what
// LoadPositions cannot know without asking the hub:
//
//   - The hub is known by its creation time, not by how its host is
//     spelled. A job whose positions are stored for another spelling of
//     the namespace (an IP address, a private endpoint, a Geo-DR alias, a
//     custom DNS name) continues from them when that hub's creation time
//     is the one stored with them; the returned Job then names the stored
//     spelling. When the stored positions cannot be matched to this hub it
//     refuses (*ConflictError, naming the stored spelling), and never
//     starts over.
//   - A hub deleted and created again (another creation time than the one
//     stored) restarted its sequence numbers: with conf's FailOnDataLoss it
//     fails (eventhubs.CodeDataLoss); without, the job's positions of that
//     hub move to 0, in one transaction, and the job reads the new hub from
//     its first event.
//   - The starting positions are resolved once, when the job first starts,
//     for every partition, and stored: replicas that claim a partition
//     later start where the job started. A partition the hub gained since
//     the job last stored a position is stored at its first event.
//
// Positions stored by an older ehstream have no creation time; the first
// batch records it.
func (s *Store) Resume(ctx context.Context, job Job, conf *eventhubs.Conf) (Resumed, error) {
	job = job.canonical()
	if err := job.validate(); err != nil {
		return Resumed{Job: job}, err
	}
	hp, err := eventhubs.DescribeHub(ctx, conf)
	if err != nil {
		return Resumed{Job: job}, err
	}
	rows, err := s.jobRows(ctx, job, true)
	if err != nil {
		return Resumed{Job: job}, err
	}
	if job, rows, err = sameHub(job, hp, rows, s.table); err != nil {
		return Resumed{Job: job}, err
	}
	r, err := s.resume(ctx, job, conf, hp, rows)
	return Resumed{Job: job, Stored: r}, err
}

// resume is Resume once the job's rows of this hub are known: it returns
// how many partitions had a position.
func (s *Store) resume(ctx context.Context, job Job, conf *eventhubs.Conf, hp *eventhubs.HubProperties, rows []storedRow) (int, error) {
	if job.Namespace != strings.ToLower(hostOf(conf)) {
		conf.Logger().Info("offsets: the job's positions are stored for another name of this hub's namespace (the hub's creation time is the same); continuing from them",
			"job", job.Name, "stored_namespace", job.Namespace, "namespace", hostOf(conf), "hub", job.EventHub, "hub_created", hp.CreatedOn)
	}
	next, err := s.positionsOf(job, rows)
	if err != nil {
		return 0, err
	}
	stored := len(next)
	if err := s.writerConflict(ctx, s.db, job, "", createdMillis(hp.CreatedOn)); err != nil {
		return stored, err
	}
	if next, err = s.recreated(ctx, job, conf, hp, rows, next); err != nil {
		return stored, err
	}
	if next, err = s.storeStarts(ctx, job, conf, hp, next); err != nil {
		return stored, err
	}
	positions := make(map[string]eventhubs.EventPosition, len(next))
	for id, n := range next {
		positions[id] = eventhubs.FromSequenceNumber(n, true)
	}
	conf.SetStartingPositions(positions)
	return stored, nil
}

// hostOf is the host conf's endpoint names, as a Job's Namespace.
func hostOf(conf *eventhubs.Conf) string {
	host, err := conf.NamespaceHost()
	if err != nil {
		return ""
	}
	return host
}

// storedRow is one stored position as the table holds it.
type storedRow struct {
	namespace, hub, group, partition string
	next                             int64
	output                           sql.NullString
	created                          sql.NullInt64 // hub_created_ms
}

// jobRows reads the rows of job's name and hub: of its namespace, or with
// anyNamespace of every namespace, in whatever case they are spelled.
func (s *Store) jobRows(ctx context.Context, job Job, anyNamespace bool) ([]storedRow, error) {
	query := `SELECT namespace, eventhub, consumer_group, partition_id, next_seq, output, hub_created_ms FROM ` + s.table + `
		WHERE job = ? AND lower(eventhub) = ?`
	args := []any{job.Name, job.EventHub}
	if !anyNamespace {
		query += ` AND lower(namespace) = ?`
		args = append(args, job.Namespace)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY namespace, consumer_group, partition_id`), args...)
	if err != nil {
		return nil, fmt.Errorf("offsets: reading positions: %w", err)
	}
	defer rows.Close()
	var out []storedRow
	for rows.Next() {
		var r storedRow
		if err := rows.Scan(&r.namespace, &r.hub, &r.group, &r.partition, &r.next, &r.output, &r.created); err != nil {
			return nil, fmt.Errorf("offsets: reading positions: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("offsets: reading positions: %w", err)
	}
	return out, nil
}

// sameHub picks the rows of job that belong to hp's hub: those of job's
// namespace, else those of the one other spelling of the namespace whose
// positions were stored for a hub created when hp's was. It returns the
// job named as those rows are, or a *ConflictError when the job's
// positions are stored only under other names that cannot be told to be
// this hub's.
func sameHub(job Job, hp *eventhubs.HubProperties, rows []storedRow, table string) (Job, []storedRow, error) {
	byNamespace := map[string][]storedRow{}
	for _, r := range rows {
		byNamespace[strings.ToLower(r.namespace)] = append(byNamespace[strings.ToLower(r.namespace)], r)
	}
	if own := byNamespace[job.Namespace]; len(own) > 0 || len(rows) == 0 {
		return job, own, nil
	}
	created := createdMillis(hp.CreatedOn)
	var same, others []string
	for _, ns := range slices.Sorted(maps.Keys(byNamespace)) {
		if slices.ContainsFunc(byNamespace[ns], func(r storedRow) bool { return r.created.Valid && r.created.Int64 == created }) {
			same = append(same, ns)
		} else {
			others = append(others, describeStored(ns, byNamespace[ns]))
		}
	}
	if len(same) == 1 {
		job.Namespace = same[0]
		return job, byNamespace[same[0]], nil
	}
	if len(same) > 1 {
		return job, nil, &ConflictError{Job: job, Message: fmt.Sprintf("positions of this hub (created at %s) are stored under several names of its namespace, %s: "+
			"delete the rows of the ones not in use from table %s", formatCreated(created), strings.Join(same, " and "), table)}
	}
	return job, nil, &ConflictError{Job: job, Message: fmt.Sprintf("the job's positions of hub %s are stored for %s, and none for %s, which this run reaches (its hub was created at %s). "+
		"If %s is another name of the same namespace, run once through the stored name: the positions then record the hub's creation time, and either name continues them. "+
		"If it is another namespace, give the job another name to start it there",
		job.EventHub, strings.Join(others, " and "), job.Namespace, formatCreated(created), job.Namespace)}
}

// describeStored names a namespace whose positions are not of this hub,
// with the creation time they were stored for.
func describeStored(namespace string, rows []storedRow) string {
	for _, r := range rows {
		if r.created.Valid {
			return fmt.Sprintf("namespace %s (a hub created at %s)", namespace, formatCreated(r.created.Int64))
		}
	}
	return fmt.Sprintf("namespace %s (stored before ehstream recorded hubs' creation times)", namespace)
}

func formatCreated(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

// recreated handles positions stored for a hub created at another time
// than hp's: the hub was deleted and created again. With FailOnDataLoss
// that is an error; without, those positions move to 0 on the new hub.
func (s *Store) recreated(ctx context.Context, job Job, conf *eventhubs.Conf, hp *eventhubs.HubProperties, rows []storedRow, next map[string]int64) (map[string]int64, error) {
	created := createdMillis(hp.CreatedOn)
	var old []storedRow
	for _, r := range rows {
		if r.created.Valid && r.created.Int64 != created && strings.EqualFold(r.group, job.ConsumerGroup) {
			old = append(old, r)
		}
	}
	if len(old) == 0 {
		return next, nil
	}
	was := formatCreated(old[0].created.Int64)
	if conf.FailOnDataLoss() {
		return nil, &eventhubs.Error{Code: eventhubs.CodeDataLoss, Hub: conf.EventHubName(), Message: fmt.Sprintf(
			"the hub was deleted and created again: job %s stored its positions for the hub created at %s, and the hub now was created at %s. "+
				"Its sequence numbers restarted: the old hub's events the job had not read are gone, and going on from the stored positions would skip the new hub's first events; "+
				"set FailOnDataLoss false to read the new hub from its first event", job, was, formatCreated(created))}
	}
	conf.Logger().Warn("offsets: the hub was deleted and created again, and its sequence numbers restarted; reading the new hub from its first event. The old hub's events the job had not read are lost",
		"job", job.Name, "hub", job.EventHub, "stored_for_hub_created", was, "hub_created", hp.CreatedOn)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("offsets: %w", err)
	}
	defer tx.Rollback()
	for _, r := range old {
		// Only from the old hub's position: a replica that moved it
		// meanwhile saw the new hub already.
		_, err := tx.ExecContext(ctx, s.q(`UPDATE `+s.table+` SET next_seq = 0, hub_created_ms = CAST(? AS BIGINT), updated_ms = ?
			WHERE job = ? AND namespace = ? AND eventhub = ? AND consumer_group = ? AND partition_id = ? AND hub_created_ms = ?`),
			created, nowMillis(), job.Name, r.namespace, r.hub, r.group, r.partition, r.created.Int64)
		if err != nil {
			return nil, fmt.Errorf("offsets: job %s partition %s: moving the position to the new hub: %w", job, r.partition, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("offsets: job %s: moving the positions to the new hub: %w", job, err)
	}
	rows, err = s.jobRows(ctx, job, false)
	if err != nil {
		return nil, err
	}
	return s.positionsOf(job, rows)
}

// storeStarts stores where the partitions without a position start, and
// returns every partition's position as stored: on the job's first start,
// its StartingPositions and StartingPosition resolved now, for all; later,
// a partition the hub gained, at its first event. Where another replica
// stored a position first, its position stands.
func (s *Store) storeStarts(ctx context.Context, job Job, conf *eventhubs.Conf, hp *eventhubs.HubProperties, next map[string]int64) (map[string]int64, error) {
	missing := map[string]eventhubs.EventPosition{}
	for _, b := range hp.Partitions {
		if _, ok := next[b.PartitionID]; ok {
			continue
		}
		if len(next) > 0 {
			missing[b.PartitionID] = eventhubs.FromSequenceNumber(b.First, true)
			conf.Logger().Info("offsets: partition has no stored position: the hub added it since, reading it from its first event",
				"job", job.Name, "hub", job.EventHub, "partition", b.PartitionID, "from", b.First)
		} else {
			missing[b.PartitionID] = conf.PositionFor(b.PartitionID)
		}
	}
	if len(missing) == 0 {
		return next, nil
	}
	start, err := eventhubs.ResolvePositions(ctx, conf, missing)
	if err != nil {
		return nil, err
	}
	if err := s.initPositions(ctx, job, hp.CreatedOn, start); err != nil {
		return nil, err
	}
	rows, err := s.jobRows(ctx, job, false)
	if err != nil {
		return nil, err
	}
	return s.positionsOf(job, rows)
}

// initPositions stores positions of partitions that have none, in one
// transaction; a partition whose position another replica stored first
// keeps it.
func (s *Store) initPositions(ctx context.Context, job Job, created time.Time, start map[string]int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("offsets: %w", err)
	}
	defer tx.Rollback()
	now := nowMillis()
	for _, id := range slices.Sorted(maps.Keys(start)) {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO `+s.table+` (job, namespace, eventhub, consumer_group, partition_id, next_seq, updated_ms, output, hub_created_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), NULLIF(CAST(? AS BIGINT), 0)) ON CONFLICT DO NOTHING`),
			job.Name, job.Namespace, job.EventHub, job.ConsumerGroup, id, start[id], now, job.Output, createdMillis(created))
		if err != nil {
			var q querier = tx
			if s.dialect == PostgreSQL {
				q = s.db // tx is aborted; the other writer's row is committed
			}
			if cerr := s.writerConflict(ctx, q, job, id, createdMillis(created)); cerr != nil {
				return cerr
			}
			return fmt.Errorf("offsets: job %s partition %s: storing the starting position: %w", job, id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("offsets: job %s: storing the starting positions: %w", job, err)
	}
	return nil
}
