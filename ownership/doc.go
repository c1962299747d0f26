// Package ownership holds the stores through which replicas of a job share
// a consumer group's partitions: the ownership protocol of the official
// Event Hubs SDKs, whose records say who owns a partition, since when, and
// under which ETag. Each store implements azeventhubs.CheckpointStore, so a
// stock azeventhubs.Processor and ehstream replicas can share one group.
//
//   - SQLStore keeps ownership in a table (DefaultTable) beside the
//     positions of package offsets, in PostgreSQL or SQLite. Its
//     checkpoints are those positions: one truth for where a partition
//     stands.
//   - NewBlobStore is the SDK's own checkpoints.BlobStore on an Azure Blob
//     Storage container, signed in with a connection string;
//     NewBlobStoreWithCredential is the same on a container URL, signed in
//     with an azcore.TokenCredential (Microsoft Entra ID).
//   - Open opens either from a one-line spec, as a command-line flag gives
//     it: a postgres:// URL, sqlite:PATH, blob:CONNECTION-STRING/CONTAINER
//     or blob:https://ACCOUNT.blob.core.windows.net/CONTAINER.
//
// # The protocol, as the SDK's Processor runs it
//
// A Processor lists the group's ownership records, judges a record expired
// when its LastModifiedTime is longer ago than its PartitionExpirationDuration
// (on its own clock), and claims partitions by handing ClaimOwnership
// records with its owner ID and the ETag it listed (none for a partition
// never claimed). A claim succeeds only if the record still has that ETag
// (or, without one, does not exist yet), so of two racing claims exactly one
// wins; failed claims are left out of what ClaimOwnership returns, and are
// not errors. Renewing is claiming again with the ETag of the last claim.
// Relinquishing, on a clean shutdown, is a claim with the owner ID "": the
// record stays, and reads as free at once.
//
// The stores never judge expiry: a claim of an expired record carries the
// record's current ETag and succeeds like any other. They set the time of a
// claim from their own clock: the database's (SQLStore) or the storage
// service's (blobs), never the claiming replica's; SQLStore.Now reads it,
// so that replicas (package balance) judge expiry by the clock that
// stamped the claims. SQLStore also records the job each claim was made
// for, so that a second job on a consumer group is refused rather than
// splitting its partitions with the first (balance.JobStore).
//
// OwnersOf reads who owns the partitions of a job's stored positions, as
// `ehstream offsets --ownership` shows them; OwnersOfSpec does so on a
// store named by a spec, opened read-only.
//
// LiveOwners reads, in the database of a job's positions, who holds live
// claims on a consumer group, so that a stream reading every partition
// (`ehstream stream` without --ownership) can refuse to take them from
// replicas; CheckNoLiveOwners says so as an error (*LiveOwnersError).
//
// Files: sqlstore.go (SQLStore: records and checkpoints in SQL, the
// claims' job and the database's clock), blob.go (NewBlobStore and
// NewBlobStoreWithCredential, the SDK's store on Azure Blob Storage),
// spec.go (Open and CheckSpec from a one-line spec, Redact), owners.go
// (OwnersOf, OwnersOfSpec), live.go (LiveOwners,
// CheckNoLiveOwners).
package ownership
