package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/eventjson"
)

// infoConfig is what `ehstream info` shows: a hub, as a table or JSON.
type infoConfig struct {
	conf   *eventhubs.Conf
	asJSON bool
}

func parseInfoFlags(args []string, stderr io.Writer) (*infoConfig, error) {
	fs := newFlagSet("info", stderr)
	h := addHubFlags(fs, false)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	conf, err := h.conf()
	if err != nil {
		return nil, err
	}
	return &infoConfig{conf: conf, asJSON: *asJSON}, nil
}

func (c *infoConfig) run(ctx context.Context, std stdio) error {
	hp, err := eventhubs.DescribeHub(ctx, c.conf)
	if err != nil {
		return err
	}
	if c.asJSON {
		return printInfoJSON(std.out, hp)
	}
	return printInfoTable(std.out, hp)
}

func printInfoTable(w io.Writer, hp *eventhubs.HubProperties) error {
	fmt.Fprintf(w, "hub %s: %d partitions, created %s\n", hp.Name, len(hp.PartitionIDs), formatTime(hp.CreatedOn))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tFIRST\tLAST\tEVENTS\tLAST OFFSET\tLAST ENQUEUED")
	for _, b := range hp.Partitions {
		if b.Empty() {
			fmt.Fprintf(tw, "%s\t-\t-\t0\t-\t-\n", b.PartitionID)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", b.PartitionID, b.First, b.End-1, b.End-b.First, b.LastOffset, formatTime(b.LastEnqueued))
	}
	return tw.Flush()
}

// printInfoJSON prints the hub in eventjson's form, indented.
func printInfoJSON(w io.Writer, hp *eventhubs.HubProperties) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(eventjson.HubOf(hp))
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
