// Package balance shares an event hub's partitions among the replicas of a
// consumer through the ownership protocol of the official Event Hubs SDKs
// (the azeventhubs Processor, EventProcessorClient): one ownership record
// per partition in a checkpoint store, holding an owner ID, a last-modified
// time and an ETag; claims conditional on the ETag; a claim not renewed
// within the expiration is free to take; an empty owner ID is a
// relinquished claim. Its records are the SDKs' records, so replicas built
// on this package and stock processors balance one consumer group together.
//
// Claiming differs from the SDKs' balanced strategy (azeventhubs'
// processor_load_balancer.go), which claims one partition per round,
// whether free or taken from an owner above its share: here free
// partitions (never owned, relinquished, expired) are claimed up to the
// owner's share in one round, and only taking from live owners goes one
// partition per round. Replicas claim disjoint parts of the free
// partitions by a plan each computes alike from the records (planned). As
// the records know an owner only once it holds a partition (the SDK's
// comment calls it the missing presence), an owner that holds nothing
// claims one free partition, waits Options.JoinWindow and reads the
// records again before claiming the rest (join): replicas starting
// together then count each other. The rules for what is free, the shares
// and taking from live owners are the SDKs', so both balance together.
//
// A Balancer runs the rounds; its caller reads what it owns. It runs no
// goroutine and knows nothing of reading events. Unlike the SDKs, it
// judges a claim's age by the store's clock (clock.go), and refuses a
// consumer group held by another job where the store records jobs
// (jobs.go).
//
// Survey reads the records without claiming, for whoever shows the whole
// job: which partitions have a live owner, one that renewed its claim
// within LateAfter (survey.go).
//
// Files: balance.go (Balancer, options), round.go (a round: read, join,
// choose and plan, claim, settle; Relinquish), clock.go (the store's clock), jobs.go (one job per
// consumer group), survey.go (live owners, as any reader of the records
// sees them).
package balance
