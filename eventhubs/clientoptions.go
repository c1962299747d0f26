package eventhubs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"reflect"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// The SDK clients a Conf makes, and their options: every SDK client of
// the library, and the producers a program makes with NewProducerClient,
// gets its options from sdkOptions, so that what a Conf says about the
// connection (SetClientOptions, SetWebSockets, SetCustomEndpoint) reaches
// all of them alike, and makes its connections through this package's
// connector (connect.go), which tells a connection that cannot be made
// from one that dropped.

// DefaultApplicationID is the application ID the SDK clients send (in the
// user agent) when SetClientOptions names none.
const DefaultApplicationID = "ehstream"

// SetClientOptions passes the SDK's own options through to every SDK
// client the Conf makes: TLSConfig (a CA to trust), CustomEndpoint (a
// host:port to dial instead of the namespace's, such as a proxy's or an
// emulator's; SetCustomEndpoint's wins), NewWebSocketConn, InstanceID,
// ApplicationID (default DefaultApplicationID) and RetryOptions. The
// options are copied; nil clears them. A NewWebSocketConn given here
// makes every connection, in place of the package's own (SetWebSockets
// is the usual way to AMQP over WebSockets): its errors are then not told
// apart (CodeCannotConnect) and are retried as any dropped connection.
//
// The user's fields win, but for retries of the library's own reads and
// management calls: those run inside the library's retries, bounded by
// OperationTimeout, so by default the SDK's retries under them start at
// 200 ms and back off to at most 4 s (the SDK's own start at 4 s, which a
// dropped connection pays in full before its first retry). A RetryDelay,
// MaxRetryDelay or MaxRetries set here replaces that, except that
// management calls and the connection that checks positions are never
// retried by the SDK (MaxRetries -1), so that a refusal comes back at
// once. NewProducerClient takes the options as given, with the SDK's
// default retries where they are zero.
func (c *Conf) SetClientOptions(opts *azeventhubs.ConsumerClientOptions) *Conf {
	c.clientOptions = copyOf(opts)
	return c
}

// ClientOptions is a copy of SetClientOptions's options, nil when unset.
func (c *Conf) ClientOptions() *azeventhubs.ConsumerClientOptions { return copyOf(c.clientOptions) }

// SetTLSRootCAs makes the Conf's clients trust the certificates of
// pemCerts, and only them, as a client of an emulator with its own CA
// does, keeping the other client options (SetClientOptions). They expect
// the namespace's host name without its port, which the SDK would
// otherwise take for part of the name. An error (CodeInvalidConf) when
// pemCerts holds no PEM certificate or the namespace is not valid.
func (c *Conf) SetTLSRootCAs(pemCerts []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCerts) {
		return errorf(CodeInvalidConf, "no PEM certificate in it")
	}
	host, err := c.NamespaceHost()
	if err != nil {
		return err
	}
	opts := c.ClientOptions()
	if opts == nil {
		opts = &azeventhubs.ConsumerClientOptions{}
	}
	opts.TLSConfig = &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	c.SetClientOptions(opts)
	return nil
}

// sdkOptions are the SDK's options for conf's clients: the user's, with
// the default application ID and SetCustomEndpoint's endpoint, and the
// package's connector as the connection hook unless the user gave one.
// Its retries are the user's, zero for the SDK's defaults.
func sdkOptions(conf *Conf) (*azeventhubs.ConsumerClientOptions, error) {
	var o azeventhubs.ConsumerClientOptions
	if conf.clientOptions != nil {
		o = *conf.clientOptions
	}
	if o.ApplicationID == "" {
		o.ApplicationID = DefaultApplicationID
	}
	if ep := conf.CustomEndpoint(); ep != "" {
		o.CustomEndpoint = ep
	}
	if o.NewWebSocketConn == nil {
		c, err := newConnector(conf, &o)
		if err != nil {
			return nil, err
		}
		o.NewWebSocketConn = c.connect
	}
	return &o, nil
}

// poolOptions are the options of the pool's SDK clients (pool.go). The
// SDK's own retries start at 4 s, which a dropped connection pays in full
// before the first retry; they are the inner loop here, inside the
// library's retries bounded by OperationTimeout, so unless the user set
// them they start short. A busy service still gets backed off from: by
// the SDK's doubling, then by the library's. A management or probing
// client does not retry (mgmt.go), so a refused attach (a bad filter, a
// missing group) comes back as itself at once.
func poolOptions(conf *Conf, noRetries bool) (*azeventhubs.ConsumerClientOptions, error) {
	o, err := sdkOptions(conf)
	if err != nil {
		return nil, err
	}
	if o.RetryOptions.RetryDelay == 0 {
		o.RetryOptions.RetryDelay = 200 * time.Millisecond
	}
	if o.RetryOptions.MaxRetryDelay == 0 {
		o.RetryOptions.MaxRetryDelay = 4 * time.Second
	}
	if noRetries {
		o.RetryOptions.MaxRetries = -1
	}
	return o, nil
}

