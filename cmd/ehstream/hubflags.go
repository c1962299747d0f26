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
func (h *hubFlags) given() bool { return h.connectionString() != "" }

// connectionString is --connection-string, else $EVENTHUB_CONNECTION_STRING.
func (h *hubFlags) connectionString() string {
	if h.connStr != "" {
		return h.connStr
	}
	return os.Getenv(envConnectionString)
}

// conf builds the Conf the flags describe. Errors never print the secret.
func (h *hubFlags) conf() (*eventhubs.Conf, error) {
	cs := h.connectionString()
	if cs == "" {
		return nil, usageError{errors.New("no connection string: pass --connection-string or set " + envConnectionString +
			" (for a local hub, run 'ehstream emulator' and use the string it prints)")}
	}
	return h.confFor(cs)
}

// confFor is conf for the hub of connection string cs.
func (h *hubFlags) confFor(cs string) (*eventhubs.Conf, error) {
	if h.hub != "" {
		cs = withoutEntityPath(cs)
	}
	conf := eventhubs.NewConf(cs)
	if h.hub != "" {
		conf.SetEventHubName(h.hub)
	} else if parsed, err := eventhubs.ParseConnectionString(cs); err == nil && parsed.EntityPath == "" {
		// Said before Validate does, which names the Go call.
		return nil, usageError{errors.New("no event hub: the connection string has no EntityPath; name the hub with --hub NAME (or end the connection string with ;EntityPath=NAME)")}
	}
	if h.consumerGroup != "" {
		conf.SetConsumerGroup(h.consumerGroup)
	}
	if err := conf.Validate(); err != nil {
		return nil, usageError{err}
	}
	err := setConfFlags(conf, confFlag{"--operation-timeout", h.operationTimeout, func(c *eventhubs.Conf) { c.SetOperationTimeout(h.operationTimeout) }})
	return conf, err
}

// confFlag is a flag that sets one setting of a Conf: the Conf checks the
// value, and the flag names it in the error.
type confFlag struct {
	name  string // as "--receiver-timeout"
	value any    // as given
	set   func(*eventhubs.Conf)
}

// setConfFlags sets each flag's setting on conf, a valid Conf, validating
// it after each: a problem is then that flag's, and its usage error names
// it (as sinkFlagError names --sink or --table). A duration of 0 is
// refused here: the Conf reads it as the default, which a flag given 0
// does not mean (-h shows the default).
func setConfFlags(conf *eventhubs.Conf, flags ...confFlag) error {
	for _, f := range flags {
		if f.value == any(time.Duration(0)) {
			return usageError{fmt.Errorf("%s %v: want a positive duration", f.name, f.value)}
		}
		f.set(conf)
		if err := conf.Validate(); err != nil {
			return usageError{fmt.Errorf("%s %v: %s", f.name, f.value, problem(err))}
		}
	}
	return nil
}

// problem is what a package's error says, for a message that names the
// flag instead of the package: an eventhubs.Error without its package's
// name and code.
func problem(err error) string {
	var e *eventhubs.Error
	if errors.As(err, &e) && e.Err == nil {
		return e.Message
	}
	return err.Error()
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
