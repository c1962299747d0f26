package emulator

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ehstream/ehstream/emulator/amqp"
)

const (
	// maxFrameSize is the largest frame the emulator accepts; a 1 MiB event
	// batch then arrives in four frames.
	maxFrameSize = 256 << 10
	// preOpenFrameSize bounds frames before the open performatives.
	preOpenFrameSize = 64 << 10
	// idleTimeout is what the emulator advertises: a client silent for
	// longer is closed. Clients send heartbeats at half of it.
	idleTimeout = 60 * time.Second
	// handshakeTimeout bounds the protocol header, SASL and open exchange.
	handshakeTimeout = 30 * time.Second
	// sessionWindow is the incoming window advertised on each session.
	sessionWindow = 5000
	// closeGrace bounds how long a connection's shutdown waits to send its
	// close performative: a client that does not read gets none.
	closeGrace = 500 * time.Millisecond
	// refuseTimeout bounds the handshake of a connection refused for the
	// limit on connections: long enough for a client to read why, short
	// enough that refused connections do not pile up.
	refuseTimeout = 5 * time.Second
	// refusedSlack is how many refused sessions or links a connection may
	// leave unended past its limits before it is closed: refusals wait for
	// the client's end or detach, and must not grow without bound either.
	refusedSlack = 64
)

// conn is one client connection. The reader goroutine (serve) owns the
// session table and all incoming state; anything written goes through wmu.
type conn struct {
	srv *Server
	nc  net.Conn
	log *slog.Logger
	fr  *amqp.FrameReader

	remoteMaxFrame uint32
	remoteIdle     time.Duration

	sessions map[uint16]*session // by channel; reader goroutine only
	auth     connAuth            // tokens put on $cbs (auth.go)
	// served counts the sessions in sessions that were not refused, links
	// the links of every session, refused ones awaiting their detach
	// included; reader goroutine only.
	served, links int
	// refusal, when set, is why the connection is closed after its
	// handshake: there are too many.
	refusal *amqp.Error

	wmu          sync.Mutex
	wbuf         []byte
	werr         error // first write error; the connection is dead after it
	lastSent     time.Time
	opened       bool // the emulator sent its open, so a close may follow
	writeTimeout time.Duration

	done     chan struct{} // closed when the connection is shutting down
	doneOnce sync.Once
	workers  sync.WaitGroup
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		srv:            s,
		nc:             nc,
		log:            s.log.With("remote", nc.RemoteAddr().String()),
		fr:             amqp.NewFrameReader(nc, preOpenFrameSize),
		remoteMaxFrame: amqp.MinMaxFrameSize,
		sessions:       map[uint16]*session{},
		done:           make(chan struct{}),
		writeTimeout:   s.cfg.WriteTimeout,
	}
}

// connError ends a connection with an AMQP error sent in close.
type connError struct{ e *amqp.Error }

func (c connError) Error() string { return c.e.Error() }

func errConn(cond amqp.Symbol, format string, args ...any) error {
	return connError{amqpErr(cond, fmt.Sprintf(format, args...))}
}

func (c *conn) serve() {
	defer c.nc.Close()
	var endErr *amqp.Error
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("internal error; closing the connection", "panic", r, "stack", string(debug.Stack()))
			endErr = amqpErr(condInternalError, "internal error")
		}
		c.shutdown(endErr)
		for _, s := range c.sessions {
			s.endAll()
		}
		c.workers.Wait()
	}()
	if err := c.handshake(handshakeTimeout); err != nil {
		if !isClosedErr(err) {
			c.log.Debug("handshake failed", "err", err)
		}
		var ce connError
		if errors.As(err, &ce) {
			endErr = ce.e
		}
		return
	}
	if c.remoteIdle > 0 {
		c.workers.Add(1)
		go c.heartbeats()
	}
	err := c.readLoop()
	var ce connError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		c.log.Info("closing connection", "err", ce.e)
		endErr = ce.e
	case errors.Is(err, amqp.ErrDecode), errors.Is(err, amqp.ErrFrameTooLarge):
		c.log.Info("closing connection: malformed frame", "err", err)
		endErr = amqpErr(condFramingError, err.Error())
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Info("closing idle connection")
		endErr = amqpErr(condResourceLimit, fmt.Sprintf("no frame for %s", idleTimeout))
	case isClosedErr(err):
	default:
		c.log.Debug("connection ended", "err", err)
	}
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, errConnDone)
}

var errConnDone = errors.New("connection closed")

