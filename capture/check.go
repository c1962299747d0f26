package capture

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// HubFiles is what CheckFiles found of a hub's files.
type HubFiles struct {
	Namespace, EventHub string
	// Partitions holds each partition that has files, by partition ID in
	// the order the destination lists them.
	Partitions []PartitionFiles
	// Strays are paths under the hub that are not files of the layout.
	Strays []string
}

// PartitionFiles is one partition's visible files and what their ranges
// say.
type PartitionFiles struct {
	PartitionID string
	// Files in the layout's order: time, then range.
	Files []FileName
	// Events is how many sequence numbers the files cover, overlaps
	// counted twice.
	Events int64
	// Gaps are the ranges of sequence numbers between two files that no
	// file holds: events lost to retention before the stream read them
	// (the sink logs each), or a file removed by hand.
	Gaps []Span
	// Overlaps are the ranges two files both hold: duplicates, from two
	// writers on one destination, or a hub created again, whose numbering
	// restarted at 0.
	Overlaps []Span
}

// Span is a range of sequence numbers [From, Until) and the files either
// side of it.
type Span struct {
	From, Until   int64
	Before, After string // the files' paths
}

// Ends is the first and last sequence numbers the partition's files
// cover, [from, until); 0, 0 with no file.
func (p PartitionFiles) Ends() (from, until int64) {
	if len(p.Files) == 0 {
		return 0, 0
	}
	return p.Files[0].From, p.Files[len(p.Files)-1].Until
}

// CheckFiles lists the visible files of a hub in dest, every partition's,
// and the gaps and overlaps between their ranges: what `ehstream files`
// prints. The namespace is its host, as the sink's paths spell it (in
// lower case).
func CheckFiles(ctx context.Context, dest Destination, namespace, eventHub string) (*HubFiles, error) {
	hf := &HubFiles{Namespace: strings.ToLower(namespace), EventHub: strings.ToLower(eventHub)}
	paths, err := dest.List(ctx, path.Join(hf.Namespace, hf.EventHub))
	if err != nil {
		return nil, err
	}
	hf.add(paths)
	return hf, nil
}

// CheckAllFiles is CheckFiles of every hub with files in dest, in the
// order of their paths ({Namespace}/{EventHub}). Paths outside any hub's
// directory are left out.
func CheckAllFiles(ctx context.Context, dest Destination) ([]*HubFiles, error) {
	paths, err := dest.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var hubs []*HubFiles
	byHub := map[string][]string{}
	for _, p := range paths {
		parts := strings.SplitN(p, "/", 3)
		if len(parts) < 3 {
			continue
		}
		key := parts[0] + "/" + parts[1]
		if _, ok := byHub[key]; !ok {
			hubs = append(hubs, &HubFiles{Namespace: parts[0], EventHub: parts[1]})
		}
		byHub[key] = append(byHub[key], p)
	}
	for _, hf := range hubs {
		hf.add(byHub[hf.Namespace+"/"+hf.EventHub])
	}
	return hubs, nil
}

// add takes in the hub's paths, sorted.
func (hf *HubFiles) add(paths []string) {
	byID := map[string]*PartitionFiles{}
	var order []string
	for _, p := range paths {
		name, err := ParseFileName(p)
		if err != nil {
			hf.Strays = append(hf.Strays, p)
			continue
		}
		pf, ok := byID[name.PartitionID]
		if !ok {
			pf = &PartitionFiles{PartitionID: name.PartitionID}
			byID[name.PartitionID] = pf
			order = append(order, name.PartitionID)
		}
		pf.add(name)
	}
	for _, id := range order {
		hf.Partitions = append(hf.Partitions, *byID[id])
	}
}

// Overlaps counts the overlaps of every partition.
func (hf *HubFiles) Overlaps() int {
	n := 0
	for _, p := range hf.Partitions {
		n += len(p.Overlaps)
	}
	return n
}

// WriteReport writes what hf found as text, as `ehstream files` prints
// it: each partition's files with their ranges, then its gaps and
// overlaps, then the strays.
func (hf *HubFiles) WriteReport(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s/%s: %d partitions with files\n", hf.Namespace, hf.EventHub, len(hf.Partitions))
	for _, p := range hf.Partitions {
		from, until := p.Ends()
		fmt.Fprintf(bw, "  partition %s: %d files, [%d, %d), %d events, %d gaps, %d overlaps\n", p.PartitionID, len(p.Files), from, until, p.Events, len(p.Gaps), len(p.Overlaps))
		for _, f := range p.Files {
			fmt.Fprintf(bw, "    [%d, %d) %s\n", f.From, f.Until, f.Path())
		}
		for _, g := range p.Gaps {
			fmt.Fprintf(bw, "    gap [%d, %d): no file holds these events (lost to retention before they were read, or a file removed), between %s and %s\n", g.From, g.Until, g.Before, g.After)
		}
		for _, o := range p.Overlaps {
			fmt.Fprintf(bw, "    OVERLAP [%d, %d): two files hold these events (two writers on one destination, or the hub created again), %s and %s\n", o.From, o.Until, o.Before, o.After)
		}
	}
	for _, s := range hf.Strays {
		fmt.Fprintf(bw, "  not a file of the layout: %s\n", s)
	}
	return bw.Flush()
}

// add appends the next file, noting a gap or an overlap with the last.
func (p *PartitionFiles) add(n FileName) {
	if len(p.Files) > 0 {
		last := p.Files[len(p.Files)-1]
		switch {
		case n.From > last.Until:
			p.Gaps = append(p.Gaps, Span{From: last.Until, Until: n.From, Before: last.Path(), After: n.Path()})
		case n.From < last.Until:
			p.Overlaps = append(p.Overlaps, Span{From: n.From, Until: min(last.Until, n.Until), Before: last.Path(), After: n.Path()})
		}
	}
	p.Files = append(p.Files, n)
	p.Events += n.Until - n.From
}

// ReportFiles writes the report (WriteReport) of every hub's files in the
// destination spec names (OpenDestination; cred signs in to a
// blob:https:// one), as `ehstream files` prints it. It creates
// nothing: a missing container is an error. Files that overlap
// fail it: events that two files hold are duplicates.
func ReportFiles(ctx context.Context, spec string, cred azcore.TokenCredential, w io.Writer) error {
	dest, err := OpenDestination(ctx, spec, cred, &BlobOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	hubs, err := CheckAllFiles(ctx, dest)
	if err != nil {
		return err
	}
	if len(hubs) == 0 {
		_, err := fmt.Fprintf(w, "no files in %s\n", dest)
		return err
	}
	overlaps := 0
	for _, hf := range hubs {
		overlaps += hf.Overlaps()
		if err := hf.WriteReport(w); err != nil {
			return err
		}
	}
	if overlaps > 0 {
		return fmt.Errorf("capture: %d overlaps in %s: events that two files hold (OVERLAP above)", overlaps, dest)
	}
	return nil
}
