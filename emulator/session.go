package emulator

import (
	"fmt"
	"strings"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// link is the emulator's end of one attached link.
type link interface {
	// onFlow applies a flow frame's link fields.
	onFlow(f *amqp.Flow) error
	// onTransfer takes a transfer frame on a link the client sends on.
	onTransfer(t *amqp.Transfer) error
	// close releases the link's resources; the reader goroutine calls it
	// when the link detaches or the session ends.
	close()
	// detachedByServer reports that the emulator has sent its detach
	// already, so the client's detach needs no answer.
	detachedByServer() bool
	// kind says what the link is for, to count open links; linkNone is
	// not counted.
	kind() linkKind
}

// session is one AMQP session. Incoming state is the reader goroutine's;
// the outgoing fields are guarded by conn.wmu.
type session struct {
	c       *conn
	channel uint16 // the emulator uses the client's channel number as its own
	links   map[uint32]link
	names   map[string]uint32 // link name → handle, to refuse duplicates
	// refused: the session was answered with an end at once, past the
	// connection's limit; it only waits for the client's end.
	refused bool

	// incoming: written by the reader goroutine only; nextIncomingID is
	// also read by link goroutines that send flow frames, so under c.wmu
	nextIncomingID    uint32
	incomingRemaining uint32

	// outgoing, under c.wmu
	nextOutgoingID       uint32
	remoteIncomingWindow uint32
	nextDeliveryID       uint32
	// kicks run when the window opens, under wmu: they never block, and
	// what they append is flushed after them.
	kicks map[uint32]func()
}

func newSession(c *conn, ch uint16, b *amqp.Begin) *session {
	return &session{
		c:                    c,
		channel:              ch,
		links:                map[uint32]link{},
		names:                map[string]uint32{},
		nextIncomingID:       b.NextOutgoingID,
		incomingRemaining:    sessionWindow,
		remoteIncomingWindow: b.IncomingWindow,
		kicks:                map[uint32]func(){},
	}
}

func (s *session) sendBegin() error {
	s.c.wmu.Lock()
	defer s.c.wmu.Unlock()
	s.appendBeginLocked()
	return s.c.flushLocked()
}

func (s *session) appendBeginLocked() {
	ch := s.channel
	s.c.appendFrameLocked(s.channel, &amqp.Begin{
		RemoteChannel:  &ch,
		NextOutgoingID: 0,
		IncomingWindow: sessionWindow,
		OutgoingWindow: 0xffffffff,
		HandleMax:      0xffff,
	})
}

// refuseBegin answers a begin with a begin and an end carrying e: the
// session's analogue of a refused attach.
func (s *session) refuseBegin(e *amqp.Error) error {
	s.c.wmu.Lock()
	defer s.c.wmu.Unlock()
	s.appendBeginLocked()
	s.c.appendFrameLocked(s.channel, &amqp.End{Error: e})
	return s.c.flushLocked()
}

func (s *session) attach(a *amqp.Attach) error {
	if _, dup := s.links[a.Handle]; dup {
		return errConn(condHandleInUse, "attach on handle %d, which is in use", a.Handle)
	}
	if a.Handle > 0xffff {
		return errConn(condNotAllowed, "attach on handle %d, above the handle-max 65535", a.Handle)
	}
	if limit := s.c.srv.cfg.MaxLinksPerConnection; s.c.links >= limit {
		if s.c.links >= limit+refusedSlack {
			return errConn(condResourceLimit, "the client attached %d links past the limit of %d on a connection without detaching them (MaxLinksPerConnection, --max-links-per-connection)",
				s.c.links-limit, limit)
		}
		return s.refuse(a, amqpErr(condResourceLimit, fmt.Sprintf(
			"Cannot allocate more handles to the current session or connection. The maximum number of links on a connection is %d (the emulator's MaxLinksPerConnection, --max-links-per-connection). Close links you no longer use, or raise the limit.", limit)))
	}
	if _, dup := s.names[a.Name]; dup {
		return s.refuse(a, amqpErr(condNotAllowed, "a link named "+a.Name+" is attached already"))
	}
	if e := s.c.authorizeAttach(a); e != nil {
		return s.refuse(a, e)
	}
	// Counted before the attach is answered, so that a client that has
	// its link finds it counted; uncounted if it is not served after all.
	kind := attachKind(a)
	s.c.srv.linkOpened(kind)
	var l link
	var err error
	if a.Role == amqp.RoleReceiver {
		l, err = s.attachOutgoing(a)
	} else {
		l, err = s.attachIncoming(a)
	}
	if err != nil || l == nil { // l == nil: refused, and refuse() has answered
		s.c.srv.linkClosed(kind)
		return err
	}
	s.links[a.Handle] = l
	s.c.links++
	s.names[a.Name] = a.Handle
	s.c.guardLink(a, l)
	return nil
}

// attachKind is the kind of link an attach asks for, as the link's kind()
// will say once it is attached.
func attachKind(a *amqp.Attach) linkKind {
	switch linkNode(a) {
	case "$cbs":
		return linkCBS
	case "$management":
		return linkManagement
	case "":
		if a.Role == amqp.RoleReceiver {
			return linkReceiver
		}
	}
	return linkSender
}

// linkNode is "$cbs" or "$management" when an attach links to one of
// them, else "".
func linkNode(a *amqp.Attach) string {
	path, _ := entityPath(linkAddress(a))
	for _, node := range []string{"$cbs", "$management"} {
		if strings.EqualFold(path, node) {
			return node
		}
	}
	return ""
}

// entityPath is the path of the entity a link address names. Go and
// JavaScript send the path ("eh1/Partitions/0"), Python a URL of it
// ("amqps://ns.servicebus.windows.net/eh1/Partitions/0"); Event Hubs takes
// both, and sb:// URLs. The URL's host is not checked: the emulator is one
// namespace under every name and port that reaches it (localhost, an
// address, a container's name, a --tls-name, a proxy), and it does not
// check the Open frame's hostname either. Tokens are another matter: a
// token's host must match its audience's, and a URL address's (auth.go).
func entityPath(addr string) (string, *amqp.Error) {
	scheme, rest, isURL := strings.Cut(addr, "://")
	if !isURL {
		return addr, nil
	}
	switch strings.ToLower(scheme) {
	case "amqps", "amqp", "sb":
	default:
		return "", amqpErr(condNotFound, fmt.Sprintf("the link address '%s' has the scheme '%s': give the entity's path ('<hub>', '<hub>/Partitions/<id>', ...) or an amqps://, amqp:// or sb:// URL of it", addr, scheme))
	}
	_, path, _ := strings.Cut(rest, "/")
	return path, nil
}

// linkAddress is the address of the node an attach links to on the
// emulator's side: the source when the client receives, the target when
// it sends; "" when it has none.
func linkAddress(a *amqp.Attach) string {
	if a.Role == amqp.RoleReceiver {
		if a.Source != nil {
			return a.Source.Address
		}
	} else if a.Target != nil {
		return a.Target.Address
	}
	return ""
}

// attachOutgoing handles a link on which the emulator sends: events to a
// consumer, or replies from $cbs and $management.
func (s *session) attachOutgoing(a *amqp.Attach) (link, error) {
	if node := linkNode(a); node != "" {
		return s.attachReply(a, node)
	}
	return s.attachConsumer(a)
}

// attachIncoming handles a link on which the client sends: events, or
// requests to $cbs and $management.
func (s *session) attachIncoming(a *amqp.Attach) (link, error) {
	if node := linkNode(a); node != "" {
		return s.attachRequests(a, node)
	}
	return s.attachProducer(a)
}

// refuse answers an attach the emulator will not serve: an attach with no
// source or target, then a closing detach with the error, which the clients
// surface at once instead of retrying. The attach states the default
// max-message-size: the link carries nothing, but the service always sends
// one and positional readers expect it; the hub may be unknown here.
func (s *session) refuse(a *amqp.Attach, e *amqp.Error) error {
	return s.refuseWith(a, e, &amqp.Attach{Name: a.Name, Handle: a.Handle, Role: !a.Role, SndSettleMode: a.SndSettleMode, RcvSettleMode: a.RcvSettleMode,
		MaxMessageSize: DefaultMaxEventSize})
}

// refuseAttached answers with a complete attach and then a closing detach:
// an error after a successful attach is how the clients learn that a reader
// with a higher owner level holds the partition (ownershiplost in Go,
// ReceiverDisconnectedError in JavaScript), rather than a connection error.
// maxSize is the hub's, and the properties are echoed, as on the attach of
// a link that is served (pyamqp merges them into its own, and fails on a
// null).
func (s *session) refuseAttached(a *amqp.Attach, e *amqp.Error, maxSize uint64) error {
	return s.refuseWith(a, e, &amqp.Attach{Name: a.Name, Handle: a.Handle, Role: !a.Role, SndSettleMode: a.SndSettleMode, RcvSettleMode: a.RcvSettleMode,
		Source: a.Source, Target: a.Target, MaxMessageSize: maxSize, Properties: a.Properties})
}

func (s *session) refuseWith(a *amqp.Attach, e *amqp.Error, reply *amqp.Attach) error {
	s.c.log.Info("link refused", "name", a.Name, "err", e)
	s.links[a.Handle] = refusedLink{}
	s.c.links++
	s.c.wmu.Lock()
	defer s.c.wmu.Unlock()
	s.c.appendFrameLocked(s.channel, reply)
	s.c.appendFrameLocked(s.channel, &amqp.Detach{Handle: a.Handle, Closed: true, Error: e})
	return s.c.flushLocked()
}

// refusedLink stands in for a refused link until the client's detach.
type refusedLink struct{}

func (refusedLink) onFlow(*amqp.Flow) error         { return nil }
func (refusedLink) onTransfer(*amqp.Transfer) error { return nil }
func (refusedLink) close()                          {}
func (refusedLink) detachedByServer() bool          { return true }
func (refusedLink) kind() linkKind                  { return linkNone }

func (s *session) flow(f *amqp.Flow) error {
	s.c.wmu.Lock()
	// What the client will still take from us: its window counts from its
	// next-incoming-id, which lags ours by the frames in flight to it (and
	// is our initial 0 when it has not seen our begin yet).
	next := uint32(0)
	if f.NextIncomingID != nil {
		next = *f.NextIncomingID
	}
	s.remoteIncomingWindow = creditLeft(next, f.IncomingWindow, s.nextOutgoingID)
	for _, kick := range s.kicks {
		kick()
	}
	echo := f.Echo && f.Handle == nil
	err := s.c.flushLocked()
	s.c.wmu.Unlock()
	if err != nil {
		return err
	}
	if echo {
		if err := s.sendFlow(nil); err != nil {
			return err
		}
	}
	if f.Handle == nil {
		return nil
	}
	l, ok := s.links[*f.Handle]
	if !ok {
		return errConn(condUnattached, "flow on handle %d, which is not attached", *f.Handle)
	}
	return l.onFlow(f)
}

// sendFlow sends a flow frame with the session's state and, if given, a
// link's fields.
func (s *session) sendFlow(linkFields func(f *amqp.Flow)) error {
	s.c.wmu.Lock()
	defer s.c.wmu.Unlock()
	s.appendFlowLocked(linkFields)
	return s.c.flushLocked()
}

func (s *session) appendFlowLocked(linkFields func(f *amqp.Flow)) {
	next := s.nextIncomingID
	f := &amqp.Flow{NextIncomingID: &next, IncomingWindow: sessionWindow, NextOutgoingID: s.nextOutgoingID, OutgoingWindow: 0xffffffff}
	if linkFields != nil {
		linkFields(f)
	}
	s.c.appendFrameLocked(s.channel, f)
}

func (s *session) transfer(t *amqp.Transfer) error {
	s.c.wmu.Lock()
	s.nextIncomingID++
	s.c.wmu.Unlock()
	if s.incomingRemaining == 0 {
		return errConn(condWindowViolation, "transfer beyond the session's incoming window")
	}
	s.incomingRemaining--
	l, ok := s.links[t.Handle]
	if !ok {
		return errConn(condUnattached, "transfer on handle %d, which is not attached", t.Handle)
	}
	if err := l.onTransfer(t); err != nil {
		return err
	}
	if s.incomingRemaining < sessionWindow/2 {
		s.incomingRemaining = sessionWindow
		return s.sendFlow(nil)
	}
	return nil
}

func (s *session) detach(d *amqp.Detach) error {
	l, ok := s.links[d.Handle]
	if !ok {
		return errConn(condUnattached, "detach on handle %d, which is not attached", d.Handle)
	}
	l.close()
	s.c.auth.unguard(l)
	s.c.srv.linkClosed(l.kind())
	delete(s.links, d.Handle)
	s.c.links--
	for name, h := range s.names {
		if h == d.Handle {
			delete(s.names, name)
		}
	}
	if l.detachedByServer() {
		return nil
	}
	return s.c.send(s.channel, &amqp.Detach{Handle: d.Handle, Closed: d.Closed})
}

// endAll releases every link of the session.
func (s *session) endAll() {
	for h, l := range s.links {
		l.close()
		s.c.auth.unguard(l)
		s.c.srv.linkClosed(l.kind())
		delete(s.links, h)
		s.c.links--
	}
	s.names = map[string]uint32{}
}

// addKick registers what to do for a sending link when the session window
// opens.
func (s *session) addKick(handle uint32, k func()) {
	s.c.wmu.Lock()
	s.kicks[handle] = k
	s.c.wmu.Unlock()
}

func (s *session) removeKick(handle uint32) {
	s.c.wmu.Lock()
	delete(s.kicks, handle)
	s.c.wmu.Unlock()
}
