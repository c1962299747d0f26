package eventhubs_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
)

// The guide's EventHubsConf: a connection string and the options, chained.
func ExampleNewConf() {
	cs := &eventhubs.ConnectionString{ // the Spark connector's ConnectionStringBuilder
		Endpoint:            "sb://mynamespace.servicebus.windows.net/",
		SharedAccessKeyName: "RootManageSharedAccessKey",
		SharedAccessKey:     "not-a-real-key",
		EntityPath:          "telemetry",
	}
	connStr, err := cs.Build()
	if err != nil {
		panic(err)
	}
	conf := eventhubs.NewConf(connStr).
		SetConsumerGroup("analytics").
		SetStartingPosition(eventhubs.EndOfStream()).
		SetStartingPositions(map[string]eventhubs.EventPosition{"0": eventhubs.FromSequenceNumber(400, true)}).
		SetMaxRatePerPartition(10000).
		SetReceiverTimeout(30 * time.Second)
	if err := conf.Validate(); err != nil {
		panic(err)
	}
	fmt.Println(cs) // secrets redacted
	fmt.Println(conf.EventHubName(), conf.ConsumerGroup(), conf.PositionFor("0"), conf.PositionFor("1"), conf.RateFor("1"))
	// Output:
	// Endpoint=sb://mynamespace.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=REDACTED;EntityPath=telemetry
	// telemetry analytics seq:400 latest 10000
}

// Every bad value is explained, with a code to switch on.
func ExampleConf_Validate() {
	conf := eventhubs.NewConf("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=secret;EntityPath=hub").
		SetMaxRatePerPartition(0).
		SetConsumerGroup("")
	err := conf.Validate()
	var e *eventhubs.Error
	if errors.As(err, &e) && e.Code == eventhubs.CodeInvalidConf {
		fmt.Println(e.Message)
	}
	// Output:
	// 2 problems: the consumer group is empty; MaxRatePerPartition = 0: want at least 1 event per batch
}
