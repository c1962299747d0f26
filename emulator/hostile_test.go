package emulator_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// TestHostileFramesCloseOnlyThatConnection sends malformed input after a
// valid handshake: the emulator answers with a close carrying an AMQP error,
// drops that connection, and keeps serving everyone else.
func TestHostileFramesCloseOnlyThatConnection(t *testing.T) {
	srv := start(t, nil)
	ctx := testCtx(t, 30*time.Second)
	p := producer(t, srv, "eh1")
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte("before")})

	hostile := map[string][]byte{
		"garbage performative":  amqp.AppendFrame(nil, amqp.FrameAMQP, 0, []byte{0x00, 0x53, 0x10, 0xd0, 0xff, 0xff, 0xff, 0xff}),
		"frame over the limit":  {0x7f, 0xff, 0xff, 0xff, 2, 0, 0, 0},
		"data offset too small": {0, 0, 0, 16, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8},
		"nested lists":          amqp.AppendFrame(nil, amqp.FrameAMQP, 0, append(bytes.Repeat([]byte{0xc0, 0x02, 0x01}, 60), 0x40)),
		"attach before begin":   mustFrame(t, &amqp.Attach{Name: "x", Handle: 0, Role: amqp.RoleSender, Target: &amqp.Target{Address: "eh1"}}),
	}
	for name, payload := range hostile {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fr := amqp.NewFrameReader(c, 1<<20)
			c.Write(amqp.HeaderAMQP[:])
			c.Write(mustFrame(t, &amqp.Open{ContainerID: "hostile", MaxFrameSize: 65536}))
			if h, err := fr.ReadHeader(); err != nil || h != amqp.HeaderAMQP {
				t.Fatalf("protocol header: %q %v", h, err)
			}
			if f, err := fr.ReadFrame(); err != nil {
				t.Fatalf("open: %v", err)
			} else if perf, _ := amqp.DecodePerformative(f.Body); perf == nil {
				t.Fatalf("no open from the emulator")
			}
			c.Write(payload)
			var closed *amqp.Close
			for closed == nil {
				f, err := fr.ReadFrame()
				if err != nil {
					t.Fatalf("connection ended without a close performative: %v", err)
				}
				if len(f.Body) == 0 {
					continue
				}
				perf, _ := amqp.DecodePerformative(f.Body)
				closed, _ = perf.(*amqp.Close)
			}
			if closed.Error == nil || closed.Error.Condition == "" {
				t.Fatalf("close without an error condition")
			}
			if _, err := fr.ReadFrame(); err != io.EOF && err != io.ErrUnexpectedEOF {
				if ne, ok := err.(net.Error); !ok || ne.Timeout() {
					t.Fatalf("connection still open after close: %v", err)
				}
			}
		})
	}
	// Everyone else is unaffected.
	sendBatch(t, ctx, p, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")}, &azeventhubs.EventData{Body: []byte("after")})
	props, err := p.GetPartitionProperties(ctx, "0", nil)
	if err != nil || props.LastEnqueuedSequenceNumber != 1 {
		t.Fatalf("after hostile clients: %+v %v", props, err)
	}
}

func mustFrame(t *testing.T, p amqp.Marshaler) []byte {
	t.Helper()
	b, err := amqp.AppendPerformativeFrame(nil, amqp.FrameAMQP, 0, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
