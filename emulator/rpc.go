package emulator

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ehstream/ehstream/emulator/amqp"
)

// requestCredit is how many requests a client may have in flight on a
// $cbs or $management link.
const requestCredit = 100

// rpcMaxMessageSize is the largest request or response on a $cbs or
// $management link, stated on both links' attach.
const rpcMaxMessageSize = 1 << 20

// maxPendingReplies bounds the responses a reply link holds while the
// client gives it no credit; the client sets the pace of requests, so
// without a bound it sets the emulator's memory too.
const maxPendingReplies = requestCredit

// requestLink takes requests to $cbs or $management.
type requestLink struct {
	inLink
	node      string // "$cbs" or "$management"
	processed uint32
}

func (s *session) attachRequests(a *amqp.Attach, node string) (link, error) {
	l := &requestLink{inLink: inLink{s: s, handle: a.Handle, maxSize: rpcMaxMessageSize, received: a.InitialDeliveryCount, budget: s.c.srv.budget, answered: true},
		node: node, processed: a.InitialDeliveryCount}
	reply := &amqp.Attach{
		Name: a.Name, Handle: a.Handle, Role: amqp.RoleReceiver,
		SndSettleMode: a.SndSettleMode, RcvSettleMode: a.RcvSettleMode,
		Source: a.Source, Target: a.Target, MaxMessageSize: rpcMaxMessageSize,
	}
	s.c.wmu.Lock()
	defer s.c.wmu.Unlock()
	s.c.appendFrameLocked(s.channel, reply)
	s.appendFlowLocked(l.creditFlowLocked(l.processed, requestCredit))
	return l, s.c.flushLocked()
}

func (l *requestLink) onFlow(*amqp.Flow) error { return nil }
func (l *requestLink) close()                  { l.abandon() }
func (l *requestLink) detachedByServer() bool  { return false }
func (l *requestLink) kind() linkKind          { return nodeKind(l.node) }

func (l *requestLink) onTransfer(t *amqp.Transfer) error {
	d, err := l.take(t)
	if d == nil || err != nil {
		return err
	}
	defer l.release(d)
	var resp *amqp.Message
	var replyTo string
	msg, derr := amqp.DecodeMessage(d.payload)
	switch {
	case d.aborted:
	case d.busy != nil:
		derr = nil
	case d.tooLarge:
		derr = fmt.Errorf("request larger than 1 MiB")
	case derr == nil:
		if msg.Properties != nil {
			replyTo = msg.Properties.ReplyTo
		}
		if l.node == "$cbs" {
			resp = l.s.c.srv.handleCBS(l.s.c, msg)
		} else {
			resp = l.s.c.srv.handleManagement(l.s.c, msg)
		}
	}
	c := l.s.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	l.processed++
	if !d.settled {
		switch {
		case d.busy != nil:
			l.settleLocked(d.id, d.id, &amqp.Rejected{Error: d.busy})
		case derr != nil:
			l.settleLocked(d.id, d.id, &amqp.Rejected{Error: amqpErr(condDecodeError, derr.Error())})
		default:
			l.settleLocked(d.id, d.id, &amqp.Accepted{})
		}
	}
	if l.received-l.processed < requestCredit/2 {
		l.s.appendFlowLocked(l.creditFlowLocked(l.processed, requestCredit))
	}
	if resp != nil {
		if r := l.s.findReplyLinkLocked(replyTo, l.node); r != nil {
			payload, err := amqp.AppendMessage(nil, resp)
			if err != nil {
				panic(fmt.Sprintf("emulator: encoding a %s response: %v", l.node, err))
			}
			r.queueLocked(payload)
		} else {
			// Debug: a client that keeps sending after its reply link ended
			// would otherwise fill the log.
			c.log.Debug("no reply link for a request; dropping the response", "node", l.node, "reply_to", replyTo)
		}
	}
	return c.flushLocked()
}

// replyLink carries responses from $cbs or $management to the client.
type replyLink struct {
	*outLink
	node    string
	name    string
	address string
	pending [][]byte // responses waiting for credit; under wmu
}

