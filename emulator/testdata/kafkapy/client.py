"""confluent-kafka (librdkafka) against the emulator's Kafka endpoint.

Run by emulator/kafka_clients_test.go: `client.py produce` sends the records
given on stdin (JSON lines {key, value, headers}) and waits for each one's
delivery; `client.py consume` prints what it reads (JSON lines {partition,
offset, key, value, headers}) once it has KAFKA_COUNT records.

Settings (environment): KAFKA_BROKERS, KAFKA_TOPIC, KAFKA_COUNT, KAFKA_GROUP
(empty: the topic's partitions are assigned directly, from the beginning,
with no group; else subscribe() in that group, committing what was read),
and, when set, KAFKA_SASL_USER + KAFKA_SASL_PASSWORD (SASL PLAIN) and
KAFKA_TLS_CA (TLS, the server's certificate verified against this CA file).
A failed SASL authentication ends the script with librdkafka's message.
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING

ENV = os.environ
DEADLINE = time.monotonic() + 60


def refused(err):
    """error_cb: librdkafka retries a failed SASL authentication for ever;
    a client with a wrong key should stop and say so."""
    if err.code() == KafkaError._AUTHENTICATION:
        raise KafkaException(err)


def config(**extra):
    cfg = {"bootstrap.servers": ENV["KAFKA_BROKERS"], "compression.codec": "none", "error_cb": refused}
    sasl, ca = ENV.get("KAFKA_SASL_USER"), ENV.get("KAFKA_TLS_CA")
    if sasl:
        cfg.update({"sasl.mechanisms": "PLAIN", "sasl.username": sasl,
                    "sasl.password": ENV.get("KAFKA_SASL_PASSWORD", "")})
    if ca:
        cfg["ssl.ca.location"] = ca
    cfg["security.protocol"] = ("SASL_" if sasl else "") + ("SSL" if ca else "PLAINTEXT")
    cfg.update(extra)
    return cfg


def produce():
    # librdkafka's default is not idempotent; on here so that a librdkafka
    # producer goes through InitProducerId and sequence numbers (kcat keeps
    # the default).
    producer = Producer(config(**{"enable.idempotence": True, "acks": "all"}))
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(f"{msg.value()!r}: {err}")

    for line in sys.stdin:
        rec = json.loads(line)
        producer.produce(ENV["KAFKA_TOPIC"], key=rec["key"], value=rec["value"],
                         headers=list(rec["headers"].items()), on_delivery=delivered)
        producer.poll(0)
    left = producer.flush(max(DEADLINE - time.monotonic(), 0))
    if left or errors:
        sys.exit(f"{left} records undelivered; errors: {errors}")


def partitions(consumer, topic):
    md = consumer.list_topics(topic, timeout=10).topics[topic]
    if md.error is not None:
        raise KafkaException(md.error)
    return [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(md.partitions)]


def consume():
    topic, want, group = ENV["KAFKA_TOPIC"], int(ENV["KAFKA_COUNT"]), ENV.get("KAFKA_GROUP", "")
    consumer = Consumer(config(**{"group.id": group or "ehstream-test-assign",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    if group:
        consumer.subscribe([topic])
    else:
        consumer.assign(partitions(consumer, topic))
    got = []
    while len(got) < want:
        if time.monotonic() > DEADLINE:
            sys.exit(f"timed out with {len(got)} of {want} records")
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error() is not None:
            sys.exit(f"consume: {msg.error()}")
        got.append({"partition": msg.partition(), "offset": msg.offset(),
                    "key": (msg.key() or b"").decode(), "value": msg.value().decode(),
                    "headers": {k: v.decode() for k, v in (msg.headers() or [])}})
    if group:
        consumer.commit(asynchronous=False)
    consumer.close()
    for rec in got:
        print(json.dumps(rec))


if __name__ == "__main__":
    try:
        {"produce": produce, "consume": consume}[sys.argv[1]]()
    except KafkaException as e:
        sys.exit(f"client.py {sys.argv[1]}: {e.args[0].str()}")
