package eventhubs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// idleTimeout is how long an unused receiver, and then an unused
// connection, stays open. Long enough for a stream's batch interval, short
// enough not to hold a partition long after a program stopped reading.
const idleTimeout = 5 * time.Minute

// pool holds one connection (azeventhubs.ConsumerClient) per namespace, hub,
// consumer group and credential, and each partition's receiver on it.
//
// Lock order (doc.go): pool.mu, then client.mu. A receiver's slot is
// waited for with neither held, and only tried under them.
type pool struct {
	mu       sync.Mutex
	clients  map[clientKey]*client
	janitor  bool // a janitor goroutine is running
	idle     time.Duration
	interval time.Duration
}

var defaultPool = newPool(idleTimeout)

func newPool(idle time.Duration) *pool {
	return &pool{clients: map[clientKey]*client{}, idle: idle, interval: idle / 4}
}

type clientKey struct {
	namespace, hub, group string
	// credential: a hash of the connection string's secret (the secret
	// itself stays out of the key), or credentialKey's of a credential.
	credential string
	cred       any
	// options: SetClientOptions's, which copies of a Conf share.
	options *azeventhubs.ConsumerClientOptions
	// probe marks the connection that resolves positions and checks
	// consumer groups: its SDK client does not retry, so a refused attach
	// (a bad filter, a missing group) comes back as itself at once instead
	// of as a timeout after retries.
	probe bool
	// exclusive keeps exclusive readers (a direct stream's) and readers
	// without an owner level (ad-hoc RDDs) on connections of their own, so
	// that an ad-hoc read never waits for, or reopens, a stream's receiver.
	exclusive bool
	replica   string
	// webSockets and endpoint: how and where the connection goes.
	webSockets bool
	endpoint   string
}

// client is one AMQP connection shared by all partitions of a hub and
// consumer group.
type client struct {
	key clientKey
	cc  *azeventhubs.ConsumerClient
	// newMgmt makes the SDK client properties are asked on, mgmt
	// (mgmt.go), guarded by mu.
	newMgmt func() (*azeventhubs.ConsumerClient, error)
	mgmt    *azeventhubs.ConsumerClient

	mu        sync.Mutex
	receivers map[string]*receiver
	lastUsed  time.Time
	users     int // readers between acquire and release
	closed    bool

	// aheadBytes is what the read-aheads of its receivers hold
	// (readahead.go).
	aheadBytes atomic.Int64
}

// receiver is a partition's open link, reused by the next read that starts
// where the previous one ended.
type receiver struct {
	partitionID string
	slot        chan struct{} // one reader at a time

	// Owned by the holder of slot.
	pc   *azeventhubs.PartitionClient
	next int64 // the sequence number pc delivers next
	// pending is what a check of an idle link received (hold): handed
	// out by the next read after it asks the link again.
	pending []*azeventhubs.ReceivedEventData
	// ready is what a read-ahead received before the slot's holder took
	// the link back: handed out first, with no further check, since the
	// read-ahead was receiving until then. linkErr is the error its
	// receive failed with, which the link's next receive returns.
	ready    []*azeventhubs.ReceivedEventData
	linkErr  error
	lastUsed time.Time

	// ahead is the read-ahead the link is lent to between reads, nil when
	// none: set by the holder of the slot, read by the planner (arrived).
	ahead atomic.Pointer[readAhead]
}

// clientFor returns the shared connection for conf, making it if needed.
func (p *pool) clientFor(conf *Conf) (*client, error) { return p.get(conf, false) }

// probeFor returns the shared probing connection for conf.
func (p *pool) probeFor(conf *Conf) (*client, error) { return p.get(conf, true) }

func (p *pool) get(conf *Conf, probe bool) (*client, error) {
	key, err := keyOf(conf, probe)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		c.mu.Lock()
		c.users++
		c.lastUsed = time.Now()
		c.mu.Unlock()
		return c, nil
	}
	// Properties are asked without the SDK's retries (mgmt.go), as the
	// probe asks everything (clientoptions.go).
	opts, err := poolOptions(conf, probe)
	if err != nil {
		return nil, err
	}
	mgmtOpts, err := poolOptions(conf, true)
	if err != nil {
		return nil, err
	}
	cc, err := newConsumerClient(conf, opts)
	if err != nil {
		return nil, err
	}
	newMgmt := func() (*azeventhubs.ConsumerClient, error) { return newConsumerClient(conf, mgmtOpts) }
	c := &client{key: key, cc: cc, newMgmt: newMgmt, receivers: map[string]*receiver{}, lastUsed: time.Now(), users: 1}
	p.clients[key] = c
	if !p.janitor {
		p.janitor = true
		go p.sweep()
	}
	return c, nil
}

