"""Reads an Avro file that capture wrote with Apache Avro's own Python
library (Debian's python3-avro) and prints, as JSON, the schema the file
carries, its codec, and its records, bytes as hex: the test
(capture/readers_test.go) compares them with the hub's events.
Usage: python3 read_avro.py FILE"""
import json
import sys

import avro.datafile
import avro.io


def plain(v):
    """v with bytes as {"hex": ...}, so that JSON keeps them apart from strings."""
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


with open(sys.argv[1], "rb") as f:
    reader = avro.datafile.DataFileReader(f, avro.io.DatumReader())
    out = {
        "schema": json.loads(reader.get_meta("avro.schema").decode()),
        "codec": reader.get_meta("avro.codec").decode(),
        "records": [plain(r) for r in reader],
    }
    reader.close()
json.dump(out, sys.stdout)
