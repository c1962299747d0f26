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
	transport        string
	customEndpoint   string
}

// The values of --transport.
const (
	transportAMQP       = "amqp"
	transportWebSockets = "websockets"
)

func addHubFlags(fs *flag.FlagSet, withGroup bool) *hubFlags {
	h := &hubFlags{}
	fs.StringVar(&h.connStr, "connection-string", "", "Event Hubs connection string (default: $"+envConnectionString+")")
	fs.StringVar(&h.hub, "hub", "", "event hub name; overrides the connection string's EntityPath (default: the EntityPath)")
	if withGroup {
		fs.StringVar(&h.consumerGroup, "consumer-group", eventhubs.DefaultConsumerGroup, "consumer group")
	}
	fs.DurationVar(&h.operationTimeout, "operation-timeout", eventhubs.DefaultOperationTimeout, "how long an operation may take, retries included")
	fs.StringVar(&h.transport, "transport", transportAMQP, "amqp (AMQP over TCP, port 5671) or websockets (AMQP over WebSockets, port 443, through the proxy $HTTPS_PROXY names unless $NO_PROXY exempts the host)")
	fs.StringVar(&h.customEndpoint, "custom-endpoint", "", "HOST[:PORT] to connect to instead of the namespace's host, such as a gateway or a private endpoint (TLS still expects the namespace's name)")
	return h
}

// localOnly refuses the flags that say how to reach a hub given by
// connection string, for a command that runs the local Event Hubs.
func (h *hubFlags) localOnly() error {
	if h.transport != transportAMQP || h.customEndpoint != "" {
		return usageError{errors.New("--transport and --custom-endpoint say how to reach the hub of a connection string: pass --connection-string (or set " +
			envConnectionString + "); the local Event Hubs runs in this process")}
	}
	return nil
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
	}
	if h.consumerGroup != "" {
		conf.SetConsumerGroup(h.consumerGroup)
	}
	if err := conf.Validate(); err != nil {
		return nil, usageError{err}
	}
	var webSockets bool
	switch h.transport {
	case transportAMQP:
	case transportWebSockets:
		webSockets = true
	default:
		return nil, usageError{fmt.Errorf("--transport %q: want %s or %s", h.transport, transportAMQP, transportWebSockets)}
	}
	err := setConfFlags(conf,
		confFlag{"--operation-timeout", h.operationTimeout, func(c *eventhubs.Conf) { c.SetOperationTimeout(h.operationTimeout) }},
		confFlag{"--transport", h.transport, func(c *eventhubs.Conf) { c.SetWebSockets(webSockets) }},
		confFlag{"--custom-endpoint", h.customEndpoint, func(c *eventhubs.Conf) { c.SetCustomEndpoint(h.customEndpoint) }})
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
