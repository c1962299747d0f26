package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ehstream/ehstream/credential"
	"github.com/ehstream/ehstream/eventhubs"
)

// envConnectionString is read when --connection-string is not given, so the
// secret need not appear in shell history or process listings.
const envConnectionString = "EVENTHUB_CONNECTION_STRING"

// hubFlags are the flags every command that talks to a hub takes: a
// connection string, or a namespace with a credential (Microsoft Entra
// ID).
type hubFlags struct {
	connStr          string
	hub              string
	consumerGroup    string
	operationTimeout time.Duration
	namespace        string
	credential       string
	tlsCA            string
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
	fs.StringVar(&h.namespace, "namespace", "", "sign in to this namespace, NAME.servicebus.windows.net, with Microsoft Entra ID (--credential) instead of a connection string; needs --hub")
	fs.StringVar(&h.credential, "credential", "", "with --namespace, how to sign in: "+credentialKinds()+" (default: default, azidentity's DefaultAzureCredential)")
	fs.StringVar(&h.tlsCA, "tls-ca", "", "trust the CA certificate(s) in this PEM `file`, such as the one 'ehstream emulator --tls-self-signed' writes, for the hub's TLS")
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

// credentialKinds is "default, workload, managed-identity, cli or env".
func credentialKinds() string {
	names := make([]string, 0, len(credential.Kinds()))
	for _, k := range credential.Kinds() {
		names = append(names, string(k))
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// given reports whether the flags name a hub: a connection string came
// by flag or environment, or --namespace.
func (h *hubFlags) given() bool { return h.namespace != "" || h.connectionString() != "" }

// connectionString is --connection-string, else $EVENTHUB_CONNECTION_STRING;
// "" with --namespace, which signs in otherwise.
func (h *hubFlags) connectionString() string {
	if h.connStr != "" {
		return h.connStr
	}
	if h.namespace != "" {
		return ""
	}
	return os.Getenv(envConnectionString)
}

// conf builds the Conf the flags describe. Errors never print the secret.
func (h *hubFlags) conf() (*eventhubs.Conf, error) {
	if err := h.checkSignIn(); err != nil {
		return nil, err
	}
	cs := h.connectionString()
	if cs == "" && h.namespace == "" {
		return nil, usageError{errors.New("no connection string: pass --connection-string or set " + envConnectionString +
			", or sign in with Microsoft Entra ID: --namespace NAME.servicebus.windows.net --hub HUB" +
			" (for a local hub, run 'ehstream emulator' and use the string it prints)")}
	}
	return h.confFor(cs)
}

// checkSignIn refuses flags that say two ways to sign in, or half of one.
func (h *hubFlags) checkSignIn() error {
	switch {
	case h.namespace != "" && h.connStr != "":
		return usageError{errors.New("--connection-string and --namespace both say where to sign in: give one (--namespace signs in with --credential)")}
	case h.credential != "" && h.namespace == "":
		return usageError{fmt.Errorf("--credential %s needs --namespace NAME.servicebus.windows.net: a connection string carries its own key", h.credential)}
	case h.namespace != "" && h.hub == "":
		return usageError{fmt.Errorf("--namespace %s needs --hub: name the event hub to read", h.namespace)}
	}
	if h.credential != "" {
		if _, err := credential.ParseKind(h.credential); err != nil {
			return usageError{fmt.Errorf("--credential: %v", err)}
		}
	}
	return nil
}

// confFor is conf for the hub of connection string cs, or of --namespace
// when cs is "".
func (h *hubFlags) confFor(cs string) (*eventhubs.Conf, error) {
	if err := h.checkSignIn(); err != nil {
		return nil, err
	}
	conf, err := h.signIn(cs)
	if err != nil {
		return nil, err
	}
	if h.consumerGroup != "" {
		conf.SetConsumerGroup(h.consumerGroup)
	}
	if err := conf.Validate(); err != nil {
		if h.namespace != "" {
			return nil, usageError{fmt.Errorf("--namespace %s: %s", h.namespace, problem(err))}
		}
		return nil, usageError{err}
	}
	if err := h.setTLSCA(conf); err != nil {
		return nil, err
	}
	return conf, h.setConnectionFlags(conf)
}

// setConnectionFlags sets how conf's connections go: the operation
// timeout, the transport and the endpoint.
func (h *hubFlags) setConnectionFlags(conf *eventhubs.Conf) error {
	var webSockets bool
	switch h.transport {
	case transportAMQP:
	case transportWebSockets:
		webSockets = true
	default:
		return usageError{fmt.Errorf("--transport %q: want %s or %s", h.transport, transportAMQP, transportWebSockets)}
	}
	return setConfFlags(conf,
		confFlag{"--operation-timeout", h.operationTimeout, func(c *eventhubs.Conf) { c.SetOperationTimeout(h.operationTimeout) }},
		confFlag{"--transport", h.transport, func(c *eventhubs.Conf) { c.SetWebSockets(webSockets) }},
		confFlag{"--custom-endpoint", h.customEndpoint, func(c *eventhubs.Conf) { c.SetCustomEndpoint(h.customEndpoint) }})
}

// signIn is the Conf of cs, or of --namespace with --credential's
// credential when cs is "".
func (h *hubFlags) signIn(cs string) (*eventhubs.Conf, error) {
	if cs == "" {
		kind := credential.Default
		if h.credential != "" {
			kind, _ = credential.ParseKind(h.credential) // checkSignIn checked it
		}
		cred, err := credential.New(kind, nil)
		if err != nil {
			return nil, usageError{fmt.Errorf("--credential %s: %v", kind, err)}
		}
		return eventhubs.NewConfWithCredential(h.namespace, h.hub, cred), nil
	}
	if h.hub != "" {
		return eventhubs.NewConfForHub(cs, h.hub), nil
	}
	if parsed, err := eventhubs.ParseConnectionString(cs); err == nil && parsed.EntityPath == "" {
		// Said before Validate does, which names the Go call.
		return nil, usageError{errors.New("no event hub: the connection string has no EntityPath; name the hub with --hub NAME (or end the connection string with ;EntityPath=NAME)")}
	}
	return eventhubs.NewConf(cs), nil
}

// setTLSCA makes conf's clients trust --tls-ca's certificates.
func (h *hubFlags) setTLSCA(conf *eventhubs.Conf) error {
	if h.tlsCA == "" {
		return nil
	}
	pem, err := os.ReadFile(h.tlsCA)
	if err != nil {
		return usageError{fmt.Errorf("--tls-ca: %v", err)}
	}
	if err := conf.SetTLSRootCAs(pem); err != nil { // conf is valid: confFor validated it
		return usageError{fmt.Errorf("--tls-ca %s: %s", h.tlsCA, problem(err))}
	}
	return nil
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
