// kafkajs against the emulator's Kafka endpoint, run by
// emulator/kafka_clients_test.go: `node client.js produce` sends the
// records given on stdin (JSON lines {key, value, headers}), `node client.js
// consume` prints what it reads (JSON lines {partition, offset, key, value,
// headers}) once it has KAFKA_COUNT records.
//
// Settings (environment): KAFKA_BROKERS, KAFKA_TOPIC, KAFKA_COUNT,
// KAFKA_GROUP (kafkajs consumes only in a group), and, when set,
// KAFKA_SASL_USER + KAFKA_SASL_PASSWORD (SASL PLAIN) and KAFKA_TLS_CA (TLS,
// the server's certificate verified against this CA file).
'use strict';
const fs = require('fs');
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');

const env = process.env;
const deadline = setTimeout(() => fail(new Error('timed out')), 60000);

function fail(err) {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
}

function kafka() {
  const cfg = { clientId: 'ehstream-test', brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR };
  if (env.KAFKA_TLS_CA) cfg.ssl = { ca: [fs.readFileSync(env.KAFKA_TLS_CA)] };
  if (env.KAFKA_SASL_USER) cfg.sasl = { mechanism: 'plain', username: env.KAFKA_SASL_USER, password: env.KAFKA_SASL_PASSWORD };
  return new Kafka(cfg);
}

async function produce() {
  const lines = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l !== '');
  const messages = lines.map((l) => JSON.parse(l));
  const producer = kafka().producer({ allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({ topic: env.KAFKA_TOPIC, messages, acks: -1, compression: CompressionTypes.None });
  await producer.disconnect();
}

async function consume() {
  const want = Number(env.KAFKA_COUNT);
  const got = [];
  const consumer = kafka().consumer({ groupId: env.KAFKA_GROUP, maxWaitTimeInMs: 200 });
  consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
  await consumer.connect();
  await consumer.subscribe({ topics: [env.KAFKA_TOPIC], fromBeginning: true });
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers = {};
      for (const [k, v] of Object.entries(message.headers || {})) headers[k] = v.toString();
      got.push({ partition, offset: Number(message.offset), key: message.key ? message.key.toString() : '',
        value: message.value.toString(), headers });
      if (got.length >= want) done();
    },
  });
  await finished;
  await consumer.disconnect();
  for (const r of got) console.log(JSON.stringify(r));
}

const run = { produce, consume }[process.argv[2]];
if (!run) fail(new Error(`usage: node client.js produce|consume, not ${process.argv[2]}`));
run().then(() => clearTimeout(deadline), fail);
