package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchRecordsNeverNull: a partition with nothing to give (at its
// end, empty, or refused) answers empty records, not null ones, as Kafka
// brokers do. librdkafka refuses a null record set ("invalid
// MessageSetSize -1", a protocol error) and kcat exits on it; it was found
// by kcat's group consumer resuming at the end of a partition.
func TestFetchRecordsNeverNull(t *testing.T) {
	s := startTestServer(t)
	for _, version := range []int16{4, 11, 12} { // old, librdkafka's, flexible
		nc := dial(t, s)
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = -1, 1<<20, 0
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = testTopic
		// Partition 0 holds 2 events: offset 2 is its end; 1 is empty; 7
		// does not exist.
		for partition, from := range map[int32]int64{0: 2, 1: 0, 7: 0} {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, from, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := roundTrip(t, nc, req, 1).(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 3 {
			t.Fatalf("Fetch v%d: %+v, want one topic of 3 partitions", version, resp.Topics)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.RecordBatches == nil || len(p.RecordBatches) != 0 {
				t.Fatalf("Fetch v%d partition %d (error %d): records %#v, want empty, not null", version, p.Partition, p.ErrorCode, p.RecordBatches)
			}
		}
		nc.Close()
	}
}
