package eventhubs

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// The SDK (azeventhubs v2.0.2) can keep its management link ($management:
// the hub's and partitions' properties) on a connection that dropped: when
// the receivers' links recovered the connection first, the management
// link's error no longer matches the connection to recover, and every
// later call fails with connection lost on the dead socket until
// OperationTimeout. So properties are asked on a connection of their own,
// without the SDK's retries (the library's retry loop runs the attempts),
// and a call that finds it lost makes a new one for the next attempt.
// A probe asks on a connection of its own too: its pooled connection
// outlives a drop, and a management link the drop caught in the middle of
// a call failed every later call on it, the SDK (without retries, so
// without its recovery) never making it anew.

// management is the SDK client that properties are asked on.
func (c *client) management() (*azeventhubs.ConsumerClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.cc, nil // a closed client's calls fail as its readers' do
	}
	if c.mgmt == nil {
		mgmt, err := c.newMgmt()
		if err != nil {
			return nil, err
		}
		c.mgmt = mgmt
	}
	return c.mgmt, nil
}

// managementFailed drops used, the management client a call found its
// connection lost on, so that the next call makes a new one (unless
// another call did already).
func (c *client) managementFailed(used *azeventhubs.ConsumerClient, err error) {
	var ehErr *azeventhubs.Error
	if !errors.As(err, &ehErr) || ehErr.Code != azeventhubs.ErrorCodeConnectionLost {
		return
	}
	c.mu.Lock()
	if c.closed || c.mgmt != used {
		c.mu.Unlock()
		return
	}
	c.mgmt = nil
	c.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = used.Close(ctx)
	}()
}
