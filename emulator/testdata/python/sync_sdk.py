"""The official Python SDK (azure-eventhub, its sync API) against the
emulator, unmodified: properties, batch sends, every starting position,
receive_batch, owner levels and two load-balanced consumers. It prints
what it saw as JSON; emulator/python_sdk_test.go checks it.

The SDK is used as an application would use it: its clients, from a
connection string, with the emulator's CA. Receiving runs in threads
because the SDK's receive blocks until its client closes.
"""

import threading

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient
# The SDK's own in-memory checkpoint store, the one a consumer uses when it
# is given none; shared by two consumers, it balances them as a blob store
# would, without Azure Storage.
from azure.eventhub._eventprocessor.in_memory_checkpoint_store import InMemoryCheckpointStore

import common

S = common.Settings()


def producer(hub, conn_str=None, **options):
    return EventHubProducerClient.from_connection_string(conn_str or S.conn_str, eventhub_name=hub, **{**S.client_options(), **options})


def send(p, bodies, **batch_options):
    batch = p.create_batch(**batch_options)
    for body in bodies:
        batch.add(EventData(body))
    p.send_batch(batch)


# A consumer's receive returns only at its next load-balancing round
# after close (every 10 s by default), even with one partition.
RECEIVER_OPTIONS = {"load_balancing_interval": 1}


class Receiver:
    """A consumer client receiving in a thread, and what it got."""

    def __init__(self, hub, group="$Default", client_options=None, batch=False, **receive_options):
        self.client = EventHubConsumerClient.from_connection_string(
            S.conn_str, consumer_group=group, eventhub_name=hub, **S.client_options(),
            **{**RECEIVER_OPTIONS, **(client_options or {})})
        self.lock = threading.Lock()
        self.raw, self.events, self.batches, self.errors, self.owned = [], [], [], [], set()
        callbacks = {"on_error": self.on_error, "on_partition_initialize": self.on_initialize,
                     "on_partition_close": self.on_close}
        if batch:
            target, callbacks["on_event_batch"] = self.client.receive_batch, self.on_batch
        else:
            target, callbacks["on_event"] = self.client.receive, self.on_event
        self.thread = threading.Thread(target=target, kwargs={**callbacks, **receive_options}, daemon=True)
        self.thread.start()

    def on_event(self, ctx, e):
        if e is not None:
            with self.lock:
                self.raw.append(e)
                self.events.append(common.event(e, ctx.partition_id))

    def on_batch(self, ctx, batch):
        with self.lock:
            self.batches.append([common.event(e, ctx.partition_id) for e in batch])
            self.events.extend(self.batches[-1])

    def on_error(self, ctx, err):
        with self.lock:
            self.errors.append(common.error(err))

    def on_initialize(self, ctx):
        with self.lock:
            self.owned.add(ctx.partition_id)

    def on_close(self, ctx, reason):
        with self.lock:
            self.owned.discard(ctx.partition_id)

    def close(self):
        self.client.close()
        self.thread.join(10)