func (s *session) attachReply(a *amqp.Attach, node string) (link, error) {
	r := &replyLink{outLink: newOutLink(s, a.Handle), node: node, name: a.Name}
	if a.Target != nil {
		r.address = a.Target.Address
	}
	reply := &amqp.Attach{
		Name: a.Name, Handle: a.Handle, Role: amqp.RoleSender,
		SndSettleMode: a.SndSettleMode, RcvSettleMode: a.RcvSettleMode,
		Source: a.Source, Target: a.Target, MaxMessageSize: rpcMaxMessageSize,
	}
	s.addKick(a.Handle, r.sendPendingLocked)
	return r, s.c.send(s.channel, reply)
}

func (r *replyLink) onFlow(f *amqp.Flow) error {
	c := r.s.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if r.applyFlowLocked(f) {
		r.s.appendFlowLocked(r.linkFlowLocked)
	}
	r.sendPendingLocked()
	return c.flushLocked()
}

func (r *replyLink) onTransfer(*amqp.Transfer) error {
	return errConn(condNotAllowed, "transfer on a link the emulator sends on")
}

func (r *replyLink) close() {
	r.s.removeKick(r.handle)
	r.s.c.wmu.Lock()
	r.detached = true
	r.pending = nil
	r.s.c.wmu.Unlock()
}

func (r *replyLink) kind() linkKind { return nodeKind(r.node) }

func (r *replyLink) detachedByServer() bool {
	r.s.c.wmu.Lock()
	defer r.s.c.wmu.Unlock()
	return r.sentDetach
}

// queueLocked sends a response, or keeps it until the client gives
// credit. Past maxPendingReplies it ends the link instead. wmu held.
func (r *replyLink) queueLocked(payload []byte) {
	if len(r.pending) >= maxPendingReplies {
		r.s.c.log.Info("ending a reply link: the client gives it no credit", "node", r.node, "link", r.name, "waiting", len(r.pending))
		r.pending = nil
		r.detachLocked(amqpErr(condResourceLimit, fmt.Sprintf(
			"%d responses on link '%s' wait for credit; the emulator keeps no more", maxPendingReplies, r.name)))
		return
	}
	r.pending = append(r.pending, payload)
	r.sendPendingLocked()
}

// sendPendingLocked sends what credit and window allow; wmu held, the
// caller flushes.
func (r *replyLink) sendPendingLocked() {
	for len(r.pending) > 0 && r.flow.credit > 0 && !r.detached {
		if !r.s.writeDeliveryLocked(r.outLink, r.pending[0]) {
			break
		}
		r.pending = r.pending[1:]
	}
	r.idleLocked()
}

// findReplyLinkLocked finds where a response goes: the link whose target
// address or name is the request's reply-to, else the session's one reply
// link on the same node.
func (s *session) findReplyLinkLocked(replyTo, node string) *replyLink {
	var fallback *replyLink
	for _, l := range s.links {
		r, ok := l.(*replyLink)
		if !ok || r.detached {
			continue
		}
		if replyTo != "" && (r.address == replyTo || r.name == replyTo) {
			return r
		}
		if r.node == node {
			fallback = r
		}
	}
	return fallback
}

// writeDeliveryLocked sends one settled delivery on o, split into frames
// that fit the client's max-frame-size. It reports false, sending nothing,
// when the session window has no room for it. wmu held.
func (s *session) writeDeliveryLocked(o *outLink, payload []byte) bool {
	chunk := int(s.c.remoteMaxFrame) - amqp.TransferOverhead
	frames := uint32(1)
	if len(payload) > chunk {
		frames = uint32((len(payload) + chunk - 1) / chunk)
	}
	if s.remoteIncomingWindow < frames {
		return false
	}
	id := s.nextDeliveryID
	s.nextDeliveryID++
	var tag [4]byte
	dc := o.flow.deliveryCount
	tag[0], tag[1], tag[2], tag[3] = byte(dc>>24), byte(dc>>16), byte(dc>>8), byte(dc)
	for i := uint32(0); i < frames; i++ {
		part := payload
		if len(part) > chunk {
			part = part[:chunk]
		}
		payload = payload[len(part):]
		s.c.wbuf = amqp.AppendTransferFrame(s.c.wbuf, s.channel, o.handle, i == 0, id, tag[:], true, i+1 < frames, part)
	}
	s.nextOutgoingID += frames
	s.remoteIncomingWindow -= frames
	o.flow.transferred()
	return true
}

// handleCBS takes put-token requests; c.putToken checks the token
// (auth.go).
func (s *Server) handleCBS(c *conn, req *amqp.Message) *amqp.Message {
	op, _ := req.ApplicationProperties.Get("operation")
	if name, _ := op.(string); name != "put-token" {
		return response(req, 400, fmt.Sprintf("unsupported $cbs operation %v", op), condNotImplemented, nil)
	}
	return c.putToken(req)
}

