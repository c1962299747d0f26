package eventhubs

import (
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// clientOptions are the SDK's options for a client of conf's hub, the one
// place they are built: the SDK's retries, the custom endpoint, and the
// connection hook through which this package makes the connections, over
// TCP or WebSockets (connect.go). retries false
// turns the SDK's retries off, for clients whose calls the package
// retries itself (mgmt.go).
func clientOptions(conf *Conf, retries bool) (*azeventhubs.ConsumerClientOptions, error) {
	cs, err := conf.ConnectionString()
	if err != nil {
		return nil, err
	}
	// The SDK's own retries start at 4 s, which a dropped connection pays
	// in full before the first retry; they are the inner loop here, inside
	// the library's retries bounded by OperationTimeout, so they start
	// short. A busy service still gets backed off from: by the SDK's
	// doubling, then by the library's.
	opts := &azeventhubs.ConsumerClientOptions{ApplicationID: "ehstream", CustomEndpoint: conf.CustomEndpoint(),
		RetryOptions: azeventhubs.RetryOptions{RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 4 * time.Second}}
	if !retries {
		opts.RetryOptions.MaxRetries = -1
	}
	opts.NewWebSocketConn = newConnector(conf, cs, opts).connect
	return opts, nil
}

// NewProducerClient returns the SDK's ProducerClient for conf's hub, with
// the connections and errors of this package's readers: a connection that
// cannot be made fails at once (CodeCannotConnect, see Error). Its errors
// are the SDK's otherwise; close it when done.
func NewProducerClient(conf *Conf) (*azeventhubs.ProducerClient, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	cs, _ := conf.ConnectionString() // valid: Validate parsed it
	sdk := *cs
	sdk.EntityPath = "" // the hub is passed on its own; the SDK refuses two names
	opts, err := clientOptions(conf, true)
	if err != nil {
		return nil, err
	}
	p, err := azeventhubs.NewProducerClientFromConnectionString(sdk.forSDK(), conf.EventHubName(), producerOptions(opts))
	if err != nil {
		// The SDK's message may quote the string; ours says what is wrong.
		return nil, &Error{Code: CodeInvalidConnectionString, Hub: conf.EventHubName(), Message: "the SDK refused the connection string"}
	}
	return p, nil
}

// producerOptions are a producer's options, the same as a consumer's.
func producerOptions(o *azeventhubs.ConsumerClientOptions) *azeventhubs.ProducerClientOptions {
	return &azeventhubs.ProducerClientOptions{ApplicationID: o.ApplicationID, CustomEndpoint: o.CustomEndpoint,
		NewWebSocketConn: o.NewWebSocketConn, RetryOptions: o.RetryOptions, TLSConfig: o.TLSConfig}
}
