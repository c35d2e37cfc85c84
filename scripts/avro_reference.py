#!/usr/bin/env python3
"""Apache Avro's reference verdicts for writer/reader schema pairs.

Reads JSON lines from the file named as the only argument, each
{"id": ..., "writer": <schema>, "reader": <schema>}, and prints one line per
pair: "<id>\tcompatible", "<id>\tincompatible", or "<id>\terror\t<message>"
when a schema does not parse. The verdict is Python avro's
avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(reader,
writer), a fresh checker per pair. tests/it/avro_reference.rs runs it with
the avro package (pinned in scripts/test) on PYTHONPATH.
"""

import json
import sys

import avro
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType


def main() -> int:
    print(f"avro\t{avro.__version__}", flush=True)
    with open(sys.argv[1], encoding="utf-8") as pairs:
        for line in pairs:
            pair = json.loads(line)
            try:
                writer = avro.schema.parse(json.dumps(pair["writer"]))
                reader = avro.schema.parse(json.dumps(pair["reader"]))
                result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
            except Exception as error:  # a generator bug: reported, never skipped
                print(f"{pair['id']}\terror\t{type(error).__name__}: {error}".replace("\n", " "))
                continue
            verdict = "compatible" if result.compatibility is SchemaCompatibilityType.compatible else "incompatible"
            print(f"{pair['id']}\t{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
