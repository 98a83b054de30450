"""Latency of a cached variable read from Python, one client at a time.

    CRONIUM_RUNTIME_SOCKET=... CRONIUM_EXECUTION_TOKEN=... CRONIUM_RUNTIME_API=http://... \\
        python bench.py --n 2000 --client module|urllib|requests

Reads `GET /v1/variables/bench` N times after a warm-up and prints one JSON line
`{"client": ..., "samples_ns": [...]}`, each sample one call timed with
`time.perf_counter_ns`. Clients:

- module: `cronium.get_variable("bench")`, the native module (over the Unix socket);
- urllib: `urllib.request` over TCP, the Authorization header, the JSON body parsed;
- requests: one `requests.Session` over TCP (keep-alive), the JSON body parsed.

The variable `bench` must exist (make bench sets it). Only the standard library is
needed, plus `requests` for that client.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, List

WARM_UP = 200


def module_client() -> Callable[[], Any]:
    import cronium

    get = cronium.get_variable
    return lambda: get("bench")


def urllib_client() -> Callable[[], Any]:
    import urllib.request

    url = os.environ["CRONIUM_RUNTIME_API"].rstrip("/") + "/v1/variables/bench"
    headers = {"Authorization": "Bearer " + os.environ["CRONIUM_EXECUTION_TOKEN"]}

    def call() -> Any:
        req = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["data"]["value"]

    return call


def requests_client() -> Callable[[], Any]:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + os.environ["CRONIUM_EXECUTION_TOKEN"]
    url = os.environ["CRONIUM_RUNTIME_API"].rstrip("/") + "/v1/variables/bench"

    def call() -> Any:
        resp = session.get(url, timeout=30)
        resp.raise_for_status()
        return resp.json()["data"]["value"]

    return call


CLIENTS = {"module": module_client, "urllib": urllib_client, "requests": requests_client}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="timed calls (default 2000)")
    parser.add_argument("--client", choices=sorted(CLIENTS), required=True)
    args = parser.parse_args()

    call = CLIENTS[args.client]()
    first = call()
    if first is None:
        print("variable 'bench' does not exist; set it first", file=sys.stderr)
        return 2
    for _ in range(WARM_UP):
        call()
    clock = time.perf_counter_ns
    samples: List[int] = []
    append = samples.append
    for _ in range(args.n):
        t = clock()
        call()
        append(clock() - t)
    print(json.dumps({"client": args.client, "samples_ns": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