// newConsumerClient makes an SDK consumer client of conf's hub and
// consumer group, with its credential or connection string.
func newConsumerClient(conf *Conf, opts *azeventhubs.ConsumerClientOptions) (*azeventhubs.ConsumerClient, error) {
	hub := conf.EventHubName()
	if conf.credential != nil {
		ns, err := conf.FullyQualifiedNamespace()
		if err != nil {
			return nil, err
		}
		cc, err := azeventhubs.NewConsumerClient(ns, hub, conf.ConsumerGroup(), tokenSource{conf.credential, hub}, opts)
		if err != nil {
			return nil, &Error{Code: CodeInvalidConf, Hub: hub, Message: "the SDK refused the namespace or credential", Err: err}
		}
		return cc, nil
	}
	cs, err := conf.ConnectionString()
	if err != nil {
		return nil, err
	}
	sdk := *cs
	sdk.EntityPath = "" // the hub is passed on its own; the SDK refuses two names
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(sdk.forSDK(), hub, conf.ConsumerGroup(), opts)
	if err != nil {
		// The SDK's message may quote the string; ours says what is wrong.
		return nil, &Error{Code: CodeInvalidConnectionString, Hub: hub, Message: "the SDK refused the connection string"}
	}
	return cc, nil
}

// NewProducerClient makes the SDK's producer for conf's hub, signed in as
// conf is (connection string or credential), with its client options and
// transport, and the connections and errors of this package's readers: a
// connection that cannot be made fails at once (CodeCannotConnect, see
// Error). What a program that reads with a Conf sends with. The caller
// closes it. Its errors never show a secret.
func (c *Conf) NewProducerClient() (*azeventhubs.ProducerClient, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	o, err := sdkOptions(c)
	if err != nil {
		return nil, err
	}
	opts := &azeventhubs.ProducerClientOptions{ApplicationID: o.ApplicationID, CustomEndpoint: o.CustomEndpoint,
		NewWebSocketConn: o.NewWebSocketConn, RetryOptions: o.RetryOptions, TLSConfig: o.TLSConfig}
	hub := c.EventHubName()
	if c.credential != nil {
		ns, _ := c.FullyQualifiedNamespace() // Validate checked it
		p, err := azeventhubs.NewProducerClient(ns, hub, tokenSource{c.credential, hub}, opts)
		if err != nil {
			return nil, &Error{Code: CodeInvalidConf, Hub: hub, Message: "the SDK refused the namespace or credential", Err: err}
		}
		return p, nil
	}
	cs, _ := c.ConnectionString() // Validate checked it
	sdk := *cs
	sdk.EntityPath = ""
	p, err := azeventhubs.NewProducerClientFromConnectionString(sdk.forSDK(), hub, opts)
	if err != nil {
		return nil, &Error{Code: CodeInvalidConnectionString, Hub: hub, Message: "the SDK refused the connection string"}
	}
	return p, nil
}

// tokenSource is the credential the SDK clients ask: a token it cannot
// get is an *Error of CodeUnauthorized with the credential's own error,
// which the library's retries take for permanent. A missing login or
// identity is not fixed by asking again, and azidentity has already
// retried what a network blip explains: reads fail at once with the
// cause instead of after OperationTimeout.
type tokenSource struct {
	cred azcore.TokenCredential
	hub  string
}

func (t tokenSource) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := t.cred.GetToken(ctx, opts)
	if err != nil && ctx.Err() == nil {
		return tok, &Error{Code: CodeUnauthorized, Hub: t.hub, Message: "the credential got no token", Err: err}
	}
	return tok, err
}

// credentialKey is what tells two credentials apart in the pool's keys:
// the credential itself when it is a pointer (as every azidentity
// credential is), else a key of its own, so that Confs made from such a
// credential share no connection (comparing other values may panic).
func credentialKey(cred azcore.TokenCredential) any {
	if cred == nil || reflect.TypeOf(cred).Kind() == reflect.Pointer {
		return cred
	}
	return new(byte)
}
