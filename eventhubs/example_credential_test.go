package eventhubs_test

import (
	"crypto/tls"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/eventhubs"
)

// Microsoft Entra ID: a namespace and an azidentity credential instead of
// a connection string (workload identity on Kubernetes, managed identity,
// az login, or environment variables, whichever DefaultAzureCredential
// finds). The principal needs a role on the namespace: Azure Event Hubs
// Data Receiver to read, Data Sender to send.
func ExampleNewConfWithCredential() {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		panic(err)
	}
	conf := eventhubs.NewConfWithCredential("mynamespace.servicebus.windows.net", "telemetry", cred).
		SetConsumerGroup("analytics")
	if err := conf.Validate(); err != nil {
		panic(err)
	}
	host, _ := conf.NamespaceHost() // how checkpoints and stored positions name it
	fmt.Println(host, conf.EventHubName(), conf.ConsumerGroup())
	// Output:
	// mynamespace.servicebus.windows.net telemetry analytics
}

// The SDK's own client options, passed through: here a CA to trust and an
// address to dial instead of the namespace's.
func ExampleConf_SetClientOptions() {
	conf := eventhubs.NewConf("Endpoint=sb://mynamespace.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=secret;EntityPath=telemetry").
		SetClientOptions(&azeventhubs.ConsumerClientOptions{
			TLSConfig:      &tls.Config{MinVersion: tls.VersionTLS12},
			CustomEndpoint: "eventhubs-gateway.internal:5671",
		})
	fmt.Println(conf.ClientOptions().CustomEndpoint)
	// Output:
	// eventhubs-gateway.internal:5671
}