// tokenText is the token a put-token or a $management security_token
// carries: a string (Go, JavaScript), a binary, or the descriptor of a
// described value (pyamqp sends its AccessToken tuple, token and expiry,
// as one); "" when none of these.
func tokenText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
	case amqp.Described:
		if _, nested := v.Descriptor.(amqp.Described); !nested {
			return tokenText(v.Descriptor)
		}
	}
	return ""
}

// hasSASPrefix reports whether a token is a shared access signature, as
// parseSASToken reads one, whatever type it was put with.
func hasSASPrefix(tok string) bool {
	tok = strings.TrimSpace(tok)
	return len(tok) >= len(sasPrefix) && strings.EqualFold(tok[:len(sasPrefix)], sasPrefix)
}

// handleManagement answers READ requests for hub and partition properties
// with exactly the value types the official clients decode.
func (s *Server) handleManagement(c *conn, req *amqp.Message) *amqp.Message {
	s.countManagement(req)
	if op := appProp(req, "operation"); op != "READ" {
		return response(req, 400, fmt.Sprintf("unsupported $management operation %q", op), condNotImplemented, nil)
	}
	name := appProp(req, "name")
	if refused := c.authorizeRead(req, name); refused != nil {
		return refused
	}
	h := s.hub(name)
	if h == nil {
		return response(req, 404, fmt.Sprintf("The messaging entity '%s' could not be found.", name), condNotFound, nil)
	}
	switch typ := appProp(req, "type"); typ {
	case "com.microsoft:eventhub":
		return response(req, 200, "OK", "", amqp.Map{
			{Key: "name", Value: h.cfg.Name},
			{Key: "type", Value: "com.microsoft:eventhub"},
			{Key: "created_at", Value: h.createdAt},
			{Key: "partition_count", Value: int32(len(h.partitions))},
			{Key: "partition_ids", Value: h.partitionIDs()},
			{Key: "georeplication_factor", Value: int32(1)},
		})
	case "com.microsoft:partition":
		id := appProp(req, "partition")
		p := h.partition(id)
		if p == nil {
			return response(req, 404, fmt.Sprintf("Partition '%s' of event hub '%s' does not exist; partitions are 0 to %d.", id, h.cfg.Name, len(h.partitions)-1), condNotFound, nil)
		}
		return response(req, 200, "OK", "", partitionProperties(p))
	default:
		return response(req, 400, fmt.Sprintf("unsupported $management type %q", typ), condNotImplemented, nil)
	}
}

func partitionProperties(p *partition) amqp.Map {
	begin, next, last, ok := p.log.Tail()
	seq, offset, lastTime := lastOf(next, last, ok)
	return amqp.Map{
		{Key: "name", Value: p.hub.cfg.Name},
		{Key: "type", Value: "com.microsoft:partition"},
		{Key: "partition", Value: p.id},
		{Key: "begin_sequence_number", Value: begin},
		{Key: "last_enqueued_sequence_number", Value: seq},
		{Key: "last_enqueued_offset", Value: offset},
		{Key: "last_enqueued_time_utc", Value: lastTime},
		{Key: "is_partition_empty", Value: begin == next},
	}
}

// appProp is a request's application property as a string, whether the
// client sent a string or a symbol; "" when it is absent or neither.
func appProp(req *amqp.Message, key string) string {
	v, _ := req.ApplicationProperties.Get(key)
	switch v := v.(type) {
	case string:
		return v
	case amqp.Symbol:
		return string(v)
	}
	return ""
}

// response builds a reply with the correlation the clients match on: the
// request's message-id as correlation-id, and an int32 status code.
func response(req *amqp.Message, status int32, desc string, cond amqp.Symbol, value amqp.Map) *amqp.Message {
	var id any
	if req.Properties != nil {
		id = req.Properties.MessageID
	}
	app := amqp.Map{
		{Key: "status-code", Value: status},
		{Key: "status-description", Value: desc},
	}
	if cond != "" {
		app = append(app, amqp.KV{Key: "error-condition", Value: cond})
	}
	m := &amqp.Message{Properties: &amqp.Properties{CorrelationID: id}, ApplicationProperties: app}
	if value != nil {
		m.Value, m.HasValue = value, true
	}
	return m
}