// keyOf is the key of conf's connection.
func keyOf(conf *Conf, probe bool) (clientKey, error) {
	ns, err := conf.FullyQualifiedNamespace()
	if err != nil {
		return clientKey{}, err
	}
	key := clientKey{namespace: ns, hub: conf.EventHubName(), group: conf.ConsumerGroup(), cred: conf.credKey, options: conf.clientOptions,
		probe: probe, exclusive: !probe && conf.exclusiveOr(true), replica: conf.replica,
		webSockets: conf.WebSockets(), endpoint: conf.CustomEndpoint()}
	if conf.credential == nil {
		cs, err := conf.ConnectionString()
		if err != nil {
			return clientKey{}, err
		}
		sum := sha256.Sum256([]byte(cs.SharedAccessKeyName + "\x00" + cs.SharedAccessKey + "\x00" + cs.SharedAccessSignature))
		key.credential = hex.EncodeToString(sum[:8])
	}
	return key, nil
}

// release ends a use of the client that clientFor began.
func (c *client) release() {
	c.mu.Lock()
	c.users--
	c.lastUsed = time.Now()
	c.mu.Unlock()
}

// acquire takes partition id's receiver for one reader; put gives it back.
func (c *client) acquire(ctx context.Context, id string) (*receiver, error) {
	c.mu.Lock()
	r, ok := c.receivers[id]
	if !ok {
		r = &receiver{partitionID: id, slot: make(chan struct{}, 1), next: -1}
		c.receivers[id] = r
	}
	c.mu.Unlock()
	select {
	case r.slot <- struct{}{}:
		r.stopAhead()
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *client) put(r *receiver) {
	r.lastUsed = time.Now()
	<-r.slot
}

// closeReceiver closes partition id's link unless a reader holds it: the
// reader puts it back, and the pool closes it when idle.
func (c *client) closeReceiver(id string) { c.tryReceiver(id, (*receiver).closeLink) }

// tryReceiver runs fn on partition id's receiver, holding its slot, unless
// there is none or a reader holds it.
func (c *client) tryReceiver(id string, fn func(r *receiver)) {
	c.mu.Lock()
	r := c.receivers[id]
	c.mu.Unlock()
	if r == nil {
		return
	}
	select {
	case r.slot <- struct{}{}:
		fn(r)
		<-r.slot
	default:
	}
}

// closeLink closes the receiver's link; the holder of the slot calls it.
func (r *receiver) closeLink() {
	r.stopAhead()
	if r.pc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.pc.Close(ctx)
		cancel()
	}
	r.pc, r.next, r.pending, r.ready, r.linkErr = nil, -1, nil, nil, nil
}

// sweep closes receivers and connections left idle, and ends when the pool
// is empty.
func (p *pool) sweep() {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		var idle []*client
		now := time.Now()
		for k, c := range p.clients {
			c.mu.Lock()
			for id, r := range c.receivers {
				select {
				case r.slot <- struct{}{}:
					// A read-ahead's receiver is its stream's, which closes
					// it when it stops.
					if now.Sub(r.lastUsed) > p.idle && r.ahead.Load() == nil {
						r.closeLink()
						delete(c.receivers, id)
					}
					<-r.slot
				default: // in use
				}
			}
			if len(c.receivers) == 0 && c.users == 0 && now.Sub(c.lastUsed) > p.idle {
				c.closed = true
				delete(p.clients, k)
				idle = append(idle, c)
			}
			c.mu.Unlock()
		}
		done := len(p.clients) == 0
		if done {
			p.janitor = false
		}
		p.mu.Unlock()
		for _, c := range idle {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.closeSDKs(ctx)
			cancel()
		}
		if done {
			return
		}
	}
}

// CloseAll closes every pooled connection and receiver: call it when a
// program is done reading, or let idle ones close by themselves after five
// minutes. Reads in progress fail. Later reads open new connections.
func CloseAll(ctx context.Context) error { return defaultPool.closeAll(ctx) }

func (p *pool) closeAll(ctx context.Context) error {
	p.mu.Lock()
	clients := p.clients
	p.clients = map[clientKey]*client{}
	p.mu.Unlock()
	var errs []error
	for _, c := range clients {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		if err := c.closeSDKs(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// closeSDKs closes the client's SDK clients, once it is closed.
func (c *client) closeSDKs(ctx context.Context) error {
	c.mu.Lock()
	mgmt := c.mgmt
	c.mu.Unlock()
	err := c.cc.Close(ctx)
	if mgmt != nil {
		err = errors.Join(err, mgmt.Close(ctx))
	}
	return err
}
