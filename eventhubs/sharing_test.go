package eventhubs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/ehstream/ehstream/eventhubs"
)

// SetOwnershipStore refuses options the ownership protocol cannot work
// with as a CodeInvalidConf error that keeps the protocol's own error in
// its chain, rather than only its text.
func TestSetOwnershipStoreKeepsTheCause(t *testing.T) {
	ds, err := eventhubs.CreateDirectStream(newSSC(t, time.Second), eventhubs.NewConf(utConnStr))
	if err != nil {
		t.Fatal(err)
	}
	err = ds.SetOwnershipStore(nopStore{}, &eventhubs.OwnershipOptions{UpdateInterval: 2 * time.Second, Expiration: time.Second})
	var e *eventhubs.Error
	if !errors.As(err, &e) || e.Code != eventhubs.CodeInvalidConf {
		t.Fatalf("SetOwnershipStore with an expiration below the interval = %v, want a %s error", err, eventhubs.CodeInvalidConf)
	}
	if e.Err == nil || !strings.Contains(e.Err.Error(), "must exceed the update interval") {
		t.Errorf("the error's cause is %v, want the protocol's error saying the expiration must exceed the update interval", e.Err)
	}
	if errors.Unwrap(err) != e.Err {
		t.Errorf("errors.Unwrap(%v) is not the cause", err)
	}
}

// utConnStr is a connection string nothing is asked at.
const utConnStr = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;EntityPath=hub"

// nopStore is an ownership store that holds nothing.
type nopStore struct{}

func (nopStore) ClaimOwnership(context.Context, []azeventhubs.Ownership, *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	return nil, nil
}

func (nopStore) ListCheckpoints(context.Context, string, string, string, *azeventhubs.ListCheckpointsOptions) ([]azeventhubs.Checkpoint, error) {
	return nil, nil
}

func (nopStore) ListOwnership(context.Context, string, string, string, *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	return nil, nil
}

func (nopStore) SetCheckpoint(context.Context, azeventhubs.Checkpoint, *azeventhubs.SetCheckpointOptions) error {
	return nil
}
