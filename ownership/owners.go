package ownership

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/offsets"
)

// Owners are the ownership records of the partitions of some stored
// positions (OwnersOf).
type Owners struct {
	records map[ownerKey]azeventhubs.Ownership
}

// ownerKey is a partition of a consumer group, in the names positions
// keep (lower case, the host without a port).
type ownerKey struct{ namespace, hub, group, partition string }

func ownerKeyOf(p offsets.Position) ownerKey {
	return ownerKey{p.Job.Namespace, p.Job.EventHub, p.Job.ConsumerGroup, p.Partition}
}

// OwnersOf reads from store the ownership records of every consumer group
// the positions ps are of, as `ehstream offsets --ownership` shows them.
// endpoint, the host and port of a connection string (or ""), is the
// namespace to ask about for positions of its host: the SQL stores keep
// the host alone, as positions do, but the SDK's blob store names blobs by
// host and port.
func OwnersOf(ctx context.Context, store azeventhubs.CheckpointStore, ps []offsets.Position, endpoint string) (*Owners, error) {
	o := &Owners{records: map[ownerKey]azeventhubs.Ownership{}}
	asked := map[ownerKey]bool{}
	for _, p := range ps {
		group := ownerKeyOf(p)
		group.partition = ""
		if asked[group] {
			continue
		}
		asked[group] = true
		namespace := p.Job.Namespace
		if endpoint != "" && Namespace(endpoint) == namespace {
			namespace = endpoint
		}
		records, err := store.ListOwnership(ctx, namespace, p.Job.EventHub, p.Job.ConsumerGroup, nil)
		if err != nil {
			return nil, err
		}
		for _, r := range records {
			k := group
			k.partition = r.PartitionID
			o.records[k] = r
		}
	}
	return o, nil
}

// Of is the ownership record of p's partition; false for a partition
// never claimed. A record with no OwnerID is one relinquished.
func (o *Owners) Of(p offsets.Position) (azeventhubs.Ownership, bool) {
	r, ok := o.records[ownerKeyOf(p)]
	return r, ok
}

// OwnersOfSpecOptions are OwnersOfSpec's options; nil means the defaults.
type OwnersOfSpecOptions struct {
	// Endpoint is OwnersOf's endpoint: the host and port of the hub's
	// connection string; "" asks under the positions' namespaces.
	Endpoint string
	// Credential signs in to a blob container given by its URL (Options);
	// nil: none, which such a spec needs.
	Credential azcore.TokenCredential
}

// OwnersOfSpec is OwnersOf on the store spec names (Open, read-only: it
// creates nothing), closed again before it returns. Its errors name the
// store with Redact, never its secrets.
func OwnersOfSpec(ctx context.Context, spec string, ps []offsets.Position, opts *OwnersOfSpecOptions) (*Owners, error) {
	if opts == nil {
		opts = &OwnersOfSpecOptions{}
	}
	store, closer, err := Open(ctx, spec, "", &Options{ReadOnly: true, Credential: opts.Credential})
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	owners, err := OwnersOf(ctx, store, ps, opts.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("ownership store %s: %w", Redact(spec), err)
	}
	return owners, nil
}
