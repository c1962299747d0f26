"""What the sync and async scripts share: settings from the environment,
the client options for the transport, polling and the report.

The Go test (emulator/python_sdk_test.go) starts the emulator, runs a
script with /usr/bin/python3 and checks the JSON it prints. The scripts
observe and report; the Go test decides what is right.
"""

import datetime
import json
import os
import sys
import time

from azure.eventhub import TransportType

# Bounds every wait of a script; the Go test has its own, longer one.
DEADLINE_SECONDS = 45


class Settings:
    """The environment the Go test sets."""

    def __init__(self):
        env = os.environ
        self.conn_str = env["EH_CONNECTION_STRING"]
        self.hub = env["EH_HUB"]  # two partitions, consumer group cg1
        self.pos_hub = env["EH_POSITIONS_HUB"]  # one partition
        self.ca = env["EH_CA"]
        self.transport = env.get("EH_TRANSPORT", "amqp")
        self.ws_endpoint = env.get("EH_WS_ENDPOINT", "")
        self.wrong_key_conn_str = env.get("EH_WRONG_KEY_CONNECTION_STRING", "")

    def client_options(self):
        """Keyword arguments of every client: the emulator's CA as the only
        trust and, for WebSockets, the address of the emulator's WebSocket
        listener (the SDK takes port 443 from the endpoint otherwise)."""
        opts = {"connection_verify": self.ca, "retry_total": 2}
        if self.transport == "websocket":
            opts["transport_type"] = TransportType.AmqpOverWebsocket
            opts["custom_endpoint_address"] = self.ws_endpoint
        return opts


def hub_batches():
    """The batches sent to the hub, in order, as (bodies, batch options):
    receive_batch reads partition 0 from its start, the owner levels
    partition 1; then batches with a partition key and without."""
    batches = [(["rb-%d" % i for i in range(5)], {"partition_id": "0"}), (["ol-0"], {"partition_id": "1"})]
    batches += [(["key-%d-%d" % (i, j) for j in range(3)], {"partition_key": "k1"}) for i in range(2)]
    batches += [(["rr-%d" % i], {}) for i in range(4)]
    return batches


def deadline():
    return time.monotonic() + DEADLINE_SECONDS


def wait_until(cond, what, step=0.05, each=None):
    """Polls cond until it holds, calling each (if given) before every
    look; fails the script after the deadline."""
    end = deadline()
    while True:
        if each is not None:
            each()
        if cond():
            return
        if time.monotonic() > end:
            raise TimeoutError("no " + what + " within %d s" % DEADLINE_SECONDS)
        time.sleep(step)


def past(t):
    """A condition that holds once the clock is past t (an aware
    datetime), so that what is sent then is enqueued later: the
    enqueued-time positions need events of two different milliseconds."""
    return lambda: datetime.datetime.now(datetime.timezone.utc) > t + datetime.timedelta(milliseconds=2)


def event(e, partition=None):
    """What the report says of a received event."""
    out = {"body": e.body_as_str(), "seq": e.sequence_number, "offset": str(e.offset)}
    if e.partition_key is not None:
        key = e.partition_key
        out["key"] = key.decode() if isinstance(key, bytes) else key
    if partition is not None:
        out["partition"] = partition
    return out


def error(err):
    return {"type": type(err).__name__, "message": str(err)}


def report(result):
    json.dump(result, sys.stdout, default=str)
    sys.stdout.write("\n")