def close_all(receivers):
    """Closes receivers at once: each close waits for the SDK's read
    timeout (1 s over WebSockets)."""
    threads = [threading.Thread(target=r.close) for r in receivers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def positions(pos):
    """The first event a reader of partition 0 of the positions hub gets
    from each kind of starting position; pos-0..pos-4 are there, pos-0 and
    pos-1 enqueued a millisecond or more before the others."""
    earliest = Receiver(S.pos_hub, partition_id="0", starting_position="-1")
    common.wait_until(lambda: len(earliest.raw) >= 5, "5 events from the earliest position")
    ev1, ev2 = earliest.raw[1], earliest.raw[2]
    starts = {
        "sequence_exclusive": {"starting_position": 2},
        "sequence_inclusive": {"starting_position": 2, "starting_position_inclusive": True},
        "offset_exclusive": {"starting_position": str(ev2.offset)},
        "offset_inclusive": {"starting_position": str(ev2.offset), "starting_position_inclusive": True},
        "enqueued_time_exclusive": {"starting_position": ev1.enqueued_time},
        "enqueued_time_inclusive": {"starting_position": ev2.enqueued_time, "starting_position_inclusive": True},
        "latest": {"starting_position": "@latest"},
    }
    # At most 5 readers of a partition per consumer group: the positions
    # hub has two groups.
    readers = {name: Receiver(S.pos_hub, ("$Default", "cg1")[i % 2], partition_id="0", **opts)
               for i, (name, opts) in enumerate(starts.items())}
    # Latest starts at the end as it is when the link attaches, which the
    # SDK does not tell: send until the reader gets one. Slower than the
    # SDK's read timeout (0.2 s, 1 s over WebSockets): a receiver that keeps
    # getting frames within it hands nothing over before 300 of them (its
    # prefetch).
    latest, sent = readers["latest"], []

    def send_latest():
        sent.append("latest-%d" % len(sent))
        send(pos, sent[-1:], partition_id="0")

    common.wait_until(lambda: latest.events, "an event at the latest position", 1.5, send_latest)
    common.wait_until(lambda: all(r.events for r in readers.values()), "an event at every position")
    readers["earliest"] = earliest
    out = {name: r.events[0] for name, r in readers.items()}
    close_all(readers.values())
    return out


def receive_batch():
    r = Receiver(S.hub, batch=True, partition_id="0", starting_position="-1", max_batch_size=5)
    common.wait_until(lambda: len(r.events) >= 5, "5 events from receive_batch")
    r.close()
    return r.batches


def owner_level():
    """A reader with owner level 1, then one with 2, which takes the
    partition, then one with 1 again, which is refused."""
    low = Receiver(S.hub, partition_id="1", starting_position="-1", owner_level=1)
    common.wait_until(lambda: low.events, "an event for owner level 1")
    high = Receiver(S.hub, partition_id="1", starting_position="-1", owner_level=2)
    common.wait_until(lambda: high.events and low.errors, "the takeover by owner level 2")
    lower = Receiver(S.hub, partition_id="1", starting_position="-1", owner_level=1)
    common.wait_until(lambda: lower.errors, "the refusal of owner level 1")
    out = {"low_error": low.errors[0], "high_events": len(high.events), "lower_error": lower.errors[0],
           "lower_events": len(lower.events)}
    close_all([low, high, lower])
    return out


def load_balancing(bodies):
    """Two consumers of group cg1 sharing a checkpoint store split the
    two partitions between them and together read every event."""
    store = InMemoryCheckpointStore()
    options = {"checkpoint_store": store, "load_balancing_interval": 0.5}
    pair = [Receiver(S.hub, "cg1", client_options=options, starting_position="-1") for _ in range(2)]

    def settled():
        with pair[0].lock, pair[1].lock:
            a, b = pair[0].owned, pair[1].owned
            seen = {e["body"] for r in pair for e in r.events}
            return len(a) == 1 and len(b) == 1 and a != b and bodies <= seen

    common.wait_until(settled, "two consumers owning a partition each and every event read")
    out = [{"owned": sorted(r.owned), "events": r.events, "errors": r.errors} for r in pair]
    close_all(pair)
    return out


def run_all(checks):
    """Runs the checks in threads; the first failure fails the script."""
    results, failures = {}, []

    def run(name, check):
        try:
            results[name] = check()
        except Exception as err:  # pylint: disable=broad-except
            failures.append((name, err))

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in checks.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(common.DEADLINE_SECONDS + 10)
    if failures:
        name, err = failures[0]
        raise RuntimeError(name + " failed") from err
    if len(results) != len(checks):
        raise TimeoutError("checks still running: %s" % sorted(set(checks) - set(results)))
    return results


def main():
    out = {}
    with producer(S.pos_hub) as pos, producer(S.hub) as p:
        def fill_positions():
            send(pos, ["pos-0", "pos-1"], partition_id="0")
            enqueued = pos.get_partition_properties("0")["last_enqueued_time_utc"]
            common.wait_until(common.past(enqueued), "a later millisecond", 0.001)
            send(pos, ["pos-2", "pos-3", "pos-4"], partition_id="0")
            return pos.get_partition_properties("0")

        def fill_hub():
            for bodies, options in common.hub_batches():
                send(p, bodies, **options)
            return p.get_eventhub_properties()

        # Each first send to a partition opens a link of its own: both hubs
        # at once.
        out.update(run_all({"partition": fill_positions, "hub": fill_hub}))
        bodies = {b for bodies, _ in common.hub_batches() for b in bodies}

        # Each on partitions and consumer groups of its own: at once.
        checks = {"positions": lambda: positions(pos), "receive_batch": receive_batch,
                  "owner_level": owner_level, "load_balancing": lambda: load_balancing(bodies)}
        out.update(run_all(checks))
    if S.wrong_key_conn_str:
        try:
            with producer(S.hub, S.wrong_key_conn_str, retry_total=0) as p:
                p.get_eventhub_properties()
            out["wrong_key"] = None
        except Exception as err:  # pylint: disable=broad-except
            out["wrong_key"] = common.error(err)
    common.report(out)


if __name__ == "__main__":
    main()
