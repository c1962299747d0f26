package eventjson_test

import (
	"fmt"
	"os"
	"time"

	"github.com/ehstream/ehstream/eventhubs"
	"github.com/ehstream/ehstream/eventjson"
)

func ExampleAppend() {
	ev := &eventhubs.Event{PartitionID: "0", SequenceNumber: 41, Offset: "8192", Body: []byte(`{"t":21.5}`),
		EnqueuedTime: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Properties: map[string]any{"unit": "C"}}
	line, err := eventjson.Append(nil, ev, nil)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(line)
	// Output:
	// {"partition":"0","sequenceNumber":41,"offset":"8192","enqueuedTime":"2026-05-01T12:00:00Z","partitionKey":null,"properties":{"unit":"C"},"body":"{\"t\":21.5}"}
}

// A read's line with BodyAuto, as `ehstream read` prints it: a JSON
// body as JSON.
func ExampleAppend_bodyAuto() {
	ev := &eventhubs.Event{PartitionID: "0", SequenceNumber: 41, Offset: "8192", Body: []byte(`{"t": 21.5}`),
		EnqueuedTime: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	line, err := eventjson.Append(nil, ev, &eventjson.AppendOptions{Body: eventjson.BodyAuto})
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(line)
	// Output:
	// {"partition":"0","sequenceNumber":41,"offset":"8192","enqueuedTime":"2026-05-01T12:00:00Z","partitionKey":null,"properties":{},"body":{"t":21.5}}
}

func ExampleDecode() {
	ev, key, err := eventjson.Decode([]byte(`{"body": {"t": 21.5}, "properties": {"n": 3}, "partitionKey": "dev-1"}`))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s key=%s n=%T\n", ev.Body, key, ev.Properties["n"])
	// Output:
	// {"t":21.5} key=dev-1 n=int64
}
