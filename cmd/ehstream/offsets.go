package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
)

// runOffsets prints the stored positions of the jobs in a sink and, given
// a connection string, how far each partition is behind the hub.
func runOffsets(ctx context.Context, args []string, std stdio) error {
	fs := newFlagSet("offsets", std.err)
	// No consumer group for the hub: its bounds are the same for every group.
	hf := addHubFlags(fs, false)
	sinkSpec := fs.String("sink", "sqlite:ehstream.db", "the job's sink: sqlite:PATH or a postgres:// URL")
	jobName := fs.String("job", "", "only this job (default: every job in the sink)")
	group := fs.String("consumer-group", "", "only this consumer group (default: every group)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sk, err := openSinkForReading(ctx, *sinkSpec)
	if err != nil {
		return err
	}
	defer sk.close()
	all, err := sk.store.Positions(ctx, offsets.Job{})
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
			return fmt.Errorf("no stored positions for %s in %s", strings.Join(filters, " and "), sk.desc)
		}
		fmt.Fprintf(std.out, "no stored positions in %s\n", sk.desc)
		return nil
	}
	slices.SortFunc(ps, func(a, b offsets.Position) int {
		if c := cmp.Compare(a.Job.String(), b.Job.String()); c != 0 {
			return c
		}
		ai, aerr := strconv.Atoi(a.Partition)
		bi, berr := strconv.Atoi(b.Partition)
		if aerr == nil && berr == nil {
			return cmp.Compare(ai, bi)
		}
		return cmp.Compare(a.Partition, b.Partition)
	})

	// With a connection string, the lag of the positions of its hub.
	var bounds map[string]eventhubs.PartitionBounds
	var namespace, hub string
	if hf.given() {
		conf, err := hf.conf()
		if err != nil {
			return err
		}
		cs, _ := conf.ConnectionString() // valid: conf() validated it
		namespace, hub = cs.Hostname(), conf.EventHubName()
		hp, err := eventhubs.DescribeHub(ctx, conf)
		if err != nil {
			return err
		}
		bounds = map[string]eventhubs.PartitionBounds{}
		for _, b := range hp.Partitions {
			bounds[b.PartitionID] = b
		}
	}

	tw := tabwriter.NewWriter(std.out, 0, 0, 2, ' ', 0)
	header := "JOB\tNAMESPACE\tHUB\tCONSUMER GROUP\tTABLE\tPARTITION\tNEXT\tUPDATED"
	if bounds != nil {
		header += "\tHUB END\tLAG"
	}
	fmt.Fprintln(tw, header)
	shown := 0
	for _, p := range ps {
		output := p.Job.Output
		if output == "" {
			output = "-" // stored by an older ehstream, or by a library job that names none
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s", p.Job.Name, p.Job.Namespace, p.Job.EventHub, p.Job.ConsumerGroup,
			output, p.Partition, p.Next, p.Updated.Format(time.RFC3339))
		if bounds != nil {
			b, ok := bounds[p.Partition]
			// Host names and hub names are case-insensitive in Event Hubs.
			sameHub := strings.EqualFold(p.Job.Namespace, namespace) && strings.EqualFold(p.Job.EventHub, hub)
			if ok && sameHub {
				fmt.Fprintf(tw, "\t%d\t%d", b.End, b.End-p.Next)
				shown++
			} else {
				fmt.Fprint(tw, "\t-\t-")
			}
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if bounds != nil && shown == 0 {
		fmt.Fprintf(std.err, "ehstream offsets: no stored position is of hub %s in namespace %s, so no lag is shown\n", hub, namespace)
	}
	return nil
}
