// Package eventhubs is the Go shape of the Spark Streaming + Event Hubs
// connector: a Conf, EventPositions, OffsetRanges of sequence numbers, and
// bounded reads of any set of ranges (CreateRDD), one goroutine per range.
//
// It wraps the official SDK (azeventhubs/v2) and hides AMQP. Connections are
// pooled per namespace, hub and consumer group and shared by all partitions;
// a partition's receiver stays open between reads and is reused when the
// next read starts where the last one ended, so consecutive ranges cost no
// new link. CloseAll releases the pool.
//
// A direct stream reads its partitions exclusively (owner level 0); ad-hoc
// reads (CreateRDD) do not, so that they never take a partition from a
// running job: see Conf.Exclusive.
//
// Files: connstr.go (connection strings), position.go (EventPosition),
// conf.go (Conf, its map form), offsetrange.go and event.go (the data),
// pool.go (connections and receivers), read.go (reading one range),
// rdd.go (CreateRDD), hub.go (hub and partition properties),
// resolve.go and resolvepositions.go (positions to sequence numbers,
// ResolvePositions, OffsetRangesBetween), lag.go (Lag), errors.go.
package eventhubs
