// Package balance shares an event hub's partitions among the replicas of a
// consumer through the ownership protocol of the official Event Hubs SDKs
// (the azeventhubs Processor, EventProcessorClient): one ownership record
// per partition in a checkpoint store, holding an owner ID, a last-modified
// time and an ETag; claims conditional on the ETag; a claim not renewed
// within the expiration is free to take; an empty owner ID is a
// relinquished claim. Its records are the SDKs' records, so replicas built
// on this package and stock processors balance one consumer group together.
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
// Files: balance.go (Balancer, options), round.go (a round: read, claim,
// settle; Relinquish), clock.go (the store's clock), jobs.go (one job per
// consumer group), survey.go (live owners, as any reader of the records
// sees them).
package balance
