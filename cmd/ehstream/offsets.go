package main

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/sqlsink"
)

// runOffsets prints the stored positions of the jobs in a sink and, given
// a connection string, how far each partition is behind the hub; given an
// ownership store, who owns each partition.
func runOffsets(ctx context.Context, args []string, std stdio) error {
	fs := newFlagSet("offsets", std.err)
	// No consumer group for the hub: its bounds are the same for every group.
	hf := addHubFlags(fs, false)
	sinkSpec := fs.String("sink", "sqlite:ehstream.db", "the job's sink: sqlite:PATH or a postgres:// URL"+envNote("sink"))
	jobName := fs.String("job", "", "only this job (default: every job in the sink)")
	group := fs.String("consumer-group", "", "only this consumer group (default: every group)")
	lagGroup := fs.String("lag-consumer-group", "", "the consumer group to read each job's oldest unread event with, without an owner level "+
		"(default: the job's own; a running job holds its own group's partitions, so name another to see its time lag while it runs)")
	ownSpec := fs.String("ownership", "", "an ownership store, to show which replica owns each partition and how long ago it claimed it: "+
		"a postgres:// URL, sqlite:PATH or blob:CONNECTION-STRING/CONTAINER (for an emulator's blob records, give --connection-string too: they name its port)"+envNote("ownership"))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	flagsFromEnv(fs)
	sk, err := sqlsink.OpenForReading(ctx, *sinkSpec)
	if err != nil {
		return sinkFlagError(err)
	}
	defer sk.Close()
	all, err := sk.Store.Positions(ctx, offsets.Job{})
	if err != nil {
		return err
	}
	var ps []offsets.Position
	for _, p := range all {
		// Event Hubs ignores the case of consumer group names.
		if (*jobName == "" || p.Job.Name == *jobName) && (*group == "" || strings.EqualFold(p.Job.ConsumerGroup, *group)) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		var filters []string
		if *jobName != "" {
			filters = append(filters, fmt.Sprintf("job %q", *jobName))
		}
		if *group != "" {
			filters = append(filters, fmt.Sprintf("consumer group %q", *group))
		}
		if len(filters) > 0 {
			return fmt.Errorf("no stored positions for %s in %s", strings.Join(filters, " and "), sk.Desc)
		}
		fmt.Fprintf(std.out, "no stored positions in %s\n", sk.Desc)
		return nil
	}
	slices.SortFunc(ps, func(a, b offsets.Position) int {
		if c := cmp.Compare(a.Job.String(), b.Job.String()); c != 0 {
			return c
		}
		return eventhubs.ComparePartitionIDs(a.Partition, b.Partition)
	})

	// With a connection string, the lag of the positions of its hub.
	var lags map[lagKey]eventhubs.PartitionLag
	var namespace, hub string
	var endpoint string // the SDK's namespace: the host and port
	withHub := hf.given()
	if withHub {
		conf, err := hf.conf()
		if err != nil {
			return err
		}
		cs, _ := conf.ConnectionString() // valid: conf() validated it
		namespace, hub = cs.Hostname(), conf.EventHubName()
		if u, err := url.Parse(cs.Endpoint); err == nil {
			endpoint = u.Host
		}
		if lags, err = jobLags(ctx, conf, ps, *lagGroup, std); err != nil {
			return err
		}
	}

	// With an ownership store, who owns each listed partition.
	var owners map[ownerKey]azeventhubs.Ownership
	if *ownSpec != "" {
		if owners, err = partitionOwners(ctx, *ownSpec, ps, endpoint); err != nil {
			return err
		}
	}

	now := time.Now()
	tw := tabwriter.NewWriter(std.out, 0, 0, 2, ' ', 0)
	header := "JOB\tNAMESPACE\tHUB\tCONSUMER GROUP\tTABLE\tPARTITION\tNEXT\tUPDATED"
	if withHub {
		header += "\tHUB END\tLAG\tOLDEST UNREAD"
	}
	if owners != nil {
		header += "\tOWNER\tCLAIMED"
	}
	fmt.Fprintln(tw, header)
	for _, p := range ps {
		output := p.Job.Output
		if output == "" {
			output = "-" // stored by an older ehstream, or by a library job that names none
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s", p.Job.Name, p.Job.Namespace, p.Job.EventHub, p.Job.ConsumerGroup,
			output, p.Partition, p.Next, p.Updated.Format(time.RFC3339))
		if withHub {
			if l, ok := lags[keyOf(p)]; ok {
				fmt.Fprintf(tw, "\t%d\t%d\t%s", l.End, l.Events, age(l, now))
			} else {
				fmt.Fprint(tw, "\t-\t-\t-")
			}
		}
		if owners != nil {
			o, ok := owners[ownerKeyOf(p)]
			switch {
			case !ok:
				fmt.Fprint(tw, "\t-\t-") // never claimed
			case o.OwnerID == "":
				fmt.Fprintf(tw, "\t(none)\t%s ago", since(o.LastModifiedTime, now)) // relinquished
			default:
				fmt.Fprintf(tw, "\t%s\t%s ago", o.OwnerID, since(o.LastModifiedTime, now))
			}
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if withHub && len(lags) == 0 {
		fmt.Fprintf(std.err, "ehstream offsets: no stored position is of hub %s in namespace %s, so no lag is shown\n", hub, namespace)
	}
	return nil
}

// ownerKey is a partition of a consumer group, in the names the
// positions keep (lower case, the host without a port).
type ownerKey struct{ namespace, hub, group, partition string }

func ownerKeyOf(p offsets.Position) ownerKey {
	return ownerKey{p.Job.Namespace, p.Job.EventHub, p.Job.ConsumerGroup, p.Partition}
}

// partitionOwners reads, from the ownership store spec, the ownership
// records of every consumer group the positions ps are of. endpoint, the
// host and port of a connection string, is the namespace to ask about for
// positions of its host: the SQL stores keep the host alone, as positions
// do, but the SDK's blob store names blobs by host and port.
func partitionOwners(ctx context.Context, spec string, ps []offsets.Position, endpoint string) (map[ownerKey]azeventhubs.Ownership, error) {
	store, closer, err := ownership.Open(ctx, spec, "", &ownership.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	owners := map[ownerKey]azeventhubs.Ownership{}
	asked := map[ownerKey]bool{}
	for _, p := range ps {
		group := ownerKeyOf(p)
		group.partition = ""
		if asked[group] {
			continue
		}
		asked[group] = true
		namespace := p.Job.Namespace
		if endpoint != "" && ownership.Namespace(endpoint) == namespace {
			namespace = endpoint
		}
		records, err := store.ListOwnership(ctx, namespace, p.Job.EventHub, p.Job.ConsumerGroup, nil)
		if err != nil {
			return nil, fmt.Errorf("ownership store %s: %v", ownership.Redact(spec), err)
		}
		for _, o := range records {
			k := group
			k.partition = o.PartitionID
			owners[k] = o
		}
	}
	return owners, nil
}

// since is how long ago t was, to the second (to the millisecond under a
// second); a time ahead of now (another machine's clock) counts as 0.
func since(t, now time.Time) string {
	d := max(now.Sub(t), 0)
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// lagKey is a stored position's job and partition.
type lagKey struct {
	job       offsets.Job
	partition string
}

func keyOf(p offsets.Position) lagKey {
	j := p.Job
	j.Output = "" // not part of a job's identity in the store
	return lagKey{job: j, partition: p.Partition}
}

// jobLags reads the lag of every job with positions of conf's namespace
// and hub, whatever its consumer group (hub bounds are the same in all),
// from the positions listed, reading oldest unread events with lagGroup,
// else each job's own group. A partition whose oldest unread event could
// not be read is said on stderr, once per job.
func jobLags(ctx context.Context, conf *eventhubs.Conf, ps []offsets.Position, lagGroup string, std stdio) (map[lagKey]eventhubs.PartitionLag, error) {
	cs, _ := conf.ConnectionString()
	var jobs []offsets.Job // in the order listed
	next := map[offsets.Job]map[string]int64{}
	for _, p := range ps {
		job := keyOf(p).job
		// Host names and hub names are case-insensitive in Event Hubs.
		if !strings.EqualFold(job.Namespace, cs.Hostname()) || !strings.EqualFold(job.EventHub, conf.EventHubName()) {
			continue
		}
		if next[job] == nil {
			jobs, next[job] = append(jobs, job), map[string]int64{}
		}
		next[job][p.Partition] = p.Next
	}
	lags := map[lagKey]eventhubs.PartitionLag{}
	for _, job := range jobs {
		group := lagGroup
		if group == "" {
			group = job.ConsumerGroup
		}
		ls, err := eventhubs.Lag(ctx, conf.Clone().SetConsumerGroup(group), next[job])
		if eventhubs.HasCode(err, eventhubs.CodeInvalidRange) {
			// A position of a partition the hub does not have (it was
			// created again with fewer): the rows show, without a lag.
			fmt.Fprintf(std.err, "ehstream offsets: job %q: no lag: %v\n", job.Name, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		var unknown []string
		var why error
		for _, l := range ls {
			lags[lagKey{job: job, partition: l.PartitionID}] = l
			if l.Err != nil {
				unknown, why = append(unknown, l.PartitionID), l.Err
			}
		}
		if len(unknown) > 0 {
			fmt.Fprintf(std.err, "ehstream offsets: job %q (consumer group %s): the oldest unread event of partition %s is unknown (?): %v\n",
				job.Name, job.ConsumerGroup, strings.Join(unknown, ", "), why)
			if lagGroup == "" {
				fmt.Fprintf(std.err, "ehstream offsets: --lag-consumer-group names another consumer group to read it with\n")
			}
		}
	}
	return lags, nil
}

// age is how long the oldest unread event has waited: "-" when there is
// none, "?" when it could not be read.
func age(l eventhubs.PartitionLag, now time.Time) string {
	switch {
	case l.Err != nil:
		return "?"
	case l.OldestUnread.IsZero():
		return "-"
	}
	return since(l.OldestUnread, now) // l.TimeLag(now), rounded
}
