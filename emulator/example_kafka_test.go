package emulator_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ehstream/ehstream/emulator"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// Kafka clients reach the same hubs as AMQP ones. With a SAS policy they
// authenticate as on Event Hubs: SASL PLAIN, the user name
// $ConnectionString and a connection string as the password.
func Example_kafka() {
	ctx := context.Background()
	srv, err := emulator.Start(ctx, &emulator.Config{KafkaListen: "127.0.0.1:0",
		SASPolicies: []emulator.SASPolicy{{Name: "app", Key: "ZXhhbXBsZS1rZXk="}}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr()),
		kgo.SASL(plain.Auth{User: "$ConnectionString", Pass: srv.ConnectionString("eh1")}.AsMechanism()),
		// As the service: gzip or none (kgo's default is snappy), and
		// requests within 1,046,528 bytes.
		kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.BrokerMaxWriteBytes(1_040_000))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: "eh1", Value: []byte("hello")}).First()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Topic, "offset", r.Offset) // the event's sequence number
	// Output: eh1 offset 0
}
