package main

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	goamqp "github.com/Azure/go-amqp"
)

var amqpAddrRE = regexp.MustCompile(`sb://([^;/]+)`)

func (p *emulatorProcess) amqpAddr() string { return amqpAddrRE.FindStringSubmatch(p.connStr)[1] }

// TestEmulatorAcceptFailuresBackOff: when the emulator runs out of file
// descriptors, the connections waiting to be accepted make every accept
// fail at once. It used to retry every 50 ms and log each failure, 20
// lines a second for as long as it lasted; now it backs off up to a second
// and logs at most a line a second, and accepts again once descriptors
// are free.
func TestEmulatorAcceptFailuresBackOff(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a child process")
	}
	const nofile = 48
	p := startEmulatorProcessLimited(t, nofile, "--in-memory")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range nofile { // more than the descriptors it has left: the rest wait in the backlog
		c, err := net.DialTimeout("tcp", p.amqpAddr(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	failures := func() int { return strings.Count(p.stderr.String(), "accept failed") }
	for deadline := time.Now().Add(10 * time.Second); failures() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no accept failed within 10s with %d connections and %d descriptors; stderr:\n%s", len(conns), nofile, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the log, not synchronising
	}
	before := failures()
	const window = 3 * time.Second
	time.Sleep(window) // the span the log is measured over
	logged := failures() - before
	t.Logf("%d lines of accept failures logged in %s", logged, window)
	if logged > int(window/time.Second)+1 {
		t.Errorf("%d lines of accept failures in %s, want at most one a second; stderr ends:\n%s", logged, window, tail(p.stderr.String(), 1000))
	}

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod, err := azeventhubs.NewProducerClientFromConnectionString(p.connStr, "eh1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())
	if _, err := prod.GetEventHubProperties(ctx, nil); err != nil {
		t.Fatalf("once descriptors are free again: %v", err)
	}
}

// TestEmulatorLimitFlags: the limits reach the emulator from its flags:
// --max-connections 1 refuses a second connection with the service's
// condition and a description that names the flag.
func TestEmulatorLimitFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a child process")
	}
	p := startEmulatorProcess(t, "--in-memory", "--max-connections", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod, err := azeventhubs.NewProducerClientFromConnectionString(p.connStr, "eh1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())
	if _, err := prod.GetEventHubProperties(ctx, nil); err != nil {
		t.Fatal(err)
	}
	second, err := goamqp.Dial(ctx, "amqp://"+p.amqpAddr(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err == nil {
		defer second.Close()
		_, err = second.NewSession(ctx, nil)
	}
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondResourceLimitExceeded || !strings.Contains(ae.Description, "--max-connections") {
		t.Fatalf("a second connection with --max-connections 1: %v, want amqp:resource-limit-exceeded naming --max-connections", err)
	}
}
