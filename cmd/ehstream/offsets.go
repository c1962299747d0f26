package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/offsets"
	"github.com/ehstream/ehstream/ownership"
	"github.com/ehstream/ehstream/sqlsink"
)

// offsetsConfig is what `ehstream offsets` shows: the stored positions
// of the jobs in a sink (of one job or consumer group); given a hub, how
// far each partition is behind it; given an ownership store, who owns
// each partition.
type offsetsConfig struct {
	// hub is the hub the flags name, nil when none is given; it is read
	// only when there are positions.
	hub      *eventhubs.Conf
	sinkSpec string
	job      string
	group    string
	lagGroup string
	ownSpec  string
}

func parseOffsetsFlags(args []string, stderr io.Writer) (*offsetsConfig, error) {
	c := &offsetsConfig{}
	fs := newFlagSet("offsets", stderr)
	// No consumer group for the hub: its bounds are the same for every group.
	h := addHubFlags(fs, false)
	fs.StringVar(&c.sinkSpec, "sink", "sqlite:ehstream.db", "the job's sink: sqlite:PATH or a postgres:// URL"+envNote("sink"))
	fs.StringVar(&c.job, "job", "", "only this job (default: every job in the sink)")
	fs.StringVar(&c.group, "consumer-group", "", "only this consumer group (default: every group)")
	fs.StringVar(&c.lagGroup, "lag-consumer-group", "", "the consumer group to read each job's oldest unread event with, without an owner level "+
		"(default: the job's own; a running job holds its own group's partitions, so name another to see its time lag while it runs)")
	fs.StringVar(&c.ownSpec, "ownership", "", "an ownership store, to show which replica owns each partition and how long ago it claimed it: "+
		"a postgres:// URL, sqlite:PATH or blob:CONNECTION-STRING/CONTAINER (for an emulator's blob records, give --connection-string too: they name its port)"+envNote("ownership"))
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	flagsFromEnv(fs)
	if h.given() {
		var err error
		if c.hub, err = h.conf(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *offsetsConfig) run(ctx context.Context, std stdio) error {
	sk, err := sqlsink.OpenForReading(ctx, c.sinkSpec)
	if err != nil {
		return sinkFlagError(err)
	}
	defer sk.Close()
	ps, err := sk.Store.ListPositions(ctx, &offsets.PositionFilter{Job: c.job, ConsumerGroup: c.group})
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return c.noPositions(std.out, sk.Desc)
	}
	v := &offsetsView{positions: ps}
	if c.hub != nil {
		if err := v.readLags(ctx, c.hub, c.lagGroup, std.err); err != nil {
			return err
		}
	}
	if c.ownSpec != "" {
		opts := &ownership.OwnersOfSpecOptions{Endpoint: v.endpoint, Credential: v.cred}
		if v.owners, err = ownership.OwnersOfSpec(ctx, c.ownSpec, ps, opts); err != nil {
			return err
		}
	}
	if err := v.print(std.out, time.Now()); err != nil {
		return err
	}
	if v.withHub && v.lags.Len() == 0 {
		fmt.Fprintf(std.err, "ehstream offsets: no stored position is of hub %s in namespace %s, so no lag is shown\n", v.hub, v.namespace)
	}
	return nil
}

// noPositions says that the sink has none of the positions asked for:
// an error when the flags named a job or consumer group.
func (c *offsetsConfig) noPositions(out io.Writer, sink string) error {
	var filters []string
	if c.job != "" {
		filters = append(filters, fmt.Sprintf("job %q", c.job))
	}
	if c.group != "" {
		filters = append(filters, fmt.Sprintf("consumer group %q", c.group))
	}
	if len(filters) > 0 {
		return fmt.Errorf("no stored positions for %s in %s", strings.Join(filters, " and "), sink)
	}
	fmt.Fprintf(out, "no stored positions in %s\n", sink)
	return nil
}

// offsetsView is what offsets prints: the positions, and what is known
// of their lag and owners.
type offsetsView struct {
	positions []offsets.Position
	// With a connection string: its hub, and the lag of its positions.
	withHub        bool
	namespace, hub string
	endpoint       string                 // the SDK's namespace: the host and port
	cred           azcore.TokenCredential // the hub flags' credential, for a blob container URL
	lags           *offsets.Lags
	// With an ownership store: who owns each listed partition.
	owners *ownership.Owners
}

// readLags reads the lag of the positions of conf's hub.
func (v *offsetsView) readLags(ctx context.Context, conf *eventhubs.Conf, lagGroup string, stderr io.Writer) error {
	// Valid: hubFlags.conf validated it.
	v.namespace, _ = conf.NamespaceHost()
	v.endpoint, _ = conf.FullyQualifiedNamespace()
	v.withHub, v.hub, v.cred = true, conf.EventHubName(), conf.Credential()
	var err error
	v.lags, err = jobLags(ctx, conf, v.positions, lagGroup, stderr)
	return err
}

// print writes the table of positions, a row each.
func (v *offsetsView) print(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "JOB\tNAMESPACE\tHUB\tCONSUMER GROUP\tTABLE\tPARTITION\tNEXT\tUPDATED"
	if v.withHub {
		header += "\tHUB END\tLAG\tOLDEST UNREAD"
	}
	if v.owners != nil {
		header += "\tOWNER\tCLAIMED"
	}
	fmt.Fprintln(tw, header)
	for _, p := range v.positions {
		v.printRow(tw, p, now)
	}
	return tw.Flush()
}

func (v *offsetsView) printRow(w io.Writer, p offsets.Position, now time.Time) {
	output := p.Job.Output
	if output == "" {
		output = "-" // stored by an older ehstream, or by a library job that names none
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s", p.Job.Name, p.Job.Namespace, p.Job.EventHub, p.Job.ConsumerGroup,
		output, p.Partition, p.Next, p.Updated.Format(time.RFC3339))
	if v.withHub {
		if l, ok := v.lags.Of(p); ok {
			fmt.Fprintf(w, "\t%d\t%d\t%s", l.End, l.Events, age(l, now))
		} else {
			fmt.Fprint(w, "\t-\t-\t-")
		}
	}
	if v.owners != nil {
		o, ok := v.owners.Of(p)
		switch {
		case !ok:
			fmt.Fprint(w, "\t-\t-") // never claimed
		case o.OwnerID == "":
			fmt.Fprintf(w, "\t(none)\t%s ago", since(o.LastModifiedTime, now)) // relinquished
		default:
			fmt.Fprintf(w, "\t%s\t%s ago", o.OwnerID, since(o.LastModifiedTime, now))
		}
	}
	fmt.Fprintln(w)
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

// jobLags reads the lag of the positions listed of conf's hub
// (offsets.PositionsLag). A job without one, and a partition whose oldest
// unread event could not be read, are said on stderr, once per job.
func jobLags(ctx context.Context, conf *eventhubs.Conf, ps []offsets.Position, lagGroup string, stderr io.Writer) (*offsets.Lags, error) {
	jls, err := offsets.PositionsLag(ctx, conf, ps, lagGroup)
	if err != nil {
		return nil, err
	}
	for _, jl := range jls {
		if jl.Err != nil {
			fmt.Fprintf(stderr, "ehstream offsets: job %q: no lag: %v\n", jl.Job.Name, jl.Err)
			continue
		}
		if unknown, why := jl.Unknown(); len(unknown) > 0 {
			fmt.Fprintf(stderr, "ehstream offsets: job %q (consumer group %s): the oldest unread event of partition %s is unknown (?): %v\n",
				jl.Job.Name, jl.Job.ConsumerGroup, strings.Join(unknown, ", "), why)
			if lagGroup == "" {
				fmt.Fprintf(stderr, "ehstream offsets: --lag-consumer-group names another consumer group to read it with\n")
			}
		}
	}
	return offsets.IndexLags(jls), nil
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