func (c *conn) handshake(timeout time.Duration) error {
	c.nc.SetDeadline(time.Now().Add(timeout))
	defer c.nc.SetDeadline(time.Time{})
	h, err := c.fr.ReadHeader()
	if err != nil {
		return err
	}
	if h == amqp.HeaderSASL {
		if err := c.sasl(); err != nil {
			return err
		}
		if h, err = c.fr.ReadHeader(); err != nil {
			return err
		}
	}
	if h != amqp.HeaderAMQP {
		c.hintTLS(h)
		// The specification's answer to an unsupported header: send the one
		// we speak, then close.
		c.nc.Write(amqp.HeaderSASL[:])
		return fmt.Errorf("unsupported protocol header %q", h[:])
	}
	if _, err := c.nc.Write(amqp.HeaderAMQP[:]); err != nil {
		return err
	}
	fr, err := c.fr.ReadFrame()
	if err != nil {
		return err
	}
	if fr.Type != amqp.FrameAMQP || len(fr.Body) == 0 {
		return errConn(condFramingError, "expected an open frame")
	}
	p, err := amqp.DecodePerformative(fr.Body)
	if err != nil {
		return connError{amqpErr(condDecodeError, err.Error())}
	}
	open, ok := p.(*amqp.Open)
	if !ok {
		return errConn(condNotAllowed, "expected open, got %T", p)
	}
	c.remoteMaxFrame = max(min(open.MaxFrameSize, 1<<24), amqp.MinMaxFrameSize)
	c.remoteIdle = time.Duration(open.IdleTimeout) * time.Millisecond
	c.fr.MaxSize = maxFrameSize
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.appendFrameLocked(0, &amqp.Open{
		ContainerID:  "ehstream-emulator-" + c.srv.cfg.Namespace,
		MaxFrameSize: maxFrameSize,
		ChannelMax:   0xffff,
		IdleTimeout:  uint32(idleTimeout / time.Millisecond),
	})
	c.opened = true
	return c.flushLocked()
}

// sasl accepts ANONYMOUS and PLAIN (any user and password), and MSSBCBS,
// which some Microsoft clients offer; tokens are checked on $cbs, not here.
func (c *conn) sasl() error {
	if _, err := c.nc.Write(amqp.HeaderSASL[:]); err != nil {
		return err
	}
	mechs := &amqp.SASLMechanisms{Mechanisms: []amqp.Symbol{"ANONYMOUS", "PLAIN", "MSSBCBS"}}
	b, err := amqp.AppendPerformativeFrame(nil, amqp.FrameSASL, 0, mechs)
	if err != nil {
		return err
	}
	if _, err := c.nc.Write(b); err != nil {
		return err
	}
	fr, err := c.fr.ReadFrame()
	if err != nil {
		return err
	}
	if fr.Type != amqp.FrameSASL {
		return fmt.Errorf("expected a SASL frame, got frame type %d", fr.Type)
	}
	init, err := amqp.DecodeSASLInit(fr.Body)
	code := amqp.SASLOK
	if err != nil {
		code = amqp.SASLSys
	} else if init.Mechanism != "ANONYMOUS" && init.Mechanism != "PLAIN" && init.Mechanism != "MSSBCBS" {
		code = amqp.SASLAuth
	}
	b, _ = amqp.AppendPerformativeFrame(nil, amqp.FrameSASL, 0, &amqp.SASLOutcome{Code: code})
	if _, werr := c.nc.Write(b); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("sasl-init: %w", err)
	}
	if code != amqp.SASLOK {
		return fmt.Errorf("unsupported SASL mechanism %q", init.Mechanism)
	}
	return nil
}

func (c *conn) readLoop() error {
	for {
		c.nc.SetReadDeadline(time.Now().Add(idleTimeout))
		fr, err := c.fr.ReadFrame()
		if err != nil {
			return err
		}
		if len(fr.Body) == 0 {
			continue // heartbeat
		}
		if fr.Type != amqp.FrameAMQP {
			return errConn(condFramingError, "frame type %d after open", fr.Type)
		}
		p, err := amqp.DecodePerformative(fr.Body)
		if err != nil {
			return connError{amqpErr(condDecodeError, err.Error())}
		}
		if done, err := c.handle(fr.Channel, p); err != nil || done {
			return err
		}
	}
}

// handle dispatches one performative; done reports a clean close.
func (c *conn) handle(ch uint16, p amqp.Performative) (done bool, err error) {
	switch p := p.(type) {
	case *amqp.Close:
		if p.Error != nil {
			c.log.Debug("client closed with error", "err", p.Error)
		}
		return true, nil
	case *amqp.Begin:
		return false, c.begin(ch, p)
	case *amqp.Open:
		return false, errConn(condNotAllowed, "second open")
	}
	s := c.sessions[ch]
	if s == nil {
		return false, errConn(condNotAllowed, "%T on channel %d, which has no session", p, ch)
	}
	if s.refused {
		// Frames the client sent before it saw the end are dropped; its end
		// closes the channel, and has had its answer.
		if _, end := p.(*amqp.End); end {
			delete(c.sessions, ch)
		}
		return false, nil
	}
	switch p := p.(type) {
	case *amqp.Attach:
		return false, s.attach(p)
	case *amqp.Flow:
		return false, s.flow(p)
	case *amqp.Transfer:
		return false, s.transfer(p)
	case *amqp.Disposition:
		return false, nil // the emulator sends every delivery settled
	case *amqp.Detach:
		return false, s.detach(p)
	case *amqp.End:
		s.endAll()
		delete(c.sessions, ch)
		c.served--
		return false, c.send(ch, &amqp.End{})
	}
	return false, errConn(condNotAllowed, "unexpected %T", p)
}

