package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// envConnectionString is read when --connection-string is not given, so the
// secret need not appear in shell history or process listings.
const envConnectionString = "EVENTHUB_CONNECTION_STRING"

// hubFlags are the flags every command that talks to a hub takes.
type hubFlags struct {
	connStr          string
	hub              string
	consumerGroup    string
	operationTimeout time.Duration
}

func addHubFlags(fs *flag.FlagSet, withGroup bool) *hubFlags {
	h := &hubFlags{}
	fs.StringVar(&h.connStr, "connection-string", "", "Event Hubs connection string (default: $"+envConnectionString+")")
	fs.StringVar(&h.hub, "hub", "", "event hub name; overrides the connection string's EntityPath (default: the EntityPath)")
	if withGroup {
		fs.StringVar(&h.consumerGroup, "consumer-group", eventhubs.DefaultConsumerGroup, "consumer group")
	}
	fs.DurationVar(&h.operationTimeout, "operation-timeout", eventhubs.DefaultOperationTimeout, "how long an operation may take, retries included")
	return h
}

// given reports whether a connection string came by flag or environment.
func (h *hubFlags) given() bool { return h.connStr != "" || os.Getenv(envConnectionString) != "" }

// conf builds the Conf the flags describe. Errors never print the secret.
func (h *hubFlags) conf() (*eventhubs.Conf, error) {
	cs := h.connStr
	if cs == "" {
		cs = os.Getenv(envConnectionString)
	}
	if cs == "" {
		return nil, usageError{errors.New("no connection string: pass --connection-string or set " + envConnectionString +
			" (for a local hub, run 'ehstream emulator' and use the string it prints)")}
	}
	if h.operationTimeout <= 0 {
		return nil, usageError{fmt.Errorf("--operation-timeout %s: want a positive duration", h.operationTimeout)}
	}
	if h.hub != "" {
		cs = withoutEntityPath(cs)
	}
	conf := eventhubs.NewConf(cs).SetOperationTimeout(h.operationTimeout)
	if h.hub != "" {
		conf.SetEventHubName(h.hub)
	}
	if h.consumerGroup != "" {
		conf.SetConsumerGroup(h.consumerGroup)
	}
	if err := conf.Validate(); err != nil {
		return nil, usageError{err}
	}
	return conf, nil
}

// withoutEntityPath drops EntityPath so that --hub alone names the hub: a
// portal string copied for one hub is then usable for its siblings, as the
// README suggests, and Conf.Validate sees no conflict. A string that does not
// parse is returned as is, for Validate to explain.
func withoutEntityPath(connStr string) string {
	cs, err := eventhubs.ParseConnectionString(connStr)
	if err != nil || cs.EntityPath == "" {
		return connStr
	}
	cs.EntityPath = ""
	rebuilt, err := cs.Build()
	if err != nil {
		return connStr
	}
	return rebuilt
}
