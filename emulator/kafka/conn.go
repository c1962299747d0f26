package kafka

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxRequestSize bounds one request frame as the service bounds it: it
// closes the connection of a client that sends a larger request (its
// Kafka configuration guide: max.request.size below 1,046,528).
const maxRequestSize = 1046528

// errFrameSize is a request frame's size outside what is served.
var errFrameSize = errors.New("outside 8 bytes and the service's limit")

// maxUnauthenticatedSize bounds a frame before SASL authentication, as
// Kafka's sasl.server.max.receive.size does (the same 512 KiB): a client
// without credentials cannot make the endpoint hold 100 MiB per
// connection.
const maxUnauthenticatedSize = 512 << 10

// writeTimeout bounds how long a response waits on a client that does not
// read.
const writeTimeout = 30 * time.Second

// conn is one client connection. Requests are answered in the order they
// came, as the protocol requires, by handling them one at a time.
type conn struct {
	srv *Server
	nc  net.Conn
	r   *bufio.Reader
	log *slog.Logger
	out []byte

	clientID string // of the request being handled
	// SASL (sasl.go): access is nil until the client authenticates
	// (development mode's from the start); saslStarted after a handshake,
	// rawSASL when it was v0 (the token comes as a bare frame); closeAfter
	// once a refusal is answered.
	access                           *Access
	saslStarted, rawSASL, closeAfter bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, r: bufio.NewReaderSize(nc, 64<<10), log: s.log.With("remote", nc.RemoteAddr().String())}
	if s.authenticate == nil {
		c.access = &fullAccess
	}
	return c
}

// request is one parsed request frame.
type request struct {
	key, version int16
	correlation  int32
	clientID     string
	body         []byte // after the header
}

func (c *conn) serve() {
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.srv.idle))
		frame, err := c.readFrame()
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c.log.Info("kafka connection closed: no request for the idle timeout, as the service closes idle connections", "idle", c.srv.idle)
			return
		case errors.Is(err, errFrameSize):
			// The client will only see its connection closed: say why.
			c.log.Warn("kafka connection closed", "err", err)
			return
		case err != nil && err != io.EOF:
			c.log.Debug("kafka connection ends", "err", err)
			return
		case err != nil:
			return
		}
		if c.rawSASL {
			if !c.authenticateRaw(frame) {
				return
			}
			continue
		}
		req, err := parseHeader(frame)
		if req != nil {
			c.srv.stats.request(req.key, 4+len(frame))
		} else {
			c.srv.stats.received.Add(int64(4 + len(frame)))
		}
		if err != nil {
			c.log.Warn("kafka request refused", "err", err)
			return // without a correlation id there is no one to answer
		}
		c.clientID = req.clientID
		if !c.admits(req.key) {
			c.log.Info("kafka request before SASL authentication, or after it expired: connection closed, as a Kafka broker does", "key", kmsg.Key(req.key).Name())
			return
		}
		resp, flexible := c.srv.handle(c, req)
		if resp == nil {
			continue // a produce with acks=0 has no response
		}
		if err := c.writeResponse(req, resp, flexible); err != nil || c.closeAfter {
			if err != nil {
				c.log.Debug("kafka write failed", "err", err)
			}
			return
		}
	}
}

func (c *conn) readFrame() ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if c.access == nil && (n < 8 || n > maxUnauthenticatedSize) {
		return nil, fmt.Errorf("kafka: request size %d before SASL authentication is outside 8..%d bytes", n, maxUnauthenticatedSize)
	}
	if n < 8 || n > maxRequestSize {
		return nil, fmt.Errorf("kafka: request size %d: %w (%d); keep the client's max.request.size (kgo.BrokerMaxWriteBytes) below it", n, errFrameSize, maxRequestSize)
	}
	// The buffer grows as bytes arrive, not to the size a client claims:
	// a size alone must not cost the server up to maxRequestSize.
	frame := bytes.NewBuffer(make([]byte, 0, min(n, 64<<10)))
	if _, err := io.CopyN(frame, c.r, int64(n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame.Bytes(), nil
}

// parseHeader reads the request header (v1, or v2 with tagged fields when
// the request's version is flexible).
func parseHeader(frame []byte) (*request, error) {
	b := kbin.Reader{Src: frame}
	req := &request{key: b.Int16(), version: b.Int16(), correlation: b.Int32()}
	if id := b.NullableString(); id != nil {
		req.clientID = *id
	}
	if err := b.Complete(); err != nil {
		return nil, fmt.Errorf("kafka: a request header too short: %w", err)
	}
	if kr := kmsg.RequestForKey(req.key); kr != nil && req.version >= 0 && req.version <= kr.MaxVersion() {
		kr.SetVersion(req.version)
		if kr.IsFlexible() {
			kmsg.SkipTags(&b)
			if err := b.Complete(); err != nil {
				return nil, fmt.Errorf("kafka: a request header's tagged fields: %w", err)
			}
		}
	}
	req.body = b.Src
	return req, nil
}

// writeResponse frames a response: size, correlation id, and the empty
// tagged fields of header v1 for flexible versions (never for ApiVersions,
// whose response header stays v0 so that any client can read it).
func (c *conn) writeResponse(req *request, body []byte, flexible bool) error {
	out := append(c.out[:0], 0, 0, 0, 0)
	out = kbin.AppendInt32(out, req.correlation)
	if flexible && req.key != int16(kmsg.ApiVersions) {
		out = append(out, 0)
	}
	out = append(out, body...)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	c.out = out
	c.delayWrite()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := c.nc.Write(out)
	c.srv.stats.sent.Add(int64(n))
	return err
}
