package capture

import (
	"context"
	"path"
	"strings"
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
	return hf, nil
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
