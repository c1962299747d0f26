// Reads a partition with the official JavaScript SDK's subscribe and
// trackLastEnqueuedEventProperties, for emulator/lastenqueued_sdk_test.go,
// and prints what context.lastEnqueuedEventProperties says with each event.
//
// It reads in phases: after the events of a phase it prints one JSON line,
// {"phase": N, "events": [{"seq": S, "last": {...}}, ...]}, and waits for a
// line on stdin before the next, so that the test can send events between
// phases. Times are Unix milliseconds.
//
// EH_CONNECTION_STRING  the emulator's connection string
// EH_HUB                the hub
// EH_PARTITION          the partition to read (default 0)
// EH_PHASES             events to read in each phase, comma-separated (such as "3,2")
const readline = require("readline");
const { EventHubConsumerClient, earliestEventPosition } = require("@azure/event-hubs");

const phases = process.env.EH_PHASES.split(",").map(Number);
const partitionId = process.env.EH_PARTITION || "0";
const stdin = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function millis(d) {
  return d instanceof Date ? d.getTime() : d;
}

async function main() {
  const consumer = new EventHubConsumerClient("$Default", process.env.EH_CONNECTION_STRING, process.env.EH_HUB);
  let phase = 0;
  let events = [];
  await new Promise((resolve, reject) => {
    const sub = consumer.subscribe(partitionId, {
      processEvents: async (batch, context) => {
        const last = context.lastEnqueuedEventProperties;
        for (const e of batch) {
          events.push({
            seq: e.sequenceNumber,
            last: last && {
              sequenceNumber: last.sequenceNumber,
              offset: last.offset,
              enqueuedOn: millis(last.enqueuedOn),
              retrievedOn: millis(last.retrievedOn),
            },
          });
        }
        if (events.length < phases[phase]) return;
        console.log(JSON.stringify({ phase: phase + 1, events }));
        phase++;
        events = [];
        if (phase === phases.length) {
          await sub.close();
          resolve();
        } else if ((await stdin.next()).done) {
          reject(new Error("stdin closed before the next phase"));
        }
      },
      // Any error fails the run: the test wants every event, first time.
      processError: async (err) => reject(err),
    }, { startPosition: earliestEventPosition, maxBatchSize: 100, maxWaitTimeInSeconds: 1, trackLastEnqueuedEventProperties: true });
  });
  await consumer.close();
}

main().then(() => process.exit(0), (err) => {
  console.error(err && err.stack || err);
  process.exit(1);
});
