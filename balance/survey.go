package balance

import (
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// A replica cannot know that another has died before its claims expire,
// but it can see that they stopped being renewed: every owner renews its
// claims each round, one every 0.9 to 1.1 update intervals (the rounds'
// jitter). A claim that has gone longer than LateAfter without renewal
// has an owner that is late, stopped or gone: nobody can say that anyone
// reads the partition, though the claim holds until it expires and no
// replica may take it before.

// LateAfter is how long a claim may go unrenewed, by the store's clock,
// before it counts as having no live owner: 1.5 update intervals, the
// longest wait between two rounds (1.1 intervals) and time for a slow
// round.
func LateAfter(updateInterval time.Duration) time.Duration { return updateInterval * 3 / 2 }

// Claim is one partition's ownership record as a survey found it.
type Claim struct {
	PartitionID string
	// Owner is the record's owner ID: "" when the partition has no record
	// (never claimed) or its claim was relinquished.
	Owner string
	// Changed is when the record was last written (claimed, renewed,
	// relinquished), by the store's clock; zero when there is none.
	Changed time.Time
	// Live says Owner renewed the claim within LateAfter.
	Live bool
}

// Survey reads the records of list, for each of partitionIDs in order, as
// they stand at now, the store's clock (a Balancer's ClockOffset turns a
// replica's clock into it), for replicas that renew their claims every
// updateInterval. It claims nothing: any program that reads the records
// (a replica's status page, a watcher) can tell which partitions have a
// live owner.
func Survey(list []azeventhubs.Ownership, partitionIDs []string, now time.Time, updateInterval time.Duration) []Claim {
	records := map[string]azeventhubs.Ownership{}
	for _, o := range list {
		records[o.PartitionID] = o
	}
	late := LateAfter(updateInterval)
	out := make([]Claim, len(partitionIDs))
	for i, id := range partitionIDs {
		out[i].PartitionID = id
		o, ok := records[id]
		if !ok {
			continue
		}
		out[i].Owner, out[i].Changed = o.OwnerID, o.LastModifiedTime
		out[i].Live = o.OwnerID != "" && now.Sub(o.LastModifiedTime) <= late
	}
	return out
}
