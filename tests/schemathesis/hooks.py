"""Schemathesis hooks for the sidecar's API (loaded through SCHEMATHESIS_HOOKS).

`POST /v1/output/stream` takes NDJSON, a media type schemathesis has no serializer for: a
generated string is sent as it is (the schema describes the body as text), any other
value as one JSON line.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: object, value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return (json.dumps(value) + "\n").encode("utf-8")
