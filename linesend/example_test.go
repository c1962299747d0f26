package linesend_test

import (
	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/linesend"
)

// Sending standard input's JSON lines to a hub, as `ehstream send --json`
// does.
func ExampleSend() {
	ctx := context.Background()
	producer, err := azeventhubs.NewProducerClientFromConnectionString(os.Getenv("EVENTHUB_CONNECTION_STRING"), "telemetry", nil)
	if err != nil {
		panic(err)
	}
	defer producer.Close(ctx)
	res, err := linesend.Send(ctx, producer, os.Stdin, &linesend.Options{JSON: true, Properties: map[string]any{"source": "stdin"}})
	if err != nil {
		// Every line before res.FirstUnsent was sent.
		fmt.Fprintf(os.Stderr, "%v (%d events sent)\n", err, res.Sent)
		return
	}
	fmt.Printf("sent %d events\n", res.Sent)
}
