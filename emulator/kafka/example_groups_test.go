package kafka_test

import (
	"log"
	"net"
	"path/filepath"
	"time"

	"github.com/ehstream/ehstream/emulator/kafka"
	"github.com/ehstream/ehstream/emulator/partlog"
)

// oneHub lends the endpoint one hub, "orders", of one in-memory partition.
type oneHub struct{ logs []*partlog.Log }

func (h oneHub) Topics() []string { return []string{"orders"} }

func (h oneHub) Topic(name string) ([]*partlog.Log, bool) { return h.logs, name == "orders" }

func (h oneHub) MaxEventSize(string) int { return 1 << 20 }

// It counts nothing and has no faults.
func (h oneHub) Appended(string, int32, int, int)        {}
func (h oneHub) Fetched(string, int32, int, int)         {}
func (h oneHub) Throttled(string, int32) <-chan struct{} { return nil }
func (h oneHub) WriteDelay() time.Duration               { return 0 }

// Two Kafka listeners (say, plain and TLS) share one group coordinator, so
// that a group's members and committed offsets are the same on both; the
// offsets are kept in a directory, so that they survive a restart.
func ExampleOpenGroups() {
	l, err := partlog.Open(partlog.Options{})
	if err != nil {
		log.Fatal(err)
	}
	groups, err := kafka.OpenGroups(filepath.Join("data", ".kafka-groups"))
	if err != nil {
		log.Fatal(err)
	}
	defer groups.Close() // after the listeners: the owner closes it
	for _, addr := range []string{"127.0.0.1:9092", "127.0.0.1:19092"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		srv := kafka.Serve(ln, oneHub{[]*partlog.Log{l}}, &kafka.Options{Groups: groups})
		defer srv.Close()
	}
}
