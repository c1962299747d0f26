package eventhubs_test

import (
	"context"
	"crypto/x509"
	"errors"
	"log"
	"net"

	"github.com/ehstream/ehstream/eventhubs"
)

// Behind a firewall that lets only HTTPS out: AMQP over WebSockets on port
// 443, through the proxy HTTPS_PROXY names, to a gateway that stands for
// the namespace; and what a connection that cannot be made says, at once.
func ExampleConf_SetWebSockets() {
	conf := eventhubs.NewConf("Endpoint=sb://mynamespace.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=not-a-real-key;EntityPath=telemetry").
		SetWebSockets(true).
		SetCustomEndpoint("eventhubs-gateway.example.com:443")
	hub, err := eventhubs.DescribeHub(context.Background(), conf)
	var unknownCA x509.UnknownAuthorityError
	var dns *net.DNSError
	switch {
	case eventhubs.HasCode(err, eventhubs.CodeCannotConnect) && errors.As(err, &unknownCA):
		log.Fatalf("trust the gateway's CA (SSL_CERT_FILE): %v", err)
	case eventhubs.HasCode(err, eventhubs.CodeCannotConnect) && errors.As(err, &dns):
		log.Fatalf("no such host %s: %v", dns.Name, err)
	case err != nil:
		log.Fatal(err)
	}
	log.Printf("hub %s has %d partitions", hub.Name, len(hub.PartitionIDs))
}
