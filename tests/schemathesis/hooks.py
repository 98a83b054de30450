"""Schemathesis hooks for the sidecar's API (loaded through SCHEMATHESIS_HOOKS).

`POST /v1/output/stream` takes NDJSON, a media type schemathesis has no serializer for.
Its schema can only say "text"; what makes the text NDJSON (each line one JSON value)
JSON Schema cannot express. A generated string is sent as one record (the string as a
JSON value on one line); any other generated value as its JSON text on one line.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: object, value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    return (json.dumps(value) + "\n").encode("utf-8")
