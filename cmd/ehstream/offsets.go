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
	hf := addHubFlags(fs, true)
	sinkSpec := fs.String("sink", "sqlite:ehstream.db", "the job's sink: sqlite:PATH or a postgres:// URL")
	jobName := fs.String("job", "", "only this job (default: every job in the sink)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sk, err := openSink(ctx, *sinkSpec, "")
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
		if *jobName == "" || p.Job.Name == *jobName {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		if *jobName != "" {
			return fmt.Errorf("no stored positions for job %q in %s", *jobName, sk.desc)
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
	var namespace, hub, group string
	if hf.given() {
		conf, err := hf.conf()
		if err != nil {
			return err
		}
		cs, _ := conf.ConnectionString() // valid: conf() validated it
		namespace, hub, group = cs.Hostname(), conf.EventHubName(), conf.ConsumerGroup()
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
	header := "JOB\tNAMESPACE\tHUB\tCONSUMER GROUP\tPARTITION\tNEXT\tUPDATED"
	if bounds != nil {
		header += "\tHUB END\tLAG"
	}
	fmt.Fprintln(tw, header)
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s", p.Job.Name, p.Job.Namespace, p.Job.EventHub, p.Job.ConsumerGroup,
			p.Partition, p.Next, p.Updated.Format(time.RFC3339))
		if bounds != nil {
			b, ok := bounds[p.Partition]
			sameHub := strings.EqualFold(p.Job.Namespace, namespace) && strings.EqualFold(p.Job.EventHub, hub) && strings.EqualFold(p.Job.ConsumerGroup, group)
			if ok && sameHub {
				fmt.Fprintf(tw, "\t%d\t%d", b.End, b.End-p.Next)
			} else {
				fmt.Fprint(tw, "\t-\t-")
			}
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