// begin starts a session, or refuses it past MaxSessionsPerConnection.
func (c *conn) begin(ch uint16, b *amqp.Begin) error {
	if _, dup := c.sessions[ch]; dup {
		return errConn(condNotAllowed, "begin on channel %d, which already has a session", ch)
	}
	if b.RemoteChannel != nil {
		return errConn(condNotAllowed, "begin with a remote channel: the emulator never begins sessions")
	}
	s := newSession(c, ch, b)
	c.sessions[ch] = s
	limit := c.srv.cfg.MaxSessionsPerConnection
	if c.served < limit {
		c.served++
		return s.sendBegin()
	}
	if len(c.sessions) > limit+refusedSlack {
		return errConn(condResourceLimit, "the client began %d sessions past the limit of %d on a connection without ending them (MaxSessionsPerConnection, --max-sessions-per-connection)",
			len(c.sessions)-c.served, limit)
	}
	s.refused = true
	c.log.Info("session refused: too many on the connection", "limit", limit)
	return s.refuseBegin(amqpErr(condResourceLimit, fmt.Sprintf(
		"Cannot create more sessions on this connection: the emulator allows %d (MaxSessionsPerConnection, --max-sessions-per-connection). End sessions you no longer use, or raise the limit.", limit)))
}

// refuseConnection answers a connection over MaxConnections: its
// handshake, then a close with the reason, which the SDKs report as such;
// they would only retry a connection reset.
func (c *conn) refuseConnection() {
	defer c.nc.Close()
	if err := c.handshake(refuseTimeout); err != nil {
		return
	}
	c.shutdown(c.refusal)
}

// send writes one performative at once.
func (c *conn) send(ch uint16, p amqp.Marshaler) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.appendFrameLocked(ch, p)
	return c.flushLocked()
}

// appendFrameLocked buffers a frame; wmu must be held.
func (c *conn) appendFrameLocked(ch uint16, p amqp.Marshaler) {
	b, err := amqp.AppendPerformativeFrame(c.wbuf, amqp.FrameAMQP, ch, p)
	if err != nil {
		// Only the emulator's own values are encoded here: a failure is a bug.
		panic(fmt.Sprintf("emulator: encoding %T: %v", p, err))
	}
	c.wbuf = b
}

// flushLocked writes the buffered frames; wmu must be held. Whoever holds
// wmu holds every link of the connection, so no write may wait on the
// client for long: one that takes more than the write timeout ends the
// connection, and during shutdown the limit is closeGrace.
func (c *conn) flushLocked() error {
	if c.werr != nil {
		c.wbuf = c.wbuf[:0]
		return c.werr
	}
	if len(c.wbuf) == 0 {
		return nil
	}
	c.delayWriteLocked() // a delay-frames fault
	now := time.Now()
	timeout, closing := c.writeTimeout, false
	select {
	case <-c.done:
		timeout, closing = closeGrace, true
	default:
	}
	c.nc.SetWriteDeadline(now.Add(timeout))
	n, err := c.nc.Write(c.wbuf)
	c.lastSent = now
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !closing {
		c.log.Warn("closing connection: the client read nothing the emulator sent for the write timeout",
			"write_timeout", timeout, "unsent_bytes", len(c.wbuf)-n)
		err = fmt.Errorf("the client read nothing for %s: %w", timeout, err)
	}
	if cap(c.wbuf) > 4<<20 {
		c.wbuf = nil // do not keep a buffer grown by one burst
	} else {
		c.wbuf = c.wbuf[:0]
	}
	if err != nil {
		c.werr = err
		c.nc.Close() // wakes the reader
	}
	return err
}

func (c *conn) heartbeats() {
	defer c.workers.Done()
	period := max(c.remoteIdle/2, 100*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.wmu.Lock()
			if time.Since(c.lastSent) >= period/2 {
				c.wbuf = append(c.wbuf, amqp.Heartbeat...)
				c.flushLocked()
			}
			c.wmu.Unlock()
		}
	}
}

// shutdown sends close (with e, if any) and closes the socket. It may be
// called from any goroutine, more than once, and never waits on the
// client: if a write holds wmu for closeGrace, the client is not reading,
// so the socket is closed first, which ends that write; the close
// performative itself gets closeGrace too.
func (c *conn) shutdown(e *amqp.Error) {
	first := false
	c.doneOnce.Do(func() {
		first = true
		close(c.done)
	})
	if !first {
		return
	}
	locked := make(chan struct{})
	go func() {
		c.wmu.Lock()
		close(locked)
	}()
	timer := time.NewTimer(closeGrace)
	defer timer.Stop()
	select {
	case <-locked:
		if c.opened && c.werr == nil {
			c.appendFrameLocked(0, &amqp.Close{Error: e})
			c.flushLocked()
		}
	case <-timer.C:
		c.nc.Close()
		<-locked
	}
	c.werr = errConnDone
	c.wmu.Unlock()
	c.nc.Close()
}
