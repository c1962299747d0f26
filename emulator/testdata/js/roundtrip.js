// Sends a batch with the official JavaScript SDK and receives the partition
// with subscribe; prints what it read as JSON for emulator/js_sdk_test.go.
const { EventHubProducerClient, EventHubConsumerClient, earliestEventPosition } = require("@azure/event-hubs");

const connectionString = process.env.EH_CONNECTION_STRING;
const hub = process.env.EH_HUB;
const want = Number(process.env.EH_EXPECT);

async function main() {
  const producer = new EventHubProducerClient(connectionString, hub);
  const batch = await producer.createBatch({ partitionId: "0" });
  for (let i = 0; i < 5; i++) {
    if (!batch.tryAdd({ body: `js-${i}`, properties: { i } })) throw new Error("batch full");
  }
  await producer.sendBatch(batch);
  const props = await producer.getEventHubProperties();
  await producer.close();

  const consumer = new EventHubConsumerClient("$Default", connectionString, hub);
  const received = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${want} events within 30s`)), 30000);
    const sub = consumer.subscribe("0", {
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
  console.log(JSON.stringify({ partitionIds: props.partitionIds, received }));
}

main().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
