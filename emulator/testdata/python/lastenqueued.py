"""Reads a partition with the official Python SDK (azure-eventhub) and
track_last_enqueued_event_properties, for emulator/lastenqueued_sdk_test.go,
and prints what partition_context.last_enqueued_event_properties says with
each event.

Python's azure-eventhub 5.11 speaks AMQP over TLS on port 5671 only, or over
WebSockets on a port of one's choice: it reaches the emulator's WebSocket
listener (wss) through custom_endpoint_address and trusts its CA through
connection_verify.

It reads in phases: after the events of a phase it prints one JSON line,
{"phase": N, "events": [{"seq": S, "last": {...}}, ...]}, and waits for a
line on stdin before the next, so that the test can send events between
phases. Times are Unix milliseconds.

EH_CONNECTION_STRING  the emulator's TLS connection string (Endpoint=sb://localhost/;...)
EH_WEBSOCKET_ENDPOINT sb://localhost:PORT of the emulator's WebSocket listener
EH_CA_FILE            the emulator's CA certificate (PEM)
EH_HUB                the hub
EH_PARTITION          the partition to read (default 0)
EH_PHASES             events to read in each phase, comma-separated (such as "3,2")
"""

import json
import os
import sys
import threading

from azure.eventhub import EventHubConsumerClient, TransportType


def millis(t):
    return None if t is None else round(t.timestamp() * 1000)


def main():
    phases = [int(n) for n in os.environ["EH_PHASES"].split(",")]
    client = EventHubConsumerClient.from_connection_string(
        os.environ["EH_CONNECTION_STRING"],
        "$Default",
        eventhub_name=os.environ["EH_HUB"],
        transport_type=TransportType.AmqpOverWebsocket,
        custom_endpoint_address=os.environ["EH_WEBSOCKET_ENDPOINT"],
        connection_verify=os.environ["EH_CA_FILE"],
    )
    state = {"phase": 0, "events": [], "error": None}

    def stop():
        threading.Thread(target=client.close).start()

    def on_event(context, event):
        if event is None:
            return
        last = context.last_enqueued_event_properties
        if last is not None:
            last = {
                "sequenceNumber": last["sequence_number"],
                "offset": last["offset"],
                "enqueuedOn": millis(last["enqueued_time"]),
                "retrievedOn": millis(last["retrieval_time"]),
            }
        state["events"].append({"seq": event.sequence_number, "last": last})
        if len(state["events"]) < phases[state["phase"]]:
            return
        print(json.dumps({"phase": state["phase"] + 1, "events": state["events"]}), flush=True)
        state["phase"] += 1
        state["events"] = []
        if state["phase"] == len(phases):
            stop()
        elif not sys.stdin.readline():
            state["error"] = "stdin closed before the next phase"
            stop()

    def on_error(context, error):
        # Any error fails the run: the test wants every event, first time.
        state["error"] = repr(error)
        stop()

    with client:
        client.receive(
            on_event=on_event,
            on_error=on_error,
            partition_id=os.environ.get("EH_PARTITION", "0"),
            starting_position="-1",
            track_last_enqueued_event_properties=True,
        )
    if state["error"]:
        print(state["error"], file=sys.stderr)
        sys.exit(1)
    if state["phase"] != len(phases):
        print(f"stopped in phase {state['phase'] + 1} of {len(phases)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
