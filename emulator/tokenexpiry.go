package emulator

import (
	"fmt"
	"strings"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// Links end when their tokens do, as on the service: an event link that
// attached with a token is detached with amqp:unauthorized-access once no
// unexpired token on its connection covers its address with the right it
// needs. A client keeps it by putting a new token on $cbs before the old
// one expires, as the SDKs do on their own. One goroutine per connection
// (started with its first such link) sleeps until the earliest expiry of
// the connection's tokens, so a link ends within moments of its token,
// and nothing runs while no token is due. In development mode no token is
// checked and no link ends.

// guardedLink is an attached event link and what keeps it authorized.
type guardedLink struct {
	addr   string // the link's address, as the client gave it
	target resource
	need   SASRights
	end    func(*amqp.Error) // detaches the link; never waits on the client for long
}

// revocable is an event link the emulator can detach on its own.
type revocable interface {
	revoke(e *amqp.Error)
}

// guardLink has an attached producer or consumer link detached when its
// token expires without a renewal. The reader goroutine calls it.
func (c *conn) guardLink(a *amqp.Attach, l link) {
	r, ok := l.(revocable)
	if !ok || !c.srv.authEnabled() {
		return
	}
	addr, need := linkAddress(a), RightSend
	if a.Role == amqp.RoleReceiver {
		need = RightListen
	}
	g := &guardedLink{addr: addr, target: parseResource(addr, false), need: need, end: r.revoke}
	if c.auth.guard(l, g) {
		c.workers.Add(1)
		go c.expireLinks()
	}
}

// expireLinks detaches the connection's guarded links whose tokens
// expired, until the connection ends.
func (c *conn) expireLinks() {
	defer c.workers.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if next := c.auth.nextExpiry(time.Now()); !next.IsZero() {
			timer.Reset(time.Until(next))
			due = timer.C
		}
		select {
		case <-c.done:
			return
		case <-c.auth.wake:
		case <-due:
			for _, g := range c.auth.expired(time.Now()) {
				c.log.Info("detaching a link: its token expired and was not renewed", "address", g.addr)
				g.end(g.err())
			}
		}
	}
}

// err is what the detach says, as the refusal of an attach does.
func (g *guardedLink) err() *amqp.Error {
	return unauthorizedLink(g.need, g.addr, "The token for it expired and was not renewed: put a new token on $cbs before the old one expires.")
}

// unauthorizedLink is the service's refusal of a link for want of a claim.
func unauthorizedLink(need SASRights, addr, detail string) *amqp.Error {
	return amqpErr(condUnauthorized, fmt.Sprintf("Unauthorized access. '%s' claim(s) are required to perform this operation. Resource: '%s'. %s",
		need.claim(), strings.ToLower(addr), detail))
}

// guard adds a link to those the connection's tokens must keep
// authorized; start reports that no goroutine watches them yet.
func (a *connAuth) guard(l link, g *guardedLink) (start bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.links == nil {
		a.links = map[link]*guardedLink{}
		a.wake = make(chan struct{}, 1)
		start = true
	}
	a.links[l] = g
	select { // the watcher may be asleep with no expiry due
	case a.wake <- struct{}{}:
	default:
	}
	return start
}

// unguard forgets a link that ended.
func (a *connAuth) unguard(l link) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.links, l)
}

// nextExpiry is the earliest expiry after now of the connection's tokens;
// zero when no link is guarded or no token will expire.
func (a *connAuth) nextExpiry(now time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var next time.Time
	if len(a.links) == 0 {
		return next
	}
	for _, g := range a.grants {
		if g.expires.After(now) && (next.IsZero() || g.expires.Before(next)) {
			next = g.expires
		}
	}
	return next
}

// expired drops the tokens expired at now and returns the guarded links
// no remaining token covers, which it forgets.
func (a *connAuth) expired(now time.Time) []*guardedLink {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, g := range a.grants {
		if !g.expires.After(now) {
			delete(a.grants, k)
		}
	}
	var out []*guardedLink
	for l, g := range a.links {
		if ok, _ := a.allowsLocked(&g.target, g.need, now); !ok {
			out = append(out, g)
			delete(a.links, l)
		}
	}
	return out
}

// revoke ends a consumer as a takeover does: its pump sends the detach.
func (cl *consumer) revoke(e *amqp.Error) { cl.steal(e) }

// revoke ends a producer link: the detach goes out at once, and nothing
// it sent and the emulator has not yet stored is stored (its sender gets
// no outcome for it, so nothing acknowledged is lost).
func (l *producerLink) revoke(e *amqp.Error) {
	c := l.s.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if l.closed {
		return // the client detached it first
	}
	l.revoked.Store(true)
	l.closed = true // nothing more goes out on its handle
	c.appendFrameLocked(l.s.channel, &amqp.Detach{Handle: l.handle, Closed: true, Error: e})
	c.flushLocked()
}
