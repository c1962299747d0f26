package emulator_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ehstream/ehstream/emulator"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// rawClient speaks AMQP frame by frame, to do what no SDK does on purpose:
// stop reading, grant stale credit, leave replies unread. It has one
// session, on channel 0.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	fr *amqp.FrameReader
}

// dialRaw connects and opens a session. A readBuffer above 0 sets the
// socket's receive buffer, so that a client that stops reading fills it
// sooner.
func dialRaw(t testing.TB, srv *emulator.Server, readBuffer int) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", srv.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if readBuffer > 0 {
		if err := nc.(*net.TCPConn).SetReadBuffer(readBuffer); err != nil {
			t.Fatal(err)
		}
	}
	r := &rawClient{t: t, nc: nc, fr: amqp.NewFrameReader(nc, 1<<24)}
	if _, err := nc.Write(amqp.HeaderAMQP[:]); err != nil {
		t.Fatal(err)
	}
	r.send(&amqp.Open{ContainerID: "raw", MaxFrameSize: 65536})
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if h, err := r.fr.ReadHeader(); err != nil || h != amqp.HeaderAMQP {
		t.Fatalf("protocol header: %q %v", h, err)
	}
	if _, ok := r.next().(*amqp.Open); !ok {
		t.Fatal("no open from the emulator")
	}
	r.send(&amqp.Begin{IncomingWindow: 1 << 30, OutgoingWindow: 1 << 30, HandleMax: 0xffff})
	if _, ok := r.next().(*amqp.Begin); !ok {
		t.Fatal("no begin from the emulator")
	}
	return r
}

func (r *rawClient) send(p amqp.Marshaler) {
	r.t.Helper()
	b, err := amqp.AppendPerformativeFrame(nil, amqp.FrameAMQP, 0, p)
	if err != nil {
		r.t.Fatal(err)
	}
	r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("raw client write: %v", err)
	}
}

// next returns the next performative, failing the test after 10 s.
func (r *rawClient) next() amqp.Performative {
	r.t.Helper()
	p, err := r.read(10 * time.Second)
	if err != nil {
		r.t.Fatalf("raw client read: %v", err)
	}
	return p
}

// read returns the next performative within d, skipping heartbeats.
func (r *rawClient) read(d time.Duration) (amqp.Performative, error) {
	r.nc.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		if len(f.Body) > 0 {
			return amqp.DecodePerformative(f.Body)
		}
	}
}

// until reads performatives until stop returns true, failing the test if
// that takes more than 10 s.
func (r *rawClient) until(what string, stop func(amqp.Performative) bool) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := r.read(time.Until(deadline))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			r.t.Fatalf("raw client: no %s within 10s", what)
		}
		if err != nil {
			r.t.Fatalf("raw client: waiting for %s: %v", what, err)
		}
		if stop(p) {
			return
		}
	}
}

func (r *rawClient) attachReceiver(handle uint32, source string) {
	r.t.Helper()
	r.send(&amqp.Attach{Name: fmt.Sprint("receiver-", handle), Handle: handle, Role: amqp.RoleReceiver,
		Source: &amqp.Source{Address: source}, Target: &amqp.Target{Address: "raw"}})
	r.until("attach of "+source, func(p amqp.Performative) bool {
		a, ok := p.(*amqp.Attach)
		if ok && a.Source == nil {
			r.t.Fatalf("attach to %s refused", source)
		}
		return ok
	})
}

// flow sends a link flow with the given delivery-count and link-credit.
func (r *rawClient) flow(handle, deliveryCount, credit uint32, drain, echo bool) {
	r.t.Helper()
	next := uint32(0)
	r.send(&amqp.Flow{NextIncomingID: &next, IncomingWindow: 1 << 30, OutgoingWindow: 1 << 30,
		Handle: &handle, DeliveryCount: &deliveryCount, LinkCredit: &credit, Drain: drain, Echo: echo})
}
