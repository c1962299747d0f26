"""The official Python SDK (azure-eventhub, its asyncio API) against the
emulator, unmodified: what sync_sdk.py does, with the aio clients, which
run on pyamqp's asyncio transport (and aiohttp for WebSockets). It prints
what it saw as JSON; emulator/python_sdk_test.go checks it.
"""

import asyncio
import time

from azure.eventhub import EventData
from azure.eventhub.aio import EventHubConsumerClient, EventHubProducerClient
# The SDK's own in-memory checkpoint store (see sync_sdk.py).
from azure.eventhub.aio._eventprocessor.in_memory_checkpoint_store import InMemoryCheckpointStore

import common

S = common.Settings()


def producer(hub, conn_str=None, **options):
    return EventHubProducerClient.from_connection_string(conn_str or S.conn_str, eventhub_name=hub, **{**S.client_options(), **options})


async def send(p, bodies, **batch_options):
    batch = await p.create_batch(**batch_options)
    for body in bodies:
        batch.add(EventData(body))
    await p.send_batch(batch)


async def wait_until(cond, what, step=0.05, each=None):
    """common.wait_until, without blocking the event loop."""
    end = common.deadline()
    while True:
        if each is not None:
            await each()
        if cond():
            return
        if time.monotonic() > end:
            raise TimeoutError("no " + what + " within %d s" % common.DEADLINE_SECONDS)
        await asyncio.sleep(step)


# A consumer's receive returns only at its next load-balancing round
# after close (every 10 s by default), even with one partition.
RECEIVER_OPTIONS = {"load_balancing_interval": 1}


class Receiver:
    """A consumer client receiving in a task, and what it got."""

    def __init__(self, hub, group="$Default", client_options=None, batch=False, **receive_options):
        self.client = EventHubConsumerClient.from_connection_string(
            S.conn_str, consumer_group=group, eventhub_name=hub, **S.client_options(),
            **{**RECEIVER_OPTIONS, **(client_options or {})})
        self.raw, self.events, self.batches, self.errors, self.owned = [], [], [], [], set()
        callbacks = {"on_error": self.on_error, "on_partition_initialize": self.on_initialize,
                     "on_partition_close": self.on_close}
        if batch:
            receive, callbacks["on_event_batch"] = self.client.receive_batch, self.on_batch
        else:
            receive, callbacks["on_event"] = self.client.receive, self.on_event
        self.task = asyncio.create_task(receive(**callbacks, **receive_options))

    async def on_event(self, ctx, e):
        if e is not None:
            self.raw.append(e)
            self.events.append(common.event(e, ctx.partition_id))

    async def on_batch(self, ctx, batch):
        self.batches.append([common.event(e, ctx.partition_id) for e in batch])
        self.events.extend(self.batches[-1])

    async def on_error(self, ctx, err):
        self.errors.append(common.error(err))

    async def on_initialize(self, ctx):
        self.owned.add(ctx.partition_id)

    async def on_close(self, ctx, reason):
        self.owned.discard(ctx.partition_id)

    async def close(self):
        await self.client.close()
        await asyncio.wait_for(self.task, 10)


async def positions(pos):
    """sync_sdk.positions, with the aio clients."""
    earliest = Receiver(S.pos_hub, partition_id="0", starting_position="-1")
    await wait_until(lambda: len(earliest.raw) >= 5, "5 events from the earliest position")
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
    readers = {name: Receiver(S.pos_hub, ("$Default", "cg1")[i % 2], partition_id="0", **opts)
               for i, (name, opts) in enumerate(starts.items())}
    latest, sent = readers["latest"], []

    async def send_latest():
        sent.append("latest-%d" % len(sent))
        await send(pos, sent[-1:], partition_id="0")

    await wait_until(lambda: latest.events, "an event at the latest position", 1.5, send_latest)
    await wait_until(lambda: all(r.events for r in readers.values()), "an event at every position")
    readers["earliest"] = earliest
    out = {name: r.events[0] for name, r in readers.items()}
    await asyncio.gather(*(r.close() for r in readers.values()))
    return out


async def receive_batch():
    r = Receiver(S.hub, batch=True, partition_id="0", starting_position="-1", max_batch_size=5)
    await wait_until(lambda: len(r.events) >= 5, "5 events from receive_batch")
    await r.close()
    return r.batches


async def owner_level():
    """sync_sdk.owner_level, with the aio clients."""
    low = Receiver(S.hub, partition_id="1", starting_position="-1", owner_level=1)
    await wait_until(lambda: low.events, "an event for owner level 1")
    high = Receiver(S.hub, partition_id="1", starting_position="-1", owner_level=2)
    await wait_until(lambda: high.events and low.errors, "the takeover by owner level 2")
    lower = Receiver(S.hub, partition_id="1", starting_position="-1", owner_level=1)
    await wait_until(lambda: lower.errors, "the refusal of owner level 1")
    out = {"low_error": low.errors[0], "high_events": len(high.events), "lower_error": lower.errors[0],
           "lower_events": len(lower.events)}
    await asyncio.gather(low.close(), high.close(), lower.close())
    return out


async def load_balancing(bodies):
    """sync_sdk.load_balancing, with the aio clients."""
    store = InMemoryCheckpointStore()
    options = {"checkpoint_store": store, "load_balancing_interval": 0.5}
    pair = [Receiver(S.hub, "cg1", client_options=options, starting_position="-1") for _ in range(2)]

    def settled():
        a, b = pair[0].owned, pair[1].owned
        seen = {e["body"] for r in pair for e in r.events}
        return len(a) == 1 and len(b) == 1 and a != b and bodies <= seen

    await wait_until(settled, "two consumers owning a partition each and every event read")
    out = [{"owned": sorted(r.owned), "events": r.events, "errors": r.errors} for r in pair]
    await asyncio.gather(*(r.close() for r in pair))
    return out


async def main():
    out = {}
    async with producer(S.pos_hub) as pos, producer(S.hub) as p:
        async def fill_positions():
            await send(pos, ["pos-0", "pos-1"], partition_id="0")
            enqueued = (await pos.get_partition_properties("0"))["last_enqueued_time_utc"]
            await wait_until(common.past(enqueued), "a later millisecond", 0.001)
            await send(pos, ["pos-2", "pos-3", "pos-4"], partition_id="0")
            return await pos.get_partition_properties("0")

        async def fill_hub():
            for bodies, options in common.hub_batches():
                await send(p, bodies, **options)
            return await p.get_eventhub_properties()

        out["partition"], out["hub"] = await asyncio.gather(fill_positions(), fill_hub())
        bodies = {b for bodies, _ in common.hub_batches() for b in bodies}

        # Each on partitions and consumer groups of its own: at once.
        names = ["positions", "receive_batch", "owner_level", "load_balancing"]
        results = await asyncio.wait_for(asyncio.gather(
            positions(pos), receive_batch(), owner_level(), load_balancing(bodies)), common.DEADLINE_SECONDS + 10)
        out.update(zip(names, results))
    if S.wrong_key_conn_str:
        try:
            async with producer(S.hub, S.wrong_key_conn_str, retry_total=0) as p:
                await p.get_eventhub_properties()
            out["wrong_key"] = None
        except Exception as err:  # pylint: disable=broad-except
            out["wrong_key"] = common.error(err)
    common.report(out)


if __name__ == "__main__":
    asyncio.run(main())
