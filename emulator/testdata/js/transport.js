// The official JavaScript SDK over TLS (amqps) or over WebSockets (wss, with
// the ws package), trusting the emulator's CA through NODE_EXTRA_CA_CERTS:
// sends a batch to a partition, reads it back with subscribe and prints
// what it read as JSON for emulator/js_transport_test.go.
//
// EH_CONNECTION_STRING  the emulator's TLS connection string
// EH_HUB, EH_PARTITION  where to send and read
// EH_WEBSOCKET_ENDPOINT for WebSockets: sb://localhost:PORT of --ws-listen
//                       (the SDK connects to wss://localhost:PORT/$servicebus/websocket)
const { EventHubProducerClient, EventHubConsumerClient, earliestEventPosition } = require("@azure/event-hubs");
const WebSocket = require("ws");

const connectionString = process.env.EH_CONNECTION_STRING;
const hub = process.env.EH_HUB;
const partitionId = process.env.EH_PARTITION;
const options = {};
if (process.env.EH_WEBSOCKET_ENDPOINT) {
  options.webSocketOptions = { webSocket: WebSocket };
  options.customEndpointAddress = process.env.EH_WEBSOCKET_ENDPOINT;
}
const want = 3;

async function main() {
  const producer = new EventHubProducerClient(connectionString, hub, options);
  const batch = await producer.createBatch({ partitionId });
  for (let i = 0; i < want; i++) {
    if (!batch.tryAdd({ body: `js-${i}`, properties: { i } })) throw new Error("batch full");
  }
  await producer.sendBatch(batch);
  const props = await producer.getPartitionProperties(partitionId);
  await producer.close();

  const consumer = new EventHubConsumerClient("$Default", connectionString, hub, options);
  const received = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${want} events within 30s`)), 30000);
    const sub = consumer.subscribe(partitionId, {
      processEvents: async (events) => {
        for (const e of events) {
          received.push({ body: typeof e.body === "string" ? e.body : Buffer.from(e.body).toString(), seq: e.sequenceNumber });
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
  console.log(JSON.stringify({ lastSequenceNumber: props.lastEnqueuedSequenceNumber, received }));
}

main().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
