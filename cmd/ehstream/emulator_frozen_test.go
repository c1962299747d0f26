package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/emulator/amqp"
)

// TestEmulatorStopsWithAFrozenClient: Ctrl-C stops `ehstream emulator`
// within seconds even while a client that stopped reading is connected.
func TestEmulatorStopsWithAFrozenClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a child process")
	}
	p := startEmulatorProcess(t, "--in-memory")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	prod, err := azeventhubs.NewProducerClientFromConnectionString(p.connStr, "eh1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())
	body := bytes.Repeat([]byte("x"), 100_000)
	for sent := 0; sent < 200; { // 20 MB, more than socket buffers hold
		batch, err := prod.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionID: to.Ptr("0")})
		if err != nil {
			t.Fatal(err)
		}
		for ; sent < 200 && batch.AddEventData(&azeventhubs.EventData{Body: body}, nil) == nil; sent++ {
		}
		if err := prod.SendEventDataBatch(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}

	// A reader that grants a large credit, takes the first transfer and then
	// reads nothing more.
	addr := regexp.MustCompile(`sb://([^;]+)`).FindStringSubmatch(p.connStr)[1]
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetReadBuffer(32 << 10)
	var out []byte
	frame := func(p amqp.Marshaler) {
		if out, err = amqp.AppendPerformativeFrame(out, amqp.FrameAMQP, 0, p); err != nil {
			t.Fatal(err)
		}
	}
	out = append(out, amqp.HeaderAMQP[:]...)
	frame(&amqp.Open{ContainerID: "frozen", MaxFrameSize: 65536})
	frame(&amqp.Begin{IncomingWindow: 1 << 30, OutgoingWindow: 1 << 30, HandleMax: 0xffff})
	frame(&amqp.Attach{Name: "frozen", Handle: 0, Role: amqp.RoleReceiver,
		Source: &amqp.Source{Address: "eh1/ConsumerGroups/$Default/Partitions/0"}, Target: &amqp.Target{Address: "frozen"}})
	handle, count, credit, next := uint32(0), uint32(0), uint32(100000), uint32(0)
	frame(&amqp.Flow{NextIncomingID: &next, IncomingWindow: 1 << 30, OutgoingWindow: 1 << 30, Handle: &handle, DeliveryCount: &count, LinkCredit: &credit})
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	fr := amqp.NewFrameReader(nc, 1<<20)
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := fr.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	for transfer := false; !transfer; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for the first transfer: %v", err)
		}
		if len(f.Body) > 0 {
			perf, _ := amqp.DecodePerformative(f.Body)
			_, transfer = perf.(*amqp.Transfer)
		}
	}

	began := time.Now()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.exited:
		p.exited <- nil
		if err != nil {
			t.Fatalf("exit after SIGINT: %v", err)
		}
		t.Logf("stopped %s after SIGINT", time.Since(began).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("ehstream emulator still running 5s after SIGINT, with a client that does not read")
	}
}
