// Sends a batch with the official JavaScript SDK and receives the partition
// with subscribe; prints what it read as JSON for emulator/js_sdk_test.go
// and emulator/js_transport_test.go. Over TLS (amqps) or WebSockets (wss,
// with the ws package) it trusts the emulator's CA through
// NODE_EXTRA_CA_CERTS.
//
// EH_CONNECTION_STRING  the emulator's connection string (its TLS one for amqps and wss)
// EH_HUB                the hub
// EH_PARTITION          the partition to send to and read (default 0)
// EH_SEND               how many events to send (default 5)
// EH_EXPECT             how many events to read
// EH_WEBSOCKET_ENDPOINT for WebSockets: sb://localhost:PORT of --ws-listen
//                       (the SDK connects to wss://localhost:PORT/$servicebus/websocket)
const { EventHubProducerClient, EventHubConsumerClient, earliestEventPosition } = require("@azure/event-hubs");

const connectionString = process.env.EH_CONNECTION_STRING;
const hub = process.env.EH_HUB;
const partitionId = process.env.EH_PARTITION || "0";
const send = Number(process.env.EH_SEND || 5);
const want = Number(process.env.EH_EXPECT);
const options = {};
if (process.env.EH_WEBSOCKET_ENDPOINT) {
  options.webSocketOptions = { webSocket: require("ws") };
  options.customEndpointAddress = process.env.EH_WEBSOCKET_ENDPOINT;
}

async function main() {
  const producer = new EventHubProducerClient(connectionString, hub, options);
  const batch = await producer.createBatch({ partitionId });
  for (let i = 0; i < send; i++) {
    if (!batch.tryAdd({ body: `js-${i}`, properties: { i } })) throw new Error("batch full");
  }
  await producer.sendBatch(batch);
  const props = await producer.getEventHubProperties();
  const partition = await producer.getPartitionProperties(partitionId);
  await producer.close();

  const consumer = new EventHubConsumerClient("$Default", connectionString, hub, options);
  const received = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${want} events within 30s`)), 30000);
    const sub = consumer.subscribe(partitionId, {
      processEvents: async (events) => {
        for (const e of events) {
          received.push({ body: typeof e.body === "string" ? e.body : Buffer.from(e.body).toString(), seq: e.sequenceNumber, props: e.properties || {} });
        }
        if (received.length >= want) {
          clearTimeout(timer);
          await sub.close();
          resolve();
        }
      },
      processError: async (err) => { clearTimeout(timer); reject(err); },
    }, { startPosition: earliestEventPosition, maxBatchSize: 100, maxWaitTimeInSeconds: 1 });
  });
  await consumer.close();
  console.log(JSON.stringify({ partitionIds: props.partitionIds, lastSequenceNumber: partition.lastEnqueuedSequenceNumber, received }));
}

main().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
